//! Sign and verify, per algorithm, through Keycard's `Issuer` and `Verifier` (the full
//! path: JSON, base64url, signature, claim checks), beside the floor: the bare
//! primitive (one HMAC-SHA256, one Ed25519/ECDSA/RSA verify) over the same signing
//! input with the key parsed once. `bench/run` folds the results into BENCHMARKS.md.
//!
//!     cargo bench -p keycard --bench jwt

// A benchmark may unwrap: failing loudly is what it should do.
#![allow(clippy::unwrap_used, missing_docs)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::pkcs8::spki::DecodePublicKey;
use sha2::Digest;
use std::hint::black_box;
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
    let token = rs256_token();
    let verifier = Verifier::from_keys(vec![
        VerifyingKey::from_pem(&fixture("rsa2048.pub.pem")).unwrap(),
    ])
    .unwrap();
    verify.bench_function("RS256", |b| b.iter(|| verifier.verify(&token).unwrap()));
    verify.finish();
}

/// RS256: Keycard does not sign with RSA; a token signed by jsonwebtoken directly.
fn rs256_token() -> String {
    let rsa = {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::pkcs8::DecodePrivateKey;
        let pem = String::from_utf8(fixture("rsa2048.pem")).unwrap();
        let key = rsa::PrivateKey::from_pkcs8_pem(&pem).unwrap();
        jsonwebtoken::EncodingKey::from_rsa_der(key.to_pkcs1_der().unwrap().as_bytes())
    };
    let claims = serde_json::json!({"sub": "alice", "role": "admin", "exp": u32::MAX});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &rsa,
    )
    .unwrap()
}

fn revocations(c: &mut Criterion) {
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

/// The floor: the bare primitive over the same signing input, with the key parsed once.
fn floor(c: &mut Criterion) {
    use ed25519_dalek::Verifier as _;
    use hmac::{KeyInit, Mac};

    let mut floor = c.benchmark_group("floor");
    for (name, key) in keys() {
        let token = Issuer::new(key.clone())
            .issue("alice", "admin")
            .unwrap()
            .token;
        let (input, sig) = token.rsplit_once('.').unwrap();
        let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
        let input = input.as_bytes().to_vec();
        match name {
            "HS256" => {
                let mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&[42; 32]).unwrap();
                floor.bench_function(name, |b| {
                    b.iter(|| {
                        let mut m = mac.clone();
                        m.update(black_box(&input));
                        m.verify_slice(&sig).unwrap()
                    })
                });
            }
            "EdDSA" => {
                let pem = String::from_utf8(fixture("ed25519.pub.pem")).unwrap();
                let vk = ed25519_dalek::VerifyingKey::from_public_key_pem(&pem).unwrap();
                let sig = ed25519_dalek::Signature::from_slice(&sig).unwrap();
                floor.bench_function(name, |b| {
                    b.iter(|| vk.verify(black_box(&input), &sig).unwrap())
                });
            }
            "ES256" => {
                let pem = String::from_utf8(fixture("p256.pub.pem")).unwrap();
                let vk = p256::ecdsa::VerifyingKey::from_public_key_pem(&pem).unwrap();
                let sig = p256::ecdsa::Signature::from_slice(&sig).unwrap();
                floor.bench_function(name, |b| {
                    b.iter(|| vk.verify(black_box(&input), &sig).unwrap())
                });
            }
            "ES384" => {
                let pem = String::from_utf8(fixture("p384.pub.pem")).unwrap();
                let vk = p384::ecdsa::VerifyingKey::from_public_key_pem(&pem).unwrap();
                let sig = p384::ecdsa::Signature::from_slice(&sig).unwrap();
                floor.bench_function(name, |b| {
                    b.iter(|| vk.verify(black_box(&input), &sig).unwrap())
                });
            }
            _ => {}
        }
    }
    let (input, sig) = rs256_token()
        .rsplit_once('.')
        .map(|(i, s)| (i.as_bytes().to_vec(), URL_SAFE_NO_PAD.decode(s).unwrap()))
        .unwrap();
    let pem = String::from_utf8(fixture("rsa2048.pub.pem")).unwrap();
    let key = rsa::PublicKey::from_public_key_pem(&pem).unwrap();
    floor.bench_function("RS256", |b| {
        b.iter(|| {
            let digest = sha2::Sha256::digest(black_box(&input));
            key.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &digest, &sig)
                .unwrap()
        })
    });
    floor.finish();
}

criterion_group!(benches, bench, floor, revocations);
criterion_main!(benches);
