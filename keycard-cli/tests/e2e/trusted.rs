//! Several trusted issuers: `[[trusted_issuer]]` tables on a verify-only node and a
//! gateway. Every issuer is a real `keycard serve` with its own signing key; the forged
//! crossings are made by real issuers too, signing with one issuer's key while claiming
//! another's `iss` (what a stolen or confused key would let an attacker do).

use std::time::Duration;

use crate::harness::*;

const A: &str = "https://a.example";
const B: &str = "https://b.example";

/// An env with alice, issuer A's key `a.pem` (EdDSA, generated) and issuer B's key
/// `b.pem` (P-256, with its public half `b.pub.pem`).
fn setup() -> Env {
    let env = Env::new();
    env.add_user("alice", "admin", "alice-password");
    generate_key(&env, "EdDSA", "a.pem");
    for (from, to) in [("p256.pem", "b.pem"), ("p256.pub.pem", "b.pub.pem")] {
        std::fs::copy(key_file(from), env.path(to)).unwrap();
        chmod_600(&env.path(to));
    }
    env
}

fn chmod_600(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// An issuer signing with `key`, its tokens naming `iss` (none when `None`).
fn issuer(env: &Env, key: &str, iss: Option<&str>, extra: &[&str]) -> Server {
    let mut args = vec!["--signing-key", key];
    if let Some(iss) = iss {
        args.extend(["--issuer", iss]);
    }
    args.extend_from_slice(extra);
    env.serve_with(env.cmd(), &args)
}

fn jwks(server: &Server) -> String {
    format!("http://{}/.well-known/jwks.json", server.addr)
}

/// `/me` on `node` with `token`: the status and the error description (or `sub`).
fn me(node: &Server, token: &str) -> (u16, String) {
    let r = node.get("/me", Some(token));
    let body = r.json();
    let said = body["sub"]
        .as_str()
        .or(body["error_description"].as_str())
        .unwrap_or_default()
        .to_owned();
    (r.status, said)
}

fn config(env: &Env, name: &str, text: &str) {
    std::fs::write(env.path(name), text).unwrap();
}

#[test]
fn a_node_trusting_two_issuers_takes_each_ones_tokens_and_no_crossing() {
    let env = setup();
    let a = issuer(&env, "a.pem", Some(A), &[]);
    let b = issuer(&env, "b.pem", Some(B), &["--audience", "api-b"]);
    // A's keys from its JWKS, B's from a public key file; B's tokens must carry api-b.
    config(
        &env,
        "node.toml",
        &format!(
            r#"
[[trusted_issuer]]
iss = "{A}"
jwks_url = "{}"
algorithms = ["EdDSA"]

[[trusted_issuer]]
iss = "{B}"
verify_key = ["b.pub.pem"]
audience = "api-b"
"#,
            jwks(&a)
        ),
    );
    let node = env.serve_with(env.cmd(), &["--config", "node.toml"]);
    assert!(
        node.log().contains("[[trusted_issuer]] tables only")
            && node.log().contains(&format!("trusting also {A}, {B}")),
        "{}",
        node.log()
    );
    assert_eq!(node.get("/readyz", None).status, 200);
    let from_a = a.token("alice", "alice-password");
    let from_b = b.token("alice", "alice-password");
    assert_eq!(me(&node, &from_a), (200, "alice".to_owned()));
    assert_eq!(me(&node, &from_b), (200, "alice".to_owned()));
    assert_eq!(node.get("/me", None).status, 401);

    // Forged crossings, each signed by a real issuer with a real key of the wrong issuer.
    let forge = |key: &str, iss: Option<&str>, extra: &[&str]| {
        let rogue = issuer(&env, key, iss, extra);
        rogue.token("alice", "alice-password")
    };
    // Each refused for the reason it should be: A's table allows only EdDSA, B's key
    // set has no key of A's, a token naming no trusted issuer never reaches a key.
    let cases = [
        (
            "B's key claiming A",
            forge("b.pem", Some(A), &[]),
            "algorithm not allowed",
        ),
        (
            "A's key claiming B",
            forge("a.pem", Some(B), &["--audience", "api-b"]),
            "unknown key id",
        ),
        ("A's key, no iss", forge("a.pem", None, &[]), "wrong issuer"),
        (
            "B's key, no iss",
            forge("b.pem", None, &["--audience", "api-b"]),
            "wrong issuer",
        ),
        (
            "A's key, unknown iss",
            forge("a.pem", Some("https://c.example"), &[]),
            "wrong issuer",
        ),
        // The iss A names with a trailing slash is another issuer, not A.
        (
            "A's key, A/",
            forge("a.pem", Some("https://a.example/"), &[]),
            "wrong issuer",
        ),
        // B's own key, but not B's audience.
        (
            "B without api-b",
            forge("b.pem", Some(B), &[]),
            "wrong audience",
        ),
        (
            "B for api-a",
            forge("b.pem", Some(B), &["--audience", "api-a"]),
            "wrong audience",
        ),
    ];
    for (case, token, reason) in &cases {
        assert_eq!(me(&node, token), (401, (*reason).to_owned()), "{case}");
    }
    // The genuine tokens still pass after the forgeries (nothing was learned from them).
    assert_eq!(me(&node, &from_a).0, 200);
    assert_eq!(me(&node, &from_b).0, 200);
}

#[test]
fn a_gateway_trusts_its_own_issuer_and_a_table_and_forwards_each_identity() {
    let env = setup();
    let echo = Echo::start();
    let b = issuer(&env, "b.pem", Some(B), &[]);
    config(
        &env,
        "gw.toml",
        &format!(
            r#"
issuer = "{A}"

[[trusted_issuer]]
iss = "{B}"
jwks_url = "{}"
"#,
            jwks(&b)
        ),
    );
    // The gateway issues A's tokens itself (signing with a.pem) and trusts B's JWKS.
    let upstream = format!("http://{}", echo.addr);
    let gw = env.serve_with(
        env.cmd(),
        &[
            "--config",
            "gw.toml",
            "--signing-key",
            "a.pem",
            "--upstream",
            &upstream,
        ],
    );
    assert!(
        gw.log().contains(&format!("trusting also {B}")),
        "{}",
        gw.log()
    );
    let from_a = gw.token("alice", "alice-password");
    let from_b = b.token("alice", "alice-password");
    for token in [&from_a, &from_b] {
        let r = gw.get("/api/orders", Some(token));
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            echoed(&r.json(), "x-auth-user"),
            Some("alice"),
            "{}",
            r.text()
        );
        assert_eq!(echoed(&r.json(), "authorization"), None);
    }
    // B's key claiming the gateway's own issuer, and the gateway's key claiming B.
    for (case, key, iss) in [("B as A", "b.pem", A), ("A as B", "a.pem", B)] {
        let rogue = issuer(&env, key, Some(iss), &[]);
        let token = rogue.token("alice", "alice-password");
        let r = gw.get("/api/orders", Some(&token));
        assert_eq!(r.status, 401, "{case}: {}", r.text());
        assert_eq!(r.header("x-upstream"), None, "{case}: never forwarded");
    }
}

