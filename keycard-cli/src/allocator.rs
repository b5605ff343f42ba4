//! Keeping the allocator from holding on to Argon2's working memory.
//!
//! Each Argon2id hash works in one block of its memory cost (19 MiB by default).
//! glibc's malloc serves a block that large with `mmap` and unmaps it when freed, but
//! it also raises its mmap threshold to the size of the largest block freed (up to
//! 32 MiB). From then on every Argon2 block comes from a heap arena, and a freed one
//! stays resident: after a few logins and a burst of them, the server held 27 to 65
//! MB for good instead of going back to ~7 MB. Fixing the threshold keeps those
//! blocks mapped and unmapped as they come and go, as musl does anyway. (Measured
//! with `bash bench/run`, "Logins" and "Footprint".)

/// glibc's default starting threshold (128 KiB), made fixed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 * 1024;

/// Fixes the allocator's mmap threshold. Called first thing, before any thread starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn give_large_blocks_back() {
    // SAFETY: mallopt only sets one of the allocator's tuning parameters, under the
    // allocator's own lock; it reads and writes no memory of ours. Its return value
    // (1 on success) needs no handling: on failure the default behaviour remains.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// Other allocators (musl's included) give large blocks back already.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn give_large_blocks_back() {}
