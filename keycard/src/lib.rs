//! Keycard: JWT authentication for HTTP APIs.
//!
//! Log in at `POST /token` with a username and password, get a signed JWT, send it back
//! as `Authorization: Bearer …`: this crate holds every piece of that, for any
//! tower/axum service, and the `keycard` binary runs them all.
//!
//! ```no_run
//! use std::sync::Arc;
//! use axum::{Json, Router, routing::get};
//! use keycard::{
//!     AuthLayer, Claims, FileUserStore, Hasher, Issuer, PasswordPolicy, RequireRoleLayer, Rules,
//!     Secret, ServerLimits, SigningKey, TokenEndpoint, Verifier, serve,
//! };
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
//!   [`Verifier`], a remote issuer's keys ([`RemoteJwks`]) and its signed revocation feed
//!   ([`jwt::revocation_feed`]).
//! - [`auth`]: the verifying middleware ([`AuthLayer`]), the one request decision shared
//!   with gateway mode and forward auth, path normalization ([`auth::path`]), the
//!   [`Rules`], the role guard ([`RequireRoleLayer`]) and the [`Claims`] extractors; a
//!   gRPC request's refusal is a gRPC status ([`AuthError::response_for`]), so the layer
//!   protects a tonic service too (`examples/grpc.rs`).
//! - [`login`]: `POST /token` and `/revoke` ([`TokenEndpoint`]), body parsing, login rate
//!   limits, the client's address behind [`login::TrustedProxies`], and password hashing
//!   ([`login::password`]).
//! - [`store`]: the two store traits, [`UserStore`] and [`TokenStore`], and
//!   [`store::Accounts`]; in `store/file/` their default implementations, durable JSON
//!   files ([`FileUserStore`], [`FileTokenStore`]); in `store/postgres/` (feature
//!   `postgres`) the same on PostgreSQL, for several issuers on one database (over TLS
//!   with feature `postgres-tls`).
//! - `server/`: the HTTP/1.1 and (feature `http2`) HTTP/2 loop ([`serve`], and over TLS `server::serve_tls`), the
//!   `keycard serve` application ([`server::App`]), gateway mode ([`Gateway`]), forward
//!   auth ([`server::forward_auth()`]), the OpenAPI document ([`server::openapi`]),
//!   discovery metadata ([`server::discovery`]) and the JSON errors.
//! - `tls` (feature `tls`): rustls with ring — whom a client trusts (`tls::TlsClient`) and
//!   the server's reloading certificate (`tls::TlsServer`).
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

pub mod auth;
pub mod clock;
pub mod duration;
mod error;
#[cfg(feature = "login")]
#[doc(hidden)]
pub mod fuzzing;
pub mod jwt;
#[cfg(feature = "login")]
pub mod login;
#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(not(feature = "metrics"))]
mod metrics;
mod random;
pub mod server;
#[cfg(feature = "store")]
pub mod store;
mod sync;
#[cfg(feature = "tls")]
pub mod tls;

#[cfg(test)]
mod testing;

// The common path; everything else is in its module.
pub use auth::{AuthError, AuthLayer, RequireRoleLayer, Rule, Rules, TokenSources};
pub use error::{Error, ErrorKind};
#[cfg(feature = "remote-jwks")]
pub use jwt::RemoteJwks;
pub use jwt::{Claims, Issuer, Secret, SigningKey, TokenCache, TokenError, Verifier, VerifyingKey};
#[cfg(feature = "login")]
pub use login::{Hasher, PasswordPolicy, TokenEndpoint, TokenService};
#[cfg(feature = "server")]
pub use server::{Gateway, ServerLimits, serve};
#[cfg(feature = "store")]
pub use store::{FileTokenStore, FileUserStore, TokenStore, UserStore};
