//! Password hashing: Argon2id for new hashes, bcrypt accepted from Express-era files,
//! and a bounded pool that keeps hashing off the async runtime.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use argon2::{ARGON2ID_IDENT, Algorithm, Argon2, Params, PasswordHash, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind};
use crate::random;
use crate::sync::lock;

/// The shortest password accepted, in bytes.
pub const MIN_PASSWORD_LEN: usize = 8;
/// The longest password accepted, in bytes: bounds the work one login can cost.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// Checks a new password's length: 8 to 1024 bytes.
pub fn check_password(password: &str) -> Result<(), Error> {
    match password.len() {
        n if n < MIN_PASSWORD_LEN => Err(Error::new(
            ErrorKind::InvalidPassword,
            format!("the password is too short: at least {MIN_PASSWORD_LEN} bytes"),
        )),
        n if n > MAX_PASSWORD_LEN => Err(Error::new(
            ErrorKind::InvalidPassword,
            format!("the password is too long: at most {MAX_PASSWORD_LEN} bytes"),
        )),
        _ => Ok(()),
    }
}

/// The Argon2id cost of new password hashes.
///
/// Defaults to OWASP's recommendation: 19 MiB of memory, 2 iterations, 1 lane. On a
/// small board, lower the memory and raise the iterations (OWASP lists equivalent
/// pairs, e.g. 12 MiB × 3, 9 MiB × 4, 7 MiB × 5).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    params: (u32, u32, u32),
}

impl fmt::Debug for PasswordPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (m, t, p) = self.params;
        write!(f, "PasswordPolicy(argon2id m={m} KiB, t={t}, p={p})")
    }
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self::OWASP
    }
}

/// Whether a password matched, and whether its stored hash should be replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verification {
    /// The password is right.
    pub matched: bool,
    /// The stored hash is not Argon2id at the current policy (bcrypt, older cost):
    /// re-hash now that the password is known.
    pub needs_rehash: bool,
}

impl PasswordPolicy {
    /// 19 MiB, 2 iterations, 1 lane.
    pub const OWASP: Self = Self {
        params: (19 * 1024, 2, 1),
    };

