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
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ed25519_dalek::pkcs8::spki::DecodePublicKey;
use sha2::Digest;
use std::hint::black_box;
use std::sync::Arc;

use keycard::clock::SystemClock;
use keycard::{FileTokenStore, Issuer, Secret, SigningKey, TokenCache, Verifier, VerifyingKey};

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

    // Each algorithm's verify path and its floor run back to back, so a burst of noise
    // on the shared machine is less likely to fall on one and not the other.
    let mut verify = c.benchmark_group("verify");
    let mut cases: Vec<(&str, Verifier, String)> = keys()
        .into_iter()
        .map(|(name, key)| {
            let token = Issuer::new(key.clone())
                .issue("alice", "admin")
                .unwrap()
                .token;
            (name, Verifier::new(key), token)
        })
        .collect();
    let rsa = VerifyingKey::from_pem(&fixture("rsa2048.pub.pem")).unwrap();
    cases.push((
        "RS256",
        Verifier::from_keys(vec![rsa]).unwrap(),
        rs256_token(),
    ));
    for (name, verifier, token) in &cases {
        // "path": the whole verify path, the cache off (a token seen for the first
        // time); "cached": the same token again, found in the verified-token cache.
        let uncached = verifier.clone().with_token_cache(TokenCache::disabled());
        verify.bench_function(BenchmarkId::new(*name, "path"), |b| {
            b.iter(|| uncached.verify(black_box(token)).unwrap())
        });
        verifier.verify(token).unwrap();
        verify.bench_function(BenchmarkId::new(*name, "cached"), |b| {
            b.iter(|| verifier.verify(black_box(token)).unwrap())
        });
        let floor = floor(name, token);
        verify.bench_function(BenchmarkId::new(*name, "floor"), |b| b.iter(&floor));
    }
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
    // An hour ahead: within the verifier's maximum lifetime.
    let exp = keycard::clock::Clock::now(&keycard::clock::SystemClock) + 3_600;
    let claims = serde_json::json!({"sub": "alice", "role": "admin", "exp": exp});
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
        // The cache off: the whole path, with the revocation check in it.
        let verifier = Verifier::new(key.clone())
            .with_revocations(store)
            .with_token_cache(TokenCache::disabled());
        revoked.bench_function(format!("{entries}"), |b| {
            b.iter(|| verifier.verify(&token).unwrap())
        });
        std::fs::remove_dir_all(&dir).unwrap();
    }
    revoked.finish();
}

/// The floor: the bare primitive over the same signing input, with the key parsed once
/// (the lax Ed25519 check: the primitive itself).
fn floor(alg: &str, token: &str) -> Box<dyn Fn()> {
    use ed25519_dalek::Verifier as _;
    use hmac::{KeyInit, Mac};

    let (input, sig) = token.rsplit_once('.').unwrap();
    let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    let input = input.as_bytes().to_vec();
    let pem = |file| String::from_utf8(fixture(file)).unwrap();
    match alg {
        "HS256" => {
            let mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&[42; 32]).unwrap();
            Box::new(move || {
                let mut m = mac.clone();
                m.update(black_box(&input));
                m.verify_slice(&sig).unwrap()
            })
        }
        "EdDSA" => {
            let key =
                ed25519_dalek::VerifyingKey::from_public_key_pem(&pem("ed25519.pub.pem")).unwrap();
            let sig = ed25519_dalek::Signature::from_slice(&sig).unwrap();
            Box::new(move || key.verify(black_box(&input), &sig).unwrap())
        }
        "ES256" => {
            let key = p256::ecdsa::VerifyingKey::from_public_key_pem(&pem("p256.pub.pem")).unwrap();
            let sig = p256::ecdsa::Signature::from_slice(&sig).unwrap();
            Box::new(move || key.verify(black_box(&input), &sig).unwrap())
        }
        "ES384" => {
            let key = p384::ecdsa::VerifyingKey::from_public_key_pem(&pem("p384.pub.pem")).unwrap();
            let sig = p384::ecdsa::Signature::from_slice(&sig).unwrap();
            Box::new(move || key.verify(black_box(&input), &sig).unwrap())
        }
        "RS256" => {
            let key = rsa::PublicKey::from_public_key_pem(&pem("rsa2048.pub.pem")).unwrap();
            Box::new(move || {
                let digest = sha2::Sha256::digest(black_box(&input));
                key.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &digest, &sig)
                    .unwrap()
            })
        }
        _ => unreachable!("{alg}"),
    }
}

criterion_group!(benches, bench, revocations);
criterion_main!(benches);
