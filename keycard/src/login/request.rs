//! What a `/token` or `/revoke` body says: its content type, the JSON or form body
//! within its size limit, and the grant it asks for.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::login::body::read_limited;
use crate::server::errors::json_error;

use super::endpoint::{MAX_TOKEN_BODY, bad_request};

#[derive(Deserialize)]
struct Credentials {
    #[serde(default)]
    grant_type: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
}
pub(crate) enum BodyKind {
    Json,
    Form,
}

pub(crate) fn body_kind(headers: &HeaderMap) -> Option<BodyKind> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = ct.split(';').next()?.trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Some(BodyKind::Json)
    } else if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        Some(BodyKind::Form)
    } else {
        None
    }
}
/// The body of `/token` or `/revoke`: JSON or a form (else 415), at most
/// [`MAX_TOKEN_BODY`] bytes (else 413).
pub(super) async fn read_body(
    headers: &HeaderMap,
    body: Body,
) -> Result<(BodyKind, bytes::Bytes), Response> {
    let Some(kind) = body_kind(headers) else {
        return Err(json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send application/json or application/x-www-form-urlencoded",
        ));
    };
    let bytes = read_limited(headers, body, MAX_TOKEN_BODY).await?;
    Ok((kind, bytes))
}

/// What a `/token` body asks for.
pub(crate) enum Grant {
    /// `grant_type=password` (or none): a login.
    Password {
        username: String,
        password: Zeroizing<String>,
    },
    /// `grant_type=refresh_token`: a new access token for a refresh token.
    Refresh { token: Zeroizing<String> },
}

/// Why a `/token` body was refused: each a 400 with a fixed description.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyError {
    Json,
    Form,
    GrantType,
    Missing,
    MissingRefresh,
}

impl IntoResponse for BodyError {
    fn into_response(self) -> Response {
        match self {
            BodyError::Json => bad_request("the body is not a JSON object of strings"),
            BodyError::Form => bad_request("the body is not a valid form"),
            BodyError::GrantType => json_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only grant_type=password is supported",
            ),
            BodyError::Missing => bad_request("username and password are required"),
            BodyError::MissingRefresh => bad_request("refresh_token is required"),
        }
    }
}

/// The grant a `/token` body asks for.
/// A JSON body read as a struct only when it is an object: serde would also read a
/// struct from an array of its fields in order (`["refresh_token", …]`).
pub(super) fn json_object<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return None;
    }
    serde_json::from_slice(bytes).ok()
}

pub(crate) fn parse_body(kind: BodyKind, bytes: &[u8]) -> Result<Grant, BodyError> {
    let creds: Credentials = match kind {
        BodyKind::Json => json_object(bytes).ok_or(BodyError::Json)?,
        BodyKind::Form => serde_urlencoded::from_bytes(bytes).map_err(|_| BodyError::Form)?,
    };
    match creds.grant_type.as_deref() {
        None | Some("password") => match (creds.username, creds.password.map(Zeroizing::new)) {
            (Some(username), Some(password)) => Ok(Grant::Password { username, password }),
            _ => Err(BodyError::Missing),
        },
        Some("refresh_token") => creds
            .refresh_token
            .map(|token| Grant::Refresh {
                token: Zeroizing::new(token),
            })
            .ok_or(BodyError::MissingRefresh),
        Some(_) => Err(BodyError::GrantType),
    }
}
