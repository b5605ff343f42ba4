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
//! A second corpus puts the token in the query (`--token-query-param access_token`) under
//! every spelling of the name a framework reads as the same one (case, percent-encoding,
//! `.` and space as PHP reads them, `[]` and `[x]` as qs does), twice, beside other
//! parameters, inside another's value, and next to an `Authorization` token: no
//! upstream's framework may parse a parameter of that name, nor a token's value under
//! any of those spellings, and the identity a handler sees is that of a token sent.
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
    /// The query as the handler's framework parsed it: `{key: value or [values]}`.
    query: Option<serde_json::Value>,
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
        query: None,
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
            "x-seen-query" => seen.query = serde_json::from_str(&percent_decode(v)).ok(),
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

/// A working directory with alice (admin), bob (user) and the rules in `keycard.toml`.
fn keycard_env() -> Env {
    let env = Env::new();
    env.add_user("alice", "admin", "alice-password");
    env.add_user("bob", "user", "bob-password");
    std::fs::write(env.path("keycard.toml"), RULES).unwrap();
    env
}

/// bob's (user) and alice's (admin) tokens from `keycard`.
fn tokens_from(keycard: &Server) -> Tokens {
    Tokens {
        user: keycard.token("bob", "bob-password"),
        admin: keycard.token("alice", "alice-password"),
    }
}

