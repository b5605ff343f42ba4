//! Prometheus metrics: what the auth layer is doing, for an operator's scrape.
//!
//! Keycard records into the process's one [`Metrics`] once [`Metrics::install`] has run
//! (`keycard serve --metrics-listen`); until then, and in a build without the `metrics`
//! feature, each recording point costs one atomic load and nothing else. The same
//! process-wide design as `tracing`'s dispatcher: the verifier, the token endpoint, the
//! hashing pool, the JWKS and the revocation feed all record without a handle threaded
//! through each of them.
//!
//! The crate is `prometheus-client`, the Prometheus project's own Rust client: pure Rust,
//! four small dependencies (no HTTP server, no push gateway, no C), and both exposition
//! formats (OpenMetrics and the classic text format 0.0.4).
//!
//! Every label value is one of a fixed set written in this crate: never a username, a
//! path, a token or an address.
//!
//! ```
//! # #[cfg(feature = "metrics")] {
//! let metrics = keycard::metrics::Metrics::install();
//! let text = metrics.encode(keycard::metrics::Format::Prometheus);
//! assert!(text.contains("keycard_build_info"));
//! # }
//! ```

#[cfg(all(feature = "metrics", feature = "server"))]
mod http;
#[cfg(feature = "metrics")]
mod process;
#[cfg(feature = "metrics")]
mod registry;

#[cfg(all(feature = "metrics", feature = "server"))]
pub(crate) use http::RequestMetricsLayer;
#[cfg(all(feature = "metrics", feature = "server"))]
pub use http::{METRICS_PATH, router};
#[cfg(feature = "metrics")]
pub use registry::{Format, Metrics};

use crate::jwt::verifier::TokenError;

#[cfg(feature = "metrics")]
use registry::installed;

/// A token verification: `None` when valid, else why it was refused.
#[inline]
pub(crate) fn verification(refused: Option<&TokenError>) {
    #[cfg(feature = "metrics")]
    if let Some(m) = installed() {
        m.verification(refused);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = refused;
}

/// An audit event (`login.success`, `login.failure` with its reason, `token.refresh`, …):
/// the audit log and the counters say the same thing because they are recorded together.
#[allow(dead_code)] // without the login feature, nothing audits
#[inline]
pub(crate) fn event(name: &'static str, reason: &'static str) {
    #[cfg(feature = "metrics")]
    if let Some(m) = installed() {
        m.event(name, reason);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (name, reason);
}

/// A login joined (`+1`) or left (`-1`) the hashing queue.
#[allow(dead_code)] // without the login feature, nothing hashes
#[inline]
pub(crate) fn hash_queue(delta: i64) {
    #[cfg(feature = "metrics")]
    if let Some(m) = installed() {
        m.hash_queue(delta);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = delta;
}

/// A remote JWKS fetch, successful or not.
#[allow(dead_code)] // without the remote-jwks feature, nothing fetches
#[inline]
pub(crate) fn jwks_refresh(ok: bool) {
    #[cfg(feature = "metrics")]
    if let Some(m) = installed() {
        m.jwks_refresh(ok);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = ok;
}

/// A revocation-feed poll: `updated`, `unchanged` or `failure`; `signed_at` is the
/// issuer's time on the newest document held after it.
#[allow(dead_code)] // without the server feature, nothing polls
#[inline]
pub(crate) fn feed_refresh(outcome: &'static str, signed_at: u64) {
    #[cfg(feature = "metrics")]
    if let Some(m) = installed() {
        m.feed_refresh(outcome, signed_at);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (outcome, signed_at);
}

/// An upstream's answer in gateway mode (`None`: it could not be reached or timed out)
/// and how long it took to its response head.
#[allow(dead_code)] // without the server feature, nothing forwards
#[inline]
pub(crate) fn upstream(status: Option<::http::StatusCode>, took: std::time::Duration) {
    #[cfg(feature = "metrics")]
    if let Some(m) = installed() {
        m.upstream(status, took);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (status, took);
}

#[cfg(test)]
#[cfg(feature = "metrics")]
mod tests;
