//! `GET /auth/verify`: judging a request that a front proxy received (nginx
//! `auth_request`, Traefik `forwardAuth`, Caddy `forward_auth`, Envoy and others).
//!
//! The proxy tells Keycard the original method and URI in two headers. Which two is a
//! setting, [`ForwardAuthHeaders`], because a proxy copies every *other* header the
//! client sent: a client that adds `X-Original-URI: /token` to a request for `/admin`
//! must not be judged as asking for `/token`. So Keycard reads exactly one URI header
//! and one method header, and refuses (400) a request that
//!
//! - lacks either (there is no default method),
//! - carries either twice, or another original-URI or original-method header (under
//!   any spelling, `_` for `-` included) with a different value,
//! - carries an identity header (`X-Auth-User`, …, under any spelling): the proxy would
//!   pass the client's copy on wherever Keycard's answer leaves one out,
//! - or whose URI is neither origin-form (`/path?query`) nor absolute-form
//!   (`http://host/path`), as RFC 9112 §3.2 reads a request target.
//!
//! The request is then decided by the same function as the layer and the gateway. A
//! 200 always carries every identity header, empty when the caller is anonymous or the
//! token lacks the claim.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use http::header::HeaderName;
use http::{HeaderMap, Method, StatusCode};

use crate::auth::rules::Rules;
use crate::auth::{AuthError, HEADER_ONLY, decide_refetching, same_header};
use crate::error::{Error, ErrorKind};
use crate::jwt::verifier::Verifier;
use crate::server::gateway::{IdentityHeaders, header_name};

/// Headers that carry a request's original URI for one proxy or another.
const URI_HEADERS: [&str; 5] = [
    "x-original-uri",
    "x-forwarded-uri",
    "x-original-url",
    "x-rewrite-url",
    "x-envoy-original-path",
];

/// Headers that carry a request's original method.
const METHOD_HEADERS: [&str; 2] = ["x-original-method", "x-forwarded-method"];

/// Which headers carry the original URI and method. Defaults to [`nginx`](Self::nginx).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardAuthHeaders {
    uri: HeaderName,
    method: HeaderName,
}

impl Default for ForwardAuthHeaders {
    /// The preset of [`DEFAULT_PROXY`](Self::DEFAULT_PROXY): nginx's.
    fn default() -> Self {
        Self::nginx()
    }
}

impl ForwardAuthHeaders {
    /// The proxy whose headers are read unless told otherwise.
    pub const DEFAULT_PROXY: &'static str = "nginx";

    /// `X-Original-URI` and `X-Original-Method`, as `examples/nginx.conf` sets them from
    /// `$request_uri` and `$request_method`.
    pub fn nginx() -> Self {
        Self {
            uri: HeaderName::from_static("x-original-uri"),
            method: HeaderName::from_static("x-original-method"),
        }
    }

    /// `X-Forwarded-Uri` and `X-Forwarded-Method`, which Traefik's `forwardAuth` and
    /// Caddy's `forward_auth` set.
    pub fn traefik() -> Self {
        Self {
            uri: HeaderName::from_static("x-forwarded-uri"),
            method: HeaderName::from_static("x-forwarded-method"),
        }
    }

    /// The same as [`traefik`](Self::traefik).
    pub fn caddy() -> Self {
        Self::traefik()
    }

    /// Headers of your choosing (for Envoy's `ext_authz` with `headers_to_add`, say).
    pub fn custom(uri: &str, method: &str) -> Result<Self, Error> {
        Ok(Self {
            uri: header_name(uri)?,
            method: header_name(method)?,
        })
    }

    /// By the proxy's name: `nginx`, `traefik` or `caddy`.
    pub fn preset(proxy: &str) -> Result<Self, Error> {
        match proxy {
            "nginx" => Ok(Self::nginx()),
            "traefik" => Ok(Self::traefik()),
            "caddy" => Ok(Self::caddy()),
            other => Err(Error::new(
                ErrorKind::InvalidConfig,
                format!(
                    "unknown forward-auth proxy {other:?}: use nginx, traefik or caddy, or name the headers"
                ),
            )),
        }
    }

    /// The original-URI header.
    pub fn uri_header(&self) -> &HeaderName {
        &self.uri
    }

    /// The original-method header.
    pub fn method_header(&self) -> &HeaderName {
        &self.method
    }
}

#[derive(Clone, Debug)]
struct ForwardAuth {
    verifier: Verifier,
    rules: Arc<Rules>,
    identity: IdentityHeaders,
    headers: ForwardAuthHeaders,
}

/// The `/auth/verify` route (see the module docs): 200 with the identity headers, or the
/// 400 / 401 / 403 the request itself would have had. It answers every method: nginx's
/// `auth_request` asks with the original request's method (a POST is asked as a POST),
/// and the method judged is the header's anyway.
pub fn forward_auth(
    verifier: Verifier,
    rules: Arc<Rules>,
    identity: IdentityHeaders,
    headers: ForwardAuthHeaders,
) -> Router {
    Router::new()
        .route("/auth/verify", any(verify_forwarded))
        .with_state(ForwardAuth {
            verifier,
            rules,
            identity,
            headers,
        })
}

