//! `keycard serve` end to end.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use crate::harness::*;

#[test]
fn readme_flow_add_a_user_get_a_token_call_a_protected_route() {
    let env = Env::new();
    env.add_user("alice", "admin", "alice-password");
    let server = env.serve(&[]);
    assert!(
        server
            .log()
            .contains("(algorithm HS256, key id -, users users.json: 1 users)"),
        "start line: {}",
        server.log()
    );
    let r = server.login("alice", "alice-password");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let token = r.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(r.json()["expires_in"], 604_800);
    let me = server.get("/me", Some(&token));
    assert_eq!(me.status, 200, "{}", me.text());
    assert_eq!(me.json()["sub"], "alice");
    assert_eq!(me.json()["role"], "admin");
    let anonymous = server.get("/me", None);
    assert_eq!(
        (anonymous.status, anonymous.error()),
        (401, "missing_token".to_owned())
    );
    assert_eq!(
        anonymous.header("www-authenticate"),
        Some("Bearer realm=\"keycard\"")
    );
    let health = server.get("/healthz", None);
    assert_eq!((health.status, health.text()), (200, "ok".to_owned()));
}

#[test]
fn bare_token_for_express_clients() {
    let env = Env::new();
    env.add_user("alice", "admin", "alice-password");
    let server = env.serve(&[]);
    let r = server.post(
        "/token",
        "application/x-www-form-urlencoded",
        "username=alice&password=alice-password",
        "Accept: text/plain\r\n",
    );
    assert_eq!(r.status, 200);
    let token = r.text();
    assert_eq!(token.split('.').count(), 3);
    assert_eq!(server.get("/me", Some(&token)).status, 200);
}

#[test]
fn demo_starts_with_a_user_and_prints_a_working_curl_line() {
    let env = Env::new();
    let server = env.serve_with(env.cmd(), &["--demo"]);
    let out = server.stdout();
    let password = out
        .split("password=")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("no password in demo output: {out}"))
        .trim()
        .to_owned();
    assert!(
        out.contains(&format!("http://{}/token", server.addr)),
        "{out}"
    );
    let token = server.token("demo", &password);
    assert_eq!(server.get("/me", Some(&token)).json()["sub"], "demo");
    // The demo's users file is throwaway: nothing is written in the working directory.
    assert!(!env.users_file().exists());
}

