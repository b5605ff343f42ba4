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
//!
//! `algorithm`: the one table of algorithms; `public` and `private`: reading PEM and JWK,
//! generating, writing PKCS#8 and JWK; `check`: the parsed RustCrypto verifiers;
//! `verifying` and `signing`: the two public key types.

mod algorithm;
mod check;
mod private;
mod public;
mod signing;
mod verifying;

pub use algorithm::{KeyAlgorithm, MIN_RSA_BITS};
pub(crate) use check::SignatureCheck;
pub(crate) use private::PrivateKey;
pub(crate) use public::PublicKey;
pub use signing::{GeneratedKey, SigningKey};
pub use verifying::VerifyingKey;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{Error, ErrorKind};

pub(crate) fn bad_key(why: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidKey, why)
}

pub(crate) fn decode_b64(text: &str) -> Result<Vec<u8>, Error> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| bad_key("a JWK member is not base64url"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::key_file;
    use jsonwebtoken::jwk::{Jwk, KeyAlgorithm as JwkAlgorithm};

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

    /// The private keys that sign wipe themselves on drop (SECURITY.md, "secrets
    /// lingering in memory"): RustCrypto's Ed25519 and ECDSA keys, and the `Secret`.
    /// (The hmac crate's keyed state is not `ZeroizeOnDrop`; SECURITY.md says so.)
    #[test]
    fn signing_keys_wipe_themselves_on_drop() {
        fn wiped<T: zeroize::ZeroizeOnDrop>() {}
        wiped::<crate::jwt::Secret>();
        wiped::<ed25519_dalek::SigningKey>();
        wiped::<p256::ecdsa::SigningKey>();
        wiped::<p384::ecdsa::SigningKey>();
    }

    /// Keycard's RFC 7638 thumbprint (its own, for one hash) against jsonwebtoken's, an
    /// independent one, for each kind of key.
    #[test]
    fn thumbprints_agree_with_jsonwebtoken() {
        for file in ["ed25519", "p256", "p384", "rsa2048"] {
            let key = VerifyingKey::from_pem(&key_file(&format!("{file}.pub.pem"))).unwrap();
            let jwk = key.jwk().unwrap();
            let theirs = jwk
                .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
                .unwrap();
            assert_eq!(key.key_id(), Some(theirs.as_str()), "{file}");
            assert_eq!(public::thumbprint(&jwk.algorithm).unwrap(), theirs);
        }
    }

    #[test]
    fn each_supported_private_key_signs_with_its_algorithm_and_agrees_with_its_public_half() {
        for (file, alg) in [
            ("ed25519", KeyAlgorithm::EdDSA),
            ("p256", KeyAlgorithm::ES256),
            ("p384", KeyAlgorithm::ES384),
        ] {
            let key = SigningKey::from_pkcs8_pem(&key_file(&format!("{file}.pem"))).unwrap();
            assert_eq!(key.algorithm(), alg, "{file}");
            let public = VerifyingKey::from_pem(&key_file(&format!("{file}.pub.pem"))).unwrap();
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
        #[cfg(not(feature = "rsa-signing"))]
        {
            let err = SigningKey::from_pkcs8_pem(&key_file("rsa2048.pem")).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidKey);
            assert_eq!(
                err.to_string(),
                "RSA signing keys are refused by this build: the pure-Rust RSA implementation is not constant-time (RUSTSEC-2023-0071). Sign with Ed25519 or ES256 instead (`keycard keys generate --alg EdDSA`); RSA keys still work as --verify-key"
            );
        }
        let public = VerifyingKey::from_pem(&key_file("rsa2048.pub.pem")).unwrap();
        assert_eq!(public.algorithm(), KeyAlgorithm::RS256);
        let from_private = VerifyingKey::from_pem(&key_file("rsa2048.pem")).unwrap();
        assert_eq!(from_private.key_id(), public.key_id());
        for small in ["rsa1024.pem", "rsa1024.pub.pem"] {
            let err = VerifyingKey::from_pem(&key_file(small)).unwrap_err();
            assert!(err.to_string().contains("1024 bits is too small"), "{err}");
        }
    }

    /// With `rsa-signing`, ring signs RS256 and PS256; Keycard's verifier (RustCrypto)
    /// and jsonwebtoken's decode (another reading of the same bytes) both accept them.
    #[cfg(feature = "rsa-signing")]
    #[test]
    fn rsa_keys_sign_with_ring_under_the_rsa_signing_feature() {
        use crate::jwt::Verifier;
        let pem = key_file("rsa2048.pem");
        let key = SigningKey::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(key.algorithm(), KeyAlgorithm::RS256);
        let public = VerifyingKey::from_pem(&key_file("rsa2048.pub.pem")).unwrap();
        assert_eq!(
            key.key_id(),
            public.key_id(),
            "one thumbprint from both halves"
        );
        let text = std::str::from_utf8(&pem).unwrap();
        let private = PrivateKey::from_pkcs8_pem(text).unwrap();
        let exp = u64::from(u32::MAX);
        let claims = serde_json::json!({"sub": "alice", "exp": exp});
        for (alg, jwt_alg) in [
            (KeyAlgorithm::RS256, jsonwebtoken::Algorithm::RS256),
            (KeyAlgorithm::PS256, jsonwebtoken::Algorithm::PS256),
        ] {
            let key = SigningKey::from_private(&private, alg).unwrap();
            let mut header = jsonwebtoken::Header::new(jwt_alg);
            header.kid = key.key_id().map(str::to_owned);
            let token = key.sign(&header, &claims).unwrap();
            let verifier = Verifier::from_keys(vec![key.verifying_key().clone()])
                .unwrap()
                .with_max_lifetime(std::time::Duration::from_secs(u64::MAX / 4));
            let verified = verifier.verify(&token).unwrap();
            assert_eq!(verified.subject(), Some("alice"), "{alg:?}");
            let decoding = jsonwebtoken::DecodingKey::from_jwk(public.jwk().unwrap()).unwrap();
            let mut validation = jsonwebtoken::Validation::new(jwt_alg);
            validation.required_spec_claims.clear();
            let decoded =
                jsonwebtoken::decode::<serde_json::Value>(&token, &decoding, &validation).unwrap();
            assert_eq!(decoded.claims["sub"], "alice");
            // The other padding's verifier refuses it: RS256 and PS256 never cross.
            let other = if alg == KeyAlgorithm::RS256 {
                jsonwebtoken::Algorithm::PS256
            } else {
                jsonwebtoken::Algorithm::RS256
            };
            let forged = {
                let mut parts: Vec<&str> = token.split('.').collect();
                let mut h = jsonwebtoken::Header::new(other);
                h.kid = key.key_id().map(str::to_owned);
                let json = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&h).unwrap());
                parts[0] = &json;
                parts.join(".")
            };
            assert!(verifier.verify(&forged).is_err());
        }
        // PKCS#1 v1.5 is deterministic, PSS salted: two PS256 signatures differ.
        let ps = SigningKey::from_private(&private, KeyAlgorithm::PS256).unwrap();
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::PS256);
        assert_ne!(
            ps.sign(&header, &claims).unwrap(),
            ps.sign(&header, &claims).unwrap()
        );
    }

    /// Keycard signs with the parsed keys directly, not through jsonwebtoken's `encode`:
    /// each kind's tokens are read the same by jsonwebtoken's `decode` (an independent
    /// reading of the compact JWS and of RFC 7518's signature formats) and by Keycard's
    /// verifier, every signature is byte for byte jsonwebtoken's, and a header naming
    /// another algorithm than the key's is refused, not signed.
    #[test]
    fn tokens_signed_directly_read_the_same_in_jsonwebtoken() {
        use crate::jwt::Verifier;
        let secret = crate::jwt::Secret::new(b"0123456789abcdef0123456789abcdef".to_vec()).unwrap();
        let mut keys = vec![(SigningKey::hs256(&secret).unwrap(), None)];
        for file in ["ed25519", "p256", "p384"] {
            let key = SigningKey::from_pkcs8_pem(&key_file(&format!("{file}.pem"))).unwrap();
            let public = VerifyingKey::from_pem(&key_file(&format!("{file}.pub.pem"))).unwrap();
            keys.push((key, Some(public)));
        }
        let claims = serde_json::json!({"sub": "alice", "exp": u64::from(u32::MAX), "role": "é"});
        for (key, public) in keys {
            let alg = key.algorithm();
            let mut header = jsonwebtoken::Header::new(alg.jwt());
            header.kid = key.key_id().map(str::to_owned);
            let token = key.sign(&header, &claims).unwrap();
            let decoding = match &public {
                None => jsonwebtoken::DecodingKey::from_secret(b"0123456789abcdef0123456789abcdef")
                    .unwrap(),
                Some(p) => jsonwebtoken::DecodingKey::from_jwk(p.jwk().unwrap()).unwrap(),
            };
            let validation = jsonwebtoken::Validation::new(alg.jwt());
            let decoded =
                jsonwebtoken::decode::<serde_json::Value>(&token, &decoding, &validation).unwrap();
            assert_eq!(decoded.claims, claims, "{alg:?}");
            assert_eq!(decoded.header.kid, header.kid);
            let verifier = Verifier::from_keys(vec![key.verifying_key().clone()])
                .unwrap()
                .with_max_lifetime(std::time::Duration::from_secs(u64::MAX / 4));
            assert_eq!(verifier.verify(&token).unwrap().subject(), Some("alice"));
            // HMAC, Ed25519 (RFC 8032) and RFC 6979 ECDSA are deterministic: the same
            // bytes as jsonwebtoken's own signer makes.
            let theirs = jsonwebtoken::encode(&header, &claims, key.encoding()).unwrap();
            assert_eq!(
                token, theirs,
                "{alg:?}: the same bytes as jsonwebtoken's signer"
            );
            for other in [
                jsonwebtoken::Algorithm::HS256,
                jsonwebtoken::Algorithm::ES256,
            ] {
                if other != alg.jwt() {
                    let err = key
                        .sign(&jsonwebtoken::Header::new(other), &claims)
                        .unwrap_err();
                    assert_eq!(err.kind(), ErrorKind::Signing, "{alg:?} under {other:?}");
                }
            }
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
            let err = SigningKey::from_pkcs8_pem(&key_file(file)).unwrap_err();
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
        let key = SigningKey::from_pkcs8_pem(&key_file("p256.pem")).unwrap();
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

    /// Without `rsa-signing` no RSA key is made (the build that makes one signs with it),
    /// and an RSA private key is read for its public half only: the same key as the
    /// full parse finds, under both OIDs the rsa crate reads, and nothing from a key
    /// that is not RSA or not whole.
    #[cfg(not(feature = "rsa-signing"))]
    #[test]
    fn this_build_makes_no_rsa_keys_and_reads_an_rsa_private_keys_public_half() {
        use rsa::pkcs8::der::{Decode as _, Encode as _};
        use rsa::pkcs8::{
            AlgorithmIdentifierRef, DecodePrivateKey as _, ObjectIdentifier, PrivateKeyInfoRef,
        };
        for alg in [KeyAlgorithm::RS256, KeyAlgorithm::PS256] {
            let Err(err) = SigningKey::generate(alg) else {
                panic!("{alg:?} made");
            };
            assert!(err.to_string().contains("makes no RSA keys"), "{err}");
        }
        let pem = String::from_utf8(key_file("rsa2048.pem")).unwrap();
        let full = rsa::PrivateKey::from_pkcs8_pem(&pem)
            .unwrap()
            .to_public_key();
        let Ok(PrivateKey::Rsa(half)) = PrivateKey::from_pkcs8_pem(&pem) else {
            panic!("an RSA key");
        };
        assert_eq!(*half, full);

        // The same key under RSASSA-PSS's OID: read without parameters, as the rsa crate
        // does, refused with them.
        let (_, doc) = rsa::pkcs8::SecretDocument::from_pem(&pem).unwrap();
        let info = PrivateKeyInfoRef::from_der(doc.as_bytes()).unwrap();
        let pss = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
        let with = |parameters| {
            let der = PrivateKeyInfoRef {
                algorithm: AlgorithmIdentifierRef {
                    oid: pss,
                    parameters,
                },
                ..info.clone()
            }
            .to_der()
            .unwrap();
            rsa::pkcs8::SecretDocument::try_from(der)
                .unwrap()
                .to_pem("PRIVATE KEY", rsa::pkcs8::LineEnding::LF)
                .unwrap()
        };
        let bare = with(None);
        assert!(rsa::PrivateKey::from_pkcs8_pem(&bare).is_ok());
        assert!(matches!(PrivateKey::from_pkcs8_pem(&bare), Ok(PrivateKey::Rsa(k)) if *k == full));
        let null = rsa::pkcs8::der::asn1::AnyRef::from(rsa::pkcs8::der::asn1::Null);
        let restricted = with(Some(null));
        assert!(rsa::PrivateKey::from_pkcs8_pem(&restricted).is_err());
        assert!(PrivateKey::from_pkcs8_pem(&restricted).is_err());

        // Not RSA, or not whole: nothing.
        assert!(matches!(
            PrivateKey::from_pkcs8_pem(&String::from_utf8(key_file("p256.pem")).unwrap()),
            Ok(PrivateKey::P256(_))
        ));
        let body: Vec<&str> = pem.lines().collect();
        let cut = format!(
            "{}\n{}\n{}\n",
            body[0],
            body[1..body.len() / 2].join("\n"),
            body[body.len() - 1]
        );
        assert!(PrivateKey::from_pkcs8_pem(&cut).is_err());
        let public = String::from_utf8(key_file("rsa2048.pub.pem")).unwrap();
        let err = PrivateKey::from_pkcs8_pem(&public).err().unwrap();
        assert!(
            err.to_string().contains("public key where a private key"),
            "{err}"
        );
    }

    #[cfg(feature = "rsa-signing")]
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
        let pem = key_file("ed25519.pem");
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
