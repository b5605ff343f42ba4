//! WebSockets through the gateway: a request that asks to upgrade to `websocket`, once
//! allowed like any other, goes to the upstream with its `Upgrade`; when the upstream
//! switches protocols too, the two connections are bridged both ways until either
//! closes, or Keycard shuts down.
//!
//! Only `websocket` is carried: any other `Upgrade` (`h2c`, say) is a hop-by-hop header
//! like the rest, and removed.

use http::header::{self, HeaderValue};
use http::{HeaderMap, Method, Version};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use crate::server::serve::{Tunnel, stopped};

/// Whether `headers` (of a request, or of an upstream's `101 Switching Protocols`) ask
/// for a WebSocket: `Connection: upgrade` and `Upgrade: websocket`, under any case.
pub(crate) fn asks_websocket(headers: &HeaderMap) -> bool {
    let has = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    has(header::CONNECTION, "upgrade") && has(header::UPGRADE, "websocket")
}

/// A WebSocket opening handshake (RFC 6455 §4.1: an HTTP/1.1 `GET`) on a connection
/// that can be upgraded.
pub(crate) fn websocket_request(method: &Method, version: Version, headers: &HeaderMap) -> bool {
    method == Method::GET && version == Version::HTTP_11 && asks_websocket(headers)
}

/// Puts back the two hop-by-hop headers a WebSocket handshake needs on the next hop.
pub(crate) fn ask_websocket(headers: &mut HeaderMap) {
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
}

/// Bridges the client's upgraded connection and the upstream's until either side
/// closes or the server stops; then gives the connection's slot back.
pub(crate) async fn bridge(client: OnUpgrade, upstream: OnUpgrade, tunnel: Tunnel) {
    let Tunnel { slot, mut stop } = tunnel;
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(both) => both,
        Err(e) => {
            tracing::debug!(error = %e, "a WebSocket upgrade failed");
            return;
        }
    };
    let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
    tokio::select! {
        copied = tokio::io::copy_bidirectional(&mut client, &mut upstream) => match copied {
            Ok((up, down)) => tracing::debug!(up, down, "WebSocket closed"),
            Err(e) => tracing::debug!(error = %e, "WebSocket ended with an error"),
        },
        () = stopped(&mut stop) => tracing::debug!("WebSocket closed at shutdown"),
    }
    drop(slot);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_websocket_handshakes_are_upgrades() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        h.insert(header::UPGRADE, HeaderValue::from_static("WebSocket"));
        assert!(websocket_request(&Method::GET, Version::HTTP_11, &h));
        assert!(!websocket_request(&Method::POST, Version::HTTP_11, &h));
        assert!(!websocket_request(&Method::GET, Version::HTTP_10, &h));
        h.insert(header::UPGRADE, HeaderValue::from_static("h2c"));
        assert!(!websocket_request(&Method::GET, Version::HTTP_11, &h));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.remove(header::CONNECTION);
        assert!(!websocket_request(&Method::GET, Version::HTTP_11, &h));
    }
}
