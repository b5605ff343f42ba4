//! Public keys: read from SPKI PEM or a JWK, and written as a JWK with its RFC 7638
//! thumbprint.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::spki::DecodePublicKey;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, EllipticCurveKeyParameters,
    EllipticCurveKeyType, Jwk, OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse,
    RSAKeyParameters, RSAKeyType,
};
use p256::elliptic_curve::sec1::ToSec1Point;
use rsa::traits::PublicKeyParts;

use crate::error::Error;

use super::{KeyAlgorithm, MIN_RSA_BITS, SignatureCheck, VerifyingKey, bad_key};

/// A public key, parsed.
pub(crate) enum PublicKey {
    Ed25519(ed25519_dalek::VerifyingKey),
    P256(p256::PublicKey),
    P384(p384::PublicKey),
    Rsa(rsa::PublicKey),
}

impl PublicKey {
    pub(crate) fn from_spki_pem(text: &str) -> Result<Self, Error> {
        if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_pem(text) {
            return Ok(PublicKey::Ed25519(k));
        }
        if let Ok(k) = p256::PublicKey::from_public_key_pem(text) {
            return Ok(PublicKey::P256(k));
        }
        if let Ok(k) = p384::PublicKey::from_public_key_pem(text) {
            return Ok(PublicKey::P384(k));
        }
        if let Ok(k) = rsa::PublicKey::from_public_key_pem(text) {
            return Ok(PublicKey::Rsa(k));
        }
        if text.contains("BEGIN RSA PUBLIC KEY") {
            return Err(bad_key(
                "a PKCS#1 RSA public key: convert it with `openssl rsa -RSAPublicKey_in -pubout`",
            ));
        }
        Err(bad_key(
            "not a public key of a supported kind (an SPKI `BEGIN PUBLIC KEY` PEM of Ed25519, P-256, P-384 or RSA)",
        ))
    }

    /// The algorithm this key is for: the declared one if it fits, else the default.
    pub(crate) fn algorithm(&self, declared: Option<KeyAlgorithm>) -> Result<KeyAlgorithm, Error> {
        let fits: &[KeyAlgorithm] = match self {
            PublicKey::Ed25519(_) => &[KeyAlgorithm::EdDSA],
            PublicKey::P256(_) => &[KeyAlgorithm::ES256],
            PublicKey::P384(_) => &[KeyAlgorithm::ES384],
            PublicKey::Rsa(_) => &[KeyAlgorithm::RS256, KeyAlgorithm::PS256],
        };
        match declared {
            None => Ok(fits.first().copied().unwrap_or(KeyAlgorithm::EdDSA)),
            Some(alg) if fits.contains(&alg) => Ok(alg),
            Some(alg) => Err(bad_key(format!(
                "the key does not fit its declared algorithm {alg}"
            ))),
        }
    }

    pub(crate) fn jwk_parameters(&self) -> AlgorithmParameters {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        match self {
            PublicKey::Ed25519(x) => AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: b64(x.as_bytes()),
            }),
            PublicKey::P256(k) => {
                let point = k.as_affine().to_sec1_point(false);
                ec_parameters(
                    EllipticCurve::P256,
                    point.x().map(|c| c.as_slice()),
                    point.y().map(|c| c.as_slice()),
                )
            }
            PublicKey::P384(k) => {
                let point = k.as_affine().to_sec1_point(false);
                ec_parameters(
                    EllipticCurve::P384,
                    point.x().map(|c| c.as_slice()),
                    point.y().map(|c| c.as_slice()),
                )
            }
            PublicKey::Rsa(k) => AlgorithmParameters::RSA(RSAKeyParameters {
                key_type: RSAKeyType::RSA,
                n: b64(&k.n_bytes()),
                e: b64(&k.e_bytes()),
            }),
        }
    }

    pub(crate) fn into_verifying_key(self, alg: KeyAlgorithm) -> Result<VerifyingKey, Error> {
        if let PublicKey::Rsa(k) = &self {
            let bits = k.size() * 8;
            if bits < MIN_RSA_BITS {
                return Err(bad_key(format!(
                    "an RSA key of {bits} bits is too small: use {MIN_RSA_BITS} or more"
                )));
            }
        }
        let mut jwk = Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(alg.jwk_alg()),
                ..CommonParameters::default()
            },
            algorithm: self.jwk_parameters(),
        };
        let kid = thumbprint(&jwk.algorithm)?;
        jwk.common.key_id = Some(kid.clone());
        let check = match self {
            PublicKey::Ed25519(key) => {
                // A small-order key verifies forged signatures (the identity key, with
                // the identity R and s = 0, signs every message): refused here, once,
                // rather than by the strict check on every token.
                if key.is_weak() {
                    return Err(bad_key(
                        "a small-order Ed25519 key, which verifies forgeries",
                    ));
                }
                SignatureCheck::Ed25519(key)
            }
            PublicKey::P256(k) => SignatureCheck::P256(k.into()),
            PublicKey::P384(k) => SignatureCheck::P384(k.into()),
            PublicKey::Rsa(k) => SignatureCheck::Rsa {
                key: Box::new(k),
                pss: alg == KeyAlgorithm::PS256,
            },
        };
        Ok(VerifyingKey::new(alg, Some(kid), check, Some(jwk)))
    }
}

/// The public members of an EC key: its curve and uncompressed coordinates.
pub(crate) fn ec_parameters(
    curve: EllipticCurve,
    x: Option<&[u8]>,
    y: Option<&[u8]>,
) -> AlgorithmParameters {
    let b64 = |c: Option<&[u8]>| c.map(|c| URL_SAFE_NO_PAD.encode(c)).unwrap_or_default();
    AlgorithmParameters::EllipticCurve(EllipticCurveKeyParameters {
        key_type: EllipticCurveKeyType::EC,
        curve,
        x: b64(x),
        y: b64(y),
    })
}

/// A public key's RFC 7638 thumbprint: SHA-256 over its required members in lexicographic
/// order, without whitespace (§3.2-3.3), in base64url. Computed here rather than by
/// jsonwebtoken's `Jwk::thumbprint`, which reaches its crypto provider, and so links every
/// algorithm's signer and verifier, for one hash.
pub(crate) fn thumbprint(params: &AlgorithmParameters) -> Result<String, Error> {
    use sha2::Digest as _;
    // A member's value as JSON: a string, escaped as JSON escapes it.
    fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, Error> {
        serde_json::to_string(value)
            .map_err(|e| bad_key(format!("cannot compute the key's thumbprint: {e}")))
    }
    let canonical = match params {
        AlgorithmParameters::RSA(p) => {
            format!(r#"{{"e":{},"kty":"RSA","n":{}}}"#, json(&p.e)?, json(&p.n)?)
        }
        AlgorithmParameters::EllipticCurve(p) => format!(
            r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
            json(&p.curve)?,
            json(&p.x)?,
            json(&p.y)?
        ),
        AlgorithmParameters::OctetKeyPair(p) => {
            format!(
                r#"{{"crv":{},"kty":"OKP","x":{}}}"#,
                json(&p.curve)?,
                json(&p.x)?
            )
        }
        _ => return Err(bad_key("only a public key has a thumbprint here")),
    };
    Ok(URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical.as_bytes())))
}
