//! The security boundary, tested differentially: what Keycard judges must be exactly
//! what the upstream serves.
//!
//! Three fronts — Keycard's own gateway mode, nginx running `examples/nginx.conf` and
//! Caddy running `examples/Caddyfile` (both asking `/auth/verify`) — each in front of
//! three real upstreams: Express 5 with its default router (case-insensitive, lenient
//! about trailing slashes), Flask on Werkzeug's server, and the same Flask app under the
//! standard library's CGI-style `wsgiref` server (which reads `X_Auth_User` as
//! `X-Auth-User`). Every handler reports which route served the request and the
//! identity headers it saw (`tests/differential/`).
//!
//! A generated corpus of request targets, methods and header names (case, slashes,
//! percent- and double-encoding, overlong UTF-8, `;`, `..;`, dots, absolute-form, `_`
//! in names, spoofed forwarding headers), a few thousand cases per pair, is sent with no
//! token, a `user` token and an `admin` token. The property, per request:
//!
//! - a handler that needs a token or a role (by what the handler is, not by Keycard's
//!   rules) only ever serves a caller who has it;
//! - the identity a handler sees is the one Keycard set from the caller's token, or
//!   none: never a value the client wrote.
//!
//! A violation prints the case. Needs nginx and Caddy (Debian), Node with Express (the
//! Express reference's packages, `KEYCARD_NODE_PEER`) and Python with Flask; `.ci/run`
//! installs them. Without them a pair is skipped when run by hand, and fails under CI.
//! `KEYCARD_DIFF_CASES` sets the cases per pair (default 2500), `KEYCARD_DIFF_SEED` the
//! corpus seed. To measure an older build the same way (as the closing note of the
//! security-boundary issue did): `KEYCARD_DIFF_BIN` runs that binary instead,
//! `KEYCARD_DIFF_EXAMPLES` takes the proxy configs from that folder, and
//! `KEYCARD_DIFF_LEGACY=1` leaves out the flags it did not have; the test then reports
//! the violations it finds instead of failing. `KEYCARD_DIFF_DUMP=FILE` appends every
//! case and its outcome to FILE.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

const RULES: &str = r#"public = ["/docs*", "/public*"]

[[rule]]
path = "/admin*"
roles = ["admin"]

[[rule]]
path = "/reports"
roles = ["admin"]

[[rule]]
path = "/items*"
methods = ["DELETE"]
roles = ["admin"]

[[rule]]
path = "/status"
methods = ["GET"]
public = true
"#;

/// A child process, ended when the test ends.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        stop(&mut self.0);
    }
}

/// Starts `cmd`, which prints `listening PORT` on stdout once it listens.
fn spawn_listening(mut cmd: Command, what: &str) -> (Proc, SocketAddr) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let port: u16 = loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("{what} exited before listening"))
            .unwrap();
        if let Some(p) = line.strip_prefix("listening ") {
            break p.trim().parse().unwrap();
        }
    };
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (Proc(child), ([127, 0, 0, 1], port).into())
}

