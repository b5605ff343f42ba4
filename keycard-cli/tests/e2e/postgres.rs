//! A real PostgreSQL server for the fleet tests: a throwaway database per test, and a TCP
//! proxy in front of the server that a test can cut to take "the database" down and
//! bring it back, without touching the server other tests share.
//!
//! The server is the one `KEYCARD_TEST_POSTGRES` names (an admin URL such as
//! `postgres://postgres@127.0.0.1:5432/postgres`; `.ci/run` sets it, and then a server
//! that does not answer fails the test). Without the variable that default address is
//! tried, and the test skipped with a message if nothing answers.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const VAR: &str = "KEYCARD_TEST_POSTGRES";
const DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Runs `sql` on the database at `url`.
pub fn execute(url: &str, sql: &str) {
    let url = url.to_owned();
    let sql = sql.to_owned();
    block_on(async move {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let driver = tokio::spawn(conn);
        client
            .batch_execute(&sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        drop(client);
        let _ = driver.await;
    });
}

/// A database made for one test, dropped with it.
pub struct TestDb {
    pub url: String,
    admin: String,
    name: String,
}

impl TestDb {
    /// A new empty database, or `None` (with a message) when there is no server and none
    /// is required.
    pub fn create(test: &str) -> Option<TestDb> {
        let (admin, required) = match std::env::var(VAR) {
            Ok(url) if !url.is_empty() => (url, true),
            _ => (DEFAULT.to_owned(), false),
        };
        let reachable = block_on(async {
            tokio::time::timeout(
                Duration::from_secs(3),
                tokio_postgres::connect(&admin, tokio_postgres::NoTls),
            )
            .await
            .map_err(|_| "timed out".to_owned())
            .and_then(|r| r.map(|_| ()).map_err(|e| e.to_string()))
        });
        if let Err(e) = reachable {
            assert!(!required, "{VAR}={admin}: cannot connect: {e}");
            eprintln!("skipped {test}: no PostgreSQL at {admin} ({e}); set {VAR} to require one");
            return None;
        }
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).unwrap();
        let name = format!("keycard_e2e_{}", u64::from_le_bytes(random));
        execute(&admin, &format!("CREATE DATABASE {name}"));
        let url = match admin.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => format!("{admin}/{name}"),
        };
        Some(TestDb { url, admin, name })
    }

    /// The URL of this database reached through `proxy`.
    pub fn via(&self, proxy: &Proxy) -> String {
        let (scheme_user, rest) = self.url.split_once('@').unwrap();
        let (_, db) = rest.split_once('/').unwrap();
        format!("{scheme_user}@{}/{db}", proxy.addr)
    }

    /// The server's address (host:port) from the URL.
    pub fn server(&self) -> String {
        let (_, rest) = self.url.split_once('@').unwrap();
        let host = rest.split('/').next().unwrap();
        if host.contains(':') {
            host.to_owned()
        } else {
            format!("{host}:5432")
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            execute(
                &admin,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            )
        })
        .join();
    }
}

/// A throwaway database, or return from the test (skipped, with a message).
macro_rules! test_db {
    ($name:expr) => {
        match $crate::postgres::TestDb::create($name) {
            Some(db) => db,
            None => return,
        }
    };
}
pub(crate) use test_db;

