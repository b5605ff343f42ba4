//! gRPC and HTTP/2: a real tonic service behind the library's layer (on tonic's own
//! server, on `keycard::serve` over h2c, and over TLS by ALPN), called by a real tonic
//! client with tokens the `keycard` binary issued; and the binary's own listener over
//! HTTP/2, as an issuer and as a gateway.

use std::convert::Infallible;
use std::future::Future;
use std::io::{Read, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::uri::PathAndQuery;
use keycard::{AuthLayer, Claims, RemoteJwks, Rule, Rules, ServerLimits, Verifier};
use serde_json::Value;
use tonic::server::NamedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Server as TonicServer};
use tonic::{Code, Request, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tonic_prost::ProstCodec;

use crate::harness::{Echo, Env, Server, echoed, generate_key, run_cmd, stdout};
use crate::tls::Ca;

/// What every method takes.
#[derive(Clone, PartialEq, prost::Message)]
struct Empty {}

/// What `Probe/Claims` answers: the verified claims, as JSON.
#[derive(Clone, PartialEq, prost::Message)]
struct ClaimsReply {
    #[prost(string, tag = "1")]
    json: String,
}

/// `keycard.test.Probe/Claims`, written by hand (no protoc).
#[derive(Clone, Debug)]
struct Probe;

impl NamedService for Probe {
    const NAME: &'static str = "keycard.test.Probe";
}

impl<B> tower::Service<http::Request<B>> for Probe
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        Box::pin(async move {
            if req.uri().path() != "/keycard.test.Probe/Claims" {
                return Ok(Status::unimplemented("no such method").into_http());
            }
            let mut grpc = tonic::server::Grpc::new(ProstCodec::<ClaimsReply, Empty>::default());
            let handler = tower::service_fn(|req: Request<Empty>| async move {
                let claims = req
                    .extensions()
                    .get::<Claims>()
                    .ok_or_else(|| Status::internal("the layer gave no claims"))?;
                let json =
                    serde_json::to_string(claims).map_err(|e| Status::internal(e.to_string()))?;
                Ok(tonic::Response::new(ClaimsReply { json }))
            });
            Ok(grpc.unary(handler, req).await)
        })
    }
}

/// The layer every transport below uses: the health check public, `Admin/*` for the
/// role `admin`, everything else for any valid token of the issuer at `jwks`.
async fn layer(jwks: &str) -> AuthLayer {
    let jwks = Arc::new(RemoteJwks::new(jwks).unwrap());
    jwks.refresh().await.unwrap();
    let rules = Rules::new()
        .public("/grpc.health.v1.Health/Check")
        .unwrap()
        .rule(Rule::new("/keycard.test.Admin/*").unwrap().roles(["admin"]));
    AuthLayer::new(Verifier::from_jwks(jwks)).unless(rules)
}

/// One unary call of `path` with these `authorization` values; the claims' JSON or the
/// status.
async fn call(channel: &Channel, path: &str, authorization: &[&str]) -> Result<Value, Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let mut req = Request::new(Empty {});
    for value in authorization {
        req.metadata_mut()
            .append("authorization", value.parse().unwrap());
    }
    let path = PathAndQuery::try_from(path).unwrap();
    let answer = grpc
        .unary(req, path, ProstCodec::<Empty, ClaimsReply>::default())
        .await?;
    Ok(serde_json::from_str(&answer.into_inner().json).unwrap())
}

/// The statuses each kind of caller gets, on one channel.
async fn check_statuses(channel: &Channel, alice: &str, bob: &str, how: &str) {
    let health = HealthClient::new(channel.clone())
        .check(HealthCheckRequest::default())
        .await;
    assert!(health.is_ok(), "{how}: the public health check: {health:?}");

    let claims = "/keycard.test.Probe/Claims";
    let code = |r: &Result<Value, Status>| r.as_ref().map_or_else(Status::code, |_| Code::Ok);
    let alice_bearer = format!("Bearer {alice}");
    let bob_bearer = format!("Bearer {bob}");

    // The claims reach the handler; a refusal is a gRPC status, with the reason.
    let got = call(channel, claims, &[&alice_bearer]).await.unwrap();
    assert_eq!(got["username"], "alice", "{how}: {got}");
    assert_eq!(got["role"], "user", "{how}: {got}");
    let none = call(channel, claims, &[]).await;
    assert_eq!(code(&none), Code::Unauthenticated, "{how}: {none:?}");
    assert_eq!(none.unwrap_err().message(), "a bearer token is required");
    for bad in [
        format!("Bearer {alice}x"),
        "Bearer e30.e30.AAAA".to_owned(),
        format!("Basic {alice}"),
        "Bearer".to_owned(),
    ] {
        let got = call(channel, claims, &[&bad]).await;
        assert_eq!(code(&got), Code::Unauthenticated, "{how}: {bad}: {got:?}");
    }
    // Two authorization values are refused, whichever is good.
    let two = call(channel, claims, &[&alice_bearer, &bob_bearer]).await;
    assert_eq!(code(&two), Code::Unauthenticated, "{how}: {two:?}");

    // Roles: PERMISSION_DENIED, judged on the path the service routes, however the
    // method's path is spelt.
    for admin in [
        "/keycard.test.Admin/Stats",
        "/keycard.test.%41dmin/Stats",
        "/keycard.test.admin/Stats",
        "//keycard.test.Admin/Stats",
        "/keycard.test.Probe/../keycard.test.Admin/Stats",
    ] {
        let got = call(channel, admin, &[&alice_bearer]).await;
        assert!(
            matches!(code(&got), Code::PermissionDenied | Code::InvalidArgument),
            "{how}: alice on {admin}: {got:?}"
        );
    }
    let got = call(channel, "/keycard.test.Admin/Stats", &[&alice_bearer]).await;
    assert_eq!(code(&got), Code::PermissionDenied, "{how}: {got:?}");
    // bob (admin) passes the layer; no such service is behind it.
    let got = call(channel, "/keycard.test.Admin/Stats", &[&bob_bearer]).await;
    assert_eq!(code(&got), Code::Unimplemented, "{how}: {got:?}");
}

