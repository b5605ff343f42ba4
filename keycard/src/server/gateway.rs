//! Gateway mode: Keycard in front of an API in any language.
//!
//! - [`Gateway`] forwards every request Keycard does not answer itself to an upstream,
//!   once the rules allow it, with the caller's identity in headers;
//! - [`forward_auth`](crate::server::forward_auth()) answers the same question for a request a
//!   front proxy received.
//!
//! # Header hygiene
//!
//! Upstreams do not all read header names alike: CGI, WSGI and Rack turn `X-Auth-User`
//! *and* `X_Auth_User` into the same `HTTP_X_AUTH_USER`. So a client header is removed
//! when its name, case folded and with `_` read as `-`, is
//!
//! - an identity header (`X-Auth-User`, `X-Auth-Role`, `X-Auth-Claims` by default): they
//!   reach the upstream only as Keycard set them from a verified token;
//! - a forwarding header: `X-Forwarded-For`, `-Proto`, `-Host`, `-Port`, `-Prefix`,
//!   `-Uri`, `-Method`, `-Server`, `X-Real-IP`, `Forwarded`, `X-Original-URI`,
//!   `X-Original-URL`, `X-Rewrite-URL`, `X-Original-Method`, `X-Envoy-Original-Path`,
//!   `X-Client-IP`, `True-Client-IP`, `X-Cluster-Client-IP`: Keycard writes
//!   `X-Forwarded-For` (the client's chain kept only when the peer is a trusted
//!   proxy), `X-Forwarded-Proto`, `X-Forwarded-Host` and `X-Real-IP` itself;
//! - a hop-by-hop header, or `Authorization` unless passing it on is asked for
//!   (`Connection: upgrade` and `Upgrade: websocket` are written anew for a WebSocket:
//!   see [`tunnel`](crate::server::tunnel)).
//!
//! A request with a method override header (`X-HTTP-Method-Override`, …) never gets
//! this far: the decision refuses it.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use http::header::{self, HeaderName};
use http::{HeaderMap, HeaderValue, StatusCode, Uri};
use hyper::upgrade::OnUpgrade;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::auth::same_header;
use crate::error::{Error, ErrorKind};
use crate::jwt::claims::Claims;
use crate::login::client_addr::TrustedProxies;
use crate::server::errors::json_error;
use crate::server::serve::{OverTls, Tunnel};
use crate::server::tunnel;

/// Forwarding headers a client may not write (see the module docs), by folded name.
const FORWARDING_HEADERS: [&str; 18] = [
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-uri",
    "x-forwarded-method",
    "x-forwarded-server",
    "x-real-ip",
    "forwarded",
    "x-original-uri",
    "x-original-url",
    "x-rewrite-url",
    "x-original-method",
    "x-envoy-original-path",
    "x-client-ip",
    "true-client-ip",
    "x-cluster-client-ip",
];

/// The names of the identity headers. Defaults to `X-Auth-User`, `X-Auth-Role`,
/// `X-Auth-Claims`.
#[derive(Clone, Debug)]
pub struct IdentityHeaders {
    user: HeaderName,
    role: HeaderName,
    claims: HeaderName,
}

impl IdentityHeaders {
    /// The default name of the header carrying the username.
    pub const DEFAULT_USER: &'static str = "X-Auth-User";
    /// The default name of the header carrying the role.
    pub const DEFAULT_ROLE: &'static str = "X-Auth-Role";
    /// The default name of the header carrying the verified claims as JSON.
    pub const DEFAULT_CLAIMS: &'static str = "X-Auth-Claims";
}

