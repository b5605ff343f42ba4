//! Operating Keycard: readiness apart from liveness.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Env, Response, Server, eventually, required, run_cmd, stderr, stdout};

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
    let port = crate::harness::free_port();
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

/// A scrape parsed by the Prometheus project's own Python parser (`prometheus_client`):
/// every sample as (name, labels, value). `None` where Python or the package is missing,
/// which fails under CI (`.ci/run` installs it).
fn parse_scrape(text: &str, openmetrics: bool) -> Option<Vec<(String, Value, f64)>> {
    let parser = if openmetrics {
        "from prometheus_client.openmetrics.parser import text_string_to_metric_families"
    } else {
        "from prometheus_client.parser import text_string_to_metric_families"
    };
    let script = format!(
        "import json, sys\n{parser}\n\
         out = [[s.name, s.labels, s.value] for f in text_string_to_metric_families(sys.stdin.read()) for s in f.samples]\n\
         print(json.dumps(out))\n"
    );
    if !crate::harness::python_has("prometheus_client") {
        return required("Python's prometheus_client");
    }
    let out = run_cmd(Command::new("python3").args(["-c", &script]), text);
    assert!(
        out.status.success(),
        "the Prometheus parser refused the scrape: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples: Vec<(String, Value, f64)> = serde_json::from_slice(&out.stdout).unwrap();
    Some(samples)
}

/// The value of the sample `name` whose labels include every one of `labels` (0 if none).
fn sample(samples: &[(String, Value, f64)], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l[*k] == *v))
        .map(|(_, _, v)| v)
        .sum()
}

/// The metrics listener's address, from the start-up line.
fn metrics_addr(server: &Server) -> SocketAddr {
    let log = server.log();
    let rest = log
        .split("metrics on http://")
        .nth(1)
        .expect("the start-up line names the metrics listener");
    rest.split('/').next().unwrap().parse().unwrap()
}

