//! How much memory a flood of distinct usernames (or addresses) can make the login
//! rate limiter hold: keys are added until the count stops growing, and the resident
//! memory of this process is read from /proc as it goes.
//!
//!     cargo bench -p keycard --bench bucket_flood

// A benchmark may unwrap: failing loudly is what it should do.
#![allow(clippy::unwrap_used, missing_docs)]

use std::hash::{BuildHasher, RandomState};

use keycard::duration::Rate;
use keycard::login::RateLimiter;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    // As the token endpoint keys it: a keyed hash of the attempted username.
    let names = RandomState::new();
    let limiter: RateLimiter<u64> = RateLimiter::new(Rate::parse("10/m").unwrap());
    let before = rss_kib();
    println!("{:>12} {:>10} {:>12}", "usernames", "buckets", "RSS growth");
    let mut last = 0;
    for i in 1..=1_000_000u64 {
        let _ = limiter.acquire(&names.hash_one(format!("flood-user-{i}")));
        if i % 100_000 == 0 || i == 50_000 || i == 25_000 {
            let n = limiter.len();
            println!(
                "{i:>12} {n:>10} {:>9} KiB",
                rss_kib().saturating_sub(before)
            );
            last = n;
        }
    }
    println!("buckets stop growing at {last} (the capacity); memory stays flat from there");
}
