//! TLS both ways, with certificates made here (rcgen): HTTPS on Keycard's listener (the
//! certificate reloaded under open connections), `https://` JWKS and upstream URLs with
//! `--ca-file`, and the refusals — an expired certificate, a wrong host name, an
//! untrusted CA — each in a clear line.

use std::process::Command;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, date_time_ymd};
use serde_json::Value;

use crate::harness::{Env, SECRET, Server, eventually, required, run_cmd, stderr};

/// A certificate authority of the test's own.
pub(crate) struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub(crate) pem: String,
}

impl Ca {
    pub(crate) fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            issuer: Issuer::new(params, key),
            pem: cert.pem(),
        }
    }

    /// A server certificate for `names`, valid from `from` to `until` (years), serial `serial`;
    /// written to `name.pem` and `name.key` in `env`.
    pub(crate) fn issue(
        &self,
        env: &Env,
        name: &str,
        names: &[&str],
        years: (i32, i32),
        serial: u64,
    ) {
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .unwrap();
        params.not_before = date_time_ymd(years.0, 1, 1);
        params.not_after = date_time_ymd(years.1, 1, 1);
        params.serial_number = Some(serial.into());
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        std::fs::write(env.path(&format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(env.path(&format!("{name}.key")), key.serialize_pem()).unwrap();
    }

    pub(crate) fn write(&self, env: &Env, file: &str) {
        std::fs::write(env.path(file), &self.pem).unwrap();
    }
}

/// A valid certificate for localhost, by `ca`.
fn localhost(env: &Env, ca: &Ca, name: &str, serial: u64) {
    ca.issue(env, name, &["localhost", "127.0.0.1"], (2020, 2090), serial);
}

/// GETs each of `paths` over one TLS connection to `localhost:port` (Python's `ssl`,
/// trusting `ca_file`), running `between` after the first; returns each answer's status
/// and body, and the serial number of the certificate the connection saw.
const KEEP_ALIVE: &str = r#"
import http.client, json, ssl, sys
port, ca, token = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
conn = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=10)
out = []
for i in range(2):
    conn.request("GET", "/me", headers={"Authorization": "Bearer " + token})
    r = conn.getresponse()
    out.append([r.status, r.read().decode()])
    if i == 0:
        print(json.dumps({"serial": conn.sock.getpeercert()["serialNumber"]}), flush=True)
        sys.stdin.readline()
print(json.dumps({"answers": out, "serial": conn.sock.getpeercert()["serialNumber"]}))
"#;

/// The serial number of the certificate a new connection to `localhost:port` sees.
fn serial_seen(port: u16, ca_file: &str) -> Option<String> {
    let script = "import ssl, socket, sys\n\
        ctx = ssl.create_default_context(cafile=sys.argv[2])\n\
        s = ctx.wrap_socket(socket.create_connection(('localhost', int(sys.argv[1])), 5), server_hostname='localhost')\n\
        print(s.getpeercert()['serialNumber'])\n";
    let out = run_cmd(
        Command::new("python3").args(["-c", script, &port.to_string(), ca_file]),
        "",
    );
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `curl` over HTTPS, trusting `ca_file`: the status and body.
fn curl(url: &str, ca_file: &str, extra: &[&str]) -> (u16, String) {
    let out = run_cmd(
        Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "10",
                "--cacert",
                ca_file,
                "-w",
                "\n%{http_code}",
            ])
            .args(extra)
            .arg(url),
        "",
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (
        status.trim().parse().unwrap_or(0),
        format!("{body}{}", stderr(&out)),
    )
}

/// A working directory with a CA of its own (`ca.pem`) and a certificate for localhost
/// by it (`NAME.pem`, `NAME.key`); the CA file's path.
fn setup(name: &str, serial: u64) -> (Env, Ca, String) {
    let env = Env::new();
    let ca = Ca::new("Keycard test CA");
    ca.write(&env, "ca.pem");
    localhost(&env, &ca, name, serial);
    let ca_file = env.path("ca.pem").display().to_string();
    (env, ca, ca_file)
}

