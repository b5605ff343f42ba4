//! The default stores: durable JSON files (locked, atomic, watched) for the users and
//! for the token state.

pub(crate) mod durable;
pub mod tokens;
pub mod users;

pub use tokens::{FileTokenStore, token_store_path};
pub use users::{FileUserStore, Users};