fn scrape(addr: SocketAddr, accept: &str) -> Response {
    crate::harness::request(
        addr,
        format!(
            "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
}

#[test]
fn metrics_count_logins_refusals_and_revocations_in_a_scrape_prometheus_parses() {
    let env = Env::new();
    env.add_user("alice", "user", "alice-password");
    let server = env.serve(&["--metrics-listen", "127.0.0.1:0"]);
    let metrics = metrics_addr(&server);
    assert_ne!(metrics, server.addr);
    let before = scrape(metrics, "text/plain");
    assert_eq!(before.status, 200);
    assert!(
        before
            .header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "{:?}",
        before.header("content-type")
    );
    let Some(before) = parse_scrape(&before.text(), false) else {
        return;
    };

    let token = server.token("alice", "alice-password");
    assert_eq!(server.login("alice", "wrong-password").status, 401);
    assert_eq!(server.login("nobody", "whatever-password").status, 401);
    assert_eq!(server.get("/me", Some(&token)).status, 200);
    assert_eq!(server.get("/me", Some("x.y.z")).status, 401);
    let (h, p, s) = {
        let mut parts = token.split('.');
        (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        )
    };
    let flipped = if s.starts_with('A') { "B" } else { "A" };
    let forged = format!("{h}.{p}.{flipped}{}", &s[1..]);
    assert_eq!(server.get("/me", Some(&forged)).status, 401);
    let r = server.post(
        "/revoke",
        "application/x-www-form-urlencoded",
        &format!("token={token}"),
        &format!("Authorization: Bearer {token}\r\n"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(server.get("/me", Some(&token)).status, 401, "revoked");

    let text = scrape(metrics, "text/plain").text();
    let after = parse_scrape(&text, false).unwrap();
    let moved = |name: &str, labels: &[(&str, &str)]| {
        sample(&after, name, labels) - sample(&before, name, labels)
    };
    let logins = "keycard_logins_total";
    assert_eq!(moved(logins, &[("outcome", "success")]), 1.0);
    assert_eq!(moved(logins, &[("outcome", "invalid_grant")]), 2.0);
    let verified = "keycard_token_verifications_total";
    assert_eq!(moved(verified, &[("reason", "malformed")]), 1.0);
    assert_eq!(moved(verified, &[("reason", "bad_signature")]), 1.0);
    assert_eq!(moved(verified, &[("reason", "revoked")]), 1.0);
    // /me once, and /revoke's own check of the bearer.
    assert_eq!(moved(verified, &[("outcome", "valid")]), 2.0);
    assert_eq!(
        moved("keycard_revocations_total", &[("kind", "access")]),
        1.0
    );
    let requests = "keycard_http_request_duration_seconds_count";
    assert_eq!(
        moved(requests, &[("route", "token"), ("status", "2xx")]),
        1.0
    );
    assert_eq!(
        moved(requests, &[("route", "token"), ("status", "4xx")]),
        2.0
    );
    assert_eq!(moved(requests, &[("route", "me"), ("status", "4xx")]), 3.0);
    assert_eq!(
        sample(&after, "keycard_password_hash_queue_depth", &[]),
        0.0
    );
    assert_eq!(sample(&after, "keycard_build_info", &[]), 1.0);
    assert!(sample(&after, "process_resident_memory_bytes", &[]) > 1e6);
    assert!(sample(&after, "process_open_fds", &[]) >= 3.0);

    // Bounded labels: no username, token, path or address in any of them.
    for (name, labels, _) in &after {
        for (key, value) in labels.as_object().unwrap() {
            let value = value.as_str().unwrap();
            for secret in ["alice", "nobody", token.as_str(), "/", "127.0.0.1"] {
                assert!(
                    !value.contains(secret) || key == "le",
                    "{name}{{{key}={value:?}}} carries {secret:?}"
                );
            }
        }
    }
    assert!(!text.contains(&token));

    // OpenMetrics when asked, as Prometheus asks; parsed by its strict parser.
    let om = scrape(
        metrics,
        "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
    );
    assert!(
        om.header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    assert!(om.text().ends_with("# EOF\n"));
    parse_scrape(&om.text(), true).unwrap();

    // Never on the public listener: there /metrics is a protected path like any other.
    assert_eq!(server.get("/metrics", None).status, 401);
    let other = crate::harness::request(
        metrics,
        b"GET /me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!((other.status, other.error()), (404, "not_found".to_owned()));
}

#[test]
fn metrics_are_off_by_default_and_never_share_the_public_listener() {
    let env = Env::new();
    let server = env.serve(&[]);
    assert!(!server.log().contains("metrics on"), "{}", server.log());

    let serve = |args: &[&str]| {
        let mut cmd = env.cmd();
        cmd.env("AUTHENTICATION_SECRET", crate::harness::SECRET)
            .arg("serve")
            .args(args);
        run_cmd(&mut cmd, "")
    };
    let out = serve(&[
        "--listen",
        "127.0.0.1:18931",
        "--metrics-listen",
        "127.0.0.1:18931",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--metrics-listen"), "{err}");
    let out = serve(&["--metrics-listen", "localhost"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not an address"), "{}", stderr(&out));
    // The variable and the config file key name the same setting.
    let out = run_cmd(
        env.cmd()
            .env("AUTHENTICATION_SECRET", crate::harness::SECRET)
            .arg("check-config")
            .env("KEYCARD_METRICS_LISTEN", "127.0.0.1:9464"),
        "",
    );
    assert!(stdout(&out).contains("metrics_listen"), "{}", stdout(&out));
    assert!(stdout(&out).contains("127.0.0.1:9464"), "{}", stdout(&out));
}

#[test]
fn a_verify_only_gateway_reports_its_keys_feed_and_upstream() {
    let env = Env::new();
    env.add_user("alice", "user", "alice-password");
    crate::harness::generate_key(&env, "ES256", "k.pem");
    let issuer = env.serve_with(env.cmd(), &["--signing-key", "k.pem"]);
    let echo = crate::harness::Echo::start();
    let node = env.serve_with(
        env.cmd(),
        &[
            "--jwks-url",
            &format!("http://{}/.well-known/jwks.json", issuer.addr),
            "--revocation-refresh",
            "1s",
            "--upstream",
            &format!("http://{}", echo.addr),
            "--metrics-listen",
            "127.0.0.1:0",
        ],
    );
    let metrics = metrics_addr(&node);
    let token = issuer.token("alice", "alice-password");
    assert_eq!(node.get("/orders/7", Some(&token)).status, 200);
    assert_eq!(node.get("/orders/7", None).status, 401, "never forwarded");
    let Some(after) = parse_scrape(&scrape(metrics, "text/plain").text(), false) else {
        return;
    };
    let value = |name: &str, labels: &[(&str, &str)]| sample(&after, name, labels);
    assert_eq!(
        value("keycard_jwks_refreshes_total", &[("outcome", "success")]),
        1.0,
        "the start-up fetch"
    );
    assert!(
        value(
            "keycard_revocation_feed_refreshes_total",
            &[("outcome", "updated")]
        ) >= 1.0
    );
    assert!(
        after
            .iter()
            .any(|(n, _, _)| n == "keycard_jwks_age_seconds")
    );
    let feed_age = after
        .iter()
        .find(|(n, _, _)| n == "keycard_revocation_feed_age_seconds")
        .map(|(_, _, v)| *v)
        .expect("the feed's age once a document is held");
    assert!((0.0..120.0).contains(&feed_age), "{feed_age}");
    assert_eq!(
        value("keycard_upstream_responses_total", &[("class", "2xx")]),
        1.0
    );
    assert_eq!(value("keycard_upstream_duration_seconds_count", &[]), 1.0);
    let requests = "keycard_http_request_duration_seconds_count";
    assert_eq!(
        value(requests, &[("route", "upstream"), ("status", "2xx")]),
        1.0
    );
    assert_eq!(
        value(requests, &[("route", "upstream"), ("status", "4xx")]),
        1.0
    );
    assert_eq!(
        value("keycard_token_verifications_total", &[("outcome", "valid")]),
        1.0
    );

    // The issuer stops: failed fetches are counted, and the data's age keeps growing.
    drop(issuer);
    assert!(eventually(Duration::from_secs(10), || {
        let scraped = parse_scrape(&scrape(metrics, "text/plain").text(), false).unwrap();
        sample(
            &scraped,
            "keycard_revocation_feed_refreshes_total",
            &[("outcome", "failure")],
        ) >= 1.0
    }));
}
