use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use crate::auth::path::PathError;
use crate::jwt::verifier::TokenError;
use crate::server::errors::json_error;

/// Why a request was refused before reaching the handler, and the response it gets
/// (RFC 6750 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// No credentials: no `Authorization` header, an empty one, or another scheme.
    /// 401 `missing_token` with `WWW-Authenticate: Bearer realm="keycard"`.
    MissingToken,
    /// `Bearer` with no token or several words, or two `Authorization` headers.
    /// 400 `invalid_request`.
    MalformedCredentials(&'static str),
    /// The token did not verify. 401 `invalid_token`.
    InvalidToken(TokenError),
    /// A valid token without a role the route requires. 403 `insufficient_scope`.
    InsufficientScope,
    /// A path refused by normalization. 400 `invalid_request`.
    InvalidPath(PathError),
    /// A request that two servers could read differently: a lower-case method, a
    /// method override header, conflicting forward-auth headers. 400 `invalid_request`.
    InvalidRequest(&'static str),
}

const REALM: &str = "Bearer realm=\"keycard\"";

fn challenge(error: &str, description: &str) -> HeaderValue {
    // Descriptions are fixed ASCII strings without quotes.
    HeaderValue::try_from(format!(
        "{REALM}, error=\"{error}\", error_description=\"{description}\""
    ))
    .unwrap_or(HeaderValue::from_static(REALM))
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let (status, code, description, www) = match self {
            AuthError::MissingToken => (
                StatusCode::UNAUTHORIZED,
                "missing_token",
                "a bearer token is required",
                Some(HeaderValue::from_static(REALM)),
            ),
            AuthError::MalformedCredentials(why) => (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                why,
                Some(challenge("invalid_request", why)),
            ),
            AuthError::InvalidToken(e) => (
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                e.description(),
                Some(challenge("invalid_token", e.description())),
            ),
            AuthError::InsufficientScope => {
                let why = "the token's role may not access this route";
                (
                    StatusCode::FORBIDDEN,
                    "insufficient_scope",
                    why,
                    Some(challenge("insufficient_scope", why)),
                )
            }
            AuthError::InvalidPath(e) => (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                e.description(),
                None,
            ),
            AuthError::InvalidRequest(why) => {
                (StatusCode::BAD_REQUEST, "invalid_request", why, None)
            }
        };
        let mut res = json_error(status, code, description);
        if let Some(www) = www {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, www);
        }
        res
    }
}
