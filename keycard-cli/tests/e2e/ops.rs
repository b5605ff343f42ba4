//! Operating Keycard: readiness apart from liveness.

use std::time::Duration;

use crate::harness::{Env, eventually};

#[test]
fn readyz_follows_the_users_file_while_healthz_stays_up() {
    let env = Env::new();
    let server = env.serve(&[]);
    let ready = || server.get("/readyz", None);
    // No users file yet is an empty database: ready.
    let r = ready();
    assert_eq!(
        (r.status, r.json()["status"].as_str()),
        (200, Some("ready"))
    );
    env.add_user("alice", "user", "alice-password");
    assert_eq!(ready().status, 200);

    let good = std::fs::read(env.users_file()).unwrap();
    std::fs::write(env.users_file(), b"{ not json").unwrap();
    let r = ready();
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["error"], "not_ready");
    let said = r.json()["error_description"].as_str().unwrap().to_owned();
    assert_eq!(said, "users: the users file cannot be read");
    assert!(
        !said.contains(env.dir.path().to_str().unwrap()),
        "no path to the prober"
    );
    assert_eq!(server.get("/healthz", None).status, 200, "still alive");

    std::fs::write(env.users_file(), good).unwrap();
    assert!(eventually(Duration::from_secs(3), || ready().status == 200));
    // A directory where the token store should be: not ready either.
    std::fs::create_dir(env.path("users.tokens.json")).unwrap();
    let r = ready();
    assert_eq!(
        (r.status, r.json()["error_description"].as_str()),
        (503, Some("tokens: the token store cannot be read"))
    );
}

#[test]
fn a_verify_only_node_is_ready_once_it_holds_keys_and_fresh_revocations() {
    let env = Env::new();
    crate::harness::generate_key(&env, "EdDSA", "k.pem");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let node = env.serve_with(
        env.cmd(),
        &[
            "--jwks-url",
            &format!("http://{listen}/.well-known/jwks.json"),
            "--jwks-refetch-interval",
            "1s",
            "--revocation-refresh",
            "1s",
            "--revocation-max-stale",
            "3s",
            "--leeway",
            "1s",
        ],
    );
    let r = node.get("/readyz", None);
    assert_eq!(
        (r.status, r.json()["error_description"].as_str()),
        (503, Some("keys: no verification keys from the issuer yet"))
    );
    let issuer = env.serve_with(env.cmd(), &["--signing-key", "k.pem", "--listen", &listen]);
    assert!(eventually(Duration::from_secs(10), || node
        .get("/readyz", None)
        .status
        == 200));
    drop(issuer);
    assert!(eventually(Duration::from_secs(15), || {
        node.get("/readyz", None).json()["error_description"]
            == "revocations: the issuer's revocation feed is stale"
    }));
}

