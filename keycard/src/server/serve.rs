//! The `keycard serve` application and its HTTP server loop.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;

use crate::auth::AuthLayer;
use crate::auth::rules::Rules;
use crate::error::Error;
use crate::jwt::claims::Claims;
use crate::jwt::verifier::Verifier;
use crate::login::endpoint::TokenEndpoint;
use crate::server::errors::{json_error, method_not_allowed, not_found};
use crate::server::forward_auth::{ForwardAuthHeaders, forward_auth};
use crate::server::gateway::{Gateway, IdentityHeaders};
use crate::store::users::UserStore;

/// Paths that are always public: `/token`, `/healthz`, `/.well-known/jwks.json`, and
/// `/auth/verify` (which judges the request it is asked about itself).
pub const ALWAYS_PUBLIC: [&str; 4] = [
    "/token",
    "/healthz",
    "/.well-known/jwks.json",
    "/auth/verify",
];

/// The rule set of `keycard serve`: the [`ALWAYS_PUBLIC`] paths, then each of `public`
/// (patterns as in [`Rules`]), everything else needing a valid token.
pub fn serve_rules<S: AsRef<str>>(public: &[S]) -> Result<Rules, Error> {
    let mut rules = Rules::new();
    for p in ALWAYS_PUBLIC
        .iter()
        .copied()
        .chain(public.iter().map(AsRef::as_ref))
    {
        rules = rules.public(p)?;
    }
    Ok(rules)
}

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

/// How long clients may cache the JWKS: five minutes. A rotation publishes the new key
/// beside the old one, so a cached copy never lacks the key of a live token for long.
pub const JWKS_MAX_AGE: u64 = 300;

/// Extra parts of the application: a gateway to an upstream, identity header names.
#[derive(Clone, Debug, Default)]
pub struct AppOptions {
    /// Forward every request Keycard does not answer itself to this upstream (instead
    /// of 404).
    pub gateway: Option<Gateway>,
    /// The identity header names for the gateway and `/auth/verify`.
    pub identity: IdentityHeaders,
    /// The headers `/auth/verify` reads the original method and URI from.
    pub forward_auth: ForwardAuthHeaders,
}

/// Paths that belong to Keycard whether or not this configuration serves them: one that
/// is not served answers 404 from Keycard and is never forwarded to an upstream, since
/// the rules let it through without a token (`/.well-known/jwks.json` under an HMAC
/// secret, `/token` and `/revoke` on a verify-only node).
pub const RESERVED: [&str; 3] = ["/token", "/revoke", "/.well-known/jwks.json"];

/// The application `keycard serve` runs: `/token`, `/me`, `/healthz`, `/auth/verify`,
/// and the JWKS when the keys are public ones, behind the verifying layer with `rules`,
/// with JSON 404 and 405 answers.
pub fn app<U: UserStore>(
    endpoint: TokenEndpoint<U>,
    verifier: Verifier,
    rules: Rules,
    limits: &ServerLimits,
) -> Router {
    app_with(endpoint, verifier, rules, limits, AppOptions::default())
}

/// [`app`], with a gateway or other identity header names.
pub fn app_with<U: UserStore>(
    endpoint: TokenEndpoint<U>,
    verifier: Verifier,
    rules: Rules,
    limits: &ServerLimits,
    options: AppOptions,
) -> Router {
    let mut served = endpoint.paths().to_vec();
    let mut routes = endpoint.into_router();
    if let Some(document) = jwks_document(&verifier) {
        routes = routes.route(
            "/.well-known/jwks.json",
            get(move || jwks(document.clone())),
        );
        served.push("/.well-known/jwks.json");
    }
    assemble(routes, &served, verifier, rules, limits, options)
}

/// The application of a verify-only node (`keycard serve --jwks-url`): `/me`,
/// `/healthz` and `/auth/verify` behind the verifying layer; no `/token`, no users.
pub fn verify_only_app(
    verifier: Verifier,
    rules: Rules,
    limits: &ServerLimits,
    options: AppOptions,
) -> Router {
    assemble(Router::new(), &[], verifier, rules, limits, options)
}

fn assemble(
    mut routes: Router,
    served: &[&str],
    verifier: Verifier,
    rules: Rules,
    limits: &ServerLimits,
    options: AppOptions,
) -> Router {
    let forward = forward_auth(
        verifier.clone(),
        Arc::new(rules.clone()),
        options.identity.clone(),
        options.forward_auth.clone(),
    );
    for path in RESERVED.iter().filter(|p| !served.contains(p)) {
        routes = routes.route(path, axum::routing::any(not_found));
    }
    let routes = routes
        .route("/me", get(me))
        .route("/healthz", get(|| async { "ok" }))
        .merge(forward);
    let routes = match options.gateway {
        Some(gateway) => routes.fallback_service(
            gateway
                .with_identity_headers(options.identity)
                .into_fallback(),
        ),
        None => routes.fallback(not_found),
    }
    .method_not_allowed_fallback(method_not_allowed);
    AuthLayer::new(verifier)
        .unless(rules)
        .wrap(routes)
        .layer(from_fn_with_state(limits.request_timeout, request_timeout))
        .layer(from_fn_with_state(*limits, head_limits))
        .layer(TraceLayer::new_for_http())
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]))
}

/// The JWK set of the verifier's public keys (RFC 7517), or `None` for HMAC secrets,
/// which are never published.
pub fn jwks_document(verifier: &Verifier) -> Option<bytes::Bytes> {
    let keys: Vec<_> = verifier
        .keys()
        .iter()
        .filter_map(|k| k.jwk().cloned())
        .collect();
    if keys.is_empty() {
        return None;
    }
    let set = jsonwebtoken::jwk::JwkSet { keys };
    serde_json::to_vec(&set).ok().map(bytes::Bytes::from)
}

async fn jwks(document: bytes::Bytes) -> Response {
    let mut res = document.into_response();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = http::HeaderValue::try_from(format!("public, max-age={JWKS_MAX_AGE}")) {
        headers.insert(header::CACHE_CONTROL, v);
    }
    res
}

async fn me(claims: Claims) -> Response {
    axum::Json(claims).into_response()
}

/// The head limits, answered with a JSON 431. hyper itself is given twice the room
/// (see [`serve`]) so that it only steps in, with a bare 431, for grossly oversized heads.
async fn head_limits(State(limits): State<ServerLimits>, req: Request, next: Next) -> Response {
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

async fn request_timeout(State(limit): State<Duration>, req: Request, next: Next) -> Response {
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
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size((2 * limits.max_header_bytes).max(8192) + 8192)
        .max_header_size(2 * limits.max_header_bytes)
        .max_headers(2 * limits.max_headers);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
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
                let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
                    req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                    app.clone().oneshot(req.map(Body::new))
                });
                let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    drop(slot);
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down: waiting for requests in flight");
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period over; closing remaining connections");
    }
    Ok(())
}
