//! The token lifecycle end to end: logout, revoke-all, refresh rotation and reuse
//! detection, and the durability of all of it.

use std::time::Duration;

use serde_json::Value;

use crate::harness::*;

fn now() -> u64 {
    #[allow(clippy::disallowed_methods)] // the test's own wall clock
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// POST a form to `path` with a bearer token.
fn post_form(server: &Server, path: &str, body: &str, token: Option<&str>) -> Response {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    server.post(path, "application/x-www-form-urlencoded", body, &auth)
}

fn login_json(server: &Server, user: &str, password: &str) -> Value {
    let r = server.login(user, password);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn refresh(server: &Server, refresh_token: &str) -> Response {
    post_form(
        server,
        "/token",
        &format!("grant_type=refresh_token&refresh_token={refresh_token}"),
        None,
    )
}

fn setup() -> Env {
    let env = Env::new();
    env.add_user("alice", "admin", "alice-password");
    env.add_user("bob", "user", "bob-password");
    env
}

#[test]
fn logout_then_reuse_is_refused() {
    let env = setup();
    let server = env.serve(&[]);
    let token = server.token("bob", "bob-password");
    assert_eq!(server.get("/me", Some(&token)).status, 200);
    let r = post_form(&server, "/revoke", &format!("token={token}"), Some(&token));
    assert_eq!((r.status, r.text()), (200, "{}".to_owned()));
    let r = server.get("/me", Some(&token));
    assert_eq!(
        (r.status, r.json()["error_description"].as_str()),
        (401, Some("token revoked"))
    );
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );
    // Another token of bob's is untouched.
    let other = server.token("bob", "bob-password");
    assert_eq!(server.get("/me", Some(&other)).status, 200);
    // Revoking an already revoked or unknown token is still 200 {} (RFC 7009 §2.2).
    let r = server.post(
        "/revoke",
        "application/json",
        &format!(r#"{{"token":"{token}"}}"#),
        &format!("Authorization: Bearer {other}\r\n"),
    );
    assert_eq!((r.status, r.text()), (200, "{}".to_owned()));
    let r = post_form(
        &server,
        "/revoke",
        "token=not-a-token-at-all&token_type_hint=access_token",
        Some(&other),
    );
    assert_eq!((r.status, r.text()), (200, "{}".to_owned()));
}

#[test]
fn only_admins_revoke_other_peoples_tokens() {
    let env = setup();
    let server = env.serve(&[]);
    let alice = server.token("alice", "alice-password");
    let bob = server.token("bob", "bob-password");
    let r = post_form(&server, "/revoke", &format!("token={alice}"), Some(&bob));
    assert_eq!(
        (r.status, r.error()),
        (403, "insufficient_scope".to_owned())
    );
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains("error=\"insufficient_scope\"")
    );
    assert_eq!(server.get("/me", Some(&alice)).status, 200);
    // alice is an admin: she may.
    let r = post_form(&server, "/revoke", &format!("token={bob}"), Some(&alice));
    assert_eq!(r.status, 200);
    assert_eq!(server.get("/me", Some(&bob)).status, 401);
}

#[test]
fn bad_revoke_requests() {
    let env = setup();
    let server = env.serve(&[]);
    let bob = server.token("bob", "bob-password");
    let auth = format!("Authorization: Bearer {bob}\r\n");
    assert_eq!(post_form(&server, "/revoke", "token=x", None).status, 401);
    for (ct, body, status, code) in [
        (
            "application/x-www-form-urlencoded",
            "nothing=here",
            400,
            "invalid_request",
        ),
        ("application/json", "{", 400, "invalid_request"),
        ("application/json", r#"{"token":5}"#, 400, "invalid_request"),
        ("text/plain", "token=x", 415, "unsupported_media_type"),
    ] {
        let r = server.post("/revoke", ct, body, &auth);
        assert_eq!(
            (r.status, r.error()),
            (status, code.to_owned()),
            "{ct} {body}"
        );
    }
    let big = format!("token={}", "x".repeat(9000));
    let r = server.post("/revoke", "application/x-www-form-urlencoded", &big, &auth);
    assert_eq!(r.status, 413);
    let r = server.request(
        format!("GET /revoke HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!(r.status, 405);
}

#[test]
fn passwd_set_role_remove_and_revoke_all_log_a_user_out_everywhere() {
    let env = setup();
    let server = env.serve(&["--rate-limit-user", "0"]);
    let before = server.token("bob", "bob-password");
    assert!(
        env.run(
            &["users", "passwd", "bob", "--password-stdin"],
            "bob-new-password\n"
        )
        .status
        .success()
    );
    assert!(eventually(Duration::from_millis(2500), || server
        .get("/me", Some(&before))
        .status
        == 401));
    // A login right after, even within the same second, gives a token that works.
    let after = server.token("bob", "bob-new-password");
    assert_eq!(
        server.get("/me", Some(&after)).status,
        200,
        "{}",
        server.get("/me", Some(&after)).text()
    );

    assert!(
        env.run(&["users", "set-role", "bob", "ops"], "")
            .status
            .success()
    );
    assert!(eventually(Duration::from_millis(2500), || server
        .get("/me", Some(&after))
        .status
        == 401));
    let ops = server.token("bob", "bob-new-password");
    assert_eq!(claims(&ops)["role"], "ops");

    assert!(
        env.run(&["users", "revoke-all", "bob"], "")
            .status
            .success()
    );
    assert!(eventually(Duration::from_millis(2500), || server
        .get("/me", Some(&ops))
        .status
        == 401));
    let r = env.run(&["users", "revoke-all", "nobody"], "");
    assert_eq!(r.status.code(), Some(1));

    let last = server.token("bob", "bob-new-password");
    assert!(env.run(&["users", "remove", "bob"], "").status.success());
    assert!(eventually(Duration::from_millis(2500), || server
        .get("/me", Some(&last))
        .status
        == 401));
    // Alice was never touched.
    let alice = server.token("alice", "alice-password");
    assert_eq!(server.get("/me", Some(&alice)).status, 200);
}

#[test]
fn refresh_tokens_rotate_and_reuse_kills_the_session() {
    let env = setup();
    let server = env.serve(&["--refresh-ttl", "30d", "--token-ttl", "15m"]);
    // With refresh on, /token always answers JSON, even to Accept: text/plain.
    let r = server.post(
        "/token",
        "application/x-www-form-urlencoded",
        "username=bob&password=bob-password",
        "Accept: text/plain\r\n",
    );
    let first = r.json();
    let (access, refresh1) = (
        first["access_token"].as_str().unwrap().to_owned(),
        first["refresh_token"].as_str().unwrap().to_owned(),
    );
    assert_eq!(first["expires_in"], 900);
    assert!(
        refresh1.len() >= 43 && !refresh1.contains('.'),
        "opaque: {refresh1}"
    );
    let sid = claims(&access)["sid"].as_str().unwrap().to_owned();
    // The store keeps only a hash.
    let store = std::fs::read_to_string(env.path("users.tokens.json")).unwrap();
    assert!(!store.contains(&refresh1));

    let r = refresh(&server, &refresh1);
    assert_eq!(r.status, 200, "{}", r.text());
    let second = r.json();
    let access2 = second["access_token"].as_str().unwrap().to_owned();
    let refresh2 = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(refresh2, refresh1);
    assert_eq!(claims(&access2)["sid"], sid.as_str(), "same login session");
    assert_eq!(server.get("/me", Some(&access2)).status, 200);

    // The used token again: theft. The whole session dies, access tokens included.
    let r = refresh(&server, &refresh1);
    assert_eq!((r.status, r.error()), (400, "invalid_grant".to_owned()));
    assert_eq!(refresh(&server, &refresh2).status, 400);
    for t in [&access, &access2] {
        assert_eq!(
            server.get("/me", Some(t)).json()["error_description"],
            "token revoked"
        );
    }
    // Another login is a new session, unaffected.
    let fresh = login_json(&server, "bob", "bob-password");
    assert_eq!(
        server.get("/me", fresh["access_token"].as_str()).status,
        200
    );
}

#[test]
fn revoking_a_refresh_token_ends_its_session() {
    let env = setup();
    let server = env.serve(&["--refresh-ttl", "1d"]);
    let login = login_json(&server, "bob", "bob-password");
    let access = login["access_token"].as_str().unwrap();
    let refresh_token = login["refresh_token"].as_str().unwrap();
    let r = post_form(
        &server,
        "/revoke",
        &format!("token={refresh_token}&token_type_hint=refresh_token"),
        Some(access),
    );
    assert_eq!(r.status, 200);
    assert_eq!(server.get("/me", Some(access)).status, 401);
    assert_eq!(refresh(&server, refresh_token).status, 400);
}

#[test]
fn refresh_honours_revoke_all_and_removal() {
    let env = setup();
    let server = env.serve(&["--refresh-ttl", "1d"]);
    let a = login_json(&server, "bob", "bob-password");
    assert!(
        env.run(&["users", "revoke-all", "bob"], "")
            .status
            .success()
    );
    assert_eq!(
        refresh(&server, a["refresh_token"].as_str().unwrap()).status,
        400
    );
    let b = login_json(&server, "alice", "alice-password");
    assert!(env.run(&["users", "remove", "alice"], "").status.success());
    let r = refresh(&server, b["refresh_token"].as_str().unwrap());
    assert_eq!((r.status, r.error()), (400, "invalid_grant".to_owned()));
}

#[test]
fn refresh_grant_errors() {
    let env = setup();
    let plain = env.serve(&[]);
    let r = refresh(&plain, "anything");
    assert_eq!(
        (r.status, r.error()),
        (400, "unsupported_grant_type".to_owned())
    );
    let server = env.serve(&["--refresh-ttl", "1d"]);
    let r = refresh(&server, "unknown-refresh-token");
    assert_eq!((r.status, r.error()), (400, "invalid_grant".to_owned()));
    let r = post_form(&server, "/token", "grant_type=refresh_token", None);
    assert_eq!((r.status, r.error()), (400, "invalid_request".to_owned()));
    let r = server.post(
        "/token",
        "application/json",
        r#"{"grant_type":"refresh_token","refresh_token":7}"#,
        "",
    );
    assert_eq!((r.status, r.error()), (400, "invalid_request".to_owned()));
}

#[test]
fn revocations_survive_a_restart_and_the_cli_is_seen_live() {
    let env = setup();
    let server = env.serve(&[]);
    let a = server.token("bob", "bob-password");
    let b = server.token("bob", "bob-password");
    assert_eq!(
        post_form(&server, "/revoke", &format!("token={a}"), Some(&a)).status,
        200
    );
    // From the CLI, by jti, seen by the running server within two seconds.
    let c = claims(&b);
    let out = env.run(
        &[
            "tokens",
            "revoke",
            "--jti",
            c["jti"].as_str().unwrap(),
            "--until",
            &c["exp"].as_u64().unwrap().to_string(),
        ],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(eventually(Duration::from_millis(2500), || server
        .get("/me", Some(&b))
        .status
        == 401));
    // A jti is base64url, so one in 32 starts with `-`: still a value, not a flag.
    let out = env.run(
        &[
            "tokens",
            "revoke",
            "--jti",
            "-uAbC_dEf",
            "--until",
            "4000000000",
        ],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    drop(server);
    let server = env.serve(&[]);
    assert_eq!(server.get("/me", Some(&a)).status, 401);
    assert_eq!(server.get("/me", Some(&b)).status, 401);
}

#[test]
fn expired_entries_are_pruned() {
    let env = setup();
    let soon = now() + 2;
    assert!(
        env.run(
            &[
                "tokens",
                "revoke",
                "--jti",
                "short-lived",
                "--until",
                &soon.to_string()
            ],
            ""
        )
        .status
        .success()
    );
    assert!(
        env.run(
            &[
                "tokens",
                "revoke",
                "--jti",
                "long-lived",
                "--until",
                &(now() + 3600).to_string()
            ],
            ""
        )
        .status
        .success()
    );
    let store = || std::fs::read_to_string(env.path("users.tokens.json")).unwrap();
    assert!(store().contains("short-lived"));
    std::thread::sleep(Duration::from_millis(3100));
    // The next write drops what can no longer verify anyway.
    assert!(
        env.run(
            &[
                "tokens",
                "revoke",
                "--jti",
                "another",
                "--until",
                &(now() + 3600).to_string()
            ],
            ""
        )
        .status
        .success()
    );
    assert!(!store().contains("short-lived"), "{}", store());
    assert!(store().contains("long-lived"));
    // Revoking something already expired writes nothing new.
    assert!(
        env.run(&["tokens", "revoke", "--jti", "old", "--until", "1"], "")
            .status
            .success()
    );
    assert!(!store().contains("\"old\""));
}

#[test]
fn kill_9_in_a_revocation_storm_loses_nothing_acknowledged() {
    let env = setup();
    let until = (now() + 3600).to_string();
    let mut acknowledged = Vec::new();
    for i in 0..40u64 {
        let jti = format!("storm-{i}");
        let mut child = env
            .cmd()
            .args(["tokens", "revoke", "--jti", &jti, "--until", &until])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros((i * 211) % 3000));
        signal(child.id(), "KILL");
        if child.wait().unwrap().success() {
            acknowledged.push(jti);
        }
        let path = env.path("users.tokens.json");
        if acknowledged.is_empty() && !path.exists() {
            continue;
        }
        // Whatever happened, the file is whole and holds every acknowledged revocation.
        let store: Value = read_json(&path);
        for a in &acknowledged {
            assert!(
                store["revoked_tokens"].get(a).is_some(),
                "{a} lost after kill {i}"
            );
        }
    }
    eprintln!(
        "{} of 40 revocations acknowledged before the kill",
        acknowledged.len()
    );
    // A server started now refuses the acknowledged ones.
    let server = env.serve(&[]);
    assert!(server.log().contains("listening"));
}

#[test]
fn the_token_cache_changes_no_answer_and_can_be_turned_off() {
    // The same sequence — use, revoke, reuse, a tampered copy — with the cache on (the
    // default, so that the first use stores the token) and off.
    for args in [&[][..], &["--token-cache", "0"][..]] {
        let env = setup();
        let server = env.serve(args);
        let token = server.token("bob", "bob-password");
        for _ in 0..3 {
            assert_eq!(server.get("/me", Some(&token)).status, 200, "{args:?}");
        }
        let mut tampered = token.clone();
        tampered.pop();
        assert_eq!(server.get("/me", Some(&tampered)).status, 401, "{args:?}");
        let r = post_form(&server, "/revoke", &format!("token={token}"), Some(&token));
        assert_eq!(r.status, 200, "{args:?}");
        let r = server.get("/me", Some(&token));
        assert_eq!(
            (r.status, r.json()["error_description"].as_str()),
            (401, Some("token revoked")),
            "{args:?}"
        );
    }
}
