//! The user database behind a trait: [`UserStore`], the [`User`] record, and the rules
//! for usernames and roles. The default implementation is the JSON file of
//! [`file::users`](crate::store::file::users); a database is another.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::duration::Rate;
use crate::error::{Error, ErrorKind};
use crate::store::StoreFuture;

/// A user as stored.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub(crate) name: String,
    pub(crate) role: String,
    pub(crate) password_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) created: Option<String>,
}

impl User {
    /// A user record, for a store of your own: `name` and `role` must pass
    /// [`check_username`] and [`check_role`]; `password_hash` is a PHC string (Argon2id,
    /// or bcrypt from an Express-era file), as `PasswordPolicy::hash` makes.
    ///
    /// ```
    /// use keycard::store::User;
    ///
    /// let user = User::new("alice", "admin", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA")?
    ///     .with_created("2026-12-01T12:00:00Z");
    /// assert_eq!((user.name(), user.role()), ("alice", "admin"));
    /// assert!(User::new("not a name", "admin", "").is_err());
    /// # Ok::<(), keycard::Error>(())
    /// ```
    pub fn new(name: &str, role: &str, password_hash: impl Into<String>) -> Result<Self, Error> {
        check_username(name)?;
        check_role(role)?;
        Ok(Self {
            name: name.to_owned(),
            role: role.to_owned(),
            password_hash: password_hash.into(),
            created: None,
        })
    }

    /// Records when the user was created (RFC 3339, UTC).
    pub fn with_created(mut self, created: impl Into<String>) -> Self {
        self.created = Some(created.into());
        self
    }

    /// The username.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The role.
    pub fn role(&self) -> &str {
        &self.role
    }
    /// The PHC string of the password hash.
    pub fn password_hash(&self) -> &str {
        &self.password_hash
    }
    /// When the user was created (RFC 3339, UTC); unknown for imported users.
    pub fn created(&self) -> Option<&str> {
        self.created.as_deref()
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("password_hash", &"[redacted]")
            .field("created", &self.created)
            .finish()
    }
}

/// Where users come from: the file store, a database, or anything else (a directory).
///
/// Every method is async and may fail with
/// [`ErrorKind::Unavailable`] apart from what it finds,
/// because a networked store fails; "no such user" is `Ok(None)` from
/// [`find`](Self::find) and [`ErrorKind::NoSuchUser`] from
/// a change. The futures are boxed so that a store can sit behind `Arc<dyn UserStore>`.
///
/// The token endpoint needs only [`find`](Self::find) and
/// [`upgrade_password_hash`](Self::upgrade_password_hash); the changes (`keycard users …`)
/// default to refusing, for a read-only store. Changing a password or a role, or removing
/// a user, must also end their tokens: [`Accounts`](crate::store::Accounts) ties that rule
/// to a user store and a token store.
pub trait UserStore: Send + Sync + 'static {
    /// The user named `name` as the store holds it now, if any.
    fn find<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<User>>;

    /// Replaces `name`'s password hash with `new` if it is still `old` (after a login
    /// upgraded it); returns whether it did. A store that cannot write may return
    /// `Ok(false)`.
    fn upgrade_password_hash<'a>(
        &'a self,
        name: &'a str,
        old: &'a str,
        new: String,
    ) -> StoreFuture<'a, bool>;

    /// Adds a user (refused when the name is taken, or the name or role is malformed).
    fn add<'a>(
        &'a self,
        name: &'a str,
        role: &'a str,
        password_hash: String,
    ) -> StoreFuture<'a, ()> {
        let _ = (name, role, password_hash);
        read_only()
    }

    /// Sets `name`'s password hash.
    fn set_password_hash<'a>(
        &'a self,
        name: &'a str,
        password_hash: String,
    ) -> StoreFuture<'a, ()> {
        let _ = (name, password_hash);
        read_only()
    }

    /// Sets `name`'s role.
    fn set_role<'a>(&'a self, name: &'a str, role: &'a str) -> StoreFuture<'a, ()> {
        let _ = (name, role);
        read_only()
    }

    /// Removes `name`.
    fn remove<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ()> {
        let _ = name;
        read_only()
    }

    /// Every user, in the store's order.
    fn list(&self) -> StoreFuture<'_, Vec<User>> {
        read_only()
    }

    /// Adds `user` as it is (hash and creation time kept), or replaces the record of that
    /// name if it differs; says which (`keycard users import`).
    fn put(&self, user: User) -> StoreFuture<'_, Put> {
        let _ = user;
        read_only()
    }

    /// Takes one attempt from `name`'s failed-login bucket shared by every node on this
    /// store, at `rate`: `Ok(None)` if the store shares none (the endpoint's own
    /// in-memory bucket is then the limit), else `Ok(Some(Ok(())))`, or the whole seconds
    /// until an attempt is available.
    fn take_login_attempt<'a>(
        &'a self,
        name: &'a str,
        rate: Rate,
    ) -> StoreFuture<'a, Option<Result<(), u64>>> {
        let _ = (name, rate);
        Box::pin(std::future::ready(Ok(None)))
    }

    /// Gives back an attempt taken by [`take_login_attempt`](Self::take_login_attempt)
    /// (the login succeeded).
    fn refund_login_attempt<'a>(&'a self, name: &'a str, rate: Rate) -> StoreFuture<'a, ()> {
        let _ = (name, rate);
        Box::pin(std::future::ready(Ok(())))
    }

    /// The distinct cost kinds of the stored password hashes ([`cost_kind`]: `$2b$12`,
    /// an Argon2 cost), so that every login can take as long as the slowest kind and none
    /// tells whose hash is cheaper. Defaults to none: a store that does not say leaves
    /// logins of a kind not yet seen distinguishable until one was.
    fn hash_kinds(&self) -> Arc<[String]> {
        Arc::from(Vec::new())
    }
}

