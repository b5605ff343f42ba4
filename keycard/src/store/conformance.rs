//! What every store must do, run against each implementation: the file store here, the
//! PostgreSQL store in `postgres/tests.rs`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::clock::ManualClock;
use crate::error::ErrorKind;
use crate::jwt::claims::Claims;
use crate::store::{Accounts, Put, RefreshError, TokenStore, User, UserStore};

fn claims(v: serde_json::Value) -> Claims {
    serde_json::from_value(v).unwrap()
}

/// The users half: `users` starts empty.
pub(crate) async fn users(users: Arc<dyn UserStore>) {
    users
        .add("alice", "admin", "$2b$04$a".into())
        .await
        .unwrap();
    users.add("bob", "user", "$2b$04$b".into()).await.unwrap();
    assert_eq!(
        users
            .add("alice", "user", "h".into())
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::UserExists
    );
    assert_eq!(
        users
            .add("not ok", "user", "h".into())
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidUsername
    );
    let alice = users.find("alice").await.unwrap().unwrap();
    assert_eq!((alice.role(), alice.password_hash()), ("admin", "$2b$04$a"));
    assert!(alice.created().is_some());
    assert!(users.find("carol").await.unwrap().is_none());
    let names: Vec<String> = users
        .list()
        .await
        .unwrap()
        .iter()
        .map(|u| u.name().to_owned())
        .collect();
    assert_eq!(names, ["alice", "bob"], "in the order added");
    assert_eq!(&*users.hash_kinds(), ["$2b$04"]);

    users.set_role("bob", "ops:admin").await.unwrap();
    assert_eq!(
        users.set_role("bob", "bad role").await.unwrap_err().kind(),
        ErrorKind::InvalidRole
    );
    users
        .set_password_hash("bob", "$2b$05$c".into())
        .await
        .unwrap();
    let bob = users.find("bob").await.unwrap().unwrap();
    assert_eq!((bob.role(), bob.password_hash()), ("ops:admin", "$2b$05$c"));
    assert_eq!(&*users.hash_kinds(), ["$2b$04", "$2b$05"]);
    for missing in [
        users.set_role("nobody", "x").await,
        users.set_password_hash("nobody", "x".into()).await,
        users.remove("nobody").await,
    ] {
        assert_eq!(missing.unwrap_err().kind(), ErrorKind::NoSuchUser);
    }

    // Only if unchanged meanwhile.
    assert!(
        !users
            .upgrade_password_hash("bob", "$2b$04$old", "$argon2id$x".into())
            .await
            .unwrap()
    );
    assert!(
        users
            .upgrade_password_hash("bob", "$2b$05$c", "$2b$04$d".into())
            .await
            .unwrap()
    );
    assert_eq!(
        users.find("bob").await.unwrap().unwrap().password_hash(),
        "$2b$04$d"
    );

    // Import: added, unchanged, replaced, with the hash and creation time kept.
    let carol = User::new("carol", "user", "$2b$04$e")
        .unwrap()
        .with_created("2020-01-01T00:00:00Z");
    assert_eq!(users.put(carol.clone()).await.unwrap(), Put::Added);
    assert_eq!(users.put(carol.clone()).await.unwrap(), Put::Unchanged);
    assert_eq!(users.find("carol").await.unwrap().unwrap(), carol);
    let demoted = User::new("carol", "guest", "$2b$04$e")
        .unwrap()
        .with_created("2020-01-01T00:00:00Z");
    assert_eq!(users.put(demoted.clone()).await.unwrap(), Put::Replaced);
    assert_eq!(users.find("carol").await.unwrap().unwrap(), demoted);

    users.remove("alice").await.unwrap();
    assert!(users.find("alice").await.unwrap().is_none());
    assert_eq!(users.list().await.unwrap().len(), 2);
}