/// An issuer (the binary, EdDSA) with alice (user) and bob (admin), and their tokens.
fn issuer(env: &Env) -> (Server, String, String) {
    generate_key(env, "EdDSA", "issuer.pem");
    env.add_user("alice", "user", "alice-password");
    env.add_user("bob", "admin", "bob-password");
    let issuer = env.serve_with(
        env.cmd(),
        &["--signing-key", "issuer.pem", "--rate-limit-user", "0"],
    );
    let alice = issuer.token("alice", "alice-password");
    let bob = issuer.token("bob", "bob-password");
    (issuer, alice, bob)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_tonic_service_behind_the_layer_answers_with_grpc_statuses() {
    let env = Env::new();
    let (issuer, alice, bob) = issuer(&env);
    let jwks = format!("http://{}/.well-known/jwks.json", issuer.addr);
    let ca = Ca::new("Keycard gRPC test CA");
    ca.issue(&env, "server", &["localhost"], (2020, 2090), 1);
    let ca_pem = ca.pem.clone();
    let cert = env.path("server.pem");
    let key = env.path("server.key");
    runtime().block_on(async move {
        let (_reporter, health) = tonic_health::server::health_reporter();

        // 1. tonic's own server, the layer in its stack.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = TonicServer::builder()
            .layer(layer(&jwks).await)
            .add_service(health.clone())
            .add_service(Probe)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
        tokio::spawn(server);
        let channel = connect(&format!("http://{addr}"), None).await;
        check_statuses(&channel, &alice, &bob, "tonic's server").await;

        // 2. The same services on keycard::serve, over h2c.
        let routes = tonic::service::Routes::new(health.clone())
            .add_service(Probe)
            .into_axum_router();
        let app = layer(&jwks).await.wrap(routes);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(keycard::serve(
            listener,
            app.clone(),
            ServerLimits::default(),
            std::future::pending(),
        ));
        let channel = connect(&format!("http://{addr}"), None).await;
        check_statuses(&channel, &alice, &bob, "keycard::serve, h2c").await;

        // 3. And over TLS, HTTP/2 chosen by ALPN.
        let tls = keycard::tls::TlsServer::load(&cert, &key).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            keycard::server::serve_tls(
                listener,
                app,
                ServerLimits::default(),
                &tls,
                std::future::pending(),
            )
            .await
        });
        let channel = connect(&format!("https://localhost:{port}"), Some(&ca_pem)).await;
        check_statuses(&channel, &alice, &bob, "keycard::serve_tls, ALPN h2").await;
    });
}

async fn connect(url: &str, ca: Option<&str>) -> Channel {
    let mut endpoint = Channel::from_shared(url.to_owned()).unwrap();
    if let Some(ca) = ca {
        endpoint = endpoint
            .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)))
            .unwrap();
    }
    endpoint.connect().await.unwrap()
}

/// `curl` with these arguments; its standard output.
fn curl(args: &[&str]) -> String {
    let out = run_cmd(std::process::Command::new("curl").args(args), "");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        crate::harness::stderr(&out)
    );
    stdout(&out)
}

