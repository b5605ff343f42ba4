//! The token endpoint: `POST /token`, username and password in, signed JWT out.
//!
//! Split by concept: this file holds the endpoint, its router and the issuing of a
//! token; `request.rs` reads the body, `negotiate.rs` chooses JSON or the bare token,
//! `password_grant.rs` and `refresh_grant.rs` are the two grants, `revoke.rs` is
//! `POST /revoke`.

use std::hash::RandomState;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::extract::connect_info::MockConnectInfo;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Serialize;

use crate::duration::Rate;
use crate::jwt::issuer::Issuer;
use crate::login::client_addr::{self, TrustedProxies};
use crate::login::password::Hasher;
use crate::login::ratelimit::RateLimiter;
use crate::login::service::Sessions;
use crate::server::errors::{json_error, method_not_allowed, unavailable};
use crate::store::users::UserStore;

use super::feed::{FEED_PATH, Publisher, serve_feed};
use super::negotiate::bare_token_type;
use super::request::{Grant, parse_body, read_body};
use super::revoke::revoke_handler;

/// The largest `/token` body accepted, in bytes.
pub const MAX_TOKEN_BODY: usize = 8 * 1024;

/// The `/token` route over a [`UserStore`].
///
/// Defaults to the rate limits of `keycard serve`: 10 failed logins per minute per
/// username, 100 requests per minute per client address.
pub struct TokenEndpoint<U> {
    pub(super) issuer: Issuer,
    pub(super) users: U,
    pub(super) hasher: Hasher,
    /// Keyed by a 64-bit keyed hash of the name: a fixed size whatever the name's
    /// length, and not chosen by the attacker.
    pub(super) per_user: RateLimiter<u64>,
    pub(super) per_ip: RateLimiter<IpAddr>,
    pub(super) name_keys: RandomState,
    pub(super) proxies: TrustedProxies,
    pub(super) sessions: Option<Sessions>,
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
    pub(crate) fn with_sessions(mut self, sessions: Option<Sessions>) -> Self {
        self.sessions = sessions;
        self
    }

    /// The discovery documents of this issuer, when its `iss` is discoverable.
    #[cfg(feature = "server")]
    pub(crate) fn discovery(
        &self,
        public_keys: bool,
    ) -> Option<crate::server::discovery::Published> {
        let refresh = self
            .sessions
            .as_ref()
            .is_some_and(|s| s.refresh_ttl.is_some());
        crate::server::discovery::documents(
            self.issuer.issuer_name()?,
            self.issuer.key().algorithm_name(),
            public_keys,
            refresh,
        )
    }

    /// The paths [`into_router`](Self::into_router) serves: `/token`, and `/revoke` and
    /// the revocation feed with a token store.
    pub fn paths(&self) -> &'static [&'static str] {
        if self.sessions.is_some() {
            &["/token", "/revoke", FEED_PATH]
        } else {
            &["/token"]
        }
    }

    /// The router serving `/token` (any other method than `POST` gets 405).
    pub fn into_router(self) -> Router {
        let revoke = self.sessions.is_some();
        let mut router =
            Router::new().route("/token", post(token::<U>).fallback(method_not_allowed));
        let feed = self.sessions.as_ref().map(|s| {
            let window = s.verifier.max_lifetime() + s.verifier.leeway();
            Arc::new(Publisher::new(self.issuer.clone(), s.store.clone(), window))
        });
        if revoke {
            router = router.route(
                "/revoke",
                post(revoke_handler::<U>).fallback(method_not_allowed),
            );
        }
        let router = router.with_state(Arc::new(self));
        match feed {
            Some(feed) => router.merge(
                Router::new()
                    .route(
                        FEED_PATH,
                        axum::routing::get(serve_feed).fallback(method_not_allowed),
                    )
                    .with_state(feed),
            ),
            None => router,
        }
    }
}
#[derive(Serialize)]
pub(super) struct TokenResponse<'a> {
    pub(super) access_token: &'a str,
    pub(super) token_type: &'static str,
    pub(super) expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) refresh_token: Option<&'a str>,
}

pub(super) fn bad_request(description: &str) -> Response {
    json_error(StatusCode::BAD_REQUEST, "invalid_request", description)
}

pub(super) fn slow_down(retry_after: u64) -> Response {
    let mut res = json_error(
        StatusCode::TOO_MANY_REQUESTS,
        "slow_down",
        "too many login attempts; retry later",
    );
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    res
}

pub(super) fn invalid_refresh() -> Response {
    json_error(
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "invalid refresh token",
    )
}

pub(super) fn invalid_grant() -> Response {
    json_error(
        StatusCode::UNAUTHORIZED,
        "invalid_grant",
        "invalid username or password",
    )
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
    let client = peer.map(|peer| ep.proxies.client(peer, req.headers()));
    if let Some(client) = client
        && let Err(retry) = ep.per_ip.acquire(&client_addr::bucket(client))
    {
        audit!("login.failure", reason = "rate_limited_address", %client);
        return slow_down(retry);
    }
    let client = client.map_or_else(|| "-".to_owned(), |c| c.to_string());
    let (parts, body) = req.into_parts();
    let (kind, bytes) = match read_body(&parts.headers, body).await {
        Ok(read) => read,
        Err(res) => return res,
    };
    match parse_body(kind, &bytes) {
        Ok(Grant::Password { username, password }) => {
            ep.login(username, password, &parts.headers, &client).await
        }
        Ok(Grant::Refresh { token }) => ep.refresh(token, &client).await,
        Err(refusal) => refusal.into_response(),
    }
}
impl<U: UserStore> TokenEndpoint<U> {
    /// Issues an access token in session `sid` (and, with refresh tokens on, a refresh
    /// token: `refresh` is one made already by a rotation, or `None` to make one).
    pub(super) async fn grant(
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
        let cutoff = match sessions {
            None => None,
            Some(s) => match s.store.current_cutoff(user).await {
                Ok(cutoff) => cutoff,
                Err(e) => {
                    tracing::error!(error = %e, "token store not reloaded; keeping the last known state");
                    s.store.cutoff(user)
                }
            },
        };
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
    pub(super) fn session_until(&self, sessions: &Sessions) -> u64 {
        self.issuer
            .now()
            .saturating_add(self.issuer.ttl().as_secs())
            .saturating_add(sessions.verifier.leeway())
    }
}