/// Logs alice in at `base` (an HTTPS origin) with curl: her access token.
fn token_over_https(base: &str, ca_file: &str) -> String {
    let (status, body) = curl(
        &format!("{base}/token"),
        ca_file,
        &["-d", "username=alice&password=alice-password"],
    );
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<Value>(&body).unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Revokes `token` with itself at `base` (an HTTPS origin), then waits for `node` to
/// refuse it (its feed brings the revocation).
fn revoke_and_see_refused(base: &str, ca_file: &str, token: &str, node: &Server) {
    let (status, body) = curl(
        &format!("{base}/revoke"),
        ca_file,
        &[
            "-H",
            &format!("authorization: Bearer {token}"),
            "-d",
            &format!("token={token}"),
        ],
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        eventually(Duration::from_secs(10), || node
            .get("/me", Some(token))
            .status
            == 401),
        "{}",
        node.log()
    );
}

/// An EdDSA issuer (`issuer.pem`) serving HTTPS with `cert.pem` / `cert.key`, and `args`.
fn https_issuer(env: &Env, cert: &str, args: &[&str]) -> Server {
    let (cert_file, key_file) = (format!("{cert}.pem"), format!("{cert}.key"));
    let mut all = vec![
        "--signing-key",
        "issuer.pem",
        "--tls-cert",
        &cert_file,
        "--tls-key",
        &key_file,
    ];
    all.extend_from_slice(args);
    env.serve_with(env.cmd(), &all)
}

fn https_server(env: &Env, args: &[&str]) -> Server {
    let mut all = vec!["--tls-cert", "server.pem", "--tls-key", "server.key"];
    all.extend_from_slice(args);
    env.serve(&all)
}

#[test]
fn keycard_serves_https_and_swaps_its_certificate_under_open_connections() {
    if !crate::harness::python_has("ssl") {
        required::<()>("python3 with ssl");
        return;
    }
    let (env, ca, ca_file) = setup("server", 1001);
    env.add_user("alice", "user", "alice-password");
    let server = https_server(&env, &[]);
    assert!(
        server.log().contains("listening on https://"),
        "{}",
        server.log()
    );
    let port = server.addr.port();

    // curl, a client of its own: log in and call /me over HTTPS.
    let base = format!("https://localhost:{port}");
    let token = token_over_https(&base, &ca_file);
    let (status, body) = curl(
        &format!("{base}/me"),
        &ca_file,
        &["-H", &format!("authorization: Bearer {token}")],
    );
    assert_eq!(
        (status, body.contains("\"sub\":\"alice\"")),
        (200, true),
        "{body}"
    );
    // Plain HTTP to the TLS port is not served.
    let r = std::net::TcpStream::connect(server.addr).and_then(|mut s| {
        use std::io::{Read, Write};
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")?;
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        Ok(buf)
    });
    assert!(!String::from_utf8_lossy(&r.unwrap()).contains("200 OK"));

    // One connection opened on the first certificate…
    let mut child = Command::new("python3")
        .args(["-c", KEEP_ALIVE, &port.to_string(), &ca_file, &token])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["serial"], "03E9", "serial 1001");
    // …the files replaced by a renewal (a new key too)…
    localhost(&env, &ca, "server", 1002);
    assert!(
        eventually(Duration::from_secs(15), || serial_seen(port, &ca_file)
            .as_deref()
            == Some("03EA")),
        "new connections never saw the new certificate: {}",
        server.log()
    );
    assert!(
        server.log().contains("TLS certificate reloaded"),
        "{}",
        server.log()
    );
    // …and the open connection still answers, on the certificate it began with.
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    let last: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(last["answers"][1][0], 200, "{last}");
    assert_eq!(last["serial"], "03E9");

    // A broken renewal (a key that is not the certificate's) is refused and logged;
    // the current certificate keeps serving.
    let other = KeyPair::generate().unwrap();
    std::fs::write(env.path("server.key"), other.serialize_pem()).unwrap();
    assert!(eventually(Duration::from_secs(15), || server
        .log()
        .contains("TLS certificate not reloaded")));
    assert_eq!(serial_seen(port, &ca_file).as_deref(), Some("03EA"));
}