/// The tokens half: `tokens` starts empty, on `clock` at 1,000.
pub(crate) async fn tokens(tokens: Arc<dyn TokenStore>, clock: Arc<ManualClock>) {
    const NOW: u64 = 1_000;
    let ttl = Duration::from_secs(600);
    tokens.revoke_token("j1", NOW + 100).await.unwrap();
    tokens.revoke_token("gone", NOW - 1).await.unwrap();
    assert!(tokens.is_revoked(&claims(json!({"jti": "j1"}))));
    assert!(!tokens.is_revoked(&claims(json!({"jti": "j2"}))));
    assert!(!tokens.listed(0).tokens.contains_key("gone"));

    let cutoff = tokens.revoke_user("alice").await.unwrap();
    assert_eq!(cutoff, NOW + 1);
    assert_eq!(tokens.cutoff("alice"), Some(NOW + 1));
    assert!(tokens.is_revoked(&claims(json!({"sub": "alice", "iat": NOW}))));
    assert!(!tokens.is_revoked(&claims(json!({"sub": "alice", "iat": NOW + 1}))));
    assert!(!tokens.is_revoked(&claims(json!({"sub": "bob", "iat": NOW}))));

    // Rotation, then reuse: the session ends, the whole family with it.
    let first = tokens.create_refresh("bob", "s1", NOW, ttl).await.unwrap();
    let second = tokens
        .rotate_refresh(&first, ttl, NOW + 700)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((second.user.as_str(), second.sid.as_str()), ("bob", "s1"));
    assert_eq!(
        tokens
            .rotate_refresh(&first, ttl, NOW + 700)
            .await
            .unwrap()
            .unwrap_err(),
        RefreshError::Reused
    );
    assert!(tokens.is_revoked(&claims(json!({"sid": "s1"}))));
    assert_eq!(
        tokens
            .rotate_refresh(&second.refresh_token, ttl, NOW + 700)
            .await
            .unwrap()
            .unwrap_err(),
        RefreshError::Invalid
    );
    assert_eq!(
        tokens
            .rotate_refresh("unknown", ttl, NOW + 700)
            .await
            .unwrap()
            .unwrap_err(),
        RefreshError::Invalid
    );

    // Logout with a refresh token ends its session; a cut-off ends refresh tokens.
    let third = tokens.create_refresh("bob", "s2", NOW, ttl).await.unwrap();
    assert!(tokens.revoke_refresh(&third, NOW + 700).await.unwrap());
    assert!(!tokens.revoke_refresh("unknown", NOW + 700).await.unwrap());
    assert!(tokens.is_revoked(&claims(json!({"sid": "s2"}))));
    let fourth = tokens
        .create_refresh("alice", "s3", NOW + 1, ttl)
        .await
        .unwrap();
    clock.advance(5);
    tokens.revoke_user("alice").await.unwrap();
    assert_eq!(
        tokens
            .rotate_refresh(&fourth, ttl, NOW + 700)
            .await
            .unwrap()
            .unwrap_err(),
        RefreshError::Invalid
    );

    // An expired refresh token is refused; expired revocations leave the list.
    let fifth = tokens
        .create_refresh("bob", "s4", NOW + 5, Duration::from_secs(10))
        .await
        .unwrap();
    clock.advance(11);
    assert_eq!(
        tokens
            .rotate_refresh(&fifth, ttl, NOW + 700)
            .await
            .unwrap()
            .unwrap_err(),
        RefreshError::Invalid
    );
    let listed = tokens.listed(0);
    assert!(listed.tokens.contains_key("j1") && listed.sessions.contains_key("s1"));
    assert_eq!(listed.cutoffs.get("alice"), Some(&(NOW + 6)));
    clock.advance(1_000);
    tokens.catch_up().await.unwrap();
    assert!(
        tokens.listed(NOW + 7).is_empty(),
        "expired: out of the list"
    );
}

/// Both, tied by [`Accounts`]: a change to a user ends their tokens.
pub(crate) async fn accounts(accounts: Accounts) {
    let token = |sub: &str| claims(json!({"sub": sub, "iat": 990}));
    for name in ["a", "b", "c", "d"] {
        accounts.add(name, "user", "$2b$04$x".into()).await.unwrap();
    }
    accounts.set_password("a", "$2b$04$y".into()).await.unwrap();
    accounts.set_role("b", "admin").await.unwrap();
    accounts.remove("c").await.unwrap();
    accounts.revoke_all("d").await.unwrap();
    for name in ["a", "b", "c", "d"] {
        assert!(accounts.tokens().is_revoked(&token(name)), "{name}");
    }
    assert_eq!(
        accounts.revoke_all("nobody").await.unwrap_err().kind(),
        ErrorKind::NoSuchUser
    );
}
