//! Does the time of a failed `POST /token` tell anything about the user? The latency
//! of a wrong password for users of every stored hash kind — the current Argon2id cost,
//! an older Argon2id cost, bcrypt at cost 10 and 12 as imported from Express, an
//! unreadable hash — beside an unknown user, at the default (OWASP) policy.
//!
//! The cases are interleaved request by request, in a rotating order, so machine noise
//! hits all alike; the ratios of the medians to the unknown user's are the numbers to
//! read.
//!
//!     cargo bench -p keycard --bench login_timing [-- ROUNDS]

// A benchmark may unwrap and index: failing loudly is what it should do.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use http::{Request, StatusCode};
use keycard::{FileUserStore, Hasher, Issuer, PasswordPolicy, Secret, SigningKey, TokenEndpoint};
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
    let older = PasswordPolicy::new(7168, 5, 1).unwrap();
    let users = [
        ("argon2id", policy.hash("the-real-password").unwrap()),
        ("argon2id-older", older.hash("the-real-password").unwrap()),
        ("bcrypt-10", bcrypt::hash("the-real-password", 10).unwrap()),
        ("bcrypt-12", bcrypt::hash("the-real-password", 12).unwrap()),
        ("unreadable", "not a hash at all".to_owned()),
    ];
    // Written as an Express-era array, which keeps hashes as they are.
    let records: Vec<_> = users
        .iter()
        .map(|(name, hash)| serde_json::json!({"username": name, "passwordHash": hash, "role": "user"}))
        .collect();
    std::fs::write(&path, serde_json::to_vec(&records).unwrap()).unwrap();
    let key = SigningKey::hs256(&Secret::random()).unwrap();
    let endpoint = TokenEndpoint::new(
        Issuer::new(key.clone()),
        Arc::new(FileUserStore::open(&path).unwrap()),
        Hasher::new(policy),
    )
    .with_user_rate(None)
    .with_ip_rate(None);
    let app = endpoint.into_router();

    let mut cases: Vec<&str> = users.iter().map(|(name, _)| *name).collect();
    cases.push("unknown-user");
    let mut times: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); cases.len()];
    // Warm up every path (and let the endpoint measure every kind).
    for user in &cases {
        app.clone().oneshot(login(user)).await.unwrap();
    }
    for i in 0..rounds {
        // Rotate the order, so no case always follows another.
        for j in 0..cases.len() {
            let c = (i + j) % cases.len();
            let t = Instant::now();
            let res = app.clone().oneshot(login(cases[c])).await.unwrap();
            let took = t.elapsed();
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
            times[c].push(took);
        }
    }
    for t in &mut times {
        t.sort();
    }
    println!(
        "POST /token with a wrong password, policy Argon2id m=19456 KiB t=2 p=1, {rounds} interleaved rounds"
    );
    println!(
        "{:<16} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8}",
        "user's hash", "min", "p10", "median", "p90", "p99", "/unknown"
    );
    let unknown = percentile(times.last().unwrap(), 0.5).as_secs_f64();
    for (name, d) in cases.iter().zip(&times) {
        println!(
            "{:<16} {:>10.2?} {:>10.2?} {:>10.2?} {:>10.2?} {:>10.2?} {:>8.3}",
            name,
            d[0],
            percentile(d, 0.10),
            percentile(d, 0.50),
            percentile(d, 0.90),
            percentile(d, 0.99),
            percentile(d, 0.5).as_secs_f64() / unknown
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
