//! Verification keys fetched from an issuer's JWKS (`/.well-known/jwks.json`), for
//! verify-only nodes of a fleet.
//!
//! The keys are cached. They are refetched every `refresh_every` (5 minutes by
//! default), and on demand when a token names a `kid` the cache does not hold — but at
//! most once per `min_refetch` (10 seconds by default), so forged `kid`s cannot make a
//! node hammer the issuer. When the issuer cannot be reached, the cached keys keep
//! working and the failure is logged.
//!
//! Only `http://` URLs are fetched by this build: put the issuer on a loopback or
//! private network address, or behind a TLS-terminating proxy on the node itself.
//! Symmetric (`oct`) keys in a JWKS are never used.
//!
//! ```no_run
//! use std::sync::Arc;
//! use axum::{Json, Router, routing::get};
//! use keycard::{AuthLayer, Claims, RemoteJwks, Rules, Verifier};
//!
//! # async fn run() -> Result<(), keycard::Error> {
//! let jwks = Arc::new(RemoteJwks::new("http://issuer.internal:8080/.well-known/jwks.json")?);
//! if let Err(e) = jwks.refresh().await {
//!     eprintln!("issuer not reachable yet: {e}"); // tokens are refused until it is
//! }
//! let _refresher = jwks.spawn_refresher();
//! let app: Router = AuthLayer::new(Verifier::from_jwks(jwks))
//!     .unless(Rules::new().public("/healthz")?)
//!     .wrap(Router::new().route("/me", get(|claims: Claims| async { Json(claims) })));
//! # Ok(()) }
//! ```

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{StatusCode, Uri};
use jsonwebtoken::jwk::JwkSet;

use crate::error::{Error, ErrorKind};
use crate::jwt::fetch::Source;
use crate::jwt::keys::VerifyingKey;

/// The largest JWKS document read, in bytes.
const MAX_JWKS_LEN: usize = 256 * 1024;

/// A JWKS URL and the keys last fetched from it.
pub struct RemoteJwks {
    source: Source,
    keys: RwLock<Arc<[VerifyingKey]>>,
    /// Bumped after each store of `keys`: what verified before a bump may have used a
    /// key that is gone.
    generation: std::sync::atomic::AtomicU64,
    last_attempt: Mutex<Option<Instant>>,
    fetching: tokio::sync::Mutex<()>,
    min_refetch: Duration,
    refresh_every: Duration,
}

impl RemoteJwks {
    /// How often the keys are refetched unless [`with_intervals`](Self::with_intervals)
    /// says otherwise: every five minutes.
    pub const DEFAULT_REFRESH: Duration = Duration::from_secs(300);
    /// The least time between two refetches caused by unknown `kid`s: ten seconds.
    pub const DEFAULT_MIN_REFETCH: Duration = Duration::from_secs(10);
}

impl std::fmt::Debug for RemoteJwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteJwks")
            .field("url", &self.source.url)
            .field("keys", &self.keys().len())
            .finish_non_exhaustive()
    }
}

/// Whom a discovery trusts over `https://`, beside the system's roots.
#[cfg(feature = "tls")]
type Trust = crate::tls::TlsClient;
#[cfg(not(feature = "tls"))]
type Trust = std::convert::Infallible;

fn fetch_error(why: impl Into<String>) -> Error {
    Error::new(ErrorKind::Io, why)
}

impl RemoteJwks {
    /// Keys from `url` (`http://host[:port]/path`, or `https://` with the `tls` feature,
    /// trusting the system's roots), not fetched yet: call
    /// [`refresh`](Self::refresh) or [`spawn_refresher`](Self::spawn_refresher).
    ///
    /// Defaults to a refresh every 5 minutes and at most one on-demand refetch per 10
    /// seconds.
    pub fn new(url: &str) -> Result<Self, Error> {
        Ok(Self {
            source: Source::parse(url, "JWKS URL")?,
            keys: RwLock::new(Arc::from(Vec::new())),
            generation: std::sync::atomic::AtomicU64::new(0),
            last_attempt: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
            min_refetch: Self::DEFAULT_MIN_REFETCH,
            refresh_every: Self::DEFAULT_REFRESH,
        })
    }

