//! `POST /revoke` (RFC 7009).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};
use serde::Deserialize;

use crate::jwt::claims::Claims;
use crate::server::errors::unavailable;
use crate::store::users::UserStore;

use super::endpoint::{TokenEndpoint, bad_request};
use super::request::{BodyKind, json_object, read_body};

#[derive(Deserialize)]
struct RevokeRequest {
    token: Option<String>,
    #[serde(default)]
    #[allow(dead_code)] // RFC 7009: a hint only; every kind is looked for anyway.
    token_type_hint: Option<String>,
}

/// `POST /revoke` (RFC 7009): protected; `token=…` in a form or JSON body.
pub(super) async fn revoke_handler<U: UserStore>(
    State(ep): State<Arc<TokenEndpoint<U>>>,
    caller: Claims,
    req: Request,
) -> Response {
    let Some(sessions) = ep.sessions.as_ref() else {
        return crate::server::errors::not_found().await;
    };
    let (parts, body) = req.into_parts();
    let (kind, bytes) = match read_body(&parts.headers, body).await {
        Ok(read) => read,
        Err(res) => return res,
    };
    let parsed: Result<RevokeRequest, ()> = match kind {
        BodyKind::Json => json_object(&bytes).ok_or(()),
        BodyKind::Form => serde_urlencoded::from_bytes(&bytes).map_err(|_| ()),
    };
    let Ok(RevokeRequest {
        token: Some(token), ..
    }) = parsed
    else {
        return bad_request("token is required");
    };
    let until = ep.session_until(sessions);
    let store = &sessions.store;
    let outcome = if token.split('.').count() == 3 {
        // An access token: whose is it?
        let Ok(target) = sessions.verifier.verify_signature(&token) else {
            return revoked_ok(); // not ours or not a token: nothing to revoke (RFC 7009 §2.2)
        };
        let own = target.subject().is_some() && target.subject() == caller.subject();
        if !own && caller.role() != Some(sessions.admin_role.as_str()) {
            return crate::auth::AuthError::InsufficientScope.into_response();
        }
        let (Some(jti), Some(exp)) = (target.token_id().map(str::to_owned), target.expires_at())
        else {
            return revoked_ok(); // no jti (a token from elsewhere): cannot be revoked alone
        };
        let until = exp.saturating_add(sessions.verifier.leeway());
        store.revoke_token(&jti, until).await
    } else {
        // A refresh token: whoever holds it may end its session.
        store.revoke_refresh(&token, until).await.map(|_| ())
    };
    match outcome {
        Ok(()) => {
            audit!(
                "token.revoke",
                kind = if token.split('.').count() == 3 {
                    "access"
                } else {
                    "refresh"
                },
                by = caller.subject().unwrap_or("-")
            );
            revoked_ok()
        }
        Err(e) => {
            tracing::error!(error = %e, "revocation not stored");
            unavailable(1, "the token store is unavailable")
        }
    }
}

pub(super) fn revoked_ok() -> Response {
    let mut res = axum::Json(serde_json::json!({})).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
