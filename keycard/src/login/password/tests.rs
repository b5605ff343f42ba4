//! Hashing, verifying, the pool's bounds and its timing floor.

use super::policy::*;
use super::*;
use std::sync::atomic::Ordering;

use argon2::{Algorithm, Argon2, Params, PasswordHash, Version};
use std::time::Duration;
use zeroize::Zeroizing;

#[test]
fn cost_kinds() {
    let policy = PasswordPolicy::new(1024, 1, 1).unwrap();
    assert_eq!(
        cost_kind(&policy.hash("correct horse").unwrap()),
        "$argon2id$v=19$m=1024,t=1,p=1"
    );
    assert_eq!(cost_kind(&bcrypt::hash("x", 5).unwrap()), "$2b$05");
    assert_eq!(cost_kind("garbage"), "unreadable");
    // A dummy of each kind costs what that kind costs, and matches nothing.
    for kind in ["$2b$05", "$argon2id$v=19$m=2048,t=1,p=1", "unreadable"] {
        let dummy = dummy_of_kind(kind, &policy);
        if kind != "unreadable" {
            assert_eq!(cost_kind(&dummy), kind);
        }
        assert!(!policy.verify("correct horse", &dummy).matched);
    }
}

#[tokio::test]
async fn every_login_waits_for_the_slowest_kind() {
    let policy = PasswordPolicy::new(1024, 1, 1).unwrap();
    let hasher = Hasher::with_limits(policy, 1, 8);
    let bcrypt_user = bcrypt::hash("a-password", 8).unwrap();
    hasher
        .calibrate(&[cost_kind(&bcrypt_user), cost_kind(&hasher.inner.dummy)])
        .await
        .unwrap();
    let floor = hasher.floor();
    assert!(floor > Duration::ZERO);
    // An unknown user (a cheap dummy) and an unreadable hash answer no sooner than
    // the bcrypt user: the floor is a lower bound by construction (a timer).
    for stored in [None, Some("garbage".to_owned())] {
        let started = std::time::Instant::now();
        let v = hasher
            .verify(Zeroizing::new("wrong-password".into()), stored)
            .await
            .unwrap();
        assert!(!v.matched);
        assert!(
            started.elapsed() >= floor,
            "{:?} < {floor:?}",
            started.elapsed()
        );
    }
    let v = hasher
        .verify(Zeroizing::new("a-password".into()), Some(bcrypt_user))
        .await
        .unwrap();
    assert!(v.matched && v.needs_rehash);
}

#[test]
fn argon2id_round_trip_and_rehash_flag() {
    let policy = PasswordPolicy::new(1024, 1, 1).unwrap();
    let hash = policy.hash("correct horse").unwrap();
    assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
    assert_eq!(
        policy.verify("correct horse", &hash),
        Verification {
            matched: true,
            needs_rehash: false
        }
    );
    assert!(!policy.verify("wrong horse", &hash).matched);
    let stronger = PasswordPolicy::new(2048, 1, 1).unwrap();
    assert!(stronger.verify("correct horse", &hash).needs_rehash);
}

#[test]
fn bcrypt_from_node_verifies_and_asks_for_rehash() {
    // The same format Node's bcrypt writes ($2b$); Node-made hashes are tested end to end.
    let node = bcrypt::hash("a-password", 4).unwrap();
    let v = PasswordPolicy::OWASP.verify("a-password", &node);
    assert!(v.matched && v.needs_rehash);
    assert!(!PasswordPolicy::OWASP.verify("b-password", &node).matched);
}

#[test]
fn reused_memory_agrees_with_the_argon2_crates_own_phc_code() {
    use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
    let policy = PasswordPolicy::new(2048, 2, 2).unwrap();
    let mut memory = Memory::new();
    // Theirs, verified by ours (also argon2i and argon2d, and other costs).
    for alg in [Algorithm::Argon2id, Algorithm::Argon2i, Algorithm::Argon2d] {
        let theirs = Argon2::new(alg, Version::V0x13, Params::new(1024, 3, 1, None).unwrap())
            .hash_password(b"cross-check")
            .unwrap()
            .to_string();
        assert!(
            policy
                .verify_with("cross-check", &theirs, &mut memory)
                .matched,
            "{theirs}"
        );
        assert!(
            !policy
                .verify_with("cross-checK", &theirs, &mut memory)
                .matched
        );
    }
    // Ours, verified by theirs, with the memory already used by a larger hash.
    let ours = policy.hash_with("cross-check", &mut memory).unwrap();
    let parsed = PasswordHash::new(&ours).unwrap();
    assert!(
        Argon2::default()
            .verify_password(b"cross-check", &parsed)
            .is_ok()
    );
    assert!(
        Argon2::default()
            .verify_password(b"cross-checK", &parsed)
            .is_err()
    );
}

#[test]
fn garbage_hashes_never_match() {
    for h in [
        "",
        "x",
        "$argon2id$",
        "$2b$10$short",
        "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$",
    ] {
        assert!(
            !PasswordPolicy::OWASP.verify("anything", h).matched,
            "{h:?}"
        );
    }
}

#[test]
fn dummy_hash_is_well_formed_at_policy_cost() {
    let policy = PasswordPolicy::new(1024, 1, 1).unwrap();
    let dummy = policy.dummy_hash();
    let parsed = PasswordHash::new(&dummy).unwrap();
    assert!(policy.is_current(&parsed));
    assert!(!policy.verify("anything", &dummy).matched);
}

#[test]
fn policy_bounds() {
    assert!(PasswordPolicy::new(512, 2, 1).is_err());
    assert!(PasswordPolicy::new(19 * 1024, 0, 1).is_err());
    assert!(PasswordPolicy::new(19 * 1024, 2, 0).is_err());
    assert!(PasswordPolicy::new(12 * 1024, 3, 1).is_ok());
}

#[test]
fn password_lengths() {
    assert!(check_password("1234567").is_err());
    assert!(check_password("12345678").is_ok());
    assert!(check_password(&"x".repeat(1024)).is_ok());
    assert!(check_password(&"x".repeat(1025)).is_err());
}

#[tokio::test]
async fn a_caller_giving_up_leaves_no_queue_slot_taken() {
    let policy = PasswordPolicy::new(64 * 1024, 4, 1).unwrap();
    let stored = policy.hash("pw-pw-pw-pw").unwrap();
    let hasher = Hasher::with_limits(policy, 1, 2);
    // One hash holds the only permit; a second waits and is abandoned, many times.
    let busy = tokio::spawn({
        let h = hasher.clone();
        let stored = stored.clone();
        async move {
            h.verify(Zeroizing::new("pw-pw-pw-pw".into()), Some(stored))
                .await
        }
    });
    tokio::task::yield_now().await;
    for _ in 0..10 {
        let abandoned = hasher.verify(Zeroizing::new("x".into()), None);
        assert!(
            tokio::time::timeout(Duration::from_millis(1), abandoned)
                .await
                .is_err()
        );
    }
    assert_eq!(hasher.inner.waiting.load(Ordering::SeqCst), 0);
    assert!(busy.await.unwrap().unwrap().matched);
    let v = hasher
        .verify(Zeroizing::new("pw-pw-pw-pw".into()), Some(stored))
        .await;
    assert!(v.unwrap().matched);
}

#[tokio::test]
async fn full_queue_is_busy() {
    let hasher = Hasher::with_limits(PasswordPolicy::new(1024, 1, 1).unwrap(), 1, 0);
    assert_eq!(
        hasher.verify(Zeroizing::new("x".into()), None).await,
        Err(Busy)
    );
}
