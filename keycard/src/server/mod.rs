//! The standalone server: the HTTP/1.1 serve loop and the `keycard serve` application,
//! gateway mode, the forward-auth endpoint, and the JSON error bodies.

pub(crate) mod errors;
#[cfg(feature = "server")]
pub(crate) mod forward_auth;
#[cfg(feature = "server")]
pub(crate) mod gateway;
#[cfg(feature = "server")]
pub(crate) mod serve;