#[test]
fn a_trusted_jwks_unreachable_at_start_keeps_the_node_unready_until_it_answers() {
    let env = setup();
    let port = free_port();
    config(
        &env,
        "node.toml",
        &format!(
            r#"
[[trusted_issuer]]
iss = "{A}"
jwks_url = "http://127.0.0.1:{port}/.well-known/jwks.json"

[[trusted_issuer]]
iss = "{B}"
verify_key = ["b.pub.pem"]
"#
        ),
    );
    let node = env.serve_with(
        env.cmd(),
        &["--config", "node.toml", "--jwks-refresh", "10s"],
    );
    assert!(node.log().contains("not reachable yet"), "{}", node.log());
    let r = node.get("/readyz", None);
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.text().contains("trusted_issuers"), "{}", r.text());
    // B's tokens work meanwhile: one issuer down does not take the others with it.
    let b = issuer(&env, "b.pem", Some(B), &[]);
    assert_eq!(me(&node, &b.token("alice", "alice-password")).0, 200);

    // A comes up on the port; its first token's unknown key id makes the node refetch.
    let a = issuer(
        &env,
        "a.pem",
        Some(A),
        &["--listen", &format!("127.0.0.1:{port}")],
    );
    let from_a = a.token("alice", "alice-password");
    assert!(
        eventually(Duration::from_secs(15), || me(&node, &from_a).0 == 200),
        "{}",
        node.log()
    );
    assert_eq!(node.get("/readyz", None).status, 200);
}