#[test]
fn a_verify_only_node_fetches_keys_and_revocations_over_https_with_its_ca_file() {
    let (env, _ca, ca_file) = setup("server", 7);
    crate::harness::generate_key(&env, "EdDSA", "issuer.pem");
    env.add_user("alice", "user", "alice-password");
    let issuer = https_issuer(&env, "server", &[]);
    let jwks = format!(
        "https://localhost:{}/.well-known/jwks.json",
        issuer.addr.port()
    );
    // A board without ca-certificates: no system roots at all, only the CA file.
    std::fs::write(env.path("no-roots.pem"), "").unwrap();
    let bare = || {
        let mut cmd = env.cmd();
        cmd.env("SSL_CERT_FILE", env.path("no-roots.pem"));
        cmd
    };
    let out = run_cmd(
        bare().args(["serve", "--listen", "127.0.0.1:0", "--jwks-url", &jwks]),
        "",
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("no trusted root certificates: install ca-certificates or give --ca-file"),
        "{}",
        stderr(&out)
    );
    let node = env.serve_with(
        bare(),
        &[
            "--jwks-url",
            &jwks,
            "--ca-file",
            "ca.pem",
            "--revocation-refresh",
            "1s",
        ],
    );
    assert!(node.log().contains("1 keys"), "{}", node.log());
    // A token from the issuer (over HTTPS, by curl) verifies on the node.
    let token = token_over_https(
        &format!("https://localhost:{}", issuer.addr.port()),
        &ca_file,
    );
    assert_eq!(node.get("/me", Some(&token)).status, 200);
    // Revoked at the issuer, refused at the node once its feed (over HTTPS) has it.
    revoke_and_see_refused(
        &format!("https://localhost:{}", issuer.addr.port()),
        &ca_file,
        &token,
        &node,
    );
}

/// Starts a verify-only node against an HTTPS issuer presenting `cert`, trusting
/// `ca_file` (or only the system's roots); returns the node's log.
fn node_log_against(env: &Env, cert: &str, ca_file: Option<&str>) -> String {
    let issuer = https_issuer(env, cert, &[]);
    let jwks = format!(
        "https://localhost:{}/.well-known/jwks.json",
        issuer.addr.port()
    );
    let mut args = vec!["--jwks-url", jwks.as_str(), "--revocation-feed", "off"];
    if let Some(ca) = ca_file {
        args.extend(["--ca-file", ca]);
    }
    let node = env.serve_with(env.cmd(), &args);
    let log = node.log();
    assert!(log.contains("no keys yet"), "{log}");
    log
}

#[test]
fn expired_wrong_host_and_untrusted_certificates_are_refused_in_a_clear_line() {
    let (env, ca, _) = setup("good", 3);
    Ca::new("Someone else's CA").write(&env, "other-ca.pem");
    crate::harness::generate_key(&env, "EdDSA", "issuer.pem");
    ca.issue(&env, "expired", &["localhost"], (2020, 2021), 1);
    ca.issue(&env, "elsewhere", &["issuer.example"], (2020, 2090), 2);

    let log = node_log_against(&env, "expired", Some("ca.pem"));
    assert!(
        log.contains("the server's certificate has expired"),
        "{log}"
    );
    let log = node_log_against(&env, "elsewhere", Some("ca.pem"));
    assert!(log.contains("not valid for this host name"), "{log}");
    let log = node_log_against(&env, "good", Some("other-ca.pem"));
    assert!(log.contains("not signed by a trusted CA"), "{log}");
    let log = node_log_against(&env, "good", None);
    assert!(log.contains("not signed by a trusted CA"), "{log}");
}

