//! The PostgreSQL store (feature `postgres`): users, revocations, refresh tokens and the
//! per-user failed-login buckets in one database, so that several issuers behave as one.
//!
//! - [`Database`] is the connection pool. [`Database::connect`] checks the server at once
//!   (a wrong URL, host or password is one clear error at start, not a hang), and
//!   [`Database::migrate`] applies the embedded, versioned schema (`migrations.rs`) under
//!   an advisory lock, so two nodes starting at once do not race.
//! - [`PgUserStore`] reads the user's current row at every login: a `keycard users …`
//!   change on any node holds for every login from the moment the command returns.
//! - [`PgTokenStore`] writes each revocation in a transaction that also sends a
//!   `NOTIFY`; every node `LISTEN`s and reloads, and resyncs on a timer in case a
//!   notification was missed. Verification reads the revocations from memory, so it
//!   keeps working with the last ones known while the database is down. A refresh
//!   rotation locks its row (`SELECT … FOR UPDATE`): two uses of one refresh token on
//!   two nodes at once never both succeed.
//!
//! Why tokio-postgres and deadpool-postgres rather than sqlx: they are the smallest
//! well-kept async driver and pool (no macros, no compile-time database, no runtime
//! type registry), pure Rust without TLS, and this store needs only plain SQL.
//!
//! ```no_run
//! use std::sync::Arc;
//! use keycard::clock::SystemClock;
//! use keycard::store::postgres::Database;
//!
//! # async fn run() -> Result<(), keycard::Error> {
//! let db = Database::connect("postgres://keycard@db.internal/keycard", None).await?;
//! db.migrate().await?;
//! let users = Arc::new(db.users().await?);
//! let tokens = Arc::new(db.tokens(Arc::new(SystemClock)).await?);
//! let _tasks = (users.watch(), tokens.watch());
//! # Ok(()) }
//! ```

mod migrations;
mod tls;
mod tokens;
mod users;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use crate::error::{Error, ErrorKind};

pub use migrations::LATEST_VERSION;
pub use tokens::PgTokenStore;
pub use users::PgUserStore;

/// How long a connection attempt, or a wait for a free connection, may take: a database
/// that does not answer makes `/token` answer 503 at once rather than hang.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How often each node reloads the revocations and the hash kinds even without a
/// notification (a missed one heals within this time).
pub const RESYNC: Duration = Duration::from_secs(10);

/// The most connections a node opens.
pub const MAX_CONNECTIONS: usize = 16;

/// The roots a caller trusts for the database's certificate (none in a build without
/// TLS to the database).
#[cfg(feature = "postgres-tls")]
type Trust<'a> = Option<&'a crate::tls::TlsClient>;
#[cfg(not(feature = "postgres-tls"))]
type Trust<'a> = Option<&'a std::convert::Infallible>;

/// The connection pool of one database.
///
/// Cloning is cheap: clones share the pool.
#[derive(Clone)]
pub struct Database {
    pool: Pool,
    config: tokio_postgres::Config,
    /// The connector when the URL asks for TLS.
    #[cfg(feature = "postgres-tls")]
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    /// Where it is, without the password, for messages.
    shown: String,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("at", &self.shown)
            .finish_non_exhaustive()
    }
}

/// An error from the database as one line: what was being done, and the server's message
/// (never the password: tokio-postgres does not put it in its errors).
pub(crate) fn db_error(doing: &str, e: &tokio_postgres::Error) -> Error {
    let kind = match e.as_db_error().map(|d| d.code().code()) {
        // Invalid authorization (28xxx), invalid catalog name (3D000): wrong settings.
        Some(code) if code.starts_with("28") || code == "3D000" => ErrorKind::InvalidConfig,
        _ => ErrorKind::Unavailable,
    };
    let detail = match e.as_db_error() {
        Some(db) => db.message().to_owned(),
        None => {
            let mut text = e.to_string();
            if let Some(source) = std::error::Error::source(e) {
                // A refused certificate, said as the HTTPS clients say it.
                #[cfg(feature = "postgres-tls")]
                if let Some(io) = source.downcast_ref::<std::io::Error>() {
                    return Error::new(
                        ErrorKind::Unavailable,
                        format!("database: {doing}: {text}: {}", crate::tls::describe(io)),
                    );
                }
                text = format!("{text}: {source}");
            }
            text
        }
    };
    Error::new(kind, format!("database: {doing}: {detail}"))
}

