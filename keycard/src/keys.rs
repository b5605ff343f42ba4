//! Signing and verification keys.

use std::fmt;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

use crate::error::{Error, ErrorKind};
use crate::secret::Secret;

/// The key Keycard signs tokens with, and verifies them against.
///
/// Today: an HS256 secret. The algorithm is fixed by the key, never by a token, so a
/// token naming any other algorithm (`none` included) is refused.
///
/// Cloning is cheap. `Debug` never shows key material.
#[derive(Clone)]
pub struct SigningKey {
    inner: Arc<KeyInner>,
}

struct KeyInner {
    alg: Algorithm,
    kid: Option<String>,
    encoding: EncodingKey,
    decoding: DecodingKey,
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
        Ok(Self {
            inner: Arc::new(KeyInner {
                alg: Algorithm::HS256,
                kid: None,
                encoding: EncodingKey::from_secret(secret.expose()).map_err(bad)?,
                decoding: DecodingKey::from_secret(secret.expose()).map_err(bad)?,
            }),
        })
    }

    /// Sets the `kid` stamped into tokens and matched on verification.
    pub fn with_key_id(self, kid: impl Into<String>) -> Self {
        let inner = &self.inner;
        Self {
            inner: Arc::new(KeyInner {
                alg: inner.alg,
                kid: Some(kid.into()),
                encoding: inner.encoding.clone(),
                decoding: inner.decoding.clone(),
            }),
        }
    }

    /// The JWS algorithm name, e.g. `HS256`.
    pub fn algorithm_name(&self) -> &'static str {
        match self.inner.alg {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::EdDSA => "EdDSA",
            _ => "unknown",
        }
    }

    /// The key id, if any.
    pub fn key_id(&self) -> Option<&str> {
        self.inner.kid.as_deref()
    }

    pub(crate) fn algorithm(&self) -> Algorithm {
        self.inner.alg
    }

    pub(crate) fn encoding(&self) -> &EncodingKey {
        &self.inner.encoding
    }

    pub(crate) fn decoding(&self) -> &DecodingKey {
        &self.inner.decoding
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.algorithm_name())
            .field("kid", &self.inner.kid)
            .field("key", &"[redacted]")
            .finish()
    }
}
