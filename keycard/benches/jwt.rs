//! Sign and verify, per algorithm, through Keycard's `Issuer` and `Verifier` (the full
//! path: JSON, base64url, signature, claim checks).
//!
//!     cargo bench -p keycard --bench jwt

// A benchmark may unwrap: failing loudly is what it should do.
#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::sync::Arc;

use keycard::{FileTokenStore, Issuer, Secret, SigningKey, SystemClock, Verifier, VerifyingKey};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn keys() -> Vec<(&'static str, SigningKey)> {
    vec![
        (
            "HS256",
            SigningKey::hs256(&Secret::new(vec![42; 32]).unwrap()).unwrap(),
        ),
        (
            "EdDSA",
            SigningKey::from_pkcs8_pem(&fixture("ed25519.pem")).unwrap(),
        ),
        (
            "ES256",
            SigningKey::from_pkcs8_pem(&fixture("p256.pem")).unwrap(),
        ),
        (
            "ES384",
            SigningKey::from_pkcs8_pem(&fixture("p384.pem")).unwrap(),
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let mut sign = c.benchmark_group("sign");
    for (name, key) in keys() {
        let issuer = Issuer::new(key);
        sign.bench_function(name, |b| b.iter(|| issuer.issue("alice", "admin").unwrap()));
    }
    sign.finish();

    let mut verify = c.benchmark_group("verify");
    for (name, key) in keys() {
        let token = Issuer::new(key.clone())
            .issue("alice", "admin")
            .unwrap()
            .token;
        let verifier = Verifier::new(key);
        verify.bench_function(name, |b| b.iter(|| verifier.verify(&token).unwrap()));
    }
    // RS256: Keycard does not sign with RSA; a token signed by jsonwebtoken directly.
    let rsa = {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::pkcs8::DecodePrivateKey;
        let pem = String::from_utf8(fixture("rsa2048.pem")).unwrap();
        let key = rsa::PrivateKey::from_pkcs8_pem(&pem).unwrap();
        jsonwebtoken::EncodingKey::from_rsa_der(key.to_pkcs1_der().unwrap().as_bytes())
    };
    let claims = serde_json::json!({"sub": "alice", "role": "admin", "exp": u32::MAX});
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &rsa,
    )
    .unwrap();
    let verifier = Verifier::from_keys(vec![
        VerifyingKey::from_pem(&fixture("rsa2048.pub.pem")).unwrap(),
    ])
    .unwrap();
    verify.bench_function("RS256", |b| b.iter(|| verifier.verify(&token).unwrap()));
    verify.finish();

    // The revocation check on the hot path: an empty list vs 100,000 live revocations.
    let mut revoked = c.benchmark_group("verify_with_revocations");
    let key = SigningKey::hs256(&Secret::new(vec![42; 32]).unwrap()).unwrap();
    let token = Issuer::new(key.clone())
        .issue("alice", "admin")
        .unwrap()
        .token;
    for entries in [0usize, 100_000] {
        let dir = std::env::temp_dir().join(format!(
            "keycard-bench-revocations-{}-{entries}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users.tokens.json");
        let tokens: serde_json::Map<String, serde_json::Value> = (0..entries)
            .map(|i| (format!("revoked-jti-{i:08}"), serde_json::json!(u32::MAX)))
            .collect();
        let sessions: serde_json::Map<String, serde_json::Value> = (0..entries / 10)
            .map(|i| (format!("revoked-sid-{i:08}"), serde_json::json!(u32::MAX)))
            .collect();
        let file = serde_json::json!({"version": 1, "revoked_tokens": tokens, "revoked_sessions": sessions});
        std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
        let store = Arc::new(FileTokenStore::open(&path, Arc::new(SystemClock)).unwrap());
        assert_eq!(store.revoked_count(), entries + entries / 10);
        let verifier = Verifier::new(key.clone()).with_revocations(store);
        revoked.bench_function(format!("{entries}"), |b| {
            b.iter(|| verifier.verify(&token).unwrap())
        });
        std::fs::remove_dir_all(&dir).unwrap();
    }
    revoked.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
