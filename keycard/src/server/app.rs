//! The `keycard serve` application, built from its parts: [`App`].

use std::sync::Arc;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::header;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;

use crate::auth::AuthLayer;
use crate::auth::TokenSources;
use crate::auth::rules::{Rule, Rules};
use crate::error::Error;
use crate::jwt::claims::Claims;
use crate::jwt::revocation_feed::FEED_PATH;
use crate::jwt::verifier::Verifier;
use crate::login::endpoint::TokenEndpoint;
use crate::server::discovery::{OAUTH_METADATA_PATH, OPENID_CONFIGURATION_PATH};
use crate::server::errors::{method_not_allowed, not_found};
use crate::server::forward_auth::{ForwardAuthHeaders, forward_auth};
use crate::server::gateway::{Gateway, IdentityHeaders};
use crate::server::openapi::{self, OPENAPI_PATH};
use crate::server::ready::{Readiness, readyz};
use crate::server::request_id::{RequestIdLayer, span_for};
use crate::server::serve::{ServerLimits, head_limits, request_timeout};
use crate::store::users::UserStore;

/// Paths that are always public: `/token`, `/healthz`, `/readyz`, `/.well-known/jwks.json`, the
/// revocation feed (signed, and nothing in it is secret: token ids, session ids and
/// usernames with a cut-off), and `/auth/verify` (which judges the request it is asked
/// about itself).
pub const ALWAYS_PUBLIC: [&str; 6] = [
    "/token",
    "/healthz",
    "/readyz",
    "/.well-known/jwks.json",
    FEED_PATH,
    "/auth/verify",
];

/// Keycard's documents, public on the routes that serve them (never for `/auth/verify`,
/// which judges requests meant for another server): the OpenAPI document (not in gateway
/// mode, where `/openapi.json` is the upstream's) and the discovery metadata (which, like
/// the JWKS, an issuer answers in gateway mode too).
const PUBLIC_WHERE_SERVED: [&str; 3] =
    [OPENAPI_PATH, OAUTH_METADATA_PATH, OPENID_CONFIGURATION_PATH];

/// Paths that belong to Keycard whether or not this configuration serves them: one that
/// is not served answers 404 from Keycard and is never forwarded to an upstream, since
/// the rules let it through without a token (`/.well-known/jwks.json` under an HMAC
/// secret, `/token` and `/revoke` on a verify-only node).
pub const RESERVED: [&str; 4] = ["/token", "/revoke", "/.well-known/jwks.json", FEED_PATH];

/// How long clients may cache the JWKS: five minutes. A rotation publishes the new key
/// beside the old one, so a cached copy never lacks the key of a live token for long.
pub const JWKS_MAX_AGE: u64 = 300;

/// The application `keycard serve` runs.
///
/// It answers `/me`, `/healthz`, `/readyz` and `/auth/verify` (forward auth); an issuer
/// also answers `/token` (and `/revoke` with a token store) and publishes its public keys
/// at `/.well-known/jwks.json`. Without a gateway it publishes its OpenAPI document at
/// [`OPENAPI_PATH`] ([`openapi`]). Everything is behind the verifying layer. The rules
/// start with the [`ALWAYS_PUBLIC`] paths (and the document's, where it is served), then
/// those [`public`](Self::public) and [`rule`](Self::rule) add, first match wins; any
/// other path needs a valid token.
/// Unknown paths answer a JSON 404 — or, with a [`gateway`](Self::gateway), go to the
/// upstream once allowed.
///
/// ```
/// use std::sync::Arc;
/// use keycard::server::App;
/// use keycard::{FileUserStore, Hasher, PasswordPolicy, Secret, SigningKey, TokenService};
///
/// # fn main() -> Result<(), keycard::Error> {
/// # let dir = tempfile::tempdir().unwrap();
/// let service = TokenService::builder(SigningKey::hs256(&Secret::random())?).build()?;
/// let users = Arc::new(FileUserStore::open(dir.path().join("users.json"))?);
/// let endpoint = service.endpoint(users, Hasher::new(PasswordPolicy::OWASP));
/// let app: axum::Router = App::issuer(endpoint, service.verifier())
///     .public("/docs*")?
///     .into_router();
/// # Ok(()) }
/// ```
pub struct App {
    routes: Router,
    served: Vec<&'static str>,
    verifier: Verifier,
    rules: Vec<Rule>,
    limits: ServerLimits,
    gateway: Option<Gateway>,
    identity: IdentityHeaders,
    token_sources: TokenSources,
    forward_auth: ForwardAuthHeaders,
    readiness: Readiness,
}