impl Default for IdentityHeaders {
    /// [`DEFAULT_USER`](Self::DEFAULT_USER), [`DEFAULT_ROLE`](Self::DEFAULT_ROLE) and
    /// [`DEFAULT_CLAIMS`](Self::DEFAULT_CLAIMS) (`from_static` wants them lower-cased).
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
        Ok(Self {
            user: header_name(user)?,
            role: header_name(role)?,
            claims: header_name(claims)?,
        })
    }

    /// The user, role and claims header names.
    pub(crate) fn names(&self) -> [&HeaderName; 3] {
        [&self.user, &self.role, &self.claims]
    }

    /// Whether `name` is one of these, under any spelling (case, `_` for `-`).
    pub(crate) fn is_identity(&self, name: &HeaderName) -> bool {
        [&self.user, &self.role, &self.claims]
            .iter()
            .any(|h| same_header(name.as_str(), h.as_str()))
    }

    /// Sets them from verified claims; a claim the token lacks leaves its header out.
    fn set(&self, headers: &mut HeaderMap, claims: &Claims) {
        for (name, value) in self.values(Some(claims)) {
            if let Some(value) = value {
                headers.insert(name.clone(), value);
            }
        }
    }

    /// Sets every one of them, empty for an anonymous caller or a claim the token lacks:
    /// a front proxy that copies them then never leaves a client's own copy in place.
    pub(crate) fn set_all(&self, headers: &mut HeaderMap, claims: Option<&Claims>) {
        for (name, value) in self.values(claims) {
            headers.insert(name.clone(), value.unwrap_or(HeaderValue::from_static("")));
        }
    }

    fn values(&self, claims: Option<&Claims>) -> [(&HeaderName, Option<HeaderValue>); 3] {
        let value = |v: Option<String>| v.and_then(|v| HeaderValue::try_from(v).ok());
        [
            (
                &self.user,
                value(claims.and_then(Claims::subject).map(ascii)),
            ),
            (&self.role, value(claims.and_then(Claims::role).map(ascii))),
            (
                &self.claims,
                value(
                    claims
                        .and_then(|c| serde_json::to_string(c).ok())
                        .map(|j| ascii(&j)),
                ),
            ),
        ]
    }
}

/// A header name from the configuration.
pub(crate) fn header_name(name: &str) -> Result<HeaderName, Error> {
    HeaderName::try_from(name).map_err(|_| {
        Error::new(
            ErrorKind::InvalidConfig,
            format!("invalid header name {name:?}"),
        )
    })
}

/// Removes every header a client may not send on (see the module docs).
fn strip_spoofable(headers: &mut HeaderMap, identity: &IdentityHeaders) {
    let spoofable: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            identity.is_identity(name)
                || FORWARDING_HEADERS
                    .iter()
                    .any(|f| same_header(name.as_str(), f))
        })
        .cloned()
        .collect();
    for name in spoofable {
        headers.remove(name);
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

/// Joins the `Cookie` fields of an HTTP/2 request into one, with `; ` (RFC 9113 §8.2.3).
fn join_cookies(headers: &mut HeaderMap) {
    let mut fields = headers.get_all(header::COOKIE).iter();
    let (Some(first), Some(_)) = (fields.next(), fields.next()) else {
        return;
    };
    let mut joined = first.as_bytes().to_vec();
    for field in headers.get_all(header::COOKIE).iter().skip(1) {
        joined.extend_from_slice(b"; ");
        joined.extend_from_slice(field.as_bytes());
    }
    if let Ok(joined) = HeaderValue::from_bytes(&joined) {
        headers.insert(header::COOKIE, joined);
    }
}

/// Forwards requests to an upstream HTTP server.
///
/// Defaults: identity headers as in [`IdentityHeaders::default`], `Authorization` not
/// passed on, [`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT) for the upstream to answer.
#[derive(Clone)]
pub struct Gateway {
    scheme_authority: String,
    base_path: String,
    client: Client<Connector, Body>,
    identity: IdentityHeaders,
    proxies: TrustedProxies,
    pass_authorization: bool,
    timeout: Duration,
}

#[cfg(feature = "tls")]
type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
#[cfg(not(feature = "tls"))]
type Connector = HttpConnector;

/// The connector: plain TCP, and with the `tls` feature TLS for `https://` upstreams,
/// trusting `tls`.
#[cfg(feature = "tls")]
fn connector(tls: &crate::tls::TlsClient) -> Connector {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_secs(5)));
    http.enforce_http(false);
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config((*tls.config()).clone())
        .https_or_http()
        .enable_http1()
        .wrap_connector(http)
}

