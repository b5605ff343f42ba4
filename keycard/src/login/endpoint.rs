//! The token endpoint: `POST /token`, username and password in, signed JWT out.

use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::duration::Rate;
use crate::jwt::claims::Claims;
use crate::jwt::issuer::Issuer;
use crate::jwt::verifier::Verifier;
use crate::login::body::read_limited;
use crate::login::client_addr::{self, TrustedProxies};
use crate::login::password::Hasher;
use crate::login::ratelimit::RateLimiter;
use crate::server::errors::{json_error, method_not_allowed, unavailable};
use crate::store::tokens::{RefreshError, TokenStore};
use crate::store::users::UserStore;

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
    sessions: Option<Sessions>,
}

/// Revocation and refresh tokens, as a [`TokenService`](crate::TokenService) wired them.
struct Sessions {
    store: Arc<dyn TokenStore>,
    /// Verifies the tokens presented to `/revoke` (signature only).
    verifier: Verifier,
    refresh_ttl: Option<Duration>,
    /// Who may revoke other users' access tokens.
    admin_role: String,
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
            sessions: None,
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

    /// Revocation, logout (`POST /revoke`) and refresh tokens as the service wired
    /// them (`None`: none of them). Only [`TokenService::endpoint`] calls it, so the
    /// verifier here is always the one with the store's revocations.
    ///
    /// [`TokenService::endpoint`]: crate::TokenService::endpoint
    pub(crate) fn with_sessions(
        mut self,
        sessions: Option<crate::login::service::Sessions>,
        verifier: Verifier,
    ) -> Self {
        self.sessions = sessions.map(|s| Sessions {
            store: s.store,
            verifier,
            refresh_ttl: s.refresh_ttl,
            admin_role: s.admin_role,
        });
        self
    }

    /// The paths [`into_router`](Self::into_router) serves: `/token`, and `/revoke`
    /// with a token store.
    pub fn paths(&self) -> &'static [&'static str] {
        if self.sessions.is_some() {
            &["/token", "/revoke"]
        } else {
            &["/token"]
        }
    }

    /// The router serving `/token` (any other method than `POST` gets 405).
    pub fn into_router(self) -> Router {
        let revoke = self.sessions.is_some();
        let mut router =
            Router::new().route("/token", post(token::<U>).fallback(method_not_allowed));
        if revoke {
            router = router.route(
                "/revoke",
                post(revoke_handler::<U>).fallback(method_not_allowed),
            );
        }
        router.with_state(Arc::new(self))
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
    #[serde(default)]
    refresh_token: Option<String>,
}

#[derive(Serialize)]
struct TokenResponse<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
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

fn invalid_refresh() -> Response {
    json_error(
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "invalid refresh token",
    )
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
        if let Err(retry) = ep.per_ip.acquire(&client_addr::bucket(client)) {
            tracing::info!(%client, "login throttled for this address");
            return slow_down(retry);
        }
    }
    let (parts, body) = req.into_parts();
    let (kind, bytes) = match read_body(&parts.headers, body).await {
        Ok(read) => read,
        Err(res) => return res,
    };
    match parse_body(kind, &bytes) {
        Ok(Grant::Password { username, password }) => {
            ep.login(username, password, &parts.headers).await
        }
        Ok(Grant::Refresh { token }) => ep.refresh(token).await,
        Err(refusal) => refusal.into_response(),
    }
}

/// The body of `/token` or `/revoke`: JSON or a form (else 415), at most
/// [`MAX_TOKEN_BODY`] bytes (else 413).
async fn read_body(headers: &HeaderMap, body: Body) -> Result<(BodyKind, bytes::Bytes), Response> {
    let Some(kind) = body_kind(headers) else {
        return Err(json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send application/json or application/x-www-form-urlencoded",
        ));
    };
    let bytes = read_limited(headers, body, MAX_TOKEN_BODY).await?;
    Ok((kind, bytes))
}

/// What a `/token` body asks for.
pub(crate) enum Grant {
    /// `grant_type=password` (or none): a login.
    Password {
        username: String,
        password: Zeroizing<String>,
    },
    /// `grant_type=refresh_token`: a new access token for a refresh token.
    Refresh { token: Zeroizing<String> },
}

/// Why a `/token` body was refused: each a 400 with a fixed description.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyError {
    Json,
    Form,
    GrantType,
    Missing,
    MissingRefresh,
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
            BodyError::MissingRefresh => bad_request("refresh_token is required"),
        }
    }
}

