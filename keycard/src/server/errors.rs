//! The JSON error body every Keycard error response carries.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

/// `{"error": code, "error_description": description}` with `status`.
///
/// `code` and `description` are fixed public strings: never an internal error's text.
pub(crate) fn json_error(status: StatusCode, code: &str, description: &str) -> Response {
    let body = serde_json::to_vec(&ErrorBody {
        error: code,
        error_description: description,
    })
    .unwrap_or_default();
    let mut res = (status, body).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// 404 `not_found`, the router's fallback.
pub async fn not_found() -> Response {
    json_error(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// 405 `method_not_allowed`, the router's fallback for a known path.
pub async fn method_not_allowed() -> Response {
    json_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this route",
    )
}

/// 503 `temporarily_unavailable` with `Retry-After`.
#[cfg(feature = "login")]
pub(crate) fn unavailable(retry_after_secs: u64, description: &str) -> Response {
    let mut res = json_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        description,
    );
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    res
}
