//! The fleet: several `keycard serve` issuers on one PostgreSQL database and one signing
//! key, and verify-only nodes that learn revocations from the issuers' signed feed. Every
//! process is the real binary; the database is a real server (see `postgres.rs`).

use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{Env, Server, eventually, stderr};
use crate::postgres::{OwnServer, Proxy, TestDb, execute, test_db};

/// One signing key and one database, shared by every process of a test.
struct Fleet {
    env: Env,
    db: TestDb,
}

impl Fleet {
    fn new(db: TestDb) -> Fleet {
        let env = Env::new();
        crate::harness::generate_key(&env, "EdDSA", "k.pem");
        Fleet { env, db }
    }

    /// The binary with the database configured (through the environment: a URL on the
    /// command line may not hold a password, and this one holds none, but the
    /// environment is what a deployment uses).
    fn cmd(&self) -> Command {
        let mut cmd = self.env.cmd();
        cmd.env("KEYCARD_DATABASE_URL", &self.db.url);
        cmd
    }

    fn run(&self, args: &[&str], stdin: &str) -> std::process::Output {
        crate::harness::run_cmd(self.cmd().args(args), stdin)
    }

    fn add_user(&self, name: &str, role: &str, password: &str) {
        let out = self.run(
            &["users", "add", name, "--role", role, "--password-stdin"],
            &format!("{password}\n"),
        );
        assert!(out.status.success(), "{}", stderr(&out));
    }

    /// An issuer on the database, signing with the shared key.
    fn issuer(&self, extra: &[&str]) -> Server {
        let mut args = vec!["--signing-key", "k.pem"];
        args.extend_from_slice(extra);
        self.env.serve_with(self.cmd(), &args)
    }

    /// A verify-only node trusting `issuer`'s JWKS, with no database settings at all.
    fn node(&self, issuer: &Server, extra: &[&str]) -> Server {
        let url = format!("http://{}/.well-known/jwks.json", issuer.addr);
        let mut args = vec!["--jwks-url", url.as_str()];
        args.extend_from_slice(extra);
        self.env.serve_with(self.env.cmd(), &args)
    }
}

/// `POST /revoke` of `token` by its own holder.
fn revoke(server: &Server, token: &str) -> crate::harness::Response {
    server.post(
        "/revoke",
        "application/x-www-form-urlencoded",
        &format!("token={token}"),
        &format!("Authorization: Bearer {token}\r\n"),
    )
}

/// [`revoke`] to an address that may die mid-request: the status, or `None` if the
/// connection broke before a whole response head came back.
fn try_revoke(addr: std::net::SocketAddr, token: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let body = format!("token={token}");
    let head = format!(
        "POST /revoke HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    if !text.contains("\r\n\r\n") {
        return None;
    }
    text.split(' ').nth(1)?.parse().ok()
}

fn status(server: &Server, token: &str) -> u16 {
    server.get("/me", Some(token)).status
}