#[test]
fn tls_mistakes_are_one_line_and_exit_2() {
    let (env, ca, _) = setup("server", 1);
    localhost(&env, &ca, "other", 2);
    std::fs::write(env.path("not-pem.txt"), "hello").unwrap();
    let cases: [(&[&str], &str); 6] = [
        (&["--tls-cert", "server.pem"], "--tls-cert needs --tls-key"),
        (&["--tls-key", "server.key"], "--tls-key needs --tls-cert"),
        (
            &["--tls-cert", "missing.pem", "--tls-key", "server.key"],
            "--tls-cert missing.pem",
        ),
        (
            &["--tls-cert", "not-pem.txt", "--tls-key", "server.key"],
            "no certificate in it",
        ),
        (
            &["--tls-cert", "server.pem", "--tls-key", "other.key"],
            "does not go with --tls-cert",
        ),
        (
            &["--ca-file", "not-pem.txt"],
            "--ca-file not-pem.txt: no certificate",
        ),
    ];
    // check-config holds the pair to the same checks and shows it, the key redacted.
    let out = run_cmd(
        env.cmd().env("AUTHENTICATION_SECRET", SECRET).args([
            "check-config",
            "--tls-cert",
            "server.pem",
            "--tls-key",
            "server.key",
        ]),
        "",
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(text.contains("https://127.0.0.1:8080"), "{text}");
    assert!(text.contains("key server.key [redacted]"), "{text}");
    assert!(!text.contains("PRIVATE KEY"), "{text}");
    for (args, want) in cases {
        let mut all = vec!["serve", "--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let out = run_cmd(
            env.cmd().env("AUTHENTICATION_SECRET", SECRET).args(&all),
            "",
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        // check-config says the same.
        let mut check = vec!["check-config"];
        check.extend_from_slice(args);
        let out = run_cmd(
            env.cmd().env("AUTHENTICATION_SECRET", SECRET).args(&check),
            "",
        );
        assert_eq!(out.status.code(), Some(2), "check-config {args:?}");
        assert!(
            stderr(&out).contains(want),
            "check-config {args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn a_gateway_forwards_to_an_https_upstream_it_trusts() {
    if !crate::harness::python_has("ssl") {
        required::<()>("python3 with ssl");
        return;
    }
    let (env, _ca, _) = setup("upstream", 9);
    // An HTTPS upstream: Python's http.server behind its ssl module, echoing the path
    // and the identity header.
    let script = r#"
import http.server, json, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"path": self.path, "user": self.headers.get("x-auth-user")}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"#;
    let mut upstream = Command::new("python3")
        .args(["-c", script])
        .arg(env.path("upstream.pem"))
        .arg(env.path("upstream.key"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines =
        std::io::BufRead::lines(std::io::BufReader::new(upstream.stdout.take().unwrap()));
    let port: u16 = lines.next().unwrap().unwrap().trim().parse().unwrap();
    env.add_user("alice", "user", "alice-password");
    let url = format!("https://localhost:{port}");
    let trusted = env.serve(&["--upstream", &url, "--ca-file", "ca.pem"]);
    let token = trusted.token("alice", "alice-password");
    let r = trusted.get("/orders/7", Some(&token));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["path"], "/orders/7");
    assert_eq!(r.json()["user"], "alice");
    // Without the CA, the upstream is not trusted: 502, and the reason in the log.
    let untrusted = env.serve(&["--upstream", &url]);
    let r = untrusted.get("/orders/7", Some(&token));
    assert_eq!((r.status, r.error()), (502, "bad_gateway".to_owned()));
    let _ = upstream.kill();
    let _ = upstream.wait();
}

#[test]
fn behind_an_https_listener_the_upstream_is_told_https() {
    let echo = crate::harness::Echo::start();
    let (env, _ca, ca_file) = setup("server", 5);
    env.add_user("alice", "user", "alice-password");
    let gateway = https_server(&env, &["--upstream", &format!("http://{}", echo.addr)]);
    let base = format!("https://localhost:{}", gateway.addr.port());
    let token = token_over_https(&base, &ca_file);
    let (status, body) = curl(
        &format!("{base}/orders"),
        &ca_file,
        &["-H", &format!("authorization: Bearer {token}")],
    );
    assert_eq!(status, 200, "{body}");
    let echoed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        crate::harness::echoed(&echoed, "x-forwarded-proto"),
        Some("https")
    );
    // A client's own X-Forwarded-Proto never gets through.
    let (_, body) = curl(
        &format!("{base}/orders"),
        &ca_file,
        &[
            "-H",
            &format!("authorization: Bearer {token}"),
            "-H",
            "x-forwarded-proto: http",
        ],
    );
    let echoed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        crate::harness::echoed(&echoed, "x-forwarded-proto"),
        Some("https")
    );
}

/// A third-party OAuth 2.0 client (Python's authlib) that knows only the issuer's URL:
/// it reads the metadata, logs in at the token endpoint it names with the password
/// grant, and verifies the token with the keys at the `jwks_uri` it names.
const DISCOVERING_CLIENT: &str = r#"
import json, ssl, sys, urllib.request, warnings
warnings.simplefilter("ignore")
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
issuer, ca = sys.argv[1], sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
get = lambda url: json.load(urllib.request.urlopen(url, context=ctx))
meta = get(issuer + "/.well-known/oauth-authorization-server")
oidc = get(issuer + "/.well-known/openid-configuration")
assert meta["issuer"] == issuer and oidc["issuer"] == issuer, (meta, oidc)
session = OAuth2Session(client_id="any", token_endpoint_auth_method="none")
token = session.fetch_token(meta["token_endpoint"], grant_type="password", username="alice", password="alice-password", verify=ca)
keys = JsonWebKey.import_key_set(get(oidc["jwks_uri"]))
claims = jwt.decode(token["access_token"], keys, claims_options={"iss": {"essential": True, "value": issuer}})
claims.validate()
print(json.dumps({"sub": claims["sub"], "iss": claims["iss"], "algs": oidc["id_token_signing_alg_values_supported"]}))
"#;

#[test]
fn a_third_party_client_finds_the_token_endpoint_and_keys_by_discovery() {
    if !crate::harness::python_has("authlib, requests") {
        required::<()>("Python's authlib and requests");
        return;
    }
    let (env, _ca, ca_file) = setup("server", 11);
    crate::harness::generate_key(&env, "EdDSA", "issuer.pem");
    env.add_user("alice", "user", "alice-password");
    // The issuer's name is its own https:// origin, so its port is chosen first.
    let port = crate::harness::free_port();
    let issuer = format!("https://localhost:{port}");
    let listen = format!("127.0.0.1:{port}");
    let server = https_issuer(&env, "server", &["--issuer", &issuer, "--listen", &listen]);
    let out = run_cmd(
        Command::new("python3").args(["-c", DISCOVERING_CLIENT, &issuer, &ca_file]),
        "",
    );
    assert!(out.status.success(), "{}\n{}", stderr(&out), server.log());
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["sub"], "alice");
    assert_eq!(seen["iss"], issuer.as_str());
    assert_eq!(seen["algs"], serde_json::json!(["EdDSA"]));

    // A verify-only node that knows only the issuer's URL: keys and revocations found.
    let node = env.serve_with(
        env.cmd(),
        &[
            "--issuer-url",
            &issuer,
            "--ca-file",
            "ca.pem",
            "--revocation-refresh",
            "1s",
        ],
    );
    assert!(node.log().contains("1 keys"), "{}", node.log());
    let token = token_over_https(&issuer, &ca_file);
    assert_eq!(node.get("/me", Some(&token)).status, 200);
    revoke_and_see_refused(&issuer, &ca_file, &token, &node);
    // The metadata must name the issuer the node was given (RFC 8414 §3.3), and tokens
    // are then held to it: another spelling of the same server is refused at start.
    let other = format!("https://127.0.0.1:{port}");
    let out = run_cmd(
        env.cmd().args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--issuer-url",
            &other,
            "--ca-file",
            "ca.pem",
        ]),
        "",
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot discover the issuer"),
        "{}",
        stderr(&out)
    );
    let out = run_cmd(
        env.cmd().args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--issuer-url",
            &issuer,
            "--issuer",
            "https://else.example",
        ]),
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is not --issuer-url"),
        "{}",
        stderr(&out)
    );
}