/// What [`UserStore::put`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Put {
    /// The user was new.
    Added,
    /// A different record of that name was replaced.
    Replaced,
    /// The same record was there already.
    Unchanged,
}

fn read_only<T: Send + 'static>() -> StoreFuture<'static, T> {
    Box::pin(std::future::ready(Err(Error::new(
        ErrorKind::Unavailable,
        "this user store is read-only",
    ))))
}

/// What verifying `stored` costs depends on this alone: the bcrypt variant and cost
/// (`$2b$12`), or the PHC algorithm, version and parameters
/// (`$argon2id$v=19$m=19456,t=2,p=1`). Anything else is `unreadable` (verified as the
/// policy's dummy). Read from the string alone, so the store needs no hashing code.
pub fn cost_kind(stored: &str) -> String {
    if ["$2a$", "$2b$", "$2y$"]
        .iter()
        .any(|p| stored.starts_with(p))
    {
        return stored.get(..6).unwrap_or("$2b$").to_owned();
    }
    let fields: Vec<&str> = stored.split('$').collect();
    match fields.as_slice() {
        ["", alg, v, params, _salt, _hash] if v.starts_with("v=") => {
            format!("${alg}${v}${params}")
        }
        ["", alg, params, _salt, _hash] => format!("${alg}${params}"),
        _ => UNREADABLE.to_owned(),
    }
}

/// The [`cost_kind`] of a hash that is not one.
pub(crate) const UNREADABLE: &str = "unreadable";

fn allowed(c: char, extra: &[char]) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-') || extra.contains(&c)
}

/// Checks a username: 1–64 characters of `A-Z a-z 0-9 . _ @ -`.
pub fn check_username(name: &str) -> Result<(), Error> {
    if (1..=64).contains(&name.len()) && name.chars().all(|c| allowed(c, &[])) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::InvalidUsername,
            format!("invalid username {name:?}: use 1 to 64 characters of A-Z a-z 0-9 . _ @ -"),
        ))
    }
}

/// Checks a role: 1–64 characters of `A-Z a-z 0-9 . _ @ - :`.
pub fn check_role(role: &str) -> Result<(), Error> {
    if (1..=64).contains(&role.len()) && role.chars().all(|c| allowed(c, &[':'])) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::InvalidRole,
            format!("invalid role {role:?}: use 1 to 64 characters of A-Z a-z 0-9 . _ @ - :"),
        ))
    }
}

impl<T: UserStore + ?Sized> UserStore for Arc<T> {
    fn find<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<User>> {
        (**self).find(name)
    }
    fn upgrade_password_hash<'a>(
        &'a self,
        name: &'a str,
        old: &'a str,
        new: String,
    ) -> StoreFuture<'a, bool> {
        (**self).upgrade_password_hash(name, old, new)
    }
    fn add<'a>(
        &'a self,
        name: &'a str,
        role: &'a str,
        password_hash: String,
    ) -> StoreFuture<'a, ()> {
        (**self).add(name, role, password_hash)
    }
    fn set_password_hash<'a>(
        &'a self,
        name: &'a str,
        password_hash: String,
    ) -> StoreFuture<'a, ()> {
        (**self).set_password_hash(name, password_hash)
    }
    fn set_role<'a>(&'a self, name: &'a str, role: &'a str) -> StoreFuture<'a, ()> {
        (**self).set_role(name, role)
    }
    fn remove<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ()> {
        (**self).remove(name)
    }
    fn list(&self) -> StoreFuture<'_, Vec<User>> {
        (**self).list()
    }
    fn put(&self, user: User) -> StoreFuture<'_, Put> {
        (**self).put(user)
    }
    fn take_login_attempt<'a>(
        &'a self,
        name: &'a str,
        rate: Rate,
    ) -> StoreFuture<'a, Option<Result<(), u64>>> {
        (**self).take_login_attempt(name, rate)
    }
    fn refund_login_attempt<'a>(&'a self, name: &'a str, rate: Rate) -> StoreFuture<'a, ()> {
        (**self).refund_login_attempt(name, rate)
    }
    fn hash_kinds(&self) -> Arc<[String]> {
        (**self).hash_kinds()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_roles() {
        for ok in ["a", "alice.smith@example.com", "A_b-9", &"x".repeat(64)] {
            assert!(check_username(ok).is_ok(), "{ok:?}");
        }
        for bad in ["", "a b", "ålice", "a/b", "a:b", &"x".repeat(65)] {
            assert!(check_username(bad).is_err(), "{bad:?}");
        }
        assert!(check_role("ns:admin").is_ok());
        assert!(check_role("").is_err());
    }
}
