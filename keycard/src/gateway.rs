//! Gateway mode: Keycard in front of an API in any language.
//!
//! - [`Gateway`] forwards every request Keycard does not answer itself to an upstream,
//!   once the rules allow it, with the caller's identity in headers;
//! - [`forward_auth`] answers the same question for nginx `auth_request`, Traefik
//!   `forwardAuth` and Caddy `forward_auth`, for a request another server received.
//!
//! Identity headers (`X-Auth-User`, `X-Auth-Role`, `X-Auth-Claims` by default) sent by a
//! client are always stripped before forwarding, so they cannot be spoofed; they reach
//! the upstream only as Keycard set them from a verified token.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::header::{self, HeaderName};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::auth::{AuthError, decide};
use crate::claims::Claims;
use crate::error::{Error, ErrorKind};
use crate::http_error::json_error;
use crate::path;
use crate::rules::Rules;
use crate::verifier::Verifier;

/// The names of the identity headers. Defaults to `X-Auth-User`, `X-Auth-Role`,
/// `X-Auth-Claims`.
#[derive(Clone, Debug)]
pub struct IdentityHeaders {
    user: HeaderName,
    role: HeaderName,
    claims: HeaderName,
}

impl Default for IdentityHeaders {
    fn default() -> Self {
        Self {
            user: HeaderName::from_static("x-auth-user"),
            role: HeaderName::from_static("x-auth-role"),
            claims: HeaderName::from_static("x-auth-claims"),
        }
    }
}

impl IdentityHeaders {
    /// Custom names, e.g. `Remote-User`.
    pub fn new(user: &str, role: &str, claims: &str) -> Result<Self, Error> {
        let name = |n: &str| {
            HeaderName::try_from(n).map_err(|_| {
                Error::new(
                    ErrorKind::InvalidConfig,
                    format!("invalid header name {n:?}"),
                )
            })
        };
        Ok(Self {
            user: name(user)?,
            role: name(role)?,
            claims: name(claims)?,
        })
    }

    /// Removes any of these headers a client sent.
    fn strip(&self, headers: &mut HeaderMap) {
        for name in [&self.user, &self.role, &self.claims] {
            headers.remove(name);
        }
    }

    /// Sets them from verified claims.
    fn set(&self, headers: &mut HeaderMap, claims: &Claims) {
        let mut put = |name: &HeaderName, value: Option<String>| {
            if let Some(v) = value.and_then(|v| HeaderValue::try_from(v).ok()) {
                headers.insert(name.clone(), v);
            }
        };
        put(&self.user, claims.subject().map(ascii));
        put(&self.role, claims.role().map(ascii));
        put(
            &self.claims,
            serde_json::to_string(claims).ok().map(|j| ascii(&j)),
        );
    }
}

