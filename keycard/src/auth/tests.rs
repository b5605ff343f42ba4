//! The verifying layer driven through an app: credentials, token refusals and their
//! answers, rules on normalized paths, extractors and role guards.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{Method, Request, StatusCode, header};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;

use crate::auth::*;
use crate::clock::*;
use crate::jwt::*;
use crate::testing::*;

#[tokio::test]
async fn protected_route_with_valid_token() {
    let f = Fixture::new();
    let app = f.app();
    let token = token_for(&app, "alice", "alice-password").await;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let r = send(&app, get_with("/me", &format!("{scheme} {token}"))).await;
        assert_eq!(r.status, StatusCode::OK, "{scheme}");
        assert_eq!(r.json()["sub"], "alice");
        assert_eq!(r.json()["role"], "admin");
    }
}

#[tokio::test]
async fn missing_and_malformed_credentials() {
    let f = Fixture::new();
    let app = f.app();
    let r = send(&app, Request::get("/me").body(Body::empty()).unwrap()).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "missing_token".into())
    );
    assert_eq!(r.header("www-authenticate"), "Bearer realm=\"keycard\"");
    for auth in ["", "Basic YWxpY2U6cHc=", "Token abc"] {
        let r = send(&app, get_with("/me", auth)).await;
        assert_eq!(
            (r.status, r.error()),
            (StatusCode::UNAUTHORIZED, "missing_token".into()),
            "{auth:?}"
        );
    }
    for auth in ["Bearer", "Bearer  ", "Bearer a b"] {
        let r = send(&app, get_with("/me", auth)).await;
        assert_eq!(
            (r.status, r.error()),
            (StatusCode::BAD_REQUEST, "invalid_request".into()),
            "{auth:?}"
        );
    }
    let two = Request::get("/me")
        .header(header::AUTHORIZATION, "Bearer a.b.c")
        .header(header::AUTHORIZATION, "Bearer a.b.c")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, two).await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn invalid_tokens_say_why() {
    let f = Fixture::new();
    let app = f.app();
    let good = json!({"sub": "alice", "role": "admin", "iat": NOW, "exp": NOW + 60});
    let hs384 = encode(
        &Header::new(Algorithm::HS384),
        &good,
        &EncodingKey::from_secret(SECRET).unwrap(),
    )
    .unwrap();
    let other_key = encode(
        &Header::new(Algorithm::HS256),
        &good,
        &EncodingKey::from_secret(b"another-secret-of-32-bytes-long!").unwrap(),
    )
    .unwrap();
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(good.to_string())
    );
    // Header parameters that point elsewhere for a key are never followed: a token
    // signed with the attacker's key and carrying it (or its URL) is just a bad signature.
    let attacker = EncodingKey::from_secret(b"attacker-secret-of-32-bytes-long").unwrap();
    let mut pointing = Header::new(Algorithm::HS256);
    pointing.jku = Some("https://evil.example/jwks.json".into());
    pointing.x5u = Some("https://evil.example/cert.pem".into());
    let pointing = encode(&pointing, &good, &attacker).unwrap();
    let embedded = {
        let header = json!({"alg": "HS256", "typ": "JWT", "jwk": {"kty": "oct", "k": URL_SAFE_NO_PAD.encode(b"attacker-secret-of-32-bytes-long")}});
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(good.to_string())
        );
        let sig = jsonwebtoken::crypto::sign(signing_input.as_bytes(), &attacker, Algorithm::HS256)
            .unwrap();
        format!("{signing_input}.{sig}")
    };
    let valid = sign(good.clone());
    let mut tampered = valid.clone();
    tampered.replace_range(
        tampered.find('.').unwrap() + 1..tampered.rfind('.').unwrap(),
        &URL_SAFE_NO_PAD.encode(json!({"sub":"alice","role":"root","exp":NOW+60}).to_string()),
    );
    let cases = [
        ("garbage".to_owned(), "malformed token"),
        (none, "malformed token"),
        (hs384, "algorithm not allowed"),
        (pointing, "bad signature"),
        (embedded, "bad signature"),
        (other_key, "bad signature"),
        (tampered, "bad signature"),
        (valid[..valid.len() - 4].to_owned(), "bad signature"),
        (valid[..valid.len() - 2].to_owned(), "malformed token"),
        (
            sign(json!({"sub": "alice", "exp": NOW - 31})),
            "token expired",
        ),
        (sign(json!({"sub": "alice"})), "token has no exp claim"),
        (
            sign(json!({"sub": "alice", "exp": "99999999999"})),
            "invalid claims",
        ),
        (
            sign(json!({"sub": "alice", "exp": NOW + 60, "nbf": NOW + 31})),
            "token not yet valid",
        ),
        (
            sign(json!({"sub": "alice", "exp": NOW + 600, "iat": NOW + 31})),
            "token issued in the future",
        ),
        ("a".repeat(MAX_TOKEN_LEN + 1), "malformed token"),
    ];
    for (token, why) in cases {
        let r = send(&app, get_with("/me", &format!("Bearer {token}"))).await;
        assert_eq!(
            (r.status, r.error()),
            (StatusCode::UNAUTHORIZED, "invalid_token".into()),
            "{why}"
        );
        assert_eq!(r.json()["error_description"], why);
        assert_eq!(
            r.header("www-authenticate"),
            format!(
                "Bearer realm=\"keycard\", error=\"invalid_token\", error_description=\"{why}\""
            )
        );
        assert!(
            !String::from_utf8_lossy(&r.body).contains(&token[..token.len().min(20)])
                || token.len() < 20
        );
    }
    // Within the leeway is fine.
    for ok in [
        json!({"exp": NOW - 29}),
        json!({"exp": NOW + 60, "nbf": NOW + 30, "iat": NOW + 30}),
        json!({"exp": 1.8e9 + 60.5}),
    ] {
        assert_eq!(
            send(
                &app,
                get_with("/me", &format!("Bearer {}", sign(ok.clone())))
            )
            .await
            .status,
            StatusCode::OK,
            "{ok}"
        );
    }
}