#[test]
fn the_binary_speaks_http2_by_prior_knowledge_and_by_alpn() {
    let env = Env::new();
    let (issuer, alice, _) = issuer(&env);
    let me = format!("http://{}/me", issuer.addr);
    let auth = format!("Authorization: Bearer {alice}");
    // h2c: the same answers as HTTP/1.1, the JSON error too.
    // The body, then the HTTP version and status curl saw.
    let h2c = |args: &[&str]| {
        let mut all = vec![
            "-s",
            "--http2-prior-knowledge",
            "-w",
            "\n%{http_version} %{http_code}",
        ];
        all.extend_from_slice(args);
        curl(&all)
    };
    let h2 = h2c(&["-H", &auth, &me]);
    assert!(h2.ends_with("\n2 200"), "{h2}");
    assert!(h2.contains("\"username\":\"alice\""), "{h2}");
    let h2 = h2c(&[&me]);
    assert!(h2.ends_with("\n2 401"), "{h2}");
    assert!(h2.contains("\"error\":\"missing_token\""), "{h2}");
    // A login over HTTP/2.
    let token = curl(&[
        "-s",
        "--http2-prior-knowledge",
        "-H",
        "Accept: text/plain",
        "-d",
        "username=alice",
        "-d",
        "password=alice-password",
        &format!("http://{}/token", issuer.addr),
    ]);
    assert_eq!(token.split('.').count(), 3, "{token}");
    drop(issuer);

    // Over TLS, h2 by ALPN, and HTTP/1.1 for a client that offers only it.
    let ca = Ca::new("Keycard h2 test CA");
    ca.write(&env, "ca.pem");
    ca.issue(&env, "server", &["localhost"], (2020, 2090), 1);
    let server = env.serve_with(
        env.cmd(),
        &[
            "--signing-key",
            "issuer.pem",
            "--tls-cert",
            "server.pem",
            "--tls-key",
            "server.key",
        ],
    );
    let url = format!("https://localhost:{}/me", server.addr.port());
    let ca_file = env.path("ca.pem").display().to_string();
    for (flag, version) in [("--http2", "2"), ("--http1.1", "1.1")] {
        let got = curl(&[
            "-s",
            flag,
            "--cacert",
            &ca_file,
            "-w",
            "\n%{http_version} %{http_code}",
            "-H",
            &auth,
            &url,
        ]);
        assert!(got.ends_with(&format!("\n{version} 200")), "{flag}: {got}");
    }
}

/// HTTP/2's preface, then an empty SETTINGS frame.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// Whether the server closes `stream` within `limit` (reading and dropping what it sends).
fn closed_within(stream: &mut std::net::TcpStream, limit: Duration) -> bool {
    let deadline = std::time::Instant::now() + limit;
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 1024];
    while std::time::Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return true,
        }
    }
    false
}

#[test]
fn idle_http2_connections_and_silent_clients_are_closed_at_the_header_timeout() {
    let env = Env::new();
    let server = env.serve(&["--header-timeout", "1s"]);
    // A client that never sends a byte (the protocol is not known yet).
    let mut silent = std::net::TcpStream::connect(server.addr).unwrap();
    // An HTTP/2 client that says hello and then nothing.
    let mut idle = std::net::TcpStream::connect(server.addr).unwrap();
    idle.write_all(PREFACE).unwrap();
    assert!(
        closed_within(&mut silent, Duration::from_secs(15)),
        "a silent connection stays open"
    );
    assert!(
        closed_within(&mut idle, Duration::from_secs(15)),
        "an idle HTTP/2 connection stays open"
    );
    // The server serves on.
    assert_eq!(server.get("/healthz", None).status, 200);
}

#[test]
fn the_gateway_forwards_an_http2_request_as_the_layer_judged_it() {
    let env = Env::new();
    let echo = Echo::start();
    let upstream = format!("http://{}", echo.addr);
    let (issuer, alice, _) = issuer(&env);
    let gateway = env.serve_with(
        env.cmd(),
        &[
            "--signing-key",
            "issuer.pem",
            "--upstream",
            &upstream,
            "--public",
            "/open/*",
        ],
    );
    drop(issuer);
    let base = format!("http://{}", gateway.addr);
    let auth = format!("Authorization: Bearer {alice}");
    // The upstream sees the normalized path, the client's :authority as X-Forwarded-Host,
    // the identity, and one Cookie field.
    let got = curl(&[
        "-s",
        "--http2-prior-knowledge",
        "-H",
        &auth,
        "-H",
        "Cookie: a=1",
        "-H",
        "Cookie: b=2",
        &format!("{base}/api/%69tems?x=1"),
    ]);
    let seen: Value = serde_json::from_str(&got).unwrap_or_else(|_| panic!("{got}"));
    assert_eq!(seen["target"], "/api/items?x=1", "{seen}");
    assert_eq!(
        echoed(&seen, "x-forwarded-host"),
        Some(gateway.addr.to_string().as_str()),
        "{seen}"
    );
    assert_eq!(echoed(&seen, "x-auth-user"), Some("alice"), "{seen}");
    assert_eq!(echoed(&seen, "cookie"), Some("a=1; b=2"), "{seen}");
    assert_eq!(echoed(&seen, "authorization"), None, "{seen}");
    // Refused over HTTP/2 as over HTTP/1.1.
    let code = curl(&[
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--http2-prior-knowledge",
        &format!("{base}/api/items"),
    ]);
    assert_eq!(code, "401");
    let code = curl(&[
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--http2-prior-knowledge",
        &format!("{base}/open/../api/items"),
    ]);
    assert!(code == "401" || code == "400", "{code}");

    // A Host field that disagrees with :authority: which one would the upstream believe?
    runtime().block_on(async {
        let channel = Channel::from_shared(base.clone())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut client = channel;
        tower::ServiceExt::<http::Request<tonic::body::Body>>::ready(&mut client)
            .await
            .unwrap();
        let req = http::Request::builder()
            .uri(format!("{base}/open/x"))
            .header("host", "evil.example")
            .body(tonic::body::Body::empty())
            .unwrap();
        let res = tower::Service::call(&mut client, req).await.unwrap();
        assert_eq!(res.status(), 400);
    });
}
