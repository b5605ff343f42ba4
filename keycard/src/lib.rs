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
//! - `auth`: the verifying middleware ([`AuthLayer`]) and the role guard
//!   ([`RequireRoleLayer`]); `extract`: the [`Claims`] extractors.
//! - `rules` and `path`: which requests are public, matched on the normalized path.
//! - `keys`, `issuer`, `verifier`, `claims`: signing and verifying tokens; `jwks`: the
//!   keys of a remote issuer, for verify-only nodes.
//! - `token`: the `/token` endpoint over a [`UserStore`]; `users`: the file store.
//! - `password`: Argon2id (and bcrypt import) on a bounded blocking pool.
//! - `ratelimit`, `duration`: login throttling and `7d` / `10/m` parsing.
//! - `server`: the `keycard serve` application and its HTTP loop.
//! - `clock`, `secret`, `error`: time, the HS256 secret, errors.
//!
//! # Security
//!
//! See `SECURITY.md` for each JWT attack class and what closes it. In short: the
//! algorithm is pinned to the key (never `none`), the signature is checked before any
//! claim is read, `exp` is required, paths are normalized before any rule matches,
//! unknown users cost the same Argon2id work as known ones, and secrets never reach
//! `Debug` output or logs.

#[cfg(test)]
mod attack_tests;
mod auth;
mod body;
mod claims;
mod client;
mod clock;
mod durable;
mod duration;
mod error;
mod extract;
mod forward_auth;
#[doc(hidden)]
pub mod fuzzing;
mod gateway;
mod http_error;
mod issuer;
mod jwks;
mod keys;
pub mod password;
pub mod path;
mod random;
mod ratelimit;
mod revocation;
mod rules;
mod secret;
mod server;
mod sync;
mod token;
pub mod users;
mod verifier;

#[cfg(test)]
mod router_tests;

pub use auth::{Auth, AuthError, AuthLayer, RequireRole, RequireRoleLayer, ResponseFuture};
pub use claims::{Audience, Claims, Extra};
pub use client::{Cidr, TrustedProxies};
pub use clock::{Clock, ManualClock, SystemClock};
pub use duration::{Rate, parse_duration};
pub use error::{Error, ErrorKind};
pub use forward_auth::{ForwardAuthHeaders, forward_auth};
pub use gateway::{Gateway, IdentityHeaders};
pub use http::Method;
pub use http_error::{method_not_allowed, not_found};
pub use issuer::{DEFAULT_TOKEN_TTL, IssuedToken, Issuer};
pub use jwks::RemoteJwks;
pub use keys::{GeneratedKey, KeyAlgorithm, MIN_RSA_BITS, SigningKey, VerifyingKey};
pub use password::{Hasher, PasswordPolicy};
pub use ratelimit::RateLimiter;
pub use revocation::{FileTokenStore, RefreshError, RevocationCheck, Rotation, token_store_path};
pub use rules::{Access, Rule, Rules};
pub use secret::{MIN_SECRET_LEN, Secret};
pub use server::{
    ALWAYS_PUBLIC, AppOptions, JWKS_MAX_AGE, RESERVED, ServerLimits, app, app_with, jwks_document,
    serve, serve_rules, verify_only_app,
};
pub use token::{MAX_TOKEN_BODY, TokenEndpoint, default_ip_rate, default_user_rate};
pub use users::{FileUserStore, User, UserStore};
pub use verifier::{DEFAULT_LEEWAY, DEFAULT_MAX_LIFETIME, MAX_TOKEN_LEN, TokenError, Verifier};
