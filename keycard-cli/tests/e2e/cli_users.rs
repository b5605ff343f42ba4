//! `keycard users …` end to end.

use std::process::Stdio;

use crate::harness::*;

#[test]
fn add_list_passwd_set_role_remove() {
    let env = Env::new();
    env.add_user("alice", "admin", "alice-password");
    env.add_user("bob", "user", "bob-password");
    let out = env.run(&["users", "list"], "");
    assert!(out.status.success());
    let lines: Vec<Vec<String>> = stdout(&out)
        .lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect();
    assert_eq!(lines.len(), 2, "no header: {lines:?}");
    assert_eq!(
        (lines[0][0].as_str(), lines[0][1].as_str()),
        ("alice", "admin")
    );
    assert!(
        lines[0][2].ends_with('Z') && lines[0][2].contains('T'),
        "RFC 3339 UTC: {}",
        lines[0][2]
    );
    assert!(!stdout(&out).contains("argon2"));

    let out = env.run(&["users", "list", "--json"], "");
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[1]["name"], "bob");
    assert_eq!(list[1]["role"], "user");
    assert!(list[1]["created"].is_string());
    assert_eq!(
        list[1].as_object().unwrap().len(),
        3,
        "never a hash: {list}"
    );

    let before = read_json(&env.users_file())["users"][0]["password_hash"].clone();
    assert!(
        env.run(
            &["users", "passwd", "alice", "--password-stdin"],
            "new-alice-password\r\n"
        )
        .status
        .success()
    );
    let after = read_json(&env.users_file())["users"][0]["password_hash"].clone();
    assert_ne!(before, after);
    assert!(
        after
            .as_str()
            .unwrap()
            .starts_with("$argon2id$v=19$m=1024,t=1,p=1$")
    );

    assert!(
        env.run(&["users", "set-role", "bob", "ops"], "")
            .status
            .success()
    );
    assert!(env.run(&["users", "remove", "alice"], "").status.success());
    let out = env.run(&["users", "list"], "");
    assert_eq!(stdout(&out).lines().count(), 1);
    assert!(stdout(&out).starts_with("bob\tops\t"));

    // The new password works (and \r\n was stripped).
    env.add_user("carol", "user", "carol-password");
    assert!(
        env.run(
            &["users", "passwd", "carol", "--password-stdin"],
            "carol-new-password\r\n"
        )
        .status
        .success()
    );
    let server = env.serve(&[]);
    assert_eq!(server.login("carol", "carol-new-password").status, 200);
}

#[test]
fn mistakes_exit_1_with_one_line_and_write_nothing() {
    let env = Env::new();
    env.add_user("alice", "admin", "alice-password");
    let before = std::fs::read(env.users_file()).unwrap();
    let cases: &[(&[&str], &str, &str)] = &[
        (
            &["users", "add", "alice", "--password-stdin"],
            "another-password\n",
            "already exists",
        ),
        (
            &["users", "add", "bad name", "--password-stdin"],
            "another-password\n",
            "invalid username",
        ),
        (
            &["users", "add", "", "--password-stdin"],
            "another-password\n",
            "invalid username",
        ),
        (
            &[
                "users",
                "add",
                "bob",
                "--role",
                "bad role",
                "--password-stdin",
            ],
            "another-password\n",
            "invalid role",
        ),
        (
            &["users", "add", "bob", "--password-stdin"],
            "short\n",
            "too short",
        ),
        (
            &["users", "add", "bob", "--password-stdin"],
            "",
            "no password",
        ),
        (
            &["users", "passwd", "nobody", "--password-stdin"],
            "another-password\n",
            "no user",
        ),
        (&["users", "set-role", "nobody", "admin"], "", "no user"),
        (
            &["users", "set-role", "alice", "bad role"],
            "",
            "invalid role",
        ),
        (&["users", "remove", "nobody"], "", "no user"),
        (&["users", "add", "bob"], "", "--password-stdin"),
    ];
    for (args, stdin, says) in cases {
        let out = env.run(args, stdin);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("keycard: error: ") && err.contains(says),
            "{args:?}: {err}"
        );
        assert_eq!(
            std::fs::read(env.users_file()).unwrap(),
            before,
            "{args:?} wrote something"
        );
    }
    let long = format!("{}\n", "x".repeat(1025));
    let out = env.run(&["users", "add", "bob", "--password-stdin"], &long);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("too long"));
    let ok = format!("{}\n", "x".repeat(1024));
    assert!(
        env.run(&["users", "add", "bob", "--password-stdin"], &ok)
            .status
            .success()
    );
}

