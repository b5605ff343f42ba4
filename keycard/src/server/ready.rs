//! Readiness, apart from liveness: `/healthz` says the process answers; `/readyz` says it
//! can do its job now — 200 `{"status":"ready"}`, or 503 `not_ready` naming the first
//! check that failed (a fixed phrase: the details go to the log, not to whoever probes).
//!
//! ```
//! use keycard::server::Readiness;
//!
//! let ready = Readiness::new().check("users", || async { Ok(()) });
//! # let _ = ready;
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use crate::server::errors::json_error;

/// How long one check may take before it counts as failed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

type Check =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), &'static str>> + Send>> + Send + Sync>;

/// The checks `/readyz` runs, in order; none means always ready.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<(&'static str, Check)>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.checks.iter().map(|(n, _)| *n).collect();
        f.debug_struct("Readiness").field("checks", &names).finish()
    }
}

impl Readiness {
    /// No checks yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a check named `name`: `Err(reason)` (a fixed phrase, shown to the prober)
    /// when the node cannot do its job; it has [`CHECK_TIMEOUT`] to answer.
    pub fn check<F, Fut>(mut self, name: &'static str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), &'static str>> + Send + 'static,
    {
        self.checks
            .push((name, Arc::new(move || Box::pin(check()) as Pin<Box<_>>)));
        self
    }

    /// The names of the checks, in order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.checks.iter().map(|(n, _)| *n)
    }

    /// Runs every check; the first failure, as `(check, reason)`.
    pub async fn judge(&self) -> Result<(), (&'static str, &'static str)> {
        for (name, check) in &self.checks {
            match tokio::time::timeout(CHECK_TIMEOUT, check()).await {
                Ok(Ok(())) => {}
                Ok(Err(reason)) => return Err((name, reason)),
                Err(_) => return Err((name, "did not answer in time")),
            }
        }
        Ok(())
    }
}

/// `GET /readyz`.
pub(crate) async fn readyz(ready: Arc<Readiness>) -> Response {
    match ready.judge().await {
        Ok(()) => {
            let mut res = r#"{"status":"ready"}"#.into_response();
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            res
        }
        Err((name, reason)) => {
            tracing::warn!(check = name, reason, "not ready");
            let mut res = json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                &format!("{name}: {reason}"),
            );
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            res
        }
    }
}
