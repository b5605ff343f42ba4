//! [`VerifyingKey`]: an HMAC secret or a public key, with its algorithm, `kid` and JWK.

use std::fmt;
use std::sync::Arc;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};

use crate::error::Error;

use super::{KeyAlgorithm, PrivateKey, PublicKey, SignatureCheck, bad_key, decode_b64};

/// A key that verifies tokens: an HMAC secret, or a public key with its JWK.
///
/// Cloning is cheap. `Debug` never shows key material.
#[derive(Clone)]
pub struct VerifyingKey {
    pub(crate) inner: Arc<VerifyInner>,
}

pub(crate) struct VerifyInner {
    pub(crate) alg: KeyAlgorithm,
    pub(crate) kid: Option<String>,
    pub(crate) check: SignatureCheck,
    /// The public JWK, for asymmetric keys only: a secret is never published.
    pub(crate) jwk: Option<Jwk>,
}

impl VerifyingKey {
    pub(crate) fn new(
        alg: KeyAlgorithm,
        kid: Option<String>,
        check: SignatureCheck,
        jwk: Option<Jwk>,
    ) -> Self {
        Self {
            inner: Arc::new(VerifyInner {
                alg,
                kid,
                check,
                jwk,
            }),
        }
    }

    /// A public key from a public JWK in JSON (`kty` `OKP`, `EC` or `RSA`). Symmetric
    /// (`oct`) keys are refused: a JWKS is public, so a secret in it is no secret. The
    /// algorithm comes from `alg`, or from the curve when `alg` is absent (RSA without
    /// `alg` is taken as RS256); a `kid`, when absent, is the key's thumbprint. A key
    /// whose `use` is not `sig`, or whose `key_ops` lack `verify`, is refused: it was
    /// published for something else (RFC 7517 §4.2, §4.3).
    ///
    /// ```
    /// use keycard::VerifyingKey;
    ///
    /// // RFC 8037 A.2: an Ed25519 public key.
    /// let key = VerifyingKey::from_jwk_json(
    ///     r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#,
    /// )?;
    /// assert_eq!(key.algorithm().name(), "EdDSA");
    /// assert!(key.jwk_json().unwrap().contains(r#""use":"sig""#));
    /// # Ok::<(), keycard::Error>(())
    /// ```
    pub fn from_jwk_json(json: &str) -> Result<Self, Error> {
        let jwk: Jwk =
            serde_json::from_str(json).map_err(|e| bad_key(format!("not a JWK: {e}")))?;
        Self::from_jwk(&jwk)
    }

