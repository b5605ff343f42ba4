//! The verified-token cache: a client sends the same token thousands of times before it
//! expires, and with an asymmetric key checking its signature is most of a request
//! (ES256 about 320 µs in pure Rust). The cache remembers, for a token whose signature
//! verified, the claims it carries, so that the next request with the same bytes skips
//! the signature.
//!
//! What a hit still does, every time (see [`Verifier`](crate::Verifier)): the time claims
//! (`exp`, `nbf`, `iat`, the lifetime cap) against the clock, `iss` and `aud`, and the
//! revocation set. What it skips is only what cannot change for the same bytes under the
//! same keys: the signature and the parsing. So:
//!
//! - **keyed by the whole token**, hashed with the standard library's SipHash under a
//!   random key of this process (an attacker cannot aim many tokens at one bucket); a hit
//!   compares every byte of the token, so only the very token that verified finds the
//!   entry;
//! - **the key set's generation** is in every entry: a JWKS refresh (which may drop a key)
//!   makes every entry stale, and the first request to see it empties the cache;
//! - **never a failure**: a token that did not verify, or whose claims were refused, is
//!   not stored, and a revoked one is checked again on every hit;
//! - **bounded** in entries and in bytes (S3-FIFO eviction, `quick_cache`): a flood of
//!   distinct valid tokens evicts older ones and never grows memory past the bound.

use std::collections::hash_map::RandomState;
use std::sync::atomic::{AtomicU64, Ordering};

use quick_cache::sync::Cache;
use quick_cache::{OptionsBuilder, Weighter};

use crate::error::{Error, ErrorKind};
use crate::jwt::claims::Claims;

/// What a hit returns: the verified claims, which issuer's keys checked them, and that
/// key set's generation then.
#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) claims: Claims,
    pub(crate) trust: usize,
    pub(crate) generation: u64,
}

/// An entry's weight: about the memory it holds (the token, its claims, the map's own
/// bookkeeping), and never less than the byte bound over the entry bound, so that the
/// byte bound also bounds the entries.
#[derive(Clone)]
struct Weight {
    floor: u64,
}

impl Weighter<Box<str>, Entry> for Weight {
    fn weight(&self, token: &Box<str>, _: &Entry) -> u64 {
        // The claims are the payload, decoded: at most as long as its base64, which is
        // most of the token; plus the strings' and the map's overhead.
        let bytes = (token.len() as u64).saturating_mul(2).saturating_add(256);
        bytes.max(self.floor)
    }
}

/// A bounded cache of verified tokens for a [`Verifier`](crate::Verifier); see the
/// module docs for what it keeps and why that is safe.
///
/// On by default with [`TokenCache::DEFAULT_ENTRIES`] entries and
/// [`TokenCache::DEFAULT_BYTES`] bytes; [`TokenCache::disabled`] turns it off.
pub struct TokenCache {
    map: Option<Cache<Box<str>, Entry, Weight, RandomState>>,
    entries: usize,
    bytes: u64,
    hits: AtomicU64,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("entries", &self.entries)
            .field("bytes", &self.bytes)
            .field("held", &self.len())
            .field("hits", &self.hits())
            .finish()
    }
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::new(Self::DEFAULT_ENTRIES, Self::DEFAULT_BYTES).unwrap_or_else(|_| Self::disabled())
    }
}

impl TokenCache {
    /// The most tokens held by default.
    pub const DEFAULT_ENTRIES: usize = 4096;
    /// The most bytes held by default (2 MiB, which fits a board).
    pub const DEFAULT_BYTES: u64 = 2 * 1024 * 1024;

    /// A cache of at most `entries` tokens and about `bytes` bytes; `0` for either turns
    /// it off.
    pub fn new(entries: usize, bytes: u64) -> Result<Self, Error> {
        if entries == 0 || bytes == 0 {
            return Ok(Self::disabled());
        }
        let floor = bytes / entries as u64;
        if floor == 0 {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                format!("a token cache of {bytes} bytes cannot hold {entries} entries"),
            ));
        }
        let options = OptionsBuilder::new()
            // Grown as tokens arrive, not allocated at start.
            .estimated_items_capacity(entries.min(256))
            .weight_capacity(bytes)
            .build()
            .map_err(|e| Error::new(ErrorKind::InvalidConfig, format!("token cache: {e}")))?;
        let map = Cache::with_options(
            options,
            Weight { floor },
            RandomState::new(),
            Default::default(),
        );
        Ok(Self {
            map: Some(map),
            entries,
            bytes,
            hits: AtomicU64::new(0),
        })
    }

    /// A cache of the same bounds, empty.
    pub(crate) fn emptied(&self) -> Self {
        Self::new(self.entries, self.bytes).unwrap_or_else(|_| Self::disabled())
    }

    /// No cache: every token's signature is checked.
    pub fn disabled() -> Self {
        Self {
            map: None,
            entries: 0,
            bytes: 0,
            hits: AtomicU64::new(0),
        }
    }

    /// Whether it holds anything at all (`false` when disabled).
    pub fn is_enabled(&self) -> bool {
        self.map.is_some()
    }

    /// The tokens held now.
    pub fn len(&self) -> usize {
        self.map.as_ref().map_or(0, Cache::len)
    }

    /// Whether it holds no token.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes held now, as weighed (see the type's docs).
    pub fn weight(&self) -> u64 {
        self.map.as_ref().map_or(0, Cache::weight)
    }

    /// The bound on entries and on bytes.
    pub fn bounds(&self) -> (usize, u64) {
        (self.entries, self.bytes)
    }

    /// How many verifications a held token answered (whether or not its claims then
    /// passed).
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    pub(crate) fn get(&self, token: &str) -> Option<Entry> {
        let hit = self.map.as_ref()?.get(token)?;
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(hit)
    }

    pub(crate) fn insert(&self, token: &str, entry: Entry) {
        if let Some(map) = &self.map {
            map.insert(Box::from(token), entry);
        }
    }

    /// Forgets every token (the key set changed).
    pub fn clear(&self) {
        if let Some(map) = &self.map {
            map.clear();
        }
    }
}

#[cfg(test)]
mod tests;
