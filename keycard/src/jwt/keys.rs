//! Signing and verification keys: an HS256 secret, or an asymmetric key pair read from
//! PKCS#8 / SPKI PEM files or a JWK, each with the one algorithm it may be used with.
//!
//! | key | algorithm |
//! |---|---|
//! | HMAC secret (≥ 32 bytes) | HS256 |
//! | Ed25519 | EdDSA |
//! | P-256 | ES256 |
//! | P-384 | ES384 |
//! | RSA (≥ 2048 bits) | RS256, or PS256 when asked for |
//!
//! An asymmetric key's `kid` defaults to its RFC 7638 JWK thumbprint (SHA-256), so
//! every node given the same key agrees on it.
//!
//! RSA *signing* keys are refused in this build: the pure-Rust `rsa` crate's
//! private-key operations are not constant-time (RUSTSEC-2023-0071, the Marvin attack).
//! RSA *verification* keys are fine: verification uses only the public key.

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::spki::DecodePublicKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use hmac::{KeyInit, Mac};
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, EllipticCurveKeyParameters,
    EllipticCurveKeyType, Jwk, KeyAlgorithm as JwkAlgorithm, OctetKeyPairParameters,
    OctetKeyPairType, PublicKeyUse, RSAKeyParameters, RSAKeyType, ThumbprintHash,
};
use jsonwebtoken::{Algorithm, EncodingKey};
use p256::elliptic_curve::sec1::ToSec1Point;
use rsa::traits::PublicKeyParts;
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind};
use crate::jwt::secret::Secret;

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

    fn jwk_alg(self) -> JwkAlgorithm {
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

fn bad_key(why: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidKey, why)
}

/// A key that verifies tokens: an HMAC secret, or a public key with its JWK.
///
/// Cloning is cheap. `Debug` never shows key material.
#[derive(Clone)]
pub struct VerifyingKey {
    inner: Arc<VerifyInner>,
}

struct VerifyInner {
    alg: KeyAlgorithm,
    kid: Option<String>,
    check: SignatureCheck,
    /// The public JWK, for asymmetric keys only: a secret is never published.
    jwk: Option<Jwk>,
}

/// A key parsed once, when it is loaded, into what checking a signature needs: the
/// per-token work is then the primitive alone. (Handing jsonwebtoken a `DecodingKey`
/// re-parses it on every call: an Ed25519 point decompression, an RSA modulus, the
/// HMAC key schedule, 8-13 µs per token for EdDSA and RS256; see BENCHMARKS.md.)
///
/// These are the RustCrypto types jsonwebtoken's `rust_crypto` backend itself uses.
#[derive(Clone)]
enum SignatureCheck {
    /// HMAC-SHA256 with its key already absorbed; cloned per token.
    Hs256(hmac::Hmac<sha2::Sha256>),
    Ed25519(ed25519_dalek::VerifyingKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    /// PKCS#1 v1.5 (RS256) or PSS (PS256), both over SHA-256.
    Rsa {
        key: Box<rsa::PublicKey>,
        pss: bool,
    },
}

impl SignatureCheck {
    /// Whether `signature` is this key's over `message`. The HMAC comparison is
    /// constant-time. Ed25519 refuses a non-canonical `s` and compares `R` as encoded
    /// (so no malleable signature verifies); small-order keys never get this far (see
    /// `into_verifying_key`), which makes the strict check's per-token decompression of
    /// `R` unnecessary. ECDSA signatures with a zero `r` or `s` are refused when read.
    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        use ed25519_dalek::Verifier as _;
        use sha2::Digest;
        match self {
            SignatureCheck::Hs256(mac) => {
                let mut mac = mac.clone();
                mac.update(message);
                mac.verify_slice(signature).is_ok()
            }
            SignatureCheck::Ed25519(key) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|sig| key.verify(message, &sig).is_ok()),
            SignatureCheck::P256(key) => p256::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|sig| key.verify(message, &sig).is_ok()),
            SignatureCheck::P384(key) => p384::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|sig| key.verify(message, &sig).is_ok()),
            SignatureCheck::Rsa { key, pss } => {
                let digest = sha2::Sha256::digest(message);
                if *pss {
                    key.verify(rsa::Pss::<sha2::Sha256>::new(), &digest, signature)
                        .is_ok()
                } else {
                    key.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &digest, signature)
                        .is_ok()
                }
            }
        }
    }
}