#[tokio::test]
async fn tokens_expire_with_the_clock() {
    let f = Fixture::new();
    let app = f.app();
    let token = token_for(&app, "bob", "bob-password").await;
    f.clock.advance(7 * 86_400 + 29);
    assert_eq!(
        send(&app, get_with("/me", &format!("Bearer {token}")))
            .await
            .status,
        StatusCode::OK
    );
    f.clock.advance(1);
    let r = send(&app, get_with("/me", &format!("Bearer {token}"))).await;
    assert_eq!(r.json()["error_description"], "token expired");
}

#[tokio::test]
async fn unless_matching_edge_cases() {
    let f = Fixture::new();
    let app = f.app();
    let creds = json!({"username": "alice", "password": "alice-password"});
    // /token/ and /TOKEN are other paths: they need a token.
    for path in ["/token/", "/TOKEN"] {
        let r = send(&app, post_json(path, creds.clone())).await;
        assert_eq!(
            (r.status, r.error()),
            (StatusCode::UNAUTHORIZED, "missing_token".into()),
            "{path}"
        );
    }
    // //token is refused outright.
    let r = send(&app, post_json("//token", creds.clone())).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );
    // /%74oken is /token: judged and routed as such.
    assert_eq!(
        send(&app, post_json("/%74oken", creds.clone()))
            .await
            .status,
        StatusCode::OK
    );
    // Prefix rule: /public* covers /public, /public/x and /publicx, not /publi.
    for (path, status) in [
        ("/public", StatusCode::NOT_FOUND),
        ("/public/x", StatusCode::NOT_FOUND),
        ("/publicx", StatusCode::NOT_FOUND),
        ("/publi", StatusCode::UNAUTHORIZED),
        ("/%70ublic/x", StatusCode::NOT_FOUND),
    ] {
        assert_eq!(
            send(&app, Request::get(path).body(Body::empty()).unwrap())
                .await
                .status,
            status,
            "{path}"
        );
    }
    // Path refusals.
    for path in [
        "/a/../me", "/./me", "/me%2Fx", "/me%00", "/me%zz", "/me%5Cx", "/a\\b",
    ] {
        let Ok(req) = Request::get(path).body(Body::empty()) else {
            continue;
        };
        let r = send(&app, req).await;
        assert_eq!(
            (r.status, r.error()),
            (StatusCode::BAD_REQUEST, "invalid_request".into()),
            "{path}"
        );
    }
}

