//! Configuration: refusals, precedence, files.

use crate::harness::*;

fn refused(env: &Env, cmd: &mut std::process::Command, says: &str) {
    let out = run_cmd(cmd, "");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{says}: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with("keycard: error: ") && err.contains(says),
        "{says}: {err}"
    );
    let _ = env;
}

#[test]
fn bad_configurations_exit_2_with_one_line() {
    let env = Env::new();
    std::fs::write(env.path("short.secret"), "too-short\n").unwrap();
    std::fs::write(env.path("good.secret"), format!("{SECRET}\n")).unwrap();
    std::fs::write(env.path("bad.toml"), "listen = [").unwrap();
    std::fs::write(env.path("unknown.toml"), "lissten = \"127.0.0.1:1\"\n").unwrap();
    let serve = |extra: &[&str]| {
        let mut c = env.cmd();
        c.arg("serve").args(extra);
        c
    };
    refused(&env, &mut serve(&[]), "no signing key");
    refused(
        &env,
        serve(&["--token-cache", "1000", "--token-cache-bytes", "10"])
            .env("AUTHENTICATION_SECRET", SECRET),
        "less than a byte for each",
    );
    refused(
        &env,
        serve(&[]).env("AUTHENTICATION_SECRET", "short"),
        "at least 32",
    );
    refused(
        &env,
        serve(&[]).env("AUTHENTICATION_SECRET", ""),
        "at least 32",
    );
    refused(
        &env,
        serve(&[]).env("AUTHENTICATION_SECRET_FILE", "short.secret"),
        "at least 32",
    );
    refused(
        &env,
        serve(&[]).env("AUTHENTICATION_SECRET_FILE", "missing.secret"),
        "cannot read the secret file",
    );
    refused(
        &env,
        serve(&[])
            .env("AUTHENTICATION_SECRET", SECRET)
            .env("AUTHENTICATION_SECRET_FILE", "good.secret"),
        "more than one key source",
    );
    refused(
        &env,
        serve(&["--signing-key", "k.pem"]).env("AUTHENTICATION_SECRET", SECRET),
        "more than one key source",
    );
    refused(&env, &mut serve(&["--signing-key", "k.pem"]), "cannot read");
    refused(&env, &mut serve(&[]), "no signing key");
    let with_secret = |extra: &[&str]| {
        let mut c = serve(extra);
        c.env("AUTHENTICATION_SECRET", SECRET);
        c
    };
    refused(
        &env,
        &mut with_secret(&["--token-ttl", "7w"]),
        "invalid duration",
    );
    refused(
        &env,
        &mut with_secret(&["--token-ttl", "0s"]),
        "at least 1s",
    );
    refused(
        &env,
        &mut with_secret(&["--leeway", "soon"]),
        "invalid duration",
    );
    refused(
        &env,
        &mut with_secret(&["--listen", "localhost"]),
        "--listen",
    );
    refused(
        &env,
        &mut with_secret(&["--rate-limit-user", "10/d"]),
        "invalid rate",
    );
    refused(
        &env,
        &mut with_secret(&["--rate-limit-ip", "lots"]),
        "invalid rate",
    );
    refused(
        &env,
        &mut with_secret(&["--public", "docs"]),
        "invalid path pattern",
    );
    refused(
        &env,
        &mut with_secret(&["--public", "/a*b"]),
        "invalid path pattern",
    );
    refused(&env, &mut with_secret(&["--argon2-memory", "10"]), "argon2");
    refused(
        &env,
        &mut with_secret(&["--config", "bad.toml"]),
        "bad.toml",
    );
    refused(
        &env,
        &mut with_secret(&["--config", "unknown.toml"]),
        "lissten",
    );
    refused(
        &env,
        &mut with_secret(&["--config", "missing.toml"]),
        "cannot read the config file",
    );
    std::fs::write(env.path("users.json"), "{ not json").unwrap();
    refused(&env, &mut with_secret(&[]), "users.json");
    std::fs::remove_file(env.path("users.json")).unwrap();
}

