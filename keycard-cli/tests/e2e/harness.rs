//! Running the `keycard` binary and talking HTTP/1.1 to it over a raw socket.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_keycard");
pub const SECRET: &str = "e2e-test-secret-0123456789abcdef";

/// A working directory and a clean environment for the binary.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn users_file(&self) -> PathBuf {
        self.path("users.json")
    }

    /// The binary, run in the working directory with nothing inherited but `PATH`, and
    /// cheap Argon2 parameters so tests stay fast.
    pub fn cmd(&self) -> Command {
        self.cmd_of(Path::new(BIN))
    }

    /// [`Env::cmd`] for another build of the binary.
    pub fn cmd_of(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("KEYCARD_ARGON2_MEMORY", "1024")
            .env("KEYCARD_ARGON2_ITERATIONS", "1");
        cmd
    }

    /// Runs the binary with `args`, feeding `stdin`.
    pub fn run(&self, args: &[&str], stdin: &str) -> Output {
        run_cmd(self.cmd().args(args), stdin)
    }

    pub fn add_user(&self, name: &str, role: &str, password: &str) {
        let out = self.run(
            &["users", "add", name, "--role", role, "--password-stdin"],
            &format!("{password}\n"),
        );
        assert!(out.status.success(), "users add failed: {}", stderr(&out));
    }

    /// Starts `keycard serve` on a free port with the test secret.
    pub fn serve(&self, args: &[&str]) -> Server {
        let mut cmd = self.cmd();
        cmd.env("AUTHENTICATION_SECRET", SECRET);
        self.serve_with(cmd, args)
    }

    /// Starts `keycard serve` from a prepared command.
    pub fn serve_with(&self, mut cmd: Command, args: &[&str]) -> Server {
        cmd.arg("serve").args(args);
        if !args.iter().any(|a| a.starts_with("--listen")) {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        Server::start(cmd)
    }
}

/// The path of a key file of the library's `tests/keys`.
pub fn key_file(name: &str) -> String {
    format!(
        "{}/../keycard/tests/keys/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A tool a test needs is missing: skipped here, a failure under CI (`.ci/run` installs
/// every one).
pub fn required<T>(what: &str) -> Option<T> {
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must provide {what} (see .ci/run)"
    );
    eprintln!("skipped: {what} is not available");
    None
}

/// Whether `program args…` runs and succeeds (its output discarded).
pub fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether Python 3 can import `modules` (`"authlib, requests"`).
pub fn python_has(modules: &str) -> bool {
    succeeds("python3", &["-c", &format!("import {modules}")])
}

pub fn run_cmd(cmd: &mut Command, stdin: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    // The command may exit before reading (e.g. a refused name): a broken pipe is fine.
    let _ = input.write_all(stdin.as_bytes());
    drop(input);
    child.wait_with_output().unwrap()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A running `keycard serve`; killed on drop.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    out: Arc<Mutex<Vec<String>>>,
}

fn collect(stream: impl Read + Send + 'static, into: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            into.lock().unwrap().push(line);
        }
    });
}