impl App {
    /// An issuer's application: `endpoint`'s `/token` (and `/revoke`), the JWKS when
    /// `verifier`'s keys are public ones, and the verifying routes.
    pub fn issuer<U: UserStore>(endpoint: TokenEndpoint<U>, verifier: Verifier) -> Self {
        let mut served = endpoint.paths().to_vec();
        let jwks_doc = jwks_document(&verifier);
        let discovery = endpoint.discovery(jwks_doc.is_some());
        let mut routes = endpoint.into_router();
        if let Some(document) = jwks_doc {
            routes = routes.route(
                "/.well-known/jwks.json",
                get(move || jwks(document.clone())),
            );
            served.push("/.well-known/jwks.json");
        }
        // Discovery, when `iss` is an https:// origin (see `discovery`).
        if let Some(published) = discovery {
            let oauth = published.oauth;
            routes = routes.route(OAUTH_METADATA_PATH, get(move || json(oauth.clone())));
            served.push(OAUTH_METADATA_PATH);
            if let Some(openid) = published.openid {
                routes = routes.route(OPENID_CONFIGURATION_PATH, get(move || json(openid.clone())));
                served.push(OPENID_CONFIGURATION_PATH);
            }
        }
        Self::with_routes(routes, served, verifier)
    }

    /// A verify-only node's application (`keycard serve --jwks-url`): `/me`, `/healthz`
    /// and `/auth/verify`; no `/token`, no users.
    pub fn verify_only(verifier: Verifier) -> Self {
        Self::with_routes(Router::new(), Vec::new(), verifier)
    }

    fn with_routes(routes: Router, served: Vec<&'static str>, verifier: Verifier) -> Self {
        Self {
            routes,
            served,
            verifier,
            rules: Vec::new(),
            limits: ServerLimits::DEFAULT,
            gateway: None,
            identity: IdentityHeaders::default(),
            token_sources: TokenSources::new(),
            forward_auth: ForwardAuthHeaders::default(),
            readiness: Readiness::new(),
        }
    }

    /// Makes `pattern` (as in [`Rules`]) reachable without a token.
    pub fn public(self, pattern: &str) -> Result<Self, Error> {
        Ok(self.rule(Rule::new(pattern)?.public()))
    }

    /// Appends `rule` to the rules.
    pub fn rule(mut self, rule: Rule) -> Self {
        self.rules.push(rule);
        self
    }