#[test]
fn the_secret_file_may_end_with_one_newline() {
    let env = Env::new();
    env.add_user("alice", "admin", "alice-password");
    std::fs::write(env.path("secret"), format!("{SECRET}\r\n")).unwrap();
    let mut cmd = env.cmd();
    cmd.env("AUTHENTICATION_SECRET_FILE", "secret");
    let server = env.serve_with(cmd, &[]);
    let token = server.token("alice", "alice-password");
    // Signed with exactly SECRET: a server given the secret directly accepts it.
    let other = env.serve(&[]);
    assert_eq!(other.get("/me", Some(&token)).status, 200);
}

#[test]
fn precedence_is_flag_then_environment_then_file_then_default() {
    let env = Env::new();
    env.add_user("alice", "admin", "alice-password");
    std::fs::write(
        env.path("keycard.toml"),
        "token_ttl = \"15m\"\nissuer = \"from-file\"\npublic = [\"/docs*\"]\n",
    )
    .unwrap();
    let ttl = |server: &Server| {
        server.login("alice", "alice-password").json()["expires_in"]
            .as_u64()
            .unwrap()
    };

    // keycard.toml in the working directory is read by default.
    let server = env.serve(&[]);
    assert_eq!(ttl(&server), 900);
    assert_eq!(
        claims(&server.token("alice", "alice-password"))["iss"],
        "from-file"
    );
    assert_eq!(server.get("/docs/x", None).status, 404);

    // The environment beats the file.
    let mut cmd = env.cmd();
    cmd.env("AUTHENTICATION_SECRET", SECRET)
        .env("KEYCARD_TOKEN_TTL", "12h");
    let server = env.serve_with(cmd, &[]);
    assert_eq!(ttl(&server), 43_200);

    // A flag beats the environment.
    let mut cmd = env.cmd();
    cmd.env("AUTHENTICATION_SECRET", SECRET)
        .env("KEYCARD_TOKEN_TTL", "12h");
    let server = env.serve_with(cmd, &["--token-ttl", "90s"]);
    assert_eq!(ttl(&server), 90);

    // --config works after the subcommand as well as before it.
    std::fs::write(env.path("other.toml"), "token_ttl = \"2h\"\n").unwrap();
    let server = env.serve(&["--config", "other.toml"]);
    assert_eq!(ttl(&server), 7200);
    let mut cmd = env.cmd();
    cmd.env("AUTHENTICATION_SECRET", SECRET)
        .args(["--config", "other.toml"]);
    let server = env.serve_with(cmd, &[]);
    assert_eq!(ttl(&server), 7200);

    // KEYCARD_PUBLIC is comma-separated.
    let mut cmd = env.cmd();
    cmd.env("AUTHENTICATION_SECRET", SECRET)
        .env("KEYCARD_PUBLIC", "/a,/b*");
    let server = env.serve_with(cmd, &["--config", "other.toml"]);
    assert_eq!(server.get("/a", None).status, 404);
    assert_eq!(server.get("/b/c", None).status, 404);
    assert_eq!(server.get("/c", None).status, 401);
}

#[test]
fn users_file_and_listen_from_the_config_file() {
    let env = Env::new();
    std::fs::write(
        env.path("keycard.toml"),
        "users = \"db/people.json\"\nlisten = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    std::fs::create_dir(env.path("db")).unwrap();
    env.add_user("alice", "admin", "alice-password");
    assert!(env.path("db/people.json").exists());
    let mut cmd = env.cmd();
    cmd.env("AUTHENTICATION_SECRET", SECRET);
    // The harness adds no --listen when one is given; the file's says the same.
    let server = env.serve_with(cmd, &["--listen=127.0.0.1:0"]);
    assert!(
        server.log().contains("db/people.json: 1 users"),
        "{}",
        server.log()
    );
    assert_eq!(server.login("alice", "alice-password").status, 200);
}

#[cfg(unix)]
#[test]
fn secret_files_readable_by_others_are_warned_about_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    env.add_user("alice", "admin", "alice-password");
    let set_mode = |name: &str, mode: u32| {
        std::fs::set_permissions(env.path(name), std::fs::Permissions::from_mode(mode)).unwrap();
    };
    std::fs::write(env.path("secret"), SECRET).unwrap();
    set_mode("secret", 0o644);
    set_mode("users.json", 0o640);
    let mut cmd = env.cmd();
    cmd.env("AUTHENTICATION_SECRET_FILE", "secret");
    let server = env.serve_with(cmd, &[]);
    let log = server.log();
    assert!(
        log.contains("the secret file secret is readable by other users (mode 644)"),
        "{log}"
    );
    assert!(
        log.contains("the users file users.json is readable by other users (mode 640)"),
        "{log}"
    );
    drop(server);

    std::fs::copy(key_file("ed25519.pem"), env.path("key.pem")).unwrap();
    set_mode("key.pem", 0o604);
    let server = env.serve_with(env.cmd(), &["--signing-key", "key.pem"]);
    assert!(
        server
            .log()
            .contains("the private key key.pem is readable by other users"),
        "{}",
        server.log()
    );
    drop(server);

    set_mode("key.pem", 0o600);
    set_mode("users.json", 0o600);
    let server = env.serve_with(env.cmd(), &["--signing-key", "key.pem"]);
    assert!(
        !server.log().contains("readable by other users"),
        "{}",
        server.log()
    );
}