    /// Memory in KiB, iterations and lanes; refused when Argon2 refuses them, or when
    /// memory is under 1 MiB or over 4 GiB.
    pub fn new(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<Self, Error> {
        let bad = |why: String| Error::new(ErrorKind::InvalidHashParams, why);
        if !(1024..=4 * 1024 * 1024).contains(&memory_kib) {
            return Err(bad(format!(
                "argon2 memory of {memory_kib} KiB is out of range (1024 to 4194304 KiB)"
            )));
        }
        Params::new(memory_kib, iterations, parallelism, None)
            .map_err(|e| bad(format!("invalid argon2 parameters: {e}")))?;
        Ok(Self {
            params: (memory_kib, iterations, parallelism),
        })
    }

    /// The cheapest parameters Argon2 allows. **Only for tests**: such hashes fall to
    /// brute force at once.
    pub fn danger_test_minimum() -> Self {
        Self { params: (8, 1, 1) }
    }

    /// Memory in KiB.
    pub fn memory_kib(&self) -> u32 {
        self.params.0
    }
    /// Iterations.
    pub fn iterations(&self) -> u32 {
        self.params.1
    }
    /// Lanes.
    pub fn parallelism(&self) -> u32 {
        self.params.2
    }

    /// Hashes `password` to a PHC string. Blocking: ~20 ms at the default cost.
    pub fn hash(&self, password: &str) -> Result<String, Error> {
        self.hash_with(password, &mut Memory::new())
    }

    /// [`hash`](Self::hash), in `memory` (grown as needed and kept for the next hash).
    fn hash_with(&self, password: &str, memory: &mut Memory) -> Result<String, Error> {
        let bad = |e: argon2::Error| {
            Error::new(ErrorKind::InvalidHashParams, format!("hashing failed: {e}"))
        };
        let (m, t, p) = self.params;
        let params = Params::new(m, t, p, None).map_err(bad)?;
        let salt = random::bytes::<16>();
        let mut out = Zeroizing::new([0u8; 32]);
        let blocks = memory.blocks(&params);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into_with_memory(password.as_bytes(), &salt, out.as_mut_slice(), blocks)
            .map_err(bad)?;
        Ok(format!(
            "$argon2id$v=19$m={m},t={t},p={p}${}${}",
            STANDARD_NO_PAD.encode(salt),
            STANDARD_NO_PAD.encode(out.as_slice())
        ))
    }

    /// Checks `password` against a stored PHC string (Argon2 or bcrypt). Blocking.
    ///
    /// An unreadable hash never matches.
    pub fn verify(&self, password: &str, stored: &str) -> Verification {
        self.verify_with(password, stored, &mut Memory::new())
    }

    /// [`verify`](Self::verify), in `memory`.
    fn verify_with(&self, password: &str, stored: &str, memory: &mut Memory) -> Verification {
        if is_bcrypt(stored) {
            return Verification {
                matched: bcrypt::verify(password, stored).unwrap_or(false),
                needs_rehash: true,
            };
        }
        let Ok(parsed) = PasswordHash::new(stored) else {
            tracing::error!("a stored password hash is not a PHC string");
            // As long as any other failed login: the dummy's work, no match.
            self.verify_with(password, &self.dummy_hash(), memory);
            return Verification {
                matched: false,
                needs_rehash: false,
            };
        };
        Verification {
            matched: argon2_matches(password, &parsed, memory),
            needs_rehash: !self.is_current(&parsed),
        }
    }

    fn is_current(&self, parsed: &PasswordHash) -> bool {
        parsed.algorithm == ARGON2ID_IDENT
            && parsed.version == Some(Version::V0x13.into())
            && Params::try_from(parsed)
                .is_ok_and(|p| (p.m_cost(), p.t_cost(), p.p_cost()) == self.params)
    }

    /// A well-formed Argon2id hash at this policy's cost that no password matches:
    /// verifying against it costs what verifying a real user's password costs.
    fn dummy_hash(&self) -> String {
        let (m, t, p) = self.params;
        format!(
            "$argon2id$v=19$m={m},t={t},p={p}${}${}",
            STANDARD_NO_PAD.encode(random::bytes::<16>()),
            STANDARD_NO_PAD.encode(random::bytes::<32>()),
        )
    }
}

/// Recomputes an Argon2 hash with the parameters, salt and variant the stored hash names
/// (not the policy's), in `memory`, and compares in constant time.
fn argon2_matches(password: &str, parsed: &PasswordHash, memory: &mut Memory) -> bool {
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(parsed) else {
        return false;
    };
    let mut out = Zeroizing::new(vec![0u8; expected.len()]);
    let blocks = memory.blocks(&params);
    let computed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password.as_bytes(),
        salt,
        out.as_mut_slice(),
        blocks,
    );
    computed.is_ok() && argon2::password_hash::phc::Output::new(&out).is_ok_and(|o| o == *expected)
}

/// Argon2's working memory, kept between hashes: each pool thread reuses one block
/// buffer instead of asking the allocator for ~19 MiB per login (which, spread over
/// many threads' malloc arenas, made a login flood hold hundreds of MiB).
#[derive(Default)]
pub(crate) struct Memory(Vec<argon2::Block>);

impl Memory {
    fn new() -> Self {
        Self::default()
    }

    fn blocks(&mut self, params: &Params) -> &mut [argon2::Block] {
        let n = params.block_count();
        if self.0.len() < n {
            self.0.resize(n, argon2::Block::default());
        }
        self.0.get_mut(..n).unwrap_or_default()
    }
}

use crate::store::users::UNREADABLE;
pub use crate::store::users::cost_kind;