/// A TCP proxy to the database server: [`cut`](Self::cut) refuses new connections and
/// breaks the open ones, as a database that went down does; [`restore`](Self::restore)
/// brings it back on the same address.
pub struct Proxy {
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    pub fn start(target: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (up2, open2, target) = (up.clone(), open.clone(), target.to_owned());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if !up2.load(Ordering::SeqCst) {
                    // Down: the connection is closed at once, as a refused one would be.
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                {
                    let mut open = open2.lock().unwrap();
                    open.push(client.try_clone().unwrap());
                    open.push(server.try_clone().unwrap());
                }
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16 * 1024];
                        loop {
                            match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    if to.write_all(&buf[..n]).is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                        let _ = from.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Proxy { addr, up, open }
    }

    /// The database goes down: open connections break, new ones are closed at once.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// The database is back.
    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// A PostgreSQL server of the test's own, on a free port, which the test may stop and
/// start: made with the machine's `initdb` and `pg_ctl`, run as the `postgres` user (the
/// server refuses to run as root). `None`, with a message, where those are missing and
/// no server is required.
pub struct OwnServer {
    dir: tempfile::TempDir,
    bin: std::path::PathBuf,
    pub port: u16,
    /// More `-c name=value` server settings.
    settings: String,
}

impl OwnServer {
    pub fn start(test: &str) -> Option<OwnServer> {
        Self::start_with(test, |_| String::new())
    }

    /// A server whose data directory `prepare` may add files to (and `pg_hba.conf`
    /// change in) before it starts, run with the settings it returns (`-c k=v …`).
    pub fn start_with(
        test: &str,
        prepare: impl FnOnce(&std::path::Path) -> String,
    ) -> Option<OwnServer> {
        let required = std::env::var(VAR).is_ok_and(|v| !v.is_empty());
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| {
                versions
                    .filter_map(|v| v.ok().map(|v| v.path().join("bin")))
                    .find(|b| b.join("initdb").exists())
            });
        let Some(bin) = bin else {
            assert!(
                !required,
                "{VAR} is set but no initdb under /usr/lib/postgresql"
            );
            eprintln!("skipped {test}: no initdb under /usr/lib/postgresql");
            return None;
        };
        let Some(uid) = uid_of("postgres") else {
            assert!(
                !required,
                "{VAR} is set but there is no postgres user to run a server as"
            );
            eprintln!("skipped {test}: no postgres user");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::chown(dir.path(), Some(uid), None).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = OwnServer {
            dir,
            bin,
            port,
            settings: String::new(),
        };
        server.pg(&[
            "initdb",
            "-D",
            "data",
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        ]);
        server.settings = prepare(&server.dir.path().join("data"));
        chown_all(&server.dir.path().join("data"), uid);
        server.up();
        Some(server)
    }

    /// Runs the server's `tool` with `args` as the postgres user, in its directory.
    fn as_postgres(&self, tool: &str, args: &[&str]) -> std::process::Output {
        std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join(tool))
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap()
    }

    fn pg(&self, args: &[&str]) {
        let (tool, rest) = args.split_first().unwrap();
        let out = self.as_postgres(tool, rest);
        assert!(
            out.status.success(),
            "{tool} {rest:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts the server and waits until it accepts connections.
    pub fn up(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off {}",
            self.port,
            self.dir.path().display(),
            self.settings
        );
        self.pg(&[
            "pg_ctl", "-D", "data", "-o", &options, "-l", "log", "-w", "start",
        ]);
    }

    /// Re-reads its configuration files (and its TLS certificate).
    pub fn reload(&self) {
        self.pg(&["pg_ctl", "-D", "data", "reload"]);
    }

    /// Runs `sql` with psql as the postgres user over the server's Unix socket; its output.
    pub fn psql(&self, sql: &str) -> String {
        let socket_dir = self.dir.path().display().to_string();
        let port = self.port.to_string();
        let out = self.as_postgres(
            "psql",
            &[
                "-h",
                &socket_dir,
                "-p",
                &port,
                "-U",
                "postgres",
                "-At",
                "-c",
                sql,
            ],
        );
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Stops it: open connections are ended by the server, new ones refused.
    pub fn down(&self) {
        self.pg(&["pg_ctl", "-D", "data", "-m", "fast", "-w", "stop"]);
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", "data", "-m", "immediate", "stop"])
            .current_dir(self.dir.path())
            .output();
    }
}

/// Gives `dir` and what is in it to `uid` (files the test wrote as itself).
fn chown_all(dir: &std::path::Path, uid: u32) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        std::os::unix::fs::chown(&path, Some(uid), None).unwrap();
    }
}

/// The uid of `user`, from /etc/passwd.
fn uid_of(user: &str) -> Option<u32> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == user).then(|| f.nth(1)?.parse().ok())?
    })
}
