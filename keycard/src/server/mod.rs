//! The standalone server: the HTTP/1.1 serve loop and the `keycard serve` application,
//! gateway mode, the forward-auth endpoint, and the JSON error bodies.
//!
//! ```
//! use keycard::server::App;
//! use keycard::{Secret, ServerLimits, SigningKey, Verifier, serve};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A verify-only node: /me, /healthz, /auth/verify; every other path needs a token.
//! let verifier = Verifier::new(SigningKey::hs256(&Secret::random())?);
//! let app = App::verify_only(verifier).public("/docs*")?.into_router();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! // Stops at once here; a real server waits for a signal.
//! serve(listener, app, ServerLimits::DEFAULT, async {}).await?;
//! # Ok(()) }
//! ```

#[cfg(feature = "server")]
pub(crate) mod app;
#[cfg(feature = "server")]
pub mod discovery;
pub(crate) mod errors;
#[cfg(feature = "server")]
pub(crate) mod forward_auth;
#[cfg(feature = "server")]
pub(crate) mod gateway;
#[cfg(feature = "server")]
pub mod openapi;
#[cfg(feature = "server")]
pub(crate) mod ready;
#[cfg(feature = "server")]
pub(crate) mod request_id;
#[cfg(feature = "server")]
pub(crate) mod serve;
#[cfg(feature = "server")]
pub(crate) mod tunnel;

#[cfg(feature = "server")]
pub use app::{ALWAYS_PUBLIC, App, JWKS_MAX_AGE, RESERVED};
pub use errors::{method_not_allowed, not_found};
#[cfg(feature = "server")]
pub use forward_auth::{ForwardAuthHeaders, forward_auth};
#[cfg(feature = "server")]
pub use gateway::{Gateway, IdentityHeaders};
#[cfg(feature = "server")]
pub use ready::{CHECK_TIMEOUT, Readiness};
#[cfg(feature = "server")]
pub use request_id::REQUEST_ID;
#[cfg(all(feature = "server", feature = "tls"))]
pub use serve::serve_tls;
#[cfg(feature = "server")]
pub use serve::{ServerLimits, serve};

#[cfg(test)]
#[cfg(feature = "server")]
mod tests;
