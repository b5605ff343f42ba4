//! Asymmetric keys end to end: `keycard keys`, an issuer with a private key, a
//! verify-only node trusting its JWKS, and a key rotation.

use std::time::Duration;

use crate::harness::*;

fn serve_signing(env: &Env, args: &[&str]) -> Server {
    env.serve_with(env.cmd(), args)
}

#[test]
fn keys_generate_and_show() {
    let env = Env::new();
    for alg in ["EdDSA", "ES256", "ES384"] {
        let file = format!("{alg}.pem");
        let kid = generate_key(&env, alg, &file);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(env.path(&file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{alg}");
        }
        let shown = env.run(&["keys", "show", &file], "");
        assert!(stdout(&shown).starts_with(&format!("kid: {kid}\n")));
    }
    // EdDSA is the default.
    let res = env.run(&["keys", "generate", "--out", "default.pem"], "");
    assert!(stderr(&res).contains("EdDSA"));
    // Never overwrites, and says so in one line.
    let before = std::fs::read(env.path("EdDSA.pem")).unwrap();
    let res = env.run(&["keys", "generate", "--out", "EdDSA.pem"], "");
    assert_eq!(res.status.code(), Some(1));
    assert!(stderr(&res).contains("already exists"));
    assert_eq!(std::fs::read(env.path("EdDSA.pem")).unwrap(), before);
    let res = env.run(
        &["keys", "generate", "--alg", "HS256", "--out", "x.pem"],
        "",
    );
    assert_eq!(res.status.code(), Some(1));
    assert!(!env.path("x.pem").exists());
    // RSA keys are made by the build that signs with them (the rsa-signing test below);
    // this one refuses in one line, writing nothing, and says how else to get one.
    let res = env.run(
        &["keys", "generate", "--alg", "RS256", "--out", "rsa.pem"],
        "",
    );
    assert_eq!(res.status.code(), Some(1));
    assert_eq!(stderr(&res).lines().count(), 1, "{}", stderr(&res));
    assert!(
        stderr(&res).contains("makes no RSA keys") && stderr(&res).contains("openssl genpkey"),
        "{}",
        stderr(&res)
    );
    assert!(!env.path("rsa.pem").exists());
    // An RSA private key made elsewhere (OpenSSL) still shows its public JWK, the same
    // as its public half's.
    let a = stdout(&env.run(&["keys", "show", &key_file("rsa2048.pem")], ""));
    let b = stdout(&env.run(&["keys", "show", &key_file("rsa2048.pub.pem")], ""));
    assert!(a.contains(r#""kty": "RSA""#), "{a}");
    assert_eq!(a, b);
    // A public key file shows the same kid as its private key (OpenSSL-made fixtures).
    let a = stdout(&env.run(&["keys", "show", &key_file("p256.pem")], ""));
    let b = stdout(&env.run(&["keys", "show", &key_file("p256.pub.pem")], ""));
    assert_eq!(a, b);
}

#[test]
fn wrong_keys_are_refused_at_start_with_one_line() {
    let env = Env::new();
    for (file, says) in [
        ("rsa2048.pem", "RUSTSEC-2023-0071"),
        ("p256-sec1.pem", "openssl pkcs8 -topk8"),
        ("p521.pem", "supported kind"),
        (
            "ed25519.pub.pem",
            "public key where a private key is needed",
        ),
    ] {
        let res = env.run(&["serve", "--signing-key", &key_file(file)], "");
        assert_eq!(res.status.code(), Some(2), "{file}");
        assert_eq!(stderr(&res).lines().count(), 1, "{}", stderr(&res));
        assert!(stderr(&res).contains(says), "{file}: {}", stderr(&res));
    }
    let res = env.run(
        &[
            "serve",
            "--signing-key",
            &key_file("p256.pem"),
            "--verify-key",
            &key_file("rsa1024.pub.pem"),
        ],
        "",
    );
    assert_eq!(res.status.code(), Some(2));
    assert!(stderr(&res).contains("too small"), "{}", stderr(&res));
    let mut cmd = env.cmd();
    cmd.env("AUTHENTICATION_SECRET", SECRET).args([
        "serve",
        "--verify-key",
        &key_file("p256.pub.pem"),
    ]);
    let res = run_cmd(&mut cmd, "");
    assert_eq!(res.status.code(), Some(2));
    assert!(stderr(&res).contains("HMAC"), "{}", stderr(&res));
    for (args, says) in [
        (
            vec!["--jwks-url", "ftp://issuer.example/.well-known/jwks.json"],
            "must start with http:// or https://",
        ),
        (vec!["--jwks-url", "ftp://x/"], "http://"),
        (
            vec![
                "--jwks-url",
                "http://127.0.0.1:1/j",
                "--verify-key",
                "x.pem",
            ],
            "for issuers",
        ),
        (
            vec![
                "--jwks-url",
                "http://127.0.0.1:1/j",
                "--signing-key",
                "x.pem",
            ],
            "more than one key source",
        ),
    ] {
        let mut full = vec!["serve"];
        full.extend(args);
        let res = env.run(&full, "");
        assert_eq!(res.status.code(), Some(2), "{full:?}");
        assert!(stderr(&res).contains(says), "{full:?}: {}", stderr(&res));
    }
}

#[test]
fn issuer_publishes_its_jwks_and_a_verify_only_node_trusts_it() {
    let env = Env::new();
    env.add_user("alice", "admin", "alice-password");
    let kid = generate_key(&env, "EdDSA", "issuer.pem");
    let issuer = serve_signing(&env, &["--signing-key", "issuer.pem"]);
    assert!(
        issuer
            .log()
            .contains(&format!("algorithm EdDSA, key id {kid}")),
        "{}",
        issuer.log()
    );

    let jwks = issuer.get("/.well-known/jwks.json", None);
    assert_eq!(jwks.status, 200);
    assert_eq!(jwks.header("cache-control"), Some("public, max-age=300"));
    let set = jwks.json();
    assert_eq!(set["keys"].as_array().unwrap().len(), 1);
    assert_eq!(set["keys"][0]["kid"], kid.as_str());

    let token = issuer.token("alice", "alice-password");
    let header = header(&token);
    assert_eq!(
        (header["alg"].as_str(), header["kid"].as_str()),
        (Some("EdDSA"), Some(kid.as_str()))
    );

    let url = format!("http://{}/.well-known/jwks.json", issuer.addr);
    let node = env.serve_with(env.cmd(), &["--jwks-url", &url]);
    assert!(
        node.log().contains("verify-only") && node.log().contains("1 keys"),
        "{}",
        node.log()
    );
    let me = node.get("/me", Some(&token));
    assert_eq!((me.status, me.json()["sub"].as_str()), (200, Some("alice")));
    // No users and no /token on a verify-only node.
    assert_eq!(node.login("alice", "alice-password").status, 404);
    assert_eq!(node.get("/me", None).status, 401);
    // An HMAC token made with the public key as secret is refused there too.
    let forged = {
        use base64::Engine;
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let input = format!(
            "{}.{}",
            b64(br#"{"alg":"HS256","typ":"JWT"}"#),
            b64(format!(r#"{{"sub":"mallory","exp":{}}}"#, u32::MAX).as_bytes())
        );
        format!("{input}.{}", b64(&[0u8; 32]))
    };
    let r = node.get("/me", Some(&forged));
    assert_eq!(
        (r.status, r.json()["error_description"].as_str()),
        (401, Some("algorithm not allowed"))
    );

    // The issuer goes away: the node keeps verifying with its cached keys.
    drop(issuer);
    assert_eq!(node.get("/me", Some(&token)).status, 200);
}

#[test]
fn rotation_keeps_old_tokens_valid_and_nodes_learn_the_new_kid() {
    let env = Env::new();
    env.add_user("alice", "admin", "alice-password");
    let old_kid = generate_key(&env, "EdDSA", "old.pem");
    let new_kid = generate_key(&env, "ES256", "new.pem");
    let issuer = serve_signing(
        &env,
        &["--signing-key", "old.pem", "--listen", "127.0.0.1:0"],
    );
    let old_token = issuer.token("alice", "alice-password");
    let issuer_addr = issuer.addr;
    let url = format!("http://{issuer_addr}/.well-known/jwks.json");
    let node = env.serve_with(
        env.cmd(),
        &["--jwks-url", &url, "--jwks-refetch-interval", "1s"],
    );
    assert_eq!(node.get("/me", Some(&old_token)).status, 200);

    // Rotate: the new key signs, the old one only verifies. Same address, so the node
    // finds the issuer where it was.
    drop(issuer);
    let listen = issuer_addr.to_string();
    let issuer = serve_signing(
        &env,
        &[
            "--signing-key",
            "new.pem",
            "--verify-key",
            "old.pem",
            "--listen",
            &listen,
        ],
    );
    assert!(issuer.log().contains("1 retired keys"), "{}", issuer.log());
    let kids: Vec<String> = issuer.get("/.well-known/jwks.json", None).json()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kids, [new_kid.clone(), old_kid]);
    let new_token = issuer.token("alice", "alice-password");
    assert_eq!(claims(&new_token)["sub"], "alice");
    // Old tokens still work on the issuer…
    assert_eq!(issuer.get("/me", Some(&old_token)).status, 200);
    assert_eq!(issuer.get("/me", Some(&new_token)).status, 200);
    // …and the node refetches when it meets the new kid (at most once a second here).
    std::thread::sleep(Duration::from_millis(1100));
    let r = node.get("/me", Some(&new_token));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(node.get("/me", Some(&old_token)).status, 200);
}

#[test]
fn forged_kids_cannot_make_a_node_hammer_the_issuer() {
    let env = Env::new();
    env.add_user("alice", "admin", "alice-password");
    generate_key(&env, "EdDSA", "issuer.pem");
    let mut cmd = env.cmd();
    cmd.env("RUST_LOG", "tower_http=debug");
    let issuer = env.serve_with(cmd, &["--signing-key", "issuer.pem"]);
    let url = format!("http://{}/.well-known/jwks.json", issuer.addr);
    let node = env.serve_with(
        env.cmd(),
        &["--jwks-url", &url, "--jwks-refetch-interval", "3s"],
    );
    let fetches = || {
        issuer
            .log()
            .lines()
            .filter(|l| {
                l.contains("path=/.well-known/jwks.json") && l.contains("started processing")
            })
            .count()
    };
    assert_eq!(fetches(), 1, "one fetch at start: {}", issuer.log());
    let token = issuer.token("alice", "alice-password");
    let (_, rest) = token.split_once('.').unwrap();
    // Past the refetch interval: the first unknown kid may refetch, the rest may not.
    std::thread::sleep(Duration::from_millis(3100));
    for i in 0..40 {
        use base64::Engine;
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let forged = format!(
            "{}.{rest}",
            b64(format!(r#"{{"alg":"EdDSA","typ":"JWT","kid":"forged-{i}"}}"#).as_bytes())
        );
        let r = node.get("/me", Some(&forged));
        assert_eq!(
            (r.status, r.json()["error_description"].as_str()),
            (401, Some("unknown key id"))
        );
    }
    // 40 forged kids within the interval: one refetch, no more.
    assert_eq!(fetches(), 2);
}

/// The opt-in `rsa-signing` build (`.ci/run` builds it and names it in
/// `KEYCARD_RSA_SIGNING_BIN`): an RSA key signs RS256 with ring; the default build's
/// verify-only node takes those tokens from its JWKS, and still refuses the key to sign.
#[test]
fn the_rsa_signing_build_signs_rs256_and_a_default_node_verifies() {
    let Some(bin) = std::env::var_os("KEYCARD_RSA_SIGNING_BIN")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            required("a keycard built with --features rsa-signing (KEYCARD_RSA_SIGNING_BIN)")
        })
    else {
        return;
    };
    let env = Env::new();
    env.add_user("alice", "admin", "alice-password");
    let kid = generate_key_with(env.cmd_of(&bin), "RS256", "rsa.pem");
    let issuer = env.serve_with(env.cmd_of(&bin), &["--signing-key", "rsa.pem"]);
    assert!(
        issuer.log().contains("algorithm RS256") && issuer.log().contains(&kid),
        "{}",
        issuer.log()
    );
    let token = issuer.token("alice", "alice-password");
    let header = header(&token);
    assert_eq!(
        (header["alg"].as_str(), header["kid"].as_str()),
        (Some("RS256"), Some(kid.as_str()))
    );
    assert_eq!(issuer.get("/me", Some(&token)).status, 200);
    let jwks = issuer.get("/.well-known/jwks.json", None).json();
    assert_eq!(jwks["keys"][0]["alg"], "RS256");
    assert!(jwks["keys"][0].get("d").is_none(), "{jwks}");

    // The default build verifies it from the JWKS, and refuses the key to sign.
    let url = format!("http://{}/.well-known/jwks.json", issuer.addr);
    let node = env.serve_with(env.cmd(), &["--jwks-url", &url]);
    let me = node.get("/me", Some(&token));
    assert_eq!(
        (me.status, me.json()["sub"].as_str()),
        (200, Some("alice")),
        "{}",
        me.text()
    );
    let out = run_cmd(env.cmd().args(["serve", "--signing-key", "rsa.pem"]), "");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("RUSTSEC-2023-0071"),
        "{}",
        stderr(&out)
    );
}
