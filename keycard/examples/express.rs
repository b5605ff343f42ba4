//! The Express original (`express-jwt` + `jsonwebtoken` + a users file), rebuilt with
//! Keycard: a `/token` route, a verifying middleware with `unless`, and a `/me` handler.
//!
//!     keycard users add alice --role admin            # or: node adduser.js (bcrypt works)
//!     AUTHENTICATION_SECRET=$(head -c 32 /dev/urandom | base64) cargo run --example express
//!     curl -s localhost:3000/token -H 'content-type: application/json' \
//!          -d '{"username":"alice","password":"…"}'

use std::{sync::Arc, time::Duration};

use axum::{Json, Router, routing::get};
use keycard::{
    AuthLayer, Claims, FileUserStore, Hasher, Issuer, PasswordPolicy, Rules, Secret, ServerLimits,
    SigningKey, TokenEndpoint, Verifier, serve,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key = SigningKey::hs256(&Secret::new(std::env::var("AUTHENTICATION_SECRET")?)?)?;
    let users = Arc::new(FileUserStore::open("users.json")?);
    let _reload = users.watch(Duration::from_secs(1)); // like the original's mtime check
    let login = TokenEndpoint::new(
        Issuer::new(key.clone()),
        users,
        Hasher::new(PasswordPolicy::default()),
    );

    let app = Router::new()
        .route("/me", get(|claims: Claims| async { Json(claims) }))
        .route("/hello", get(|| async { "hello" }))
        .route("/public/hello", get(|| async { "hello" }))
        .merge(login.into_router());
    let app = AuthLayer::new(Verifier::new(key))
        .unless(Rules::new().public("/token")?.public("/public/hello")?)
        .wrap(app);

    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("listening on http://{}", listener.local_addr()?);
    serve(
        listener,
        app,
        ServerLimits::default(),
        std::future::pending(),
    )
    .await?;
    Ok(())
}
