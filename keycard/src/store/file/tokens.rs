//! Revocation, logout and refresh tokens: the part stateless JWTs get wrong, kept small.
//!
//! Access tokens stay stateless to verify: after the signature and claims, one more
//! in-memory check asks a [`RevocationCheck`] whether the token was revoked. The default
//! store, [`FileTokenStore`], keeps in one durable file beside the users file:
//!
//! - revoked token ids (`jti`), each until the token could no longer verify anyway
//!   (`exp` plus the leeway), then dropped — the list holds only live revoked tokens;
//! - revoked login sessions (`sid`), the same way: revoking a refresh token, or reusing
//!   one, ends every token of its login;
//! - a per-user cut-off: every token of that user issued before it (`iat` earlier) is
//!   revoked — "log out everywhere" in constant space, set by `keycard users revoke-all`
//!   and by every password, role or removal change. Tokens issued later, even within
//!   the same second, are stamped with an `iat` at or after the cut-off;
//! - refresh tokens, stored only as SHA-256 hashes, each used once: presenting a used
//!   one revokes its whole session (RFC 9700 §4.14).
//!
//! Writes follow the same rules as the users file (`crate::store::durable`); a running server
//! sees a change made by the CLI or another process at the next poll.
//!
//! Why one file of ~500 lines: it is one concept, the token file and the locked
//! read-modify-write each operation makes of it; the format, the in-memory snapshot and the
//! writes change together, and splitting them would only put each write away from the
//! state it keeps consistent. The trait it implements is `store/tokens.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::error::{Error, ErrorKind};
use crate::jwt::claims::Claims;
use crate::jwt::revocations::{Listed, Revocations};
use crate::jwt::verifier::RevocationCheck;
use crate::store::file::durable::{self, Change, Tracker};
use crate::store::tokens::{RefreshError, Rotation, TokenStore, refresh_key};
use crate::store::{StoreFuture, on_blocking_pool};

/// The file beside a users file that holds its token state: `users.json` →
/// `users.tokens.json`.
pub fn token_store_path(users: &Path) -> PathBuf {
    let stem = users
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "users".to_owned());
    users.with_file_name(format!("{stem}.tokens.json"))
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFile {
    version: u32,
    /// jti → the time after which the entry may be dropped.
    #[serde(default)]
    revoked_tokens: BTreeMap<String, u64>,
    /// sid → the time after which the entry may be dropped.
    #[serde(default)]
    revoked_sessions: BTreeMap<String, u64>,
    /// username → tokens issued before this time are revoked.
    #[serde(default)]
    user_cutoffs: BTreeMap<String, u64>,
    /// SHA-256 of a refresh token (base64url) → its record.
    #[serde(default)]
    refresh_tokens: BTreeMap<String, RefreshRecord>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshRecord {
    user: String,
    sid: String,
    issued: u64,
    expires: u64,
    used: bool,
}

impl TokenFile {
    fn parse(text: &str, path: &Path) -> Result<Self, Error> {
        let file: TokenFile = serde_json::from_str(text).map_err(|e| {
            Error::new(
                ErrorKind::CorruptStore,
                format!("{}: not a token store: {e}", path.display()),
            )
        })?;
        if file.version != 1 {
            return Err(Error::new(
                ErrorKind::CorruptStore,
                format!("{}: unsupported version {}", path.display(), file.version),
            ));
        }
        Ok(file)
    }

    /// Drops what can no longer matter: revocations of tokens past their expiry, refresh
    /// tokens past theirs.
    fn prune(&mut self, now: u64) {
        self.revoked_tokens.retain(|_, until| *until >= now);
        self.revoked_sessions.retain(|_, until| *until >= now);
        self.refresh_tokens.retain(|_, r| r.expires >= now);
    }

    /// Its revocations, as the in-memory set merges them.
    fn listed(self) -> Listed {
        Listed {
            tokens: self.revoked_tokens,
            sessions: self.revoked_sessions,
            cutoffs: self.user_cutoffs,
        }
    }

    fn to_json(&self) -> Result<Vec<u8>, Error> {
        let mut out = serde_json::to_vec_pretty(self).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot serialize the token store: {e}"),
            )
        })?;
        out.push(b'\n');
        Ok(out)
    }
}

