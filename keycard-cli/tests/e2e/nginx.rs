//! nginx `auth_request` in front of an API, asking Keycard: `examples/nginx.conf`, run
//! as it is with the test's ports.
//!
//! Needs nginx (Debian package `nginx`, which `.ci/run` installs). Without it the test is
//! skipped when run by hand, and fails under CI (`CI` set).

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

pub struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        stop(&mut self.0);
    }
}

/// Runs nginx with `config` (an nginx.conf listening on `addr`) under a prefix in `env`,
/// until dropped. `None` when nginx is not installed, which only a run by hand may skip.
pub fn run_nginx(env: &Env, config: &str, addr: SocketAddr) -> Option<Nginx> {
    let Some(nginx) = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install nginx (see .ci/run)"
        );
        eprintln!("skipped: nginx is not installed");
        return None;
    };
    let prefix = env.path("nginx");
    std::fs::create_dir_all(prefix.join("logs")).unwrap();
    std::fs::write(prefix.join("nginx.conf"), config).unwrap();
    let globals = format!(
        "daemon off; pid {0}/nginx.pid; error_log {0}/error.log;",
        prefix.display()
    );
    let child = Nginx(
        Command::new(nginx)
            .args([
                "-p",
                prefix.to_str().unwrap(),
                "-c",
                "nginx.conf",
                "-g",
                &globals,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx did not start: {:?}",
            std::fs::read_to_string(prefix.join("error.log"))
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(child)
}

#[test]
fn auth_request_in_front_of_an_api() {
    let env = Env::new();
    env.add_user("alice", "admin", "alice-password");
    env.add_user("bob", "user", "bob-password");
    std::fs::write(env.path("keycard.toml"), "[[rule]]\npath = \"/admin*\"\nroles = [\"admin\"]\n\n[[rule]]\npath = \"/status\"\nmethods = [\"GET\"]\npublic = true\n").unwrap();
    let echo = Echo::start();
    let keycard = env.serve(&[]);
    let port = crate::harness::free_port();
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/nginx.conf"
    ))
    .unwrap();
    let config = example
        .replace("127.0.0.1:8000", &format!("127.0.0.1:{port}"))
        .replace("127.0.0.1:8080", &keycard.addr.to_string())
        .replace("127.0.0.1:3000", &echo.addr.to_string());
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let Some(_nginx) = run_nginx(&env, &config, addr) else {
        return;
    };
    let get = |target: &str, token: Option<&str>, extra: &str| {
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        request(addr, format!("GET {target} HTTP/1.1\r\nHost: api.example\r\n{auth}{extra}Connection: close\r\n\r\n").as_bytes())
    };

    // Logging in goes through nginx to Keycard.
    let body = r#"{"username":"alice","password":"alice-password"}"#;
    let r = request(
        addr,
        format!("POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let alice = r.json()["access_token"].as_str().unwrap().to_owned();
    let bob = keycard.token("bob", "bob-password");

    assert_eq!(get("/api/orders", None, "").status, 401);
    assert_eq!(get("/api/orders", Some("garbage"), "").status, 401);
    let r = get(
        "/api/orders?page=2",
        Some(&alice),
        "X-Auth-User: mallory\r\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = r.json();
    assert_eq!(seen["target"], "/api/orders?page=2");
    assert_eq!(
        echoed(&seen, "x-auth-user"),
        Some("alice"),
        "set from Keycard's answer, not the client's"
    );
    assert_eq!(echoed(&seen, "x-auth-role"), Some("admin"));
    assert!(
        echoed(&seen, "x-auth-claims")
            .unwrap()
            .contains("\"sub\":\"alice\"")
    );
    assert_eq!(echoed(&seen, "authorization"), None);
    // Rules apply to the original request.
    assert_eq!(get("/admin/stats", Some(&bob), "").status, 403);
    assert_eq!(get("/admin/stats", Some(&alice), "").status, 200);
    assert_eq!(get("/status", None, "").status, 200);
    assert_eq!(get("/%61dmin/stats", Some(&bob), "").status, 403);
    // nginx asks with the original method: a POST is asked as a POST, and answered.
    let post = |target: &str, token: &str| {
        request(addr, format!("POST {target} HTTP/1.1\r\nHost: api.example\r\nAuthorization: Bearer {token}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}").as_bytes())
    };
    let r = post("/api/orders", &bob);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["method"], "POST");
    assert_eq!(post("/admin/stats", &bob).status, 403);
    // A question Keycard refuses as malformed is the client's 400, in JSON, not nginx's 500.
    let r = get("/docs/..;/admin/stats", Some(&alice), "");
    assert_eq!((r.status, r.error()), (400, "invalid_request".to_owned()));
}
