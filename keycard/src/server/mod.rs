//! The standalone server: the HTTP/1.1 serve loop and the `keycard serve` application,
//! gateway mode, the forward-auth endpoint, and the JSON error bodies.

pub(crate) mod errors;
pub(crate) mod forward_auth;
pub(crate) mod gateway;
pub(crate) mod serve;
