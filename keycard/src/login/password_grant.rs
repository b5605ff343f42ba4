//! `grant_type=password` (the default): a login with a username and password.

use std::hash::BuildHasher;
use std::sync::Arc;

use axum::response::Response;
use http::HeaderMap;
use zeroize::Zeroizing;

use crate::server::errors::unavailable;
use crate::store::users::UserStore;

use super::endpoint::{TokenEndpoint, invalid_grant, slow_down};

impl<U: UserStore> TokenEndpoint<U> {
    pub(super) async fn login(
        self: &Arc<Self>,
        username: String,
        password: Zeroizing<String>,
        headers: &HeaderMap,
        client: &str,
    ) -> Response {
        // Taken before any work, given back on success: a throttled attempt costs no hash
        // and, being per name whether or not it exists, says nothing about existence.
        let name_key = self.name_keys.hash_one(&username);
        if let Err(retry) = self.per_user.acquire(&name_key) {
            audit!("login.failure", reason = "rate_limited_user", client);
            return slow_down(retry);
        }
        // Then the bucket every node on the store shares, if it keeps one: the limit
        // holds however the attempts are spread over a fleet.
        let shared = self.per_user.rate();
        if let Some(rate) = shared {
            match self.users.take_login_attempt(&username, rate).await {
                Ok(None | Some(Ok(()))) => {}
                Ok(Some(Err(retry))) => {
                    self.per_user.refund(&name_key);
                    audit!("login.failure", reason = "rate_limited_user", client);
                    return slow_down(retry);
                }
                Err(e) => {
                    tracing::error!(error = %e, "user store unavailable");
                    audit!("login.failure", reason = "store_unavailable", client);
                    self.per_user.refund(&name_key);
                    return unavailable(1, "the user store is unavailable");
                }
            }
        }
        let refund = async || {
            self.per_user.refund(&name_key);
            if let Some(rate) = shared
                && let Err(e) = self.users.refund_login_attempt(&username, rate).await
            {
                tracing::warn!(error = %e, "login attempt not refunded");
            }
        };
        let user = match self.users.find(&username).await {
            Ok(u) => u,
            Err(e) => {
                tracing::error!(error = %e, "user store lookup failed");
                audit!("login.failure", reason = "store_unavailable", client);
                refund().await;
                return unavailable(1, "the user store is unavailable");
            }
        };
        let stored = user.as_ref().map(|u| u.password_hash().to_owned());
        if self
            .hasher
            .calibrate(&self.users.hash_kinds())
            .await
            .is_err()
        {
            refund().await;
            audit!("login.failure", reason = "queue_full", client);
            return unavailable(1, "too many logins in progress; retry shortly");
        }
        let verdict = match self.hasher.verify(password.clone(), stored.clone()).await {
            Ok(v) => v,
            Err(_busy) => {
                refund().await;
                audit!("login.failure", reason = "queue_full", client);
                return unavailable(1, "too many logins in progress; retry shortly");
            }
        };
        let (Some(_), true) = (&user, verdict.matched) else {
            // The attempted name only if it is a user's: a password typed into the
            // username field must not reach the logs.
            match &user {
                Some(u) => audit!(
                    "login.failure",
                    reason = "invalid_grant",
                    user = u.name(),
                    client
                ),
                None => audit!("login.failure", reason = "invalid_grant", client),
            }
            return invalid_grant();
        };
        // The hash took a while: a `users passwd`, `set-role` or `remove` may have landed
        // meanwhile. The token goes by the record as it is now, and only if the password
        // checked is still its password.
        let user = match self.users.find(&username).await {
            Ok(Some(now)) if Some(now.password_hash()) == stored.as_deref() => now,
            Ok(_) => {
                audit!("login.failure", reason = "user_changed", user = %username, client);
                return invalid_grant();
            }
            Err(e) => {
                tracing::error!(error = %e, "user store lookup failed");
                return unavailable(1, "the user store is unavailable");
            }
        };
        refund().await;
        if verdict.needs_rehash
            && let Some(old) = stored
        {
            self.upgrade_hash(user.name().to_owned(), old, password);
        }
        let res = self
            .grant(
                user.name(),
                user.role(),
                crate::random::id(),
                None,
                Some(headers),
            )
            .await;
        if res.status().is_success() {
            audit!(
                "login.success",
                user = user.name(),
                role = user.role(),
                client
            );
        } else {
            audit!(
                "login.failure",
                reason = "store_unavailable",
                user = user.name(),
                client
            );
        }
        res
    }
    /// Re-hashes a bcrypt or outdated hash in the background, now that the password is
    /// known; the store replaces it only if nobody changed it meanwhile.
    pub(super) fn upgrade_hash(
        self: &Arc<Self>,
        name: String,
        old: String,
        password: Zeroizing<String>,
    ) {
        let ep = self.clone();
        tokio::spawn(async move {
            let new = match ep.hasher.hash(password).await {
                Ok(Ok(h)) => h,
                Ok(Err(e)) => return tracing::error!(error = %e, "re-hashing failed"),
                Err(_busy) => return tracing::debug!("re-hash skipped: hashing queue full"),
            };
            match ep.users.upgrade_password_hash(&name, &old, new).await {
                Ok(true) => tracing::info!(user = %name, "password hash upgraded to argon2id"),
                Ok(false) => {
                    tracing::debug!(user = %name, "password hash changed meanwhile; not upgraded")
                }
                Err(e) => tracing::error!(user = %name, error = %e, "password hash upgrade failed"),
            }
        });
    }
}