    /// Holds requests to these limits (the head's size, the time a request may take);
    /// give [`serve`](crate::serve) the same ones. Defaults to [`ServerLimits::DEFAULT`].
    pub fn limits(mut self, limits: ServerLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Forwards every request Keycard does not answer itself, once allowed, to this
    /// upstream (instead of answering 404).
    pub fn gateway(mut self, gateway: Gateway) -> Self {
        self.gateway = Some(gateway);
        self
    }

    /// The identity header names, for the gateway and `/auth/verify`.
    pub fn identity_headers(mut self, identity: IdentityHeaders) -> Self {
        self.identity = identity;
        self
    }

    /// Where the bearer token may come from besides `Authorization` (a query parameter,
    /// `Sec-WebSocket-Protocol`: for WebSockets through the gateway), removed before the
    /// request goes on. `/auth/verify` reads `Authorization` only: the front proxy would
    /// pass a token anywhere else on to the upstream.
    pub fn token_sources(mut self, sources: TokenSources) -> Self {
        self.token_sources = sources;
        self
    }

    /// The headers `/auth/verify` reads the original method and URI from.
    pub fn forward_auth(mut self, headers: ForwardAuthHeaders) -> Self {
        self.forward_auth = headers;
        self
    }

    /// What `/readyz` checks (by default nothing: ready whenever it answers).
    pub fn readiness(mut self, readiness: Readiness) -> Self {
        self.readiness = readiness;
        self
    }

    /// The router, ready for [`serve`](crate::serve).
    pub fn into_router(self) -> Router {
        let Self {
            mut routes,
            served,
            verifier,
            rules,
            limits,
            gateway,
            identity,
            token_sources,
            forward_auth: forward_headers,
            readiness,
        } = self;
        // The rules the gateway and `/auth/verify` judge by: the always-public paths,
        // then the configured ones. Keycard's own document is public only where Keycard
        // answers it: never in gateway mode, where the path is the upstream's, nor for
        // `/auth/verify`, which judges requests meant for another server.
        let judged = public_then(&ALWAYS_PUBLIC, &rules);
        let mut paths = served;
        paths.extend(["/me", "/healthz", "/readyz", "/auth/verify"]);
        if gateway.is_none() {
            paths.push(OPENAPI_PATH);
        }
        let openapi = gateway
            .is_none()
            .then(|| openapi::document(&paths, &forward_headers, &identity));
        // Keycard's own public documents where it serves them.
        let mut own = ALWAYS_PUBLIC.to_vec();
        own.extend(PUBLIC_WHERE_SERVED.iter().filter(|p| paths.contains(p)));
        let layer_rules = public_then(&own, &rules);
        let readiness = Arc::new(readiness);
        #[cfg(feature = "metrics")]
        let timing = crate::metrics::RequestMetricsLayer {
            gateway: gateway.is_some(),
        };
        let forward = forward_auth(
            verifier.clone(),
            Arc::new(judged),
            identity.clone(),
            forward_headers,
        );
        for path in RESERVED.iter().filter(|p| !paths.contains(p)) {
            routes = routes.route(path, axum::routing::any(not_found));
        }
        let routes = routes
            .route("/me", get(me))
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(move || readyz(readiness.clone())))
            .merge(forward);
        let routes = match openapi {
            Some(doc) => routes.route(OPENAPI_PATH, get(move || json(doc.clone()))),
            None => routes,
        };
        let routes = match gateway {
            Some(gateway) => {
                routes.fallback_service(gateway.with_identity_headers(identity).into_fallback())
            }
            None => routes.fallback(not_found),
        }
        .method_not_allowed_fallback(method_not_allowed);
        let router = AuthLayer::new(verifier)
            .unless(layer_rules)
            .token_sources(token_sources)
            .wrap(routes)
            .layer(from_fn_with_state(limits.request_timeout, request_timeout))
            .layer(from_fn_with_state(limits, head_limits))
            .layer(TraceLayer::new_for_http().make_span_with(span_for))
            .layer(RequestIdLayer);
        // Outside everything but the header hiding: a 431 or a 408 is timed too.
        #[cfg(feature = "metrics")]
        let router = router.layer(timing);
        router.layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]))
    }
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("served", &self.served)
            .field("gateway", &self.gateway)
            .finish_non_exhaustive()
    }
}

/// The JWK set of the verifier's public keys (RFC 7517), or `None` for HMAC secrets,
/// which are never published.
fn jwks_document(verifier: &Verifier) -> Option<bytes::Bytes> {
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

/// `paths` made public (constant patterns, all valid: see the test below), then `rules`.
fn public_then(paths: &[&str], rules: &[Rule]) -> Rules {
    let public = paths
        .iter()
        .filter_map(|path| Rule::new(path).ok())
        .map(Rule::public);
    public
        .chain(rules.iter().cloned())
        .fold(Rules::new(), Rules::rule)
}

async fn json(document: bytes::Bytes) -> Response {
    let mut res = document.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    res
}

async fn jwks(document: bytes::Bytes) -> Response {
    let mut res = json(document).await;
    let headers = res.headers_mut();
    if let Ok(v) = http::HeaderValue::try_from(format!("public, max-age={JWKS_MAX_AGE}")) {
        headers.insert(header::CACHE_CONTROL, v);
    }
    res
}

async fn me(claims: Claims) -> Response {
    axum::Json(claims).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_always_public_paths_are_valid_patterns() {
        for path in ALWAYS_PUBLIC.iter().chain(&PUBLIC_WHERE_SERVED) {
            assert!(Rule::new(path).is_ok(), "{path}");
        }
    }
}
