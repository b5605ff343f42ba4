//! Logging in: the `POST /token` and `/revoke` endpoint over a user store, its body
//! parsing and content negotiation, login rate limits, the client's address, and password
//! hashing.

pub(crate) mod body;
pub(crate) mod client_addr;
pub(crate) mod endpoint;
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
