//! The default [`UserStore`]: one JSON file.
//!
//! # The file
//!
//! One human-readable JSON document, rewritten whole on every change:
//!
//! ```json
//! {
//!   "version": 1,
//!   "users": [
//!     {
//!       "name": "alice",
//!       "role": "admin",
//!       "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$…",
//!       "created": "2026-11-28T20:07:31Z"
//!     }
//!   ]
//! }
//! ```
//!
//! `password_hash` is a PHC string: Argon2id, or bcrypt (`$2a$`, `$2b$`, `$2y$`)
//! imported from a Node.js app, re-hashed to Argon2id at the user's next login. The
//! Express original's file (a bare array of `{username, role, passwordHash}`) is read
//! as well, and rewritten in this format at the first change.
//!
//! # Durability
//!
//! Every change is a locked read-modify-write: an exclusive lock on `FILE.lock` is
//! taken, the file is read afresh, changed, written to a temporary file in the same
//! directory, fsynced, renamed over the original, and the directory fsynced. A crash at
//! any instant leaves either the old or the new file, and two writers never lose each
//! other's changes. Readers never lock: they see one whole version or the next.
//!
//! Why one file of ~400 lines: the format, its reading of the Express original, and the
//! store that keeps it consistent are one concept; the trait is `store/users.rs`.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, ErrorKind};
use crate::store::file::durable::{self, Change, Tracker};
use crate::store::users::{Put, User, UserStore, check_role, cost_kind};
use crate::store::{StoreFuture, on_blocking_pool};

/// The whole users file, for a locked read-modify-write ([`FileUserStore::update`]).
#[derive(Clone, Debug, Default)]
pub struct Users {
    users: Vec<User>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnDisk {
    version: u32,
    users: Vec<User>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExpressUser {
    username: String,
    role: String,
    password_hash: String,
}

impl Users {
    fn parse(text: &str, path: &Path) -> Result<Self, Error> {
        let corrupt = |why: String| {
            Error::new(
                ErrorKind::CorruptStore,
                format!("{}: {why}", path.display()),
            )
        };
        let users = if text.trim_start().starts_with('[') {
            let legacy: Vec<ExpressUser> = serde_json::from_str(text)
                .map_err(|e| corrupt(format!("not a users file: {e}")))?;
            legacy
                .into_iter()
                .map(|u| User {
                    name: u.username,
                    role: u.role,
                    password_hash: u.password_hash,
                    created: None,
                })
                .collect()
        } else {
            let file: OnDisk = serde_json::from_str(text)
                .map_err(|e| corrupt(format!("not a users file: {e}")))?;
            if file.version != 1 {
                return Err(corrupt(format!(
                    "unsupported version {}; this keycard reads version 1",
                    file.version
                )));
            }
            file.users
        };
        let mut seen = std::collections::HashSet::new();
        for u in &users {
            if !seen.insert(u.name.as_str()) {
                return Err(corrupt(format!("user {:?} appears twice", u.name)));
            }
        }
        Ok(Self { users })
    }

    /// Parses a users file's contents (this format or the Express original's array), as
    /// [`FileUserStore::read`] does: for `keycard users import`, and fuzzing.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| Error::new(ErrorKind::CorruptStore, "the users file is not UTF-8"))?;
        Self::parse(text, Path::new("users.json"))
    }

    /// All users, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &User> {
        self.users.iter()
    }

    /// How many users there are.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The user named `name`.
    pub fn get(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    fn get_mut(&mut self, name: &str) -> Result<&mut User, Error> {
        self.users
            .iter_mut()
            .find(|u| u.name == name)
            .ok_or_else(|| Error::new(ErrorKind::NoSuchUser, format!("no user named {name:?}")))
    }

    /// Adds a user; the name and role must be valid and the name new.
    pub fn add(
        &mut self,
        name: &str,
        role: &str,
        password_hash: String,
        clock: &dyn Clock,
    ) -> Result<(), Error> {
        let user = User::new(name, role, password_hash)?;
        if self.get(name).is_some() {
            return Err(Error::new(
                ErrorKind::UserExists,
                format!("user {name:?} already exists"),
            ));
        }
        let created =
            humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(clock.now()));
        self.users.push(user.with_created(created.to_string()));
        Ok(())
    }

