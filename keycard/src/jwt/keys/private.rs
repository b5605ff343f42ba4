//! Private keys: read from PKCS#8 PEM, generated, and written as PKCS#8 PEM.

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::EncodingKey;
use zeroize::Zeroizing;

use crate::error::Error;

use super::signing::Signer;
use super::{KeyAlgorithm, MIN_RSA_BITS, PublicKey, bad_key};

/// A private key, parsed.
pub(crate) enum PrivateKey {
    Ed25519(Box<ed25519_dalek::SigningKey>),
    P256(p256::SecretKey),
    P384(p384::SecretKey),
    Rsa(Box<rsa::PrivateKey>),
}

impl PrivateKey {
    pub(crate) fn from_pkcs8_pem(text: &str) -> Result<Self, Error> {
        if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_pem(text) {
            return Ok(PrivateKey::Ed25519(Box::new(k)));
        }
        if let Ok(k) = p256::SecretKey::from_pkcs8_pem(text) {
            return Ok(PrivateKey::P256(k));
        }
        if let Ok(k) = p384::SecretKey::from_pkcs8_pem(text) {
            return Ok(PrivateKey::P384(k));
        }
        if let Ok(k) = rsa::PrivateKey::from_pkcs8_pem(text) {
            return Ok(PrivateKey::Rsa(Box::new(k)));
        }
        let why = if text.contains("BEGIN ENCRYPTED PRIVATE KEY") {
            "an encrypted private key: decrypt it with `openssl pkcs8 -in KEY -out PLAIN.pem`"
        } else if text.contains("BEGIN EC PRIVATE KEY") || text.contains("BEGIN RSA PRIVATE KEY") {
            "a SEC1/PKCS#1 private key: convert it to PKCS#8 with `openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY8.pem`"
        } else if text.contains("BEGIN PUBLIC KEY") {
            "a public key where a private key is needed"
        } else {
            "not a PKCS#8 private key of a supported kind (Ed25519, P-256, P-384 or RSA)"
        };
        Err(bad_key(why))
    }

    pub(crate) fn public(&self) -> PublicKey {
        match self {
            PrivateKey::Ed25519(k) => PublicKey::Ed25519(k.verifying_key()),
            PrivateKey::P256(k) => PublicKey::P256(k.public_key()),
            PrivateKey::P384(k) => PublicKey::P384(k.public_key()),
            PrivateKey::Rsa(k) => PublicKey::Rsa(k.to_public_key()),
        }
    }

    pub(crate) fn default_algorithm(&self) -> KeyAlgorithm {
        match self {
            PrivateKey::Ed25519(_) => KeyAlgorithm::EdDSA,
            PrivateKey::P256(_) => KeyAlgorithm::ES256,
            PrivateKey::P384(_) => KeyAlgorithm::ES384,
            PrivateKey::Rsa(_) => KeyAlgorithm::RS256,
        }
    }

    /// What signs with it: jsonwebtoken from PKCS#8 DER for EC and Ed25519; ring for
    /// RSA with the `rsa-signing` feature, and nothing without it.
    pub(crate) fn signer(&self) -> Result<Signer, Error> {
        let der = |r: Result<ed25519_dalek::pkcs8::SecretDocument, ed25519_dalek::pkcs8::Error>| {
            r.map(|d| Zeroizing::new(d.as_bytes().to_vec()))
                .map_err(|e| bad_key(format!("cannot encode the key: {e}")))
        };
        Ok(Signer::Jwt(match self {
            PrivateKey::Ed25519(k) => EncodingKey::from_ed_der(&der(k.to_pkcs8_der())?),
            PrivateKey::P256(k) => EncodingKey::from_ec_der(&der(k.to_pkcs8_der())?),
            PrivateKey::P384(k) => EncodingKey::from_ec_der(&der(k.to_pkcs8_der())?),
            #[cfg(feature = "rsa-signing")]
            PrivateKey::Rsa(k) => {
                use rsa::pkcs8::EncodePrivateKey as _;
                let der = k
                    .to_pkcs8_der()
                    .map(|d| Zeroizing::new(d.as_bytes().to_vec()))
                    .map_err(|e| bad_key(format!("cannot encode the key: {e}")))?;
                let pair = ring::rsa::KeyPair::from_pkcs8(&der)
                    .map_err(|e| bad_key(format!("an RSA key ring cannot sign with: {e}")))?;
                return Ok(Signer::Rsa(std::sync::Arc::new(pair)));
            }
            #[cfg(not(feature = "rsa-signing"))]
            PrivateKey::Rsa(_) => {
                return Err(bad_key(
                    "RSA signing keys are refused by this build: the pure-Rust RSA implementation is not constant-time (RUSTSEC-2023-0071). Sign with Ed25519 or ES256 instead (`keycard keys generate --alg EdDSA`); RSA keys still work as --verify-key",
                ));
            }
        }))
    }

    pub(crate) fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, Error> {
        use p256::pkcs8::LineEnding;
        let pem = match self {
            // PKCS#8 v1 (RFC 8410 §7), without the public key: dalek's default v2
            // (RFC 5958 OneAsymmetricKey) is what OpenSSL 3, Node and Python's
            // `cryptography` fail to load.
            PrivateKey::Ed25519(k) => {
                use ed25519_dalek::pkcs8::{EncodePrivateKey, KeypairBytes};
                // Wiped on drop by the ed25519 crate.
                let v1 = KeypairBytes {
                    secret_key: k.to_bytes(),
                    public_key: None,
                };
                v1.to_pkcs8_pem(LineEnding::LF)
            }
            PrivateKey::P256(k) => k.to_pkcs8_pem(LineEnding::LF),
            PrivateKey::P384(k) => k.to_pkcs8_pem(LineEnding::LF),
            PrivateKey::Rsa(k) => k.to_pkcs8_pem(LineEnding::LF),
        };
        pem.map(|p| Zeroizing::new(p.to_string()))
            .map_err(|e| bad_key(format!("cannot encode the key: {e}")))
    }

    pub(crate) fn generate(alg: KeyAlgorithm) -> Result<Self, Error> {
        use p256::elliptic_curve::Generate;
        let mut rng = getrandom::SysRng;
        let no_rng = |e: getrandom::Error| bad_key(format!("no randomness: {e}"));
        Ok(match alg {
            KeyAlgorithm::EdDSA => PrivateKey::Ed25519(Box::new(
                ed25519_dalek::SigningKey::from_bytes(&crate::random::bytes::<32>()),
            )),
            KeyAlgorithm::ES256 => {
                PrivateKey::P256(p256::SecretKey::try_generate_from_rng(&mut rng).map_err(no_rng)?)
            }
            KeyAlgorithm::ES384 => {
                PrivateKey::P384(p384::SecretKey::try_generate_from_rng(&mut rng).map_err(no_rng)?)
            }
            KeyAlgorithm::RS256 | KeyAlgorithm::PS256 => PrivateKey::Rsa(Box::new(
                rsa::PrivateKey::new(&mut rng, MIN_RSA_BITS)
                    .map_err(|e| bad_key(format!("RSA key generation failed: {e}")))?,
            )),
            KeyAlgorithm::HS256 => return Err(bad_key("HS256 uses a secret, not a key pair")),
        })
    }
}
