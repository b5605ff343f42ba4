//! [`PgUserStore`]: the users table, each login reading the row as it is now.

use std::sync::{Arc, RwLock};
use std::time::{Duration, UNIX_EPOCH};

use crate::duration::Rate;
use crate::error::{Error, ErrorKind};
use crate::store::StoreFuture;
use crate::store::postgres::{Database, RESYNC, db_error, migrations};
use crate::store::users::{Put, User, UserStore, check_role, cost_kind};

/// The users of a [`Database`].
///
/// Every read goes to the database; only the distinct hash kinds (which set how long
/// every login takes) are kept in memory, refreshed after each change and every
/// [`RESYNC`] by [`watch`](Self::watch).
pub struct PgUserStore {
    db: Database,
    kinds: RwLock<Arc<[String]>>,
}

impl std::fmt::Debug for PgUserStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgUserStore")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

fn no_such_user(name: &str) -> Error {
    Error::new(ErrorKind::NoSuchUser, format!("no user named {name:?}"))
}

fn now_rfc3339() -> String {
    use crate::clock::Clock;
    let secs = crate::clock::SystemClock.now();
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

impl PgUserStore {
    pub(crate) async fn open(db: Database) -> Result<Self, Error> {
        migrations::check(&*db.client().await?).await?;
        let store = Self {
            db,
            kinds: RwLock::new(Arc::from(Vec::new())),
        };
        store.refresh_kinds().await?;
        Ok(store)
    }

    /// How many users there are.
    pub async fn count(&self) -> Result<u64, Error> {
        let row = self
            .db
            .client()
            .await?
            .query_one("SELECT count(*) FROM keycard.users", &[])
            .await
            .map_err(|e| db_error("cannot count the users", &e))?;
        Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }

    /// Re-reads the distinct hash kinds.
    pub async fn refresh_kinds(&self) -> Result<(), Error> {
        let rows = self
            .db
            .client()
            .await?
            .query(
                "SELECT DISTINCT cost_kind FROM keycard.users ORDER BY cost_kind",
                &[],
            )
            .await
            .map_err(|e| db_error("cannot read the hash kinds", &e))?;
        let kinds: Vec<String> = rows.iter().map(|r| r.get(0)).collect();

        *crate::sync::write(&self.kinds) = Arc::from(kinds);
        Ok(())
    }

    /// Forgets the failed-login buckets untouched for a day (full again long since, at
    /// any rate worth having).
    pub async fn prune_buckets(&self) -> Result<(), Error> {
        self.db
            .client()
            .await?
            .execute(
                "DELETE FROM keycard.login_buckets \
                 WHERE at < extract(epoch FROM clock_timestamp())::float8 - 86400",
                &[],
            )
            .await
            .map_err(|e| db_error("cannot prune the login buckets", &e))?;
        Ok(())
    }

    /// Starts a task that calls [`refresh_kinds`](Self::refresh_kinds) and
    /// [`prune_buckets`](Self::prune_buckets) every [`RESYNC`].
    pub fn watch(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let store = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RESYNC);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(store) = store.upgrade() else { return };
                if let Err(e) = store.refresh_kinds().await {
                    tracing::warn!(error = %e, "user store: hash kinds not refreshed");
                }
                if let Err(e) = store.prune_buckets().await {
                    tracing::debug!(error = %e, "user store: login buckets not pruned");
                }
            }
        })
    }

    /// One statement changing one user's row: `Ok(false)` if no row matched.
    async fn change(
        &self,
        doing: &str,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<bool, Error> {
        let client = self.db.client().await?;
        let n = client
            .execute(sql, params)
            .await
            .map_err(|e| db_error(doing, &e))?;
        drop(client);
        if let Err(e) = self.refresh_kinds().await {
            tracing::warn!(error = %e, "user store: hash kinds not refreshed");
        }
        Ok(n > 0)
    }
}

fn user_of(row: &tokio_postgres::Row) -> User {
    User {
        name: row.get(0),
        role: row.get(1),
        password_hash: row.get(2),
        created: row.get(3),
    }
}

impl UserStore for PgUserStore {
    fn find<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<User>> {
        Box::pin(async move {
            let client = self.db.client().await?;
            let statement = client
                .prepare_cached(
                    "SELECT name, role, password_hash, created FROM keycard.users WHERE name = $1",
                )
                .await
                .map_err(|e| db_error("cannot look up the user", &e))?;
            let row = client
                .query_opt(&statement, &[&name])
                .await
                .map_err(|e| db_error("cannot look up the user", &e))?;
            Ok(row.as_ref().map(user_of))
        })
    }

