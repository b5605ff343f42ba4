//! The token endpoint: `POST /token`, username and password in, signed JWT out.

use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::body::read_limited;
use crate::client::{self, TrustedProxies};
use crate::duration::Rate;
use crate::http_error::{json_error, method_not_allowed, unavailable};
use crate::issuer::Issuer;
use crate::password::Hasher;
use crate::ratelimit::RateLimiter;
use crate::users::UserStore;

/// The largest `/token` body accepted, in bytes.
pub const MAX_TOKEN_BODY: usize = 8 * 1024;

/// The `/token` route over a [`UserStore`].
///
/// Defaults to the rate limits of `keycard serve`: 10 failed logins per minute per
/// username, 100 requests per minute per client address.
pub struct TokenEndpoint<U> {
    issuer: Issuer,
    users: U,
    hasher: Hasher,
    /// Keyed by a 64-bit keyed hash of the name: a fixed size whatever the name's
    /// length, and not chosen by the attacker.
    per_user: RateLimiter<u64>,
    per_ip: RateLimiter<IpAddr>,
    name_keys: RandomState,
    proxies: TrustedProxies,
}

impl<U> std::fmt::Debug for TokenEndpoint<U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenEndpoint")
            .field("issuer", &self.issuer)
            .field("hasher", &self.hasher)
            .field("per_user", &self.per_user.rate())
            .field("per_ip", &self.per_ip.rate())
            .finish_non_exhaustive()
    }
}

/// The default failed-login limit per username: `10/m`.
pub fn default_user_rate() -> Option<Rate> {
    Rate::new(10, std::time::Duration::from_secs(60))
}

/// The default request limit per client address: `100/m`.
pub fn default_ip_rate() -> Option<Rate> {
    Rate::new(100, std::time::Duration::from_secs(60))
}

impl<U: UserStore> TokenEndpoint<U> {
    /// An endpoint issuing tokens with `issuer` for the users of `users`.
    pub fn new(issuer: Issuer, users: U, hasher: Hasher) -> Self {
        Self {
            issuer,
            users,
            hasher,
            per_user: RateLimiter::new(default_user_rate()),
            per_ip: RateLimiter::new(default_ip_rate()),
            name_keys: RandomState::new(),
            proxies: TrustedProxies::none(),
        }
    }

    /// Failed logins allowed per username; `None` disables the limit.
    pub fn with_user_rate(mut self, rate: Option<Rate>) -> Self {
        self.per_user = RateLimiter::new(rate);
        self
    }

    /// `/token` requests of any outcome allowed per client address; `None` disables.
    /// The address comes from axum's `ConnectInfo<SocketAddr>`; without it, no limit.
    pub fn with_ip_rate(mut self, rate: Option<Rate>) -> Self {
        self.per_ip = RateLimiter::new(rate);
        self
    }

    /// Believes `X-Forwarded-For` from these proxies (see [`TrustedProxies`]).
    /// Defaults to none: the client is the TCP peer.
    pub fn with_trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.proxies = proxies;
        self
    }

    /// The router serving `/token` (any other method than `POST` gets 405).
    pub fn into_router(self) -> Router {
        Router::new()
            .route("/token", post(token::<U>).fallback(method_not_allowed))
            .with_state(Arc::new(self))
    }
}

#[derive(Deserialize)]
struct Credentials {
    #[serde(default)]
    grant_type: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

#[derive(Serialize)]
struct TokenResponse<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: u64,
}

fn bad_request(description: &str) -> Response {
    json_error(StatusCode::BAD_REQUEST, "invalid_request", description)
}

fn slow_down(retry_after: u64) -> Response {
    let mut res = json_error(
        StatusCode::TOO_MANY_REQUESTS,
        "slow_down",
        "too many login attempts; retry later",
    );
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    res
}

fn invalid_grant() -> Response {
    json_error(
        StatusCode::UNAUTHORIZED,
        "invalid_grant",
        "invalid username or password",
    )
}

pub(crate) enum BodyKind {
    Json,
    Form,
}

pub(crate) fn body_kind(headers: &HeaderMap) -> Option<BodyKind> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = ct.split(';').next()?.trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Some(BodyKind::Json)
    } else if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        Some(BodyKind::Form)
    } else {
        None
    }
}

/// The media type to answer with when the client prefers a bare token
/// (`application/jwt` or `text/plain`) over JSON; `None` for JSON.
pub(crate) fn bare_token_type(headers: &HeaderMap) -> Option<&'static str> {
    let accept = headers.get(header::ACCEPT)?.to_str().ok()?;
    let (mut json, mut jwt, mut text) = (0.0f32, 0.0f32, 0.0f32);
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
            })
            .next()
            .unwrap_or(1.0)
            .clamp(0.0, 1.0);
        match media.as_str() {
            "application/json" => json = json.max(q),
            "application/jwt" => jwt = jwt.max(q),
            "text/plain" => text = text.max(q),
            "application/*" => {
                json = json.max(q);
                jwt = jwt.max(q);
            }
            "text/*" => text = text.max(q),
            "*/*" => {
                json = json.max(q);
                jwt = jwt.max(q);
                text = text.max(q);
            }
            _ => {}
        }
    }
    // Ties go to JSON.
    if jwt > json && jwt >= text {
        Some("application/jwt")
    } else if text > json {
        Some("text/plain")
    } else {
        None
    }
}