/// The grant a `/token` body asks for.
/// A JSON body read as a struct only when it is an object: serde would also read a
/// struct from an array of its fields in order (`["refresh_token", …]`).
fn json_object<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return None;
    }
    serde_json::from_slice(bytes).ok()
}

pub(crate) fn parse_body(kind: BodyKind, bytes: &[u8]) -> Result<Grant, BodyError> {
    let creds: Credentials = match kind {
        BodyKind::Json => json_object(bytes).ok_or(BodyError::Json)?,
        BodyKind::Form => serde_urlencoded::from_bytes(bytes).map_err(|_| BodyError::Form)?,
    };
    match creds.grant_type.as_deref() {
        None | Some("password") => match (creds.username, creds.password.map(Zeroizing::new)) {
            (Some(username), Some(password)) => Ok(Grant::Password { username, password }),
            _ => Err(BodyError::Missing),
        },
        Some("refresh_token") => creds
            .refresh_token
            .map(|token| Grant::Refresh {
                token: Zeroizing::new(token),
            })
            .ok_or(BodyError::MissingRefresh),
        Some(_) => Err(BodyError::GrantType),
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
        if self
            .hasher
            .calibrate(&self.users.hash_kinds())
            .await
            .is_err()
        {
            self.per_user.refund(&name_key);
            return unavailable(1, "too many logins in progress; retry shortly");
        }
        let verdict = match self.hasher.verify(password.clone(), stored.clone()).await {
            Ok(v) => v,
            Err(_busy) => {
                self.per_user.refund(&name_key);
                return unavailable(1, "too many logins in progress; retry shortly");
            }
        };
        let (Some(_), true) = (&user, verdict.matched) else {
            tracing::info!(known_user = stored.is_some(), "login failed");
            return invalid_grant();
        };
        // The hash took a while: a `users passwd`, `set-role` or `remove` may have landed
        // meanwhile. The token goes by the record as it is now, and only if the password
        // checked is still its password.
        let user = match self.users.find(&username).await {
            Ok(Some(now)) if Some(now.password_hash()) == stored.as_deref() => now,
            Ok(_) => {
                tracing::info!("login failed: the user changed while the password was checked");
                return invalid_grant();
            }
            Err(e) => {
                tracing::error!(error = %e, "user store lookup failed");
                return unavailable(1, "the user store is unavailable");
            }
        };
        self.per_user.refund(&name_key);
        if verdict.needs_rehash
            && let Some(old) = stored
        {
            self.upgrade_hash(user.name().to_owned(), old, password);
        }
        self.grant(
            user.name(),
            user.role(),
            crate::random::id(),
            None,
            Some(headers),
        )
        .await
    }

    /// Issues an access token in session `sid` (and, with refresh tokens on, a refresh
    /// token: `refresh` is one made already by a rotation, or `None` to make one).
    async fn grant(
        self: &Arc<Self>,
        user: &str,
        role: &str,
        sid: String,
        refresh: Option<String>,
        headers: Option<&HeaderMap>,
    ) -> Response {
        let sessions = self.sessions.as_ref();
        // A `users revoke-all` (or passwd, set-role, remove) that returned before this
        // login must be seen by it, or its token would be born revoked.
        if let Some(s) = sessions
            && let Err(e) = s.store.catch_up().await
        {
            tracing::error!(error = %e, "token store not reloaded; keeping the last known state");
        }
        let cutoff = sessions.and_then(|s| s.store.cutoff(user));
        let issued = match self.issuer.issue_after(user, role, sid, cutoff) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "signing failed");
                return unavailable(1, "the token could not be signed");
            }
        };
        let refresh = match (refresh, sessions) {
            (Some(token), _) => Some(token),
            (None, Some(s)) if s.refresh_ttl.is_some() => {
                let ttl = s.refresh_ttl.unwrap_or_default();
                match s
                    .store
                    .create_refresh(user, &issued.sid, issued.issued_at, ttl)
                    .await
                {
                    Ok(token) => Some(token),
                    Err(e) => {
                        tracing::error!(error = %e, "refresh token not stored");
                        return unavailable(1, "the token store is unavailable");
                    }
                }
            }
            (None, _) => None,
        };
        tracing::info!(user, jti = %issued.jti, sid = %issued.sid, "token issued");
        let bare = if refresh.is_none() {
            headers.and_then(bare_token_type)
        } else {
            None
        };
        let mut res = match bare {
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
                refresh_token: refresh.as_deref(),
            })
            .into_response(),
        };
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        res.headers_mut()
            .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        res
    }

    /// When the last access token of a session ends: now + lifetime + leeway.
    fn session_until(&self, sessions: &Sessions) -> u64 {
        self.issuer
            .now()
            .saturating_add(self.issuer.ttl().as_secs())
            .saturating_add(sessions.verifier.leeway())
    }

    /// `grant_type=refresh_token`: rotate, then issue in the same session.
    async fn refresh(self: &Arc<Self>, token: Zeroizing<String>) -> Response {
        let Some(sessions) = self.sessions.as_ref().filter(|s| s.refresh_ttl.is_some()) else {
            return json_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "refresh tokens are not enabled",
            );
        };
        let ttl = sessions.refresh_ttl.unwrap_or_default();
        let until = self.session_until(sessions);
        let rotated = sessions.store.rotate_refresh(&token, ttl, until).await;
        let rotation = match rotated {
            Ok(Ok(r)) => r,
            Ok(Err(why)) => {
                if why == RefreshError::Reused {
                    tracing::warn!(
                        "a used refresh token was presented again: its session is revoked"
                    );
                }
                return invalid_refresh();
            }
            Err(e) => {
                tracing::error!(error = %e, "refresh failed");
                return unavailable(1, "the token store is unavailable");
            }
        };
        let user = match self.users.find(&rotation.user).await {
            Ok(Some(u)) => u,
            Ok(None) => return invalid_refresh(),
            Err(e) => {
                tracing::error!(error = %e, "user store lookup failed");
                return unavailable(1, "the user store is unavailable");
            }
        };
        self.grant(
            user.name(),
            user.role(),
            rotation.sid,
            Some(rotation.refresh_token),
            None,
        )
        .await
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