    /// Adds `user` as it is, or replaces the record of that name if it differs.
    pub fn put(&mut self, user: User) -> Put {
        match self.users.iter_mut().find(|u| u.name == user.name) {
            None => {
                self.users.push(user);
                Put::Added
            }
            Some(same) if *same == user => Put::Unchanged,
            Some(other) => {
                *other = user;
                Put::Replaced
            }
        }
    }

    /// Every user of `users`, as one file holds them (names must be distinct).
    pub fn from_users(users: Vec<User>) -> Result<Self, Error> {
        let mut seen = std::collections::HashSet::new();
        if let Some(twice) = users.iter().find(|u| !seen.insert(u.name.as_str())) {
            return Err(Error::new(
                ErrorKind::CorruptStore,
                format!("user {:?} appears twice", twice.name),
            ));
        }
        Ok(Self { users })
    }

    /// The file's contents: pretty JSON in this format, with a final newline.
    pub fn to_json(&self) -> Result<Vec<u8>, Error> {
        let mut out = serde_json::to_vec_pretty(&OnDisk {
            version: 1,
            users: self.users.clone(),
        })
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot serialize users: {e}")))?;
        out.push(b'\n');
        Ok(out)
    }

    /// Replaces a user's password hash.
    pub fn set_password_hash(&mut self, name: &str, password_hash: String) -> Result<(), Error> {
        self.get_mut(name)?.password_hash = password_hash;
        Ok(())
    }

    /// Changes a user's role.
    pub fn set_role(&mut self, name: &str, role: &str) -> Result<(), Error> {
        check_role(role)?;
        self.get_mut(name)?.role = role.to_owned();
        Ok(())
    }

    /// Removes a user.
    pub fn remove(&mut self, name: &str) -> Result<(), Error> {
        let before = self.users.len();
        self.users.retain(|u| u.name != name);
        if self.users.len() == before {
            return Err(Error::new(
                ErrorKind::NoSuchUser,
                format!("no user named {name:?}"),
            ));
        }
        Ok(())
    }
}

struct Snapshot {
    by_name: HashMap<String, User>,
    kinds: Arc<[String]>,
}

/// The default [`UserStore`]: the JSON file described in the [module docs](self).
///
/// Reads come from an in-memory copy; [`reload`](Self::reload) (or the task
/// [`watch`](Self::watch) starts) picks up changes other processes made.
pub struct FileUserStore {
    path: PathBuf,
    snapshot: RwLock<Arc<Snapshot>>,
    seen: Tracker,
}

impl fmt::Debug for FileUserStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileUserStore")
            .field("path", &self.path)
            .field("users", &self.len())
            .finish()
    }
}

impl FileUserStore {
    /// Opens the store at `path`. A missing file is an empty store (users may be added
    /// later); an unreadable or malformed one is an error.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, Error> {
        let store = Self {
            path: path.into(),
            snapshot: RwLock::new(Arc::new(Snapshot {
                by_name: HashMap::new(),
                kinds: Arc::from(Vec::new()),
            })),
            seen: Tracker::new(),
        };
        store.reload()?;
        Ok(store)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many users the in-memory copy holds.
    pub fn len(&self) -> usize {
        self.current().by_name.len()
    }

