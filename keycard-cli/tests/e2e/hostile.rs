//! Hostile and malformed input over a raw socket: always a 4xx, never a crash.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use crate::harness::*;

#[test]
fn a_body_just_over_the_limit_gets_a_readable_413() {
    let env = Env::new();
    let server = env.serve(&[]);
    for size in [8 * 1024 + 1, 8 * 1024 + 100, 60 * 1024] {
        let body = format!(
            "{{\"username\":\"a\",\"password\":\"{}\"}}",
            "x".repeat(size - 30)
        );
        let r = server.post("/token", "application/json", &body, "");
        assert_eq!(
            (r.status, r.error()),
            (413, "request_too_large".to_owned()),
            "{size}"
        );
    }
    // Chunked, with no length announced.
    let mut raw = b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for _ in 0..9 {
        raw.extend_from_slice(b"400\r\n");
        raw.extend_from_slice(&[b'x'; 1024]);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let r = server.request(&raw);
    assert_eq!((r.status, r.error()), (413, "request_too_large".to_owned()));
    assert_eq!(server.get("/healthz", None).status, 200);
}

#[test]
fn oversized_and_binary_headers_get_4xx() {
    let env = Env::new();
    let server = env.serve(&[]);
    let huge = format!(
        "GET /me HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let r = server.request(huge.as_bytes());
    assert_eq!(r.status, 431);
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let r = server.request(
        format!("GET /me HTTP/1.1\r\nHost: x\r\n{many}Connection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!(r.status, 431);
    let huge_token = format!(
        "GET /me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        "a".repeat(12 * 1024)
    );
    let r = server.request(huge_token.as_bytes());
    assert_eq!((r.status, r.error()), (401, "invalid_token".to_owned()));
    let mut binary = b"GET /me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\x80\x81\r\nConnection: close\r\n\r\n".to_vec();
    let r = server.request(&binary);
    assert_eq!((r.status, r.error()), (401, "invalid_token".to_owned()));
    binary =
        b"GET /me HTTP/1.1\r\nHost: x\r\nAuthorization: \xc3\xa9\x00x\r\nConnection: close\r\n\r\n"
            .to_vec();
    let r = server.request(&binary);
    assert!((400..500).contains(&r.status), "{}", r.status);
    let r = server.request(b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 400);
    let r = server.request(b"BLAH\r\n\r\n");
    assert_eq!(r.status, 400);
    assert_eq!(server.get("/healthz", None).status, 200);
}

#[test]
fn unless_edge_cases_over_the_wire() {
    let env = Env::new();
    env.add_user("alice", "admin", "alice-password");
    let server = env.serve(&[]);
    let body = r#"{"username":"alice","password":"alice-password"}"#;
    let post = |path: &str| server.post(path, "application/json", body, "");
    assert_eq!(post("/token").status, 200);
    assert_eq!(post("/%74oken").status, 200);
    assert_eq!(
        (post("/token/").status, post("/token/").error()),
        (401, "missing_token".to_owned())
    );
    assert_eq!(
        (post("/TOKEN").status, post("/TOKEN").error()),
        (401, "missing_token".to_owned())
    );
    assert_eq!(
        (post("//token").status, post("//token").error()),
        (400, "invalid_request".to_owned())
    );
    for path in [
        "/x/../token",
        "/./token",
        "/token%2F",
        "/%2e%2e/token",
        "/token%00",
        "/tok%zzen",
        "/token\\",
    ] {
        let r = server.get(path, None);
        assert_eq!(r.status, 400, "{path}: {}", r.text());
    }
    // The query string is passed on untouched; it is not part of the path.
    assert_eq!(post("/token?x=/../y").status, 200);
}

#[test]
fn wrong_content_types_and_malformed_bodies() {
    let env = Env::new();
    let server = env.serve(&[]);
    for (ct, body, status, code) in [
        (
            "text/plain",
            "username=a&password=b",
            415,
            "unsupported_media_type",
        ),
        ("application/xml", "<a/>", 415, "unsupported_media_type"),
        ("application/json", "{\"username\":", 400, "invalid_request"),
        ("application/json", "null", 400, "invalid_request"),
        (
            "application/x-www-form-urlencoded",
            "username=%zz",
            400,
            "invalid_request",
        ),
    ] {
        let r = server.post("/token", ct, body, "");
        assert_eq!(
            (r.status, r.error()),
            (status, code.to_owned()),
            "{ct} {body}"
        );
    }
    let r = server.request(b"GET /token HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(
        (r.status, r.error()),
        (405, "method_not_allowed".to_owned())
    );
}

#[test]
fn a_silent_client_does_not_hold_the_server() {
    let env = Env::new();
    let server = env.serve(&[]);
    // Half a request, then nothing: other clients are still served.
    let mut idle = TcpStream::connect(server.addr).unwrap();
    idle.write_all(b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(server.get("/healthz", None).status, 200);
    drop(idle);
}

#[test]
fn a_stalled_body_times_out_with_408() {
    let env = Env::new();
    let server = env.serve(&["--request-timeout", "1s"]);
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
        .write_all(b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"user")
        .unwrap();
    let started = std::time::Instant::now();
    let r = read_response(&mut stream);
    assert_eq!((r.status, r.error()), (408, "request_timeout".to_owned()));
    assert!(started.elapsed() < Duration::from_secs(15));
}

/// Reads until the server closes the connection or `limit` passes; returns whether it
/// closed, and what it sent.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> (bool, Vec<u8>) {
    use std::io::Read;
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = std::time::Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while std::time::Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return (true, got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return (true, got),
        }
    }
    (false, got)
}

#[test]
fn idle_and_slow_clients_are_cut_off() {
    let env = Env::new();
    let server = env.serve(&["--header-timeout", "1s"]);
    // Connects and says nothing.
    let mut silent = TcpStream::connect(server.addr).unwrap();
    let (closed, _) = closed_within(&mut silent, Duration::from_secs(5));
    assert!(closed, "a silent connection must be closed");
    // Slowloris: a byte of the head every 300 ms never finishes in time.
    let mut slow = TcpStream::connect(server.addr).unwrap();
    let head =
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let started = std::time::Instant::now();
    let mut cut = false;
    for b in head {
        if slow.write_all(&[*b]).is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
        if started.elapsed() > Duration::from_secs(6) {
            break;
        }
    }
    let (closed, got) = closed_within(&mut slow, Duration::from_secs(3));
    assert!(cut || closed, "a slow head must be cut off");
    assert!(
        !String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"),
        "it must not be served"
    );
    // Idle between two requests on a kept-alive connection.
    let mut keep = TcpStream::connect(server.addr).unwrap();
    keep.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (closed, got) = closed_within(&mut keep, Duration::from_secs(5));
    assert!(
        String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    assert!(closed, "an idle kept-alive connection must be closed");
    // Meanwhile everyone else is served.
    assert_eq!(server.get("/healthz", None).status, 200);
}

#[test]
fn at_most_max_connections_are_served_at_once() {
    let env = Env::new();
    let server = env.serve(&["--max-connections", "2", "--header-timeout", "3s"]);
    let hold: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    // A third connection is accepted by the kernel but not served while both slots are held.
    let mut third = TcpStream::connect(server.addr).unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (_, early) = closed_within(&mut third, Duration::from_millis(700));
    assert!(
        early.is_empty(),
        "served beyond the limit: {:?}",
        String::from_utf8_lossy(&early)
    );
    drop(hold);
    let (_, later) = closed_within(&mut third, Duration::from_secs(5));
    assert!(
        String::from_utf8_lossy(&later).starts_with("HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&later)
    );
}

#[test]
fn header_limits_are_configurable() {
    let env = Env::new();
    let server = env.serve(&["--max-headers", "10", "--max-header-bytes", "2048"]);
    let many: String = (0..12).map(|i| format!("X-H{i}: v\r\n")).collect();
    let r = server.request(
        format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many}Connection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!(
        (r.status, r.error()),
        (431, "request_header_fields_too_large".to_owned())
    );
    let big = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(3000)
    );
    let r = server.request(big.as_bytes());
    assert_eq!(r.status, 431);
    let fine = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(1500)
    );
    assert_eq!(server.request(fine.as_bytes()).status, 200);
}

#[test]
fn a_spoofed_forwarded_for_does_not_pick_a_fresh_bucket() {
    let env = Env::new();
    let login = |server: &Server, xff: &str| {
        server
            .post(
                "/token",
                "application/json",
                "{}",
                &format!("X-Forwarded-For: {xff}\r\n"),
            )
            .status
    };
    // Off by default: every request counts against the real peer, whatever it claims.
    let server = env.serve(&["--rate-limit-ip", "2/h"]);
    assert_eq!(login(&server, "1.1.1.1"), 400);
    assert_eq!(login(&server, "2.2.2.2"), 400);
    assert_eq!(login(&server, "3.3.3.3"), 429);
    // Behind a trusted proxy (here: the test itself on 127.0.0.1), the forwarded address counts.
    let server = env.serve(&["--rate-limit-ip", "2/h", "--trusted-proxy", "127.0.0.1"]);
    for client in ["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"] {
        assert_eq!(login(&server, client), 400, "{client}");
    }
    assert_eq!(login(&server, "5.5.5.5"), 400);
    assert_eq!(login(&server, "5.5.5.5"), 400);
    assert_eq!(login(&server, "5.5.5.5"), 429);
    // A client behind the proxy cannot escape by prepending addresses of its own.
    assert_eq!(login(&server, "9.9.9.9, 5.5.5.5"), 429);
}