#[derive(Deserialize)]
struct RevokeRequest {
    token: Option<String>,
    #[serde(default)]
    #[allow(dead_code)] // RFC 7009: a hint only; every kind is looked for anyway.
    token_type_hint: Option<String>,
}

/// `POST /revoke` (RFC 7009): protected; `token=…` in a form or JSON body.
async fn revoke_handler<U: UserStore>(
    State(ep): State<Arc<TokenEndpoint<U>>>,
    caller: Claims,
    req: Request,
) -> Response {
    let Some(sessions) = ep.sessions.as_ref() else {
        return crate::server::errors::not_found().await;
    };
    let (parts, body) = req.into_parts();
    let (kind, bytes) = match read_body(&parts.headers, body).await {
        Ok(read) => read,
        Err(res) => return res,
    };
    let parsed: Result<RevokeRequest, ()> = match kind {
        BodyKind::Json => json_object(&bytes).ok_or(()),
        BodyKind::Form => serde_urlencoded::from_bytes(&bytes).map_err(|_| ()),
    };
    let Ok(RevokeRequest {
        token: Some(token), ..
    }) = parsed
    else {
        return bad_request("token is required");
    };
    let until = ep.session_until(sessions);
    let store = &sessions.store;
    let outcome = if token.split('.').count() == 3 {
        // An access token: whose is it?
        let Ok(target) = sessions.verifier.verify_signature(&token) else {
            return revoked_ok(); // not ours or not a token: nothing to revoke (RFC 7009 §2.2)
        };
        let own = target.subject().is_some() && target.subject() == caller.subject();
        if !own && caller.role() != Some(sessions.admin_role.as_str()) {
            return crate::auth::AuthError::InsufficientScope.into_response();
        }
        let (Some(jti), Some(exp)) = (target.token_id().map(str::to_owned), target.expires_at())
        else {
            return revoked_ok(); // no jti (a token from elsewhere): cannot be revoked alone
        };
        let until = exp.saturating_add(sessions.verifier.leeway());
        store.revoke_token(&jti, until).await
    } else {
        // A refresh token: whoever holds it may end its session.
        store.revoke_refresh(&token, until).await.map(|_| ())
    };
    match outcome {
        Ok(()) => {
            tracing::info!(by = caller.subject().unwrap_or("-"), "token revoked");
            revoked_ok()
        }
        Err(e) => {
            tracing::error!(error = %e, "revocation not stored");
            unavailable(1, "the token store is unavailable")
        }
    }
}

fn revoked_ok() -> Response {
    let mut res = axum::Json(serde_json::json!({})).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
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
