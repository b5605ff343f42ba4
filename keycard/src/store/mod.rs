//! Storage behind two traits: [`UserStore`] (the users) and [`TokenStore`]
//! (revocations and refresh tokens), and [`Accounts`], the rule that ties them. The
//! default implementations are durable JSON files ([`file`](mod@file)).

pub mod file;
#[cfg(feature = "postgres")]
pub mod postgres;
pub(crate) mod tokens;
pub mod users;

use std::sync::Arc;

use crate::error::{Error, ErrorKind};

pub use file::{FileTokenStore, FileUserStore, token_store_path};
pub use tokens::{RefreshError, Rotation, TokenStore};
pub use users::{Put, User, UserStore};

use std::future::Future;
use std::pin::Pin;

/// Runs a file store's blocking work on the blocking pool; `what` names the store in the
/// error when the task itself fails.
pub(crate) async fn on_blocking_pool<T: Send + 'static>(
    what: &str,
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::new(ErrorKind::Unavailable, format!("{what} task failed: {e}")))?
}

/// What a store's async method returns: a boxed future, so that a store can sit behind
/// `Arc<dyn …>` and be chosen at run time (the file, a database).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, crate::Error>> + Send + 'a>>;

/// A user store and a token store, and the rule that ties them: changing a user's
/// password or role, or removing them, ends every token issued to them up to then,
/// access and refresh tokens alike. `keycard users …` goes through it, so no caller can
/// change a user and forget their tokens.
///
/// ```no_run
/// use std::sync::Arc;
/// use keycard::store::Accounts;
/// use keycard::clock::SystemClock;
/// use keycard::store::token_store_path;
/// use keycard::{FileTokenStore, FileUserStore};
///
/// # async fn demote() -> Result<(), keycard::Error> {
/// let users = Arc::new(FileUserStore::open("users.json")?);
/// let tokens = Arc::new(FileTokenStore::open(
///     token_store_path("users.json".as_ref()),
///     Arc::new(SystemClock),
/// )?);
/// let accounts = Accounts::new(users, tokens);
/// accounts.set_role("mallory", "user").await?; // and mallory's admin tokens stop working
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Accounts {
    users: Arc<dyn UserStore>,
    tokens: Arc<dyn TokenStore>,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts").finish_non_exhaustive()
    }
}

impl Accounts {
    /// The accounts of `users`, whose tokens `tokens` revokes.
    pub fn new(users: Arc<dyn UserStore>, tokens: Arc<dyn TokenStore>) -> Self {
        Self { users, tokens }
    }

    /// The user store.
    pub fn users(&self) -> &Arc<dyn UserStore> {
        &self.users
    }

    /// The token store.
    pub fn tokens(&self) -> &Arc<dyn TokenStore> {
        &self.tokens
    }

    /// The user named `name`, if any.
    pub async fn find(&self, name: &str) -> Result<Option<User>, Error> {
        self.users.find(name).await
    }

    /// Every user.
    pub async fn list(&self) -> Result<Vec<User>, Error> {
        self.users.list().await
    }

    /// Adds a user with an already hashed password.
    pub async fn add(&self, name: &str, role: &str, password_hash: String) -> Result<(), Error> {
        self.users.add(name, role, password_hash).await
    }

    /// Sets a user's password hash, and ends their earlier tokens.
    pub async fn set_password(&self, name: &str, password_hash: String) -> Result<(), Error> {
        self.users.set_password_hash(name, password_hash).await?;
        self.tokens.revoke_user(name).await.map(|_| ())
    }

    /// Sets a user's role, and ends their earlier tokens (which carry the old role).
    pub async fn set_role(&self, name: &str, role: &str) -> Result<(), Error> {
        self.users.set_role(name, role).await?;
        self.tokens.revoke_user(name).await.map(|_| ())
    }

    /// Removes a user, and ends their tokens.
    pub async fn remove(&self, name: &str) -> Result<(), Error> {
        self.users.remove(name).await?;
        self.tokens.revoke_user(name).await.map(|_| ())
    }

    /// Adds `user` as it is (hash and creation time kept), or replaces a different record
    /// of that name and ends that user's earlier tokens; says which. Importing the same
    /// users twice changes nothing the second time.
    pub async fn import(&self, user: User) -> Result<Put, Error> {
        let name = user.name().to_owned();
        let put = self.users.put(user).await?;
        if put == Put::Replaced {
            self.tokens.revoke_user(&name).await?;
        }
        Ok(put)
    }

    /// Ends every token issued to `name` up to now ("log out everywhere"); returns the
    /// cut-off.
    pub async fn revoke_all(&self, name: &str) -> Result<u64, Error> {
        if self.users.find(name).await?.is_none() {
            return Err(Error::new(
                ErrorKind::NoSuchUser,
                format!("no user named {name:?}"),
            ));
        }
        self.tokens.revoke_user(name).await
    }
}

#[cfg(test)]
pub(crate) mod conformance;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn file_stores() -> (
        tempfile::TempDir,
        Arc<ManualClock>,
        Arc<FileUserStore>,
        Arc<FileTokenStore>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(1_000));
        let users = Arc::new(FileUserStore::open(dir.path().join("users.json")).unwrap());
        let tokens = Arc::new(
            FileTokenStore::open(dir.path().join("users.tokens.json"), clock.clone()).unwrap(),
        );
        (dir, clock, users, tokens)
    }

    #[tokio::test]
    async fn the_file_store_conforms() {
        let (_dir, clock, users, tokens) = file_stores();
        conformance::users(users).await;
        conformance::tokens(tokens, clock).await;
        let (_dir, _clock, users, tokens) = file_stores();
        conformance::accounts(Accounts::new(users, tokens)).await;
    }
}
