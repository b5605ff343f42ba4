//! [`SigningKey`]: the key that signs, and [`GeneratedKey`].

use std::fmt;
use std::sync::Arc;

use hmac::{KeyInit, Mac};
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
    /// jsonwebtoken's key for the same key, for tests that sign by hand.
    #[cfg(test)]
    pub(crate) encoding: jsonwebtoken::EncodingKey,
}

/// What makes the signatures: the parsed key, called directly (jsonwebtoken's `encode`
/// would re-parse the key from DER on every token, and its algorithm dispatch links
/// every algorithm's signer and verifier, RSA's private-key code among them, into a
/// binary that signs with one key).
#[derive(Clone)]
pub(crate) enum Signer {
    /// HMAC-SHA-256, keyed with the secret.
    Hs256(hmac::Hmac<sha2::Sha256>),
    /// Ed25519 (RFC 8032), wiped on drop.
    Ed25519(Box<ed25519_dalek::SigningKey>),
    /// ECDSA P-256 with SHA-256, deterministic `k` (RFC 6979), wiped on drop.
    Es256(p256::ecdsa::SigningKey),
    /// ECDSA P-384 with SHA-384, deterministic `k` (RFC 6979), wiped on drop.
    Es384(p384::ecdsa::SigningKey),
    /// ring's RSA, constant-time: PKCS#1 v1.5 for RS256, PSS for PS256.
    #[cfg(feature = "rsa-signing")]
    Rsa(Arc<ring::rsa::KeyPair>),
}

impl Signer {
    /// The JWS signature of `input` (RFC 7515 §5.1; for ECDSA the fixed-width `R || S`
    /// of RFC 7518 §3.4), if this key makes `alg`'s signatures.
    fn signature(&self, alg: KeyAlgorithm, input: &[u8]) -> Result<Vec<u8>, String> {
        use p256::ecdsa::signature::{self, Signer as _};
        let e = |e: signature::Error| e.to_string();
        match (self, alg) {
            (Signer::Hs256(mac), KeyAlgorithm::HS256) => Ok(mac
                .clone()
                .chain_update(input)
                .finalize()
                .into_bytes()
                .to_vec()),
            (Signer::Ed25519(key), KeyAlgorithm::EdDSA) => {
                Ok(key.try_sign(input).map_err(e)?.to_bytes().to_vec())
            }
            (Signer::Es256(key), KeyAlgorithm::ES256) => {
                let sig: p256::ecdsa::Signature = key.try_sign(input).map_err(e)?;
                Ok(sig.to_bytes().to_vec())
            }
            (Signer::Es384(key), KeyAlgorithm::ES384) => {
                let sig: p384::ecdsa::Signature = key.try_sign(input).map_err(e)?;
                Ok(sig.to_bytes().to_vec())
            }
            #[cfg(feature = "rsa-signing")]
            (Signer::Rsa(pair), KeyAlgorithm::RS256 | KeyAlgorithm::PS256) => {
                use ring::signature::{RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaEncoding};
                let padding: &'static dyn RsaEncoding = match alg {
                    KeyAlgorithm::PS256 => &RSA_PSS_SHA256,
                    _ => &RSA_PKCS1_SHA256,
                };
                let mut signature = vec![0; pair.public().modulus_len()];
                pair.sign(
                    padding,
                    &ring::rand::SystemRandom::new(),
                    input,
                    &mut signature,
                )
                .map_err(|e| e.to_string())?;
                Ok(signature)
            }
            (_, alg) => Err(format!("this key does not make {} signatures", alg.name())),
        }
    }
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
        let mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.expose())
            .map_err(|_| Error::new(ErrorKind::InvalidSecret, "unusable HS256 secret"))?;
        let check = SignatureCheck::Hs256(mac.clone());
        Ok(Self {
            inner: Arc::new(SigningInner {
                signer: Signer::Hs256(mac),
                verifying: VerifyingKey::new(KeyAlgorithm::HS256, None, check, None),
                #[cfg(test)]
                encoding: jsonwebtoken::EncodingKey::from_secret(secret.expose()).unwrap(),
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
            inner: Arc::new(SigningInner {
                signer,
                verifying,
                #[cfg(test)]
                encoding: private.encoding(),
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
                signer: self.inner.signer.clone(),
                verifying: self.inner.verifying.clone().with_key_id(kid),
                #[cfg(test)]
                encoding: self.inner.encoding.clone(),
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

    /// jsonwebtoken's key, for tests that craft tokens by hand.
    #[cfg(test)]
    pub(crate) fn encoding(&self) -> &jsonwebtoken::EncodingKey {
        &self.inner.encoding
    }

    /// `claims` signed as a compact JWS under `header` (whose `alg` must be this key's):
    /// `BASE64URL(header) . BASE64URL(claims) . BASE64URL(signature)` (RFC 7515 §7.1).
    pub(crate) fn sign(
        &self,
        header: &jsonwebtoken::Header,
        claims: &impl serde::Serialize,
    ) -> Result<String, Error> {
        use base64::Engine;
        let failed =
            |e: &dyn fmt::Display| Error::new(ErrorKind::Signing, format!("signing failed: {e}"));
        let alg = self.algorithm();
        if header.alg != alg.jwt() {
            return Err(failed(&format_args!(
                "the header names {:?}, the key signs {}",
                header.alg,
                alg.name()
            )));
        }
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = serde_json::to_vec(header).map_err(|e| failed(&e))?;
        let claims = serde_json::to_vec(claims).map_err(|e| failed(&e))?;
        let mut jws = b64.encode(header);
        jws.push('.');
        b64.encode_string(claims, &mut jws);
        let signature = self
            .inner
            .signer
            .signature(alg, jws.as_bytes())
            .map_err(|e| failed(&e))?;
        jws.push('.');
        b64.encode_string(signature, &mut jws);
        Ok(jws)
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
