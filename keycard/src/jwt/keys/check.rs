//! A key parsed once into what checking a signature needs.

use hmac::Mac;

/// A key parsed once, when it is loaded, into what checking a signature needs: the
/// per-token work is then the primitive alone. (Handing jsonwebtoken a `DecodingKey`
/// re-parses it on every call: an Ed25519 point decompression, an RSA modulus, the
/// HMAC key schedule, 8-13 µs per token for EdDSA and RS256; see BENCHMARKS.md.)
///
/// These are the RustCrypto types jsonwebtoken's `rust_crypto` backend itself uses.
#[derive(Clone)]
pub(crate) enum SignatureCheck {
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
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
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
