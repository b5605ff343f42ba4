//! Which store holds the users and the tokens: the users file (and its token file
//! beside it), or PostgreSQL with `--database-url`. `serve`, `users …`, `tokens revoke`
//! and `db migrate` all open it here, so each sees the same store.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use keycard::clock::SystemClock;
use keycard::server::Readiness;
use keycard::store::{Accounts, TokenStore, UserStore, token_store_path};
use keycard::{FileTokenStore, FileUserStore};
use zeroize::Zeroizing;

use crate::cli::GlobalArgs;

/// How often the users file is checked for changes (SPEC: within 2 seconds).
const USERS_POLL: Duration = Duration::from_secs(1);

/// Where the users are, as configured.
pub enum Location {
    /// The users file.
    File(PathBuf),
    /// A PostgreSQL database.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Database {
        url: Zeroizing<String>,
        password: Option<Zeroizing<String>>,
        /// Whom to trust for the server's certificate when the URL asks for TLS and
        /// names no `sslrootcert`: `keycard serve`'s system roots and `--ca-file`.
        #[cfg(feature = "postgres-tls")]
        trust: Option<keycard::tls::TlsClient>,
    },
}

impl Location {
    /// The store `global` selects: the database with `--database-url`, else the file.
    /// `url_is_a_flag`: the URL came from the command line, where a password would be
    /// readable by any user in `ps`, so it may hold none.
    pub fn of(global: &GlobalArgs, url_is_a_flag: bool) -> anyhow::Result<Self> {
        let url = global
            .database_url
            .as_deref()
            .filter(|u| !u.trim().is_empty());
        let Some(url) = url else {
            if global.database_password_file.is_some() {
                bail!("--database-password-file needs --database-url");
            }
            return Ok(Self::File(crate::config::users_path(global)));
        };
        Self::database(global, url, url_is_a_flag)
    }

    #[cfg(not(feature = "postgres"))]
    fn database(_: &GlobalArgs, _: &str, _: bool) -> anyhow::Result<Self> {
        bail!("--database-url: this keycard was built without PostgreSQL (feature postgres)")
    }

    #[cfg(feature = "postgres")]
    fn database(global: &GlobalArgs, url: &str, url_is_a_flag: bool) -> anyhow::Result<Self> {
        if url_is_a_flag && keycard::store::postgres::password_in(url) {
            bail!(
                "--database-url must not hold the password (any user can read a command line): \
                 put the URL in KEYCARD_DATABASE_URL or the config file, or the password in \
                 PGPASSWORD or --database-password-file"
            );
        }
        let password = match &global.database_password_file {
            Some(path) => {
                let text = Zeroizing::new(std::fs::read_to_string(path).with_context(|| {
                    format!("cannot read the database password file {}", path.display())
                })?);
                let line = text.lines().next().unwrap_or("");
                if line.is_empty() {
                    bail!("the database password file {} is empty", path.display());
                }
                Some(Zeroizing::new(line.to_owned()))
            }
            None => std::env::var("PGPASSWORD").ok().map(Zeroizing::new),
        };
        Ok(Self::Database {
            url: Zeroizing::new(url.to_owned()),
            password,
            #[cfg(feature = "postgres-tls")]
            trust: None,
        })
    }

    /// The database's certificate checked against `tls`'s `--ca-file` too (beside the
    /// system's roots), unless the URL names its own `sslrootcert`.
    pub fn trusting(self, tls: &crate::tls::Tls) -> Self {
        match self {
            #[cfg(feature = "postgres-tls")]
            Self::Database { url, password, .. } => Self::Database {
                url,
                password,
                trust: tls.client.clone(),
            },
            other => {
                let _ = tls;
                other
            }
        }
    }
}

/// The opened stores, and the tasks that keep a server's view of them current.
pub struct Stores {
    pub users: Arc<dyn UserStore>,
    pub tokens: Arc<dyn TokenStore>,
    /// Where they are, for messages (a path, or `user@host:port/db`).
    pub shown: String,
    /// How many users there are now.
    pub count: u64,
    watchers: Vec<Box<dyn FnOnce() -> tokio::task::JoinHandle<()> + Send>>,
    /// What `/readyz` checks of them.
    pub readiness: Readiness,
}

