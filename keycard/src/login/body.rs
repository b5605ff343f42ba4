//! Reading a bounded request body.

use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode, header};
use http_body_util::BodyExt;

use crate::server::errors::json_error;

/// How much past the limit is read and thrown away before answering 413, so that a
/// client that sent a body just over the limit reads the 413 rather than a connection
/// reset (closing a socket with unread data makes the kernel send RST).
const DRAIN_MAX: usize = 64 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(2);

pub(crate) fn too_large(limit: usize) -> Response {
    json_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "request_too_large",
        &format!("the body is larger than {limit} bytes"),
    )
}

/// Reads at most `limit` bytes of `body`, or answers 413 / 400.
pub(crate) async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, Response> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > (limit + DRAIN_MAX) as u64) {
        return Err(too_large(limit));
    }
    let mut body = body;
    let mut buf = BytesMut::new();
    loop {
        match body.frame().await {
            None => return Ok(buf.freeze()),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    if buf.len() + data.len() > limit {
                        drain(body, buf.len() + data.len()).await;
                        return Err(too_large(limit));
                    }
                    buf.extend_from_slice(&data);
                }
            }
            Some(Err(_)) => {
                return Err(json_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "the request body could not be read",
                ));
            }
        }
    }
}

async fn drain(mut body: Body, mut seen: usize) {
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while seen <= DRAIN_MAX {
            match body.frame().await {
                Some(Ok(frame)) => seen += frame.data_ref().map_or(0, |d| d.len()),
                _ => break,
            }
        }
    })
    .await;
}
