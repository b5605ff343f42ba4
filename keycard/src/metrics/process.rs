//! The process's resident memory and open file descriptors, read from `/proc` at each
//! scrape (Linux; elsewhere the two metrics are left out).

/// Resident set size in bytes: `VmRSS` of `/proc/self/status`.
pub(super) fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

/// Open file descriptors: the entries of `/proc/self/fd` (less the one reading it).
pub(super) fn open_fds() -> Option<u64> {
    let entries = std::fs::read_dir("/proc/self/fd").ok()?;
    let n = entries.count() as u64;
    Some(n.saturating_sub(1))
}