/// The server's stderr, each line parsed as JSON (a line that is not fails the test).
fn json_lines(server: &crate::harness::Server) -> Vec<serde_json::Value> {
    server
        .log()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn audit_events(lines: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    lines
        .iter()
        .filter(|l| l["target"] == "keycard::audit")
        .collect()
}

#[test]
fn json_logs_carry_request_ids_and_audit_events_and_never_a_secret() {
    let env = Env::new();
    env.add_user("alice", "admin", "alice-password");
    let echo = crate::harness::Echo::start();
    let server = env.serve(&[
        "--log-format",
        "json",
        "--refresh-ttl",
        "1h",
        "--upstream",
        &format!("http://{}", echo.addr),
    ]);
    let login = server.post(
        "/token",
        "application/json",
        r#"{"username":"alice","password":"alice-password"}"#,
        "X-Request-Id: login-7\r\n",
    );
    let (access, refresh) = (
        login.json()["access_token"].as_str().unwrap().to_owned(),
        login.json()["refresh_token"].as_str().unwrap().to_owned(),
    );
    assert_eq!(server.login("alice", "wrong-password").status, 401);
    assert_eq!(
        server.login("typed-my-password-here", "x-password").status,
        401
    );
    let r = server.post(
        "/token",
        "application/x-www-form-urlencoded",
        &format!("grant_type=refresh_token&refresh_token={refresh}"),
        "",
    );
    assert_eq!(r.status, 200);
    let fresh = r.json()["access_token"].as_str().unwrap().to_owned();
    let r = server.post(
        "/revoke",
        "application/x-www-form-urlencoded",
        &format!("token={access}"),
        &format!("Authorization: Bearer {fresh}\r\n"),
    );
    assert_eq!(r.status, 200);

    // A request id given is kept, logged and passed to the upstream; one that is not
    // sane is replaced; none given, one is made.
    let r = server.request(
        format!(
            "GET /api/x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {fresh}\r\nX-Request-Id: trace-42\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-request-id"), Some("trace-42"));
    assert_eq!(
        crate::harness::echoed(&r.json(), "x-request-id"),
        Some("trace-42")
    );
    let long = "x".repeat(200);
    let r = server.request(
        format!(
            "GET /healthz HTTP/1.1\r\nHost: a\r\nX-Request-Id: {long}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    let made = r.header("x-request-id").unwrap().to_owned();
    assert!(made != long && (16..=64).contains(&made.len()), "{made}");
    let r = server.get("/healthz", None);
    assert!(r.header("x-request-id").is_some_and(|id| id != made));

    std::thread::sleep(Duration::from_millis(200));
    let lines = json_lines(&server);
    for l in &lines {
        assert!(l["timestamp"].is_string() && l["level"].is_string(), "{l}");
    }
    let events = audit_events(&lines);
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["fields"]["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "login.success",
            "login.failure",
            "login.failure",
            "token.refresh",
            "token.revoke"
        ]
    );
    let success = events[0];
    assert_eq!(success["fields"]["user"], "alice");
    assert_eq!(success["fields"]["client"], "127.0.0.1");
    assert!(success["span"]["request_id"].is_string(), "{success}");
    assert_eq!(
        events[1]["fields"]["user"], "alice",
        "a known user's failure names them"
    );
    assert!(
        events[2]["fields"].get("user").is_none(),
        "an unknown name is not logged"
    );
    assert_eq!(events[4]["fields"]["by"], "alice");
    assert_eq!(
        success["span"]["request_id"], "login-7",
        "the request's lines carry its id"
    );
    assert_eq!(success["span"]["path"], "/token");
    let all = server.log();
    for secret in [
        "alice-password",
        "wrong-password",
        "typed-my-password-here",
        &access,
        &refresh,
        &fresh,
        crate::harness::SECRET,
    ] {
        assert!(!all.contains(secret), "{secret} in the log");
    }
    assert!(!all.contains("$argon2id"), "no hash in the log");
}

#[test]
fn user_changes_are_audit_events_in_json_mode() {
    let env = Env::new();
    let out = env.run(
        &[
            "users",
            "add",
            "carol",
            "--role",
            "ops",
            "--password-stdin",
            "--log-format",
            "json",
        ],
        "carol-password\n",
    );
    assert!(out.status.success());
    let err = crate::harness::stderr(&out);
    let event: serde_json::Value = err
        .lines()
        .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .unwrap_or_else(|| panic!("no JSON line: {err}"));
    assert_eq!(event["target"], "keycard::audit");
    assert_eq!(
        (
            event["fields"]["event"].as_str(),
            event["fields"]["user"].as_str(),
            event["fields"]["role"].as_str()
        ),
        (Some("user.add"), Some("carol"), Some("ops"))
    );
    assert!(!err.contains("carol-password"));
    // Text mode: the one human line only.
    let out = env.run(&["users", "set-role", "carol", "admin"], "");
    assert_eq!(crate::harness::stderr(&out).trim().lines().count(), 1);
    let bad = env.run(&["users", "list", "--log-format", "xml"], "");
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn check_config_refuses_what_serve_refuses_and_prints_no_secret() {
    let env = Env::new();
    env.add_user("alice", "user", "alice-password");
    std::fs::write(
        env.path("keycard.toml"),
        "token_ttl = \"12h\"\n[[rule]]\npath = \"/admin*\"\nroles = [\"admin\"]\n",
    )
    .unwrap();
    let mut cmd = env.cmd();
    cmd.env("AUTHENTICATION_SECRET", crate::harness::SECRET)
        .env("PGPASSWORD", "pg-secret-password")
        .args(["check-config", "--public", "/docs*"]);
    let out = crate::harness::run_cmd(&mut cmd, "");
    let (stdout, stderr) = (crate::harness::stdout(&out), crate::harness::stderr(&out));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("token ttl              12h"), "{stdout}");
    assert!(
        stdout.contains("the users file users.json (1 users)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("/admin") && stdout.contains("/docs"),
        "{stdout}"
    );
    assert!(!stdout.contains(crate::harness::SECRET) && stdout.contains("[redacted]"));
    assert!(stderr.contains("the configuration is valid"));

    // Each mistake: the same one line and exit 2 from both.
    for args in [
        vec!["--listen", "nope"],
        vec!["--token-ttl", "3q"],
        vec!["--public", "/a*b*"],
        vec!["--rate-limit-user", "ten"],
        vec!["--database-url", "postgres://u:p@h/db"],
        vec!["--upstream", "nope"],
    ] {
        let run = |sub: &str| {
            let mut cmd = env.cmd();
            cmd.env("AUTHENTICATION_SECRET", crate::harness::SECRET)
                .arg(sub)
                .args(&args);
            crate::harness::run_cmd(&mut cmd, "")
        };
        let (serve, check) = (run("serve"), run("check-config"));
        assert_eq!(check.status.code(), Some(2), "{args:?}");
        assert_eq!(serve.status.code(), Some(2), "{args:?}");
        let line = |o: &std::process::Output| {
            crate::harness::stderr(o)
                .lines()
                .filter(|l| l.starts_with("keycard: error"))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert_eq!(line(&check), line(&serve), "{args:?}");
        assert_eq!(line(&check).len(), 1, "{args:?}");
    }
}
