//! The standalone server: the HTTP/1.1 serve loop and the `keycard serve` application,
//! gateway mode, the forward-auth endpoint, and the JSON error bodies.

#[cfg(feature = "server")]
pub(crate) mod app;
pub(crate) mod errors;
#[cfg(feature = "server")]
pub(crate) mod forward_auth;
#[cfg(feature = "server")]
pub(crate) mod gateway;
#[cfg(feature = "server")]
pub(crate) mod serve;

#[cfg(feature = "server")]
pub use app::{ALWAYS_PUBLIC, App, JWKS_MAX_AGE, RESERVED};
pub use errors::{method_not_allowed, not_found};
#[cfg(feature = "server")]
pub use forward_auth::{ForwardAuthHeaders, forward_auth};
#[cfg(feature = "server")]
pub use gateway::{Gateway, IdentityHeaders};
#[cfg(feature = "server")]
pub use serve::{ServerLimits, serve};

#[cfg(test)]
#[cfg(feature = "server")]
mod tests;