/// Puts `name`'s certificate and key where the server reads them (`server.crt`,
/// `server.key` in its data directory; the key readable by its owner alone).
fn install_db_certificate(env: &Env, name: &str, data: &std::path::Path) {
    std::fs::copy(env.path(&format!("{name}.pem")), data.join("server.crt")).unwrap();
    std::fs::copy(env.path(&format!("{name}.key")), data.join("server.key")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        data.join("server.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
}

/// `keycard users list` against the database at `url`: its exit code and stderr.
fn users_list(env: &Env, url: &str) -> (Option<i32>, String) {
    let out = env
        .cmd()
        .env("KEYCARD_DATABASE_URL", url)
        .args(["users", "list"])
        .output()
        .unwrap();
    (out.status.code(), stderr(&out))
}

#[test]
fn the_database_is_reached_over_verified_tls_and_bad_certificates_are_refused() {
    use crate::postgres::OwnServer;
    let env = Env::new();
    let ca = Ca::new("Keycard test database CA");
    ca.write(&env, "ca.pem");
    Ca::new("Someone else's CA").write(&env, "other-ca.pem");
    ca.issue(&env, "db", &["localhost"], (2020, 2090), 1);
    ca.issue(&env, "expired", &["localhost"], (2020, 2021), 2);
    Ca::new("A stranger").issue(&env, "stranger", &["localhost"], (2020, 2090), 3);
    let data_dir = std::cell::RefCell::new(None);
    let Some(server) = OwnServer::start_with(
        "the_database_is_reached_over_verified_tls_and_bad_certificates_are_refused",
        |data| {
            install_db_certificate(&env, "db", data);
            // TLS or nothing: every TCP connection must be hostssl.
            let hba = data.join("pg_hba.conf");
            let text = std::fs::read_to_string(&hba).unwrap();
            let text: Vec<String> = text
                .lines()
                .map(|l| match l.strip_prefix("host ") {
                    Some(rest) => format!("hostssl {rest}"),
                    None => l.to_owned(),
                })
                .collect();
            std::fs::write(&hba, text.join("\n") + "\n").unwrap();
            *data_dir.borrow_mut() = Some(data.to_owned());
            "-c ssl=on".to_owned()
        },
    ) else {
        return;
    };
    let data = data_dir.into_inner().unwrap();
    let port = server.port;
    let ca_path = env.path("ca.pem").display().to_string();
    let base = format!("postgres://postgres@localhost:{port}/postgres");
    let verified = format!("{base}?sslmode=verify-full&sslrootcert={ca_path}");

    // libpq's verify-full and sslrootcert, from `keycard users`.
    let out = run_cmd(
        env.cmd().env("KEYCARD_DATABASE_URL", &verified).args([
            "users",
            "add",
            "alice",
            "--password-stdin",
        ]),
        "alice-password\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));

    // sslmode=require with serve's --ca-file: logins work, and every connection the
    // issuer holds is TLS (the server's own view).
    let mut cmd = env.cmd();
    cmd.env("KEYCARD_DATABASE_URL", format!("{base}?sslmode=require"))
        .env("AUTHENTICATION_SECRET", SECRET);
    let issuer = env.serve_with(cmd, &["--ca-file", "ca.pem", "--rate-limit-user", "0"]);
    let token = issuer.token("alice", "alice-password");
    assert_eq!(issuer.get("/me", Some(&token)).status, 200);
    let seen = server.psql(
        "SELECT s.ssl, s.version FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.application_name = 'keycard'",
    );
    let rows: Vec<&str> = seen.lines().collect();
    assert!(!rows.is_empty(), "no keycard connection seen: {seen}");
    assert!(rows.iter().all(|r| r.starts_with("t|TLSv1.")), "{seen}");
    drop(issuer);

    let refused = |env: &Env, url: &str, expect: &str| {
        let (code, err) = users_list(env, url);
        assert_eq!(code, Some(2), "{url}: {err}");
        assert!(err.contains(expect), "{url}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{url}: {err}");
    };
    // The system's roots do not know this CA; nor does another CA file.
    refused(
        &env,
        &format!("{base}?sslmode=require"),
        "not signed by a trusted CA",
    );
    let other = env.path("other-ca.pem").display().to_string();
    refused(
        &env,
        &format!("{base}?sslmode=verify-full&sslrootcert={other}"),
        "not signed by a trusted CA",
    );
    let (code, err) = env
        .cmd()
        .env("KEYCARD_DATABASE_URL", format!("{base}?sslmode=require"))
        .env("AUTHENTICATION_SECRET", SECRET)
        .args(["check-config", "--ca-file", "other-ca.pem"])
        .output()
        .map(|o| (o.status.code(), stderr(&o)))
        .unwrap();
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("not signed by a trusted CA"), "{err}");
    // The certificate names localhost, not 127.0.0.1; libpq's key=value form too.
    refused(
        &env,
        &format!(
            "host=127.0.0.1 port={port} user=postgres dbname=postgres sslmode=verify-full sslrootcert='{ca_path}'"
        ),
        "not valid for this host name",
    );
    // No TLS asked: the server, TLS-only, refuses the plain connection.
    refused(&env, &base, "no encryption");
    // A mistaken setting is said before any connection.
    refused(&env, &format!("{base}?sslmode=verify"), "sslmode=verify");
    refused(
        &env,
        &format!("{base}?sslrootcert={ca_path}"),
        "without sslmode",
    );
    refused(
        &env,
        &format!("{base}?sslmode=require&sslrootcert=/nonexistent/ca.pem"),
        "sslrootcert /nonexistent/ca.pem",
    );

    // The server's certificate expires, then is swapped for a stranger's.
    install_db_certificate(&env, "expired", &data);
    server.reload();
    assert!(
        eventually(Duration::from_secs(10), || {
            users_list(&env, &verified).1.contains("has expired")
        }),
        "the expired certificate is served"
    );
    refused(&env, &verified, "the server's certificate has expired");
    install_db_certificate(&env, "stranger", &data);
    server.reload();
    assert!(
        eventually(Duration::from_secs(10), || {
            users_list(&env, &verified)
                .1
                .contains("not signed by a trusted CA")
        }),
        "the stranger's certificate is served"
    );
    // And back: the right certificate is trusted again.
    install_db_certificate(&env, "db", &data);
    server.reload();
    assert!(
        eventually(Duration::from_secs(10), || {
            users_list(&env, &verified).0 == Some(0)
        }),
        "the right certificate is served"
    );
}