#[cfg(not(feature = "tls"))]
fn connector() -> Connector {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_secs(5)));
    http
}

fn client(connector: Connector) -> Client<Connector, Body> {
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .build(connector)
}

impl Gateway {
    /// How long the upstream may take to answer unless told otherwise: 30 seconds.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
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
    /// A gateway to `upstream` (`http://host:port`, optionally with a base path; or
    /// `https://` with the `tls` feature, trusting the system's roots, or whom
    /// `with_tls` says).
    pub fn new(upstream: &str) -> Result<Self, Error> {
        let bad = |why: &str| {
            Error::new(
                ErrorKind::InvalidConfig,
                format!("--upstream {upstream:?}: {why}"),
            )
        };
        let uri: Uri = upstream.parse().map_err(|_| bad("not a URL"))?;
        let scheme = match uri.scheme_str() {
            Some("http") => "http",
            #[cfg(feature = "tls")]
            Some("https") => "https",
            #[cfg(not(feature = "tls"))]
            Some("https") => {
                return Err(bad(
                    "this build has no TLS (cargo feature \"tls\"): use an http:// URL",
                ));
            }
            _ => return Err(bad("use an http:// or https:// URL")),
        };
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("no user information in the URL"));
        }
        if uri.query().is_some() {
            return Err(bad("no query string, please"));
        }
        // The system's roots; with none at all every handshake fails until a CA file is
        // given (`with_tls`), which `keycard serve` checks at start.
        #[cfg(feature = "tls")]
        let client = {
            let trust = match scheme {
                "https" => {
                    crate::tls::TlsClient::system().or_else(|_| crate::tls::TlsClient::none())
                }
                _ => crate::tls::TlsClient::none(),
            };
            client(connector(&trust.map_err(|e| bad(&e.to_string()))?))
        };
        #[cfg(not(feature = "tls"))]
        let client = client(connector());
        Ok(Self {
            scheme_authority: format!("{scheme}://{authority}"),
            base_path: uri.path().trim_end_matches('/').to_owned(),
            client,
            identity: IdentityHeaders::default(),
            proxies: TrustedProxies::none(),
            pass_authorization: false,
            timeout: Self::DEFAULT_TIMEOUT,
        })
    }

    /// Trusts `tls` (a CA of your own, say) for an `https://` upstream.
    #[cfg(feature = "tls")]
    pub fn with_tls(mut self, tls: &crate::tls::TlsClient) -> Self {
        if self.scheme_authority.starts_with("https://") {
            self.client = client(connector(tls));
        }
        self
    }

    /// Uses these identity header names.
    pub fn with_identity_headers(mut self, identity: IdentityHeaders) -> Self {
        self.identity = identity;
        self
    }

    /// Believes the `X-Forwarded-For` chain of these proxies (by default none: the
    /// upstream sees the TCP peer as the client).
    pub fn with_trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.proxies = proxies;
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

