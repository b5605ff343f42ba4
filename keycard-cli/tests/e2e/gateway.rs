//! Gateway mode end to end: Keycard as the reverse proxy in front of an upstream, the
//! forward-auth endpoint, and route rules.

use std::time::Duration;

use serde_json::Value;

use crate::harness::*;

fn setup() -> (Env, Echo) {
    let env = Env::new();
    env.add_user("alice", "admin", "alice-password");
    env.add_user("bob", "user", "bob-password");
    std::fs::write(
        env.path("keycard.toml"),
        r#"
[[rule]]
path = "/admin*"
roles = ["admin"]

[[rule]]
path = "/status"
methods = ["GET"]
public = true
"#,
    )
    .unwrap();
    (env, Echo::start())
}

fn through(
    server: &Server,
    method: &str,
    target: &str,
    token: Option<&str>,
    extra: &str,
) -> Response {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    server.request(format!("{method} {target} HTTP/1.1\r\nHost: api.example\r\n{auth}{extra}Connection: close\r\n\r\n").as_bytes())
}

#[test]
fn keycard_as_the_proxy() {
    let (env, echo) = setup();
    let upstream = format!("http://{}", echo.addr);
    let server = env.serve(&["--upstream", &upstream, "--public", "/public*"]);
    let alice = server.token("alice", "alice-password");
    let bob = server.token("bob", "bob-password");

    // No token: refused by Keycard, never forwarded.
    let r = through(&server, "GET", "/api/orders?x=1", None, "");
    assert_eq!((r.status, r.error()), (401, "missing_token".to_owned()));

    // A valid token: forwarded with the identity, without the credential.
    let r = through(
        &server,
        "GET",
        "/api/orders?x=1&y=%2F",
        Some(&alice),
        "X-Auth-User: mallory\r\nX-Auth-Role: admin\r\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-upstream"), Some("echo"));
    let seen: Value = r.json();
    assert_eq!(seen["target"], "/api/orders?x=1&y=%2F");
    assert_eq!(echoed(&seen, "x-auth-user"), Some("alice"));
    assert_eq!(echoed(&seen, "x-auth-role"), Some("admin"));
    let claims: Value = serde_json::from_str(echoed(&seen, "x-auth-claims").unwrap()).unwrap();
    assert_eq!(
        (claims["sub"].as_str(), claims["role"].as_str()),
        (Some("alice"), Some("admin"))
    );
    assert_eq!(echoed(&seen, "authorization"), None);
    assert_eq!(echoed(&seen, "x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(echoed(&seen, "x-forwarded-proto"), Some("http"));
    assert_eq!(echoed(&seen, "x-forwarded-host"), Some("api.example"));
    let spoofs = seen["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h[0] == "x-auth-user")
        .count();
    assert_eq!(spoofs, 1, "the client's X-Auth-User was stripped");

    // Public paths are forwarded without a token, and spoofed identity is stripped there too.
    let r = through(
        &server,
        "GET",
        "/public/docs",
        None,
        "X-Auth-User: mallory\r\nX-Auth-Claims: {}\r\n",
    );
    assert_eq!(r.status, 200);
    let seen = r.json();
    assert_eq!(
        (echoed(&seen, "x-auth-user"), echoed(&seen, "x-auth-claims")),
        (None, None)
    );

    // The upstream receives the normalized path.
    let r = through(&server, "GET", "/%61pi/%6Frders", Some(&alice), "");
    assert_eq!(r.json()["target"], "/api/orders");
    assert_eq!(
        through(&server, "GET", "/api/../admin", Some(&alice), "").status,
        400
    );

    // Route rules from the config file: roles, and a public GET.
    assert_eq!(
        through(&server, "GET", "/admin/users", Some(&bob), "").status,
        403
    );
    assert_eq!(
        through(&server, "GET", "/admin/users", Some(&alice), "").status,
        200
    );
    assert_eq!(through(&server, "GET", "/status", None, "").status, 200);
    assert_eq!(
        through(&server, "POST", "/status", None, "Content-Length: 0\r\n").status,
        401
    );

    // Keycard's own routes are answered by Keycard.
    assert_eq!(server.get("/healthz", None).text(), "ok");
    assert_eq!(server.get("/me", Some(&bob)).json()["sub"], "bob");

    // Hop-by-hop headers stop at the gateway.
    let r = through(
        &server,
        "GET",
        "/api/hop",
        Some(&alice),
        "Connection: close, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\n",
    );
    let seen = r.json();
    assert_eq!(
        (echoed(&seen, "x-hop"), echoed(&seen, "keep-alive")),
        (None, None)
    );
}

#[test]
fn bodies_stream_through_both_ways() {
    let (env, echo) = setup();
    let server = env.serve(&["--upstream", &format!("http://{}", echo.addr)]);
    let alice = server.token("alice", "alice-password");
    let body = "x".repeat(1024 * 1024);
    let r = server.request(
        format!(
            "POST /api/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {alice}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    assert_eq!(
        (r.status, r.json()["body_len"].as_u64()),
        (200, Some(1024 * 1024))
    );
    // Chunked from the client.
    let mut raw = format!("POST /api/chunks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {alice}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n").into_bytes();
    for _ in 0..3 {
        raw.extend_from_slice(b"5\r\nhello\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(server.request(&raw).json()["body_len"], 15);
}

#[test]
fn authorization_is_passed_on_only_when_asked() {
    let (env, echo) = setup();
    let server = env.serve(&[
        "--upstream",
        &format!("http://{}", echo.addr),
        "--pass-authorization",
        "--user-header",
        "Remote-User",
    ]);
    let alice = server.token("alice", "alice-password");
    let seen = through(
        &server,
        "GET",
        "/api/x",
        Some(&alice),
        "Remote-User: mallory\r\n",
    )
    .json();
    assert_eq!(
        echoed(&seen, "authorization"),
        Some(format!("Bearer {alice}").as_str())
    );
    assert_eq!(echoed(&seen, "remote-user"), Some("alice"));
}

#[test]
fn upstream_down_is_502_and_slow_is_504() {
    let (env, echo) = setup();
    // A port nothing listens on.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let server = env.serve(&["--upstream", &format!("http://{dead}")]);
    let alice = server.token("alice", "alice-password");
    let r = through(&server, "GET", "/api/x", Some(&alice), "");
    assert_eq!((r.status, r.error()), (502, "bad_gateway".to_owned()));

    let server = env.serve(&[
        "--upstream",
        &format!("http://{}", echo.addr),
        "--upstream-timeout",
        "1s",
    ]);
    let started = std::time::Instant::now();
    let r = through(&server, "GET", "/slow", Some(&alice), "");
    assert_eq!((r.status, r.error()), (504, "gateway_timeout".to_owned()));
    assert!(started.elapsed() < Duration::from_secs(3));
}

fn verify(
    server: &Server,
    method: Option<&str>,
    uri: Option<&str>,
    token: Option<&str>,
) -> Response {
    let mut extra = String::new();
    if let Some(m) = method {
        extra.push_str(&format!("X-Original-Method: {m}\r\n"));
    }
    if let Some(u) = uri {
        extra.push_str(&format!("X-Original-URI: {u}\r\n"));
    }
    through(server, "GET", "/auth/verify", token, &extra)
}

#[test]
fn forward_auth_endpoint() {
    let (env, _echo) = setup();
    let server = env.serve(&[]);
    let alice = server.token("alice", "alice-password");
    let bob = server.token("bob", "bob-password");

    let r = verify(&server, Some("GET"), Some("/api/orders?x=1"), Some(&alice));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-auth-user"), Some("alice"));
    assert_eq!(r.header("x-auth-role"), Some("admin"));
    assert!(
        r.header("x-auth-claims")
            .unwrap()
            .contains("\"sub\":\"alice\"")
    );

    let r = verify(&server, Some("GET"), Some("/api/orders"), None);
    assert_eq!((r.status, r.error()), (401, "missing_token".to_owned()));
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"keycard\"")
    );
    assert_eq!(
        verify(&server, Some("GET"), Some("/api/orders"), Some("garbage")).status,
        401
    );
    let r = verify(&server, Some("GET"), Some("/admin/x"), Some(&bob));
    assert_eq!(
        (r.status, r.error()),
        (403, "insufficient_scope".to_owned())
    );
    assert_eq!(
        verify(&server, Some("GET"), Some("/%61dmin/x"), Some(&bob)).status,
        403,
        "judged normalized"
    );
    // Method-specific rules use the original method.
    assert_eq!(
        verify(&server, Some("GET"), Some("/status"), None).status,
        200
    );
    assert_eq!(
        verify(&server, Some("POST"), Some("/status"), None).status,
        401
    );
    // An absolute-form target is judged by its path.
    assert_eq!(
        verify(
            &server,
            Some("GET"),
            Some("http://api.example/status"),
            None
        )
        .status,
        200
    );
    // Malformed questions, and questions that fail closed.
    for (method, uri) in [
        (Some("GET"), None),
        (None, Some("/status")),
        (Some("GET"), Some("/a/../admin")),
        (Some("NOT A METHOD"), Some("/x")),
        (Some("get"), Some("/status")),
        (Some("GET"), Some("status")),
        (Some("GET"), Some("*")),
    ] {
        let r = verify(&server, method, uri, Some(&alice));
        assert_eq!(
            (r.status, r.error()),
            (400, "invalid_request".to_owned()),
            "{method:?} {uri:?}"
        );
    }
}

#[test]
fn forward_auth_for_traefik_and_caddy_reads_x_forwarded_uri_only() {
    let (env, _echo) = setup();
    let server = env.serve(&["--forward-auth", "traefik"]);
    let alice = server.token("alice", "alice-password");
    let ask =
        |extra: &str, token: Option<&str>| through(&server, "GET", "/auth/verify", token, extra);
    let r = ask(
        "X-Forwarded-Method: GET\r\nX-Forwarded-Uri: /api/x\r\n",
        Some(&alice),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-auth-user"), Some("alice"));
    // The nginx header is not read: without X-Forwarded-Uri the question is refused.
    let r = ask(
        "X-Forwarded-Method: GET\r\nX-Original-URI: /token\r\n",
        None,
    );
    assert_eq!(r.status, 400);
}
#[test]
fn bad_gateway_configuration_is_refused() {
    let (env, _echo) = setup();
    for (args, says) in [
        (
            vec!["--upstream", "ftp://api.example"],
            "http:// or https://",
        ),
        (
            vec!["--upstream", "http://user:pw@api.example"],
            "no user information",
        ),
        (vec!["--upstream", "not a url"], "--upstream"),
        (
            vec![
                "--upstream",
                "http://127.0.0.1:1",
                "--upstream-timeout",
                "0s",
            ],
            "upstream-timeout",
        ),
        (vec!["--user-header", "bad header"], "header name"),
    ] {
        let mut cmd = env.cmd();
        cmd.env("AUTHENTICATION_SECRET", SECRET)
            .arg("serve")
            .args(&args);
        let out = run_cmd(&mut cmd, "");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
    std::fs::write(
        env.path("bad.toml"),
        "[[rule]]\npath = \"/x\"\npublic = true\nroles = [\"a\"]\n",
    )
    .unwrap();
    let mut cmd = env.cmd();
    cmd.env("AUTHENTICATION_SECRET", SECRET)
        .args(["serve", "--config", "bad.toml"]);
    let out = run_cmd(&mut cmd, "");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("[[rule]] number 1"),
        "{}",
        stderr(&out)
    );
}
