//! WebSockets through the gateway: a real client and a real upstream (tungstenite), the
//! handshake judged like any request, the token read from `Authorization`, a query
//! parameter or `Sec-WebSocket-Protocol`, and never passed on.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::server::{Request, Response as WsResponse};
use tungstenite::http::HeaderValue;
use tungstenite::{Message, WebSocket};

use crate::harness::*;

/// A WebSocket upstream: greets each client with what its handshake carried (target,
/// identity, credentials, subprotocols), picks `chat` when offered, then echoes.
fn upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut seen = Value::Null;
                let ws = tungstenite::accept_hdr(stream, |req: &Request, mut res: WsResponse| {
                    let header = |name: &str| {
                        let all: Vec<&str> = req
                            .headers()
                            .get_all(name)
                            .iter()
                            .filter_map(|v| v.to_str().ok())
                            .collect();
                        (!all.is_empty()).then(|| all.join(", "))
                    };
                    let protocols = header("sec-websocket-protocol");
                    seen = json!({
                        "target": req.uri().to_string(),
                        "user": header("x-auth-user"),
                        "authorization": header("authorization"),
                        "protocols": protocols,
                        "headers": req.headers().len(),
                    });
                    if protocols.is_some_and(|p| p.split(',').any(|p| p.trim() == "chat")) {
                        res.headers_mut()
                            .insert("sec-websocket-protocol", HeaderValue::from_static("chat"));
                    }
                    Ok(res)
                });
                let Ok(mut ws) = ws else { return };
                if ws.send(Message::text(seen.to_string())).is_err() {
                    return;
                }
                while let Ok(msg) = ws.read() {
                    if msg.is_text() && ws.send(msg).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

type Ws = WebSocket<TcpStream>;

/// Opens a WebSocket to `target` on Keycard with `headers`; the refusal's status and
/// body otherwise.
fn open(
    server: &Server,
    target: &str,
    headers: &[(&str, &str)],
) -> Result<(Ws, Value), (u16, Value)> {
    let mut req = format!("ws://{}{target}", server.addr)
        .into_client_request()
        .unwrap();
    for (name, value) in headers {
        req.headers_mut().append(
            tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    let stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    match tungstenite::client(req, stream) {
        Ok((mut ws, res)) => {
            let greeting = ws.read().unwrap();
            let mut seen: Value = serde_json::from_str(greeting.to_text().unwrap()).unwrap();
            seen["chosen"] = json!(
                res.headers()
                    .get("sec-websocket-protocol")
                    .map(|v| v.to_str().unwrap().to_owned())
            );
            Ok((ws, seen))
        }
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(res))) => {
            let body = res
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            Err((res.status().as_u16(), body))
        }
        Err(e) => panic!("handshake: {e}"),
    }
}

fn refused(server: &Server, target: &str, headers: &[(&str, &str)]) -> (u16, String) {
    match open(server, target, headers) {
        Ok((_, seen)) => panic!("{target} {headers:?} was let through: {seen}"),
        Err((status, body)) => (status, body["error"].as_str().unwrap_or("").to_owned()),
    }
}

fn echo_round_trip(ws: &mut Ws) {
    for text in ["one", "two ünïcödé", &"x".repeat(70_000)] {
        ws.send(Message::text(text)).unwrap();
        assert_eq!(ws.read().unwrap().to_text().unwrap(), text);
    }
}

fn setup(extra: &[&str]) -> (Env, Server, String) {
    let env = Env::new();
    env.add_user("alice", "admin", "alice-password");
    let upstream = format!("http://{}", upstream());
    let mut args = vec!["--upstream", &upstream, "--public", "/public*"];
    args.extend(extra);
    let server = env.serve(&args);
    let token = server.token("alice", "alice-password");
    (env, server, token)
}

#[test]
fn a_websocket_is_judged_then_bridged_both_ways_without_the_credential() {
    let (_env, server, alice) = setup(&[]);
    let bearer = format!("Bearer {alice}");
    let (mut ws, seen) = open(&server, "/ws?room=1", &[("authorization", &bearer)]).unwrap();
    assert_eq!(seen["target"], "/ws?room=1");
    assert_eq!(seen["user"], "alice");
    assert_eq!(seen["authorization"], Value::Null);
    echo_round_trip(&mut ws);
    ws.close(None).unwrap();

    // Refused like any request, and never reaching the upstream.
    assert_eq!(refused(&server, "/ws", &[]), (401, "missing_token".into()));
    assert_eq!(
        refused(&server, "/ws", &[("authorization", "Bearer not.a.token")]),
        (401, "invalid_token".into())
    );
    // Without the opt-in settings, a token elsewhere is no token, and stays where it was
    // on a public route (the operator did not ask Keycard to read it).
    let query = format!("/ws?access_token={alice}");
    assert_eq!(refused(&server, &query, &[]), (401, "missing_token".into()));
    let (_ws, seen) = open(&server, "/public/ws", &[]).unwrap();
    assert_eq!(seen["user"], Value::Null);
}

#[test]
fn a_browser_token_in_the_query_or_the_subprotocol_is_read_once_and_stripped() {
    let (_env, server, alice) = setup(&[
        "--token-query-param",
        "access_token",
        "--token-websocket-protocol",
    ]);

    // The query parameter: read, then gone from what the upstream sees, the rest kept
    // as it was sent.
    let target = format!("/ws?room=1&access_token={alice};x=%2F");
    let (mut ws, seen) = open(&server, &target, &[]).unwrap();
    assert_eq!(seen["user"], "alice");
    assert_eq!(seen["target"], "/ws?room=1;x=%2F");
    echo_round_trip(&mut ws);

    // The subprotocol: read, stripped; the upstream picks the application's own.
    let offered = format!("chat, bearer.{alice}");
    let (mut ws, seen) = open(&server, "/ws", &[("sec-websocket-protocol", &offered)]).unwrap();
    assert_eq!(seen["user"], "alice");
    assert_eq!(seen["protocols"], "chat");
    assert_eq!(seen["chosen"], "chat");
    echo_round_trip(&mut ws);

    // On a public route the token still identifies its bearer, and is stripped too.
    let (_ws, seen) = open(&server, &format!("/public/ws?access_token={alice}"), &[]).unwrap();
    assert_eq!(
        (seen["user"].as_str(), seen["target"].as_str()),
        (Some("alice"), Some("/public/ws"))
    );

    // One place, one copy: anything else is a request two readers could read two ways.
    let bearer = format!("Bearer {alice}");
    let protocol = format!("bearer.{alice}");
    for (target, headers) in [
        (
            format!("/ws?access_token={alice}"),
            vec![("authorization", bearer.as_str())],
        ),
        (
            format!("/ws?access_token={alice}"),
            vec![("sec-websocket-protocol", protocol.as_str())],
        ),
        (
            "/ws".to_owned(),
            vec![
                ("authorization", bearer.as_str()),
                ("sec-websocket-protocol", protocol.as_str()),
            ],
        ),
        (
            format!("/ws?access_token={alice}&access_token={alice}"),
            vec![],
        ),
        (format!("/ws?access_token={alice}&ACCESS%5Ftoken=x"), vec![]),
        (format!("/ws?access_token={alice}&access.token=x"), vec![]),
        (
            format!("/ws?access_token={alice}&access_token[a]=x"),
            vec![],
        ),
        ("/ws?access_token=".to_owned(), vec![]),
    ] {
        assert_eq!(
            refused(&server, &target, &headers),
            (400, "invalid_request".into()),
            "{target} {headers:?}"
        );
    }
    let two = format!("bearer.{alice}, bearer.{alice}");
    assert_eq!(
        refused(&server, "/ws", &[("sec-websocket-protocol", &two)]),
        (400, "invalid_request".into())
    );
    // A forged token in the query or the subprotocol is refused as in the header.
    assert_eq!(
        refused(&server, "/ws?access_token=a.b.c", &[]),
        (401, "invalid_token".into())
    );
    assert_eq!(
        refused(
            &server,
            "/ws",
            &[("sec-websocket-protocol", "chat, bearer.a.b.c")]
        ),
        (401, "invalid_token".into())
    );

    // The query token works on plain requests too, and is stripped there as well.
    let r = server.get(&format!("/me?access_token={alice}"), None);
    assert_eq!((r.status, r.json()["sub"].as_str()), (200, Some("alice")));

    // Forward auth reads Authorization only: the proxy would pass anything else on.
    let r = server.request(
        format!("GET /auth/verify HTTP/1.1\r\nHost: x\r\nX-Original-URI: /ws?access_token={alice}\r\nX-Original-Method: GET\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!((r.status, r.error()), (401, "missing_token".to_owned()));
}

#[test]
fn a_revoked_token_cannot_open_a_websocket_and_shutdown_closes_open_ones() {
    let env = Env::new();
    env.add_user("alice", "admin", "alice-password");
    let upstream = format!("http://{}", upstream());
    let server = env.serve(&[
        "--upstream",
        &upstream,
        "--token-query-param",
        "access_token",
    ]);
    let alice = server.token("alice", "alice-password");
    let (mut open_ws, _) = open(&server, &format!("/ws?access_token={alice}"), &[]).unwrap();
    let body = json!({ "token": alice }).to_string();
    let r = server.post(
        "/revoke",
        "application/json",
        &body,
        &format!("Authorization: Bearer {alice}\r\n"),
    );
    assert!(r.status < 300, "{} {}", r.status, r.text());
    assert_eq!(
        refused(&server, &format!("/ws?access_token={alice}"), &[]),
        (401, "invalid_token".into())
    );
    // The tunnel opened before is a connection in flight: it ends with the server,
    // which does not wait for it past its grace.
    let started = Instant::now();
    let status = server.terminate();
    assert!(status.success(), "{status}");
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "{:?}",
        started.elapsed()
    );
    assert!(open_ws.read().is_err() || open_ws.read().is_err());
}
