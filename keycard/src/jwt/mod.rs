//! The JWT core — no HTTP, no storage: keys and their algorithms, the HS256 secret, the
//! claims, issuing and verifying tokens, and a remote issuer's JWKS.

pub(crate) mod claims;
pub(crate) mod issuer;
#[cfg(feature = "remote-jwks")]
pub(crate) mod jwks;
pub(crate) mod keys;
pub(crate) mod secret;
pub(crate) mod verifier;
