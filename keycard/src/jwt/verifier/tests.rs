//! The verifier: every refusal, the leeway, key selection, revocation.

use super::*;
use crate::clock::ManualClock;
use crate::jwt::issuer::Issuer;
use crate::jwt::jws::MAX_SIGNATURE_LEN;
use crate::testing::{NOW, SECRET, forge, hmac, key, key_file, payload, sign};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::Value;
use serde_json::json;

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(NOW))
}

#[test]
fn every_asymmetric_algorithm_signs_and_verifies() {
    for file in ["ed25519.pem", "p256.pem", "p384.pem"] {
        let key = SigningKey::from_pkcs8_pem(&key_file(file)).unwrap();
        let token = Issuer::new(key.clone())
            .with_clock(clock())
            .issue("alice", "admin")
            .unwrap()
            .token;
        let header: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header["alg"], key.algorithm_name());
        assert_eq!(
            header["kid"],
            key.key_id().unwrap(),
            "asymmetric tokens always carry kid"
        );
        let verifier = Verifier::new(key).with_clock(clock());
        assert_eq!(
            verifier.verify(&token).unwrap().subject(),
            Some("alice"),
            "{file}"
        );
        // A verifier holding only the public half verifies it too.
        let public = VerifyingKey::from_pem(&key_file(&file.replace(".pem", ".pub.pem"))).unwrap();
        let verify_only = Verifier::from_keys(vec![public])
            .unwrap()
            .with_clock(clock());
        assert!(verify_only.verify(&token).is_ok());
    }
}

fn hs256_verifier() -> Verifier {
    Verifier::new(key()).with_clock(clock())
}

/// RFC 7515 Appendix A.1: the HS256 example, key and token as the RFC prints them.
#[test]
fn rfc_7515_a1_hs256_known_answer() {
    const K: &str =
        "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
    const TOKEN: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let secret = crate::Secret::new(URL_SAFE_NO_PAD.decode(K).unwrap()).unwrap();
    let verifier = Verifier::new(SigningKey::hs256(&secret).unwrap())
        .with_clock(Arc::new(ManualClock::new(1_300_819_300)));
    let claims = verifier.verify(TOKEN).unwrap();
    assert_eq!(claims.issuer(), Some("joe"));
    assert_eq!(claims.expires_at(), Some(1_300_819_380));
    // One character of the signature changed: refused as a bad signature.
    let tampered = format!("{}Y", &TOKEN[..TOKEN.len() - 1]);
    assert_eq!(
        verifier.verify(&tampered).unwrap_err(),
        TokenError::BadSignature
    );
}

/// RFC 8037 Appendix A.4: the Ed25519 example. Its payload is text, not claims, so a
/// good signature gets as far as the claims and no further.
#[test]
fn rfc_8037_a4_ed25519_known_answer() {
    const TOKEN: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    }))
    .unwrap();
    let verifier = Verifier::from_keys(vec![VerifyingKey::from_jwk(&jwk).unwrap()])
        .unwrap()
        .with_clock(clock());
    assert_eq!(
        verifier.verify(TOKEN).unwrap_err(),
        TokenError::InvalidClaims
    );
    let tampered = TOKEN.replacen(".hgyY", ".hgyZ", 1);
    assert_eq!(
        verifier.verify(&tampered).unwrap_err(),
        TokenError::BadSignature
    );
}

#[test]
fn properly_signed_tokens_of_another_type_are_refused() {
    let verifier = hs256_verifier();
    let payload = json!({"sub": "alice", "exp": NOW + 60});
    for typ in ["JWE", "logout+jwt", "secevent+jwt", "", "application/jose"] {
        let token = forge(json!({"alg": "HS256", "typ": typ}), payload.clone(), |m| {
            hmac(SECRET, m)
        });
        assert_eq!(
            verifier.verify(&token).unwrap_err(),
            TokenError::WrongType,
            "{typ:?}"
        );
    }
    for typ in [
        Some("JWT"),
        Some("jwt"),
        Some("at+jwt"),
        Some("application/at+JWT"),
        None,
    ] {
        let header = match typ {
            Some(t) => json!({"alg": "HS256", "typ": t}),
            None => json!({"alg": "HS256"}),
        };
        let token = forge(header, payload.clone(), |m| hmac(SECRET, m));
        assert!(verifier.verify(&token).is_ok(), "{typ:?}");
    }
}