/// A hash of `kind` that no password matches, to measure what verifying that kind costs.
fn dummy_of_kind(kind: &str, policy: &PasswordPolicy) -> String {
    if is_bcrypt(kind) {
        let cost = kind
            .get(4..6)
            .and_then(|c| c.parse::<u32>().ok())
            .unwrap_or(bcrypt::DEFAULT_COST);
        let password = STANDARD_NO_PAD.encode(random::bytes::<16>());
        return bcrypt::hash_with_salt(password, cost, random::bytes::<16>())
            .map(|h| h.format_for_version(bcrypt::Version::TwoB))
            .unwrap_or_else(|_| policy.dummy_hash());
    }
    if kind == UNREADABLE {
        return policy.dummy_hash();
    }
    format!(
        "{kind}${}${}",
        STANDARD_NO_PAD.encode(random::bytes::<16>()),
        STANDARD_NO_PAD.encode(random::bytes::<32>()),
    )
}

fn is_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p))
}

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
    inner: Arc<HasherInner>,
}

struct HasherInner {
    policy: PasswordPolicy,
    permits: Arc<Semaphore>,
    /// One working memory per running hash, reused: at most `concurrency` of them.
    memories: std::sync::Mutex<Vec<Memory>>,
    waiting: AtomicUsize,
    max_waiting: usize,
    dummy: String,
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
        Some(Self(count))
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn cost_kinds() {
        let policy = PasswordPolicy::new(1024, 1, 1).unwrap();
        assert_eq!(
            cost_kind(&policy.hash("correct horse").unwrap()),
            "$argon2id$v=19$m=1024,t=1,p=1"
        );
        assert_eq!(cost_kind(&bcrypt::hash("x", 5).unwrap()), "$2b$05");
        assert_eq!(cost_kind("garbage"), "unreadable");
        // A dummy of each kind costs what that kind costs, and matches nothing.
        for kind in ["$2b$05", "$argon2id$v=19$m=2048,t=1,p=1", "unreadable"] {
            let dummy = dummy_of_kind(kind, &policy);
            if kind != "unreadable" {
                assert_eq!(cost_kind(&dummy), kind);
            }
            assert!(!policy.verify("correct horse", &dummy).matched);
        }
    }

    #[tokio::test]
    async fn every_login_waits_for_the_slowest_kind() {
        let policy = PasswordPolicy::new(1024, 1, 1).unwrap();
        let hasher = Hasher::with_limits(policy, 1, 8);
        let bcrypt_user = bcrypt::hash("a-password", 8).unwrap();
        hasher
            .calibrate(&[cost_kind(&bcrypt_user), cost_kind(&hasher.inner.dummy)])
            .await
            .unwrap();
        let floor = hasher.floor();
        assert!(floor > Duration::ZERO);
        // An unknown user (a cheap dummy) and an unreadable hash answer no sooner than
        // the bcrypt user: the floor is a lower bound by construction (a timer).
        for stored in [None, Some("garbage".to_owned())] {
            let started = std::time::Instant::now();
            let v = hasher
                .verify(Zeroizing::new("wrong-password".into()), stored)
                .await
                .unwrap();
            assert!(!v.matched);
            assert!(
                started.elapsed() >= floor,
                "{:?} < {floor:?}",
                started.elapsed()
            );
        }
        let v = hasher
            .verify(Zeroizing::new("a-password".into()), Some(bcrypt_user))
            .await
            .unwrap();
        assert!(v.matched && v.needs_rehash);
    }

    #[test]
    fn argon2id_round_trip_and_rehash_flag() {
        let policy = PasswordPolicy::new(1024, 1, 1).unwrap();
        let hash = policy.hash("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert_eq!(
            policy.verify("correct horse", &hash),
            Verification {
                matched: true,
                needs_rehash: false
            }
        );
        assert!(!policy.verify("wrong horse", &hash).matched);
        let stronger = PasswordPolicy::new(2048, 1, 1).unwrap();
        assert!(stronger.verify("correct horse", &hash).needs_rehash);
    }

    #[test]
    fn bcrypt_from_node_verifies_and_asks_for_rehash() {
        // The same format Node's bcrypt writes ($2b$); Node-made hashes are tested end to end.
        let node = bcrypt::hash("a-password", 4).unwrap();
        let v = PasswordPolicy::OWASP.verify("a-password", &node);
        assert!(v.matched && v.needs_rehash);
        assert!(!PasswordPolicy::OWASP.verify("b-password", &node).matched);
    }