async fn verify_forwarded(State(fa): State<ForwardAuth>, headers: HeaderMap) -> Response {
    match judge(&fa, &headers).await {
        Ok(claims) => {
            let mut res = StatusCode::OK.into_response();
            fa.identity.set_all(res.headers_mut(), claims.as_ref());
            res
        }
        Err(refusal) => refusal.into_response(),
    }
}

async fn judge(
    fa: &ForwardAuth,
    headers: &HeaderMap,
) -> Result<Option<crate::jwt::claims::Claims>, AuthError> {
    if headers.keys().any(|name| fa.identity.is_identity(name)) {
        return Err(AuthError::InvalidRequest(
            "the request carries an identity header",
        ));
    }
    let method = one_header(
        headers,
        &fa.headers.method,
        &METHOD_HEADERS,
        "the original-method header is missing (set forward_auth for your proxy)",
        "conflicting original-method headers",
    )?;
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| AuthError::InvalidRequest("invalid original method"))?;
    let target = one_header(
        headers,
        &fa.headers.uri,
        &URI_HEADERS,
        "the original-URI header is missing (set forward_auth for your proxy)",
        "conflicting original-URI headers",
    )?;
    let path = target_path(target)?;
    // `Authorization` only: the front proxy passes the original URI and headers on to
    // the upstream as they are, so a token read from anywhere else would reach it.
    let verdict = decide_refetching(
        &fa.verifier,
        &fa.rules,
        &HEADER_ONLY,
        &method,
        path,
        None,
        headers,
    )
    .await?;
    Ok(verdict.claims)
}

/// The one value of `chosen`; refused when it is missing, repeated, not text, or when
/// another header of its `family` (by folded name) says something else.
fn one_header<'h>(
    headers: &'h HeaderMap,
    chosen: &HeaderName,
    family: &[&str],
    missing: &'static str,
    conflict: &'static str,
) -> Result<&'h str, AuthError> {
    let mut values = headers.get_all(chosen).iter();
    let value = values.next().ok_or(AuthError::InvalidRequest(missing))?;
    if values.next().is_some() {
        return Err(AuthError::InvalidRequest(conflict));
    }
    let related = |name: &HeaderName| {
        same_header(name.as_str(), chosen.as_str())
            || family.iter().any(|f| same_header(name.as_str(), f))
    };
    for (name, other) in headers {
        if name != chosen && related(name) && other != value {
            return Err(AuthError::InvalidRequest(conflict));
        }
    }
    value
        .to_str()
        .map_err(|_| AuthError::InvalidRequest("the original URI is not ASCII"))
}

/// The path of a request target (RFC 9112 §3.2): origin-form `/path[?query]`, or
/// absolute-form `http[s]://authority/path[?query]`; the authority- and asterisk-forms
/// name no path and are refused, and so is anything else.
fn target_path(target: &str) -> Result<&str, AuthError> {
    let bad = AuthError::InvalidRequest("the original URI is not a request target");
    if target.contains('#') {
        return Err(bad);
    }
    let (path, _query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    if path.starts_with('/') {
        return Ok(path);
    }
    let scheme_end = path.find("://").ok_or(bad)?;
    let scheme = path.get(..scheme_end).ok_or(bad)?;
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
        return Err(bad);
    }
    let rest = path.get(scheme_end + 3..).ok_or(bad)?;
    let (authority, path) = match rest.find('/') {
        Some(at) => (rest.get(..at).ok_or(bad)?, rest.get(at..).ok_or(bad)?),
        None => (rest, "/"),
    };
    // No user information (RFC 9110 §4.2.4), no empty host.
    if authority.is_empty() || authority.contains('@') {
        return Err(bad);
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_named_preset() {
        assert_eq!(
            ForwardAuthHeaders::default(),
            ForwardAuthHeaders::preset(ForwardAuthHeaders::DEFAULT_PROXY).unwrap()
        );
    }

    #[test]
    fn request_targets() {
        assert_eq!(target_path("/a/b?x=1").unwrap(), "/a/b");
        assert_eq!(target_path("/").unwrap(), "/");
        assert_eq!(target_path("http://h:80/a?q").unwrap(), "/a");
        assert_eq!(target_path("HTTPS://h").unwrap(), "/");
        // `://` inside an origin-form target is just part of the path.
        assert_eq!(
            target_path("/files/a://b/healthz").unwrap(),
            "/files/a://b/healthz"
        );
        for bad in [
            "",
            "*",
            "h:80",
            "a://b/c",
            "ftp://h/a",
            "http:///a",
            "http://u@h/a",
            "/a#f",
            "admin",
        ] {
            assert!(target_path(bad).is_err(), "{bad:?}");
        }
    }
}