#[test]
fn tokens_that_outlive_the_maximum_lifetime_are_refused() {
    let verifier = hs256_verifier();
    let token = |exp: u64| {
        forge(
            json!({"alg": "HS256", "typ": "JWT"}),
            json!({"sub": "alice", "exp": exp}),
            |m| hmac(SECRET, m),
        )
    };
    let max = DEFAULT_MAX_LIFETIME.as_secs();
    assert!(verifier.verify(&token(NOW + max)).is_ok());
    for exp in [NOW + max + 31, 1 << 62, u64::MAX / 2] {
        assert_eq!(
            verifier.verify(&token(exp)).unwrap_err(),
            TokenError::LifetimeTooLong,
            "{exp}"
        );
    }
    let short = verifier.with_max_lifetime(Duration::from_secs(3600));
    assert!(short.verify(&token(NOW + 3600)).is_ok());
    assert_eq!(
        short.verify(&token(NOW + 7200)).unwrap_err(),
        TokenError::LifetimeTooLong
    );
}

#[test]
fn jwks_keys_for_encryption_do_not_verify() {
    let public = VerifyingKey::from_pem(&key_file("p256.pub.pem")).unwrap();
    let mut jwk = public.jwk().unwrap().clone();
    jwk.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Encryption);
    assert!(VerifyingKey::from_jwk(&jwk).is_err());
    jwk.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Signature);
    assert!(VerifyingKey::from_jwk(&jwk).is_ok());
    jwk.common.public_key_use = None;
    jwk.common.key_operations = Some(vec![jsonwebtoken::jwk::KeyOperations::Encrypt]);
    assert!(VerifyingKey::from_jwk(&jwk).is_err());
    jwk.common.key_operations = Some(vec![jsonwebtoken::jwk::KeyOperations::Verify]);
    assert!(VerifyingKey::from_jwk(&jwk).is_ok());
}

#[test]
fn hmac_with_the_public_key_as_secret_is_refused() {
    // The classic key confusion: sign HS256 with the verifier's public key bytes.
    for file in ["p256.pub.pem", "rsa2048.pub.pem", "ed25519.pub.pem"] {
        let pem = key_file(file);
        let verifier = Verifier::from_keys(vec![VerifyingKey::from_pem(&pem).unwrap()])
            .unwrap()
            .with_clock(clock());
        let kid = verifier.keys()[0].key_id().unwrap().to_owned();
        for header in [
            json!({"alg": "HS256", "typ": "JWT"}),
            json!({"alg": "HS256", "typ": "JWT", "kid": kid}),
        ] {
            let token = forge(header, json!({"sub": "mallory", "exp": NOW + 60}), |m| {
                hmac(&pem, m)
            });
            assert_eq!(
                verifier.verify(&token).unwrap_err(),
                TokenError::AlgorithmNotAllowed,
                "{file}"
            );
        }
    }
}

/// A token signed with the RSA fixture by jsonwebtoken itself (Keycard signs no RSA).
fn rsa_token(alg: jsonwebtoken::Algorithm, payload: &serde_json::Value) -> String {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    let pem = String::from_utf8(key_file("rsa2048.pem")).unwrap();
    let der = rsa::PrivateKey::from_pkcs8_pem(&pem)
        .unwrap()
        .to_pkcs1_der()
        .unwrap();
    let key = jsonwebtoken::EncodingKey::from_rsa_der(der.as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::new(alg), payload, &key).unwrap()
}

#[test]
fn rsa_pkcs1_and_pss_tokens_verify_with_their_own_algorithm_only() {
    let payload = json!({"sub": "alice", "exp": NOW + 60});
    let rs256 = rsa_token(jsonwebtoken::Algorithm::RS256, &payload);
    let ps256 = rsa_token(jsonwebtoken::Algorithm::PS256, &payload);
    let public = VerifyingKey::from_pem(&key_file("rsa2048.pub.pem")).unwrap();
    let mut jwk = public.jwk().unwrap().clone();
    jwk.common.key_algorithm = Some(jsonwebtoken::jwk::KeyAlgorithm::PS256);
    let pss = VerifyingKey::from_jwk(&jwk).unwrap();
    assert_eq!(pss.algorithm(), crate::jwt::KeyAlgorithm::PS256);

    let rs = Verifier::from_keys(vec![public])
        .unwrap()
        .with_clock(clock());
    let ps = Verifier::from_keys(vec![pss]).unwrap().with_clock(clock());
    assert_eq!(rs.verify(&rs256).unwrap().subject(), Some("alice"));
    assert_eq!(ps.verify(&ps256).unwrap().subject(), Some("alice"));
    assert_eq!(
        rs.verify(&ps256).unwrap_err(),
        TokenError::AlgorithmNotAllowed
    );
    assert_eq!(
        ps.verify(&rs256).unwrap_err(),
        TokenError::AlgorithmNotAllowed
    );
    // A PSS signature presented as PKCS#1 v1.5 (and the reverse) does not verify.
    let (rs_input, _) = rs256.rsplit_once('.').unwrap();
    let (_, ps_sig) = ps256.rsplit_once('.').unwrap();
    assert_eq!(
        rs.verify(&format!("{rs_input}.{ps_sig}")).unwrap_err(),
        TokenError::BadSignature
    );
    // One flipped bit of the payload.
    let (head, rest) = rs256.split_once('.').unwrap();
    let (body, sig) = rest.split_once('.').unwrap();
    let other = URL_SAFE_NO_PAD.encode(json!({"sub": "alicf", "exp": NOW + 60}).to_string());
    assert_ne!(body, other);
    assert_eq!(
        rs.verify(&format!("{head}.{other}.{sig}")).unwrap_err(),
        TokenError::BadSignature
    );
}

