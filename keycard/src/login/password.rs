//! Password hashing: Argon2id for new hashes, bcrypt accepted from Express-era files
//! (`password/policy.rs`), and a bounded pool that keeps hashing off the async runtime and
//! verification times alike (`password/pool.rs`).

mod policy;
mod pool;

pub use crate::store::users::cost_kind;
pub use policy::{
    MAX_PASSWORD_LEN, MIN_PASSWORD_LEN, PasswordPolicy, Verification, check_password,
};
pub use pool::{Busy, Hasher};

#[cfg(test)]
mod tests;
