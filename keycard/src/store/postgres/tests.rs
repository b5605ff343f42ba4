use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::testing::TestDb;
use super::*;
use crate::clock::{Clock, ManualClock, SystemClock};
use crate::duration::Rate;
use crate::jwt::claims::Claims;
use crate::jwt::verifier::RevocationCheck;
use crate::store::{Accounts, RefreshError, TokenStore, UserStore, conformance};

async fn migrated(db: &TestDb) -> Database {
    let database = Database::connect(&db.url, None).await.unwrap();
    assert_eq!(database.migrate().await.unwrap(), LATEST_VERSION);
    database
}

/// A second node's token store on the database of `db`: its own pool.
async fn other_node(db: &TestDb) -> Arc<PgTokenStore> {
    let database = Database::connect(&db.url, None).await.unwrap();
    Arc::new(database.tokens(Arc::new(SystemClock)).await.unwrap())
}

/// A throwaway database, or return (skipped, with a message) when there is no server.
macro_rules! test_db {
    ($name:literal) => {
        match TestDb::create($name).await {
            Some(db) => db,
            None => return,
        }
    };
}

#[tokio::test]
async fn the_postgres_store_conforms() {
    let db = test_db!("the_postgres_store_conforms");
    let database = migrated(&db).await;
    conformance::users(Arc::new(database.users().await.unwrap())).await;
    let clock = Arc::new(ManualClock::new(1_000));
    let tokens = Arc::new(database.tokens(clock.clone()).await.unwrap());
    conformance::tokens(tokens, clock).await;

    let other = test_db!("the_postgres_store_conforms (accounts)");
    let database = migrated(&other).await;
    let clock = Arc::new(ManualClock::new(1_000));
    conformance::accounts(Accounts::new(
        Arc::new(database.users().await.unwrap()),
        Arc::new(database.tokens(clock).await.unwrap()),
    ))
    .await;
}

#[tokio::test]
async fn migrations_run_once_even_when_nodes_start_together() {
    let db = test_db!("migrations_run_once_even_when_nodes_start_together");
    let database = Database::connect(&db.url, None).await.unwrap();
    assert_eq!(database.schema_version().await.unwrap(), 0);
    assert!(
        database
            .users()
            .await
            .unwrap_err()
            .to_string()
            .contains("run keycard db migrate"),
        "an unmigrated database is refused with the fix"
    );
    let mut starts = Vec::new();
    for _ in 0..4 {
        let d = database.clone();
        starts.push(tokio::spawn(async move { d.migrate().await }));
    }
    for s in starts {
        assert_eq!(s.await.unwrap().unwrap(), LATEST_VERSION);
    }
    let client = database.client().await.unwrap();
    let rows = client
        .query("SELECT version FROM keycard.schema_version", &[])
        .await
        .unwrap();
    assert_eq!(
        rows.len(),
        LATEST_VERSION as usize,
        "each version applied once"
    );
    assert_eq!(
        database.migrate().await.unwrap(),
        LATEST_VERSION,
        "idempotent"
    );

    // A schema from a newer keycard is refused, not guessed at.
    client
        .execute(
            "INSERT INTO keycard.schema_version (version) VALUES (99)",
            &[],
        )
        .await
        .unwrap();
    for err in [
        database.migrate().await.unwrap_err(),
        database.users().await.unwrap_err(),
    ] {
        assert!(err.to_string().contains("version 99, newer"), "{err}");
    }
}

#[tokio::test]
async fn bad_settings_are_one_clear_error_at_once() {
    let db = test_db!("bad_settings_are_one_clear_error_at_once");
    let malformed = Database::connect("postgres://a@b:notaport/x", None)
        .await
        .unwrap_err();
    assert_eq!(malformed.kind(), crate::ErrorKind::InvalidConfig);
    assert!(malformed.to_string().contains("malformed"), "{malformed}");

    let started = Instant::now();
    let unreachable = Database::connect("postgres://keycard@127.0.0.1:1/keycard", None)
        .await
        .unwrap_err();
    assert_eq!(unreachable.kind(), crate::ErrorKind::Unavailable);
    assert!(
        unreachable.to_string().contains("127.0.0.1:1"),
        "{unreachable}"
    );
    assert!(started.elapsed() < CONNECT_TIMEOUT * 3, "no hang");

    let missing = format!("{}_missing", db.url);
    let err = Database::connect(&missing, None).await.unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::InvalidConfig, "{err}");
    assert!(err.to_string().contains("does not exist"), "{err}");
}

fn claims(v: serde_json::Value) -> Claims {
    serde_json::from_value(v).unwrap()
}