    /// The keys of the issuer named `issuer` (its `iss`), found by discovery: its
    /// metadata at `/.well-known/oauth-authorization-server` (RFC 8414), or else
    /// `/.well-known/openid-configuration`, is fetched now, its `issuer` must be exactly
    /// `issuer` (RFC 8414 §3.3: no mix-up with another issuer's document), and its
    /// `jwks_uri` must be on the same scheme. Over `https://` it trusts the system's
    /// roots (`discover_trusting`, with the `tls` feature, says whom else).
    pub async fn discover(issuer: &str) -> Result<Self, Error> {
        Self::discover_inner(issuer, None).await
    }

    /// [`discover`](Self::discover), trusting `tls` for the metadata and the JWKS.
    #[cfg(feature = "tls")]
    pub async fn discover_trusting(
        issuer: &str,
        tls: crate::tls::TlsClient,
    ) -> Result<Self, Error> {
        Self::discover_inner(issuer, Some(tls)).await
    }

    async fn discover_inner(issuer: &str, tls: Option<Trust>) -> Result<Self, Error> {
        let base = issuer.trim_end_matches('/');
        let mut last = None;
        for path in [
            "/.well-known/oauth-authorization-server",
            "/.well-known/openid-configuration",
        ] {
            #[allow(unused_mut)]
            let mut source = Source::parse(&format!("{base}{path}"), "--issuer-url")?;
            #[cfg(feature = "tls")]
            if let Some(tls) = &tls {
                source.set_tls(tls);
            }
            #[cfg(not(feature = "tls"))]
            if let Some(never) = &tls {
                match *never {}
            }
            let fetched = match source.get("application/json", None, MAX_JWKS_LEN).await {
                Ok(f) if f.status == StatusCode::OK => f,
                Ok(f) => {
                    last = Some(fetch_error(format!(
                        "{}: answered {}",
                        source.url, f.status
                    )));
                    continue;
                }
                Err(e) => return Err(e),
            };
            let doc: serde_json::Value = serde_json::from_slice(&fetched.body)
                .map_err(|e| fetch_error(format!("{}: not JSON: {e}", source.url)))?;
            let named = doc.get("issuer").and_then(|v| v.as_str());
            if named != Some(issuer) {
                return Err(fetch_error(format!(
                    "{}: names the issuer {:?}, not {issuer:?}",
                    source.url,
                    named.unwrap_or("")
                )));
            }
            let Some(jwks_uri) = doc.get("jwks_uri").and_then(|v| v.as_str()) else {
                return Err(fetch_error(format!(
                    "{}: no jwks_uri (an issuer with an HMAC secret publishes no keys)",
                    source.url
                )));
            };
            let scheme = |u: &str| u.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
            if scheme(jwks_uri) != scheme(issuer) {
                return Err(fetch_error(format!(
                    "{}: jwks_uri {jwks_uri} is not on the issuer's scheme",
                    source.url
                )));
            }
            #[allow(unused_mut)]
            let mut jwks = Self::new(jwks_uri)?;
            #[cfg(feature = "tls")]
            if let Some(tls) = tls {
                jwks = jwks.with_tls(tls);
            }
            return Ok(jwks);
        }
        Err(last.unwrap_or_else(|| fetch_error(format!("{issuer}: no metadata"))))
    }

    /// Trusts `tls` (a CA of your own, say) for an `https://` URL.
    #[cfg(feature = "tls")]
    pub fn with_tls(mut self, tls: crate::tls::TlsClient) -> Self {
        self.source.set_tls(&tls);
        self
    }

    /// Sets the periodic refresh interval and the least time between two on-demand
    /// refetches.
    pub fn with_intervals(mut self, refresh_every: Duration, min_refetch: Duration) -> Self {
        self.refresh_every = refresh_every;
        self.min_refetch = min_refetch;
        self
    }