async fn token<U: UserStore>(State(ep): State<Arc<TokenEndpoint<U>>>, req: Request) -> Response {
    let ext = req.extensions();
    let peer = ext
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        .or_else(|| {
            ext.get::<MockConnectInfo<SocketAddr>>()
                .map(|MockConnectInfo(addr)| addr.ip())
        });
    if let Some(peer) = peer {
        let client = ep.proxies.client(peer, req.headers());
        if let Err(retry) = ep.per_ip.acquire(&client::bucket(client)) {
            tracing::info!(%client, "login throttled for this address");
            return slow_down(retry);
        }
    }
    let (parts, body) = req.into_parts();
    let Some(kind) = body_kind(&parts.headers) else {
        return json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send application/json or application/x-www-form-urlencoded",
        );
    };
    let bytes = match read_limited(&parts.headers, Body::new(body), MAX_TOKEN_BODY).await {
        Ok(b) => b,
        Err(res) => return res,
    };
    match parse_body(kind, &bytes) {
        Ok((username, password)) => ep.login(username, password, &parts.headers).await,
        Err(refusal) => refusal.into_response(),
    }
}

/// Why a `/token` body was refused: each a 400 with a fixed description.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyError {
    Json,
    Form,
    GrantType,
    Missing,
}

impl IntoResponse for BodyError {
    fn into_response(self) -> Response {
        match self {
            BodyError::Json => bad_request("the body is not a JSON object of strings"),
            BodyError::Form => bad_request("the body is not a valid form"),
            BodyError::GrantType => json_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only grant_type=password is supported",
            ),
            BodyError::Missing => bad_request("username and password are required"),
        }
    }
}

/// The username and password of a `/token` body.
pub(crate) fn parse_body(
    kind: BodyKind,
    bytes: &[u8],
) -> Result<(String, Zeroizing<String>), BodyError> {
    let creds: Credentials = match kind {
        BodyKind::Json => serde_json::from_slice(bytes).map_err(|_| BodyError::Json)?,
        BodyKind::Form => serde_urlencoded::from_bytes(bytes).map_err(|_| BodyError::Form)?,
    };
    match creds.grant_type.as_deref() {
        None | Some("password") => {}
        Some(_) => return Err(BodyError::GrantType),
    }
    match (creds.username, creds.password.map(Zeroizing::new)) {
        (Some(username), Some(password)) => Ok((username, password)),
        _ => Err(BodyError::Missing),
    }
}

impl<U: UserStore> TokenEndpoint<U> {
    async fn login(
        self: &Arc<Self>,
        username: String,
        password: Zeroizing<String>,
        headers: &HeaderMap,
    ) -> Response {
        // Taken before any work, given back on success: a throttled attempt costs no hash
        // and, being per name whether or not it exists, says nothing about existence.
        let name_key = self.name_keys.hash_one(&username);
        if let Err(retry) = self.per_user.acquire(&name_key) {
            return slow_down(retry);
        }
        let user = match self.users.find(&username).await {
            Ok(u) => u,
            Err(e) => {
                tracing::error!(error = %e, "user store lookup failed");
                self.per_user.refund(&name_key);
                return unavailable(1, "the user store is unavailable");
            }
        };
        let stored = user.as_ref().map(|u| u.password_hash().to_owned());
        let verdict = match self.hasher.verify(password.clone(), stored.clone()).await {
            Ok(v) => v,
            Err(_busy) => {
                self.per_user.refund(&name_key);
                return unavailable(1, "too many logins in progress; retry shortly");
            }
        };
        let (Some(user), true) = (user, verdict.matched) else {
            tracing::info!(known_user = stored.is_some(), "login failed");
            return invalid_grant();
        };
        self.per_user.refund(&name_key);
        if verdict.needs_rehash
            && let Some(old) = stored
        {
            self.upgrade_hash(user.name().to_owned(), old, password);
        }
        let issued = match self.issuer.issue(user.name(), user.role()) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "signing failed");
                return unavailable(1, "the token could not be signed");
            }
        };
        tracing::info!(user = user.name(), jti = %issued.jti, "token issued");
        let mut res = match bare_token_type(headers) {
            Some(media) => {
                let mut res = issued.token.into_response();
                res.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
                res
            }
            None => axum::Json(TokenResponse {
                access_token: &issued.token,
                token_type: "Bearer",
                expires_in: issued.expires_in,
            })
            .into_response(),
        };
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        res.headers_mut()
            .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        res
    }

    /// Re-hashes a bcrypt or outdated hash in the background, now that the password is
    /// known; the store replaces it only if nobody changed it meanwhile.
    fn upgrade_hash(self: &Arc<Self>, name: String, old: String, password: Zeroizing<String>) {
        let ep = self.clone();
        tokio::spawn(async move {
            let new = match ep.hasher.hash(password).await {
                Ok(Ok(h)) => h,
                Ok(Err(e)) => return tracing::error!(error = %e, "re-hashing failed"),
                Err(_busy) => return tracing::debug!("re-hash skipped: hashing queue full"),
            };
            match ep.users.upgrade_password_hash(&name, &old, new).await {
                Ok(true) => tracing::info!(user = %name, "password hash upgraded to argon2id"),
                Ok(false) => {
                    tracing::debug!(user = %name, "password hash changed meanwhile; not upgraded")
                }
                Err(e) => tracing::error!(user = %name, error = %e, "password hash upgrade failed"),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> Option<&'static str> {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        bare_token_type(&h)
    }

    #[test]
    fn accept_negotiation() {
        assert_eq!(bare_token_type(&HeaderMap::new()), None);
        assert_eq!(accept("*/*"), None);
        assert_eq!(accept("application/json"), None);
        assert_eq!(accept("application/jwt"), Some("application/jwt"));
        assert_eq!(accept("text/plain"), Some("text/plain"));
        assert_eq!(accept("text/plain, application/json"), None);
        assert_eq!(
            accept("application/json;q=0.5, text/plain"),
            Some("text/plain")
        );
        assert_eq!(
            accept("application/jwt, */*;q=0.1"),
            Some("application/jwt")
        );
        assert_eq!(accept("text/html"), None);
    }
}