impl VerifyingKey {
    fn new(
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

    /// A public key from a public JWK (`kty` `OKP`, `EC` or `RSA`). Symmetric (`oct`)
    /// keys are refused: a JWKS is public, so a secret in it is no secret. The
    /// algorithm comes from `alg`, or from the curve when `alg` is absent (RSA without
    /// `alg` is taken as RS256); a `kid`, when absent, is the key's thumbprint.
    ///
    /// A key whose `use` is not `sig`, or whose `key_ops` lack `verify`, is refused: it
    /// was published for something else (RFC 7517 §4.2, §4.3).
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, Error> {
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
    pub fn jwk(&self) -> Option<&Jwk> {
        self.inner.jwk.as_ref()
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

fn decode_b64(text: &str) -> Result<Vec<u8>, Error> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| bad_key("a JWK member is not base64url"))
}

/// A public key, parsed.
enum PublicKey {
    Ed25519(ed25519_dalek::VerifyingKey),
    P256(p256::PublicKey),
    P384(p384::PublicKey),
    Rsa(rsa::PublicKey),
}

impl PublicKey {
    fn from_spki_pem(text: &str) -> Result<Self, Error> {
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
    fn algorithm(&self, declared: Option<KeyAlgorithm>) -> Result<KeyAlgorithm, Error> {
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

    fn jwk_parameters(&self) -> AlgorithmParameters {
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

    fn into_verifying_key(self, alg: KeyAlgorithm) -> Result<VerifyingKey, Error> {
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
        let kid = jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|e| bad_key(format!("cannot compute the key's thumbprint: {e}")))?;
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
fn ec_parameters(curve: EllipticCurve, x: Option<&[u8]>, y: Option<&[u8]>) -> AlgorithmParameters {
    let b64 = |c: Option<&[u8]>| c.map(|c| URL_SAFE_NO_PAD.encode(c)).unwrap_or_default();
    AlgorithmParameters::EllipticCurve(EllipticCurveKeyParameters {
        key_type: EllipticCurveKeyType::EC,
        curve,
        x: b64(x),
        y: b64(y),
    })
}

/// A private key, parsed.
enum PrivateKey {
    Ed25519(Box<ed25519_dalek::SigningKey>),
    P256(p256::SecretKey),
    P384(p384::SecretKey),
    Rsa(Box<rsa::PrivateKey>),
}

impl PrivateKey {
    fn from_pkcs8_pem(text: &str) -> Result<Self, Error> {
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

    fn public(&self) -> PublicKey {
        match self {
            PrivateKey::Ed25519(k) => PublicKey::Ed25519(k.verifying_key()),
            PrivateKey::P256(k) => PublicKey::P256(k.public_key()),
            PrivateKey::P384(k) => PublicKey::P384(k.public_key()),
            PrivateKey::Rsa(k) => PublicKey::Rsa(k.to_public_key()),
        }
    }

    fn default_algorithm(&self) -> KeyAlgorithm {
        match self {
            PrivateKey::Ed25519(_) => KeyAlgorithm::EdDSA,
            PrivateKey::P256(_) => KeyAlgorithm::ES256,
            PrivateKey::P384(_) => KeyAlgorithm::ES384,
            PrivateKey::Rsa(_) => KeyAlgorithm::RS256,
        }
    }

    /// The DER jsonwebtoken signs with: PKCS#8 for EC and Ed25519.
    fn encoding_key(&self) -> Result<EncodingKey, Error> {
        let der = |r: Result<ed25519_dalek::pkcs8::SecretDocument, ed25519_dalek::pkcs8::Error>| {
            r.map(|d| Zeroizing::new(d.as_bytes().to_vec()))
                .map_err(|e| bad_key(format!("cannot encode the key: {e}")))
        };
        Ok(match self {
            PrivateKey::Ed25519(k) => EncodingKey::from_ed_der(&der(k.to_pkcs8_der())?),
            PrivateKey::P256(k) => EncodingKey::from_ec_der(&der(k.to_pkcs8_der())?),
            PrivateKey::P384(k) => EncodingKey::from_ec_der(&der(k.to_pkcs8_der())?),
            PrivateKey::Rsa(_) => {
                return Err(bad_key(
                    "RSA signing keys are refused by this build: the pure-Rust RSA implementation is not constant-time (RUSTSEC-2023-0071). Sign with Ed25519 or ES256 instead (`keycard keys generate --alg EdDSA`); RSA keys still work as --verify-key",
                ));
            }
        })
    }

    fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, Error> {
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

    fn generate(alg: KeyAlgorithm) -> Result<Self, Error> {
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

/// The key Keycard signs tokens with, and verifies them against.
///
/// The algorithm is fixed by the key, never by a token, so a token naming any other
/// algorithm (`none` included) is refused.
///
/// Cloning is cheap. `Debug` never shows key material.
#[derive(Clone)]
pub struct SigningKey {
    inner: Arc<SigningInner>,
}

struct SigningInner {
    encoding: EncodingKey,
    verifying: VerifyingKey,
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

    fn from_private(private: &PrivateKey, alg: KeyAlgorithm) -> Result<Self, Error> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn rfc7638_thumbprint_known_answer() {
        // RFC 7638 §3.1: the example RSA key and its SHA-256 thumbprint.
        let jwk: Jwk = serde_json::from_str(
            r#"{"kty":"RSA","e":"AQAB","alg":"RS256",
            "n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}"#,
        )
        .unwrap();
        let key = VerifyingKey::from_jwk(&jwk).unwrap();
        assert_eq!(
            key.key_id(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
        assert_eq!(key.algorithm(), KeyAlgorithm::RS256);
    }

    #[test]
    fn each_supported_private_key_signs_with_its_algorithm_and_agrees_with_its_public_half() {
        for (file, alg) in [
            ("ed25519", KeyAlgorithm::EdDSA),
            ("p256", KeyAlgorithm::ES256),
            ("p384", KeyAlgorithm::ES384),
        ] {
            let key = SigningKey::from_pkcs8_pem(&fixture(&format!("{file}.pem"))).unwrap();
            assert_eq!(key.algorithm(), alg, "{file}");
            let public = VerifyingKey::from_pem(&fixture(&format!("{file}.pub.pem"))).unwrap();
            assert_eq!(public.algorithm(), alg);
            let kid = key.key_id().unwrap();
            assert_eq!(
                public.key_id(),
                Some(kid),
                "{file}: the thumbprint is the same from both halves"
            );
            assert_eq!(kid.len(), 43, "base64url of a SHA-256");
            let jwk = serde_json::to_value(key.verifying_key().jwk().unwrap()).unwrap();
            assert_eq!(jwk["kid"], kid);
            assert_eq!(jwk["alg"], alg.name());
            assert_eq!(jwk["use"], "sig");
            assert!(jwk.get("d").is_none(), "never a private member: {jwk}");
            // And a JWK read back is the same key.
            let back = VerifyingKey::from_jwk(key.verifying_key().jwk().unwrap()).unwrap();
            assert_eq!(back.key_id(), Some(kid));
        }
    }

    #[test]
    fn rsa_keys_verify_but_do_not_sign_in_this_build() {
        let err = SigningKey::from_pkcs8_pem(&fixture("rsa2048.pem")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidKey);
        assert!(err.to_string().contains("RUSTSEC-2023-0071"), "{err}");
        let public = VerifyingKey::from_pem(&fixture("rsa2048.pub.pem")).unwrap();
        assert_eq!(public.algorithm(), KeyAlgorithm::RS256);
        let from_private = VerifyingKey::from_pem(&fixture("rsa2048.pem")).unwrap();
        assert_eq!(from_private.key_id(), public.key_id());
        for small in ["rsa1024.pem", "rsa1024.pub.pem"] {
            let err = VerifyingKey::from_pem(&fixture(small)).unwrap_err();
            assert!(err.to_string().contains("1024 bits is too small"), "{err}");
        }
    }

    #[test]
    fn unsupported_or_misformatted_keys_say_why() {
        let cases = [
            ("p256-sec1.pem", "openssl pkcs8 -topk8"),
            ("p521.pem", "not a PKCS#8 private key of a supported kind"),
            ("p256.pub.pem", "a public key where a private key is needed"),
        ];
        for (file, says) in cases {
            let err = SigningKey::from_pkcs8_pem(&fixture(file)).unwrap_err();
            assert!(err.to_string().contains(says), "{file}: {err}");
        }
        assert!(SigningKey::from_pkcs8_pem(b"garbage").is_err());
        assert!(SigningKey::from_pkcs8_pem(&[0xff, 0xfe]).is_err());
        assert!(
            VerifyingKey::from_pem(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
                .is_err()
        );
    }

    #[test]
    fn symmetric_jwks_are_never_taken() {
        let jwk: Jwk =
            serde_json::from_str(r#"{"kty":"oct","k":"c2VjcmV0","alg":"HS256","kid":"x"}"#)
                .unwrap();
        assert!(
            VerifyingKey::from_jwk(&jwk)
                .unwrap_err()
                .to_string()
                .contains("symmetric")
        );
    }

    #[test]
    fn a_jwk_whose_alg_does_not_fit_its_key_is_refused() {
        let key = SigningKey::from_pkcs8_pem(&fixture("p256.pem")).unwrap();
        let mut jwk = key.verifying_key().jwk().unwrap().clone();
        jwk.common.key_algorithm = Some(JwkAlgorithm::RS256);
        assert!(VerifyingKey::from_jwk(&jwk).is_err());
        jwk.common.key_algorithm = None;
        assert_eq!(
            VerifyingKey::from_jwk(&jwk).unwrap().algorithm(),
            KeyAlgorithm::ES256
        );
    }

    #[test]
    fn generated_keys_round_trip() {
        for alg in [
            KeyAlgorithm::EdDSA,
            KeyAlgorithm::ES256,
            KeyAlgorithm::ES384,
        ] {
            let generated = SigningKey::generate(alg).unwrap();
            assert!(generated.pem.starts_with("-----BEGIN PRIVATE KEY-----"));
            let key = SigningKey::from_pkcs8_pem(generated.pem.as_bytes()).unwrap();
            assert_eq!(key.algorithm(), alg);
            assert_eq!(key.key_id(), generated.verifying_key.key_id());
        }
        assert!(SigningKey::generate(KeyAlgorithm::HS256).is_err());
    }

    #[test]
    fn generated_rsa_keys_are_2048_bits_and_verify() {
        let generated = SigningKey::generate(KeyAlgorithm::RS256).unwrap();
        let public = VerifyingKey::from_pem(generated.pem.as_bytes()).unwrap();
        assert_eq!(public.key_id(), generated.verifying_key.key_id());
        let jwk = serde_json::to_value(public.jwk().unwrap()).unwrap();
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(jwk["n"].as_str().unwrap())
                .unwrap()
                .len(),
            256
        );
    }

    #[test]
    fn debug_shows_no_key_material() {
        let pem = fixture("ed25519.pem");
        let key = SigningKey::from_pkcs8_pem(&pem).unwrap();
        let printed = format!("{key:?} {:?}", key.verifying_key());
        let body: String = String::from_utf8(pem)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        assert!(!printed.contains(&body[..20]), "{printed}");
        assert!(printed.contains("[redacted]"));
    }
}