    #[test]
    fn reused_memory_agrees_with_the_argon2_crates_own_phc_code() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let policy = PasswordPolicy::new(2048, 2, 2).unwrap();
        let mut memory = Memory::new();
        // Theirs, verified by ours (also argon2i and argon2d, and other costs).
        for alg in [Algorithm::Argon2id, Algorithm::Argon2i, Algorithm::Argon2d] {
            let theirs = Argon2::new(alg, Version::V0x13, Params::new(1024, 3, 1, None).unwrap())
                .hash_password(b"cross-check")
                .unwrap()
                .to_string();
            assert!(
                policy
                    .verify_with("cross-check", &theirs, &mut memory)
                    .matched,
                "{theirs}"
            );
            assert!(
                !policy
                    .verify_with("cross-checK", &theirs, &mut memory)
                    .matched
            );
        }
        // Ours, verified by theirs, with the memory already used by a larger hash.
        let ours = policy.hash_with("cross-check", &mut memory).unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"cross-check", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"cross-checK", &parsed)
                .is_err()
        );
    }

    #[test]
    fn garbage_hashes_never_match() {
        for h in [
            "",
            "x",
            "$argon2id$",
            "$2b$10$short",
            "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$",
        ] {
            assert!(
                !PasswordPolicy::OWASP.verify("anything", h).matched,
                "{h:?}"
            );
        }
    }

    #[test]
    fn dummy_hash_is_well_formed_at_policy_cost() {
        let policy = PasswordPolicy::new(1024, 1, 1).unwrap();
        let dummy = policy.dummy_hash();
        let parsed = PasswordHash::new(&dummy).unwrap();
        assert!(policy.is_current(&parsed));
        assert!(!policy.verify("anything", &dummy).matched);
    }

    #[test]
    fn policy_bounds() {
        assert!(PasswordPolicy::new(512, 2, 1).is_err());
        assert!(PasswordPolicy::new(19 * 1024, 0, 1).is_err());
        assert!(PasswordPolicy::new(19 * 1024, 2, 0).is_err());
        assert!(PasswordPolicy::new(12 * 1024, 3, 1).is_ok());
    }

    #[test]
    fn password_lengths() {
        assert!(check_password("1234567").is_err());
        assert!(check_password("12345678").is_ok());
        assert!(check_password(&"x".repeat(1024)).is_ok());
        assert!(check_password(&"x".repeat(1025)).is_err());
    }

    #[tokio::test]
    async fn a_caller_giving_up_leaves_no_queue_slot_taken() {
        let policy = PasswordPolicy::new(64 * 1024, 4, 1).unwrap();
        let stored = policy.hash("pw-pw-pw-pw").unwrap();
        let hasher = Hasher::with_limits(policy, 1, 2);
        // One hash holds the only permit; a second waits and is abandoned, many times.
        let busy = tokio::spawn({
            let h = hasher.clone();
            let stored = stored.clone();
            async move {
                h.verify(Zeroizing::new("pw-pw-pw-pw".into()), Some(stored))
                    .await
            }
        });
        tokio::task::yield_now().await;
        for _ in 0..10 {
            let abandoned = hasher.verify(Zeroizing::new("x".into()), None);
            assert!(
                tokio::time::timeout(Duration::from_millis(1), abandoned)
                    .await
                    .is_err()
            );
        }
        assert_eq!(hasher.inner.waiting.load(Ordering::SeqCst), 0);
        assert!(busy.await.unwrap().unwrap().matched);
        let v = hasher
            .verify(Zeroizing::new("pw-pw-pw-pw".into()), Some(stored))
            .await;
        assert!(v.unwrap().matched);
    }

    #[tokio::test]
    async fn full_queue_is_busy() {
        let hasher = Hasher::with_limits(PasswordPolicy::new(1024, 1, 1).unwrap(), 1, 0);
        assert_eq!(
            hasher.verify(Zeroizing::new("x".into()), None).await,
            Err(Busy)
        );
    }
}
