//! The revocation feed: how an issuer's revocations reach verify-only nodes that hold no
//! database credentials and no token store.
//!
//! An issuer publishes its live revocations at [`FEED_PATH`], beside its JWKS, as one
//! small document signed with its signing key — a JWS whose header `typ` is
//! [`FEED_TYPE`], so that it can never be taken for an access token, nor an access token
//! for it. A node verifies it with the keys it already trusts (the issuer's JWKS), so a
//! cache or CDN in between can delay the document but not forge or edit it. The
//! document lists every revoked token id and session until the tokens it covers expire,
//! and each per-user cut-off for as long as a token issued before it could still verify
//! (the maximum lifetime plus the leeway).
//!
//! Usernames appear only as salted SHA-256 keys (`name_key`), so the public feed is not a
//! list of users; a guess can still be checked against it, so where usernames are
//! secret, serve the feed to the nodes only (a rule at the front proxy, a private
//! network).
//!
//! The issuer re-signs the document whenever it changes, and at least every [`REISSUE`];
//! a node polls it every [`RevocationFeed::DEFAULT_REFRESH`] with `If-None-Match`, so an
//! unchanged feed costs a 304. Every answer, 200 or 304, also carries a small signed
//! proof in [`CURRENT_HEADER`]: "at `iat`, my current document is the one of this ETag"
//! (a JWS of `typ` [`CURRENT_TYPE`], re-signed at most once a second). A node merges each
//! document into what it holds (a replayed older one takes nothing away) and judges
//! freshness by the signed times alone, never by a bare 304, which any cache can send:
//! when the newest proof is older than the staleness bound
//! ([`RevocationFeed::DEFAULT_MAX_STALE`]) the node no longer knows what is revoked, and
//! it refuses every token until a fresh answer arrives (fail closed; a bound of zero keeps
//! the last list instead, and logs).
//!
//! ```no_run
//! use std::sync::Arc;
//! use keycard::{RemoteJwks, Verifier};
//! use keycard::jwt::RevocationFeed;
//!
//! # async fn run() -> Result<(), keycard::Error> {
//! let jwks = Arc::new(RemoteJwks::new("http://issuer.internal:8080/.well-known/jwks.json")?);
//! let feed = Arc::new(RevocationFeed::beside(jwks.clone())?);
//! let _ = (jwks.refresh().await, feed.refresh().await);
//! let _tasks = (jwks.spawn_refresher(), feed.spawn_poller());
//! let verifier = Verifier::from_jwks(jwks).with_revocations(feed);
//! # Ok(()) }
//! ```

// An issuer (feature login) signs documents, a node (remote-jwks) reads them.
#![cfg_attr(not(all(feature = "login", feature = "remote-jwks")), allow(dead_code))]

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};
use crate::jwt::issuer::Issuer;
use crate::jwt::revocations::Listed;

/// Where an issuer publishes its revocations.
pub const FEED_PATH: &str = "/.well-known/keycard-revocations";

/// The header `typ` of a revocation feed document.
pub const FEED_TYPE: &str = "keycard-revocations+jwt";

/// The media type it is served as.
pub const FEED_MEDIA_TYPE: &str = "application/keycard-revocations+jwt";

/// The issuer re-signs the document at least this often, even unchanged.
pub const REISSUE: std::time::Duration = std::time::Duration::from_secs(60);

/// The response header holding the signed proof that the document of an ETag is the
/// issuer's current one.
pub const CURRENT_HEADER: &str = "keycard-revocations-current";

/// The header `typ` of that proof.
pub const CURRENT_TYPE: &str = "keycard-revocations-current+jwt";

/// The claims of the proof in [`CURRENT_HEADER`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Current {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) iss: Option<String>,
    /// When the issuer said so.
    pub(crate) iat: u64,
    /// The ETag of its document then.
    pub(crate) etag: String,
}

/// How a username appears in the feed: base64url of SHA-256 over a domain string, the
/// issuer's `iss` and the name; the first 128 bits.
pub(crate) fn name_key(iss: Option<&str>, name: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(b"keycard revocation feed v1\0");
    h.update(iss.unwrap_or("").as_bytes());
    h.update(b"\0");
    h.update(name.as_bytes());
    let digest = h.finalize();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.get(..16).unwrap_or(&[]))
}

