//! Revocation, logout and refresh tokens behind a trait: [`TokenStore`]. The default
//! implementation is the durable file of [`file::tokens`](crate::store::file::tokens); a database
//! is another.

use std::time::Duration;

use crate::jwt::revocations::Listed;
use crate::jwt::verifier::RevocationCheck;
use crate::store::StoreFuture;

/// How a store keeps a refresh token: its SHA-256, base64url (the token itself is never
/// stored).
pub(crate) fn refresh_key(token: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(token.as_bytes()))
}

/// Why a refresh token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefreshError {
    /// Unknown, expired, or issued before its user's cut-off.
    Invalid,
    /// Already used: its session has now been revoked.
    Reused,
}

/// A refresh token exchanged for a new one.
#[derive(Debug)]
pub struct Rotation {
    /// Whose it is.
    pub user: String,
    /// The login session it belongs to.
    pub sid: String,
    /// The new refresh token (the old one no longer works).
    pub refresh_token: String,
}

/// Where revocations and refresh tokens live: [`FileTokenStore`](crate::store::FileTokenStore), or a database.
///
/// The verifier asks [`RevocationCheck::is_revoked`] of every token, so that answer comes
/// from memory; everything else is async and may fail with
/// [`ErrorKind::Unavailable`](crate::ErrorKind::Unavailable) apart from what it finds,
/// because a networked store fails. A refresh rotation is one transaction: two uses of
/// one refresh token, however close, never both succeed.
pub trait TokenStore: RevocationCheck {
    /// Brings the in-memory revocations up to date with what other writers (the CLI,
    /// other nodes) changed; returns whether anything did.
    fn catch_up(&self) -> StoreFuture<'_, bool>;

    /// The cut-off of `user` known now: tokens issued before it are revoked.
    fn cutoff(&self, user: &str) -> Option<u64>;

    /// The cut-off of `user` as the store holds it now, which a login must see (a
    /// `revoke-all` that returned, on any node, before it). Defaults to
    /// [`catch_up`](Self::catch_up), then [`cutoff`](Self::cutoff).
    fn current_cutoff<'a>(&'a self, user: &'a str) -> StoreFuture<'a, Option<u64>> {
        Box::pin(async move {
            self.catch_up().await?;
            Ok(self.cutoff(user))
        })
    }

    /// The revocations in force now, from memory: every live revoked token and session,
    /// and the cut-offs from `cutoffs_since` on (older ones cover only expired tokens).
    /// The issuer publishes them to verify-only nodes.
    fn listed(&self, cutoffs_since: u64) -> Listed;

    /// Revokes the token `jti` until `until` (its `exp` plus the leeway).
    fn revoke_token<'a>(&'a self, jti: &'a str, until: u64) -> StoreFuture<'a, ()>;

    /// Revokes the login session `sid`, its refresh tokens included, until `until`.
    fn revoke_session<'a>(&'a self, sid: &'a str, until: u64) -> StoreFuture<'a, ()>;

    /// Revokes every token of `user` issued up to now, access and refresh alike; returns
    /// the cut-off (a token issued later in the same second gets an `iat` of at least it).
    fn revoke_user<'a>(&'a self, user: &'a str) -> StoreFuture<'a, u64>;

    /// Creates a refresh token for `user` in session `sid`, issued with the access token
    /// whose `iat` is `issued_at`, valid for `ttl`.
    fn create_refresh<'a>(
        &'a self,
        user: &'a str,
        sid: &'a str,
        issued_at: u64,
        ttl: Duration,
    ) -> StoreFuture<'a, String>;

    /// Exchanges a refresh token for a new one in the same session; a used one revokes
    /// its session until `session_until` and is refused.
    fn rotate_refresh<'a>(
        &'a self,
        token: &'a str,
        ttl: Duration,
        session_until: u64,
    ) -> StoreFuture<'a, Result<Rotation, RefreshError>>;

    /// Revokes the session of a refresh token; returns whether the token was known.
    fn revoke_refresh<'a>(&'a self, token: &'a str, session_until: u64) -> StoreFuture<'a, bool>;
}