impl Stores {
    /// Opens the stores at `location`; with a database, connects and applies its
    /// migrations (under an advisory lock), so a wrong URL, host, password or a newer
    /// schema is one error now.
    pub async fn open(location: &Location) -> anyhow::Result<Self> {
        match location {
            Location::File(path) => {
                let users =
                    Arc::new(FileUserStore::open(path).context("cannot load the users file")?);
                let tokens = Arc::new(
                    FileTokenStore::open(token_store_path(path), Arc::new(SystemClock))
                        .context("cannot load the token store")?,
                );
                let count = users.len() as u64;
                let (u, t) = (users.clone(), tokens.clone());
                let (users_file, tokens_file) = (path.clone(), token_store_path(path));
                let readiness = Readiness::new()
                    .check("users", move || {
                        let path = users_file.clone();
                        async move {
                            FileUserStore::read(&path).map(|_| ()).map_err(|e| {
                                tracing::warn!(error = %e, "the users file cannot be read");
                                "the users file cannot be read"
                            })
                        }
                    })
                    .check("tokens", move || {
                        let path = tokens_file.clone();
                        async move {
                            match std::fs::read(&path) {
                                Ok(_) => Ok(()),
                                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                                Err(e) => {
                                    tracing::warn!(error = %e, "the token store cannot be read");
                                    Err("the token store cannot be read")
                                }
                            }
                        }
                    });
                Ok(Self {
                    readiness,
                    users,
                    tokens,
                    shown: path.display().to_string(),
                    count,
                    watchers: vec![
                        Box::new(move || u.watch(USERS_POLL)),
                        Box::new(move || t.watch(USERS_POLL)),
                    ],
                })
            }
            #[cfg(feature = "postgres")]
            Location::Database { .. } => {
                let db = connect(location).await?;
                db.migrate().await.context("cannot open the database")?;
                let shown = db.shown().to_owned();
                let users = Arc::new(db.users().await.context("cannot open the database")?);
                let tokens = Arc::new(
                    db.tokens(Arc::new(SystemClock))
                        .await
                        .context("cannot open the database")?,
                );
                let count = users.count().await.context("cannot open the database")?;
                let (u, t) = (users.clone(), tokens.clone());
                let readiness = Readiness::new().check("database", move || {
                    let db = db.clone();
                    async move {
                        db.ping().await.map_err(|e| {
                            tracing::warn!(error = %e, "the database does not answer");
                            "the database does not answer"
                        })
                    }
                });
                Ok(Self {
                    readiness,
                    users,
                    tokens,
                    shown: shown.clone(),
                    count,
                    watchers: vec![Box::new(move || u.watch()), Box::new(move || t.watch())],
                })
            }
            #[cfg(not(feature = "postgres"))]
            Location::Database { .. } => {
                bail!(
                    "--database-url: this keycard was built without PostgreSQL (feature postgres)"
                )
            }
        }
    }

    /// The two tied, so that a change to a user ends their tokens.
    pub fn accounts(&self) -> Accounts {
        Accounts::new(self.users.clone(), self.tokens.clone())
    }

    /// Starts the tasks that keep a server's view current: the files polled, or the
    /// database listened to and resynced.
    pub fn watch(&mut self) -> Vec<tokio::task::JoinHandle<()>> {
        self.watchers.drain(..).map(|start| start()).collect()
    }
}

/// The configured database, reached once (a wrong URL, host, password or certificate
/// is the error).
#[cfg(feature = "postgres")]
async fn connect(location: &Location) -> anyhow::Result<keycard::store::postgres::Database> {
    use keycard::store::postgres::Database;
    fn password(p: &Option<Zeroizing<String>>) -> Option<&str> {
        p.as_deref().map(String::as_str)
    }
    let db = match location {
        #[cfg(feature = "postgres-tls")]
        Location::Database {
            url,
            password: pw,
            trust: Some(trust),
        } => Database::connect_trusting(url, password(pw), trust).await,
        Location::Database {
            url, password: pw, ..
        } => Database::connect(url, password(pw)).await,
        _ => bail!("no database is configured (--database-url)"),
    };
    db.context("cannot open the database")
}

/// `keycard db migrate`.
#[cfg(feature = "postgres")]
pub async fn migrate(location: &Location) -> anyhow::Result<()> {
    let Location::Database { .. } = location else {
        bail!("keycard db migrate needs --database-url (or KEYCARD_DATABASE_URL)");
    };
    let db = connect(location).await?;
    let before = db.schema_version().await?;
    let after = db.migrate().await?;
    if before == after {
        eprintln!(
            "the schema of {} is up to date (version {after})",
            db.shown()
        );
    } else {
        eprintln!(
            "migrated the schema of {} from version {before} to {after}",
            db.shown()
        );
    }
    Ok(())
}

/// `keycard db migrate`, in a build without PostgreSQL.
#[cfg(not(feature = "postgres"))]
pub async fn migrate(_location: &Location) -> anyhow::Result<()> {
    bail!("keycard db migrate: this keycard was built without PostgreSQL (feature postgres)")
}

/// What `keycard check-config` says of the store: opened read-only, and with a database,
/// reached and its schema compared with this build's (nothing is migrated or written).
pub async fn check(location: &Location) -> anyhow::Result<String> {
    match location {
        Location::File(path) => {
            let users = FileUserStore::open(path).context("cannot load the users file")?;
            FileTokenStore::open(token_store_path(path), Arc::new(SystemClock))
                .context("cannot load the token store")?;
            Ok(format!(
                "the users file {} ({} users)",
                path.display(),
                users.len()
            ))
        }
        #[cfg(feature = "postgres")]
        Location::Database { .. } => {
            use keycard::store::postgres::LATEST_VERSION;
            let db = connect(location).await?;
            let version = db.schema_version().await?;
            if version > LATEST_VERSION {
                bail!(
                    "database: the schema is version {version}, newer than this keycard knows ({LATEST_VERSION}); upgrade keycard"
                );
            }
            let state = if version == LATEST_VERSION {
                format!("schema version {version}, current")
            } else {
                format!("schema version {version}; serve will migrate it to {LATEST_VERSION}")
            };
            Ok(format!(
                "PostgreSQL {} (password [redacted]), {state}",
                db.shown()
            ))
        }
        #[cfg(not(feature = "postgres"))]
        Location::Database { .. } => {
            bail!("--database-url: this keycard was built without PostgreSQL (feature postgres)")
        }
    }
}
