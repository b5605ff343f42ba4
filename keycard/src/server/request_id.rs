//! A request id on every request: the client's `X-Request-Id` when it is a sane one
//! (1–128 visible ASCII characters), or a fresh random one. It is put back in the
//! request's headers (so gateway mode passes it to the upstream), recorded in the
//! request's log span (so every line logged for the request carries it), and returned in
//! the response's `X-Request-Id`.

use http::{HeaderName, HeaderValue};

/// The header.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

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

/// The id a request goes by: the client's one if sane and single, else a new one.
fn id_of(headers: &http::HeaderMap) -> HeaderValue {
    let mut given = headers.get_all(&REQUEST_ID).iter();
    match (given.next(), given.next()) {
        (Some(one), None) if sane(one) => one.clone(),
        _ => fresh_id(),
    }
}

/// The layer: sets the id before anything else sees the request, and returns it in the
/// response. A plain tower service (no boxing, no clone of the stack per request).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RequestIdLayer;

impl<S> tower::Layer<S> for RequestIdLayer {
    type Service = RequestIdService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequestIdService { inner }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct RequestIdService<S> {
    inner: S,
}

impl<S, B, R> tower::Service<http::Request<B>> for RequestIdService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = WithId<S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let id = id_of(req.headers());
        req.headers_mut().insert(REQUEST_ID, id.clone());
        WithId {
            inner: self.inner.call(req),
            id: Some(id),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future, which stamps the id on the response.
    pub(crate) struct WithId<F> {
        #[pin]
        inner: F,
        id: Option<HeaderValue>,
    }
}

impl<F, R, E> std::future::Future for WithId<F>
where
    F: std::future::Future<Output = Result<http::Response<R>, E>>,
{
    type Output = F::Output;
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.project();
        let mut res = std::task::ready!(this.inner.poll(cx))?;
        if let Some(id) = this.id.take() {
            res.headers_mut().insert(REQUEST_ID, id);
        }
        std::task::Poll::Ready(Ok(res))
    }
}

/// The log span of a request: method, path (never the query, which may hold a token)
/// and the request id. (The client's address is in the audit events that need it.)
pub(crate) fn span_for<B>(req: &http::Request<B>) -> tracing::Span {
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    // tower-http's own target, so that `RUST_LOG=tower_http=debug` keeps the span.
    tracing::info_span!(
        target: "tower_http::trace::make_span",
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        request_id = %id,
    )
}
