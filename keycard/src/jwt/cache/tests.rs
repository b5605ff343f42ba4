//! The verified-token cache's invariants, each through a real [`Verifier`]: a hit still
//! refuses a revoked, expired or not-yet-valid token and a token whose key is gone; no
//! failure is stored; a flood of distinct valid tokens stays within the bounds.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use serde_json::json;

use super::*;
use crate::clock::ManualClock;
use crate::jwt::issuer::Issuer;
use crate::jwt::keys::SigningKey;
use crate::jwt::verifier::{RevocationCheck, TokenError, Verifier};
use crate::testing::{NOW, key, key_file, sign};

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(NOW))
}

fn ed25519() -> SigningKey {
    SigningKey::from_pkcs8_pem(&key_file("ed25519.pem"))
        .unwrap()
        .with_key_id("ed")
}

#[test]
fn a_repeated_token_is_answered_from_the_cache_with_the_same_claims() {
    let clock = clock();
    let verifier = Verifier::new(ed25519()).with_clock(clock.clone());
    let token = Issuer::new(ed25519())
        .with_clock(clock)
        .issue("alice", "admin")
        .unwrap()
        .token;
    let first = verifier.verify(&token).unwrap();
    assert_eq!(
        (verifier.token_cache().len(), verifier.token_cache().hits()),
        (1, 0)
    );
    for _ in 0..3 {
        let again = verifier.verify(&token).unwrap();
        assert_eq!(
            serde_json::to_value(&again).unwrap(),
            serde_json::to_value(&first).unwrap()
        );
        // Shared, not copied: a hit is a reference count, not an allocation.
        assert!(again.shares(&first));
    }
    assert_eq!(verifier.token_cache().hits(), 3);
    // Clones share it; a token that differs in one byte is not it.
    assert!(verifier.clone().verify(&token).is_ok());
    assert_eq!(verifier.token_cache().hits(), 4);
    let mut other = token.clone();
    other.push('A');
    assert!(verifier.verify(&other).is_err());
    assert_eq!(verifier.token_cache().hits(), 4);
}

#[test]
fn a_hit_checks_the_clock_every_time() {
    let clock = clock();
    let verifier = Verifier::new(key()).with_clock(clock.clone());
    let token = sign(json!({"sub": "alice", "exp": NOW + 60, "nbf": NOW - 10}));
    assert!(verifier.verify(&token).is_ok());
    clock.advance(60 + 30); // past exp and the leeway
    assert_eq!(verifier.verify(&token).unwrap_err(), TokenError::Expired);
    assert_eq!(
        verifier.token_cache().hits(),
        1,
        "the refusal came from a hit"
    );
    clock.set(NOW);
    assert!(
        verifier.verify(&token).is_ok(),
        "a refused hit is not dropped: it was only early"
    );

    // Not yet valid: refused, and not stored, until it is.
    let later = sign(json!({"sub": "bob", "exp": NOW + 3600, "nbf": NOW + 600}));
    assert_eq!(
        verifier.verify(&later).unwrap_err(),
        TokenError::NotYetValid
    );
    assert_eq!(verifier.token_cache().len(), 1);
    clock.advance(600);
    assert!(verifier.verify(&later).is_ok());
}

/// A revocation set that can change under a running verifier.
#[derive(Default)]
struct Revoked(Mutex<HashSet<String>>);

impl RevocationCheck for Revoked {
    fn is_revoked(&self, claims: &Claims) -> bool {
        let jti = claims.token_id().unwrap_or_default();
        self.0.lock().unwrap().contains(jti)
    }
}

#[test]
fn a_token_revoked_after_it_was_cached_is_refused_on_the_next_hit() {
    let clock = clock();
    let revoked = Arc::new(Revoked::default());
    let verifier = Verifier::new(key())
        .with_clock(clock.clone())
        .with_revocations(revoked.clone());
    let issued = Issuer::new(key())
        .with_clock(clock)
        .issue("alice", "user")
        .unwrap();
    assert!(verifier.verify(&issued.token).is_ok());
    assert!(verifier.verify(&issued.token).is_ok());
    revoked.0.lock().unwrap().insert(issued.jti.clone());
    assert_eq!(
        verifier.verify(&issued.token).unwrap_err(),
        TokenError::Revoked
    );
    assert_eq!(verifier.token_cache().hits(), 2);
    // A revoked token is never stored, either.
    let fresh = Verifier::new(key()).with_revocations(revoked);
    let _ = fresh.verify(&issued.token);
    assert_eq!(fresh.token_cache().len(), 0);
}

