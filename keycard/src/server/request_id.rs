//! A request id on every request: the client's `X-Request-Id` when it is a sane one
//! (1–128 visible ASCII characters), or a fresh random one. It is put back in the
//! request's headers (so gateway mode passes it to the upstream), recorded in the
//! request's log span (so every line logged for the request carries it), and returned in
//! the response's `X-Request-Id`.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderName, HeaderValue};

/// The header.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of a request, in its extensions.
#[derive(Clone, Debug)]
pub struct RequestId(pub HeaderValue);

fn sane(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    (1..=128).contains(&b.len()) && b.iter().all(|c| c.is_ascii_graphic())
}

/// A new id: this process's random prefix and a counter — unique, and no system call
/// per request.
fn fresh_id() -> HeaderValue {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PREFIX: OnceLock<String> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(crate::random::id);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    HeaderValue::try_from(format!("{prefix}-{n:x}"))
        .unwrap_or_else(|_| HeaderValue::from_static("-"))
}

/// The middleware: sets the id before anything else sees the request.
pub(crate) async fn request_id(mut req: Request, next: Next) -> Response {
    let mut given = req.headers().get_all(&REQUEST_ID).iter();
    let id = match (given.next(), given.next()) {
        (Some(one), None) if sane(one) => one.clone(),
        _ => fresh_id(),
    };
    req.headers_mut().insert(REQUEST_ID, id.clone());
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut res = next.run(req).await;
    res.headers_mut().insert(REQUEST_ID, id);
    res
}

/// The log span of a request: method, path (never the query, which may hold a token),
/// the TCP peer and the request id.
pub(crate) fn span_for<B>(req: &http::Request<B>) -> tracing::Span {
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "-".to_owned());
    // tower-http's own target, so that `RUST_LOG=tower_http=debug` keeps the span.
    tracing::info_span!(
        target: "tower_http::trace::make_span",
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        peer = %peer,
        request_id = %id,
    )
}
