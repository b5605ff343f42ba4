//! `grant_type=refresh_token`: rotate the refresh token, then issue in the same session.

use std::sync::Arc;

use axum::response::Response;
use http::StatusCode;
use zeroize::Zeroizing;

use crate::server::errors::{json_error, unavailable};
use crate::store::tokens::RefreshError;
use crate::store::users::UserStore;

use super::endpoint::{TokenEndpoint, invalid_refresh};

impl<U: UserStore> TokenEndpoint<U> {
    /// `grant_type=refresh_token`: rotate, then issue in the same session.
    pub(super) async fn refresh(
        self: &Arc<Self>,
        token: Zeroizing<String>,
        client: &str,
    ) -> Response {
        let Some(sessions) = self.sessions.as_ref().filter(|s| s.refresh_ttl.is_some()) else {
            return json_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "refresh tokens are not enabled",
            );
        };
        let ttl = sessions.refresh_ttl.unwrap_or_default();
        let until = self.session_until(sessions);
        let rotated = sessions.store.rotate_refresh(&token, ttl, until).await;
        let rotation = match rotated {
            Ok(Ok(r)) => r,
            Ok(Err(why)) => {
                if why == RefreshError::Reused {
                    tracing::warn!(
                        "a used refresh token was presented again: its session is revoked"
                    );
                    audit!("token.refresh_reused", client);
                } else {
                    audit!("token.refresh_failure", reason = "invalid_grant", client);
                }
                return invalid_refresh();
            }
            Err(e) => {
                tracing::error!(error = %e, "refresh failed");
                audit!(
                    "token.refresh_failure",
                    reason = "store_unavailable",
                    client
                );
                return unavailable(1, "the token store is unavailable");
            }
        };
        let user = match self.users.find(&rotation.user).await {
            Ok(Some(u)) => u,
            Ok(None) => return invalid_refresh(),
            Err(e) => {
                tracing::error!(error = %e, "user store lookup failed");
                return unavailable(1, "the user store is unavailable");
            }
        };
        let sid = rotation.sid.clone();
        let res = self
            .grant(
                user.name(),
                user.role(),
                rotation.sid,
                Some(rotation.refresh_token),
                None,
            )
            .await;
        if res.status().is_success() {
            audit!("token.refresh", user = user.name(), %sid, client);
        }
        res
    }
}