#[test]
fn config_file_mistakes_are_one_line_naming_the_key() {
    let env = Env::new();
    let cases = [
        (
            "typo.toml",
            "upstream_timout = \"5s\"\n",
            "unknown key `upstream_timout` (did you mean `upstream_timeout`?)",
        ),
        ("far.toml", "colour = \"blue\"\n", "unknown key `colour`"),
        ("demo.toml", "demo = true\n", "unknown key `demo`"),
        (
            "type.toml",
            "token_ttl = 5\n",
            "expected a string in `token_ttl`",
        ),
        ("list.toml", "public = \"/docs\"\n", "in `public`"),
        (
            "global.toml",
            "argon2_memory = \"lots\"\n",
            "in `argon2_memory`",
        ),
        (
            "rule.toml",
            "[[rule]]\npath = \"/a\"\ncolour = 1\n",
            "colour",
        ),
    ];
    for (name, text, says) in cases {
        std::fs::write(env.path(name), text).unwrap();
        let mut cmd = env.cmd();
        cmd.env("AUTHENTICATION_SECRET", SECRET)
            .args(["--config", name, "serve"]);
        refused(&env, &mut cmd, says);
        // Every subcommand reads the file, and refuses it the same way.
        let mut cmd = env.cmd();
        cmd.args(["--config", name, "users", "list"]);
        refused(&env, &mut cmd, says);
    }
    assert!(!env.path("users.json").exists(), "nothing written");
}

#[test]
fn lifetime_and_key_mistakes_are_refused_before_listening() {
    let env = Env::new();
    let with_secret = |extra: &[&str]| {
        let mut c = env.cmd();
        c.env("AUTHENTICATION_SECRET", SECRET)
            .arg("serve")
            .args(extra);
        c
    };
    refused(
        &env,
        &mut with_secret(&["--token-ttl", "40d"]),
        "a token lifetime of 40d is longer than the maximum lifetime of 30d",
    );
    refused(
        &env,
        &mut with_secret(&["--token-ttl", "2h", "--max-token-lifetime", "1h"]),
        "longer than the maximum lifetime of 1h",
    );
    refused(
        &env,
        &mut with_secret(&["--refresh-ttl", "0s"]),
        "a refresh token must live at least 1s",
    );
    std::fs::copy(key_file("ed25519.pem"), env.path("key.pem")).unwrap();
    refused(
        &env,
        &mut with_secret(&["--verify-key", "key.pem"]),
        "HMAC secrets and public keys cannot verify side by side",
    );
    // A long lifetime is fine once the maximum allows it.
    let mut cmd = env.cmd();
    cmd.env("AUTHENTICATION_SECRET", SECRET);
    let server = env.serve_with(cmd, &["--token-ttl", "40d", "--max-token-lifetime", "60d"]);
    assert_eq!(server.get("/healthz", None).status, 200);
}

#[test]
fn help_shows_the_library_defaults() {
    let env = Env::new();
    let out = run_cmd(env.cmd().args(["serve", "--help"]), "");
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for shown in [
        "[default: 7d]",
        "[default: 30d]",
        "[default: 30s]",
        "[default: 10/m]",
        "[default: 100/m]",
        "[default: X-Auth-User]",
        "[default: nginx]",
        "[default: 5m]",
        "[default: 16384]",
        "[default: 19456]",
        "[default: users.json]",
        "[default: 127.0.0.1:8080]",
    ] {
        assert!(help.contains(shown), "{shown} missing from:\n{help}");
    }
}