/// The claims of a feed document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Document {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) iss: Option<String>,
    /// When the issuer signed it: the revocations as of then.
    pub(crate) iat: u64,
    pub(crate) revoked: Listed,
}

/// Signs `claims` as a JWS of type `typ` with `issuer`'s key.
fn sign_typed(issuer: &Issuer, typ: &str, claims: &impl Serialize) -> Result<String, Error> {
    let key = issuer.key();
    let mut header = jsonwebtoken::Header::new(key.algorithm().jwt());
    header.typ = Some(typ.to_owned());
    header.kid = key.key_id().map(str::to_owned);
    key.sign(&header, claims)
        .map_err(|e| Error::new(ErrorKind::Signing, format!("the revocation feed: {e}")))
}

/// The proof that `etag` is the current document, as of now.
pub(crate) fn sign_current(issuer: &Issuer, etag: &str) -> Result<(String, u64), Error> {
    let iat = issuer.now();
    let current = Current {
        iss: issuer.issuer_name().map(str::to_owned),
        iat,
        etag: etag.to_owned(),
    };
    Ok((sign_typed(issuer, CURRENT_TYPE, &current)?, iat))
}

/// Signs `revoked` as a feed document with `issuer`'s key, `iss` and clock.
pub(crate) fn sign(issuer: &Issuer, mut revoked: Listed) -> Result<(String, u64), Error> {
    let iat = issuer.now();
    let iss = issuer.issuer_name();
    revoked.cutoffs = std::mem::take(&mut revoked.cutoffs)
        .into_iter()
        .map(|(name, cutoff)| (name_key(iss, &name), cutoff))
        .collect();
    let document = Document {
        iss: iss.map(str::to_owned),
        iat,
        revoked,
    };
    Ok((sign_typed(issuer, FEED_TYPE, &document)?, iat))
}

#[cfg(feature = "remote-jwks")]
pub use subscriber::{Refreshed, RevocationFeed};

#[cfg(feature = "remote-jwks")]
mod subscriber {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use http::StatusCode;

    use super::{
        CURRENT_HEADER, CURRENT_TYPE, Current, Document, FEED_MEDIA_TYPE, FEED_PATH, FEED_TYPE,
        name_key,
    };
    use crate::clock::{Clock, SystemClock};
    use crate::error::{Error, ErrorKind};
    use crate::jwt::RemoteJwks;
    use crate::jwt::claims::Claims;
    use crate::jwt::fetch::{Fetched, Source};
    use crate::jwt::jws::{Type, verify_typed};
    use crate::jwt::revocations::Revocations;
    use crate::jwt::verifier::{DEFAULT_LEEWAY, RevocationCheck, TokenError};

    /// The largest feed document read: 8 MiB (some 150,000 revocations).
    const MAX_FEED_LEN: usize = 8 * 1024 * 1024;

    /// A verify-only node's copy of an issuer's revocations, polled from its feed and
    /// verified with its JWKS (see the [module docs](super)).
    pub struct RevocationFeed {
        source: Source,
        jwks: Arc<RemoteJwks>,
        issuer: Option<String>,
        clock: Arc<dyn Clock>,
        leeway: u64,
        refresh_every: Duration,
        max_stale: Option<Duration>,
        pub(super) revocations: Revocations,
        /// The `iat` of the newest document verified; 0 before the first.
        newest: AtomicU64,
        /// Whether the last check found the feed stale (to log the change once).
        stale: AtomicBool,
        etag: Mutex<Option<String>>,
        /// The `iss` the documents name (the salt of their name keys).
        document_iss: std::sync::RwLock<Option<String>>,
    }