/// The `X-Forwarded-For` to send and the client's address: the peer alone, or, when
/// the peer is a trusted proxy, its chain (one header, exact name) with the peer added.
fn forwarded_for(proxies: &TrustedProxies, peer: IpAddr, headers: &HeaderMap) -> (String, String) {
    let client = proxies.client(peer, headers).to_string();
    if proxies.trusts(peer) {
        let mut chain = headers.get_all("x-forwarded-for").iter();
        if let (Some(prior), None) = (chain.next().and_then(|v| v.to_str().ok()), chain.next()) {
            return (format!("{prior}, {peer}"), client);
        }
    }
    (peer.to_string(), client)
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
    // A WebSocket handshake on a connection that can be upgraded (see `tunnel`).
    let upgrade = if tunnel::websocket_request(&parts.method, parts.version, &parts.headers) {
        parts
            .extensions
            .remove::<OnUpgrade>()
            .zip(parts.extensions.remove::<Tunnel>())
    } else {
        None
    };
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let proto = if parts.extensions.get::<OverTls>().is_some() {
        "https"
    } else {
        "http"
    };
    // HTTP/2 names the host in `:authority` (the URI) and may split `Cookie` into
    // several fields; the HTTP/1.1 upstream gets one `Host`-derived X-Forwarded-Host
    // and one `Cookie` (RFC 9113 §8.2.3, §8.3.1).
    let host = match (parts.headers.get(header::HOST), parts.uri.authority()) {
        (Some(host), Some(authority)) if host.as_bytes() != authority.as_str().as_bytes() => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Host and :authority disagree",
            );
        }
        (Some(host), _) => Some(host.clone()),
        (None, Some(authority)) if parts.version == http::Version::HTTP_2 => {
            HeaderValue::try_from(authority.as_str()).ok()
        }
        (None, _) => None,
    };
    if parts.version == http::Version::HTTP_2 {
        join_cookies(&mut parts.headers);
    }
    let headers = &mut parts.headers;
    // Read before the stripping: the chain of a trusted proxy is kept.
    let forwarded_for = peer.map(|peer| forwarded_for(&gw.proxies, peer, headers));
    strip_hop_by_hop(headers);
    if upgrade.is_some() {
        tunnel::ask_websocket(headers);
    }
    strip_spoofable(headers, &gw.identity);
    if !gw.pass_authorization {
        headers.remove(header::AUTHORIZATION);
    }
    if let Some(claims) = &claims {
        gw.identity.set(headers, claims);
    }
    if let Some((chain, client)) = forwarded_for {
        if let Ok(v) = HeaderValue::try_from(chain) {
            headers.insert("x-forwarded-for", v);
        }
        if let Ok(v) = HeaderValue::try_from(client) {
            headers.insert("x-real-ip", v);
        }
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static(proto));
    if let Some(host) = host {
        headers.insert("x-forwarded-host", host);
    }
    headers.remove(header::HOST);
    parts.uri = target;
    parts.version = http::Version::HTTP_11;
    let outgoing = http::Request::from_parts(parts, body);
    let sent = std::time::Instant::now();
    let answer = tokio::time::timeout(gw.timeout, gw.client.request(outgoing)).await;
    crate::metrics::upstream(
        match &answer {
            Ok(Ok(res)) => Some(res.status()),
            _ => None,
        },
        sent.elapsed(),
    );
    match answer {
        Ok(Ok(mut res)) if res.status() == StatusCode::SWITCHING_PROTOCOLS => match upgrade {
            Some((client, tunnel)) if tunnel::asks_websocket(res.headers()) => {
                let upstream = hyper::upgrade::on(&mut res);
                tokio::spawn(tunnel::bridge(client, upstream, tunnel));
                let (mut parts, _) = res.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                tunnel::ask_websocket(&mut parts.headers);
                Response::from_parts(parts, Body::empty())
            }
            _ => {
                tracing::warn!("the upstream switched protocols unasked");
                json_error(
                    StatusCode::BAD_GATEWAY,
                    "bad_gateway",
                    "the upstream switched to a protocol the client did not ask for",
                )
            }
        },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_identity_headers_are_the_named_ones() {
        let d = IdentityHeaders::default();
        for (name, constant) in [
            (&d.user, IdentityHeaders::DEFAULT_USER),
            (&d.role, IdentityHeaders::DEFAULT_ROLE),
            (&d.claims, IdentityHeaders::DEFAULT_CLAIMS),
        ] {
            assert!(
                name.as_str().eq_ignore_ascii_case(constant),
                "{name} {constant}"
            );
        }
    }

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
        for bad in [
            "127.0.0.1:3000",
            "http://x/?q=1",
            "nonsense",
            "ftp://x",
            "http://user:pw@x",
        ] {
            assert!(Gateway::new(bad).is_err(), "{bad}");
        }
        // https:// with the tls feature (a build without it refuses, saying so).
        assert_eq!(Gateway::new("https://x").is_ok(), cfg!(feature = "tls"));
    }
}