fn pool_error(e: deadpool_postgres::PoolError) -> Error {
    match e {
        deadpool_postgres::PoolError::Backend(e) => db_error("cannot connect", &e),
        deadpool_postgres::PoolError::Timeout(_) => Error::new(
            ErrorKind::Unavailable,
            "database: no connection within the timeout",
        ),
        other => Error::new(ErrorKind::Unavailable, format!("database: {other}")),
    }
}

impl Database {
    /// A pool for the database at `url` (`postgres://user[:password]@host[:port]/db`, or
    /// libpq's `key=value` form). `password`, when given, is used if the URL has none.
    /// Connects once before returning, so that a wrong host, name or password is reported
    /// now.
    ///
    /// TLS is libpq's settings in the URL: `sslmode=require` (or `verify-ca`,
    /// `verify-full`) connects only over TLS, the server's certificate verified in full
    /// (chain and host name), trusting `sslrootcert=FILE`'s CAs or else the system's roots;
    /// without it (or with `prefer`, the default) the connection is plain. A build without
    /// the `postgres-tls` feature refuses a URL that asks for TLS.
    pub async fn connect(url: &str, password: Option<&str>) -> Result<Self, Error> {
        Self::open(url, password, None).await
    }

    /// [`connect`](Self::connect), trusting `trust`'s roots for a URL that asks for TLS
    /// and names no `sslrootcert` (in `keycard serve`: the system's and `--ca-file`'s).
    #[cfg(feature = "postgres-tls")]
    pub async fn connect_trusting(
        url: &str,
        password: Option<&str>,
        trust: &crate::tls::TlsClient,
    ) -> Result<Self, Error> {
        Self::open(url, password, Some(trust)).await
    }

    async fn open(url: &str, password: Option<&str>, trust: Trust<'_>) -> Result<Self, Error> {
        let (url, tls) = tls::split(url)?;
        let mut config = tokio_postgres::Config::from_str(&url).map_err(|e| {
            // tokio-postgres says only "invalid connection string"; its source says which
            // part (an unknown option, a bad port).
            let why = match std::error::Error::source(&e) {
                Some(source) => format!("{e}: {source}"),
                None => e.to_string(),
            };
            Error::new(
                ErrorKind::InvalidConfig,
                format!("the database URL is malformed: {why}"),
            )
        })?;
        #[cfg(not(feature = "postgres-tls"))]
        if tls.required {
            let _ = trust;
            return Err(tls::refuse());
        }
        config.ssl_mode(match tls.required {
            true => tokio_postgres::config::SslMode::Require,
            false => tokio_postgres::config::SslMode::Disable,
        });
        #[cfg(feature = "postgres-tls")]
        let tls = match tls.required {
            true => Some(tls::connector(&tls, trust)?),
            false => None,
        };
        if config.get_password().is_none()
            && let Some(p) = password
        {
            config.password(p);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.application_name("keycard");
        // A dead peer is noticed within seconds, not at the kernel's default of hours.
        config.keepalives_idle(Duration::from_secs(10));
        config.tcp_user_timeout(Duration::from_secs(10));
        let shown = shown(&config);
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        #[cfg(feature = "postgres-tls")]
        let manager = match &tls {
            Some(tls) => Manager::from_config(config.clone(), tls.clone(), manager_config),
            None => Manager::from_config(config.clone(), NoTls, manager_config),
        };
        #[cfg(not(feature = "postgres-tls"))]
        let manager = Manager::from_config(config.clone(), NoTls, manager_config);
        let pool = Pool::builder(manager)
            .max_size(MAX_CONNECTIONS)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| Error::new(ErrorKind::InvalidConfig, format!("database pool: {e}")))?;
        let db = Self {
            pool,
            config,
            #[cfg(feature = "postgres-tls")]
            tls,
            shown,
        };
        drop(
            db.client()
                .await
                .map_err(|e| Error::new(e.kind(), format!("{} ({})", e, db.shown)))?,
        );
        Ok(db)
    }