#[test]
fn no_failure_is_stored() {
    let verifier = Verifier::new(key())
        .with_clock(clock())
        .with_audience("api");
    for bad in [
        "not.a.token".to_owned(),
        sign(json!({"sub": "alice", "exp": NOW + 60})), // no aud
        sign(json!({"sub": "alice", "exp": NOW - 600, "aud": "api"})), // expired
        sign(json!({"sub": "alice", "aud": "api"})),    // no exp
    ] {
        assert!(verifier.verify(&bad).is_err());
        assert!(verifier.verify(&bad).is_err());
    }
    assert_eq!(verifier.token_cache().len(), 0);
    assert_eq!(verifier.token_cache().hits(), 0);
}

#[test]
fn a_changed_configuration_starts_from_an_empty_cache() {
    let verifier = Verifier::new(key()).with_clock(clock());
    let token = sign(json!({"sub": "alice", "exp": NOW + 60}));
    assert!(verifier.verify(&token).is_ok());
    // The same verifier, now requiring an audience the token lacks: its cache is its own.
    let stricter = verifier.clone().with_audience("api");
    assert_eq!(stricter.token_cache().len(), 0);
    assert_eq!(
        stricter.verify(&token).unwrap_err(),
        TokenError::WrongAudience
    );
    assert!(verifier.verify(&token).is_ok());
}

#[test]
fn a_flood_of_distinct_valid_tokens_stays_within_the_bounds() {
    let (entries, bytes) = (500, 256 * 1024);
    let verifier = Verifier::new(key())
        .with_clock(clock())
        .with_token_cache(TokenCache::new(entries, bytes).unwrap());
    for i in 0..20_000 {
        let token =
            sign(json!({"sub": format!("user{i}"), "exp": NOW + 60, "pad": "x".repeat(i % 300)}));
        assert!(verifier.verify(&token).is_ok());
        let cache = verifier.token_cache();
        assert!(cache.len() <= entries, "{} entries", cache.len());
        assert!(cache.weight() <= bytes, "{} bytes", cache.weight());
    }
    assert!(verifier.token_cache().len() > 50, "it held tokens at all");
}

#[test]
fn bounds_and_the_off_switch() {
    assert!(!TokenCache::new(0, 1024).unwrap().is_enabled());
    assert!(!TokenCache::new(10, 0).unwrap().is_enabled());
    assert!(
        TokenCache::new(1000, 10).is_err(),
        "less than a byte an entry"
    );
    let off = Verifier::new(key())
        .with_clock(clock())
        .with_token_cache(TokenCache::disabled());
    let token = sign(json!({"sub": "alice", "exp": NOW + 60}));
    assert!(off.verify(&token).is_ok() && off.verify(&token).is_ok());
    assert_eq!((off.token_cache().len(), off.token_cache().hits()), (0, 0));
    assert_eq!(
        TokenCache::default().bounds(),
        (TokenCache::DEFAULT_ENTRIES, TokenCache::DEFAULT_BYTES)
    );
}

#[cfg(feature = "server")]
mod remote {
    use std::sync::Arc;

    use axum::Router;
    use axum::routing::get;

    use super::*;
    use crate::jwt::RemoteJwks;

    #[tokio::test]
    async fn a_token_whose_key_left_the_jwks_is_refused_on_the_next_hit() {
        let set = |key: &SigningKey| {
            format!("{{\"keys\":[{}]}}", key.verifying_key().jwk_json().unwrap())
        };
        let served = Arc::new(Mutex::new(set(&ed25519())));
        let body = served.clone();
        let app = Router::new().route(
            "/jwks",
            get(move || {
                let body = body.lock().unwrap().clone();
                async move { ([("content-type", "application/json")], body) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let jwks = Arc::new(RemoteJwks::new(&format!("http://{addr}/jwks")).unwrap());
        jwks.refresh().await.unwrap();
        let clock = clock();
        let verifier = Verifier::from_jwks(jwks.clone()).with_clock(clock.clone());
        let token = Issuer::new(ed25519())
            .with_clock(clock)
            .issue("alice", "user")
            .unwrap()
            .token;
        assert!(verifier.verify(&token).is_ok());
        assert!(verifier.verify(&token).is_ok());
        assert_eq!(verifier.token_cache().hits(), 1);

        // The issuer rotates: the JWKS no longer holds the key.
        let other = SigningKey::from_pkcs8_pem(&key_file("p256.pem"))
            .unwrap()
            .with_key_id("p256");
        *served.lock().unwrap() = set(&other);
        jwks.refresh().await.unwrap();
        assert!(
            verifier.verify(&token).is_err(),
            "a cached token outlived its key"
        );
        assert_eq!(
            verifier.token_cache().len(),
            0,
            "the change emptied the cache"
        );
    }
}
