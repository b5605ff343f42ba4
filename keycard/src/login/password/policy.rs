//! The Argon2id policy for new hashes, what a password must be, and verifying a stored
//! hash (Argon2id, or bcrypt from an Express-era file) with a reused working memory.

use std::fmt;

use argon2::{ARGON2ID_IDENT, Algorithm, Argon2, Params, PasswordHash, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind};
use crate::random;
use crate::store::users::UNREADABLE;

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
    pub(super) fn hash_with(&self, password: &str, memory: &mut Memory) -> Result<String, Error> {
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
    pub(super) fn verify_with(
        &self,
        password: &str,
        stored: &str,
        memory: &mut Memory,
    ) -> Verification {
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

    pub(super) fn is_current(&self, parsed: &PasswordHash) -> bool {
        parsed.algorithm == ARGON2ID_IDENT
            && parsed.version == Some(Version::V0x13.into())
            && Params::try_from(parsed)
                .is_ok_and(|p| (p.m_cost(), p.t_cost(), p.p_cost()) == self.params)
    }

    /// A well-formed Argon2id hash at this policy's cost that no password matches:
    /// verifying against it costs what verifying a real user's password costs.
    pub(super) fn dummy_hash(&self) -> String {
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
    pub(super) fn new() -> Self {
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

/// A hash of `kind` that no password matches, to measure what verifying that kind costs.
pub(super) fn dummy_of_kind(kind: &str, policy: &PasswordPolicy) -> String {
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
