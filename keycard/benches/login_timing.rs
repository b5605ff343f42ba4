//! Unknown user vs wrong password: the two latency distributions of `POST /token`,
//! side by side, at the default (OWASP) Argon2id cost.
//!
//! The two cases are interleaved request by request, so machine noise hits both
//! alike; the ratio of the medians is the number to read.
//!
//!     cargo bench -p keycard --bench login_timing [-- ROUNDS]

// A benchmark may unwrap and index: failing loudly is what it should do.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use http::{Request, StatusCode};
use keycard::*;
use tower::ServiceExt;

fn login(user: &str) -> Request<Body> {
    Request::post("/token")
        .header("content-type", "application/json")
        .body(Body::from(format!(
            r#"{{"username":"{user}","password":"not-the-password"}}"#
        )))
        .unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200);
    let dir = std::env::temp_dir().join(format!("keycard-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("users.json");
    let policy = PasswordPolicy::default();
    let hash = policy.hash("the-real-password").unwrap();
    FileUserStore::update(&path, |u| u.add("alice", "admin", hash, &SystemClock)).unwrap();
    let key = SigningKey::hs256(&Secret::random()).unwrap();
    let endpoint = TokenEndpoint::new(
        Issuer::new(key.clone()),
        Arc::new(FileUserStore::open(&path).unwrap()),
        Hasher::new(policy),
    )
    .with_user_rate(None)
    .with_ip_rate(None);
    let app = endpoint.into_router();

    let mut wrong = Vec::with_capacity(rounds);
    let mut unknown = Vec::with_capacity(rounds);
    // Warm up both paths.
    for user in ["alice", "mallory"] {
        app.clone().oneshot(login(user)).await.unwrap();
    }
    for i in 0..rounds {
        // Alternate which goes first, so neither always follows the other.
        let order = if i % 2 == 0 {
            ["alice", "mallory"]
        } else {
            ["mallory", "alice"]
        };
        for user in order {
            let t = Instant::now();
            let res = app.clone().oneshot(login(user)).await.unwrap();
            let took = t.elapsed();
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
            if user == "alice" {
                wrong.push(took)
            } else {
                unknown.push(took)
            }
        }
    }
    wrong.sort();
    unknown.sort();
    println!("POST /token, Argon2id m=19456 KiB t=2 p=1, {rounds} interleaved rounds");
    println!(
        "{:<16} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "case", "min", "p10", "median", "p90", "p99"
    );
    for (name, d) in [("wrong password", &wrong), ("unknown user", &unknown)] {
        println!(
            "{:<16} {:>10.2?} {:>10.2?} {:>10.2?} {:>10.2?} {:>10.2?}",
            name,
            d[0],
            percentile(d, 0.10),
            percentile(d, 0.50),
            percentile(d, 0.90),
            percentile(d, 0.99)
        );
    }
    let ratio = percentile(&unknown, 0.5).as_secs_f64() / percentile(&wrong, 0.5).as_secs_f64();
    println!("median ratio unknown/wrong: {ratio:.3}");
    let _ = std::fs::remove_dir_all(&dir);
}