#[test]
fn demo_refuses_a_network_address() {
    let env = Env::new();
    let out = env.run(&["serve", "--demo", "--listen", "0.0.0.0:0"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("loopback"), "{}", stderr(&out));
}

#[test]
fn a_user_added_while_the_server_runs_logs_in_within_two_seconds() {
    let env = Env::new();
    // Polling with failed logins would trip the per-user limit.
    let server = env.serve(&["--rate-limit-user", "0"]);
    assert!(server.log().contains("users.json: 0 users"));
    assert_eq!(server.login("carol", "carol-password").status, 401);
    env.add_user("carol", "user", "carol-password");
    assert!(eventually(Duration::from_millis(2500), || server
        .login("carol", "carol-password")
        .status
        == 200));
    // And removal is seen too.
    let out = env.run(&["users", "remove", "carol"], "");
    assert!(out.status.success());
    assert!(eventually(Duration::from_millis(2500), || server
        .login("carol", "carol-password")
        .status
        == 401));
}

#[test]
fn role_changes_reach_new_tokens() {
    let env = Env::new();
    env.add_user("dave", "user", "dave-password");
    let server = env.serve(&[]);
    assert_eq!(
        claims(&server.token("dave", "dave-password"))["role"],
        "user"
    );
    assert!(
        env.run(&["users", "set-role", "dave", "admin"], "")
            .status
            .success()
    );
    assert!(eventually(Duration::from_millis(2500), || claims(
        &server.token("dave", "dave-password")
    )["role"]
        == "admin"));
}

#[test]
fn express_users_file_logs_in_and_is_upgraded_to_argon2id_without_losing_a_cli_edit() {
    let env = Env::new();
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/express-users.json"
        ),
        env.users_file(),
    )
    .unwrap();
    let server = env.serve(&[]);
    assert!(
        server.log().contains("users.json: 2 users"),
        "{}",
        server.log()
    );
    // A CLI edit races with the login's background re-hash.
    let mut cli = env
        .cmd()
        .args(["users", "add", "erin", "--role", "user", "--password-stdin"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let token = server.token("alice", "node-made-password");
    cli.stdin
        .take()
        .unwrap()
        .write_all(b"erin-password\n")
        .unwrap();
    assert!(cli.wait().unwrap().success());
    assert_eq!(claims(&token)["role"], "admin");
    assert!(eventually(Duration::from_secs(5), || {
        read_json(&env.users_file())["users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| {
                u["name"] == "alice"
                    && u["password_hash"]
                        .as_str()
                        .unwrap()
                        .starts_with("$argon2id$")
            })
    }));
    let file = read_json(&env.users_file());
    assert_eq!(file["version"], 1);
    let names: Vec<&str> = file["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "bob", "erin"]);
    // bob has not logged in: still bcrypt, and still works.
    assert!(
        file["users"][1]["password_hash"]
            .as_str()
            .unwrap()
            .starts_with("$2b$10$")
    );
    assert_eq!(server.login("bob", "bobs-node-password").status, 200);
    assert!(eventually(Duration::from_millis(2500), || server
        .login("alice", "node-made-password")
        .status
        == 200));
    assert_eq!(server.login("alice", "wrong-password").status, 401);
}

#[test]
fn sigterm_lets_the_request_in_flight_finish_and_exits_zero() {
    let env = Env::new();
    env.add_user("alice", "admin", "alice-password");
    // A costly hash keeps the login in flight while the signal arrives.
    let mut cmd = env.cmd();
    cmd.env("AUTHENTICATION_SECRET", SECRET)
        .env("KEYCARD_ARGON2_MEMORY", "65536")
        .env("KEYCARD_ARGON2_ITERATIONS", "32");
    let out = env.run(
        &[
            "users",
            "passwd",
            "alice",
            "--password-stdin",
            "--argon2-memory",
            "65536",
            "--argon2-iterations",
            "32",
        ],
        "alice-password\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let server = env.serve_with(cmd, &[]);
    let body = r#"{"username":"alice","password":"alice-password"}"#;
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    // The hash takes about a second; the signal arrives while it runs.
    std::thread::sleep(Duration::from_millis(250));
    signal(server.pid(), "TERM");
    let r = read_response(&mut stream);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["access_token"].is_string());
    let status = server.terminate();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn sigint_exits_zero() {
    let env = Env::new();
    let server = env.serve(&[]);
    assert_eq!(server.get("/healthz", None).status, 200);
    signal(server.pid(), "INT");
    let status = server.terminate();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn logs_never_contain_secrets_passwords_or_tokens() {
    let env = Env::new();
    env.add_user("alice", "admin", "alice-password");
    let mut cmd = env.cmd();
    cmd.env("AUTHENTICATION_SECRET", SECRET)
        .env("RUST_LOG", "trace");
    let server = env.serve_with(cmd, &[]);
    let token = server.token("alice", "alice-password");
    assert_eq!(server.get("/me", Some(&token)).status, 200);
    assert_eq!(server.login("alice", "wrong-password-xyz").status, 401);
    assert_eq!(
        server.login("wrong-password-in-name", "pw-pw-pw-pw").status,
        401
    );
    assert_eq!(server.get("/me", Some(&format!("{token}x"))).status, 401);
    let log = server.log();
    assert!(log.contains("token issued"), "trace logging is on: {log}");
    for secret in [
        SECRET,
        "alice-password",
        "wrong-password-xyz",
        "wrong-password-in-name",
        &token,
        token.split('.').nth(2).unwrap(),
    ] {
        assert!(!log.contains(secret), "{secret:?} appears in the log");
    }
}

#[test]
fn token_ttl_issuer_audience_and_key_id_flags() {
    let env = Env::new();
    env.add_user("alice", "admin", "alice-password");
    let server = env.serve(&[
        "--token-ttl",
        "90s",
        "--issuer",
        "https://auth.test",
        "--audience",
        "api",
        "--key-id",
        "k1",
    ]);
    assert!(server.log().contains("key id k1"), "{}", server.log());
    let r = server.login("alice", "alice-password");
    assert_eq!(r.json()["expires_in"], 90);
    let token = r.json()["access_token"].as_str().unwrap().to_owned();
    let c = claims(&token);
    assert_eq!(c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(), 90);
    assert_eq!(
        (c["iss"].as_str(), c["aud"].as_str()),
        (Some("https://auth.test"), Some("api"))
    );
    assert_eq!(server.get("/me", Some(&token)).status, 200);
}

#[test]
fn public_paths_from_flags() {
    let env = Env::new();
    let server = env.serve(&["--public", "/docs*", "--public", "/status"]);
    for (path, status) in [
        ("/docs", 404),
        ("/docs/x", 404),
        ("/docsx", 404),
        ("/status", 404),
        ("/status/", 401),
        ("/other", 401),
    ] {
        assert_eq!(server.get(path, None).status, status, "{path}");
    }
}

#[test]
fn rate_limits_from_flags() {
    let env = Env::new();
    env.add_user("alice", "admin", "alice-password");
    let server = env.serve(&["--rate-limit-user", "2/m", "--rate-limit-ip", "0"]);
    for _ in 0..2 {
        assert_eq!(server.login("alice", "bad-password").status, 401);
    }
    let r = server.login("alice", "alice-password");
    assert_eq!((r.status, r.error()), (429, "slow_down".to_owned()));
    assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);

    let server = env.serve(&["--rate-limit-ip", "2/h"]);
    server.login("alice", "alice-password");
    server.login("alice", "alice-password");
    let r = server.login("alice", "alice-password");
    assert_eq!((r.status, r.error()), (429, "slow_down".to_owned()));
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
#[cfg(target_os = "linux")]
fn a_burst_of_logins_gives_its_hashing_memory_back() {
    // At the default cost each hash works in one 19 MiB block. Before
    // src/allocator.rs, glibc kept such a block resident for good once a burst of
    // logins had come and gone (its mmap threshold rises to the size of a freed block,
    // for blocks up to 32 MiB): the server stayed 19 MiB or more above its start.
    let env = Env::new();
    let with_default_memory = || {
        let mut cmd = env.cmd();
        cmd.env("KEYCARD_ARGON2_MEMORY", "19456");
        cmd
    };
    let out = run_cmd(
        with_default_memory().args([
            "users",
            "add",
            "alice",
            "--role",
            "admin",
            "--password-stdin",
        ]),
        "alice-password\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let mut cmd = with_default_memory();
    cmd.env("AUTHENTICATION_SECRET", SECRET);
    let server = env.serve_with(cmd, &[]);
    let base = rss_kib(server.pid());
    for _ in 0..3 {
        assert_eq!(server.login("alice", "alice-password").status, 200);
    }
    for _ in 0..2 {
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| assert_eq!(server.login("alice", "alice-password").status, 200));
            }
        });
    }
    let mut last = 0;
    let back = eventually(Duration::from_secs(10), || {
        last = rss_kib(server.pid());
        last < base + 12 * 1024
    });
    assert!(
        back,
        "RSS {base} KiB at start, still {last} KiB after the logins ended"
    );
}