#[test]
fn bad_trusted_issuer_tables_are_one_line_and_exit_2() {
    let env = setup();
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "[[trusted_issuer]]\nverify_key = [\"b.pub.pem\"]\n",
            &[],
            "missing field `iss`",
        ),
        (
            "[[trusted_issuer]]\niss = \"\"\nverify_key = [\"b.pub.pem\"]\n",
            &[],
            "iss is empty",
        ),
        (
            "[[trusted_issuer]]\niss = \"https://b\"\n",
            &[],
            "give its keys",
        ),
        (
            "[[trusted_issuer]]\niss = \"https://b\"\nverify_key = [\"b.pub.pem\"]\njwks_url = \"http://127.0.0.1:1/jwks\"\n",
            &[],
            "not both",
        ),
        (
            "[[trusted_issuer]]\niss = \"https://b\"\nverify_key = [\"b.pub.pem\"]\n\n[[trusted_issuer]]\niss = \"https://b\"\nverify_key = [\"b.pub.pem\"]\n",
            &[],
            "trusted twice",
        ),
        (
            "issuer = \"https://b\"\n[[trusted_issuer]]\niss = \"https://b\"\nverify_key = [\"b.pub.pem\"]\n",
            &["--signing-key", "a.pem"],
            "trusted twice",
        ),
        (
            "[[trusted_issuer]]\niss = \"https://b\"\nverify_key = [\"b.pub.pem\"]\n",
            &["--signing-key", "a.pem"],
            "set `issuer` too",
        ),
        (
            "issuer = \"https://a\"\n[[trusted_issuer]]\niss = \"https://b\"\nverify_key = [\"b.pub.pem\"]\n",
            &[],
            "there is none besides",
        ),
        (
            "[[trusted_issuer]]\niss = \"https://b\"\nverify_key = [\"b.pub.pem\"]\nalgorithms = [\"HS256\"]\n",
            &[],
            "shared secrets",
        ),
        (
            "[[trusted_issuer]]\niss = \"https://b\"\nverify_key = [\"b.pub.pem\"]\nalgorithms = [\"es256\"]\n",
            &[],
            "case-sensitive",
        ),
        // A key the table's algorithms would never accept is a mistake, not a no-op.
        (
            "[[trusted_issuer]]\niss = \"https://b\"\nverify_key = [\"b.pub.pem\"]\nalgorithms = [\"EdDSA\"]\n",
            &[],
            "number 1",
        ),
        (
            "[[trusted_issuer]]\niss = \"https://b\"\nverify_key = [\"missing.pem\"]\n",
            &[],
            "missing.pem",
        ),
        (
            "[[trusted_issuer]]\niss = \"https://b\"\njwks_url = \"ftp://b/jwks\"\n",
            &[],
            "number 1",
        ),
        (
            "[[trusted_issuer]]\niss = \"https://b\"\nverify_key = [\"b.pub.pem\"]\nkid = \"x\"\n",
            &[],
            "unknown field `kid`",
        ),
    ];
    let files = || {
        let mut names: Vec<_> = std::fs::read_dir(env.path("."))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    };
    let before = files();
    for (i, (text, args, says)) in cases.iter().enumerate() {
        let name = format!("bad{i}.toml");
        config(&env, &name, text);
        for sub in ["serve", "check-config"] {
            let mut cmd = env.cmd();
            cmd.args(["--config", &name, sub]).args(*args);
            let out = run_cmd(&mut cmd, "");
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{sub} {text}: {err}");
            assert_eq!(err.lines().count(), 1, "{sub} {text}: one line: {err}");
            assert!(err.contains(says), "{sub} {text}: wanted {says:?}: {err}");
        }
    }
    // Nothing was written by any of them but the config files themselves.
    let written: Vec<_> = files()
        .into_iter()
        .filter(|f| !before.contains(f) && !f.to_string_lossy().starts_with("bad"))
        .collect();
    assert!(written.is_empty(), "{written:?}");
}

#[test]
fn check_config_lists_the_trusted_issuers() {
    let env = setup();
    config(
        &env,
        "node.toml",
        &format!(
            r#"
audience = "api"

[[trusted_issuer]]
iss = "{A}"
jwks_url = "http://127.0.0.1:1/.well-known/jwks.json"

[[trusted_issuer]]
iss = "{B}"
verify_key = ["b.pub.pem"]
audience = "api-b"
algorithms = ["ES256"]
"#
        ),
    );
    let out = env.run(&["--config", "node.toml", "check-config"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("[[trusted_issuer]] tables only"), "{text}");
    assert!(
        text.contains(&format!(
            "{A}: keys from http://127.0.0.1:1/.well-known/jwks.json, audience api, algorithms those of its keys"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{B}: 1 fixed keys, audience api-b, algorithms ES256"
        )),
        "{text}"
    );
}