/// How long until `token` is refused on `server`, polled every 20 ms, up to `limit`.
fn refused_within(server: &Server, token: &str, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if status(server, token) == 401 {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn two_issuers_and_two_nodes_on_one_database_behave_as_one() {
    let fleet = Fleet::new(test_db!(
        "two_issuers_and_two_nodes_on_one_database_behave_as_one"
    ));
    fleet.add_user("alice", "admin", "alice-password");
    fleet.add_user("bob", "user", "bob-password");
    let a = fleet.issuer(&[]);
    let b = fleet.issuer(&[]);
    assert!(a.log().contains("2 users"), "{}", a.log());
    // One node polls every second; the other runs with the defaults (5 s).
    let n1 = fleet.node(&a, &["--revocation-refresh", "1s"]);
    let n2 = fleet.node(&b, &[]);
    assert!(n2.log().contains("revocations from"), "{}", n2.log());

    // A token from either issuer verifies everywhere.
    let from_a = a.token("alice", "alice-password");
    let from_b = b.token("bob", "bob-password");
    for server in [&a, &b, &n1, &n2] {
        assert_eq!(status(server, &from_a), 200);
        assert_eq!(status(server, &from_b), 200);
    }

    // A logout on B of a token issued by A: refused on A within 2 s (NOTIFY), on the
    // nodes within 15 s (the feed, with the defaults on n2).
    let r = revoke(&b, &from_a);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(status(&b, &from_a), 401, "at once where it was made");
    let on_a = refused_within(&a, &from_a, Duration::from_secs(2));
    let on_n1 = refused_within(&n1, &from_a, Duration::from_secs(15));
    let on_n2 = refused_within(&n2, &from_a, Duration::from_secs(15));
    eprintln!(
        "revocation seen by the peer issuer in {on_a:?}, by the nodes in {on_n1:?} / {on_n2:?}"
    );
    assert!(on_a.is_some() && on_n1.is_some() && on_n2.is_some());
    // Bob's token is untouched.
    for server in [&a, &b, &n1, &n2] {
        assert_eq!(status(server, &from_b), 200);
    }

    // A CLI change holds for logins on both issuers the moment the command returns.
    let out = fleet.run(&["users", "set-role", "bob", "auditor"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    for issuer in [&a, &b] {
        let token = issuer.token("bob", "bob-password");
        assert_eq!(crate::harness::claims(&token)["role"], "auditor");
    }
    // ...and bob's earlier token (role "user") is refused on both within 2 s.
    for issuer in [&a, &b] {
        assert!(refused_within(issuer, &from_b, Duration::from_secs(2)).is_some());
    }
    let out = fleet.run(
        &["users", "passwd", "bob", "--password-stdin"],
        "new-bob-password\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    for issuer in [&a, &b] {
        assert_eq!(issuer.login("bob", "bob-password").status, 401);
        assert_eq!(issuer.login("bob", "new-bob-password").status, 200);
    }
    let out = fleet.run(&["users", "remove", "bob"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    for issuer in [&a, &b] {
        assert_eq!(issuer.login("bob", "new-bob-password").status, 401);
    }

    // A revoke-all on the CLI reaches every node too.
    let alice = b.token("alice", "alice-password");
    assert_eq!(status(&n2, &alice), 200);
    let out = fleet.run(&["users", "revoke-all", "alice"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    for server in [&a, &b] {
        assert!(refused_within(server, &alice, Duration::from_secs(2)).is_some());
    }
    for node in [&n1, &n2] {
        assert!(refused_within(node, &alice, Duration::from_secs(15)).is_some());
    }
    // A login right after it works in full, on either issuer.
    let fresh = a.token("alice", "alice-password");
    for server in [&a, &b, &n1, &n2] {
        assert_eq!(status(server, &fresh), 200);
    }
}

#[test]
fn two_concurrent_refreshes_of_one_token_on_two_issuers() {
    let fleet = Fleet::new(test_db!(
        "two_concurrent_refreshes_of_one_token_on_two_issuers"
    ));
    fleet.add_user("alice", "user", "alice-password");
    let a = fleet.issuer(&["--refresh-ttl", "1h"]);
    let b = fleet.issuer(&["--refresh-ttl", "1h"]);
    for round in 0..10 {
        let login = a.login("alice", "alice-password");
        assert_eq!(login.status, 200);
        let refresh = login.json()["refresh_token"].as_str().unwrap().to_owned();
        let body = format!("grant_type=refresh_token&refresh_token={refresh}");
        let (ra, rb) = std::thread::scope(|s| {
            let ta = s.spawn(|| a.post("/token", "application/x-www-form-urlencoded", &body, ""));
            let tb = s.spawn(|| b.post("/token", "application/x-www-form-urlencoded", &body, ""));
            (ta.join().unwrap(), tb.join().unwrap())
        });
        let mut statuses = [ra.status, rb.status];
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [200, 400],
            "round {round}: {} / {}",
            ra.text(),
            rb.text()
        );
        // The reuse ended the session: the winner's tokens die with it, on both.
        let winner = if ra.status == 200 { ra } else { rb };
        let access = winner.json()["access_token"].as_str().unwrap().to_owned();
        for issuer in [&a, &b] {
            assert!(refused_within(issuer, &access, Duration::from_secs(2)).is_some());
        }
        let next = winner.json()["refresh_token"].as_str().unwrap().to_owned();
        let again = b.post(
            "/token",
            "application/x-www-form-urlencoded",
            &format!("grant_type=refresh_token&refresh_token={next}"),
            "",
        );
        assert_eq!(again.status, 400, "{}", again.text());
    }
}

#[test]
fn the_database_down_and_back_under_load() {
    let db = test_db!("the_database_down_and_back_under_load");
    let proxy = Proxy::start(&db.server());
    let fleet = Fleet::new(db);
    fleet.add_user("alice", "user", "alice-password");
    let mut cmd = fleet.env.cmd();
    cmd.env("KEYCARD_DATABASE_URL", fleet.db.via(&proxy));
    let issuer = fleet
        .env
        .serve_with(cmd, &["--signing-key", "k.pem", "--rate-limit-user", "0"]);
    let kept = issuer.token("alice", "alice-password");
    let revoked = issuer.token("alice", "alice-password");
    let r = revoke(&issuer, &revoked);
    assert_eq!(r.status, 200);

    // Verification under load all through the outage: never a 5xx, never a hang.
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let load = s.spawn(|| {
            let mut answered = 0u32;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let started = Instant::now();
                assert_eq!(
                    status(&issuer, &kept),
                    200,
                    "a valid token, database or not"
                );
                assert_eq!(
                    status(&issuer, &revoked),
                    401,
                    "the last known revocations hold"
                );
                assert!(started.elapsed() < Duration::from_secs(2));
                answered += 2;
            }
            answered
        });

        proxy.cut();
        let started = Instant::now();
        let r = issuer.login("alice", "alice-password");
        let took = started.elapsed();
        assert_eq!(r.status, 503, "{}", r.text());
        assert_eq!(r.json()["error"], "temporarily_unavailable");
        assert!(r.header("retry-after").is_some());
        assert!(took < Duration::from_secs(5), "answered in {took:?}");
        let r = revoke(&issuer, &kept);
        assert_eq!(r.status, 503, "{}", r.text());
        std::thread::sleep(Duration::from_secs(2));

        proxy.restore();
        assert!(
            eventually(Duration::from_secs(15), || issuer
                .login("alice", "alice-password")
                .status
                == 200),
            "service came back by itself: {}",
            issuer.log()
        );
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let answered = load.join().unwrap();
        eprintln!("{answered} verifications answered through the outage; login back after it");
    });
    // And the revocations: one made now reaches it as before.
    let r = revoke(&issuer, &kept);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(status(&issuer, &kept), 401);
}

#[test]
fn an_issuer_killed_during_a_write_storm_loses_no_acknowledged_change() {
    let fleet = Fleet::new(test_db!(
        "an_issuer_killed_during_a_write_storm_loses_no_acknowledged_change"
    ));
    fleet.add_user("alice", "user", "alice-password");
    let limits = ["--rate-limit-user", "0", "--rate-limit-ip", "0"];
    let issuer = fleet.issuer(&limits);
    let tokens: Vec<String> = (0..400)
        .map(|_| issuer.token("alice", "alice-password"))
        .collect();
    let pid = issuer.pid();
    let acknowledged = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for chunk in tokens.chunks(100) {
            let (addr, acknowledged) = (issuer.addr, &acknowledged);
            s.spawn(move || {
                for token in chunk {
                    match try_revoke(addr, token) {
                        Some(200) => acknowledged.lock().unwrap().push(token.clone()),
                        Some(other) => panic!("revocation answered {other}"),
                        None => break, // killed
                    }
                }
            });
        }
        // Killed in the middle: once a sixth of the writes were acknowledged.
        while acknowledged.lock().unwrap().len() < tokens.len() / 6 {
            std::thread::sleep(Duration::from_millis(1));
        }
        crate::harness::signal(pid, "KILL");
    });
    drop(issuer);
    let acknowledged = acknowledged.into_inner().unwrap();
    eprintln!(
        "{} of {} revocations acknowledged before kill -9",
        acknowledged.len(),
        tokens.len()
    );
    assert!(
        acknowledged.len() < tokens.len(),
        "killed in the middle of the storm"
    );
    let restarted = fleet.issuer(&limits);
    let node = fleet.node(&restarted, &[]);
    for token in &acknowledged {
        assert_eq!(
            status(&restarted, token),
            401,
            "an acknowledged revocation was lost"
        );
        assert_eq!(status(&node, token), 401);
    }
}

#[test]
fn bad_database_settings_are_one_line_and_exit_2() {
    let fleet = Fleet::new(test_db!("bad_database_settings_are_one_line_and_exit_2"));
    let server = fleet.db.server();
    let cases: Vec<(String, &str)> = vec![
        ("postgres://x@y:notaport/z".to_owned(), "malformed"),
        (
            "postgres://postgres@127.0.0.1:1/keycard".to_owned(),
            "Connection refused",
        ),
        (
            format!("postgres://postgres@{server}/no_such_database"),
            "does not exist",
        ),
        (
            format!("postgres://no_such_role@{server}/postgres"),
            "no_such_role",
        ),
    ];
    for (url, says) in &cases {
        for args in [
            vec!["serve", "--signing-key", "k.pem"],
            vec!["users", "list"],
        ] {
            let started = Instant::now();
            let mut cmd = fleet.env.cmd();
            cmd.env("KEYCARD_DATABASE_URL", url).args(&args);
            let out = crate::harness::run_cmd(&mut cmd, "");
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{url} {args:?}: {err}");
            assert_eq!(err.trim().lines().count(), 1, "{err}");
            assert!(err.contains(says), "{url}: {err}");
            assert!(started.elapsed() < Duration::from_secs(10));
        }
    }
    // A password on the command line is refused before anything connects.
    let out = fleet.env.run(
        &[
            "users",
            "list",
            "--database-url",
            "postgres://postgres:s3cret@127.0.0.1/x",
        ],
        "",
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("must not hold the password") && !err.contains("s3cret"),
        "{err}"
    );

    // A schema from a newer keycard.
    let out = fleet.run(&["db", "migrate"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("to 1"), "{}", stderr(&out));
    let out = fleet.run(&["db", "migrate"], "");
    assert!(stderr(&out).contains("up to date"), "{}", stderr(&out));
    execute(
        &fleet.db.url,
        "INSERT INTO keycard.schema_version (version) VALUES (42)",
    );
    for args in [
        &["serve", "--signing-key", "k.pem"][..],
        &["users", "list"],
        &["db", "migrate"],
    ] {
        let out = fleet.run(args, "");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("version 42, newer"), "{err}");
    }
}

#[test]
fn users_move_between_the_file_and_the_database_with_their_hashes() {
    let fleet = Fleet::new(test_db!(
        "users_move_between_the_file_and_the_database_with_their_hashes"
    ));
    // An Express-era file: a bare array with a bcrypt hash.
    let express = r#"[{"username":"carol","role":"admin","passwordHash":"$2b$04$9kGkYzQ5Z3yBjv1VQW2rCOvvJ1m0yOe0r5oD8C5o1l3JcV0QpB3yW"}]"#;
    std::fs::write(fleet.env.path("express.json"), express).unwrap();
    fleet.env.add_user("alice", "admin", "alice-password");
    let out = fleet.run(&["users", "import", "users.json"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("1 added"), "{}", stderr(&out));
    let out = fleet.run(&["users", "import", "express.json"], "");
    assert!(stderr(&out).contains("1 added"), "{}", stderr(&out));
    // Idempotent.
    for file in ["users.json", "express.json"] {
        let out = fleet.run(&["users", "import", file], "");
        assert!(
            stderr(&out).contains("0 added, 0 replaced, 1 unchanged"),
            "{}",
            stderr(&out)
        );
    }
    // Exported, it is a users file with the hashes as they were.
    let out = fleet.run(&["users", "export"], "");
    assert!(out.status.success());
    let exported: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fleet.env.users_file()).unwrap()).unwrap();
    assert_eq!(
        exported["users"][0], file["users"][0],
        "alice as the file has her"
    );
    assert_eq!(exported["users"][1]["name"], "carol");
    assert!(
        exported["users"][1]["password_hash"]
            .as_str()
            .unwrap()
            .starts_with("$2b$04$")
    );
    // A login works on the database with the imported Argon2id hash.
    let issuer = fleet.issuer(&[]);
    assert_eq!(issuer.login("alice", "alice-password").status, 200);
    // Back into a file: the export is a users file the file store reads.
    std::fs::write(fleet.env.path("back.json"), &out.stdout).unwrap();
    let listed = fleet
        .env
        .run(&["users", "list", "--users", "back.json"], "");
    assert!(crate::harness::stdout(&listed).contains("carol\tadmin"));
    // A malformed file writes nothing.
    std::fs::write(
        fleet.env.path("bad.json"),
        r#"[{"username":"x y","role":"r","passwordHash":"h"}]"#,
    )
    .unwrap();
    let out = fleet.run(&["users", "import", "bad.json"], "");
    assert!(!out.status.success());
    assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", stderr(&out));
}

#[test]
fn a_node_follows_a_file_store_issuers_feed_and_fails_closed_when_it_goes_quiet() {
    let env = Env::new();
    crate::harness::generate_key(&env, "EdDSA", "k.pem");
    env.add_user("alice", "user", "alice-password");
    let issuer = env.serve_with(env.cmd(), &["--signing-key", "k.pem"]);
    let listen = issuer.addr.to_string();
    let url = format!("http://{listen}/.well-known/jwks.json");
    let node = env.serve_with(
        env.cmd(),
        &[
            "--jwks-url",
            &url,
            "--revocation-refresh",
            "1s",
            "--revocation-max-stale",
            "3s",
            "--leeway",
            "1s",
        ],
    );
    let revoked = issuer.token("alice", "alice-password");
    let kept = issuer.token("alice", "alice-password");
    assert_eq!(status(&node, &revoked), 200);

    // Revoked from the CLI, in the token file: the issuer reloads it, the feed carries it.
    let c = crate::harness::claims(&revoked);
    let (jti, exp) = (
        c["jti"].as_str().unwrap(),
        c["exp"].as_u64().unwrap().to_string(),
    );
    let out = env.run(&["tokens", "revoke", "--jti", jti, "--until", &exp], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let took = refused_within(&node, &revoked, Duration::from_secs(15));
    eprintln!("a CLI revocation reached the node in {took:?}");
    assert!(took.is_some());
    assert_eq!(status(&node, &kept), 200);

    // The issuer goes away: the last list holds for a while, then every token is
    // refused (fail closed), and the node says so.
    drop(issuer);
    assert_eq!(status(&node, &kept), 200, "within the bound");
    assert!(eventually(Duration::from_secs(15), || status(&node, &kept) == 401));
    assert!(
        eventually(Duration::from_secs(3), || node
            .log()
            .contains("revocation feed stale")),
        "{}",
        node.log()
    );
    // Back on the same address: accepted again, without a restart of the node.
    let _issuer = env.serve_with(env.cmd(), &["--signing-key", "k.pem", "--listen", &listen]);
    assert!(eventually(Duration::from_secs(15), || status(&node, &kept) == 200));
    assert_eq!(
        status(&node, &revoked),
        401,
        "and the revocation still holds"
    );
    assert!(
        eventually(Duration::from_secs(3), || node
            .log()
            .contains("fresh again")),
        "{}",
        node.log()
    );
}

#[test]
fn a_verify_only_node_refuses_a_bad_feed_setting_at_start() {
    let env = Env::new();
    for (args, says) in [
        (
            vec![
                "--jwks-url",
                "http://127.0.0.1:9/.well-known/jwks.json",
                "--revocation-feed",
                "ftp://x/",
            ],
            "http://",
        ),
        (
            vec![
                "--jwks-url",
                "http://127.0.0.1:9/.well-known/jwks.json",
                "--revocation-refresh",
                "5s",
                "--revocation-max-stale",
                "6s",
            ],
            "at least twice",
        ),
        (
            vec![
                "--jwks-url",
                "http://127.0.0.1:9/.well-known/jwks.json",
                "--revocation-refresh",
                "0s",
            ],
            "at least 1s",
        ),
    ] {
        let mut all = vec!["serve"];
        all.extend(args);
        let out = env.run(&all, "");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(says), "{err}");
    }
}

#[test]
fn the_failed_login_limit_holds_however_the_guesses_are_spread() {
    let fleet = Fleet::new(test_db!(
        "the_failed_login_limit_holds_however_the_guesses_are_spread"
    ));
    fleet.add_user("alice", "user", "alice-password");
    let a = fleet.issuer(&["--rate-limit-user", "4/m"]);
    let b = fleet.issuer(&["--rate-limit-user", "4/m"]);
    let statuses: Vec<u16> = [&a, &b, &a, &b, &a, &b]
        .iter()
        .map(|issuer| issuer.login("alice", "wrong-password").status)
        .collect();
    assert_eq!(statuses, [401, 401, 401, 401, 429, 429]);
    let r = b.login("alice", "wrong-password");
    assert!(r.header("retry-after").is_some(), "{}", r.text());
    // Another name is its own bucket.
    fleet.add_user("bob", "user", "bob-password");
    assert_eq!(a.login("bob", "bob-password").status, 200);
}

#[test]
fn the_database_server_stopped_and_started_under_load() {
    let Some(server) = OwnServer::start("the_database_server_stopped_and_started_under_load")
    else {
        return;
    };
    let env = Env::new();
    crate::harness::generate_key(&env, "EdDSA", "k.pem");
    let with_db = || {
        let mut cmd = env.cmd();
        cmd.env("KEYCARD_DATABASE_URL", server.url());
        cmd
    };
    let out = crate::harness::run_cmd(
        with_db().args(["users", "add", "alice", "--password-stdin"]),
        "alice-password\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let issuer = env.serve_with(
        with_db(),
        &["--signing-key", "k.pem", "--rate-limit-user", "0"],
    );
    let node = env.serve_with(
        env.cmd(),
        &[
            "--jwks-url",
            &format!("http://{}/.well-known/jwks.json", issuer.addr),
        ],
    );
    let kept = issuer.token("alice", "alice-password");
    let revoked = issuer.token("alice", "alice-password");
    assert_eq!(revoke(&issuer, &revoked).status, 200);
    assert!(refused_within(&node, &revoked, Duration::from_secs(15)).is_some());

    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let load = s.spawn(|| {
            let mut answered = 0u32;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                for server in [&issuer, &node] {
                    assert_eq!(status(server, &kept), 200);
                    assert_eq!(status(server, &revoked), 401);
                    answered += 2;
                }
            }
            answered
        });
        server.down();
        let started = Instant::now();
        let r = issuer.login("alice", "alice-password");
        assert_eq!(
            (r.status, r.json()["error"].as_str()),
            (503, Some("temporarily_unavailable"))
        );
        assert!(r.header("retry-after").is_some());
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(revoke(&issuer, &kept).status, 503);
        let r = issuer.get("/readyz", None);
        assert_eq!(
            (r.status, r.json()["error_description"].as_str()),
            (503, Some("database: the database does not answer"))
        );
        assert_eq!(issuer.get("/healthz", None).status, 200);
        std::thread::sleep(Duration::from_secs(2));
        server.up();
        assert!(
            eventually(Duration::from_secs(20), || issuer
                .login("alice", "alice-password")
                .status
                == 200),
            "back by itself: {}",
            issuer.log()
        );
        assert_eq!(issuer.get("/readyz", None).status, 200, "ready again");
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        eprintln!(
            "{} verifications answered while the server stopped and started",
            load.join().unwrap()
        );
    });
    // The issuer listens again: a revocation now reaches the node as before.
    assert_eq!(revoke(&issuer, &kept).status, 200);
    assert!(refused_within(&node, &kept, Duration::from_secs(15)).is_some());
    assert!(
        eventually(Duration::from_secs(15), || issuer
            .log()
            .contains("database is back")),
        "{}",
        issuer.log()
    );
}

#[test]
fn a_node_started_before_its_issuer_serves_once_the_issuer_is_up() {
    let env = Env::new();
    crate::harness::generate_key(&env, "EdDSA", "k.pem");
    env.add_user("alice", "user", "alice-password");
    let port = crate::harness::free_port();
    let listen = format!("127.0.0.1:{port}");
    let url = format!("http://{listen}/.well-known/jwks.json");
    let node = env.serve_with(
        env.cmd(),
        &[
            "--jwks-url",
            &url,
            "--jwks-refetch-interval",
            "1s",
            "--revocation-refresh",
            "1s",
        ],
    );
    assert!(node.log().contains("no keys yet"), "{}", node.log());
    let issuer = env.serve_with(env.cmd(), &["--signing-key", "k.pem", "--listen", &listen]);
    let token = issuer.token("alice", "alice-password");
    // Neither a token nor a request is needed to find the keys: the refresher retries
    // every refetch interval while it holds none.
    assert!(
        eventually(Duration::from_secs(5), || node
            .log()
            .contains("JWKS refreshed")),
        "{}",
        node.log()
    );
    assert!(
        eventually(Duration::from_secs(5), || status(&node, &token) == 200),
        "{}",
        node.log()
    );
}