    fn upgrade_password_hash<'a>(
        &'a self,
        name: &'a str,
        old: &'a str,
        new: String,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let kind = cost_kind(&new);
            // Only if nobody changed it meanwhile (passwd, remove): never undo an edit.
            self.change(
                "cannot upgrade the password hash",
                "UPDATE keycard.users SET password_hash = $3, cost_kind = $4 \
                 WHERE name = $1 AND password_hash = $2",
                &[&name, &old, &new, &kind],
            )
            .await
        })
    }

    fn add<'a>(
        &'a self,
        name: &'a str,
        role: &'a str,
        password_hash: String,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let user = User::new(name, role, password_hash)?.with_created(now_rfc3339());
            let kind = cost_kind(&user.password_hash);
            let added = self
                .change(
                    "cannot add the user",
                    "INSERT INTO keycard.users (name, role, password_hash, cost_kind, created) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING",
                    &[
                        &user.name,
                        &user.role,
                        &user.password_hash,
                        &kind,
                        &user.created,
                    ],
                )
                .await?;
            if !added {
                return Err(Error::new(
                    ErrorKind::UserExists,
                    format!("user {name:?} already exists"),
                ));
            }
            Ok(())
        })
    }

    fn set_password_hash<'a>(
        &'a self,
        name: &'a str,
        password_hash: String,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let kind = cost_kind(&password_hash);
            self.change(
                "cannot change the password",
                "UPDATE keycard.users SET password_hash = $2, cost_kind = $3 WHERE name = $1",
                &[&name, &password_hash, &kind],
            )
            .await?
            .then_some(())
            .ok_or_else(|| no_such_user(name))
        })
    }

    fn set_role<'a>(&'a self, name: &'a str, role: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            check_role(role)?;
            self.change(
                "cannot change the role",
                "UPDATE keycard.users SET role = $2 WHERE name = $1",
                &[&name, &role],
            )
            .await?
            .then_some(())
            .ok_or_else(|| no_such_user(name))
        })
    }

    fn remove<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.change(
                "cannot remove the user",
                "DELETE FROM keycard.users WHERE name = $1",
                &[&name],
            )
            .await?
            .then_some(())
            .ok_or_else(|| no_such_user(name))
        })
    }

    fn list(&self) -> StoreFuture<'_, Vec<User>> {
        Box::pin(async move {
            let rows = self
                .db
                .client()
                .await?
                .query(
                    "SELECT name, role, password_hash, created FROM keycard.users \
                     ORDER BY position",
                    &[],
                )
                .await
                .map_err(|e| db_error("cannot list the users", &e))?;
            Ok(rows.iter().map(user_of).collect())
        })
    }

    fn put(&self, user: User) -> StoreFuture<'_, Put> {
        Box::pin(async move {
            // A record without `created` (an Express-era file) keeps the one already
            // stored: importing the same file twice changes nothing, whenever it runs.
            let given = user.created.clone();
            let user = User::new(&user.name, &user.role, user.password_hash.clone())?
                .with_created(given.clone().unwrap_or_else(now_rfc3339));
            let kind = cost_kind(&user.password_hash);
            let client = self.db.client().await?;
            // One statement: inserted, or updated only where the record differs.
            let row = client
                .query_opt(
                    "INSERT INTO keycard.users AS u (name, role, password_hash, cost_kind, created) \
                     VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (name) DO UPDATE SET role = EXCLUDED.role, \
                         password_hash = EXCLUDED.password_hash, cost_kind = EXCLUDED.cost_kind, \
                         created = COALESCE($6, u.created) \
                     WHERE (u.role, u.password_hash, u.created) IS DISTINCT FROM \
                           (EXCLUDED.role, EXCLUDED.password_hash, COALESCE($6, u.created)) \
                     RETURNING (xmax = 0)",
                    &[
                        &user.name,
                        &user.role,
                        &user.password_hash,
                        &kind,
                        &user.created,
                        &given,
                    ],
                )
                .await
                .map_err(|e| db_error("cannot import the user", &e))?;
            drop(client);
            let _ = self.refresh_kinds().await;
            Ok(match row {
                None => Put::Unchanged,
                Some(r) if r.get::<_, bool>(0) => Put::Added,
                Some(_) => Put::Replaced,
            })
        })
    }

    fn take_login_attempt<'a>(
        &'a self,
        name: &'a str,
        rate: Rate,
    ) -> StoreFuture<'a, Option<Result<(), u64>>> {
        Box::pin(async move {
            let burst = f64::from(rate.burst());
            let per_sec = burst / rate.period().as_secs_f64();
            let client = self.db.client().await?;
            // One statement, so two nodes taking at once cannot both see the last
            // attempt: the bucket refills by the time since its last use, then gives one.
            // The database's clock, so the nodes' clocks need not agree.
            let row = client
                .query_one(
                    "WITH now AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS t), \
                     upsert AS ( \
                       INSERT INTO keycard.login_buckets AS b (name, tokens, at) \
                       SELECT $1::text, $2::float8 - 1, t FROM now \
                       ON CONFLICT (name) DO UPDATE SET \
                         tokens = least($2::float8, b.tokens + (EXCLUDED.at - b.at) * $3::float8) - 1, \
                         at = EXCLUDED.at \
                       WHERE least($2::float8, b.tokens + (EXCLUDED.at - b.at) * $3::float8) >= 1 \
                       RETURNING 1) \
                     SELECT (SELECT count(*) FROM upsert), \
                            (SELECT least($2::float8, b.tokens + ((SELECT t FROM now) - b.at) * $3::float8) \
                               FROM keycard.login_buckets b WHERE b.name = $1::text)",
                    &[&name, &burst, &per_sec],
                )
                .await
                .map_err(|e| db_error("cannot take a login attempt", &e))?;
            if row.get::<_, i64>(0) > 0 {
                return Ok(Some(Ok(())));
            }
            let tokens: Option<f64> = row.get(1);
            let wait = (1.0 - tokens.unwrap_or(0.0)) / per_sec;
            Ok(Some(Err(wait.ceil().max(1.0) as u64)))
        })
    }

    fn refund_login_attempt<'a>(&'a self, name: &'a str, rate: Rate) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let burst = f64::from(rate.burst());
            self.db
                .client()
                .await?
                .execute(
                    "UPDATE keycard.login_buckets SET tokens = least($2::float8, tokens + 1) \
                     WHERE name = $1",
                    &[&name, &burst],
                )
                .await
                .map_err(|e| db_error("cannot refund a login attempt", &e))?;
            Ok(())
        })
    }

    fn hash_kinds(&self) -> Arc<[String]> {
        crate::sync::read(&self.kinds).clone()
    }
}
