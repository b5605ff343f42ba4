//! Storage: durable files (locked, atomic, watched), the users file behind the
//! [`UserStore`](crate::UserStore) trait, and the token store (revocations and refresh
//! tokens).

pub(crate) mod durable;
pub(crate) mod tokens;
pub mod users;
