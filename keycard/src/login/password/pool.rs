//! The bounded pool that runs password hashes off the async runtime, and makes every
//! verification take as long as the costliest kind (so that timing tells no hash apart).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use crate::error::Error;
use crate::random;
use crate::sync::lock;

use super::policy::{Memory, PasswordPolicy, Verification, dummy_of_kind};
use crate::store::users::cost_kind;

/// The hashing queue is full; try again shortly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Busy;

/// Runs password hashes on the blocking thread pool, at most `concurrency` at once
/// (each Argon2id hash holds its memory cost, ~19 MiB by default), with at most
/// `max_waiting` logins queued behind them; beyond that, [`Busy`].
///
/// Defaults to one hash per core but one (at least one) and 64 waiting per core.
#[derive(Clone)]
pub struct Hasher {
    pub(super) inner: Arc<HasherInner>,
}

pub(super) struct HasherInner {
    policy: PasswordPolicy,
    permits: Arc<Semaphore>,
    /// One working memory per running hash, reused: at most `concurrency` of them.
    memories: std::sync::Mutex<Vec<Memory>>,
    pub(super) waiting: AtomicUsize,
    max_waiting: usize,
    pub(super) dummy: String,
    /// What verifying each hash kind takes, smoothed: kind -> duration.
    costs: std::sync::Mutex<HashMap<String, Duration>>,
    /// The longest of `costs`, with a margin: every verification takes at least this.
    floor_nanos: AtomicU64,
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hasher")
            .field("policy", &self.inner.policy)
            .field("max_waiting", &self.inner.max_waiting)
            .finish_non_exhaustive()
    }
}

impl Hasher {
    /// A pool sized to this machine: one hash at a time per core but one (at least one),
    /// so a login flood always leaves a core to verify tokens; 64 waiting per core.
    pub fn new(policy: PasswordPolicy) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::with_limits(policy, cores.saturating_sub(1).max(1), 64 * cores)
    }

    /// A pool running at most `concurrency` hashes with `max_waiting` queued.
    pub fn with_limits(policy: PasswordPolicy, concurrency: usize, max_waiting: usize) -> Self {
        Self {
            inner: Arc::new(HasherInner {
                policy,
                permits: Arc::new(Semaphore::new(concurrency.max(1))),
                memories: std::sync::Mutex::new(Vec::new()),
                waiting: AtomicUsize::new(0),
                max_waiting,
                dummy: policy.dummy_hash(),
                costs: std::sync::Mutex::new(HashMap::new()),
                floor_nanos: AtomicU64::new(0),
            }),
        }
    }

    /// The policy new hashes follow.
    pub fn policy(&self) -> PasswordPolicy {
        self.inner.policy
    }

    /// Verifies `password` against `stored`, or, when there is no such user, against a
    /// dummy hash of the policy's cost.
    ///
    /// Every verification then takes as long as the slowest hash kind measured so far
    /// (see [`calibrate`](Self::calibrate)), plus a 10% margin, whatever the kind of
    /// this one: an unknown user, a current Argon2id hash, an older Argon2 cost, a
    /// bcrypt hash imported from Express and an unreadable hash all answer alike. The
    /// wait is a timer, not work: it holds no hashing slot.
    pub async fn verify(
        &self,
        password: Zeroizing<String>,
        stored: Option<String>,
    ) -> Result<Verification, Busy> {
        let inner = self.inner.clone();
        let kind = stored
            .as_deref()
            .map_or_else(|| cost_kind(&self.inner.dummy), cost_kind);
        let (verdict, took) = self
            .run(move |memory| {
                let started = Instant::now();
                let verdict = match stored {
                    Some(hash) => inner.policy.verify_with(&password, &hash, memory),
                    None => {
                        inner.policy.verify_with(&password, &inner.dummy, memory);
                        Verification {
                            matched: false,
                            needs_rehash: false,
                        }
                    }
                };
                (verdict, started.elapsed())
            })
            .await?;
        let floor = self.inner.observe(&kind, took);
        tokio::time::sleep(floor.saturating_sub(took)).await;
        Ok(verdict)
    }

    /// Measures each of `kinds` ([`cost_kind`]) not measured yet, by verifying a dummy
    /// hash of that kind, so that [`verify`](Self::verify) makes every login as long as
    /// the slowest kind *before* anyone logs in with one. The token endpoint calls it
    /// with its store's [`hash_kinds`](crate::UserStore::hash_kinds) before each login:
    /// the first login after a kind appears waits for its measurement, whoever logs in.
    pub async fn calibrate(&self, kinds: &[String]) -> Result<(), Busy> {
        let missing: Vec<String> = {
            let costs = lock(&self.inner.costs);
            kinds
                .iter()
                .filter(|k| !costs.contains_key(*k))
                .cloned()
                .collect()
        };
        for kind in missing {
            let policy = self.inner.policy;
            let probe = kind.clone();
            let took = self
                .run(move |memory| {
                    let dummy = dummy_of_kind(&probe, &policy);
                    let password = STANDARD_NO_PAD.encode(random::bytes::<16>());
                    let started = Instant::now();
                    policy.verify_with(&password, &dummy, memory);
                    started.elapsed()
                })
                .await?;
            self.inner.observe(&kind, took);
        }
        Ok(())
    }

    /// The least time a verification takes now.
    pub fn floor(&self) -> Duration {
        Duration::from_nanos(self.inner.floor_nanos.load(Ordering::Relaxed))
    }

    /// Hashes `password` at the current policy.
    pub async fn hash(&self, password: Zeroizing<String>) -> Result<Result<String, Error>, Busy> {
        let policy = self.inner.policy;
        self.run(move |memory| policy.hash_with(&password, memory))
            .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let inner = &self.inner;
        let permit = {
            // Counted while waiting for a permit; the guard uncounts even when the
            // caller gives up (client gone, request timeout) mid-wait.
            let _waiting = Waiting::enter(&inner.waiting, inner.max_waiting).ok_or(Busy)?;
            inner
                .permits
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| Busy)?
        };
        // The permit moves into the blocking task: if the caller is dropped now, the
        // hash still finishes before its memory and its slot are given back.
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut memory = lock(&inner.memories).pop().unwrap_or_default();
            let out = work(&mut memory);
            // Kept for the next hash only while logins are queueing (a flood reuses the
            // same few buffers); an idle server gives the memory back.
            if inner.waiting.load(Ordering::Acquire) > 0 {
                lock(&inner.memories).push(memory);
            } else {
                drop(memory);
                lock(&inner.memories).clear();
            }
            drop(permit);
            out
        })
        .await
        .map_err(|_| Busy)
    }
}

impl HasherInner {
    /// Folds one measured verification of `kind` into its cost; returns the new floor.
    fn observe(&self, kind: &str, took: Duration) -> Duration {
        let mut costs = lock(&self.costs);
        let cost = costs.entry(kind.to_owned()).or_insert(took);
        // Smoothed, so one verification slowed by a busy machine moves the floor little.
        *cost = (*cost * 4 + took) / 5;
        let slowest = costs.values().max().copied().unwrap_or_default();
        let floor = slowest + slowest / 10;
        self.floor_nanos.store(
            u64::try_from(floor.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        floor
    }
}

/// One place in the hashing queue, given back on drop.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn enter(count: &'a AtomicUsize, max: usize) -> Option<Self> {
        if count.fetch_add(1, Ordering::AcqRel) >= max {
            count.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        crate::metrics::hash_queue(1);
        Some(Self(count))
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
        crate::metrics::hash_queue(-1);
    }
}
