//! Several trusted issuers: each token checked only by the issuer its `iss` names, and
//! every way of crossing them refused.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::json;

use super::*;
use crate::clock::ManualClock;
use crate::jwt::{Issuer, SigningKey, Verifier};
use crate::testing::{NOW, SECRET, forge, hmac, key, key_file};

const A: &str = "https://a.example";
const B: &str = "https://b.example";

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(NOW))
}

fn ed25519() -> SigningKey {
    SigningKey::from_pkcs8_pem(&key_file("ed25519.pem")).unwrap()
}

fn p256() -> SigningKey {
    SigningKey::from_pkcs8_pem(&key_file("p256.pem")).unwrap()
}

/// A signs with HS256 (an issuing node's own secret), B with Ed25519.
fn two_issuers() -> Verifier {
    Verifier::new(key())
        .with_issuer(A)
        .with_clock(clock())
        .trusting(TrustedIssuer::new(B, vec![ed25519().verifying_key().clone()]).unwrap())
        .unwrap()
}

fn issued(key: SigningKey, iss: Option<&str>) -> String {
    let mut issuer = Issuer::new(key).with_clock(clock());
    if let Some(iss) = iss {
        issuer = issuer.with_issuer(iss);
    }
    issuer.issue("alice", "admin").unwrap().token
}

/// A token with these claims, header `{"alg":alg,"kid":kid}`, signed by `key`.
fn signed(key: &SigningKey, payload: &str) -> String {
    let alg = key.algorithm().jwt();
    let header = match key.key_id() {
        Some(kid) => json!({"alg": key.algorithm_name(), "kid": kid}),
        None => json!({"alg": key.algorithm_name()}),
    };
    forge(header, payload, |m| {
        let sig = jsonwebtoken::crypto::sign(m, key.encoding(), alg).unwrap();
        URL_SAFE_NO_PAD.decode(sig).unwrap()
    })
}

fn claims(iss: &str) -> String {
    json!({"sub": "alice", "role": "admin", "iss": iss, "exp": NOW + 600}).to_string()
}

#[test]
fn each_issuer_verifies_its_own_tokens() {
    let v = two_issuers();
    assert_eq!(v.verify(&issued(key(), Some(A))).unwrap().issuer(), Some(A));
    assert_eq!(
        v.verify(&issued(ed25519(), Some(B))).unwrap().issuer(),
        Some(B)
    );
    assert_eq!(
        v.others()
            .map(|t| t.issuer().to_owned())
            .collect::<Vec<_>>(),
        [B]
    );
    // The first issuer's keys are the node's own, the ones it would publish.
    assert_eq!(v.keys().len(), 1);
    assert!(v.keys().iter().all(|k| k.algorithm().is_hmac()));
}