impl Server {
    fn start(mut cmd: Command) -> Server {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let out = Arc::new(Mutex::new(Vec::new()));
        collect(child.stderr.take().unwrap(), log.clone());
        collect(child.stdout.take().unwrap(), out.clone());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found = log.lock().unwrap().iter().find_map(|l| {
                l.split("listening on ")
                    .nth(1)
                    .and_then(|r| r.split_once("://"))
                    .map(|(_, r)| r.split(' ').next().unwrap().to_owned())
            });
            if let Some(addr) = found {
                return Server {
                    child,
                    addr: addr.parse().unwrap(),
                    log,
                    out,
                };
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("keycard exited with {status}: {:?}", log.lock().unwrap());
            }
            assert!(
                Instant::now() < deadline,
                "keycard did not start: {:?}",
                log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    pub fn stdout(&self) -> String {
        self.out.lock().unwrap().join("\n")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn request(&self, raw: &[u8]) -> Response {
        request(self.addr, raw)
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> Response {
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        self.request(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n").as_bytes(),
        )
    }

    pub fn post(&self, path: &str, content_type: &str, body: &str, extra: &str) -> Response {
        self.request(
            format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
    }

    pub fn login(&self, user: &str, password: &str) -> Response {
        let body = serde_json::json!({"username": user, "password": password}).to_string();
        self.post("/token", "application/json", &body, "")
    }

    pub fn token(&self, user: &str, password: &str) -> String {
        let r = self.login(user, password);
        assert_eq!(r.status, 200, "login failed: {}", r.text());
        r.json()["access_token"].as_str().unwrap().to_owned()
    }

    /// SIGTERM, then wait for the exit.
    pub fn terminate(mut self) -> ExitStatus {
        signal(self.child.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "keycard did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free on 127.0.0.1 just now, for a server that must know its own address
/// before it starts (closed again at once, so a race with another process is possible
/// but unlikely).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Ends `child` the way a service manager would: SIGTERM, up to 5 s to exit (nginx's
/// master then ends its workers, which a SIGKILL would leave behind), then SIGKILL.
pub fn stop(child: &mut Child) {
    if child.try_wait().ok().flatten().is_none() {
        // Not `signal`: it may have exited meanwhile, and a drop must not panic.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(ok.success());
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON ({}): {}", self.status, self.text()))
    }
    pub fn error(&self) -> String {
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{}",
            self.text()
        );
        self.json()["error"].as_str().unwrap().to_owned()
    }
}

/// Sends `raw` and reads the whole response (the server closes after it).
pub fn request(addr: SocketAddr, raw: &[u8]) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(raw).unwrap();
    read_response(&mut stream)
}

pub fn read_response(stream: &mut TcpStream) -> Response {
    let mut buf = Vec::new();
    let _ = stream.read_to_end(&mut buf);
    parse_response(&buf)
}

pub fn parse_response(buf: &[u8]) -> Response {
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(buf)));
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = buf[split + 4..].to_vec();
    if let Some(len) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
    {
        body.truncate(len.1.parse().unwrap());
    }
    Response {
        status,
        headers,
        body,
    }
}

/// Polls `check` until it holds or `limit` passes.
pub fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    check()
}

pub fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The claims of a compact JWS `token`, unverified.
pub fn claims(token: &str) -> Value {
    jws_part(token, 1)
}

/// The protected header of a compact JWS `token`.
pub fn header(token: &str) -> Value {
    jws_part(token, 0)
}

fn jws_part(token: &str, index: usize) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(index).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

/// A small upstream API for gateway tests: answers every request with JSON describing
/// what it received (method, path and query, headers, body length). `/slow…` paths
/// wait 3 seconds first. Runs until the test process ends.
pub struct Echo {
    pub addr: SocketAddr,
}

impl Echo {
    pub fn start() -> Echo {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                std::thread::spawn(move || echo_connection(stream));
            }
        });
        Echo { addr }
    }
}

fn echo_connection(mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or("").to_owned(),
            parts.next().unwrap_or("").to_owned(),
        );
        let mut headers: Vec<(String, String)> = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let mut body_len = 0usize;
        if let Some(len) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
            let mut buf = vec![0u8; len];
            if reader.read_exact(&mut buf).is_err() {
                return;
            }
            body_len = len;
        } else if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            loop {
                let mut size = String::new();
                reader.read_line(&mut size).unwrap();
                let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                    .unwrap_or(0);
                let mut chunk = vec![0u8; n + 2];
                reader.read_exact(&mut chunk).unwrap();
                if n == 0 {
                    break;
                }
                body_len += n;
            }
        }
        if target.starts_with("/slow") {
            std::thread::sleep(Duration::from_secs(3));
        }
        let body = serde_json::json!({
            "method": method,
            "target": target,
            "headers": headers,
            "body_len": body_len,
        })
        .to_string();
        let close = get("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let res = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nX-Upstream: echo\r\n{}\r\n{body}",
            body.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        if stream.write_all(res.as_bytes()).is_err() || close {
            return;
        }
    }
}

/// The header `name` as the echo upstream received it.
pub fn echoed<'a>(echo: &'a Value, name: &str) -> Option<&'a str> {
    echo["headers"]
        .as_array()?
        .iter()
        .find(|h| h[0].as_str() == Some(name))
        .and_then(|h| h[1].as_str())
}

/// `keycard keys generate --alg ALG --out OUT`, checked (the public JWK printed, no
/// private member in it); returns the key id.
pub fn generate_key(env: &Env, alg: &str, out: &str) -> String {
    generate_key_with(env.cmd(), alg, out)
}

/// [`generate_key`] by another build of the binary ([`Env::cmd_of`]).
pub fn generate_key_with(mut cmd: Command, alg: &str, out: &str) -> String {
    let res = run_cmd(
        cmd.args(["keys", "generate", "--alg", alg, "--out", out]),
        "",
    );
    assert!(res.status.success(), "{}", stderr(&res));
    let text = stdout(&res);
    let kid = text
        .lines()
        .next()
        .unwrap()
        .strip_prefix("kid: ")
        .unwrap()
        .to_owned();
    let jwk: serde_json::Value = serde_json::from_str(text.split_once('\n').unwrap().1).unwrap();
    assert_eq!(jwk["kid"], kid);
    assert_eq!(jwk["alg"], alg);
    assert_eq!(jwk["use"], "sig");
    assert!(jwk.get("d").is_none(), "public members only: {jwk}");
    kid
}
