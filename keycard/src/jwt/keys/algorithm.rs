//! The one table of algorithms: which key family signs and verifies with which JWS
//! algorithm.

use std::fmt;

use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::KeyAlgorithm as JwkAlgorithm;

/// The smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// The algorithms Keycard signs and verifies with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// HMAC-SHA256 with a shared secret.
    HS256,
    /// Ed25519.
    EdDSA,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PSS with SHA-256.
    PS256,
}

impl KeyAlgorithm {
    /// The JWS name (`alg`).
    pub fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::HS256 => "HS256",
            KeyAlgorithm::EdDSA => "EdDSA",
            KeyAlgorithm::ES256 => "ES256",
            KeyAlgorithm::ES384 => "ES384",
            KeyAlgorithm::RS256 => "RS256",
            KeyAlgorithm::PS256 => "PS256",
        }
    }

    /// Parses a JWS name.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "HS256" => KeyAlgorithm::HS256,
            "EdDSA" => KeyAlgorithm::EdDSA,
            "ES256" => KeyAlgorithm::ES256,
            "ES384" => KeyAlgorithm::ES384,
            "RS256" => KeyAlgorithm::RS256,
            "PS256" => KeyAlgorithm::PS256,
            _ => return None,
        })
    }

    pub(crate) fn jwt(self) -> Algorithm {
        match self {
            KeyAlgorithm::HS256 => Algorithm::HS256,
            KeyAlgorithm::EdDSA => Algorithm::EdDSA,
            KeyAlgorithm::ES256 => Algorithm::ES256,
            KeyAlgorithm::ES384 => Algorithm::ES384,
            KeyAlgorithm::RS256 => Algorithm::RS256,
            KeyAlgorithm::PS256 => Algorithm::PS256,
        }
    }

    pub(crate) fn jwk_alg(self) -> JwkAlgorithm {
        match self {
            KeyAlgorithm::HS256 => JwkAlgorithm::HS256,
            KeyAlgorithm::EdDSA => JwkAlgorithm::EdDSA,
            KeyAlgorithm::ES256 => JwkAlgorithm::ES256,
            KeyAlgorithm::ES384 => JwkAlgorithm::ES384,
            KeyAlgorithm::RS256 => JwkAlgorithm::RS256,
            KeyAlgorithm::PS256 => JwkAlgorithm::PS256,
        }
    }

    /// Whether this is a shared-secret algorithm.
    pub fn is_hmac(self) -> bool {
        self == KeyAlgorithm::HS256
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
