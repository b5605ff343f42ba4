//! Private keys: read from PKCS#8 PEM, generated, and written as PKCS#8 PEM.

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use zeroize::Zeroizing;

use crate::error::Error;

use super::signing::Signer;
use super::{KeyAlgorithm, PublicKey, bad_key};

/// Why a build without `rsa-signing` makes no RSA key: the build that makes one is the
/// one that signs with it.
#[cfg(not(feature = "rsa-signing"))]
const NO_RSA_KEYS: &str = "this build makes no RSA keys: it cannot sign with them (RUSTSEC-2023-0071). Sign with EdDSA or ES256, build keycard with --features rsa-signing, or make one for another signer with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out KEY.pem`";

/// A private key, parsed.
pub(crate) enum PrivateKey {
    Ed25519(Box<ed25519_dalek::SigningKey>),
    P256(p256::SecretKey),
    P384(p384::SecretKey),
    Rsa(Box<RsaKey>),
}

/// An RSA private key: the whole key where this build signs with it (`rsa-signing`), and
/// only its public half where it cannot — there it is read to derive a `--verify-key` and
/// to refuse it as a signing key, and its private numbers are never decoded (about 30 kB
/// of a board's binary, RustCrypto's CRT precomputation, that nothing would run).
#[cfg(feature = "rsa-signing")]
pub(crate) type RsaKey = rsa::PrivateKey;
/// An RSA private key's public half: this build neither signs with RSA nor makes RSA
/// keys, so the private numbers are never decoded.
#[cfg(not(feature = "rsa-signing"))]
pub(crate) type RsaKey = rsa::PublicKey;

/// The public half of an RSA PKCS#8 private key (rsaEncryption, two primes), read without
/// decoding the private numbers. The key's consistency is left unchecked: only its
/// public half is ever used.
#[cfg(not(feature = "rsa-signing"))]
fn rsa_public_half(text: &str) -> Option<RsaKey> {
    use rsa::pkcs1::der::Decode as _;
    use rsa::pkcs8::{PrivateKeyInfoRef, SecretDocument};
    let (label, doc) = SecretDocument::from_pem(text).ok()?;
    if label != "PRIVATE KEY" {
        return None;
    }
    let info = PrivateKeyInfoRef::from_der(doc.as_bytes()).ok()?;
    // The algorithms the rsa crate reads a private key under: rsaEncryption, and
    // RSASSA-PSS without parameters (RFC 8017 A.2.3; a key restricted by them is refused).
    let alg = &info.algorithm;
    let rsa_pss = rsa::pkcs8::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
    if !(alg.oid == rsa::pkcs1::ALGORITHM_OID || alg.oid == rsa_pss && alg.parameters.is_none()) {
        return None;
    }
    let key = rsa::pkcs1::RsaPrivateKeyRef::from_der(info.private_key.as_bytes()).ok()?;
    if key.version() != rsa::pkcs1::Version::TwoPrime {
        return None;
    }
    rsa::PublicKey::try_from(rsa::pkcs1::RsaPublicKey {
        modulus: key.modulus,
        public_exponent: key.public_exponent,
    })
    .ok()
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
        #[cfg(feature = "rsa-signing")]
        if let Ok(k) = rsa::PrivateKey::from_pkcs8_pem(text) {
            return Ok(PrivateKey::Rsa(Box::new(k)));
        }
        #[cfg(not(feature = "rsa-signing"))]
        if let Some(k) = rsa_public_half(text) {
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
            #[cfg(feature = "rsa-signing")]
            PrivateKey::Rsa(k) => PublicKey::Rsa(k.to_public_key()),
            #[cfg(not(feature = "rsa-signing"))]
            PrivateKey::Rsa(k) => PublicKey::Rsa((**k).clone()),
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

    /// What signs with it: RustCrypto's Ed25519 and ECDSA (RFC 6979) on the parsed key;
    /// ring for RSA with the `rsa-signing` feature, and nothing without it.
    pub(crate) fn signer(&self) -> Result<Signer, Error> {
        Ok(match self {
            PrivateKey::Ed25519(k) => Signer::Ed25519(k.clone()),
            PrivateKey::P256(k) => Signer::Es256(p256::ecdsa::SigningKey::from(k)),
            PrivateKey::P384(k) => Signer::Es384(p384::ecdsa::SigningKey::from(k)),
            #[cfg(feature = "rsa-signing")]
            PrivateKey::Rsa(k) => {
                use rsa::pkcs8::EncodePrivateKey as _;
                let der = k
                    .to_pkcs8_der()
                    .map(|d| Zeroizing::new(d.as_bytes().to_vec()))
                    .map_err(|e| bad_key(format!("cannot encode the key: {e}")))?;
                let pair = ring::rsa::KeyPair::from_pkcs8(&der)
                    .map_err(|e| bad_key(format!("an RSA key ring cannot sign with: {e}")))?;
                Signer::Rsa(std::sync::Arc::new(pair))
            }
            #[cfg(not(feature = "rsa-signing"))]
            PrivateKey::Rsa(_) => {
                return Err(bad_key(
                    "RSA signing keys are refused by this build: the pure-Rust RSA implementation is not constant-time (RUSTSEC-2023-0071). Sign with Ed25519 or ES256 instead (`keycard keys generate --alg EdDSA`); RSA keys still work as --verify-key",
                ));
            }
        })
    }

    /// jsonwebtoken's key for the same private key, for tests that craft tokens by hand
    /// and for reading Keycard's signatures a second way.
    #[cfg(test)]
    pub(crate) fn encoding(&self) -> jsonwebtoken::EncodingKey {
        use jsonwebtoken::EncodingKey;
        let der = |d: ed25519_dalek::pkcs8::SecretDocument| d.as_bytes().to_vec();
        match self {
            PrivateKey::Ed25519(k) => EncodingKey::from_ed_der(&der(k.to_pkcs8_der().unwrap())),
            PrivateKey::P256(k) => EncodingKey::from_ec_der(&der(k.to_pkcs8_der().unwrap())),
            PrivateKey::P384(k) => EncodingKey::from_ec_der(&der(k.to_pkcs8_der().unwrap())),
            #[cfg(feature = "rsa-signing")]
            PrivateKey::Rsa(k) => {
                use rsa::pkcs1::EncodeRsaPrivateKey as _;
                EncodingKey::from_rsa_der(k.to_pkcs1_der().unwrap().as_bytes())
            }
            #[cfg(not(feature = "rsa-signing"))]
            PrivateKey::Rsa(_) => panic!("this build reads an RSA private key's public half only"),
        }
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
            #[cfg(feature = "rsa-signing")]
            PrivateKey::Rsa(k) => k.to_pkcs8_pem(LineEnding::LF),
            // Never made here (see `generate`), so never written.
            #[cfg(not(feature = "rsa-signing"))]
            PrivateKey::Rsa(_) => return Err(bad_key(NO_RSA_KEYS)),
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
            #[cfg(feature = "rsa-signing")]
            KeyAlgorithm::RS256 | KeyAlgorithm::PS256 => PrivateKey::Rsa(Box::new(
                rsa::PrivateKey::new(&mut rng, super::MIN_RSA_BITS)
                    .map_err(|e| bad_key(format!("RSA key generation failed: {e}")))?,
            )),
            #[cfg(not(feature = "rsa-signing"))]
            KeyAlgorithm::RS256 | KeyAlgorithm::PS256 => return Err(bad_key(NO_RSA_KEYS)),
            KeyAlgorithm::HS256 => return Err(bad_key("HS256 uses a secret, not a key pair")),
        })
    }
}
