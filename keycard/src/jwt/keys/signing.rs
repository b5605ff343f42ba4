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
    pub(crate) signer: Signer,
    pub(crate) verifying: VerifyingKey,
}

/// What makes the signatures.
#[derive(Clone)]
pub(crate) enum Signer {
    /// jsonwebtoken's (RustCrypto): HMAC, Ed25519, ECDSA.
    Jwt(EncodingKey),
    /// ring's RSA, constant-time: PKCS#1 v1.5 for RS256, PSS for PS256.
    #[cfg(feature = "rsa-signing")]
    Rsa(Arc<ring::rsa::KeyPair>),
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
                signer: Signer::Jwt(EncodingKey::from_secret(secret.expose()).map_err(bad)?),
                verifying: VerifyingKey::new(KeyAlgorithm::HS256, None, check, None),
            }),
        })
    }

    /// A private key from a PKCS#8 PEM file (`BEGIN PRIVATE KEY`): Ed25519 → EdDSA,
    /// P-256 → ES256, P-384 → ES384. Its `kid` is its RFC 7638 thumbprint.
    ///
    /// RSA keys sign RS256 with the `rsa-signing` feature (ring's constant-time RSA);
    /// without it they are refused (RUSTSEC-2023-0071; see SECURITY.md).
    pub fn from_pkcs8_pem(pem: &[u8]) -> Result<Self, Error> {
        let text = std::str::from_utf8(pem).map_err(|_| bad_key("not a PEM file"))?;
        let private = PrivateKey::from_pkcs8_pem(text)?;
        Self::from_private(&private, private.default_algorithm())
    }

    pub(crate) fn from_private(private: &PrivateKey, alg: KeyAlgorithm) -> Result<Self, Error> {
        let signer = private.signer()?;
        let verifying = private.public().into_verifying_key(alg)?;
        Ok(Self {
            inner: Arc::new(SigningInner { signer, verifying }),
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
                signer: self.inner.signer.clone(),
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

    /// jsonwebtoken's key, for tests that craft tokens by hand (an RSA key of the
    /// `rsa-signing` feature has none: ring holds it).
    #[cfg(test)]
    pub(crate) fn encoding(&self) -> &EncodingKey {
        match &self.inner.signer {
            Signer::Jwt(key) => key,
            #[cfg(feature = "rsa-signing")]
            Signer::Rsa(_) => panic!("an RSA key signs through ring, not jsonwebtoken"),
        }
    }

    /// `claims` signed as a compact JWS under `header` (whose `alg` is this key's).
    pub(crate) fn sign(
        &self,
        header: &jsonwebtoken::Header,
        claims: &impl serde::Serialize,
    ) -> Result<String, Error> {
        let failed =
            |e: &dyn fmt::Display| Error::new(ErrorKind::Signing, format!("signing failed: {e}"));
        match &self.inner.signer {
            Signer::Jwt(key) => jsonwebtoken::encode(header, claims, key).map_err(|e| failed(&e)),
            #[cfg(feature = "rsa-signing")]
            Signer::Rsa(pair) => {
                use base64::Engine;
                use ring::signature::{RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaEncoding};
                let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
                let header = serde_json::to_vec(header).map_err(|e| failed(&e))?;
                let claims = serde_json::to_vec(claims).map_err(|e| failed(&e))?;
                let mut jws = b64.encode(header);
                jws.push('.');
                b64.encode_string(claims, &mut jws);
                let padding: &'static dyn RsaEncoding = match self.algorithm() {
                    KeyAlgorithm::PS256 => &RSA_PSS_SHA256,
                    _ => &RSA_PKCS1_SHA256,
                };
                let mut signature = vec![0; pair.public().modulus_len()];
                pair.sign(
                    padding,
                    &ring::rand::SystemRandom::new(),
                    jws.as_bytes(),
                    &mut signature,
                )
                .map_err(|e| failed(&e))?;
                jws.push('.');
                b64.encode_string(&signature, &mut jws);
                Ok(jws)
            }
        }
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