    /// Checks that the database answers now (`SELECT 1` on a pooled connection).
    pub async fn ping(&self) -> Result<(), Error> {
        let client = self.client().await?;
        client
            .simple_query("SELECT 1")
            .await
            .map_err(|e| db_error("no answer", &e))?;
        Ok(())
    }

    /// Where the database is (host, port and name; never the password).
    pub fn shown(&self) -> &str {
        &self.shown
    }

    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, Error> {
        self.pool.get().await.map_err(pool_error)
    }

    /// A connection of its own, outside the pool (the advisory lock of a migration, a
    /// `LISTEN`), and the task driving it, which ends when the connection does; each
    /// notification on it is sent to `notes` (one pending is enough: they mean "reload").
    pub(crate) async fn dedicated(
        &self,
        notes: Option<tokio::sync::mpsc::Sender<()>>,
    ) -> Result<
        (
            tokio_postgres::Client,
            tokio::task::JoinHandle<Result<(), Error>>,
        ),
        Error,
    > {
        let fail = |e| db_error("cannot connect", &e);
        #[cfg(feature = "postgres-tls")]
        if let Some(tls) = &self.tls {
            let (client, connection) = self.config.connect(tls.clone()).await.map_err(fail)?;
            return Ok((client, drive(connection, notes)));
        }
        let (client, connection) = self.config.connect(NoTls).await.map_err(fail)?;
        Ok((client, drive(connection, notes)))
    }

    /// Applies the embedded schema migrations not yet applied, under an advisory lock;
    /// returns the schema version now. A schema newer than this build knows is refused.
    pub async fn migrate(&self) -> Result<u32, Error> {
        migrations::migrate(self).await
    }

    /// The schema version the database holds (0: none yet).
    pub async fn schema_version(&self) -> Result<u32, Error> {
        let client = self.client().await?;
        migrations::current(&client).await
    }

    /// The user store on this database (the schema must be migrated).
    pub async fn users(&self) -> Result<PgUserStore, Error> {
        PgUserStore::open(self.clone()).await
    }

    /// The token store on this database, its revocations loaded (the schema must be
    /// migrated).
    pub async fn tokens(
        &self,
        clock: std::sync::Arc<dyn crate::clock::Clock>,
    ) -> Result<PgTokenStore, Error> {
        PgTokenStore::open(self.clone(), clock).await
    }
}

/// Drives `connection` until it ends, sending a note for each notification.
fn drive<S, T>(
    mut connection: tokio_postgres::Connection<S, T>,
    notes: Option<tokio::sync::mpsc::Sender<()>>,
) -> tokio::task::JoinHandle<Result<(), Error>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(tokio_postgres::AsyncMessage::Notification(_))) => {
                    if let Some(notes) = &notes {
                        let _ = notes.try_send(());
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(db_error("the connection broke", &e)),
                None => return Ok(()),
            }
        }
    })
}

/// Whether the database URL `url` holds a password (`postgres://user:secret@…`, or
/// `password=…`): the command line must not, since any user can read it in `ps`. A
/// malformed URL holds none (and is refused by [`Database::connect`]).
pub fn password_in(url: &str) -> bool {
    tls::split(url)
        .ok()
        .and_then(|(url, _)| tokio_postgres::Config::from_str(&url).ok())
        .is_some_and(|c| c.get_password().is_some())
}

/// `user@host:port/db`, from the parsed settings.
fn shown(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".to_owned());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{}@{host}:{port}/{}",
        config.get_user().unwrap_or("-"),
        config.get_dbname().unwrap_or("-")
    )
}

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