    /// Whether the in-memory copy holds no user.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn current(&self) -> Arc<Snapshot> {
        crate::sync::read(&self.snapshot).clone()
    }

    /// Re-reads the file if it changed since the last read; returns whether it did.
    /// On a malformed file the previous users stay in force and the error is returned.
    pub fn reload(&self) -> Result<bool, Error> {
        let users = match self.seen.read_if_changed(&self.path)? {
            Change::Unchanged => return Ok(false),
            Change::Missing => Users::default(),
            Change::Contents(text) => Users::parse(&text, &self.path)?,
        };
        let kinds: std::collections::BTreeSet<String> = users
            .users
            .iter()
            .map(|u| cost_kind(&u.password_hash))
            .collect();
        let by_name = users
            .users
            .into_iter()
            .map(|u| (u.name.clone(), u))
            .collect();
        let fresh = Arc::new(Snapshot {
            by_name,
            kinds: kinds.into_iter().collect(),
        });
        *crate::sync::write(&self.snapshot) = fresh;
        Ok(true)
    }

    /// Starts a task that calls [`reload`](Self::reload) every `every`, so changes
    /// made by `keycard users …` or another process show within that time.
    pub fn watch(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        durable::watch(self, every, "users file", Self::reload)
    }

    /// A locked read-modify-write of the file at `path` (see the [module
    /// docs](self)). Nothing is written when `change` fails. Blocking.
    pub fn update<T>(
        path: &Path,
        change: impl FnOnce(&mut Users) -> Result<T, Error>,
    ) -> Result<T, Error> {
        durable::update(path, |text| {
            let mut users = match text {
                Some(text) => Users::parse(&text, path)?,
                None => Users::default(),
            };
            let out = change(&mut users)?;
            Ok((users.to_json()?, out))
        })
    }

    /// Reads the file at `path` without locking. A missing file has no users.
    pub fn read(path: &Path) -> Result<Users, Error> {
        match durable::read(path)? {
            Some(text) => Users::parse(&text, path),
            None => Ok(Users::default()),
        }
    }
}

impl FileUserStore {
    /// A locked change of the file on the blocking pool, then a reload.
    fn change<'a, T: Send + 'static>(
        &'a self,
        change: impl FnOnce(&mut Users) -> Result<T, Error> + Send + 'static,
    ) -> StoreFuture<'a, T> {
        let path = self.path.clone();
        Box::pin(async move {
            let out = on_blocking_pool("users file", move || Self::update(&path, change)).await?;
            self.reload()?;
            Ok(out)
        })
    }
}

impl UserStore for FileUserStore {
    /// The user's record as the file holds it now: the file is checked for a change
    /// first (one `stat`), so a login never goes by a record that `keycard users …` has
    /// already replaced. On a malformed file the previous users stay in force.
    fn find<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<User>> {
        if let Err(e) = self.reload() {
            tracing::error!(error = %e, "users file not reloaded; keeping the previous users");
        }
        let user = self.current().by_name.get(name).cloned();
        Box::pin(std::future::ready(Ok(user)))
    }

