//! The token endpoint driven through the `keycard serve` app: bodies, negotiation,
//! answers that tell nothing, rate limits, hash upgrades, back-pressure.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Body;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};

use crate::clock::*;
use crate::duration::*;
use crate::jwt::*;
use crate::login::*;
use crate::server::*;
use crate::store::*;
use crate::testing::*;

#[tokio::test]
async fn token_endpoint_json_response_and_claims() {
    let f = Fixture::new();
    let r = send(&f.app(), login("alice", "alice-password")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("cache-control"), "no-store");
    assert_eq!(r.header("content-type"), "application/json");
    let body = r.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 7 * 86_400);
    assert_eq!(body.as_object().unwrap().len(), 3);
    let token = body["access_token"].as_str().unwrap();
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header, json!({"alg": "HS256", "typ": "JWT"}));
    let claims = payload(token);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["username"], "alice");
    assert_eq!(claims["role"], "admin");
    assert_eq!(claims["iat"], NOW);
    assert_eq!(claims["exp"], NOW + 7 * 86_400);
    for id in ["jti", "sid"] {
        let raw = URL_SAFE_NO_PAD
            .decode(claims[id].as_str().unwrap())
            .unwrap();
        assert_eq!(raw.len(), 16, "{id} carries 16 random bytes");
    }
    assert!(claims.get("iss").is_none() && claims.get("aud").is_none());
    // Two logins never share a jti.
    let other = payload(&token_for(&f.app(), "alice", "alice-password").await);
    assert_ne!(other["jti"], claims["jti"]);
}

#[tokio::test]
async fn token_endpoint_accepts_forms_and_grant_type_password() {
    let f = Fixture::new();
    let req = Request::post("/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(
            "grant_type=password&username=bob&password=bob-password",
        ))
        .unwrap();
    let r = send(&f.app(), req).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        payload(r.json()["access_token"].as_str().unwrap())["role"],
        "user"
    );
}

#[tokio::test]
async fn bare_token_for_application_jwt_and_text_plain() {
    let f = Fixture::new();
    for (accept, media) in [
        ("application/jwt", "application/jwt"),
        ("text/plain", "text/plain"),
    ] {
        let mut req = login("alice", "alice-password");
        req.headers_mut()
            .insert(header::ACCEPT, accept.parse().unwrap());
        let r = send(&f.app(), req).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("content-type"), media);
        assert_eq!(r.header("cache-control"), "no-store");
        let text = String::from_utf8(r.body).unwrap();
        assert_eq!(text.matches('.').count(), 2);
        assert!(!text.ends_with('\n'));
    }
    let mut req = login("alice", "alice-password");
    req.headers_mut()
        .insert(header::ACCEPT, "*/*".parse().unwrap());
    assert!(send(&f.app(), req).await.json()["access_token"].is_string());
}

#[tokio::test]
async fn unknown_user_and_wrong_password_answer_alike() {
    let f = Fixture::new();
    let wrong = send(&f.app(), login("alice", "not-the-password")).await;
    let unknown = send(&f.app(), login("mallory", "not-the-password")).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.error(), "invalid_grant");
    assert_eq!(
        wrong.json()["error_description"],
        "invalid username or password"
    );
    assert_eq!((wrong.status, &wrong.body), (unknown.status, &unknown.body));
    let names = |r: &Reply| {
        r.headers
            .keys()
            .map(|k| k.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&wrong), names(&unknown));
}

