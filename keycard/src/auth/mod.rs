//! The verifying middleware: a tower [`Layer`](tower::Layer) that normalizes the path,
//! applies the [`Rules`], checks `Authorization: Bearer …`, and hands
//! the verified [`Claims`] to handlers in the request's extensions.
//!
//! - `decision`: the one request decision, shared with gateway mode and forward auth;
//! - [`path`]: normalization and the router fold; `rules`: what a request needs;
//! - `token`: where the bearer token comes from ([`TokenSources`]);
//! - `layer`, `service`, `future`, `response`: the middleware; `role`: the role guard;
//!   `extract`: the [`Claims`] extractors.
//!
//! ```
//! use axum::{Router, routing::get};
//! use keycard::{AuthLayer, Claims, Rules, Secret, SigningKey, Verifier};
//!
//! # fn main() -> Result<(), keycard::Error> {
//! let key = SigningKey::hs256(&Secret::new(*b"an example secret of 32 bytes!!!")?)?;
//! let app: Router = Router::new()
//!     .route("/me", get(|claims: Claims| async move { claims.subject().unwrap_or("").to_owned() }))
//!     .route("/hello", get(|| async { "hello" }))
//!     .layer(AuthLayer::new(Verifier::new(key)).unless(Rules::new().public("/hello")?));
//! # Ok(()) }
//! ```

mod decision;
pub(crate) mod extract;
mod future;
mod layer;
pub mod path;
mod response;
mod role;
pub(crate) mod rules;
mod service;
pub(crate) mod token;

#[cfg(feature = "server")]
pub(crate) use decision::{decide_refetching, same_header};
pub use future::ResponseFuture;
/// The HTTP method type rules are written with (`http::Method`).
pub use http::Method;
pub use layer::AuthLayer;
pub use response::AuthError;
pub use role::{RequireRole, RequireRoleLayer};
pub use rules::{Access, Rule, Rules};
pub use service::Auth;
#[cfg(feature = "server")]
pub(crate) use token::HEADER_ONLY;
pub use token::TokenSources;

use crate::jwt::claims::Claims;

/// The one role check, shared by the rules ([`Access::Roles`](crate::auth::Access)) and the
/// role guard: the token's `role` must be one of `roles`.
fn require_role(claims: &Claims, roles: &[String]) -> Result<(), AuthError> {
    match claims.role() {
        Some(role) if roles.iter().any(|r| r == role) => Ok(()),
        _ => Err(AuthError::InsufficientScope),
    }
}

#[cfg(test)]
#[cfg(feature = "server")]
mod tests;