#[test]
fn a_key_of_one_issuer_never_verifies_a_token_claiming_another() {
    let v = two_issuers();
    // B's key, claiming A: A's secret checks it (and A has no key of B's kid).
    assert_eq!(
        v.verify(&issued(ed25519(), Some(A))).unwrap_err(),
        TokenError::UnknownKey
    );
    // A's secret, claiming B: B holds only a public key, so no HMAC at all.
    assert_eq!(
        v.verify(&issued(key(), Some(B))).unwrap_err(),
        TokenError::AlgorithmNotAllowed
    );
    // The classic confusion, aimed at B: HS256 with B's public key as the secret.
    let public = key_file("ed25519.pub.pem");
    let confused = forge(r#"{"alg":"HS256"}"#, claims(B), |m| hmac(&public, m));
    assert_eq!(
        v.verify(&confused).unwrap_err(),
        TokenError::AlgorithmNotAllowed
    );
    // Two public-key issuers of the same algorithm: the wrong one's key is a bad
    // signature, never a pass.
    let other = SigningKey::from_pkcs8_pem(
        SigningKey::generate(KeyAlgorithm::EdDSA)
            .unwrap()
            .pem
            .as_bytes(),
    )
    .unwrap();
    let v = Verifier::from_issuers(vec![
        TrustedIssuer::new(A, vec![other.verifying_key().clone()]).unwrap(),
        TrustedIssuer::new(B, vec![ed25519().verifying_key().clone()]).unwrap(),
    ])
    .unwrap()
    .with_clock(clock());
    assert!(v.verify(&issued(other.clone(), Some(A))).is_ok());
    assert!(v.verify(&issued(ed25519(), Some(B))).is_ok());
    // B's kid on a token claiming A, signed by B: A's key checks it, and fails.
    let crossed = signed(&ed25519(), &claims(A));
    assert!(crossed.contains('.'));
    assert!(matches!(
        v.verify(&crossed).unwrap_err(),
        TokenError::BadSignature | TokenError::UnknownKey
    ));
    assert!(matches!(
        v.verify(&signed(&other, &claims(B))).unwrap_err(),
        TokenError::BadSignature | TokenError::UnknownKey
    ));
}

#[test]
fn a_token_naming_no_trusted_issuer_is_refused() {
    let v = two_issuers();
    // No iss, an unknown one, one differing only in case or a trailing slash.
    for iss in [
        None,
        Some("https://c.example"),
        Some("https://B.example"),
        Some("https://b.example/"),
    ] {
        assert_eq!(
            v.verify(&issued(ed25519(), iss)).unwrap_err(),
            TokenError::WrongIssuer,
            "{iss:?}"
        );
    }
    // iss that is not a string, or null.
    for payload in [
        json!({"sub": "alice", "iss": 7, "exp": NOW + 600}).to_string(),
        json!({"sub": "alice", "iss": null, "exp": NOW + 600}).to_string(),
        json!({"sub": "alice", "iss": [B], "exp": NOW + 600}).to_string(),
    ] {
        assert!(
            v.verify(&signed(&ed25519(), &payload)).is_err(),
            "{payload}"
        );
    }
}

#[test]
fn an_iss_named_twice_is_refused_whichever_comes_first() {
    let v = two_issuers();
    for payload in [
        format!(
            r#"{{"sub":"alice","iss":"{B}","iss":"{A}","exp":{}}}"#,
            NOW + 600
        ),
        format!(
            r#"{{"sub":"alice","iss":"{A}","iss":"{B}","exp":{}}}"#,
            NOW + 600
        ),
    ] {
        assert!(
            v.verify(&signed(&ed25519(), &payload)).is_err(),
            "{payload}"
        );
        let hs = forge(r#"{"alg":"HS256"}"#, &payload, |m| hmac(SECRET, m));
        assert!(v.verify(&hs).is_err(), "{payload}");
    }
    // Escaped spellings of the member name are the same name to JSON.
    let escaped = format!(
        r#"{{"sub":"alice","\u0069ss":"{B}","iss":"{A}","exp":{}}}"#,
        NOW + 600
    );
    assert!(v.verify(&signed(&ed25519(), &escaped)).is_err());
}

#[test]
fn each_issuer_has_its_own_audience_and_algorithms() {
    let b = TrustedIssuer::new(B, vec![ed25519().verifying_key().clone()])
        .unwrap()
        .with_audience("api-b");
    let v = Verifier::new(key())
        .with_issuer(A)
        .with_audience("api-a")
        .with_clock(clock())
        .trusting(b)
        .unwrap();
    let token = |key: &SigningKey, iss: &str, aud: &str| {
        signed(
            key,
            &json!({"sub": "alice", "iss": iss, "aud": aud, "exp": NOW + 600}).to_string(),
        )
    };
    assert!(v.verify(&token(&ed25519(), B, "api-b")).is_ok());
    assert_eq!(
        v.verify(&token(&ed25519(), B, "api-a")).unwrap_err(),
        TokenError::WrongAudience
    );
    assert!(v.verify(&token(&key(), A, "api-a")).is_ok());
    assert_eq!(
        v.verify(&token(&key(), A, "api-b")).unwrap_err(),
        TokenError::WrongAudience
    );
    // Algorithms: a fixed key outside them is a configuration error.
    let both = vec![
        ed25519().verifying_key().clone(),
        p256().verifying_key().clone(),
    ];
    let err = TrustedIssuer::new(B, both.clone())
        .unwrap()
        .with_algorithms([KeyAlgorithm::EdDSA])
        .unwrap_err();
    assert!(err.to_string().contains("ES256"), "{err}");
    assert!(
        TrustedIssuer::new(B, both.clone())
            .unwrap()
            .with_algorithms([])
            .is_err()
    );
    let narrowed = TrustedIssuer::new(B, both)
        .unwrap()
        .with_algorithms([KeyAlgorithm::EdDSA, KeyAlgorithm::ES256])
        .unwrap();
    let v = Verifier::new(key())
        .with_issuer(A)
        .with_clock(clock())
        .trusting(narrowed)
        .unwrap();
    assert!(v.verify(&issued(p256(), Some(B))).is_ok());
}

#[test]
fn the_algorithm_list_refuses_before_any_key_is_chosen() {
    let mut trust = Trust::new(KeySet::Static(Arc::from(vec![
        ed25519().verifying_key().clone(),
        p256().verifying_key().clone(),
    ])));
    trust.algorithms = Some(Arc::from(vec![KeyAlgorithm::EdDSA]));
    assert!(trust.verify_signature(&issued(ed25519(), None)).is_ok());
    assert_eq!(
        trust.verify_signature(&issued(p256(), None)).unwrap_err(),
        TokenError::AlgorithmNotAllowed
    );
}

#[test]
fn revocations_are_each_issuers_own() {
    struct RevokesAlice;
    impl RevocationCheck for RevokesAlice {
        fn is_revoked(&self, claims: &Claims) -> bool {
            claims.subject() == Some("alice")
        }
    }
    let v = two_issuers().with_revocations(Arc::new(RevokesAlice));
    assert_eq!(
        v.verify(&issued(key(), Some(A))).unwrap_err(),
        TokenError::Revoked
    );
    // A's revocations say nothing of B's alice.
    assert!(v.verify(&issued(ed25519(), Some(B))).is_ok());
    let b = TrustedIssuer::new(B, vec![ed25519().verifying_key().clone()])
        .unwrap()
        .with_revocations(Arc::new(RevokesAlice));
    let v = Verifier::new(key())
        .with_issuer(A)
        .with_clock(clock())
        .trusting(b)
        .unwrap();
    assert!(v.verify(&issued(key(), Some(A))).is_ok());
    assert_eq!(
        v.verify(&issued(ed25519(), Some(B))).unwrap_err(),
        TokenError::Revoked
    );
}

#[test]
fn ambiguous_trust_is_refused_when_built() {
    let b = || TrustedIssuer::new(B, vec![ed25519().verifying_key().clone()]).unwrap();
    // The first issuer unnamed: its key would vouch for any iss.
    let err = Verifier::new(key()).trusting(b()).unwrap_err();
    assert!(err.to_string().contains("iss"), "{err}");
    // The same iss twice, or the first's again.
    assert!(two_issuers().trusting(b()).is_err());
    let again = TrustedIssuer::new(A, vec![p256().verifying_key().clone()]).unwrap();
    assert!(two_issuers().trusting(again).is_err());
    assert!(Verifier::from_issuers(Vec::new()).is_err());
    assert!(TrustedIssuer::new("", vec![ed25519().verifying_key().clone()]).is_err());
    assert!(TrustedIssuer::new(B, Vec::new()).is_err());
    // Debug shows who is trusted, never key material.
    let shown = format!("{:?}", two_issuers());
    assert!(shown.contains(B), "{shown}");
    assert!(!shown.contains(&String::from_utf8_lossy(SECRET).to_string()));
}

#[test]
fn one_issuer_alone_keeps_todays_rules() {
    // Without others, a verifier with no iss set accepts any iss or none, as before.
    let v = Verifier::new(key()).with_clock(clock());
    assert!(v.verify(&issued(key(), None)).is_ok());
    assert!(v.verify(&issued(key(), Some(B))).is_ok());
    let v = v.with_issuer(A);
    assert_eq!(
        v.verify(&issued(key(), Some(B))).unwrap_err(),
        TokenError::WrongIssuer
    );
    let _ = Algorithm::HS256;
}
