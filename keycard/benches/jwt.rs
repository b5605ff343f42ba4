//! Sign and verify, per algorithm, through Keycard's `Issuer` and `Verifier` (the full
//! path: JSON, base64url, signature, claim checks).
//!
//!     cargo bench -p keycard --bench jwt

// A benchmark may unwrap: failing loudly is what it should do.
#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use keycard::{Issuer, Secret, SigningKey, Verifier, VerifyingKey};

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
}

criterion_group!(benches, bench);
criterion_main!(benches);