/// Runs a blocking file operation of `store` on the blocking pool.
fn blocking<T: Send + 'static>(
    store: &FileTokenStore,
    op: impl FnOnce(&FileTokenStore) -> Result<T, Error> + Send + 'static,
) -> StoreFuture<'static, T> {
    let store = store.clone();
    Box::pin(on_blocking_pool("token store", move || op(&store)))
}

impl TokenStore for FileTokenStore {
    fn catch_up(&self) -> StoreFuture<'_, bool> {
        blocking(self, FileTokenStore::reload)
    }

    fn cutoff(&self, user: &str) -> Option<u64> {
        FileTokenStore::cutoff(self, user)
    }

    fn listed(&self, cutoffs_since: u64) -> Listed {
        self.inner
            .revocations
            .list(self.inner.clock.now(), cutoffs_since)
    }

    fn revoke_token<'a>(&'a self, jti: &'a str, until: u64) -> StoreFuture<'a, ()> {
        let jti = jti.to_owned();
        blocking(self, move |s| s.revoke_token_blocking(&jti, until))
    }

    fn revoke_session<'a>(&'a self, sid: &'a str, until: u64) -> StoreFuture<'a, ()> {
        let sid = sid.to_owned();
        blocking(self, move |s| s.revoke_session_blocking(&sid, until))
    }

    fn revoke_user<'a>(&'a self, user: &'a str) -> StoreFuture<'a, u64> {
        let user = user.to_owned();
        blocking(self, move |s| s.revoke_user_blocking(&user))
    }

    fn create_refresh<'a>(
        &'a self,
        user: &'a str,
        sid: &'a str,
        issued_at: u64,
        ttl: Duration,
    ) -> StoreFuture<'a, String> {
        let (user, sid) = (user.to_owned(), sid.to_owned());
        blocking(self, move |s| {
            s.create_refresh_blocking(&user, &sid, issued_at, ttl)
        })
    }

    fn rotate_refresh<'a>(
        &'a self,
        token: &'a str,
        ttl: Duration,
        session_until: u64,
    ) -> StoreFuture<'a, Result<Rotation, RefreshError>> {
        let token = zeroize::Zeroizing::new(token.to_owned());
        blocking(self, move |s| {
            s.rotate_refresh_blocking(&token, ttl, session_until)
        })
    }

    fn revoke_refresh<'a>(&'a self, token: &'a str, session_until: u64) -> StoreFuture<'a, bool> {
        let token = zeroize::Zeroizing::new(token.to_owned());
        blocking(self, move |s| {
            s.revoke_refresh_blocking(&token, session_until)
        })
    }
}