#[tokio::test]
async fn token_endpoint_refuses_bad_bodies() {
    let f = Fixture::new();
    let app = f.app();
    let raw = |ct: Option<&str>, body: Vec<u8>| {
        let mut b = Request::post("/token");
        if let Some(ct) = ct {
            b = b.header(header::CONTENT_TYPE, ct);
        }
        b.body(Body::from(body)).unwrap()
    };
    let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
        (
            raw(Some("application/json"), b"{".to_vec()),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            raw(Some("application/json"), b"[]".to_vec()),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        // A JSON array answered unsupported_grant_type once: serde reads a struct from
        // an array of its fields.
        (
            raw(Some("application/json"), br#"["x","alice","pw"]"#.to_vec()),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            raw(
                Some("application/json"),
                br#" ["password","alice","alice-password"]"#.to_vec(),
            ),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            raw(
                Some("application/json"),
                br#"{"username":"alice"}"#.to_vec(),
            ),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            raw(
                Some("application/json"),
                br#"{"username":1,"password":"x"}"#.to_vec(),
            ),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            raw(
                Some("application/json"),
                br#"{"username":"a","username":"b","password":"x"}"#.to_vec(),
            ),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            raw(Some("application/json"), vec![0xff, 0xfe, 0x00]),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            raw(
                Some("application/x-www-form-urlencoded"),
                b"username=alice".to_vec(),
            ),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            raw(
                Some("application/json"),
                br#"{"grant_type":"client_credentials","username":"a","password":"b"}"#.to_vec(),
            ),
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            raw(Some("text/plain"), b"alice:alice-password".to_vec()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            raw(
                None,
                br#"{"username":"alice","password":"alice-password"}"#.to_vec(),
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            raw(Some("application/json"), vec![b' '; MAX_TOKEN_BODY + 1]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_too_large",
        ),
    ];
    for (i, (req, status, code)) in cases.into_iter().enumerate() {
        let r = send(&app, req).await;
        assert_eq!((r.status, r.error()), (status, code.to_owned()), "case {i}");
        assert!(r.json()["error_description"].is_string());
    }
    // Exactly at the limit is fine (and still a well-formed login).
    let mut body = json!({"username": "alice", "password": "alice-password"})
        .to_string()
        .into_bytes();
    body.resize(MAX_TOKEN_BODY, b' ');
    assert_eq!(
        send(&app, raw(Some("application/json; charset=utf-8"), body))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn token_is_public_for_every_method_and_only_post_works() {
    let f = Fixture::new();
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let r = send(
            &f.app(),
            Request::builder()
                .method(method)
                .uri("/token")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(
            (r.status, r.error()),
            (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed".into())
        );
    }
}

#[tokio::test]
async fn per_user_limit_throttles_without_hashing_and_without_telling_existence() {
    let f = Fixture::new();
    let app = f.app_with(Rate::parse("2/m").unwrap(), None, &[]);
    for _ in 0..2 {
        assert_eq!(
            send(&app, login("alice", "wrong-password")).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let finds = f.finds.load(Ordering::SeqCst);
    let r = send(&app, login("alice", "alice-password")).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::TOO_MANY_REQUESTS, "slow_down".into())
    );
    let retry: u64 = r.header("retry-after").parse().unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    assert_eq!(
        f.finds.load(Ordering::SeqCst),
        finds,
        "a throttled attempt looks nothing up"
    );
    // An unknown name is throttled exactly alike.
    for _ in 0..2 {
        send(&app, login("mallory", "wrong-password")).await;
    }
    let u = send(&app, login("mallory", "wrong-password")).await;
    assert_eq!((u.status, &u.body), (r.status, &r.body));
    // Other users are unaffected; successes do not count.
    for _ in 0..5 {
        assert_eq!(
            send(&app, login("bob", "bob-password")).await.status,
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn per_address_limit_counts_every_request() {
    let f = Fixture::new();
    let app = f.app_with(None, Rate::parse("3/h").unwrap(), &[]);
    assert_eq!(
        send(&app, login("alice", "alice-password")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        send(&app, post_json("/token", json!({}))).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        send(&app, login("bob", "nope-nope")).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = send(&app, login("alice", "alice-password")).await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{:?}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.error(), "slow_down");
    assert_eq!(r.header("retry-after"), "1200");
}

#[tokio::test]
async fn bcrypt_users_log_in_and_are_upgraded() {
    let f = Fixture::new();
    let bcrypt_hash = bcrypt::hash("carol-password", 4).unwrap();
    FileUserStore::update(&f.path, |u| {
        u.add("carol", "user", bcrypt_hash.clone(), &SystemClock)
    })
    .unwrap();
    let app = f.app();
    assert_eq!(
        send(&app, login("carol", "carol-password")).await.status,
        StatusCode::OK
    );
    let mut upgraded = String::new();
    for _ in 0..100 {
        upgraded = FileUserStore::read(&f.path)
            .unwrap()
            .get("carol")
            .unwrap()
            .password_hash()
            .to_owned();
        if upgraded.starts_with("$argon2id$") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        upgraded.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"),
        "{upgraded}"
    );
    assert_eq!(
        send(&app, login("carol", "carol-password")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        send(&app, login("carol", "wrong-password")).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_full_hashing_queue_answers_503() {
    let f = Fixture::new();
    let store = Arc::new(FileUserStore::open(&f.path).unwrap());
    let endpoint = TokenEndpoint::new(
        Issuer::new(key()),
        store,
        Hasher::with_limits(policy(), 1, 0),
    );
    let app = App::issuer(endpoint, Verifier::new(key())).into_router();
    let r = send(&app, login("alice", "alice-password")).await;
    assert_eq!(
        (r.status, r.error()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable".into()
        )
    );
    assert_eq!(r.header("retry-after"), "1");
}

#[test]
fn debug_output_never_shows_secrets() {
    let secret = Secret::new(SECRET.to_vec()).unwrap();
    let key = SigningKey::hs256(&secret).unwrap();
    let issued = Issuer::new(key.clone()).issue("alice", "admin").unwrap();
    let hash = policy().hash("alice-password").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("u.json");
    FileUserStore::update(&path, |u| {
        u.add("alice", "admin", hash.clone(), &SystemClock)
    })
    .unwrap();
    let user = FileUserStore::read(&path)
        .unwrap()
        .get("alice")
        .unwrap()
        .clone();
    let printed = format!(
        "{secret:?} {key:?} {:?} {issued:?} {user:?} {:?}",
        Issuer::new(key.clone()),
        Verifier::new(key.clone())
    );
    let secret_text = std::str::from_utf8(SECRET).unwrap();
    for needle in [secret_text, &issued.token, &hash, "alice-password"] {
        assert!(!printed.contains(needle), "{needle} leaked into {printed}");
    }
}