#[test]
fn oversized_and_non_base64_signatures_are_refused_without_panic() {
    let key = SigningKey::hs256(&crate::Secret::new(vec![7; 32]).unwrap()).unwrap();
    let verifier = Verifier::new(key.clone()).with_clock(clock());
    let token = Issuer::new(key)
        .with_clock(clock())
        .issue("a", "r")
        .unwrap()
        .token;
    let (input, _) = token.rsplit_once('.').unwrap();
    let long = URL_SAFE_NO_PAD.encode(vec![1u8; MAX_SIGNATURE_LEN + 1]);
    assert_eq!(
        verifier.verify(&format!("{input}.{long}")).unwrap_err(),
        TokenError::BadSignature
    );
    for bad in ["!!!!", "A", "AAAA=", "AB"] {
        assert!(verifier.verify(&format!("{input}.{bad}")).is_err(), "{bad}");
    }
    assert_eq!(
        verifier.verify(&format!("{input}.")).unwrap_err(),
        TokenError::BadSignature
    );
}

#[test]
fn ed25519_small_order_keys_are_refused() {
    // The identity point as a public key: with it, the "identity" signature (R =
    // identity, s = 0) verifies any message. Such a key is refused when loaded.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(json!({
        "kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(identity)
    }))
    .unwrap();
    let err = VerifyingKey::from_jwk(&jwk).unwrap_err();
    assert!(err.to_string().contains("small-order"), "{err}");
    // And a real key does not accept the identity signature.
    let key = SigningKey::from_pkcs8_pem(&key_file("ed25519.pem")).unwrap();
    let verifier = Verifier::new(key).with_clock(clock());
    let mut sig = [0u8; 64];
    sig[0] = 1;
    let token = forge(
        json!({"alg": "EdDSA", "typ": "JWT"}),
        json!({"sub": "mallory", "exp": NOW + 60}),
        |_| sig.to_vec(),
    );
    assert_eq!(
        verifier.verify(&token).unwrap_err(),
        TokenError::BadSignature
    );
}

#[test]
fn hmac_secrets_and_public_keys_do_not_mix() {
    let secret = SigningKey::hs256(&crate::Secret::new(vec![7; 32]).unwrap()).unwrap();
    let public = VerifyingKey::from_pem(&key_file("p256.pub.pem")).unwrap();
    assert!(Verifier::from_keys(vec![secret.verifying_key().clone(), public]).is_err());
    assert!(Verifier::from_keys(vec![]).is_err());
}

#[test]
fn ecdsa_signatures_of_zeroes_are_refused() {
    // CVE-2022-21449 ("psychic signatures"): r = s = 0 must never verify.
    for (file, alg, len) in [("p256.pem", "ES256", 64), ("p384.pem", "ES384", 96)] {
        let key = SigningKey::from_pkcs8_pem(&key_file(file)).unwrap();
        let verifier = Verifier::new(key.clone()).with_clock(clock());
        let header = json!({"alg": alg, "typ": "JWT", "kid": key.key_id().unwrap()});
        let token = forge(
            header.clone(),
            json!({"sub": "mallory", "exp": NOW + 60}),
            |_| vec![0; len],
        );
        assert_eq!(
            verifier.verify(&token).unwrap_err(),
            TokenError::BadSignature,
            "{file}"
        );
        // r = 0 with a random-looking s, and an empty signature, too.
        let mut r0 = vec![0u8; len];
        r0[len - 1] = 1;
        let token = forge(header.clone(), json!({"exp": NOW + 60}), |_| r0.clone());
        assert!(verifier.verify(&token).is_err());
        let token = forge(header, json!({"exp": NOW + 60}), |_| vec![]);
        assert!(verifier.verify(&token).is_err());
    }
}