#[test]
fn malformed_command_lines_exit_2() {
    let env = Env::new();
    for args in [
        &["users"][..],
        &["users", "add"],
        &["users", "frobnicate"],
        &["nope"],
        &["users", "list", "--bogus"],
    ] {
        let out = env.run(args, "");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
    assert!(!env.users_file().exists());
}

#[test]
fn concurrent_adds_from_many_processes_lose_nothing() {
    let env = Env::new();
    let children: Vec<_> = (0..12)
        .map(|i| {
            let mut child = env
                .cmd()
                .args(["users", "add", &format!("user{i}"), "--password-stdin"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"parallel-password\n")
                .unwrap();
            child
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let file = read_json(&env.users_file());
    let mut names: Vec<String> = file["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    let mut want: Vec<String> = (0..12).map(|i| format!("user{i}")).collect();
    want.sort();
    assert_eq!(names, want);
    // No temporary files are left beside it.
    let leftovers: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Runs `keycard ARGS` on a pseudo-terminal (util-linux `script`), typing `input`.
fn on_a_terminal(env: &Env, args: &str, input: &str) -> std::process::Output {
    let mut cmd = std::process::Command::new("script");
    cmd.current_dir(env.dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("KEYCARD_ARGON2_MEMORY", "1024")
        .env("KEYCARD_ARGON2_ITERATIONS", "1")
        .args(["-qec", &format!("{BIN} {args}"), "/dev/null"]);
    run_cmd(&mut cmd, input)
}

#[test]
fn on_a_terminal_the_password_is_asked_twice() {
    let env = Env::new();
    let out = on_a_terminal(
        &env,
        "users add bob --role user",
        "tty-password-1\ntty-password-1\n",
    );
    assert!(out.status.success(), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains("Password: ") && text.contains("Password again: "),
        "{text}"
    );
    let out = on_a_terminal(&env, "users add carol", "tty-password-1\ntty-password-2\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("the passwords differ"));
    let out = on_a_terminal(&env, "users passwd bob", "short\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("too short"));
    let server = env.serve(&[]);
    assert_eq!(server.login("bob", "tty-password-1").status, 200);
    assert_eq!(server.login("carol", "tty-password-1").status, 401);
}

#[test]
fn kill_9_during_writes_never_corrupts_or_loses_an_acknowledged_user() {
    let env = Env::new();
    env.add_user("first", "user", "first-password");
    let mut acknowledged = vec!["first".to_owned()];
    for i in 0..30u64 {
        let name = format!("u{i}");
        let mut child = env
            .cmd()
            .args(["users", "add", &name, "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        let _ = child.stdin.take().unwrap().write_all(b"storm-password\n");
        // Kill at a different instant each time: before, during or after the write.
        std::thread::sleep(std::time::Duration::from_micros((i * 397) % 6000));
        signal(child.id(), "KILL");
        let status = child.wait().unwrap();
        if status.success() {
            acknowledged.push(name);
        }
        // Whatever happened, the file is whole and holds every acknowledged user.
        let file = read_json(&env.users_file());
        let names: Vec<&str> = file["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["name"].as_str().unwrap())
            .collect();
        for a in &acknowledged {
            assert!(names.contains(&a.as_str()), "{a} lost after kill {i}");
        }
    }
    eprintln!(
        "{} of 30 writers acknowledged before the kill",
        acknowledged.len() - 1
    );
    // The store still works afterwards, and the next writer sweeps away what killed
    // writers left half-done.
    env.add_user("last", "user", "last-password");
    let leftovers: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
