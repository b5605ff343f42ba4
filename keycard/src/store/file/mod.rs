//! The default stores: durable JSON files (locked, atomic, watched) for the users and
//! for the token state.
//!
//! ```
//! use std::sync::Arc;
//! use keycard::clock::SystemClock;
//! use keycard::store::file::{FileTokenStore, FileUserStore, token_store_path};
//! use keycard::{TokenStore, UserStore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), keycard::Error> {
//! # let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("users.json");
//! let users = FileUserStore::open(&path)?;
//! users.add("alice", "user", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()).await?;
//! // Another process sees the change on disk.
//! assert_eq!(FileUserStore::open(&path)?.len(), 1);
//!
//! let tokens = FileTokenStore::open(token_store_path(&path), Arc::new(SystemClock))?;
//! let cutoff = tokens.revoke_user("alice").await?; // "log out everywhere"
//! assert_eq!(tokens.cutoff("alice"), Some(cutoff));
//! # Ok(()) }
//! ```

pub(crate) mod durable;
pub mod tokens;
pub mod users;

pub use tokens::{FileTokenStore, token_store_path};
pub use users::{FileUserStore, Users};
