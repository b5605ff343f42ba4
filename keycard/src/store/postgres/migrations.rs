//! The schema, as numbered migrations embedded in the binary. Each runs once, in its own
//! transaction, recorded in `keycard.schema_version`; all of them run under one advisory
//! lock, so nodes starting together apply each exactly once. A database whose schema is
//! newer than this build's is refused rather than guessed at.

use crate::error::{Error, ErrorKind};
use crate::store::postgres::{Database, db_error};

/// The advisory lock key of migrations: "keycard" in ASCII.
const LOCK: i64 = 0x6b_6579_6361_7264;

/// The migrations, in order; the version of each is its position from 1.
const MIGRATIONS: &[&str] = &[
    // 1: users, revocations, refresh tokens, shared login buckets.
    "CREATE TABLE keycard.users (
         name text PRIMARY KEY,
         role text NOT NULL,
         password_hash text NOT NULL,
         cost_kind text NOT NULL,
         created text,
         position bigserial NOT NULL
     );
     CREATE INDEX users_cost_kind ON keycard.users (cost_kind);
     CREATE TABLE keycard.revoked_tokens (jti text PRIMARY KEY, until bigint NOT NULL);
     CREATE TABLE keycard.revoked_sessions (sid text PRIMARY KEY, until bigint NOT NULL);
     CREATE TABLE keycard.user_cutoffs (name text PRIMARY KEY, cutoff bigint NOT NULL);
     CREATE TABLE keycard.refresh_tokens (
         hash text PRIMARY KEY,
         name text NOT NULL,
         sid text NOT NULL,
         issued bigint NOT NULL,
         expires bigint NOT NULL,
         used boolean NOT NULL DEFAULT false
     );
     CREATE INDEX refresh_tokens_sid ON keycard.refresh_tokens (sid);
     CREATE INDEX refresh_tokens_name ON keycard.refresh_tokens (name);
     CREATE TABLE keycard.login_buckets (
         name text PRIMARY KEY,
         tokens double precision NOT NULL,
         at double precision NOT NULL
     );",
];

/// The schema version this build knows.
pub const LATEST_VERSION: u32 = MIGRATIONS.len() as u32;

/// The version a connection's database holds: 0 before the first migration.
pub(crate) async fn current(client: &tokio_postgres::Client) -> Result<u32, Error> {
    let exists = client
        .query_one(
            "SELECT to_regclass('keycard.schema_version') IS NOT NULL",
            &[],
        )
        .await
        .map_err(|e| db_error("cannot read the schema version", &e))?;
    if !exists.get::<_, bool>(0) {
        return Ok(0);
    }
    let row = client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM keycard.schema_version",
            &[],
        )
        .await
        .map_err(|e| db_error("cannot read the schema version", &e))?;
    Ok(u32::try_from(row.get::<_, i32>(0)).unwrap_or(0))
}

fn too_new(found: u32) -> Error {
    Error::new(
        ErrorKind::CorruptStore,
        format!(
            "database: the schema is version {found}, newer than this keycard knows \
             ({LATEST_VERSION}); upgrade keycard"
        ),
    )
}

/// Checks that the schema is the one this build knows.
pub(crate) async fn check(client: &tokio_postgres::Client) -> Result<(), Error> {
    match current(client).await? {
        v if v == LATEST_VERSION => Ok(()),
        v if v > LATEST_VERSION => Err(too_new(v)),
        v => Err(Error::new(
            ErrorKind::CorruptStore,
            format!(
                "database: the schema is version {v}, this keycard needs {LATEST_VERSION}; \
                 run keycard db migrate"
            ),
        )),
    }
}

pub(crate) async fn migrate(db: &Database) -> Result<u32, Error> {
    // Its own connection: the advisory lock belongs to the session, and ends with it
    // even if this process dies half-way.
    let (mut client, driver) = db.dedicated(None).await?;
    let out = migrate_locked(&mut client).await;
    drop(client);
    let _ = driver.await;
    out
}

async fn migrate_locked(client: &mut tokio_postgres::Client) -> Result<u32, Error> {
    let fail = |e: tokio_postgres::Error| db_error("cannot migrate the schema", &e);
    client
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK])
        .await
        .map_err(fail)?;
    let found = current(client).await?;
    if found > LATEST_VERSION {
        return Err(too_new(found));
    }
    if found == 0 {
        client
            .batch_execute(
                "CREATE SCHEMA IF NOT EXISTS keycard;
                 CREATE TABLE IF NOT EXISTS keycard.schema_version (
                     version integer PRIMARY KEY,
                     applied timestamptz NOT NULL DEFAULT now()
                 );",
            )
            .await
            .map_err(fail)?;
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = i32::try_from(i + 1).unwrap_or(i32::MAX);
        let tx = client.transaction().await.map_err(fail)?;
        tx.batch_execute(sql).await.map_err(fail)?;
        tx.execute(
            "INSERT INTO keycard.schema_version (version) VALUES ($1)",
            &[&version],
        )
        .await
        .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        tracing::info!(version, "database schema migrated");
    }
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK])
        .await
        .map_err(fail)?;
    Ok(LATEST_VERSION)
}
