//! The HTTP/1.1 server loop and the limits it holds clients to.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::StatusCode;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

use crate::server::errors::json_error;

/// Limits that protect the server from hostile or broken clients.
///
/// Defaults: 16 KiB of request head (start line and headers), 64 headers, 10 s to send
/// the head (and at most 10 s idle between two requests on a connection), 30 s for a
/// whole request, 1024 connections at once.
#[derive(Clone, Copy, Debug)]
pub struct ServerLimits {
    /// The largest request head, in bytes; beyond it, 431 (JSON; hyper answers a bare 431
    /// past twice this).
    pub max_header_bytes: usize,
    /// The most header fields; beyond it, 431 (JSON; hyper past twice this).
    pub max_headers: usize,
    /// How long a client may take to send the request head (slow-loris defence).
    pub header_timeout: Duration,
    /// How long a request may take in all; beyond it, 408.
    pub request_timeout: Duration,
    /// The most connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
}

impl ServerLimits {
    /// The defaults, as a constant.
    pub const DEFAULT: Self = Self {
        max_header_bytes: 16 * 1024,
        max_headers: 64,
        header_timeout: Duration::from_secs(10),
        request_timeout: Duration::from_secs(30),
        max_connections: 1024,
        shutdown_grace: Duration::from_secs(10),
    };
}

impl Default for ServerLimits {
    /// [`ServerLimits::DEFAULT`].
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The head limits, answered with a JSON 431. hyper itself is given twice the room
/// (see [`serve`]) so that it only steps in, with a bare 431, for grossly oversized heads.
pub(crate) async fn head_limits(
    State(limits): State<ServerLimits>,
    req: Request,
    next: Next,
) -> Response {
    let headers = req.headers();
    let size = req.method().as_str().len()
        + req.uri().path_and_query().map_or(0, |pq| pq.as_str().len())
        + headers
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum::<usize>();
    if headers.len() > limits.max_headers || size > limits.max_header_bytes {
        return json_error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request_header_fields_too_large",
            "the request head is too large",
        );
    }
    next.run(req).await
}

pub(crate) async fn request_timeout(
    State(limit): State<Duration>,
    req: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => json_error(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request took too long",
        ),
    }
}

/// Serves `app` on `listener` over HTTP/1.1 until `shutdown` completes; then stops
/// accepting, lets requests in flight finish (up to `limits.shutdown_grace`), and
/// returns. Handlers see the peer address as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    run(listener, app, limits, None, shutdown).await
}

/// [`serve`] over TLS: HTTPS with `tls`'s certificate, which may change while serving
/// ([`TlsServer::watch`](crate::tls::TlsServer::watch)). The handshake counts against
/// the head's time limit, so a client that stalls it holds its slot no longer than one
/// that stalls its headers.
#[cfg(feature = "tls")]
pub async fn serve_tls(
    listener: TcpListener,
    app: Router,
    limits: ServerLimits,
    tls: &Arc<crate::tls::TlsServer>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let acceptor = tls.acceptor().map_err(std::io::Error::other)?;
    run(listener, app, limits, Some(acceptor), shutdown).await
}

/// Serves one connection (plain or past its TLS handshake) until it ends; when
/// `stop` says so, finishes the request in flight and closes. Its slot is given back
/// when the connection and any tunnel it became ([`Tunnel`]) have both ended.
async fn serve_one<I, S, B>(
    io: I,
    http: hyper::server::conn::http1::Builder,
    service: S,
    mut stop: watch::Receiver<bool>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming, ResBody = B> + Send + 'static,
    S::Future: Send,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let conn = http.serve_connection(io, service).with_upgrades();
    tokio::pin!(conn);
    let ended = tokio::select! {
        ended = conn.as_mut() => ended,
        () = stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = ended {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Resolves when `stop` turns true (or its sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Marks a request that came over TLS (the gateway then says `X-Forwarded-Proto: https`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct OverTls;

/// Given to a request that asks to upgrade its connection (a WebSocket): the
/// connection's slot, which the tunnel the gateway makes of it holds until it closes
/// (so tunnels count against `max_connections`), and the shutdown signal, on which it
/// closes.
#[derive(Clone, Debug)]
pub(crate) struct Tunnel {
    pub(crate) slot: Arc<tokio::sync::OwnedSemaphorePermit>,
    pub(crate) stop: watch::Receiver<bool>,
}

#[cfg(feature = "tls")]
type Acceptor = tokio_rustls::TlsAcceptor;
#[cfg(not(feature = "tls"))]
type Acceptor = std::convert::Infallible;

async fn run(
    listener: TcpListener,
    app: Router,
    limits: ServerLimits,
    tls: Option<Acceptor>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size((2 * limits.max_header_bytes).max(8192) + 8192)
        .max_header_size(2 * limits.max_header_bytes)
        .max_headers(2 * limits.max_headers);
    // Every connection (and tunnel) holds one of `slots`: at shutdown, all of them back
    // means all of them ended.
    let (stop_tx, stop) = watch::channel(false);
    let capacity = u32::try_from(limits.max_connections.max(1)).unwrap_or(u32::MAX);
    let slots = Arc::new(Semaphore::new(capacity as usize));
    tokio::pin!(shutdown);
    loop {
        // A free slot first, then a connection: at the limit, new connections wait in
        // the backlog instead of costing memory here.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                let secure = tls.is_some();
                let tunnel = Tunnel { slot: Arc::new(slot), stop: stop.clone() };
                let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
                    req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                    if secure {
                        req.extensions_mut().insert(OverTls);
                    }
                    if req.headers().contains_key(http::header::UPGRADE) {
                        req.extensions_mut().insert(tunnel.clone());
                    }
                    app.clone().oneshot(req.map(Body::new))
                });
                let (http, stop) = (http.clone(), stop.clone());
                match &tls {
                    None => {
                        tokio::spawn(serve_one(TokioIo::new(stream), http, service, stop));
                    }
                    #[cfg(feature = "tls")]
                    Some(acceptor) => {
                        let acceptor = acceptor.clone();
                        let handshake_limit = limits.header_timeout;
                        tokio::spawn(async move {
                            match tokio::time::timeout(handshake_limit, acceptor.accept(stream)).await {
                                Ok(Ok(stream)) => {
                                    serve_one(TokioIo::new(stream), http, service, stop).await;
                                }
                                Ok(Err(e)) => tracing::debug!(error = %e, %peer, "TLS handshake failed"),
                                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                            }
                        });
                    }
                    #[cfg(not(feature = "tls"))]
                    Some(never) => match *never {},
                }
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down: waiting for requests in flight");
    let _ = stop_tx.send(true);
    if tokio::time::timeout(limits.shutdown_grace, slots.acquire_many(capacity))
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period over; closing remaining connections");
    }
    Ok(())
}
