//! The `AuthLayer`'s own cost per request, without sockets: one axum router called in
//! process (`oneshot`), bare and behind the layer, with the same request (an HS256
//! bearer token, found in the verified-token cache after the first call). The
//! difference is what the layer adds to a request on a cache hit: path normalization,
//! the rules, the token's lookup, the claims into the extensions.
//!
//!     cargo bench -p keycard --bench layer
//!
//! `bench/run` reports `protected - bare` beside the served numbers.

// A benchmark may unwrap: failing loudly is what it should do.
#![allow(clippy::unwrap_used, missing_docs)]

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, StatusCode, header};
use tower::ServiceExt;

use keycard::{AuthLayer, Claims, Issuer, Rules, Secret, SigningKey, Verifier};

fn routes() -> Router {
    Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route("/public/hello", get(|| async { "hello" }))
        .route(
            "/me",
            get(|claims: Claims| async move { claims.username().unwrap_or_default().len().to_string() }),
        )
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let key = SigningKey::hs256(&Secret::new(vec![42; 32]).unwrap()).unwrap();
    let token = Issuer::new(key.clone())
        .with_audience("bench")
        .issue("alice", "admin")
        .unwrap()
        .token;
    let bearer = format!("Bearer {token}");
    let rules = Rules::new().public("/public/hello").unwrap();
    let protected = AuthLayer::new(Verifier::new(key).with_audience("bench"))
        .unless(rules)
        .wrap(routes());
    let bare = routes();
    let call = |app: &Router, path: &'static str, want: StatusCode| {
        let req = Request::get(path)
            .header(header::AUTHORIZATION, &bearer)
            .body(Body::empty())
            .unwrap();
        let res = rt.block_on(app.clone().oneshot(req)).unwrap();
        assert_eq!(res.status(), want);
    };
    // Fills the cache and checks the setup once.
    call(&protected, "/hello", StatusCode::OK);
    call(&protected, "/me", StatusCode::OK);

    // Side by side in one group, so that noise falls on all of them alike.
    let mut group = c.benchmark_group("layer");
    group.bench_function("bare", |b| b.iter(|| call(&bare, "/hello", StatusCode::OK)));
    group.bench_function("protected", |b| {
        b.iter(|| call(&protected, "/hello", StatusCode::OK))
    });
    group.bench_function("public", |b| {
        b.iter(|| call(&protected, "/public/hello", StatusCode::OK))
    });
    group.bench_function("claims", |b| {
        b.iter(|| call(&protected, "/me", StatusCode::OK))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
