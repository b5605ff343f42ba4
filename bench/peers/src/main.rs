//! `peers MODE PORT`: serves `GET /hello` ("hello") on 127.0.0.1:PORT, protected by MODE's
//! HS256 check over `AUTHENTICATION_SECRET` with the audience `keycard-bench` required
//! (axum-jwt-auth insists on one; every mode then checks it), and `GET /public/hello`
//! unprotected. Prints `listening PORT`.
//!
//! Modes: `bare` (axum 0.8, no check), `keycard` (Keycard's AuthLayer, axum::serve),
//! `keycard-serve` (the same router on keycard::serve), `axum-jwt-auth` (its Claims
//! extractor), `bare07` (axum 0.7, no check) and `jwt-authorizer` (its layer, axum 0.7).

use std::sync::Arc;

use serde::Deserialize;

/// The claims each peer decodes: what a handler would read.
#[derive(Clone, Debug, Deserialize)]
#[allow(dead_code)]
struct Claims {
    sub: Option<String>,
    role: Option<String>,
    exp: u64,
}

/// The audience every mode requires.
const AUDIENCE: &str = "keycard-bench";

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().expect("MODE");
    let port: u16 = args.next().expect("PORT").parse().expect("a port");
    let secret = std::env::var("AUTHENTICATION_SECRET").expect("AUTHENTICATION_SECRET");
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    println!("listening {}", listener.local_addr().unwrap().port());
    match mode.as_str() {
        "bare" => axum::serve(listener, v08(false)).await.unwrap(),
        "keycard" => axum::serve(listener, keycard_layer(&secret)).await.unwrap(),
        "keycard-serve" => {
            keycard::serve(
                listener,
                keycard_layer(&secret),
                keycard::ServerLimits::default(),
                std::future::pending(),
            )
            .await
            .unwrap();
        }
        "axum-jwt-auth" => axum::serve(listener, axum_jwt_auth(&secret)).await.unwrap(),
        "bare07" => axum07::serve(listener, v07()).await.unwrap(),
        "jwt-authorizer" => axum07::serve(listener, jwt_authorizer(&secret).await)
            .await
            .unwrap(),
        other => panic!("unknown mode {other}"),
    }
}

fn v08(_: bool) -> axum::Router {
    use axum::routing::get;
    axum::Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route("/public/hello", get(|| async { "hello" }))
}

fn keycard_layer(secret: &str) -> axum::Router {
    let key =
        keycard::SigningKey::hs256(&keycard::Secret::new(secret.as_bytes().to_vec()).unwrap())
            .unwrap();
    let rules = keycard::Rules::new().public("/public/hello").unwrap();
    keycard::AuthLayer::new(keycard::Verifier::new(key).with_audience(AUDIENCE))
        .unless(rules)
        .wrap(v08(true))
}

fn axum_jwt_auth(secret: &str) -> axum::Router {
    use axum::routing::get;
    use axum_jwt_auth::{Decoder, LocalDecoder};
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_audience(&[AUDIENCE]);
    let decoder: Decoder<Claims> = Arc::new(
        LocalDecoder::builder()
            .keys(vec![jsonwebtoken::DecodingKey::from_secret(
                secret.as_bytes(),
            )])
            .validation(validation)
            .build()
            .unwrap(),
    );
    axum::Router::new()
        .route(
            "/hello",
            get(|_: axum_jwt_auth::Claims<Claims>| async { "hello" }),
        )
        .route("/public/hello", get(|| async { "hello" }))
        .with_state(decoder)
}

fn v07() -> axum07::Router {
    use axum07::routing::get;
    axum07::Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route("/public/hello", get(|| async { "hello" }))
}

async fn jwt_authorizer(secret: &str) -> axum07::Router {
    use axum07::routing::get;
    use jwt_authorizer::{IntoLayer, JwtAuthorizer};
    let auth = JwtAuthorizer::<Claims>::from_secret(secret)
        .validation(jwt_authorizer::Validation::new().aud(&[AUDIENCE]))
        .build()
        .await
        .unwrap();
    let protected = axum07::Router::new()
        .route("/hello", get(|| async { "hello" }))
        .layer(auth.into_layer());
    axum07::Router::new()
        .route("/public/hello", get(|| async { "hello" }))
        .merge(protected)
}