    /// A public key from a public JWK (`kty` `OKP`, `EC` or `RSA`). Symmetric (`oct`)
    /// keys are refused: a JWKS is public, so a secret in it is no secret. The
    /// algorithm comes from `alg`, or from the curve when `alg` is absent (RSA without
    /// `alg` is taken as RS256); a `kid`, when absent, is the key's thumbprint.
    ///
    /// A key whose `use` is not `sig`, or whose `key_ops` lack `verify`, is refused: it
    /// was published for something else (RFC 7517 §4.2, §4.3).
    pub(crate) fn from_jwk(jwk: &Jwk) -> Result<Self, Error> {
        if jwk
            .common
            .public_key_use
            .as_ref()
            .is_some_and(|u| *u != jsonwebtoken::jwk::PublicKeyUse::Signature)
        {
            return Err(bad_key(
                "a JWK whose use is not \"sig\" does not verify signatures",
            ));
        }
        if jwk
            .common
            .key_operations
            .as_ref()
            .is_some_and(|ops| !ops.contains(&jsonwebtoken::jwk::KeyOperations::Verify))
        {
            return Err(bad_key(
                "a JWK whose key_ops lack \"verify\" does not verify signatures",
            ));
        }
        let declared = match jwk.common.key_algorithm {
            None => None,
            Some(a) => Some(
                KeyAlgorithm::from_name(&a.to_string())
                    .ok_or_else(|| bad_key(format!("unsupported JWK algorithm {a}")))?,
            ),
        };
        let public = match &jwk.algorithm {
            AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
                let x = decode_b64(&p.x)?;
                let bytes: [u8; 32] = x
                    .as_slice()
                    .try_into()
                    .map_err(|_| bad_key("an Ed25519 key has 32 bytes"))?;
                PublicKey::Ed25519(
                    ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                        .map_err(|_| bad_key("not an Ed25519 public key"))?,
                )
            }
            AlgorithmParameters::EllipticCurve(p) => {
                let point = [&[4u8][..], &decode_b64(&p.x)?, &decode_b64(&p.y)?].concat();
                match p.curve {
                    EllipticCurve::P256 => PublicKey::P256(
                        p256::PublicKey::from_sec1_bytes(&point)
                            .map_err(|_| bad_key("not a P-256 public key"))?,
                    ),
                    EllipticCurve::P384 => PublicKey::P384(
                        p384::PublicKey::from_sec1_bytes(&point)
                            .map_err(|_| bad_key("not a P-384 public key"))?,
                    ),
                    _ => return Err(bad_key("unsupported curve (use P-256 or P-384)")),
                }
            }
            AlgorithmParameters::RSA(p) => {
                let n = rsa::BoxedUint::from_be_slice_vartime(&decode_b64(&p.n)?);
                let e = rsa::BoxedUint::from_be_slice_vartime(&decode_b64(&p.e)?);
                PublicKey::Rsa(
                    rsa::PublicKey::new(n, e)
                        .map_err(|e| bad_key(format!("not an RSA public key: {e}")))?,
                )
            }
            AlgorithmParameters::OctetKey(_) => {
                return Err(bad_key(
                    "a symmetric (oct) key is never taken from a JWK set",
                ));
            }
            _ => return Err(bad_key("unsupported key type")),
        };
        let alg = public.algorithm(declared)?;
        let key = public.into_verifying_key(alg)?;
        Ok(match &jwk.common.key_id {
            Some(kid) => key.with_key_id(kid.clone()),
            None => key,
        })
    }

    /// A public key from a PEM file: SPKI (`BEGIN PUBLIC KEY`) or a PKCS#8 private key
    /// (`BEGIN PRIVATE KEY`), whose public half is taken. Its `kid` is its thumbprint.
    pub fn from_pem(pem: &[u8]) -> Result<Self, Error> {
        let text = std::str::from_utf8(pem).map_err(|_| bad_key("not a PEM file"))?;
        if text.contains("PRIVATE KEY-----") {
            let private = PrivateKey::from_pkcs8_pem(text)?;
            return private
                .public()
                .into_verifying_key(private.default_algorithm());
        }
        let public = PublicKey::from_spki_pem(text)?;
        let alg = public.algorithm(None)?;
        public.into_verifying_key(alg)
    }

    /// Sets the `kid`.
    pub fn with_key_id(self, kid: impl Into<String>) -> Self {
        let kid = kid.into();
        let jwk = self.inner.jwk.clone().map(|mut j| {
            j.common.key_id = Some(kid.clone());
            j
        });
        Self::new(self.inner.alg, Some(kid), self.inner.check.clone(), jwk)
    }

    /// The algorithm this key verifies, and no other.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.inner.alg
    }

    /// The key id, if any.
    pub fn key_id(&self) -> Option<&str> {
        self.inner.kid.as_deref()
    }

    /// The public JWK (with `kid`, `alg`, `use: "sig"`); `None` for an HMAC secret.
    pub(crate) fn jwk(&self) -> Option<&Jwk> {
        self.inner.jwk.as_ref()
    }

    /// The public JWK in JSON (with `kid`, `alg`, `use: "sig"`), as a JWKS publishes
    /// it; `None` for an HMAC secret, which is never published.
    pub fn jwk_json(&self) -> Option<String> {
        self.jwk().and_then(|jwk| serde_json::to_string(jwk).ok())
    }

    /// Whether `signature` (raw bytes, not base64) is this key's over `message`.
    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        self.inner.check.verify(message, signature)
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("alg", &self.inner.alg.name())
            .field("kid", &self.inner.kid)
            .finish_non_exhaustive()
    }
}