#[derive(serde::Deserialize)]
struct Tenant {
    tenant: String,
}

fn library_app(clock: Arc<ManualClock>) -> Router {
    let verifier = Verifier::new(key()).with_clock(clock);
    let rules = Rules::new()
        .public("/hello")
        .unwrap()
        .public_method(Method::OPTIONS)
        .rule(Rule::new("/ops*").unwrap().roles(["ops"]));
    let admin = Router::new()
        .route("/admin/stats", get(|| async { "42" }))
        .route_layer(RequireRoleLayer::new(["admin"]));
    let routes = Router::new()
        .route(
            "/tenant",
            get(|c: Claims<Tenant>| async move { c.extra().tenant.clone() }),
        )
        .route("/ops/x", get(|| async { "ops" }))
        .route(
            "/hello",
            get(|c: Option<Claims>| async move {
                format!(
                    "hello {}",
                    c.as_ref().and_then(|c| c.subject()).unwrap_or("stranger")
                )
            })
            .options(|| async { "preflight" }),
        )
        .merge(admin);
    AuthLayer::new(verifier).unless(rules).wrap(routes)
}

#[tokio::test]
async fn library_extractors_roles_and_unless() {
    let app = library_app(Arc::new(ManualClock::new(NOW)));
    let admin = format!(
        "Bearer {}",
        sign(json!({"sub": "alice", "role": "admin", "tenant": "acme", "exp": NOW + 60}))
    );
    let user = format!(
        "Bearer {}",
        sign(json!({"sub": "bob", "role": "user", "exp": NOW + 60}))
    );

    let r = send(&app, get_with("/tenant", &admin)).await;
    assert_eq!(
        (r.status, r.body.as_slice()),
        (StatusCode::OK, &b"acme"[..])
    );
    let r = send(&app, get_with("/tenant", &user)).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "invalid_token".into())
    );

    let r = send(&app, Request::get("/hello").body(Body::empty()).unwrap()).await;
    assert_eq!(r.body, b"hello stranger");
    assert_eq!(
        send(&app, get_with("/hello", &user)).await.body,
        b"hello bob"
    );
    assert_eq!(
        send(&app, get_with("/hello", "Bearer broken")).await.body,
        b"hello stranger"
    );
    let r = send(
        &app,
        Request::options("/hello").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(r.body, b"preflight");

    assert_eq!(
        send(&app, get_with("/admin/stats", &admin)).await.status,
        StatusCode::OK
    );
    let r = send(&app, get_with("/admin/stats", &user)).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::FORBIDDEN, "insufficient_scope".into())
    );
    assert!(
        r.header("www-authenticate")
            .starts_with("Bearer realm=\"keycard\", error=\"insufficient_scope\"")
    );
    let r = send(&app, get_with("/ops/x", &admin)).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::FORBIDDEN, "insufficient_scope".into())
    );
    let r = send(&app, Request::get("/ops/x").body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn router_layer_protects_even_without_wrap() {
    // With Router::layer (after routing) the rules still judge the normalized path.
    let verifier = Verifier::new(key()).with_clock(Arc::new(ManualClock::new(NOW)));
    let app = Router::new()
        .route("/admin", get(|| async { "secret" }))
        .route("/hello", get(|| async { "hi" }))
        .layer(AuthLayer::new(verifier).unless(Rules::new().public("/hello").unwrap()));
    assert_eq!(
        send(&app, Request::get("/admin").body(Body::empty()).unwrap())
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&app, Request::get("/%61dmin").body(Body::empty()).unwrap())
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&app, Request::get("/hello").body(Body::empty()).unwrap())
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_handler_sees_the_normalized_path_and_the_query_untouched() {
    let verifier = Verifier::new(key()).with_clock(Arc::new(ManualClock::new(NOW)));
    let routes = Router::new().route(
        "/echo/{*rest}",
        get(|uri: http::Uri| async move {
            uri.path_and_query()
                .map(|pq| pq.to_string())
                .unwrap_or_default()
        }),
    );
    let app = AuthLayer::new(verifier)
        .unless(Rules::new().public("/echo*").unwrap())
        .wrap(routes);
    let r = send(
        &app,
        Request::get("/%65cho/a%2db%3f?q=%2e%2e/x&y=%74")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        String::from_utf8(r.body).unwrap(),
        "/echo/a-b%3F?q=%2e%2e/x&y=%74"
    );
}

#[tokio::test]
async fn a_grpc_request_is_refused_with_a_grpc_status_and_the_same_decision() {
    let f = Fixture::new();
    let app = f.app();
    let token = token_for(&app, "alice", "alice-password").await;
    let grpc = |auth: Option<&str>, kind: &str| {
        let mut req = Request::post("/me").header(header::CONTENT_TYPE, kind);
        if let Some(auth) = auth {
            req = req.header(header::AUTHORIZATION, auth);
        }
        req.body(Body::empty()).unwrap()
    };
    for kind in [
        "application/grpc",
        "application/grpc+proto",
        "APPLICATION/GRPC",
        "application/grpc-web-text",
    ] {
        for (auth, status, message) in [
            (None, "16", "a bearer token is required"),
            (Some("Bearer a.b.c"), "16", "malformed token"),
            (Some("Bearer a b"), "16", ""),
        ] {
            let r = send(&app, grpc(auth, kind)).await;
            assert_eq!(r.status, StatusCode::OK, "{kind} {auth:?}");
            assert_eq!(r.header("grpc-status"), status, "{kind} {auth:?}");
            assert!(
                r.header("grpc-message").starts_with(message),
                "{kind} {auth:?}"
            );
            assert_eq!(r.header("content-type"), kind);
            assert!(r.body.is_empty(), "a trailers-only answer has no message");
        }
    }
    // Not gRPC: the HTTP answer.
    let r = send(&app, grpc(None, "application/json")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // The decision is the same: a valid token passes whatever the content type.
    let ok = format!("Bearer {token}");
    let r = send(&app, grpc(Some(&ok), "application/grpc")).await;
    assert_ne!(r.header("grpc-status"), "16");
    assert_ne!(r.status, StatusCode::UNAUTHORIZED);
}

#[test]
fn grpc_statuses_follow_the_refusal() {
    let code = |e: AuthError| {
        e.grpc_response()
            .headers()
            .get("grpc-status")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(code(AuthError::MissingToken).as_deref(), Some("16"));
    assert_eq!(
        code(AuthError::MalformedCredentials("x")).as_deref(),
        Some("16")
    );
    assert_eq!(
        code(AuthError::InvalidToken(TokenError::Expired)).as_deref(),
        Some("16")
    );
    assert_eq!(code(AuthError::InsufficientScope).as_deref(), Some("7"));
    assert_eq!(code(AuthError::InvalidRequest("x")).as_deref(), Some("3"));
    let res = AuthError::InvalidRequest("100% sure\u{e9}").grpc_response();
    assert_eq!(res.headers()["grpc-message"], "100%25 sure%C3%A9");
}
