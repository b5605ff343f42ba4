//! Interoperability with the Node.js stack Keycard replaces (`jsonwebtoken` 9,
//! `express-jwt` 8), using the reference implementation in `shared/peers/express-ref`.
//!
//! These tests need `KEYCARD_NODE_PEER`: a copy of `express-ref` with its npm packages
//! installed (`.ci/run` makes one; see the README). Without it they are skipped when run
//! by hand, and fail under CI (`CI` set), so CI can never pass without running them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::*;

fn peer() -> Option<PathBuf> {
    match std::env::var_os("KEYCARD_NODE_PEER") {
        Some(dir) => Some(PathBuf::from(dir)),
        None if std::env::var_os("CI").is_some() => {
            panic!("CI must set KEYCARD_NODE_PEER (see .ci/run)")
        }
        None => {
            eprintln!("skipped: set KEYCARD_NODE_PEER to an installed copy of express-ref");
            None
        }
    }
}

fn node(peer: &Path, script: &str, args: &[&str]) -> std::process::Output {
    Command::new("node")
        .arg(peer.join(script))
        .args(args)
        .output()
        .unwrap()
}

/// A token signed by Node's `jsonwebtoken`.
fn node_sign(peer: &Path, args: &[&str]) -> String {
    let payload = r#"{"username":"alice","role":"admin"}"#;
    let mut all = vec!["--payload", payload];
    all.extend_from_slice(args);
    if !args.iter().any(|a| a.starts_with("--expires-in")) {
        all.extend(["--expires-in", "1h"]);
    }
    let out = node(peer, "sign.js", &all);
    assert!(out.status.success(), "sign.js {args:?}: {}", stderr(&out));
    stdout(&out).trim().to_owned()
}

#[test]
fn tokens_signed_by_node_jsonwebtoken_verify_in_keycard() {
    let Some(peer) = peer() else { return };
    let env = Env::new();
    // HS256 with the shared secret.
    let hs = env.serve(&[]);
    let token = node_sign(&peer, &["--alg", "HS256", "--secret", SECRET]);
    let me = hs.get("/me", Some(&token));
    assert_eq!(
        (me.status, me.json()["username"].as_str()),
        (200, Some("alice")),
        "{}",
        me.text()
    );
    // RS256 and ES256 with public keys Keycard holds as verification keys.
    let issuer = env.serve_with(
        env.cmd(),
        &[
            "--signing-key",
            &key_file("ed25519.pem"),
            "--verify-key",
            &key_file("rsa2048.pub.pem"),
            "--verify-key",
            &key_file("p256.pub.pem"),
        ],
    );
    for (alg, key) in [("RS256", "rsa2048.pem"), ("ES256", "p256.pem")] {
        let token = node_sign(&peer, &["--alg", alg, "--key", &key_file(key)]);
        let me = issuer.get("/me", Some(&token));
        assert_eq!(me.status, 200, "{alg}: {}", me.text());
        assert_eq!(me.json()["role"], "admin");
        // With the kid Keycard gives the key, it is matched by kid.
        let kid = stdout(&env.run(&["keys", "show", &key_file(key)], ""))
            .lines()
            .next()
            .unwrap()
            .trim_start_matches("kid: ")
            .to_owned();
        let token = node_sign(
            &peer,
            &["--alg", alg, "--key", &key_file(key), "--kid", &kid],
        );
        assert_eq!(
            issuer.get("/me", Some(&token)).status,
            200,
            "{alg} with kid"
        );
    }
    // A Node HS256 token is refused by the asymmetric issuer: no key confusion.
    let r = issuer.get("/me", Some(&token));
    assert_eq!(r.status, 401);
    // An expired Node token is refused.
    let expired = node_sign(
        &peer,
        &["--alg", "HS256", "--secret", SECRET, "--expires-in=-120"],
    );
    assert_eq!(
        hs.get("/me", Some(&expired)).json()["error_description"],
        "token expired"
    );
}

#[test]
fn keycard_tokens_verify_in_node_jsonwebtoken() {
    let Some(peer) = peer() else { return };
    let env = Env::new();
    env.add_user("alice", "admin", "alice-password");
    let hs = env.serve(&["--issuer", "https://keycard.test", "--audience", "api"]);
    let token = hs.token("alice", "alice-password");
    let out = node(
        &peer,
        "verify.js",
        &[
            &token,
            "--secret",
            SECRET,
            "--alg",
            "HS256",
            "--iss",
            "https://keycard.test",
            "--aud",
            "api",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let payload: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(
        (payload["username"].as_str(), payload["role"].as_str()),
        (Some("alice"), Some("admin"))
    );
    // A wrong secret fails there too: the check is real.
    let out = node(
        &peer,
        "verify.js",
        &[&token, "--secret", "another-secret-another-secret-xx"],
    );
    assert!(!out.status.success());

    let es = env.serve_with(env.cmd(), &["--signing-key", &key_file("p256.pem")]);
    let token = es.token("alice", "alice-password");
    let out = node(
        &peer,
        "verify.js",
        &[&token, "--key", &key_file("p256.pub.pem"), "--alg", "ES256"],
    );
    assert!(out.status.success(), "ES256: {}", stderr(&out));
    let out = node(
        &peer,
        "verify.js",
        &[
            &token,
            "--key",
            &key_file("rsa2048.pub.pem"),
            "--alg",
            "RS256",
        ],
    );
    assert!(!out.status.success());
}

/// The Express reference app (express-jwt with `.unless()`), started on a free port.
struct Express {
    child: std::process::Child,
    port: u16,
}

impl Drop for Express {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_express(peer: &Path, users: &std::path::Path) -> Express {
    let port = crate::harness::free_port();
    let child = Command::new("node")
        .arg(peer.join("server.js"))
        .env("AUTHENTICATION_SECRET", SECRET)
        .env("PORT", port.to_string())
        .env("USERS_FILE", users)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "express did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Express { child, port }
}

#[test]
fn keycard_and_express_jwt_accept_each_others_tokens() {
    let Some(peer) = peer() else { return };
    let env = Env::new();
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/express-users.json"
        ),
        env.users_file(),
    )
    .unwrap();
    // Both read the same Express-era users file (each its own copy).
    std::fs::copy(env.users_file(), env.path("users-express.json")).unwrap();
    let express = start_express(&peer, &env.path("users-express.json"));
    let keycard = env.serve(&[]);
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], express.port).into();

    // Keycard's token through express-jwt.
    let token = keycard.token("alice", "node-made-password");
    let r = request(addr, format!("GET /me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n").as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["username"], "alice");
    let r = request(
        addr,
        b"GET /me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer x.y.z\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 401);

    // Express's token through Keycard.
    let body = r#"{"username":"bob","password":"bobs-node-password"}"#;
    let r = request(
        addr,
        format!(
            "POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let express_token = r.text();
    let me = keycard.get("/me", Some(&express_token));
    assert_eq!(
        (me.status, me.json()["username"].as_str()),
        (200, Some("bob"))
    );
}