    impl std::fmt::Debug for RevocationFeed {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("RevocationFeed")
                .field("url", &self.source.url)
                .field("newest", &self.newest.load(Ordering::Relaxed))
                .finish_non_exhaustive()
        }
    }

    /// What a [`RevocationFeed::refresh`] found.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Refreshed {
        /// A new document, with this many entries.
        Document(usize),
        /// The issuer answered 304: the document held is current.
        Unchanged,
    }

    impl RevocationFeed {
        /// How often the feed is polled by default: every five seconds.
        pub const DEFAULT_REFRESH: Duration = Duration::from_secs(5);

        /// How old the newest document may be before the node stops trusting its list:
        /// ten minutes. Long enough to ride out an issuer's restart or a short network
        /// fault without refusing anyone (a healthy issuer re-signs every minute), short
        /// enough that a token revoked during a longer outage stops working within it.
        pub const DEFAULT_MAX_STALE: Duration = Duration::from_secs(600);

        /// The feed at `url`, verified with `jwks`'s keys; not fetched yet. Over
        /// `https://`, it trusts whom `jwks` trusts.
        pub fn new(url: &str, jwks: Arc<RemoteJwks>) -> Result<Self, Error> {
            #[allow(unused_mut)]
            let mut source = Source::parse(url, "revocation feed URL")?;
            #[cfg(feature = "tls")]
            source.trust_as(jwks.source());
            Ok(Self {
                source,
                jwks,
                issuer: None,
                clock: Arc::new(SystemClock),
                leeway: DEFAULT_LEEWAY.as_secs(),
                refresh_every: Self::DEFAULT_REFRESH,
                max_stale: Some(Self::DEFAULT_MAX_STALE),
                revocations: Revocations::default(),
                newest: AtomicU64::new(0),
                stale: AtomicBool::new(false),
                etag: Mutex::new(None),
                document_iss: std::sync::RwLock::new(None),
            })
        }

        /// The feed on the same origin as `jwks`, at [`FEED_PATH`].
        pub fn beside(jwks: Arc<RemoteJwks>) -> Result<Self, Error> {
            let url = jwks.source().sibling(FEED_PATH)?.url.to_string();
            Self::new(&url, jwks)
        }

        /// Polls every `every` (at least a second).
        pub fn with_refresh(mut self, every: Duration) -> Self {
            self.refresh_every = every.max(Duration::from_secs(1));
            self
        }

        /// Stops trusting the list when the newest document is older than `max`; `None`
        /// trusts it forever (revoked tokens may then work through a long outage).
        pub fn with_max_stale(mut self, max: Option<Duration>) -> Self {
            self.max_stale = max;
            self
        }

        /// Accepts only documents whose `iss` is `iss`.
        pub fn with_issuer(mut self, iss: impl Into<String>) -> Self {
            self.issuer = Some(iss.into());
            self
        }

        /// The clock skew tolerated on a document's `iat`.
        pub fn with_leeway(mut self, leeway: Duration) -> Self {
            self.leeway = leeway.as_secs();
            self
        }

        /// Reads the time from `clock`.
        pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
            self.clock = clock;
            self
        }

        /// The feed's URL.
        pub fn url(&self) -> &http::Uri {
            &self.source.url
        }

        /// How old the newest document verified is, in seconds; `None` before the first.
        pub fn age(&self) -> Option<u64> {
            match self.newest.load(Ordering::Relaxed) {
                0 => None,
                iat => Some(self.clock.now().saturating_sub(iat)),
            }
        }

        /// Whether the list can no longer be trusted: no document yet, or the newest one
        /// older than the bound.
        pub fn is_stale(&self) -> bool {
            let Some(max) = self.max_stale else {
                return false;
            };
            self.age()
                .is_none_or(|age| age > max.as_secs().saturating_add(self.leeway))
        }

        /// Fetches the feed now (conditionally) and merges a new document.
        pub async fn refresh(&self) -> Result<Refreshed, Error> {
            let refreshed = self.refresh_uncounted().await;
            let outcome = match &refreshed {
                Ok(Refreshed::Document(_)) => "updated",
                Ok(Refreshed::Unchanged) => "unchanged",
                Err(_) => "failure",
            };
            crate::metrics::feed_refresh(outcome, self.newest.load(Ordering::Relaxed));
            refreshed
        }

        async fn refresh_uncounted(&self) -> Result<Refreshed, Error> {
            let etag = crate::sync::lock(&self.etag).clone();
            let fetched = self
                .source
                .get(FEED_MEDIA_TYPE, etag.as_deref(), MAX_FEED_LEN)
                .await?;
            match fetched.status {
                StatusCode::OK => {}
                StatusCode::NOT_MODIFIED if etag.is_some() => {
                    // Unchanged, says whoever answered; fresh only if the issuer signed it.
                    if let Some(iat) = self.current_proof(&fetched, etag.as_deref()).await {
                        self.newest.fetch_max(iat, Ordering::Relaxed);
                    }
                    return Ok(Refreshed::Unchanged);
                }
                status => {
                    return Err(Error::new(
                        ErrorKind::Io,
                        format!("{}: answered {status}", self.source.url),
                    ));
                }
            }
            let text = std::str::from_utf8(&fetched.body).map_err(|_| self.refused("not UTF-8"))?;
            let document = match self.verify(text) {
                Err(TokenError::UnknownKey) if self.jwks.refresh_if_due().await => {
                    self.verify(text)
                }
                verdict => verdict,
            }
            .map_err(|e| self.refused(e.description()))?;
            if let Some(want) = &self.issuer
                && document.iss.as_deref() != Some(want.as_str())
            {
                return Err(self.refused("issuer not accepted"));
            }
            let now = self.clock.now();
            if document.iat > now.saturating_add(self.leeway) {
                return Err(self.refused("signed in the future"));
            }
            let entries = document.revoked.len();
            crate::sync::write(&self.document_iss).clone_from(&document.iss);
            self.revocations.merge(document.revoked, now);
            // A replayed older document adds what it lists but is no news of the issuer.
            let proved = self.current_proof(&fetched, fetched.etag.as_deref()).await;
            self.newest
                .fetch_max(document.iat.max(proved.unwrap_or(0)), Ordering::Relaxed);
            *crate::sync::lock(&self.etag) = fetched.etag;
            Ok(Refreshed::Document(entries))
        }

        fn verify(&self, text: &str) -> Result<Document, TokenError> {
            verify_typed(&self.jwks.keys(), text, Type::Exactly(FEED_TYPE))
        }

        /// The time of the issuer's signed word, in [`CURRENT_HEADER`], that `etag` is its
        /// current document; `None` without a valid one.
        async fn current_proof(&self, fetched: &Fetched, etag: Option<&str>) -> Option<u64> {
            let etag = etag?;
            let text = fetched.headers.get(CURRENT_HEADER)?.to_str().ok()?;
            let verify = || -> Result<Current, TokenError> {
                verify_typed(&self.jwks.keys(), text, Type::Exactly(CURRENT_TYPE))
            };
            let current = match verify() {
                Err(TokenError::UnknownKey) if self.jwks.refresh_if_due().await => verify(),
                verdict => verdict,
            }
            .ok()?;
            let issuer_ok = self
                .issuer
                .as_ref()
                .is_none_or(|want| current.iss.as_deref() == Some(want.as_str()));
            let in_time = current.iat <= self.clock.now().saturating_add(self.leeway);
            (issuer_ok && in_time && current.etag == etag).then_some(current.iat)
        }

        fn refused(&self, why: &str) -> Error {
            Error::new(
                ErrorKind::Io,
                format!("{}: document refused: {why}", self.source.url),
            )
        }

        /// Polls every refresh interval for as long as the returned task runs, logging
        /// failures and the moment the list turns stale or fresh again.
        pub fn spawn_poller(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
            let feed = Arc::downgrade(self);
            let every = self.refresh_every;
            tokio::spawn(async move {
                let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut failing = false;
                loop {
                    tick.tick().await;
                    let Some(feed) = feed.upgrade() else { break };
                    match feed.refresh().await {
                        Ok(_) if std::mem::take(&mut failing) => {
                            tracing::info!(url = %feed.source.url, "revocation feed reachable again")
                        }
                        Ok(_) => {}
                        Err(e) if !failing => {
                            failing = true;
                            tracing::error!(error = %e, age_secs = ?feed.age(), "revocation feed not refreshed; keeping the last list");
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "revocation feed still not refreshed")
                        }
                    }
                    feed.note_staleness();
                }
            })
        }

        /// Logs when the list turns stale, or fresh again.
        fn note_staleness(&self) {
            let stale = self.is_stale();
            if self.stale.swap(stale, Ordering::Relaxed) != stale {
                if stale {
                    tracing::error!(url = %self.source.url, age_secs = ?self.age(), "revocation feed stale: every token is refused until it is fresh (--revocation-max-stale)");
                } else {
                    tracing::info!(url = %self.source.url, "revocation feed fresh again: tokens are accepted");
                }
            }
        }
    }

    impl RevocationCheck for RevocationFeed {
        fn is_revoked(&self, claims: &Claims) -> bool {
            if self.is_stale() {
                return true;
            }
            let iss = crate::sync::read(&self.document_iss);
            self.revocations.is_revoked_keyed(claims, |name| {
                std::borrow::Cow::Owned(name_key(iss.as_deref(), name))
            })
        }
    }
}

#[cfg(test)]
#[cfg(feature = "server")]
mod tests;