#[tokio::test]
async fn a_revocation_on_one_node_reaches_the_other_by_notification() {
    let db = test_db!("a_revocation_on_one_node_reaches_the_other_by_notification");
    let a = Arc::new(
        migrated(&db)
            .await
            .tokens(Arc::new(SystemClock))
            .await
            .unwrap(),
    );
    let b = other_node(&db).await;
    let _watching = b.watch();
    // Listening before the revocation is made.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let now = SystemClock.now();
    a.revoke_token("j1", now + 600).await.unwrap();
    a.revoke_user("mallory").await.unwrap();
    let started = Instant::now();
    let seen = |s: &PgTokenStore| {
        s.is_revoked(&claims(json!({"jti": "j1"})))
            && s.is_revoked(&claims(json!({"sub": "mallory", "iat": now})))
    };
    assert!(seen(&a), "at once on the node that made it");
    while !seen(&b) {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "not seen within 2 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn two_uses_of_one_refresh_token_on_two_nodes_never_both_succeed() {
    let db = test_db!("two_uses_of_one_refresh_token_on_two_nodes_never_both_succeed");
    let database = migrated(&db).await;
    let a = Arc::new(database.tokens(Arc::new(SystemClock)).await.unwrap());
    let b = other_node(&db).await;
    let ttl = Duration::from_secs(600);
    let until = SystemClock.now() + 700;
    for round in 0..20 {
        let sid = format!("s{round}");
        let token = a.create_refresh("bob", &sid, 0, ttl).await.unwrap();
        let (ra, rb) = tokio::join!(
            a.rotate_refresh(&token, ttl, until),
            b.rotate_refresh(&token, ttl, until)
        );
        let outcomes = [ra.unwrap(), rb.unwrap()];
        let ok = outcomes.iter().filter(|o| o.is_ok()).count();
        let reused = outcomes
            .iter()
            .filter(|o| matches!(o, Err(RefreshError::Reused)))
            .count();
        assert_eq!((ok, reused), (1, 1), "round {round}: {outcomes:?}");
        // The reuse ended the session: the winner's new token is dead too.
        let winner = outcomes.into_iter().find_map(Result::ok).unwrap();
        assert_eq!(
            a.rotate_refresh(&winner.refresh_token, ttl, until)
                .await
                .unwrap()
                .unwrap_err(),
            RefreshError::Invalid
        );
    }
}

#[tokio::test]
async fn the_failed_login_limit_is_shared_by_every_node() {
    let db = test_db!("the_failed_login_limit_is_shared_by_every_node");
    let database = migrated(&db).await;
    let a = database.users().await.unwrap();
    let b = Database::connect(&db.url, None)
        .await
        .unwrap()
        .users()
        .await
        .unwrap();
    let rate = Rate::new(4, Duration::from_secs(60)).unwrap();
    for store in [&a, &b, &a, &b] {
        assert_eq!(
            store.take_login_attempt("alice", rate).await.unwrap(),
            Some(Ok(()))
        );
    }
    for store in [&a, &b] {
        let retry = store
            .take_login_attempt("alice", rate)
            .await
            .unwrap()
            .unwrap()
            .unwrap_err();
        assert!((1..=15).contains(&retry), "{retry}");
    }
    assert_eq!(
        b.take_login_attempt("bob", rate).await.unwrap(),
        Some(Ok(())),
        "per name"
    );
    a.refund_login_attempt("alice", rate).await.unwrap();
    assert_eq!(
        b.take_login_attempt("alice", rate).await.unwrap(),
        Some(Ok(()))
    );
    // Many nodes at once still give out exactly the burst.
    let mut takes = Vec::new();
    for _ in 0..12 {
        let url = db.url.clone();
        takes.push(tokio::spawn(async move {
            let users = Database::connect(&url, None)
                .await
                .unwrap()
                .users()
                .await
                .unwrap();
            users
                .take_login_attempt("carol", rate)
                .await
                .unwrap()
                .unwrap()
                .is_ok()
        }));
    }
    let mut granted = 0;
    for t in takes {
        granted += usize::from(t.await.unwrap());
    }
    assert_eq!(granted, 4);

    // A bucket untouched for a day is forgotten: carol may try again.
    let client = database.client().await.unwrap();
    client
        .execute(
            "UPDATE keycard.login_buckets SET at = at - 90000 WHERE name = 'carol'",
            &[],
        )
        .await
        .unwrap();
    a.prune_buckets().await.unwrap();
    let left = client
        .query_one(
            "SELECT count(*) FROM keycard.login_buckets WHERE name = 'carol'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(left.get::<_, i64>(0), 0);
}

#[test]
fn a_password_in_the_url_is_seen() {
    assert!(password_in("postgres://keycard:s3cret@db/keycard"));
    assert!(password_in("host=db user=keycard password=s3cret"));
    assert!(!password_in("postgres://keycard@db/keycard"));
    assert!(!password_in("not a url at all://"));
    let db = format!(
        "{:?}",
        tokio_postgres::Config::from_str("postgres://k:s3cret@db/k").map(|c| shown(&c))
    );
    assert!(!db.contains("s3cret"), "{db}");
}
