//! The JWT core — no HTTP, no storage: keys and their algorithms, the HS256 secret, the
//! claims, issuing and verifying tokens, and a remote issuer's JWKS.
//!
//! ```
//! use std::sync::Arc;
//! use keycard::clock::ManualClock;
//! use keycard::jwt::{Issuer, Secret, SigningKey, TokenError, Verifier};
//!
//! let key = SigningKey::hs256(&Secret::random())?;
//! let clock = Arc::new(ManualClock::new(1_800_000_000));
//! let token = Issuer::new(key.clone())
//!     .with_clock(clock.clone())
//!     .issue("alice", "admin")?
//!     .token;
//! let verifier = Verifier::new(key).with_clock(clock.clone());
//! assert_eq!(verifier.verify(&token)?.role(), Some("admin"));
//! clock.advance(8 * 86_400); // past the 7-day lifetime
//! assert_eq!(verifier.verify(&token).unwrap_err(), TokenError::Expired);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(test)]
#[cfg(feature = "server")]
mod attack_tests;
pub(crate) mod cache;
pub(crate) mod claims;
#[cfg(feature = "remote-jwks")]
pub(crate) mod fetch;
pub(crate) mod issuer;
#[cfg(feature = "remote-jwks")]
pub(crate) mod jwks;
pub(crate) mod jws;
pub(crate) mod keys;
#[cfg(any(feature = "store", feature = "remote-jwks"))]
pub mod revocation_feed;
#[cfg(any(feature = "store", feature = "remote-jwks"))]
pub mod revocations;
pub(crate) mod secret;
pub(crate) mod trusted;
pub(crate) mod verifier;

pub use cache::TokenCache;
pub use claims::{Audience, Claims, Extra};
pub use issuer::{DEFAULT_TOKEN_TTL, IssuedToken, Issuer};
#[cfg(feature = "remote-jwks")]
pub use jwks::RemoteJwks;
pub use keys::{GeneratedKey, KeyAlgorithm, MIN_RSA_BITS, SigningKey, VerifyingKey};
#[cfg(feature = "remote-jwks")]
pub use revocation_feed::RevocationFeed;
pub use secret::{MIN_SECRET_LEN, Secret};
pub use trusted::TrustedIssuer;
pub use verifier::{
    DEFAULT_LEEWAY, DEFAULT_MAX_LIFETIME, MAX_TOKEN_LEN, RevocationCheck, TokenError, Verifier,
};
