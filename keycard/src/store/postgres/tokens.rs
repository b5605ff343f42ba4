//! [`PgTokenStore`]: revocations and refresh tokens in the database, the revocations also
//! in memory for the verifier, kept current by `LISTEN`/`NOTIFY` and a periodic resync.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::error::Error;
use crate::jwt::claims::Claims;
use crate::jwt::revocations::{Listed, Revocations};
use crate::jwt::verifier::RevocationCheck;
use crate::store::StoreFuture;
use crate::store::postgres::{Database, RESYNC, db_error, migrations};
use crate::store::tokens::{RefreshError, Rotation, TokenStore, refresh_key};

/// The channel every revocation is announced on.
const CHANNEL: &str = "keycard_revocations";

/// The token store of a [`Database`]. Cloning is cheap: clones share one store.
#[derive(Clone)]
pub struct PgTokenStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    clock: Arc<dyn Clock>,
    revocations: Revocations,
}

impl std::fmt::Debug for PgTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTokenStore")
            .field("db", &self.inner.db)
            .finish_non_exhaustive()
    }
}

fn secs(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn unsecs(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn fail(doing: &'static str) -> impl Fn(tokio_postgres::Error) -> Error {
    move |e| db_error(doing, &e)
}

impl PgTokenStore {
    pub(crate) async fn open(db: Database, clock: Arc<dyn Clock>) -> Result<Self, Error> {
        migrations::check(&*db.client().await?).await?;
        let store = Self {
            inner: Arc::new(Inner {
                db,
                clock,
                revocations: Revocations::default(),
            }),
        };
        store.reload().await?;
        Ok(store)
    }

    fn now(&self) -> u64 {
        self.inner.clock.now()
    }

    /// How many revoked tokens and sessions are live in memory.
    pub fn revoked_count(&self) -> usize {
        self.inner.revocations.revoked_count()
    }

    /// Reads the live revocations from the database into memory; returns whether
    /// anything was new.
    pub async fn reload(&self) -> Result<bool, Error> {
        let now = secs(self.now());
        let client = self.inner.db.client().await?;
        let pairs = |rows: Vec<tokio_postgres::Row>| {
            rows.iter()
                .map(|r| (r.get::<_, String>(0), unsecs(r.get::<_, i64>(1))))
                .collect()
        };
        let doing = fail("cannot read the revocations");
        let listed = Listed {
            tokens: pairs(
                client
                    .query(
                        "SELECT jti, until FROM keycard.revoked_tokens WHERE until >= $1",
                        &[&now],
                    )
                    .await
                    .map_err(&doing)?,
            ),
            sessions: pairs(
                client
                    .query(
                        "SELECT sid, until FROM keycard.revoked_sessions WHERE until >= $1",
                        &[&now],
                    )
                    .await
                    .map_err(&doing)?,
            ),
            cutoffs: pairs(
                client
                    .query("SELECT name, cutoff FROM keycard.user_cutoffs", &[])
                    .await
                    .map_err(&doing)?,
            ),
        };
        Ok(self.inner.revocations.merge(listed, self.now()))
    }

    /// Deletes what can no longer matter: revocations and refresh tokens past expiry.
    pub async fn prune(&self) -> Result<(), Error> {
        let now = secs(self.now());
        self.inner
            .db
            .client()
            .await?
            .batch_execute(&format!(
                "DELETE FROM keycard.revoked_tokens WHERE until < {now};
                 DELETE FROM keycard.revoked_sessions WHERE until < {now};
                 DELETE FROM keycard.refresh_tokens WHERE expires < {now};"
            ))
            .await
            .map_err(fail("cannot prune the token store"))
    }

    /// Starts the task that keeps the revocations in memory current: it `LISTEN`s for
    /// revocations made by any node (reloading on each), reloads and prunes every
    /// [`RESYNC`] in case a notification was missed, and reconnects by itself when the
    /// database comes back.
    pub fn watch(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let store = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut down = false;
            loop {
                let Some(s) = store.upgrade() else { return };
                match s.clone().listen(&mut down).await {
                    Ok(()) => return,
                    Err(e) => {
                        if !down {
                            tracing::error!(error = %e, "token store: lost the database; keeping the revocations last known");
                        }
                        down = true;
                    }
                }
                drop(s);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    }

    /// Listens until the connection breaks (an error) or the store is dropped.
    async fn listen(self: Arc<Self>, down: &mut bool) -> Result<(), Error> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
        let (client, driver) = self.inner.db.dedicated(Some(tx)).await?;
        let result = async {
            client
                .batch_execute(&format!("LISTEN {CHANNEL}"))
                .await
                .map_err(fail("cannot listen for revocations"))?;
            // What was revoked while this node was not listening.
            self.reload().await?;
            if std::mem::take(down) {
                tracing::info!("token store: the database is back; listening for revocations");
            }
            let mut tick = tokio::time::interval(RESYNC);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tokio::select! {
                    note = rx.recv() => {
                        if note.is_none() {
                            return Err(Error::new(crate::ErrorKind::Unavailable, "database: the listening connection closed"));
                        }
                        self.reload().await?;
                    }
                    _ = tick.tick() => {
                        // The listening connection is idle; this also checks it.
                        client.simple_query("SELECT 1").await.map_err(fail("the listening connection broke"))?;
                        self.reload().await?;
                        if let Err(e) = self.prune().await {
                            tracing::warn!(error = %e, "token store: not pruned");
                        }
                    }
                }
            }
        }
        .await;
        driver.abort();
        result
    }

    /// Announces the transaction's revocations to every node, and commits.
    async fn commit_announced(
        tx: deadpool_postgres::Transaction<'_>,
        doing: &'static str,
    ) -> Result<(), Error> {
        tx.execute("SELECT pg_notify($1, '')", &[&CHANNEL])
            .await
            .map_err(fail(doing))?;
        tx.commit().await.map_err(fail(doing))
    }

    /// Adds `listed` to this node's revocations at once (the others reload on the
    /// notification).
    fn apply(&self, listed: Listed) {
        self.inner.revocations.merge(listed, self.now());
    }

    async fn revoke_session_in(
        tx: &deadpool_postgres::Transaction<'_>,
        sid: &str,
        until: u64,
    ) -> Result<(), Error> {
        let doing = fail("cannot revoke the session");
        tx.execute(
            "INSERT INTO keycard.revoked_sessions (sid, until) VALUES ($1, $2) \
             ON CONFLICT (sid) DO UPDATE \
             SET until = greatest(keycard.revoked_sessions.until, EXCLUDED.until)",
            &[&sid, &secs(until)],
        )
        .await
        .map_err(&doing)?;
        tx.execute("DELETE FROM keycard.refresh_tokens WHERE sid = $1", &[&sid])
            .await
            .map_err(&doing)?;
        Ok(())
    }

    fn session(sid: &str, until: u64) -> Listed {
        let mut listed = Listed::default();
        listed.sessions.insert(sid.to_owned(), until);
        listed
    }
}

impl TokenStore for PgTokenStore {
    fn catch_up(&self) -> StoreFuture<'_, bool> {
        Box::pin(self.reload())
    }

    fn cutoff(&self, user: &str) -> Option<u64> {
        self.inner.revocations.cutoff(user)
    }

    /// One indexed read, not a reload: every login asks.
    fn current_cutoff<'a>(&'a self, user: &'a str) -> StoreFuture<'a, Option<u64>> {
        Box::pin(async move {
            let client = self.inner.db.client().await?;
            let statement = client
                .prepare_cached("SELECT cutoff FROM keycard.user_cutoffs WHERE name = $1")
                .await
                .map_err(fail("cannot read the user's cut-off"))?;
            let row = client
                .query_opt(&statement, &[&user])
                .await
                .map_err(fail("cannot read the user's cut-off"))?;
            let Some(cutoff) = row.map(|r| unsecs(r.get(0))) else {
                return Ok(self.cutoff(user));
            };
            let mut listed = Listed::default();
            listed.cutoffs.insert(user.to_owned(), cutoff);
            self.apply(listed);
            Ok(self.cutoff(user))
        })
    }

    fn listed(&self, cutoffs_since: u64) -> Listed {
        self.inner.revocations.list(self.now(), cutoffs_since)
    }

    fn revoke_token<'a>(&'a self, jti: &'a str, until: u64) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if until < self.now() {
                return Ok(());
            }
            let doing = "cannot revoke the token";
            let mut client = self.inner.db.client().await?;
            let tx = client.transaction().await.map_err(fail(doing))?;
            tx.execute(
                "INSERT INTO keycard.revoked_tokens (jti, until) VALUES ($1, $2) \
                 ON CONFLICT (jti) DO UPDATE \
                 SET until = greatest(keycard.revoked_tokens.until, EXCLUDED.until)",
                &[&jti, &secs(until)],
            )
            .await
            .map_err(fail(doing))?;
            Self::commit_announced(tx, doing).await?;
            let mut listed = Listed::default();
            listed.tokens.insert(jti.to_owned(), until);
            self.apply(listed);
            Ok(())
        })
    }

    fn revoke_session<'a>(&'a self, sid: &'a str, until: u64) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let doing = "cannot revoke the session";
            let mut client = self.inner.db.client().await?;
            let tx = client.transaction().await.map_err(fail(doing))?;
            Self::revoke_session_in(&tx, sid, until).await?;
            Self::commit_announced(tx, doing).await?;
            self.apply(Self::session(sid, until));
            Ok(())
        })
    }

    fn revoke_user<'a>(&'a self, user: &'a str) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let doing = "cannot revoke the user's tokens";
            let cutoff = self.now().saturating_add(1);
            let mut client = self.inner.db.client().await?;
            let tx = client.transaction().await.map_err(fail(doing))?;
            let row = tx
                .query_one(
                    "INSERT INTO keycard.user_cutoffs (name, cutoff) VALUES ($1, $2) \
                     ON CONFLICT (name) DO UPDATE \
                     SET cutoff = greatest(keycard.user_cutoffs.cutoff, EXCLUDED.cutoff) \
                     RETURNING cutoff",
                    &[&user, &secs(cutoff)],
                )
                .await
                .map_err(fail(doing))?;
            // Their refresh tokens die with them.
            tx.execute(
                "DELETE FROM keycard.refresh_tokens WHERE name = $1",
                &[&user],
            )
            .await
            .map_err(fail(doing))?;
            Self::commit_announced(tx, doing).await?;
            let cutoff = unsecs(row.get(0));
            let mut listed = Listed::default();
            listed.cutoffs.insert(user.to_owned(), cutoff);
            self.apply(listed);
            Ok(cutoff)
        })
    }

    fn create_refresh<'a>(
        &'a self,
        user: &'a str,
        sid: &'a str,
        issued_at: u64,
        ttl: Duration,
    ) -> StoreFuture<'a, String> {
        Box::pin(async move {
            let token = crate::random::long_id();
            let expires = self.now().saturating_add(ttl.as_secs());
            self.inner
                .db
                .client()
                .await?
                .execute(
                    "INSERT INTO keycard.refresh_tokens (hash, name, sid, issued, expires) \
                     VALUES ($1, $2, $3, $4, $5)",
                    &[
                        &refresh_key(&token),
                        &user,
                        &sid,
                        &secs(issued_at),
                        &secs(expires),
                    ],
                )
                .await
                .map_err(fail("cannot store the refresh token"))?;
            Ok(token)
        })
    }

    fn rotate_refresh<'a>(
        &'a self,
        token: &'a str,
        ttl: Duration,
        session_until: u64,
    ) -> StoreFuture<'a, Result<Rotation, RefreshError>> {
        Box::pin(async move {
            let doing = "cannot rotate the refresh token";
            let now = self.now();
            let key = refresh_key(token);
            let mut client = self.inner.db.client().await?;
            let tx = client.transaction().await.map_err(fail(doing))?;
            // The row locked until the end: a second use of the same token, on any
            // node, waits here and then sees it used.
            let Some(row) = tx
                .query_opt(
                    "SELECT name, sid, issued, expires, used FROM keycard.refresh_tokens \
                     WHERE hash = $1 FOR UPDATE",
                    &[&key],
                )
                .await
                .map_err(fail(doing))?
            else {
                return Ok(Err(RefreshError::Invalid));
            };
            let (user, sid): (String, String) = (row.get(0), row.get(1));
            let (issued, expires, used) = (
                unsecs(row.get(2)),
                unsecs(row.get(3)),
                row.get::<_, bool>(4),
            );
            if used {
                Self::revoke_session_in(&tx, &sid, session_until).await?;
                Self::commit_announced(tx, doing).await?;
                self.apply(Self::session(&sid, session_until));
                tracing::warn!(user = %user, "refresh token reused: its session is revoked");
                return Ok(Err(RefreshError::Reused));
            }
            let state = tx
                .query_one(
                    "SELECT (SELECT cutoff FROM keycard.user_cutoffs WHERE name = $1), \
                            EXISTS (SELECT 1 FROM keycard.revoked_sessions WHERE sid = $2)",
                    &[&user, &sid],
                )
                .await
                .map_err(fail(doing))?;
            let cutoff = state.get::<_, Option<i64>>(0).map(unsecs).unwrap_or(0);
            if expires < now || issued < cutoff || state.get::<_, bool>(1) {
                return Ok(Err(RefreshError::Invalid));
            }
            let next = crate::random::long_id();
            tx.execute(
                "UPDATE keycard.refresh_tokens SET used = true WHERE hash = $1",
                &[&key],
            )
            .await
            .map_err(fail(doing))?;
            tx.execute(
                "INSERT INTO keycard.refresh_tokens (hash, name, sid, issued, expires) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &refresh_key(&next),
                    &user,
                    &sid,
                    &secs(now.max(cutoff)),
                    &secs(now.saturating_add(ttl.as_secs())),
                ],
            )
            .await
            .map_err(fail(doing))?;
            tx.commit().await.map_err(fail(doing))?;
            Ok(Ok(Rotation {
                user,
                sid,
                refresh_token: next,
            }))
        })
    }

    fn revoke_refresh<'a>(&'a self, token: &'a str, session_until: u64) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let doing = "cannot revoke the refresh token";
            let key = refresh_key(token);
            let mut client = self.inner.db.client().await?;
            let tx = client.transaction().await.map_err(fail(doing))?;
            let Some(row) = tx
                .query_opt(
                    "SELECT sid FROM keycard.refresh_tokens WHERE hash = $1 FOR UPDATE",
                    &[&key],
                )
                .await
                .map_err(fail(doing))?
            else {
                return Ok(false);
            };
            let sid: String = row.get(0);
            Self::revoke_session_in(&tx, &sid, session_until).await?;
            Self::commit_announced(tx, doing).await?;
            self.apply(Self::session(&sid, session_until));
            Ok(true)
        })
    }
}

impl RevocationCheck for PgTokenStore {
    fn is_revoked(&self, claims: &Claims) -> bool {
        self.inner.revocations.is_revoked(claims)
    }
}