/// The default token store: revocations and refresh tokens in a durable JSON file.
///
/// Reads come from memory; [`reload`](Self::reload) (or [`watch`](Self::watch)) picks up
/// changes other processes made. Writes are blocking locked read-modify-writes.
///
/// Cloning is cheap: clones share one store.
#[derive(Clone)]
pub struct FileTokenStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    clock: Arc<dyn Clock>,
    revocations: Revocations,
    seen: Tracker,
    /// Whether a file was ever read: one that vanishes after is an error to report.
    loaded: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for FileTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileTokenStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl FileTokenStore {
    /// Opens the store at `path` (a missing file is an empty store).
    pub fn open(path: impl Into<PathBuf>, clock: Arc<dyn Clock>) -> Result<Self, Error> {
        let store = Self {
            inner: Arc::new(Inner {
                path: path.into(),
                clock,
                revocations: Revocations::default(),
                seen: Tracker::new(),
                loaded: std::sync::atomic::AtomicBool::new(false),
            }),
        };
        store.reload()?;
        Ok(store)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// How many revoked tokens and sessions are live in memory.
    pub fn revoked_count(&self) -> usize {
        self.inner.revocations.revoked_count()
    }

    /// Re-reads the file if it changed; returns whether it did. On a malformed file the
    /// previous state stays in force and the error is returned.
    pub fn reload(&self) -> Result<bool, Error> {
        let (file, missing) = match self.inner.seen.read_if_changed(&self.inner.path)? {
            Change::Unchanged => return Ok(false),
            Change::Missing => (
                TokenFile::default(),
                self.inner.loaded.load(std::sync::atomic::Ordering::Relaxed),
            ),
            Change::Contents(text) => {
                let file = TokenFile::parse(&text, &self.inner.path)?;
                self.inner
                    .loaded
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                (file, false)
            }
        };
        // Merged, never replaced (store/revocations.rs): a file deleted, or put back from
        // an older copy, never brings a revoked token back to life.
        self.inner
            .revocations
            .merge(file.listed(), self.inner.clock.now());
        if missing {
            return Err(Error::new(
                ErrorKind::Io,
                format!(
                    "{}: the token store is gone; keeping the revocations last known",
                    self.inner.path.display()
                ),
            ));
        }
        Ok(true)
    }

    /// Starts a task that calls [`reload`](Self::reload) every `every`.
    pub fn watch(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        durable::watch(self, every, "token store", Self::reload)
    }

    /// The cut-off of `user`: tokens issued before it are revoked.
    pub fn cutoff(&self, user: &str) -> Option<u64> {
        self.inner.revocations.cutoff(user)
    }

    /// A locked change of the file at `path`, pruned of expired entries.
    fn change<T>(
        path: &Path,
        now: u64,
        change: impl FnOnce(&mut TokenFile) -> Result<T, Error>,
    ) -> Result<T, Error> {
        durable::update(path, |text| {
            let mut file = match text {
                Some(text) => TokenFile::parse(&text, path)?,
                None => TokenFile {
                    version: 1,
                    ..TokenFile::default()
                },
            };
            file.prune(now);
            let out = change(&mut file)?;
            Ok((file.to_json()?, out))
        })
    }

    /// Revokes the token `jti` until `until` (its `exp` plus the leeway). Blocking.
    pub fn revoke_token_at(
        path: &Path,
        jti: &str,
        until: u64,
        clock: &dyn Clock,
    ) -> Result<(), Error> {
        let now = clock.now();
        if until < now {
            return Ok(());
        }
        Self::change(path, now, |f| {
            let entry = f.revoked_tokens.entry(jti.to_owned()).or_insert(until);
            *entry = (*entry).max(until);
            Ok(())
        })
    }

    /// Revokes every token of `user` issued up to now; returns the cut-off (now + 1: a
    /// token issued later in this same second gets an `iat` of at least that). Blocking.
    pub fn revoke_user_at(path: &Path, user: &str, clock: &dyn Clock) -> Result<u64, Error> {
        let now = clock.now();
        let cutoff = now.saturating_add(1);
        Self::change(path, now, |f| {
            let entry = f.user_cutoffs.entry(user.to_owned()).or_insert(cutoff);
            *entry = (*entry).max(cutoff);
            // Their refresh tokens die with them.
            f.refresh_tokens.retain(|_, r| r.user != user);
            Ok(*entry)
        })
    }

    /// Revokes the login session `sid` until `until` (when its last access token would
    /// expire), with its refresh tokens, then reloads. Blocking.
    pub fn revoke_session_blocking(&self, sid: &str, until: u64) -> Result<(), Error> {
        let now = self.inner.clock.now();
        Self::change(&self.inner.path, now, |f| {
            let entry = f.revoked_sessions.entry(sid.to_owned()).or_insert(until);
            *entry = (*entry).max(until);
            f.refresh_tokens.retain(|_, r| r.sid != sid);
            Ok(())
        })?;
        self.reload().map(|_| ())
    }

    /// Revokes every token of `user` issued up to now, then reloads; returns the
    /// cut-off. Blocking.
    pub fn revoke_user_blocking(&self, user: &str) -> Result<u64, Error> {
        let cutoff = Self::revoke_user_at(&self.inner.path, user, self.inner.clock.as_ref())?;
        self.reload()?;
        Ok(cutoff)
    }

    /// Revokes `jti` until `until`, then reloads. Blocking.
    pub fn revoke_token_blocking(&self, jti: &str, until: u64) -> Result<(), Error> {
        Self::revoke_token_at(&self.inner.path, jti, until, self.inner.clock.as_ref())?;
        self.reload().map(|_| ())
    }

    /// Creates a refresh token for `user` in session `sid`, valid for `ttl`, issued with
    /// the access token whose `iat` is `issued_at`: a cut-off revokes both or neither
    /// (an access token issued just after a `revoke-all`, in the same second, carries an
    /// `iat` past the cut-off, and so does its refresh token). Blocking.
    pub fn create_refresh_blocking(
        &self,
        user: &str,
        sid: &str,
        issued_at: u64,
        ttl: Duration,
    ) -> Result<String, Error> {
        let now = self.inner.clock.now();
        let token = crate::random::long_id();
        let record = RefreshRecord {
            user: user.to_owned(),
            sid: sid.to_owned(),
            issued: issued_at,
            expires: now.saturating_add(ttl.as_secs()),
            used: false,
        };
        Self::change(&self.inner.path, now, |f| {
            f.refresh_tokens.insert(refresh_key(&token), record);
            Ok(())
        })?;
        Ok(token)
    }

    /// Exchanges a refresh token for a new one in the same session. A used token
    /// revokes its session until `session_until` (when its last access token would
    /// expire) and is refused. Blocking.
    pub fn rotate_refresh_blocking(
        &self,
        token: &str,
        ttl: Duration,
        session_until: u64,
    ) -> Result<Result<Rotation, RefreshError>, Error> {
        let now = self.inner.clock.now();
        let key = refresh_key(token);
        let out = Self::change(&self.inner.path, now, |f| {
            let Some(record) = f.refresh_tokens.get_mut(&key) else {
                return Ok(Err(RefreshError::Invalid));
            };
            if record.used {
                let sid = record.sid.clone();
                f.revoked_sessions.insert(sid.clone(), session_until);
                f.refresh_tokens.retain(|_, r| r.sid != sid);
                return Ok(Err(RefreshError::Reused));
            }
            let cutoff = f.user_cutoffs.get(&record.user).copied().unwrap_or(0);
            if record.expires < now
                || record.issued < cutoff
                || f.revoked_sessions.contains_key(&record.sid)
            {
                return Ok(Err(RefreshError::Invalid));
            }
            record.used = true;
            let (user, sid) = (record.user.clone(), record.sid.clone());
            let next = crate::random::long_id();
            f.refresh_tokens.insert(
                refresh_key(&next),
                RefreshRecord {
                    user: user.clone(),
                    sid: sid.clone(),
                    issued: now.max(cutoff),
                    expires: now.saturating_add(ttl.as_secs()),
                    used: false,
                },
            );
            Ok(Ok(Rotation {
                user,
                sid,
                refresh_token: next,
            }))
        })?;
        self.reload()?;
        Ok(out)
    }

    /// Revokes the session of a refresh token (RFC 7009 revocation of a refresh token);
    /// returns whether the token was known. Blocking.
    pub fn revoke_refresh_blocking(&self, token: &str, session_until: u64) -> Result<bool, Error> {
        let now = self.inner.clock.now();
        let key = refresh_key(token);
        let found = Self::change(&self.inner.path, now, |f| {
            let Some(sid) = f.refresh_tokens.get(&key).map(|r| r.sid.clone()) else {
                return Ok(false);
            };
            f.revoked_sessions.insert(sid.clone(), session_until);
            f.refresh_tokens.retain(|_, r| r.sid != sid);
            Ok(true)
        })?;
        self.reload()?;
        Ok(found)
    }
}

impl RevocationCheck for FileTokenStore {
    fn is_revoked(&self, claims: &Claims) -> bool {
        self.inner.revocations.is_revoked(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use serde_json::json;
    use std::fs;

    const NOW: u64 = 1_000;

    fn claims(v: serde_json::Value) -> Claims {
        serde_json::from_value(v).unwrap()
    }

    fn store() -> (tempfile::TempDir, Arc<ManualClock>, FileTokenStore) {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(1_000));
        let store =
            FileTokenStore::open(dir.path().join("users.tokens.json"), clock.clone()).unwrap();
        (dir, clock, store)
    }

    #[test]
    fn beside_the_users_file() {
        assert_eq!(
            token_store_path(Path::new("/var/lib/users.json")),
            Path::new("/var/lib/users.tokens.json")
        );
        assert_eq!(
            token_store_path(Path::new("people")),
            Path::new("people.tokens.json")
        );
    }

    #[test]
    fn revoked_jti_until_it_expires_then_pruned() {
        let (_dir, clock, store) = store();
        store.revoke_token_blocking("j1", 1_100).unwrap();
        assert!(store.is_revoked(&claims(serde_json::json!({"jti": "j1", "exp": 1_070}))));
        assert!(!store.is_revoked(&claims(serde_json::json!({"jti": "j2", "exp": 1_070}))));
        clock.set(1_200);
        store.revoke_token_blocking("j3", 1_300).unwrap();
        let text = std::fs::read_to_string(store.path()).unwrap();
        assert!(
            !text.contains("\"j1\"") && text.contains("\"j3\""),
            "{text}"
        );
        assert_eq!(store.revoked_count(), 1);
    }

    #[test]
    fn revoke_all_cuts_off_earlier_tokens_only() {
        let (_dir, clock, store) = store();
        let cutoff = FileTokenStore::revoke_user_at(store.path(), "alice", clock.as_ref()).unwrap();
        store.reload().unwrap();
        assert_eq!(cutoff, 1_001);
        assert!(store.is_revoked(&claims(serde_json::json!({"sub": "alice", "iat": 1_000}))));
        assert!(
            store.is_revoked(&claims(serde_json::json!({"username": "alice"}))),
            "no iat: revoked"
        );
        assert!(!store.is_revoked(&claims(serde_json::json!({"sub": "alice", "iat": 1_001}))));
        assert!(!store.is_revoked(&claims(serde_json::json!({"sub": "bob", "iat": 1}))));
    }

    #[test]
    fn refresh_rotation_and_reuse_detection() {
        let (_dir, clock, store) = store();
        let first = store
            .create_refresh_blocking("alice", "s1", NOW, Duration::from_secs(600))
            .unwrap();
        let text = std::fs::read_to_string(store.path()).unwrap();
        assert!(!text.contains(&first), "stored only as a hash");
        let second = store
            .rotate_refresh_blocking(&first, Duration::from_secs(600), 2_000)
            .unwrap()
            .unwrap();
        assert_eq!((second.user.as_str(), second.sid.as_str()), ("alice", "s1"));
        // The first is used now: presenting it again kills the session.
        assert_eq!(
            store
                .rotate_refresh_blocking(&first, Duration::from_secs(600), 2_000)
                .unwrap()
                .unwrap_err(),
            RefreshError::Reused
        );
        assert!(store.is_revoked(&claims(serde_json::json!({"sid": "s1"}))));
        assert_eq!(
            store
                .rotate_refresh_blocking(&second.refresh_token, Duration::from_secs(600), 2_000)
                .unwrap()
                .unwrap_err(),
            RefreshError::Invalid,
            "the whole family is gone"
        );
        // Expiry and unknown tokens.
        let third = store
            .create_refresh_blocking("bob", "s2", NOW, Duration::from_secs(10))
            .unwrap();
        clock.advance(11);
        assert_eq!(
            store
                .rotate_refresh_blocking(&third, Duration::from_secs(10), 2_000)
                .unwrap()
                .unwrap_err(),
            RefreshError::Invalid
        );
        assert_eq!(
            store
                .rotate_refresh_blocking("nope", Duration::from_secs(10), 2_000)
                .unwrap()
                .unwrap_err(),
            RefreshError::Invalid
        );
    }

    #[test]
    fn a_deleted_or_older_token_store_keeps_the_revocations_last_known() {
        let (_dir, _clock, store) = store();
        store.revoke_token_blocking("j1", NOW + 600).unwrap();
        FileTokenStore::revoke_user_at(store.path(), "bob", &ManualClock::new(NOW)).unwrap();
        store.reload().unwrap();
        let older = fs::read(store.path()).unwrap();
        store.revoke_token_blocking("j2", NOW + 600).unwrap();
        let revoked = |jti: &str, sub: &str| {
            store.is_revoked(&claims(json!({"jti": jti, "sub": sub, "iat": NOW - 5})))
        };
        assert!(revoked("j1", "x") && revoked("j2", "x") && revoked("j3", "bob"));

        fs::remove_file(store.path()).unwrap();
        let err = store.reload().unwrap_err();
        assert!(err.to_string().contains("gone"), "{err}");
        assert!(revoked("j1", "x") && revoked("j2", "x") && revoked("j3", "bob"));

        // Put back from an older copy: j2 stays revoked all the same.
        fs::write(store.path(), older).unwrap();
        assert!(store.reload().unwrap());
        assert!(revoked("j1", "x") && revoked("j2", "x") && revoked("j3", "bob"));
        assert!(!revoked("j4", "alice"));
    }

    #[test]
    fn revoke_all_kills_refresh_tokens() {
        let (_dir, clock, store) = store();
        let token = store
            .create_refresh_blocking("alice", "s1", NOW, Duration::from_secs(600))
            .unwrap();
        FileTokenStore::revoke_user_at(store.path(), "alice", clock.as_ref()).unwrap();
        assert_eq!(
            store
                .rotate_refresh_blocking(&token, Duration::from_secs(600), 2_000)
                .unwrap()
                .unwrap_err(),
            RefreshError::Invalid
        );
    }
}
