//! Logging in: the `POST /token` and `/revoke` endpoint over a user store, its body
//! parsing and content negotiation, login rate limits, the client's address, and password
//! hashing.
//!
//! ```
//! use std::sync::Arc;
//! use axum::body::Body;
//! use axum::http::{Request, StatusCode};
//! use tower::ServiceExt;
//! use keycard::{FileUserStore, Hasher, PasswordPolicy, Secret, SigningKey, TokenService, UserStore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let users = Arc::new(FileUserStore::open(dir.path().join("users.json"))?);
//! let policy = PasswordPolicy::OWASP;
//! users.add("alice", "admin", policy.hash("correct horse battery")?).await?;
//!
//! let service = TokenService::builder(SigningKey::hs256(&Secret::random())?).build()?;
//! let login = service.endpoint(users, Hasher::new(policy)).into_router();
//! let res = login
//!     .oneshot(
//!         Request::post("/token")
//!             .header("content-type", "application/json")
//!             .body(Body::from(r#"{"username":"alice","password":"correct horse battery"}"#))?,
//!     )
//!     .await?;
//! assert_eq!(res.status(), StatusCode::OK);
//! # Ok(()) }
//! ```

/// An audit event: target `keycard::audit`, level INFO, a stable `event` name and fields
/// that never hold a password, a token or a hash (README, "Operating Keycard").
macro_rules! audit {
    // The reason (or the kind) is also the event's metric label: one of a fixed set.
    ($event:literal, reason = $reason:expr $(, $($field:tt)*)?) => {{
        crate::metrics::event($event, $reason);
        tracing::info!(target: "keycard::audit", event = $event, reason = $reason $(, $($field)*)?)
    }};
    ($event:literal, kind = $kind:expr $(, $($field:tt)*)?) => {{
        crate::metrics::event($event, $kind);
        tracing::info!(target: "keycard::audit", event = $event, kind = $kind $(, $($field)*)?)
    }};
    ($event:literal $(, $($field:tt)*)?) => {{
        crate::metrics::event($event, "");
        tracing::info!(target: "keycard::audit", event = $event $(, $($field)*)?)
    }};
}

pub(crate) mod body;
pub(crate) mod client_addr;
pub(crate) mod endpoint;
mod feed;
mod negotiate;
pub mod password;
mod password_grant;
pub(crate) mod ratelimit;
mod refresh_grant;
pub(crate) mod request;
mod revoke;
pub(crate) mod service;

pub use client_addr::{Cidr, TrustedProxies};
pub use endpoint::{MAX_TOKEN_BODY, TokenEndpoint, default_ip_rate, default_user_rate};
pub use password::{Hasher, PasswordPolicy};
pub use ratelimit::RateLimiter;
pub use service::{DEFAULT_ADMIN_ROLE, TokenService, TokenServiceBuilder};

#[cfg(test)]
#[cfg(feature = "server")]
mod tests;
