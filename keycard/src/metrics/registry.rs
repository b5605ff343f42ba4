//! The process's one [`Metrics`]: the families, their fixed label values, and the
//! encoding of a scrape.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::clock::{Clock, SystemClock};
use crate::jwt::verifier::TokenError;

static METRICS: OnceLock<Metrics> = OnceLock::new();

/// The installed metrics, if any.
#[inline]
pub(super) fn installed() -> Option<&'static Metrics> {
    METRICS.get()
}

/// One label.
type Label = [(&'static str, &'static str); 1];
/// Two labels.
type Labels2 = [(&'static str, &'static str); 2];
type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Request and upstream durations: from half a millisecond (a verified request) to ten
/// seconds (a login queued behind others), in seconds.
const DURATION_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// How a scrape is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The classic Prometheus text format, version 0.0.4 (`text/plain`).
    Prometheus,
    /// OpenMetrics 1.0 text (`application/openmetrics-text`), which Prometheus asks for.
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` of a scrape in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// Every metric Keycard keeps (see the README's "Operating Keycard" for the list).
pub struct Metrics {
    registry: Registry,
    logins: Family<Label, Counter>,
    /// Index 0: valid; then one per [`TokenError::ALL`], resolved once so that the
    /// verify path pays one atomic add.
    verifications: Vec<Counter>,
    refreshes: Family<Label, Counter>,
    revocations: Family<Label, Counter>,
    hash_queue: Gauge,
    jwks_refreshes: Family<Label, Counter>,
    feed_refreshes: Family<Label, Counter>,
    /// 1xx to 5xx, then "unreachable".
    upstream_responses: Vec<Counter>,
    upstream_duration: Histogram,
    #[cfg_attr(not(feature = "server"), allow(dead_code))] // timed by the server's layer
    pub(super) requests: Histograms<Labels2>,
    ages: std::sync::Arc<Ages>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// What is computed at scrape time: the age of the data in use, and the process.
#[derive(Debug, Default)]
struct Ages {
    /// When the JWKS was last fetched, in seconds since the epoch; 0 before.
    jwks_fetched_at: AtomicU64,
    /// The issuer's time on the newest revocation document held; 0 before.
    feed_signed_at: AtomicU64,
    started_at: u64,
}

/// The class of an HTTP status: `2xx`, `4xx`, ….
#[cfg_attr(not(feature = "server"), allow(dead_code))]
pub(super) fn status_class(status: http::StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

impl Metrics {
    /// Installs the process's metrics (once; later calls return the same ones) and
    /// starts recording.
    pub fn install() -> &'static Metrics {
        METRICS.get_or_init(Metrics::new)
    }

    /// The installed metrics, if [`install`](Self::install) has run.
    pub fn get() -> Option<&'static Metrics> {
        installed()
    }

    fn new() -> Self {
        let mut registry = Registry::default();
        let build: Family<Labels2, Gauge> = Family::default();
        build
            .get_or_create(&[
                ("version", env!("CARGO_PKG_VERSION")),
                ("features", FEATURES),
            ])
            .set(1);
        registry.register(
            "keycard_build_info",
            "Keycard's version and cargo features; always 1",
            build,
        );

        let logins = Family::<Label, Counter>::default();
        // The outcomes an operator alerts on exist from the start, at zero, so that
        // `rate()` has a series before the first failure.
        for outcome in [
            "success",
            "invalid_grant",
            "rate_limited_user",
            "queue_full",
        ] {
            drop(logins.get_or_create(&[("outcome", outcome)]));
        }
        registry.register(
            "keycard_logins",
            "Password logins at POST /token, by outcome",
            logins.clone(),
        );

        let verifications_family = Family::<Labels2, Counter>::default();
        let mut verifications = vec![
            verifications_family
                .get_or_create(&[("outcome", "valid"), ("reason", "none")])
                .clone(),
        ];
        for e in TokenError::ALL {
            verifications.push(
                verifications_family
                    .get_or_create(&[("outcome", "refused"), ("reason", e.code())])
                    .clone(),
            );
        }
        registry.register(
            "keycard_token_verifications",
            "Access-token verifications, by outcome and refusal reason",
            verifications_family,
        );

        let refreshes = Family::<Label, Counter>::default();
        for outcome in ["rotated", "reused"] {
            drop(refreshes.get_or_create(&[("outcome", outcome)]));
        }
        registry.register(
            "keycard_token_refreshes",
            "Refresh-token grants: rotated, reused (the session is then revoked), or refused",
            refreshes.clone(),
        );
        let revocations = Family::<Label, Counter>::default();
        registry.register(
            "keycard_revocations",
            "Tokens revoked at /revoke, by the kind of token presented",
            revocations.clone(),
        );

        let hash_queue = Gauge::default();
        registry.register(
            "keycard_password_hash_queue_depth",
            "Logins waiting for a password-hashing slot",
            hash_queue.clone(),
        );

        let jwks_refreshes = Family::<Label, Counter>::default();
        registry.register(
            "keycard_jwks_refreshes",
            "Fetches of the issuer's JWKS on a verify-only node, by outcome",
            jwks_refreshes.clone(),
        );
        let feed_refreshes = Family::<Label, Counter>::default();
        registry.register(
            "keycard_revocation_feed_refreshes",
            "Polls of the issuer's revocation feed, by outcome",
            feed_refreshes.clone(),
        );

        let upstream_family = Family::<Label, Counter>::default();
        let upstream_responses = ["1xx", "2xx", "3xx", "4xx", "5xx", "unreachable"]
            .into_iter()
            .map(|class| upstream_family.get_or_create(&[("class", class)]).clone())
            .collect();
        registry.register(
            "keycard_upstream_responses",
            "Gateway mode: the upstream's answers by status class, or unreachable (502/504)",
            upstream_family,
        );
        let upstream_duration = duration_histogram();
        registry.register_with_unit(
            "keycard_upstream_duration",
            "Gateway mode: time to the upstream's response head",
            Unit::Seconds,
            upstream_duration.clone(),
        );

        let requests: Histograms<Labels2> =
            Family::new_with_constructor(duration_histogram as fn() -> Histogram);
        registry.register_with_unit(
            "keycard_http_request_duration",
            "Requests on the public listener, by route group and status class",
            Unit::Seconds,
            requests.clone(),
        );

        let ages = std::sync::Arc::new(Ages {
            started_at: SystemClock.now(),
            ..Ages::default()
        });
        registry.register_collector(Box::new(ages.clone()));

        Self {
            registry,
            logins,
            verifications,
            refreshes,
            revocations,
            hash_queue,
            jwks_refreshes,
            feed_refreshes,
            upstream_responses,
            upstream_duration,
            requests,
            ages,
        }
    }

    /// A scrape: every metric, in `format`.
    pub fn encode(&self, format: Format) -> String {
        let mut out = String::with_capacity(8 * 1024);
        // Writing to a String cannot fail.
        let _ = match format {
            Format::Prometheus => {
                prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
            }
            Format::OpenMetrics => {
                prometheus_client::encoding::text::encode(&mut out, &self.registry)
            }
        };
        out
    }

    pub(super) fn verification(&self, refused: Option<&TokenError>) {
        let index = match refused {
            None => 0,
            Some(e) => TokenError::ALL
                .iter()
                .position(|x| x == e)
                .map_or(0, |i| i + 1),
        };
        if let Some(c) = self.verifications.get(index) {
            c.inc();
        }
    }

    pub(super) fn event(&self, name: &'static str, reason: &'static str) {
        let (family, label, value) = match (name, reason) {
            ("login.success", _) => (&self.logins, "outcome", "success"),
            ("login.failure", reason) => (&self.logins, "outcome", reason),
            ("token.refresh", _) => (&self.refreshes, "outcome", "rotated"),
            ("token.refresh_reused", _) => (&self.refreshes, "outcome", "reused"),
            ("token.refresh_failure", reason) => (&self.refreshes, "outcome", reason),
            ("token.revoke", kind) => (&self.revocations, "kind", kind),
            _ => return,
        };
        family.get_or_create(&[(label, value)]).inc();
    }

    pub(super) fn hash_queue(&self, delta: i64) {
        self.hash_queue.inc_by(delta);
    }

    pub(super) fn jwks_refresh(&self, ok: bool) {
        let outcome = if ok { "success" } else { "failure" };
        self.jwks_refreshes
            .get_or_create(&[("outcome", outcome)])
            .inc();
        if ok {
            self.ages
                .jwks_fetched_at
                .store(SystemClock.now(), Ordering::Relaxed);
        }
    }

    pub(super) fn feed_refresh(&self, outcome: &'static str, signed_at: u64) {
        self.feed_refreshes
            .get_or_create(&[("outcome", outcome)])
            .inc();
        self.ages
            .feed_signed_at
            .fetch_max(signed_at, Ordering::Relaxed);
    }

    pub(super) fn upstream(&self, status: Option<http::StatusCode>, took: Duration) {
        let index = match status.map(|s| s.as_u16() / 100) {
            Some(c @ 1..=5) => usize::from(c) - 1,
            _ => 5,
        };
        if let Some(c) = self.upstream_responses.get(index) {
            c.inc();
        }
        self.upstream_duration.observe(took.as_secs_f64());
    }
}

/// The cargo features this build of the library has, for `keycard_build_info`.
const FEATURES: &str = match (cfg!(feature = "server"), cfg!(feature = "postgres")) {
    (true, true) => "metrics,server,postgres",
    (true, false) => "metrics,server",
    (false, true) => "metrics,postgres",
    (false, false) => "metrics",
};

impl Collector for Ages {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let now = SystemClock.now();
        let mut gauge = |name: &str, help: &str, unit: Option<Unit>, value: f64| {
            let g = ConstGauge::new(value);
            let metric = encoder.encode_descriptor(name, help, unit.as_ref(), g.metric_type())?;
            g.encode(metric)
        };
        let since = |at: &AtomicU64| match at.load(Ordering::Relaxed) {
            0 => None,
            t => Some(now.saturating_sub(t) as f64),
        };
        if let Some(age) = since(&self.jwks_fetched_at) {
            gauge(
                "keycard_jwks_age",
                "Time since the verification keys in use were fetched from the issuer",
                Some(Unit::Seconds),
                age,
            )?;
        }
        if let Some(age) = since(&self.feed_signed_at) {
            gauge(
                "keycard_revocation_feed_age",
                "Age of the newest revocation list the issuer signed that this node holds",
                Some(Unit::Seconds),
                age,
            )?;
        }
        gauge(
            "process_start_time",
            "Start time of the process since the Unix epoch",
            Some(Unit::Seconds),
            self.started_at as f64,
        )?;
        if let Some(rss) = super::process::resident_bytes() {
            gauge(
                "process_resident_memory",
                "Resident memory size",
                Some(Unit::Bytes),
                rss as f64,
            )?;
        }
        if let Some(fds) = super::process::open_fds() {
            gauge(
                "process_open_fds",
                "Number of open file descriptors",
                None,
                fds as f64,
            )?;
        }
        Ok(())
    }
}
