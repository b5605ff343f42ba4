//! [`SigningKey`]: the key that signs, and [`GeneratedKey`].

use std::fmt;
use std::sync::Arc;

use hmac::KeyInit;
use jsonwebtoken::EncodingKey;
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind};
use crate::jwt::secret::Secret;

use super::{KeyAlgorithm, PrivateKey, SignatureCheck, VerifyingKey, bad_key};

/// The key Keycard signs tokens with, and verifies them against.
///
/// The algorithm is fixed by the key, never by a token, so a token naming any other
/// algorithm (`none` included) is refused.
///
/// Cloning is cheap. `Debug` never shows key material.
#[derive(Clone)]
pub struct SigningKey {
    pub(crate) inner: Arc<SigningInner>,
}

pub(crate) struct SigningInner {
    pub(crate) encoding: EncodingKey,
    pub(crate) verifying: VerifyingKey,
}

/// A newly generated key pair: the private key as PKCS#8 PEM (to store), and the key.
pub struct GeneratedKey {
    /// The private key, PKCS#8 PEM; wiped on drop.
    pub pem: Zeroizing<String>,
    /// Its public half, with `kid` and JWK.
    pub verifying_key: VerifyingKey,
}

impl SigningKey {
    /// An HS256 key from a secret of at least 32 bytes.
    ///
    /// Defaults to no `kid`: HMAC tokens carry one only when [`with_key_id`] sets it.
    ///
    /// [`with_key_id`]: SigningKey::with_key_id
    pub fn hs256(secret: &Secret) -> Result<Self, Error> {
        let bad = |e: jsonwebtoken::errors::Error| {
            Error::new(
                ErrorKind::InvalidSecret,
                format!("unusable HS256 secret: {e}"),
            )
        };
        let mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.expose())
            .map_err(|_| Error::new(ErrorKind::InvalidSecret, "unusable HS256 secret"))?;
        let check = SignatureCheck::Hs256(mac);
        Ok(Self {
            inner: Arc::new(SigningInner {
                encoding: EncodingKey::from_secret(secret.expose()).map_err(bad)?,
                verifying: VerifyingKey::new(KeyAlgorithm::HS256, None, check, None),
            }),
        })
    }

    /// A private key from a PKCS#8 PEM file (`BEGIN PRIVATE KEY`): Ed25519 → EdDSA,
    /// P-256 → ES256, P-384 → ES384. Its `kid` is its RFC 7638 thumbprint.
    ///
    /// RSA keys are refused in this build (RUSTSEC-2023-0071; see SECURITY.md).
    pub fn from_pkcs8_pem(pem: &[u8]) -> Result<Self, Error> {
        let text = std::str::from_utf8(pem).map_err(|_| bad_key("not a PEM file"))?;
        let private = PrivateKey::from_pkcs8_pem(text)?;
        Self::from_private(&private, private.default_algorithm())
    }

    pub(crate) fn from_private(private: &PrivateKey, alg: KeyAlgorithm) -> Result<Self, Error> {
        let encoding = private.encoding_key()?;
        let verifying = private.public().into_verifying_key(alg)?;
        Ok(Self {
            inner: Arc::new(SigningInner {
                encoding,
                verifying,
            }),
        })
    }

    /// Generates a new key pair for `alg` (EdDSA, ES256, ES384 or RS256).
    pub fn generate(alg: KeyAlgorithm) -> Result<GeneratedKey, Error> {
        let private = PrivateKey::generate(alg)?;
        Ok(GeneratedKey {
            pem: private.to_pkcs8_pem()?,
            verifying_key: private.public().into_verifying_key(alg)?,
        })
    }

    /// Sets the `kid` stamped into tokens and matched on verification.
    pub fn with_key_id(self, kid: impl Into<String>) -> Self {
        Self {
            inner: Arc::new(SigningInner {
                encoding: self.inner.encoding.clone(),
                verifying: self.inner.verifying.clone().with_key_id(kid),
            }),
        }
    }

    /// The JWS algorithm name, e.g. `HS256`.
    pub fn algorithm_name(&self) -> &'static str {
        self.algorithm().name()
    }

    /// The algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.inner.verifying.algorithm()
    }

    /// The key id, if any.
    pub fn key_id(&self) -> Option<&str> {
        self.inner.verifying.key_id()
    }

    /// The key that verifies what this one signs.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.inner.verifying
    }

    pub(crate) fn encoding(&self) -> &EncodingKey {
        &self.inner.encoding
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.algorithm_name())
            .field("kid", &self.key_id())
            .field("key", &"[redacted]")
            .finish()
    }
}