/// `KEYCARD_DIFF_CASES`, the cases per pair (2500 by default).
fn cases_per_pair() -> usize {
    std::env::var("KEYCARD_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2500)
}

/// Fails with the first violations, if any.
fn assert_no_violations(what: &str, violations: &[String]) {
    assert!(
        violations.is_empty(),
        "{what}: {} violations, first ones:\n{}",
        violations.len(),
        violations
            .iter()
            .take(25)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn run_pair(front: Front, upstream: Upstream) {
    let Some((_api, api)) = start_upstream(upstream) else {
        return;
    };
    let env = keycard_env();
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
    let tokens = tokens_from(&keycard);
    let n = cases_per_pair();
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
    assert_no_violations(&format!("{front:?} + {upstream:?}"), &violations);
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
        query: None,
    };
    assert_eq!(judge(&case, &seen).len(), 1);
    let spoofed = Seen {
        user: Some("bob,root".into()),
        ..seen
    };
    assert!(!judge(&case, &spoofed).is_empty());
}

/// `%XX` decoded (the apps' percent-encoded JSON).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Spellings of the token parameter's name: the ones a framework (or PHP, or qs) reads as
/// `access_token`, and, last, six that are other names to every framework here and pass
/// through as they are (a trailing space, dot or NUL is part of the name to Express and
/// Werkzeug, and PHP makes `access_token_` of the first two).
const QUERY_NAMES: [&str; 22] = [
    "access_token",
    "ACCESS_TOKEN",
    "Access_Token",
    "access%5Ftoken",
    "access%5ftoken",
    "%61ccess_token",
    "access_tok%65n",
    "ACCESS%5FTOKEN",
    "access.token",
    "access%2Etoken",
    "access+token",
    "access%20token",
    "access_token[]",
    "access_token[x]",
    "access_token%5B%5D",
    "access_token%5Bx%5D",
    "access_tokenx",
    "xaccess_token",
    "access-token",
    "access_token%00",
    "access_token%20",
    "access_token.",
];

/// The names of `QUERY_NAMES` that are another parameter, not the token's.
const OTHER_NAMES: [&str; 6] = [
    "access_tokenx",
    "xaccess_token",
    "access-token",
    "access_token%00",
    "access_token%20",
    "access_token.",
];

/// Where the parameter sits in the query (`{}`: `name=value`), and whether it is a
/// parameter there (not inside another's value, as after `;`, which neither Express
/// nor Werkzeug splits on).
const QUERY_LAYOUTS: [(&str, bool); 10] = [
    ("{}", true),
    ("a=1&{}", true),
    ("{}&b=2", true),
    ("&&{}&", true),
    ("{}&{}", true),
    ("{}#frag", true),
    ("{}&a=1&{}", true),
    ("a=1;{}", false),
    ("a=%26{}", false),
    ("x={}", false),
];

/// A token in the query: the case, the query's token, and the name's spelling.
struct QueryCase {
    case: Case,
    /// The token put in the query (its owner's caller), or garbage.
    in_query: Caller,
    name: &'static str,
    /// Whether the name is a parameter of the query (see `QUERY_LAYOUTS`).
    parameter: bool,
}

fn query_corpus(n: usize, seed: u64) -> Vec<QueryCase> {
    let mut rng = Rng(seed | 1);
    let targets = [
        "/api/x", "/admin/x", "/me", "/items/1", "/docs/a", "/reports",
    ];
    let mut cases = Vec::with_capacity(n);
    // Every name, alone, with a user's token and no Authorization: the feature's use.
    for name in QUERY_NAMES {
        cases.push((
            name,
            ("{}", true),
            Caller::User,
            Caller::Nobody,
            "/api/x",
            "GET",
            false,
        ));
    }
    while cases.len() < n {
        cases.push((
            *rng.pick(&QUERY_NAMES),
            *rng.pick(&QUERY_LAYOUTS),
            *rng.pick(&[Caller::User, Caller::Admin, Caller::Garbage]),
            *rng.pick(&[Caller::Nobody, Caller::Nobody, Caller::User]),
            *rng.pick(&targets),
            *rng.pick(&["GET", "GET", "DELETE", "POST"]),
            rng.next().is_multiple_of(4),
        ));
    }
    cases
        .into_iter()
        .map(
            |(name, (layout, parameter), in_query, caller, target, method, encode)| QueryCase {
                case: Case {
                    method: method.into(),
                    // `{token}` is filled in per run, with the real tokens.
                    target: format!(
                        "{target}?{}",
                        layout.replace("{}", &format!("{name}={{token{}}}", u8::from(encode)))
                    ),
                    headers: Vec::new(),
                    caller,
                },
                in_query,
                name,
                parameter,
            },
        )
        .collect()
}

/// `token` with its first letter percent-encoded (`%65yJ…`), as a client may send it.
fn encoded_first(token: &str) -> String {
    first_letter_encoded(&format!("/{token}"), |b| format!("%{b:02X}"))[1..].to_owned()
}

fn token_of(caller: Caller, tokens: &Tokens) -> &str {
    match caller {
        Caller::User => &tokens.user,
        Caller::Admin => &tokens.admin,
        Caller::Nobody | Caller::Garbage => "not.a.token",
    }
}

/// The violations of one answer to a token-in-the-query case.
fn judge_query(q: &QueryCase, seen: &Seen, tokens: &Tokens) -> Vec<String> {
    let mut bad = Vec::new();
    if seen.status >= 500 {
        bad.push(format!("a {} answer", seen.status));
    }
    let Some(route) = &seen.route else {
        return bad;
    };
    // The credential never reaches the upstream under a name its framework reads as the
    // token's, and a token's value never reaches it under any spelling of the name.
    let query = seen.query.clone().unwrap_or_default();
    let map = query.as_object().cloned().unwrap_or_default();
    for (key, value) in &map {
        let folded = key.to_ascii_lowercase();
        let base = folded.split('[').next().unwrap_or("");
        if base == "access_token" {
            bad.push(format!("the upstream parsed a parameter {key:?} = {value}"));
        }
        let text = value.to_string();
        let leaked = [&tokens.user, &tokens.admin]
            .iter()
            .any(|t| text.contains(t.as_str()));
        if leaked && q.parameter && !OTHER_NAMES.contains(&q.name) {
            bad.push(format!("a token reached the upstream in {key:?}"));
        }
    }
    // The identity the handler saw is the owner of a token the client sent, and enough
    // for the handler.
    let sent = [q.case.caller, q.in_query];
    let owner = |c: Caller| match c {
        Caller::User => Some(("bob", "user", Needs::User)),
        Caller::Admin => Some(("alice", "admin", Needs::Admin)),
        _ => None,
    };
    let seen_as = sent
        .iter()
        .filter_map(|c| owner(*c))
        .find(|(name, role, _)| {
            seen.user.as_deref() == Some(*name) && seen.role.as_deref() == Some(*role)
        });
    let has = seen_as.map_or(Needs::Nothing, |(_, _, has)| has);
    let empty = seen.user.as_deref().is_none_or(str::is_empty);
    if !empty && seen_as.is_none() {
        bad.push(format!(
            "the upstream saw user {:?}, whose token was not sent",
            seen.user
        ));
    }
    let needs = intent(route, &seen.method);
    if needs > has {
        bad.push(format!(
            "handler {route:?} needs {needs:?}, served to {has:?}"
        ));
    }
    bad
}

fn run_query_pair(upstream: Upstream) {
    let Some((_api, api)) = start_upstream(upstream) else {
        return;
    };
    let env = keycard_env();
    let upstream_url = format!("http://{api}");
    let keycard = env.serve(&[
        "--upstream",
        &upstream_url,
        "--token-query-param",
        "access_token",
    ]);
    let tokens = tokens_from(&keycard);
    let n = cases_per_pair() / 2;
    let mut served_by_query = 0;
    let mut statuses = std::collections::BTreeMap::new();
    let mut violations = Vec::new();
    let cases = query_corpus(n, 0x0ddba11);
    for q in &cases {
        let token = token_of(q.in_query, &tokens);
        let mut case = q.case.clone();
        case.target = case
            .target
            .replace("{token0}", token)
            .replace("{token1}", &encoded_first(token));
        let seen = send(keycard.addr, &raw_request(&case, &tokens));
        *statuses.entry(seen.status).or_insert(0) += 1;
        if seen.route.as_deref() == Some("api")
            && q.case.caller == Caller::Nobody
            && seen.user.as_deref() == Some("bob")
        {
            served_by_query += 1;
        }
        for why in judge_query(q, &seen, &tokens) {
            violations.push(format!(
                "{} {} (query token of {:?}) as {:?} -> {}: {why}",
                case.method, q.case.target, q.in_query, q.case.caller, seen.status
            ));
        }
    }
    eprintln!(
        "differential token-in-query + {upstream:?}: {} cases, {served_by_query} served by the query's token, {} violations; statuses {statuses:?}",
        cases.len(),
        violations.len()
    );
    assert!(
        served_by_query > 0,
        "no request was served by its query token: is --token-query-param wired?"
    );
    assert_no_violations(&format!("token-in-query + {upstream:?}"), &violations);
}

#[test]
fn the_query_token_is_judged_and_stripped_as_express_flask_and_wsgiref_read_it() {
    for upstream in [Upstream::Express, Upstream::Werkzeug, Upstream::Wsgiref] {
        run_query_pair(upstream);
    }
}
