//! The standalone server: the HTTP/1.1 serve loop and the `keycard serve` application,
//! gateway mode, the forward-auth endpoint, and the JSON error bodies.

pub(crate) mod errors;
#[cfg(feature = "server")]
pub(crate) mod forward_auth;
#[cfg(feature = "server")]
pub(crate) mod gateway;
#[cfg(feature = "server")]
pub(crate) mod serve;

pub use errors::{method_not_allowed, not_found};
#[cfg(feature = "server")]
pub use forward_auth::{ForwardAuthHeaders, forward_auth};
#[cfg(feature = "server")]
pub use gateway::{Gateway, IdentityHeaders};
#[cfg(feature = "server")]
pub use serve::{
    ALWAYS_PUBLIC, AppOptions, JWKS_MAX_AGE, RESERVED, ServerLimits, app, app_with, jwks_document,
    serve, serve_rules, verify_only_app,
};
