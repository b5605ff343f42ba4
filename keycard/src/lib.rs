//! Keycard: JWT authentication for HTTP APIs.
//!
//! Log in at `POST /token` with a username and password, get a signed JWT, send it back
//! as `Authorization: Bearer …`: this crate holds every piece of that, for any
//! tower/axum service, and the `keycard` binary runs them all.
//!
//! ```no_run
//! use std::sync::Arc;
//! use axum::{Json, Router, routing::get};
//! use keycard::*;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let key = SigningKey::hs256(&Secret::new(std::env::var("AUTHENTICATION_SECRET")?)?)?;
//! let users = Arc::new(FileUserStore::open("users.json")?);
//! let login = TokenEndpoint::new(Issuer::new(key.clone()), users, Hasher::new(PasswordPolicy::default()));
//!
//! let app = Router::new()
//!     .route("/me", get(|claims: Claims| async { Json(claims) }))
//!     .route("/admin", get(|| async { "hi" }).route_layer(RequireRoleLayer::new(["admin"])))
//!     .merge(login.into_router());
//! let app = AuthLayer::new(Verifier::new(key))
//!     .unless(Rules::new().public("/token")?.public("/docs*")?.public_method(axum::http::Method::OPTIONS))
//!     .wrap(app);
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! serve(listener, app, ServerLimits::default(), std::future::pending()).await?;
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! One folder per product, and a few support files:
//!
//! - `jwt/`: the JWT core, no HTTP and no storage — keys and algorithms ([`SigningKey`],
//!   [`VerifyingKey`]), the HS256 [`Secret`], [`Claims`], the [`Issuer`], the
//!   [`Verifier`] and a remote issuer's keys ([`RemoteJwks`]).
//! - [`auth`]: the verifying middleware ([`AuthLayer`]), the one request decision shared
//!   with gateway mode and forward auth, path normalization ([`auth::path`]), the
//!   [`Rules`], the role guard ([`RequireRoleLayer`]) and the [`Claims`] extractors.
//! - [`login`]: `POST /token` and `/revoke` ([`TokenEndpoint`]), body parsing, login rate
//!   limits, the client's address behind [`TrustedProxies`], and password hashing
//!   ([`login::password`]).
//! - [`store`]: durable files, the users file ([`FileUserStore`] behind [`UserStore`]) and
//!   the token store ([`FileTokenStore`]).
//! - `server/`: the HTTP/1.1 loop ([`serve`]), the `keycard serve` application ([`app`]),
//!   gateway mode ([`Gateway`]), forward auth ([`forward_auth()`]) and the JSON errors.
//! - `clock`, `duration`, `error`, `random`, `sync`: time, `7d` / `10/m` parsing, errors,
//!   randomness, locks that outlive poisoning.
//!
//! # Security
//!
//! See `SECURITY.md` for each JWT attack class and what closes it. In short: the
//! algorithm is pinned to the key (never `none`), the signature is checked before any
//! claim is read, `exp` is required, paths are normalized before any rule matches,
//! unknown users cost the same Argon2id work as known ones, and secrets never reach
//! `Debug` output or logs.

#[cfg(test)]
#[cfg(feature = "server")]
mod attack_tests;
pub mod auth;
mod clock;
mod duration;
mod error;
#[cfg(feature = "login")]
#[doc(hidden)]
pub mod fuzzing;
mod jwt;
#[cfg(feature = "login")]
pub mod login;
mod random;
mod server;
#[cfg(feature = "store")]
pub mod store;
mod sync;

#[cfg(test)]
#[cfg(feature = "server")]
mod router_tests;

pub use auth::rules::{Access, Rule, Rules};
pub use auth::{Auth, AuthError, AuthLayer, RequireRole, RequireRoleLayer, ResponseFuture};
pub use clock::{Clock, ManualClock, SystemClock};
pub use duration::{Rate, parse_duration};
pub use error::{Error, ErrorKind};
pub use http::Method;
pub use jwt::claims::{Audience, Claims, Extra};
pub use jwt::issuer::{DEFAULT_TOKEN_TTL, IssuedToken, Issuer};
#[cfg(feature = "remote-jwks")]
pub use jwt::jwks::RemoteJwks;
pub use jwt::keys::{GeneratedKey, KeyAlgorithm, MIN_RSA_BITS, SigningKey, VerifyingKey};
pub use jwt::secret::{MIN_SECRET_LEN, Secret};
pub use jwt::verifier::{
    DEFAULT_LEEWAY, DEFAULT_MAX_LIFETIME, MAX_TOKEN_LEN, RevocationCheck, TokenError, Verifier,
};
#[cfg(feature = "login")]
pub use login::client_addr::{Cidr, TrustedProxies};
#[cfg(feature = "login")]
pub use login::endpoint::{MAX_TOKEN_BODY, TokenEndpoint, default_ip_rate, default_user_rate};
#[cfg(feature = "login")]
pub use login::password::{Hasher, PasswordPolicy};
#[cfg(feature = "login")]
pub use login::ratelimit::RateLimiter;
#[cfg(feature = "login")]
pub use login::service::{DEFAULT_ADMIN_ROLE, TokenService, TokenServiceBuilder};
pub use server::errors::{method_not_allowed, not_found};
#[cfg(feature = "server")]
pub use server::forward_auth::{ForwardAuthHeaders, forward_auth};
#[cfg(feature = "server")]
pub use server::gateway::{Gateway, IdentityHeaders};
#[cfg(feature = "server")]
pub use server::serve::{
    ALWAYS_PUBLIC, AppOptions, JWKS_MAX_AGE, RESERVED, ServerLimits, app, app_with, jwks_document,
    serve, serve_rules, verify_only_app,
};
#[cfg(feature = "store")]
pub use store::StoreFuture;
#[cfg(feature = "store")]
pub use store::tokens::{FileTokenStore, RefreshError, Rotation, TokenStore, token_store_path};
#[cfg(feature = "store")]
pub use store::users::{FileUserStore, User, UserStore};