/// Header values are ASCII: anything else is written as a JSON `\uXXXX` escape (which
/// JSON readers decode back), so `X-Auth-Claims` stays valid JSON.
fn ascii(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() && !c.is_ascii_control() {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// Hop-by-hop headers (RFC 9110 §7.6.1): they concern one connection, never the next.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authorization",
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers named in Connection are hop-by-hop too.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::try_from(n.trim()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Forwards requests to an upstream HTTP server.
///
/// Defaults: identity headers as in [`IdentityHeaders::default`], `Authorization` not
/// passed on, 30 s for the upstream to answer.
#[derive(Clone)]
pub struct Gateway {
    scheme_authority: String,
    base_path: String,
    client: Client<HttpConnector, Body>,
    identity: IdentityHeaders,
    pass_authorization: bool,
    timeout: Duration,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("upstream", &self.scheme_authority)
            .field("pass_authorization", &self.pass_authorization)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// A gateway to `upstream` (`http://host:port`, optionally with a base path).
    pub fn new(upstream: &str) -> Result<Self, Error> {
        let bad = |why: &str| {
            Error::new(
                ErrorKind::InvalidConfig,
                format!("--upstream {upstream:?}: {why}"),
            )
        };
        let uri: Uri = upstream.parse().map_err(|_| bad("not a URL"))?;
        if uri.scheme_str() != Some("http") {
            return Err(bad(
                "use an http:// URL (the upstream is usually on the same host)",
            ));
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if uri.query().is_some() {
            return Err(bad("no query string, please"));
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        Ok(Self {
            scheme_authority: format!("http://{authority}"),
            base_path: uri.path().trim_end_matches('/').to_owned(),
            client,
            identity: IdentityHeaders::default(),
            pass_authorization: false,
            timeout: Duration::from_secs(30),
        })
    }

    /// Uses these identity header names.
    pub fn with_identity_headers(mut self, identity: IdentityHeaders) -> Self {
        self.identity = identity;
        self
    }

    /// Passes the client's `Authorization` header on to the upstream (off by default:
    /// the upstream gets the verified identity instead of the credential).
    pub fn with_authorization_passed(mut self, pass: bool) -> Self {
        self.pass_authorization = pass;
        self
    }

    /// How long the upstream may take to start answering; beyond it, 504.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The router fallback that forwards everything to the upstream.
    pub fn into_fallback(self) -> Router {
        Router::new().fallback(proxy).with_state(Arc::new(self))
    }

    fn target(&self, uri: &Uri) -> Result<Uri, ()> {
        let pq = uri.path_and_query().map_or("/", |pq| pq.as_str());
        format!("{}{}{pq}", self.scheme_authority, self.base_path)
            .parse()
            .map_err(|_| ())
    }
}

async fn proxy(State(gw): State<Arc<Gateway>>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let Ok(target) = gw.target(&parts.uri) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "cannot forward this URI",
        );
    };
    let claims = parts.extensions.remove::<Claims>();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let headers = &mut parts.headers;
    let host = headers.get(header::HOST).cloned();
    strip_hop_by_hop(headers);
    gw.identity.strip(headers);
    if !gw.pass_authorization {
        headers.remove(header::AUTHORIZATION);
    }
    if let Some(claims) = &claims {
        gw.identity.set(headers, claims);
    }
    if let Some(peer) = peer {
        let forwarded = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(prior) => format!("{prior}, {peer}"),
            None => peer.to_string(),
        };
        if let Ok(v) = HeaderValue::try_from(forwarded) {
            headers.insert("x-forwarded-for", v);
        }
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    if let Some(host) = host {
        headers.insert("x-forwarded-host", host);
    }
    headers.remove(header::HOST);
    parts.uri = target;
    parts.version = http::Version::HTTP_11;
    let outgoing = http::Request::from_parts(parts, body);
    match tokio::time::timeout(gw.timeout, gw.client.request(outgoing)).await {
        Ok(Ok(res)) => {
            let (mut parts, body) = res.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Response::from_parts(parts, Body::new(body))
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "upstream request failed");
            json_error(
                StatusCode::BAD_GATEWAY,
                "bad_gateway",
                "the upstream could not be reached",
            )
        }
        Err(_) => json_error(
            StatusCode::GATEWAY_TIMEOUT,
            "gateway_timeout",
            "the upstream did not answer in time",
        ),
    }
}

/// The forward-auth endpoint state.
#[derive(Clone, Debug)]
struct ForwardAuth {
    verifier: Verifier,
    rules: Arc<Rules>,
    identity: IdentityHeaders,
}

/// `GET /auth/verify`: judges the request another server received — its method from
/// `X-Forwarded-Method` (default `GET`), its URI from `X-Original-URI` or
/// `X-Forwarded-Uri` — by the same rules, with the bearer token sent along. 200 with the
/// identity headers, or the 401 / 403 / 400 the request itself would have had.
pub fn forward_auth(verifier: Verifier, rules: Arc<Rules>, identity: IdentityHeaders) -> Router {
    Router::new()
        .route("/auth/verify", get(verify_forwarded))
        .with_state(ForwardAuth {
            verifier,
            rules,
            identity,
        })
}

async fn verify_forwarded(State(fa): State<ForwardAuth>, headers: HeaderMap) -> Response {
    let method = match headers.get("x-forwarded-method") {
        None => Method::GET,
        Some(v) => match Method::from_bytes(v.as_bytes()) {
            Ok(m) => m,
            Err(_) => return bad("invalid X-Forwarded-Method"),
        },
    };
    let Some(original) = headers
        .get("x-original-uri")
        .or_else(|| headers.get("x-forwarded-uri"))
        .and_then(|v| v.to_str().ok())
    else {
        return bad("X-Original-URI or X-Forwarded-Uri is required");
    };
    let raw_path = original.split(['?', '#']).next().unwrap_or("/");
    // An absolute URI (Traefik sometimes sends one): judge its path.
    let raw_path = match raw_path.find("://") {
        Some(at) => raw_path
            .get(at + 3..)
            .and_then(|rest| rest.find('/').and_then(|slash| rest.get(slash..)))
            .unwrap_or("/"),
        None => raw_path,
    };
    let normal = match path::normalize(raw_path) {
        Ok(p) => p,
        Err(e) => return AuthError::InvalidPath(e).into_response(),
    };
    match decide(&fa.verifier, &fa.rules, &method, &normal, &headers) {
        Ok(claims) => {
            let mut res = StatusCode::OK.into_response();
            if let Some(claims) = claims {
                fa.identity.set(res.headers_mut(), &claims);
            }
            res
        }
        Err(refusal) => refusal.into_response(),
    }
}

fn bad(why: &str) -> Response {
    json_error(StatusCode::BAD_REQUEST, "invalid_request", why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_stay_ascii_json() {
        assert_eq!(ascii("plain"), "plain");
        let escaped = ascii(r#"{"name":"Zoë 🙂"}"#);
        assert!(escaped.is_ascii());
        let back: serde_json::Value = serde_json::from_str(&escaped).unwrap();
        assert_eq!(back["name"], "Zoë 🙂");
    }

    #[test]
    fn hop_by_hop_headers_go() {
        let mut h = HeaderMap::new();
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-secret-hop"),
        );
        h.insert("x-secret-hop", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("te", HeaderValue::from_static("trailers"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn upstream_urls() {
        assert!(Gateway::new("http://127.0.0.1:3000").is_ok());
        let g = Gateway::new("http://127.0.0.1:3000/api/").unwrap();
        assert_eq!(
            g.target(&"/x?y=1".parse().unwrap()).unwrap(),
            "http://127.0.0.1:3000/api/x?y=1"
        );
        for bad in ["https://x", "127.0.0.1:3000", "http://x/?q=1", "nonsense"] {
            assert!(Gateway::new(bad).is_err(), "{bad}");
        }
    }
}
