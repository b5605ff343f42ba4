use std::fmt::Write as _;

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

/// gRPC status codes (the gRPC core's `Code`).
const GRPC_INVALID_ARGUMENT: &str = "3";
const GRPC_PERMISSION_DENIED: &str = "7";
const GRPC_UNAUTHENTICATED: &str = "16";

/// Whether a request is gRPC (`application/grpc`, `application/grpc+proto`,
/// `application/grpc-web…`), whose client reads a status from `grpc-status`, not from
/// an HTTP status and a JSON body.
pub(crate) fn is_grpc(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.as_bytes().get(..16))
        .is_some_and(|t| t.eq_ignore_ascii_case(b"application/grpc"))
}

impl AuthError {
    /// The answer to a request with `headers`: [`grpc_response`](Self::grpc_response)
    /// for a gRPC request (its `Content-Type` is `application/grpc…`), the HTTP error of
    /// [`IntoResponse`] otherwise. [`AuthLayer`](crate::AuthLayer) answers this way.
    pub fn response_for(self, headers: &http::HeaderMap) -> Response {
        if is_grpc(headers) {
            let mut res = self.grpc_response();
            // Its own content type back (`application/grpc+proto`, gRPC-Web's…).
            if let Some(kind) = headers.get(header::CONTENT_TYPE) {
                res.headers_mut().insert(header::CONTENT_TYPE, kind.clone());
            }
            res
        } else {
            self.into_response()
        }
    }

    /// The refusal as gRPC says it: a "trailers-only" response (HTTP 200, no message)
    /// whose `grpc-status` is `UNAUTHENTICATED` (16) for a missing, malformed or invalid
    /// token, `PERMISSION_DENIED` (7) for a role the method does not allow, and
    /// `INVALID_ARGUMENT` (3) for a refused path or request; `grpc-message` says why,
    /// and `WWW-Authenticate` is the HTTP error's.
    pub fn grpc_response(self) -> Response {
        let (code, www) = match self {
            AuthError::MissingToken => {
                (GRPC_UNAUTHENTICATED, Some(HeaderValue::from_static(REALM)))
            }
            AuthError::MalformedCredentials(why) => (
                GRPC_UNAUTHENTICATED,
                Some(challenge("invalid_request", why)),
            ),
            AuthError::InvalidToken(e) => (
                GRPC_UNAUTHENTICATED,
                Some(challenge("invalid_token", e.description())),
            ),
            AuthError::InsufficientScope => (
                GRPC_PERMISSION_DENIED,
                Some(challenge("insufficient_scope", INSUFFICIENT_SCOPE)),
            ),
            AuthError::InvalidPath(_) | AuthError::InvalidRequest(_) => {
                (GRPC_INVALID_ARGUMENT, None)
            }
        };
        let mut res = Response::new(axum::body::Body::empty());
        let headers = res.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        headers.insert("grpc-status", HeaderValue::from_static(code));
        if let Ok(message) = HeaderValue::try_from(grpc_message(self.description())) {
            headers.insert("grpc-message", message);
        }
        if let Some(www) = www {
            headers.insert(header::WWW_AUTHENTICATE, www);
        }
        res
    }

    /// What the error says to the client (the JSON body's `error_description`).
    fn description(self) -> &'static str {
        match self {
            AuthError::MissingToken => "a bearer token is required",
            AuthError::MalformedCredentials(why) | AuthError::InvalidRequest(why) => why,
            AuthError::InvalidToken(e) => e.description(),
            AuthError::InsufficientScope => INSUFFICIENT_SCOPE,
            AuthError::InvalidPath(e) => e.description(),
        }
    }
}

const INSUFFICIENT_SCOPE: &str = "the token's role may not access this route";

/// `grpc-message`'s percent-encoding: every byte outside printable ASCII, and `%`.
fn grpc_message(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
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
                let why = INSUFFICIENT_SCOPE;
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
