//! Locks that keep working after a panic elsewhere.
//!
//! A panic while a lock is held poisons it; every later `lock()` then fails. Keycard's
//! locks guard a snapshot swapped whole (users, revocations, a JWKS key set) or a cache
//! (rate-limit buckets, Argon2 buffers, the last version of a file read), none of which
//! a panic can leave half-written in a way that matters, so a poisoned lock is used as is
//! rather than failing every request after it.

// Which of these a build uses depends on its features.
#![cfg_attr(not(feature = "server"), allow(dead_code))]

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// `m.lock()`, poisoned or not.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `l.read()`, poisoned or not.
pub(crate) fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

/// `l.write()`, poisoned or not.
pub(crate) fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}