    /// The URL.
    pub fn url(&self) -> &Uri {
        &self.source.url
    }

    pub(crate) fn source(&self) -> &Source {
        &self.source
    }

    /// How many times the keys were stored (see the verified-token cache).
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The keys now in the cache.
    pub fn keys(&self) -> Arc<[VerifyingKey]> {
        crate::sync::read(&self.keys).clone()
    }

    /// Fetches the keys now; on failure the cache is left as it was.
    pub async fn refresh(&self) -> Result<usize, Error> {
        let _one_at_a_time = self.fetching.lock().await;
        self.fetch_and_store().await
    }

    /// Fetches the keys for a token whose `kid` the cache lacks, unless a fetch was
    /// tried less than `min_refetch` ago. Requests arriving while a fetch runs wait for
    /// it instead of starting their own. Returns whether a fetch ran.
    pub async fn refresh_if_due(&self) -> bool {
        let _one_at_a_time = self.fetching.lock().await;
        let due = match self.last_attempt.lock() {
            Ok(t) => t.is_none_or(|t| t.elapsed() >= self.min_refetch),
            Err(_) => true,
        };
        if due && let Err(e) = self.fetch_and_store().await {
            tracing::warn!(url = %self.url(), error = %e, "JWKS refetch failed; keeping the cached keys");
        }
        due
    }

    async fn fetch_and_store(&self) -> Result<usize, Error> {
        let fetched = self.fetch_and_store_uncounted().await;
        crate::metrics::jwks_refresh(fetched.is_ok());
        fetched
    }

    async fn fetch_and_store_uncounted(&self) -> Result<usize, Error> {
        if let Ok(mut t) = self.last_attempt.lock() {
            *t = Some(Instant::now());
        }
        let body = self.fetch().await?;
        let set: JwkSet = serde_json::from_slice(&body)
            .map_err(|e| fetch_error(format!("{}: not a JWK set: {e}", self.url())))?;
        let mut keys = Vec::new();
        for jwk in &set.keys {
            match VerifyingKey::from_jwk(jwk) {
                Ok(k) => keys.push(k),
                Err(e) => {
                    tracing::warn!(url = %self.url(), kid = ?jwk.common.key_id, error = %e, "JWK skipped")
                }
            }
        }
        let n = keys.len();
        let fresh: Arc<[VerifyingKey]> = Arc::from(keys);
        *crate::sync::write(&self.keys) = fresh;
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::Release);
        tracing::debug!(url = %self.url(), keys = n, "JWKS fetched");
        Ok(n)
    }

    async fn fetch(&self) -> Result<Bytes, Error> {
        let fetched = self
            .source
            .get("application/json", None, MAX_JWKS_LEN)
            .await?;
        if fetched.status != StatusCode::OK {
            return Err(fetch_error(format!(
                "{}: answered {}",
                self.url(),
                fetched.status
            )));
        }
        Ok(fetched.body)
    }

    /// Refetches every `refresh_every` (every `min_refetch` while it holds no key), for as
    /// long as the returned task runs.
    pub fn spawn_refresher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let jwks = Arc::downgrade(self);
        let (every, retry) = (self.refresh_every, self.min_refetch);
        tokio::spawn(async move {
            // The caller fetched at start; the next refresh is one interval later, or
            // one refetch interval while no key is held yet (the issuer was down at
            // start): a node must not wait minutes for its first keys.
            while let Some(held) = jwks.upgrade().map(|j| j.keys().len()) {
                tokio::time::sleep(if held == 0 { retry } else { every }).await;
                let Some(jwks) = jwks.upgrade() else { break };
                match jwks.refresh().await {
                    Ok(n) => tracing::info!(url = %jwks.url(), keys = n, "JWKS refreshed"),
                    Err(e) => {
                        tracing::error!(error = %e, "JWKS refresh failed; keeping the cached keys")
                    }
                }
            }
        })
    }
}
