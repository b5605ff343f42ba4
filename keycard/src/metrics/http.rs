//! The HTTP side of the metrics: the scrape endpoint, served on a listener of its own,
//! and the layer that times every request on the public one.

use std::time::Instant;

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, HeaderValue, header};

use super::registry::{Format, Metrics, status_class};
use crate::jwt::revocation_feed::FEED_PATH;
use crate::server::errors::{method_not_allowed, not_found};

/// Where the scrape is served.
pub const METRICS_PATH: &str = "/metrics";

/// The metrics listener's application: `GET /metrics` (installing the metrics if they
/// are not yet), a JSON 404 elsewhere. Serve it on its own address, never on the public
/// listener: what it tells is for operators.
pub fn router() -> Router {
    let metrics = Metrics::install();
    Router::new()
        .route(
            METRICS_PATH,
            get(move |headers: HeaderMap| async move { scrape(metrics, &headers) }),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// OpenMetrics when the scraper asks for it (Prometheus does), else the classic text.
fn scrape(metrics: &Metrics, headers: &HeaderMap) -> Response {
    let wants_openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let format = if wants_openmetrics {
        Format::OpenMetrics
    } else {
        Format::Prometheus
    };
    let mut res = metrics.encode(format).into_response();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The route group of a request, from its path as sent: one of a fixed set, so a label
/// never carries a path. Paths Keycard does not answer itself are `upstream` in gateway
/// mode and `other` otherwise.
fn route_group(path: &str, gateway: bool) -> &'static str {
    match path {
        "/token" => "token",
        "/revoke" => "revoke",
        "/me" => "me",
        "/.well-known/jwks.json" => "jwks",
        FEED_PATH => "revocation_feed",
        "/auth/verify" => "forward_auth",
        "/healthz" | "/readyz" => "health",
        "/openapi.json" if !gateway => "openapi",
        _ if gateway => "upstream",
        _ => "other",
    }
}

/// Times each request into `keycard_http_request_duration_seconds{route, status}`; a
/// pass-through while no metrics are installed. A plain tower layer (no boxing).
#[derive(Clone, Copy, Debug)]
pub(crate) struct RequestMetricsLayer {
    pub(crate) gateway: bool,
}

impl<S> tower::Layer<S> for RequestMetricsLayer {
    type Service = RequestMetrics<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequestMetrics {
            inner,
            gateway: self.gateway,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct RequestMetrics<S> {
    inner: S,
    gateway: bool,
}

impl<S, B, R> tower::Service<http::Request<B>> for RequestMetrics<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = Timed<S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let started = Metrics::get().map(|m| {
            (
                m,
                route_group(req.uri().path(), self.gateway),
                Instant::now(),
            )
        });
        Timed {
            inner: self.inner.call(req),
            started,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future, which records the request's duration once answered.
    pub(crate) struct Timed<F> {
        #[pin]
        inner: F,
        started: Option<(&'static Metrics, &'static str, Instant)>,
    }
}

impl<F, R, E> std::future::Future for Timed<F>
where
    F: std::future::Future<Output = Result<http::Response<R>, E>>,
{
    type Output = F::Output;
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.project();
        let out = std::task::ready!(this.inner.poll(cx));
        if let (Some((metrics, route, at)), Ok(res)) = (this.started.take(), &out) {
            metrics
                .requests
                .get_or_create(&[("route", route), ("status", status_class(res.status()))])
                .observe(at.elapsed().as_secs_f64());
        }
        std::task::Poll::Ready(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_groups_are_a_fixed_set() {
        assert_eq!(route_group("/token", false), "token");
        assert_eq!(route_group("/readyz", true), "health");
        assert_eq!(route_group("/openapi.json", false), "openapi");
        assert_eq!(route_group("/openapi.json", true), "upstream");
        assert_eq!(route_group("/users/alice", true), "upstream");
        assert_eq!(route_group("/users/alice", false), "other");
    }
}