#[test]
fn key_finding_headers_are_ignored() {
    // jku, x5u, x5c and an embedded jwk all name the attacker's key; none is used.
    let ours = SigningKey::from_pkcs8_pem(&key_file("p256.pem")).unwrap();
    let attacker = SigningKey::generate(crate::jwt::KeyAlgorithm::ES256).unwrap();
    let attacker_key = SigningKey::from_pkcs8_pem(attacker.pem.as_bytes()).unwrap();
    let attacker_jwk = serde_json::to_value(attacker.verifying_key.jwk().unwrap()).unwrap();
    let verifier = Verifier::new(ours.clone()).with_clock(clock());
    for extra in [
        json!({"jku": "https://evil.example/jwks.json"}),
        json!({"x5u": "https://evil.example/cert.pem"}),
        json!({"x5c": ["MIIBszCCAVmgAwIBAgIU"]}),
        json!({"jwk": attacker_jwk}),
        json!({"jwk": attacker_jwk, "kid": ours.key_id().unwrap()}),
    ] {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        let mut h = serde_json::to_value(&header).unwrap();
        h.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        header = serde_json::from_value(h).unwrap_or(header);
        let token = jsonwebtoken::encode(
            &header,
            &json!({"sub": "mallory", "exp": NOW + 60}),
            attacker_key.encoding(),
        )
        .unwrap();
        assert!(verifier.verify(&token).is_err(), "{extra}");
    }
}

#[test]
fn retired_keys_still_verify_and_kid_picks_the_key() {
    let old = SigningKey::from_pkcs8_pem(&key_file("ed25519.pem")).unwrap();
    let new = SigningKey::from_pkcs8_pem(&key_file("p256.pem")).unwrap();
    let old_token = Issuer::new(old.clone())
        .with_clock(clock())
        .issue("a", "r")
        .unwrap()
        .token;
    let new_token = Issuer::new(new.clone())
        .with_clock(clock())
        .issue("a", "r")
        .unwrap()
        .token;
    let verifier = Verifier::from_keys(vec![
        new.verifying_key().clone(),
        old.verifying_key().clone(),
    ])
    .unwrap()
    .with_clock(clock());
    assert!(verifier.verify(&old_token).is_ok());
    assert!(verifier.verify(&new_token).is_ok());
    let only_new = Verifier::new(new).with_clock(clock());
    // Its kid names no key we hold: for a remote JWKS, the cue to refetch.
    assert_eq!(
        only_new.verify(&old_token).unwrap_err(),
        TokenError::UnknownKey
    );
}

#[test]
fn issuer_and_audience_are_stamped_and_required() {
    let clock = Arc::new(ManualClock::new(NOW));
    let verifier = Verifier::new(key())
        .with_issuer("https://auth.example")
        .with_audience("api")
        .with_clock(clock.clone());
    let issuer = Issuer::new(key())
        .with_issuer("https://auth.example")
        .with_audience("api")
        .with_clock(clock);
    let issued = issuer.issue("alice", "admin").unwrap();
    let c = payload(&issued.token);
    assert_eq!(
        (c["iss"].as_str(), c["aud"].as_str()),
        (Some("https://auth.example"), Some("api"))
    );
    assert!(verifier.verify(&issued.token).is_ok());
    let base = |extra: Value| {
        let mut v = json!({"sub": "a", "exp": NOW + 60});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        sign(v)
    };
    assert_eq!(
        verifier.verify(&base(json!({"aud": "api"}))).unwrap_err(),
        TokenError::WrongIssuer
    );
    assert_eq!(
        verifier
            .verify(&base(json!({"iss": "https://evil.example", "aud": "api"})))
            .unwrap_err(),
        TokenError::WrongIssuer
    );
    assert_eq!(
        verifier
            .verify(&base(json!({"iss": "https://auth.example"})))
            .unwrap_err(),
        TokenError::WrongAudience
    );
    assert_eq!(
        verifier
            .verify(&base(
                json!({"iss": "https://auth.example", "aud": "other"})
            ))
            .unwrap_err(),
        TokenError::WrongAudience
    );
    assert!(
        verifier
            .verify(&base(
                json!({"iss": "https://auth.example", "aud": ["other", "api"]})
            ))
            .is_ok()
    );
}

#[test]
fn key_id_is_stamped_and_matched() {
    let clock = Arc::new(ManualClock::new(NOW));
    let key = key().with_key_id("k1");
    let token = Issuer::new(key.clone())
        .with_clock(clock.clone())
        .issue("a", "r")
        .unwrap()
        .token;
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["kid"], "k1");
    let verifier = Verifier::new(key).with_clock(clock);
    assert!(verifier.verify(&token).is_ok());
    // A token without kid is tried against the key of its algorithm (Node-signed tokens).
    assert!(verifier.verify(&sign(json!({"exp": NOW + 60}))).is_ok());
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some("k2".into());
    let other = encode(
        &h,
        &json!({"exp": NOW + 60}),
        &EncodingKey::from_secret(SECRET).unwrap(),
    )
    .unwrap();
    assert_eq!(verifier.verify(&other).unwrap_err(), TokenError::UnknownKey);
}
