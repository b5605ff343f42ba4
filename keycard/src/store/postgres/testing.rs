//! A throwaway database per test, on the server `KEYCARD_TEST_POSTGRES` names (an admin
//! URL such as `postgres://postgres@127.0.0.1:5432/postgres`). Without the variable the
//! server at that default address is tried, and the test skipped with a message if none
//! answers; with it, a server that does not answer fails the test (CI sets it).

use std::time::Duration;

use tokio_postgres::NoTls;

/// The variable that names the test server, and makes it required.
pub(crate) const VAR: &str = "KEYCARD_TEST_POSTGRES";
const DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database made for one test, dropped with it.
pub(crate) struct TestDb {
    pub(crate) url: String,
    admin: String,
    name: String,
}

fn with_db(admin: &str, db: &str) -> String {
    match admin.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{db}"),
        None => format!("{admin}/{db}"),
    }
}

impl TestDb {
    /// A new empty database, or `None` (with a message) when no server is configured
    /// or answering.
    pub(crate) async fn create(test: &str) -> Option<Self> {
        let (admin, required) = match std::env::var(VAR) {
            Ok(url) if !url.is_empty() => (url, true),
            _ => (DEFAULT.to_owned(), false),
        };
        let connect = tokio::time::timeout(
            Duration::from_secs(3),
            tokio_postgres::connect(&admin, NoTls),
        );
        let (client, connection) = match connect.await {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) if !required => {
                eprintln!(
                    "skipped {test}: no PostgreSQL at {admin} ({e}); set {VAR} to require one"
                );
                return None;
            }
            Err(_) if !required => {
                eprintln!(
                    "skipped {test}: no PostgreSQL at {admin} (timed out); set {VAR} to require one"
                );
                return None;
            }
            Ok(Err(e)) => panic!("{VAR}={admin}: cannot connect: {e}"),
            Err(_) => panic!("{VAR}={admin}: cannot connect: timed out"),
        };
        tokio::spawn(connection);
        let name = format!(
            "keycard_test_{}",
            crate::random::id().to_lowercase().replace('-', "_")
        );
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("cannot create the test database: {e}"));
        Some(Self {
            url: with_db(&admin, &name),
            admin,
            name,
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Its own thread and runtime: Drop cannot await, and may run inside a runtime.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok((client, connection)) = tokio_postgres::connect(&admin, NoTls).await {
                    tokio::spawn(connection);
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}
