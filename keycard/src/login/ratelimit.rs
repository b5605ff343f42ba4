//! Token-bucket rate limits for login attempts, per key (a username, a client address).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::duration::Rate;

/// The most keys tracked at once by default (a little under 2 MiB of buckets); see
/// [`RateLimiter::with_capacity`].
pub const DEFAULT_CAPACITY: usize = 50_000;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A token bucket per key: each holds `burst` attempts and refills at `burst` per
/// `period`. Keys whose bucket is full again are forgotten when room is needed, so the
/// memory stays bounded by the capacity.
#[derive(Debug)]
pub struct RateLimiter<K> {
    rate: Option<Rate>,
    capacity: usize,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// A limiter at `rate`; `None` never limits.
    pub fn new(rate: Option<Rate>) -> Self {
        Self::with_capacity(rate, DEFAULT_CAPACITY)
    }

    /// A limiter tracking at most `capacity` keys.
    pub fn with_capacity(rate: Option<Rate>, capacity: usize) -> Self {
        Self {
            rate,
            capacity: capacity.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The configured rate.
    pub fn rate(&self) -> Option<Rate> {
        self.rate
    }

    /// Takes one attempt from `key`'s bucket, or says how many whole seconds until one
    /// is available (at least 1).
    pub fn acquire(&self, key: &K) -> Result<(), u64> {
        self.acquire_at(key, Instant::now())
    }

    /// Gives back an attempt taken by [`acquire`](Self::acquire) (a login that
    /// succeeded does not count as a failure).
    pub fn refund(&self, key: &K) {
        let Some(rate) = self.rate else { return };
        let mut buckets = self.lock();
        if let Some(b) = buckets.get_mut(key) {
            b.tokens = (b.tokens + 1.0).min(f64::from(rate.burst()));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Bucket>> {
        crate::sync::lock(&self.buckets)
    }

    fn acquire_at(&self, key: &K, now: Instant) -> Result<(), u64> {
        let Some(rate) = self.rate else { return Ok(()) };
        let burst = f64::from(rate.burst());
        let per_sec = burst / rate.period().as_secs_f64();
        let refill = |b: &Bucket| {
            (b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_sec).min(burst)
        };
        let mut buckets = self.lock();
        if !buckets.contains_key(key) && buckets.len() >= self.capacity {
            buckets.retain(|_, b| refill(b) < burst);
            if buckets.len() >= self.capacity {
                // Still full of live buckets: forget the one that has been quiet longest.
                if let Some(oldest) = buckets
                    .iter()
                    .min_by_key(|(_, b)| b.at)
                    .map(|(k, _)| k.clone())
                {
                    buckets.remove(&oldest);
                }
            }
        }
        let bucket = buckets.entry(key.clone()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        bucket.tokens = refill(bucket);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = Duration::from_secs_f64((1.0 - bucket.tokens) / per_sec);
            Err(wait.as_secs_f64().ceil().max(1.0) as u64)
        }
    }

    /// How many keys are tracked.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let l = RateLimiter::new(Rate::parse("3/m").unwrap());
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.acquire_at(&"a", t0), Ok(()));
        }
        assert_eq!(l.acquire_at(&"a", t0), Err(20));
        assert_eq!(l.acquire_at(&"b", t0), Ok(()), "keys are independent");
        assert_eq!(l.acquire_at(&"a", t0 + Duration::from_secs(19)), Err(1));
        assert_eq!(l.acquire_at(&"a", t0 + Duration::from_secs(20)), Ok(()));
    }

    #[test]
    fn refund_gives_back() {
        let l = RateLimiter::new(Rate::parse("1/h").unwrap());
        let t0 = Instant::now();
        assert_eq!(l.acquire_at(&"a", t0), Ok(()));
        l.refund(&"a");
        assert_eq!(l.acquire_at(&"a", t0), Ok(()));
        assert_eq!(l.acquire_at(&"a", t0), Err(3600));
    }

    #[test]
    fn no_rate_never_limits() {
        let l = RateLimiter::new(None);
        for _ in 0..1000 {
            assert_eq!(l.acquire(&"a"), Ok(()));
        }
        assert!(l.is_empty());
    }

    #[test]
    fn an_attacker_cannot_lock_a_user_out_longer_than_the_window() {
        // 5 failures per minute: one attempt comes back every 12 s.
        let l = RateLimiter::new(Rate::parse("5/m").unwrap());
        let t0 = Instant::now();
        // Ten minutes of an attempt every second, refused or not.
        for s in 0..600 {
            let _ = l.acquire_at(&"alice", t0 + Duration::from_secs(s));
        }
        // Refused attempts cost the attacker nothing and add nothing to the wait: once
        // the attack stops, the real user is back within period / burst.
        let stop = t0 + Duration::from_secs(600);
        assert_eq!(
            l.acquire_at(&"alice", stop + Duration::from_secs(12)),
            Ok(())
        );
        // And a full burst is back after one period.
        let later = stop + Duration::from_secs(12 + 60);
        for _ in 0..5 {
            assert_eq!(l.acquire_at(&"alice", later), Ok(()));
        }
    }

    #[test]
    fn capacity_is_bounded() {
        let l = RateLimiter::with_capacity(Rate::parse("1/h").unwrap(), 100);
        let t0 = Instant::now();
        for i in 0..10_000 {
            let _ = l.acquire_at(&i, t0);
        }
        assert!(l.len() <= 100);
    }
}