fn app_file(name: &str) -> String {
    format!("{}/tests/differential/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Upstream {
    Express,
    Werkzeug,
    Wsgiref,
}

fn start_upstream(which: Upstream) -> Option<(Proc, SocketAddr)> {
    match which {
        Upstream::Express => {
            let Some(peer) = std::env::var_os("KEYCARD_NODE_PEER") else {
                return required("Express (KEYCARD_NODE_PEER)");
            };
            let modules = std::path::Path::new(&peer).join("node_modules");
            let mut cmd = Command::new("node");
            cmd.env("NODE_PATH", modules)
                .arg(app_file("express_app.js"));
            Some(spawn_listening(cmd, "the Express upstream"))
        }
        Upstream::Werkzeug | Upstream::Wsgiref => {
            if !python_has("flask") {
                return required("Python with Flask");
            }
            let mut cmd = Command::new("python3");
            cmd.arg(app_file("flask_app.py")).arg(match which {
                Upstream::Wsgiref => "wsgiref",
                _ => "werkzeug",
            });
            Some(spawn_listening(cmd, "the Flask upstream"))
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Front {
    Gateway,
    Nginx,
    Caddy,
}

fn wait_listening(addr: SocketAddr, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The shipped example config of a front proxy, with the test's ports.
fn example(name: &str, listen: u16, keycard: SocketAddr, api: SocketAddr) -> String {
    let dir = std::env::var("KEYCARD_DIFF_EXAMPLES")
        .unwrap_or_else(|_| format!("{}/../examples", env!("CARGO_MANIFEST_DIR")));
    std::fs::read_to_string(format!("{dir}/{name}"))
        .unwrap()
        .replace("127.0.0.1:8000", &format!("127.0.0.1:{listen}"))
        .replace(":8000 {", &format!(":{listen} {{"))
        .replace("127.0.0.1:8080", &keycard.to_string())
        .replace("127.0.0.1:3000", &api.to_string())
}

fn start_front(
    front: Front,
    env: &Env,
    keycard: SocketAddr,
    api: SocketAddr,
) -> Option<(Option<Running>, SocketAddr)> {
    let port = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    match front {
        Front::Gateway => Some((None, keycard)),
        Front::Nginx => {
            let config = example("nginx.conf", port, keycard, api);
            let nginx = crate::nginx::run_nginx(env, &config, addr)?;
            Some((Some(Box::new(nginx) as Running), addr))
        }
        Front::Caddy => {
            let Some(caddy) = ["/usr/bin/caddy", "/usr/local/bin/caddy"]
                .into_iter()
                .find(|p| std::path::Path::new(p).exists())
            else {
                return required("Caddy");
            };
            let dir = env.path("caddy");
            std::fs::create_dir_all(&dir).unwrap();
            let config = format!(
                "{{\n\tadmin off\n\tauto_https off\n\tdefault_bind 127.0.0.1\n}}\n\n{}",
                example("Caddyfile", port, keycard, api)
            );
            std::fs::write(dir.join("Caddyfile"), config).unwrap();
            let child = Command::new(caddy)
                .args(["run", "--adapter", "caddyfile", "--config"])
                .arg(dir.join("Caddyfile"))
                .env("HOME", &dir)
                .env("XDG_DATA_HOME", &dir)
                .env("XDG_CONFIG_HOME", &dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let proc = Proc(child);
            wait_listening(addr, "Caddy");
            Some((Some(Box::new(proc) as Running), addr))
        }
    }
}

/// A front proxy, running until dropped (held only for that).
type Running = Box<dyn std::any::Any>;

/// Who calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    Nobody,
    Garbage,
    User,
    Admin,
}

const CALLERS: [Caller; 4] = [Caller::Nobody, Caller::Garbage, Caller::User, Caller::Admin];

#[derive(Clone, Debug)]
struct Case {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    caller: Caller,
}

/// What a handler needs, by what the handler is (the app's intent), not by Keycard's
/// rules: the oracle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Needs {
    Nothing,
    User,
    Admin,
}

fn intent(route: &str, method: &str) -> Needs {
    let method = method.to_ascii_uppercase();
    match route {
        "admin" | "reports" => Needs::Admin,
        "items" if method == "DELETE" => Needs::Admin,
        "status" if method == "GET" || method == "HEAD" => Needs::Nothing,
        "docs" | "public" | "healthz" => Needs::Nothing,
        _ => Needs::User,
    }
}

/// A small deterministic generator (xorshift64*), so a failing case can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

const BASES: [&str; 14] = [
    "/admin/x",
    "/admin",
    "/reports",
    "/items/1",
    "/status",
    "/docs/a",
    "/public/a",
    "/files/a",
    "/api/x",
    "/me",
    "/healthz",
    "/token",
    "/.well-known/jwks.json",
    "/auth/verify",
];

const METHODS: [&str; 11] = [
    "GET", "GET", "HEAD", "POST", "PUT", "DELETE", "DELETE", "OPTIONS", "delete", "Delete", "get",
];

fn first_letter_encoded(path: &str, encode: impl Fn(u8) -> String) -> String {
    match path.bytes().position(|b| b.is_ascii_alphabetic()) {
        Some(i) => format!(
            "{}{}{}",
            &path[..i],
            encode(path.as_bytes()[i]),
            &path[i + 1..]
        ),
        None => path.to_owned(),
    }
}

fn with_first_segment(path: &str, f: impl Fn(&str) -> String) -> String {
    let rest = &path[1..];
    match rest.split_once('/') {
        Some((first, tail)) => format!("/{}/{tail}", f(first)),
        None => format!("/{}", f(rest)),
    }
}

/// Every spelling of `path` the corpus tries.
fn spellings(path: &str, rng: &mut Rng) -> Vec<String> {
    let random_case: String = path
        .chars()
        .map(|c| {
            if rng.next().is_multiple_of(2) {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect();
    let mut out = vec![
        path.to_owned(),
        path.to_ascii_uppercase(),
        random_case,
        with_first_segment(path, |s| {
            let mut c = s.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        }),
        format!("{path}/"),
        format!("{path}//"),
        format!("{path};x"),
        format!("{path};jsessionid=0123"),
        with_first_segment(path, |s| format!("{s};x")),
        with_first_segment(path, |s| format!("{s}.")),
        format!("{path}."),
        format!("{path}%20"),
        format!("{path}%09"),
        format!("{path}%2e"),
        first_letter_encoded(path, |b| format!("%{b:02x}")),
        first_letter_encoded(path, |b| format!("%{b:02X}")),
        first_letter_encoded(path, |b| format!("%25{b:02X}")),
        first_letter_encoded(path, |b| format!("%2525{b:02X}")),
        format!("/docs/..;{path}"),
        format!("/docs/..{path}"),
        format!("/docs/../{}", &path[1..]),
        format!("/public/%2e%2e{path}"),
        format!("/docs/%2e%2e;{path}"),
        format!("/docs/..%3B{path}"),
        format!("/docs/%252e%252e{path}"),
        format!("/docs/.%2e{path}"),
        format!("/docs/%c0%ae%c0%ae{path}"),
        format!("/docs%2F..%2F{}", &path[1..]),
        format!("/docs%252F..%252F{}", &path[1..]),
        format!("/docs/...{path}"),
        format!("/docs/.{path}"),
        format!("/docs;/..{path}"),
        format!("/{path}"),
        format!("/.{path}"),
        format!("\\{}", &path[1..]),
        format!("/%5C{}", &path[1..]),
        path.replacen('/', "%2F", 2).replacen("%2F", "/", 1),
        format!("{path}%00"),
        format!("{path}%"),
        format!("{path}%C0%AF"),
        format!("/files/a://b{path}"),
        format!("/docs/a://b{path}"),
        format!("http://api.example{path}"),
        format!("HTTP://api.example{path}"),
        format!("http://api.example/docs/..{path}"),
        format!("{path}?x=/healthz"),
        format!("{path}?/token"),
        format!("{path}#/healthz"),
        format!("{path}\u{e9}"),
        format!("/docs/x/..%2F..{path}"),
        format!("{path}/.."),
        format!("{path}/..;"),
    ];
    out.dedup();
    out
}

/// Extra request headers of a case.
type Headers = &'static [(&'static str, &'static str)];

const SPOOFS: [Headers; 12] = [
    &[],
    &[],
    &[("X-Auth-User", "root"), ("X-Auth-Role", "admin")],
    &[("X_Auth_User", "root"), ("X_Auth_Role", "admin")],
    &[("x-auth-user", "root")],
    &[("X-Original-URI", "/token")],
    &[("X-Forwarded-Uri", "/docs/a")],
    &[("X-Original-Method", "GET"), ("X-Forwarded-Method", "GET")],
    &[
        ("X_Original_URI", "/healthz"),
        ("X_Forwarded_Uri", "/healthz"),
    ],
    &[("X-HTTP-Method-Override", "DELETE")],
    &[("X-Real-IP", "10.9.8.7"), ("Forwarded", "for=10.9.8.7")],
    &[("X-Auth-Claims", "{\"sub\":\"root\"}")],
];

fn corpus(n: usize, seed: u64) -> Vec<Case> {
    let mut rng = Rng(seed | 1);
    let mut all: Vec<String> = Vec::new();
    for base in BASES {
        all.extend(spellings(base, &mut rng));
    }
    let mut cases = Vec::with_capacity(n + 64);
    // Every reproduction of the issue, with every caller.
    let named: [(&str, &str, Headers); 12] = [
        ("GET", "/admin/x", &[("X-Original-URI", "/token")]),
        ("GET", "/files/a://b/healthz", &[]),
        ("GET", "/ADMIN/x", &[]),
        ("GET", "/reports/", &[]),
        ("GET", "/Reports", &[]),
        ("GET", "/docs/..;/admin/x", &[]),
        ("GET", "/reports;x", &[]),
        ("delete", "/items/1", &[]),
        ("GET", "/api/x", &[("X_Auth_User", "root")]),
        ("GET", "/api/x", &[("X-Real-IP", "10.9.8.7")]),
        ("GET", "/.well-known/jwks.json", &[]),
        ("POST", "/items/1", &[("X-HTTP-Method-Override", "DELETE")]),
    ];
    for (method, target, headers) in named {
        for caller in CALLERS {
            cases.push(Case {
                method: method.into(),
                target: target.into(),
                headers: headers
                    .iter()
                    .map(|(k, v)| ((*k).into(), (*v).into()))
                    .collect(),
                caller,
            });
        }
    }
    while cases.len() < n {
        // A third plain requests, so that the property is also checked where handlers
        // serve; the rest from every spelling.
        let target = if rng.next().is_multiple_of(3) {
            (*rng.pick(&BASES)).to_owned()
        } else {
            rng.pick(&all).clone()
        };
        cases.push(Case {
            method: (*rng.pick(&METHODS)).into(),
            target,
            headers: rng
                .pick(&SPOOFS)
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            caller: *rng.pick(&CALLERS),
        });
    }
    cases
}

/// What came back: the status, and the reporting headers when a handler served it.
struct Seen {
    status: u16,
    route: Option<String>,
    method: String,
    user: Option<String>,
    role: Option<String>,
}

fn send(addr: SocketAddr, raw: &[u8]) -> Seen {
    let mut buf = Vec::new();
    if let Ok(mut stream) = TcpStream::connect(addr) {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let _ = stream.write_all(raw);
        let _ = stream.read_to_end(&mut buf);
    }
    let head_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(buf.len());
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut seen = Seen {
        status,
        route: None,
        method: String::new(),
        user: None,
        role: None,
    };
    let present = |v: &str| (v != "-").then(|| v.to_owned());
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k.trim().to_ascii_lowercase().as_str() {
            "x-route" => seen.route = Some(v.to_owned()),
            "x-seen-method" => seen.method = v.to_owned(),
            "x-seen-user" => seen.user = present(v),
            "x-seen-role" => seen.role = present(v),
            _ => {}
        }
    }
    seen
}

struct Tokens {
    user: String,
    admin: String,
}

fn raw_request(case: &Case, tokens: &Tokens) -> Vec<u8> {
    let mut raw = format!(
        "{} {} HTTP/1.1\r\nHost: api.example\r\n",
        case.method, case.target
    );
    match case.caller {
        Caller::Nobody => {}
        Caller::Garbage => raw.push_str("Authorization: Bearer not.a.token\r\n"),
        Caller::User => raw.push_str(&format!("Authorization: Bearer {}\r\n", tokens.user)),
        Caller::Admin => raw.push_str(&format!("Authorization: Bearer {}\r\n", tokens.admin)),
    }
    for (k, v) in &case.headers {
        raw.push_str(&format!("{k}: {v}\r\n"));
    }
    raw.push_str("Connection: close\r\n\r\n");
    raw.into_bytes()
}

/// The violations of one response, if any.
fn judge(case: &Case, seen: &Seen) -> Vec<String> {
    let Some(route) = &seen.route else {
        return Vec::new();
    };
    let (has, name, role) = match case.caller {
        Caller::Nobody | Caller::Garbage => (Needs::Nothing, None, None),
        Caller::User => (Needs::User, Some("bob"), Some("user")),
        Caller::Admin => (Needs::Admin, Some("alice"), Some("admin")),
    };
    let needs = intent(route, &seen.method);
    let mut bad = Vec::new();
    if needs > has {
        bad.push(format!(
            "handler {route:?} ({} as the upstream saw it) needs {needs:?}, served to {:?}",
            seen.method, case.caller
        ));
    }
    let empty = |v: &Option<String>| v.as_deref().is_none_or(str::is_empty);
    let user_ok = empty(&seen.user) || seen.user.as_deref() == name;
    let role_ok = empty(&seen.role) || seen.role.as_deref() == role;
    if !user_ok || !role_ok {
        bad.push(format!(
            "the upstream saw user {:?} role {:?}, the caller is {:?}",
            seen.user, seen.role, case.caller
        ));
    }
    if needs > Needs::Nothing && (seen.user.as_deref() != name || seen.role.as_deref() != role) {
        bad.push(format!(
            "a protected handler saw user {:?} role {:?}, not the caller's own",
            seen.user, seen.role
        ));
    }
    bad
}

fn run_pair(front: Front, upstream: Upstream) {
    let Some((_api, api)) = start_upstream(upstream) else {
        return;
    };
    let env = Env::new();
    env.add_user("alice", "admin", "alice-password");
    env.add_user("bob", "user", "bob-password");
    std::fs::write(env.path("keycard.toml"), RULES).unwrap();
    let upstream_url = format!("http://{api}");
    let legacy = std::env::var_os("KEYCARD_DIFF_LEGACY").is_some();
    let args: &[&str] = match front {
        Front::Gateway => &["--upstream", &upstream_url],
        Front::Nginx => &[],
        Front::Caddy if legacy => &[],
        Front::Caddy => &["--forward-auth", "caddy"],
    };
    let keycard = match std::env::var_os("KEYCARD_DIFF_BIN") {
        Some(bin) => {
            let mut older = Command::new(bin);
            older
                .current_dir(env.dir.path())
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("AUTHENTICATION_SECRET", SECRET);
            env.serve_with(older, args)
        }
        None => env.serve(args),
    };
    let Some((_proxy, addr)) = start_front(front, &env, keycard.addr, api) else {
        return;
    };
    let tokens = Tokens {
        user: keycard.token("bob", "bob-password"),
        admin: keycard.token("alice", "alice-password"),
    };
    let n = std::env::var("KEYCARD_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2500);
    let seed = std::env::var("KEYCARD_DIFF_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_cafe);
    let cases = corpus(n, seed);
    let dump = std::env::var_os("KEYCARD_DIFF_DUMP");
    let mut served = 0;
    let mut statuses = std::collections::BTreeMap::new();
    let mut violations = Vec::new();
    for case in &cases {
        let seen = send(addr, &raw_request(case, &tokens));
        if seen.route.is_some() {
            served += 1;
        }
        *statuses.entry(seen.status).or_insert(0) += 1;
        if let Some(dump) = &dump {
            let line = format!(
                "{front:?}+{upstream:?}\t{}\t{}\t{:?}\t{:?}\t{}\t{:?}\n",
                case.method, case.target, case.headers, case.caller, seen.status, seen.route
            );
            let _ = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dump)
                .and_then(|mut f| f.write_all(line.as_bytes()));
        }
        let mut whys = judge(case, &seen);
        if seen.status >= 500 {
            whys.push(format!(
                "a {} answer: a malformed request gets a 4xx",
                seen.status
            ));
        }
        for why in whys {
            violations.push(format!(
                "{} {} {:?} as {:?} -> {}: {why}",
                case.method, case.target, case.headers, case.caller, seen.status
            ));
        }
    }
    eprintln!(
        "differential {front:?} + {upstream:?}: {} cases, {served} reached a handler, {} violations; statuses {statuses:?}",
        cases.len(),
        violations.len()
    );
    assert!(
        served >= cases.len() / 20,
        "too few cases reached a handler ({served}): is the upstream wired?"
    );
    if legacy {
        for v in violations.iter().take(40) {
            eprintln!("  {v}");
        }
        return;
    }
    assert!(
        violations.is_empty(),
        "{front:?} + {upstream:?}: {} violations, first ones:\n{}",
        violations.len(),
        violations
            .iter()
            .take(25)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn gateway_in_front_of_express_flask_and_wsgiref() {
    for upstream in [Upstream::Express, Upstream::Werkzeug, Upstream::Wsgiref] {
        run_pair(Front::Gateway, upstream);
    }
}

#[test]
fn nginx_auth_request_in_front_of_express_flask_and_wsgiref() {
    for upstream in [Upstream::Express, Upstream::Werkzeug, Upstream::Wsgiref] {
        run_pair(Front::Nginx, upstream);
    }
}

#[test]
fn caddy_forward_auth_in_front_of_express_flask_and_wsgiref() {
    for upstream in [Upstream::Express, Upstream::Werkzeug, Upstream::Wsgiref] {
        run_pair(Front::Caddy, upstream);
    }
}

#[test]
fn the_oracle_knows_what_each_handler_needs() {
    assert_eq!(intent("admin", "GET"), Needs::Admin);
    assert_eq!(intent("items", "delete"), Needs::Admin);
    assert_eq!(intent("items", "GET"), Needs::User);
    assert_eq!(intent("status", "HEAD"), Needs::Nothing);
    assert_eq!(intent("status", "POST"), Needs::User);
    assert_eq!(intent("files", "GET"), Needs::User);
    // A case that would have been a violation is reported as one.
    let case = Case {
        method: "GET".into(),
        target: "/ADMIN/x".into(),
        headers: vec![],
        caller: Caller::User,
    };
    let seen = Seen {
        status: 200,
        route: Some("admin".into()),
        method: "GET".into(),
        user: Some("bob".into()),
        role: Some("user".into()),
    };
    assert_eq!(judge(&case, &seen).len(), 1);
    let spoofed = Seen {
        user: Some("bob,root".into()),
        ..seen
    };
    assert!(!judge(&case, &spoofed).is_empty());
}