    fn upgrade_password_hash<'a>(
        &'a self,
        name: &'a str,
        old: &'a str,
        new: String,
    ) -> StoreFuture<'a, bool> {
        let (name, old) = (name.to_owned(), old.to_owned());
        self.change(move |users| match users.get(&name) {
            // Only if nobody changed it meanwhile (passwd, remove): never undo an edit.
            Some(u) if u.password_hash == old => users.set_password_hash(&name, new).map(|()| true),
            _ => Ok(false),
        })
    }

    fn add<'a>(
        &'a self,
        name: &'a str,
        role: &'a str,
        password_hash: String,
    ) -> StoreFuture<'a, ()> {
        let (name, role) = (name.to_owned(), role.to_owned());
        self.change(move |users| users.add(&name, &role, password_hash, &SystemClock))
    }

    fn set_password_hash<'a>(
        &'a self,
        name: &'a str,
        password_hash: String,
    ) -> StoreFuture<'a, ()> {
        let name = name.to_owned();
        self.change(move |users| users.set_password_hash(&name, password_hash))
    }

    fn set_role<'a>(&'a self, name: &'a str, role: &'a str) -> StoreFuture<'a, ()> {
        let (name, role) = (name.to_owned(), role.to_owned());
        self.change(move |users| users.set_role(&name, &role))
    }

    fn remove<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ()> {
        let name = name.to_owned();
        self.change(move |users| users.remove(&name))
    }

    fn list(&self) -> StoreFuture<'_, Vec<User>> {
        let path = self.path.clone();
        Box::pin(async move {
            Ok(on_blocking_pool("users file", move || Self::read(&path))
                .await?
                .users)
        })
    }

    fn put(&self, user: User) -> StoreFuture<'_, Put> {
        self.change(move |users| Ok(users.put(user)))
    }

    fn hash_kinds(&self) -> Arc<[String]> {
        self.current().kinds.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::fs;

    static CLOCK: ManualClock = ManualClock::new(1_795_000_000);

    #[test]
    fn add_list_change_remove_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.json");
        FileUserStore::update(&path, |u| {
            u.add("alice", "admin", "$argon2id$x".into(), &CLOCK)
        })
        .unwrap();
        FileUserStore::update(&path, |u| {
            u.add("bob", "user", "$argon2id$y".into(), &CLOCK)
        })
        .unwrap();
        let err =
            FileUserStore::update(&path, |u| u.add("bob", "user", "h".into(), &CLOCK)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UserExists);
        FileUserStore::update(&path, |u| u.set_role("bob", "admin")).unwrap();
        FileUserStore::update(&path, |u| u.remove("alice")).unwrap();
        let users = FileUserStore::read(&path).unwrap();
        assert_eq!(users.len(), 1);
        let bob = users.get("bob").unwrap();
        assert_eq!(
            (bob.role(), bob.created()),
            ("admin", Some("2026-11-18T11:06:40Z"))
        );
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"version\": 1"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        // No temporary files left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn a_failed_change_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.json");
        FileUserStore::update(&path, |u| u.add("alice", "admin", "h".into(), &CLOCK)).unwrap();
        let before = fs::read(&path).unwrap();
        assert!(
            FileUserStore::update(&path, |u| u.add("bad name", "admin", "h".into(), &CLOCK))
                .is_err()
        );
        assert!(FileUserStore::update(&path, |u| u.remove("nobody")).is_err());
        assert_eq!(fs::read(&path).unwrap(), before);
    }

    #[test]
    fn express_array_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.json");
        fs::write(
            &path,
            r#"[{"username":"alice","role":"admin","passwordHash":"$2b$10$abc"}]"#,
        )
        .unwrap();
        let store = FileUserStore::open(&path).unwrap();
        assert_eq!(store.len(), 1);
        FileUserStore::update(&path, |u| u.add("bob", "user", "h".into(), &CLOCK)).unwrap();
        assert!(
            fs::read_to_string(&path)
                .unwrap()
                .contains("\"password_hash\": \"$2b$10$abc\"")
        );
    }

    #[test]
    fn malformed_files_are_refused_and_keep_the_old_users() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.json");
        FileUserStore::update(&path, |u| u.add("alice", "admin", "h".into(), &CLOCK)).unwrap();
        let store = FileUserStore::open(&path).unwrap();
        for bad in [
            "{",
            r#"{"version":2,"users":[]}"#,
            r#"{"version":1,"users":[],"extra":1}"#,
            r#"{"version":1,"users":[{"name":"a","role":"r","password_hash":"h"},{"name":"a","role":"r","password_hash":"h"}]}"#,
        ] {
            fs::write(&path, bad).unwrap();
            assert_eq!(
                store.reload().unwrap_err().kind(),
                ErrorKind::CorruptStore,
                "{bad}"
            );
            assert_eq!(store.len(), 1);
        }
    }

    #[test]
    fn reload_sees_other_writers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.json");
        let store = FileUserStore::open(&path).unwrap();
        assert!(store.is_empty());
        FileUserStore::update(&path, |u| u.add("alice", "admin", "h".into(), &CLOCK)).unwrap();
        assert!(store.reload().unwrap());
        assert_eq!(store.len(), 1);
        assert!(!store.reload().unwrap());
        fs::remove_file(&path).unwrap();
        assert!(store.reload().unwrap());
        assert!(store.is_empty());
    }
}
