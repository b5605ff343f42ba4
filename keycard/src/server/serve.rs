//! The server loop — HTTP/1.1 and HTTP/2 (h2c by prior knowledge, and over TLS by ALPN)
//! — and the limits it holds clients to.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::StatusCode;
use hyper::body::{Frame, Incoming, SizeHint};
#[cfg(feature = "http2")]
use hyper_util::rt::TokioExecutor;
use hyper_util::rt::{TokioIo, TokioTimer};
#[cfg(feature = "http2")]
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

use crate::server::errors::json_error;

/// Limits that protect the server from hostile or broken clients.
///
/// Defaults: 16 KiB of request head (start line and headers), 64 headers, 10 s to send
/// the head (and at most 10 s idle between two requests on a connection, or with no
/// stream open on an HTTP/2 one), 30 s for a whole request, 1024 connections at once,
/// 100 streams at once on one HTTP/2 connection.
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
    /// The most requests in flight at once on one HTTP/2 connection.
    pub max_streams: u32,
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
        max_streams: 100,
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

/// Serves `app` on `listener` over HTTP/1.1 and HTTP/2 (h2c: a client that starts with
/// the HTTP/2 preface, as gRPC clients do) until `shutdown` completes; then stops
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
/// ([`TlsServer::watch`](crate::tls::TlsServer::watch)); ALPN offers `h2` (feature
/// `http2`) and `http/1.1`. The handshake counts against the head's time limit, so a
/// client that stalls it holds its slot no longer than one that stalls its headers.
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
/// `stop` says so, finishes the requests in flight and closes. Its slot is given back
/// when the connection and any tunnel it became ([`Tunnel`]) have both ended.
///
/// hyper's header timeout bounds an HTTP/1.1 connection's idle time, but nothing bounds
/// an HTTP/2 connection with no stream open, nor a client that sends no byte at all
/// before the protocol is known: `idle` counts the requests (started, and in flight
/// until their response body ends), and a connection with none for `idle_limit` is
/// closed.
async fn serve_one<I, S, B>(
    io: I,
    http: Arc<Http>,
    service: S,
    idle: Arc<Activity>,
    idle_limit: Duration,
    mut stop: watch::Receiver<bool>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::Service<http::Request<Incoming>, Response = http::Response<B>>
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    #[cfg(feature = "http2")]
    let conn = http.serve_connection_with_upgrades(io, service);
    #[cfg(not(feature = "http2"))]
    let conn = http.serve_connection(io, service).with_upgrades();
    tokio::pin!(conn);
    let ended = tokio::select! {
        ended = conn.as_mut() => ended,
        () = stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
        () = idle.idle_for(idle_limit) => {
            // Nothing in flight: a GOAWAY (HTTP/2) or a close, then no more waiting.
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(1), conn.as_mut()).await;
            Ok(())
        }
    };
    if let Err(e) = ended {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// One connection's requests: how many have started, and how many are in flight (from
/// the call until their response body is done or dropped).
#[derive(Debug, Default)]
struct Activity {
    started: AtomicUsize,
    in_flight: AtomicUsize,
}

impl Activity {
    /// A request begins; it is in flight until the guard is dropped.
    fn begin(self: &Arc<Self>) -> InFlight {
        self.started.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// Resolves once no request has been in flight or begun for at least `limit`
    /// (checked every half `limit`, so after between `limit` and 1.5 × `limit`).
    async fn idle_for(&self, limit: Duration) {
        let tick = (limit / 2).max(Duration::from_millis(10));
        let mut quiet = 0;
        let mut seen = self.started.load(Ordering::Relaxed);
        loop {
            tokio::time::sleep(tick).await;
            let started = self.started.load(Ordering::Relaxed);
            if started == seen && self.in_flight.load(Ordering::Relaxed) == 0 {
                quiet += 1;
                if quiet >= 2 {
                    return;
                }
            } else {
                quiet = 0;
                seen = started;
            }
        }
    }
}

/// A request in flight; see [`Activity`].
#[derive(Debug)]
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its request in flight until it ends.
    struct Counted<B> {
        #[pin]
        body: B,
        guard: Option<InFlight>,
    }
}

impl<B: hyper::body::Body> hyper::body::Body for Counted<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = this.body.poll_frame(cx);
        if let Poll::Ready(None) = polled {
            this.guard.take();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
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

/// The connection builder: HTTP/1.1 and HTTP/2 (feature `http2`), or HTTP/1.1 alone.
#[cfg(feature = "http2")]
type Http = auto::Builder<TokioExecutor>;
#[cfg(not(feature = "http2"))]
type Http = hyper::server::conn::http1::Builder;

#[cfg(feature = "http2")]
fn builder(limits: &ServerLimits) -> Http {
    let mut http = auto::Builder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size((2 * limits.max_header_bytes).max(8192) + 8192)
        .max_headers(2 * limits.max_headers);
    // HTTP/2: the same room for the head (HPACK-decoded), the streams capped; h2 itself
    // refuses connection-specific headers (Upgrade, Transfer-Encoding) and resets floods.
    http.http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(2 * limits.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(limits.max_streams.max(1));
    http
}

#[cfg(not(feature = "http2"))]
fn builder(limits: &ServerLimits) -> Http {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size((2 * limits.max_header_bytes).max(8192) + 8192)
        .max_header_size(2 * limits.max_header_bytes)
        .max_headers(2 * limits.max_headers);
    http
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
    let http = Arc::new(builder(&limits));
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
                let idle = Arc::new(Activity::default());
                let activity = idle.clone();
                let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
                    let guard = activity.begin();
                    req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                    if secure {
                        req.extensions_mut().insert(OverTls);
                    }
                    if req.headers().contains_key(http::header::UPGRADE) {
                        req.extensions_mut().insert(tunnel.clone());
                    }
                    let answer = app.clone().oneshot(req.map(Body::new));
                    async move {
                        let res = answer.await?;
                        Ok::<_, std::convert::Infallible>(
                            res.map(|body| Counted { body, guard: Some(guard) }),
                        )
                    }
                });
                let (http, stop) = (http.clone(), stop.clone());
                let idle_limit = limits.header_timeout;
                match &tls {
                    None => {
                        tokio::spawn(serve_one(TokioIo::new(stream), http, service, idle, idle_limit, stop));
                    }
                    #[cfg(feature = "tls")]
                    Some(acceptor) => {
                        let acceptor = acceptor.clone();
                        let handshake_limit = limits.header_timeout;
                        tokio::spawn(async move {
                            match tokio::time::timeout(handshake_limit, acceptor.accept(stream)).await {
                                Ok(Ok(stream)) => {
                                    serve_one(TokioIo::new(stream), http, service, idle, idle_limit, stop).await;
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
