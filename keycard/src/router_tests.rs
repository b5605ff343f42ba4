//! Router-level tests: the `keycard serve` application driven through `oneshot`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::auth::*;
use crate::clock::*;
use crate::duration::*;
use crate::jwt::*;
use crate::login::*;
use crate::server::*;
use crate::store::*;

const SECRET: &[u8; 32] = b"router-test-secret-of-32-bytes!!";
const NOW: u64 = 1_800_000_000;

struct Fixture {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    clock: Arc<ManualClock>,
    finds: Arc<AtomicUsize>,
}

/// The real file store, counting lookups (to prove a throttled login costs nothing).
struct Counting {
    inner: Arc<FileUserStore>,
    finds: Arc<AtomicUsize>,
}

impl UserStore for Counting {
    fn find<'a>(&'a self, name: &'a str) -> crate::store::StoreFuture<'a, Option<User>> {
        self.finds.fetch_add(1, Ordering::SeqCst);
        self.inner.find(name)
    }
    fn upgrade_password_hash<'a>(
        &'a self,
        name: &'a str,
        old: &'a str,
        new: String,
    ) -> crate::store::StoreFuture<'a, bool> {
        self.inner.upgrade_password_hash(name, old, new)
    }
    fn hash_kinds(&self) -> Arc<[String]> {
        self.inner.hash_kinds()
    }
}

fn policy() -> PasswordPolicy {
    PasswordPolicy::new(1024, 1, 1).unwrap()
}

fn key() -> SigningKey {
    SigningKey::hs256(&Secret::new(SECRET.to_vec()).unwrap()).unwrap()
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.json");
        FileUserStore::update(&path, |u| {
            u.add(
                "alice",
                "admin",
                policy().hash("alice-password").unwrap(),
                &SystemClock,
            )?;
            u.add(
                "bob",
                "user",
                policy().hash("bob-password").unwrap(),
                &SystemClock,
            )
        })
        .unwrap();
        Self {
            _dir: dir,
            path,
            clock: Arc::new(ManualClock::new(NOW)),
            finds: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn app_with(&self, user_rate: Option<Rate>, ip_rate: Option<Rate>, public: &[&str]) -> Router {
        let store = Counting {
            inner: Arc::new(FileUserStore::open(&self.path).unwrap()),
            finds: self.finds.clone(),
        };
        let issuer = Issuer::new(key()).with_clock(self.clock.clone());
        let verifier = Verifier::new(key()).with_clock(self.clock.clone());
        let endpoint = TokenEndpoint::new(issuer, store, Hasher::new(policy()))
            .with_user_rate(user_rate)
            .with_ip_rate(ip_rate);
        app(
            endpoint,
            verifier,
            serve_rules(public).unwrap(),
            &ServerLimits::default(),
        )
        .layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 4000))))
    }

    fn app(&self) -> Router {
        self.app_with(None, None, &["/public*"])
    }
}

struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {:?}", String::from_utf8_lossy(&self.body)))
    }
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }
    fn error(&self) -> String {
        assert_eq!(self.header("content-type"), "application/json");
        self.json()["error"].as_str().unwrap().to_owned()
    }
}

async fn send(app: &Router, req: Request<Body>) -> Reply {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

fn post_json(path: &str, body: Value) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn login(user: &str, password: &str) -> Request<Body> {
    post_json("/token", json!({"username": user, "password": password}))
}

fn get_with(path: &str, auth: &str) -> Request<Body> {
    Request::get(path)
        .header(header::AUTHORIZATION, auth)
        .body(Body::empty())
        .unwrap()
}

fn sign(claims: Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET).unwrap(),
    )
    .unwrap()
}

fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

async fn token_for(app: &Router, user: &str, password: &str) -> String {
    let r = send(app, login(user, password)).await;
    assert_eq!(r.status, StatusCode::OK);
    r.json()["access_token"].as_str().unwrap().to_owned()
}

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
async fn issuer_and_audience_are_stamped_and_required() {
    let clock = Arc::new(ManualClock::new(NOW));
    let verifier = Verifier::new(key())
        .with_issuer("https://auth.example")
        .with_audience("api")
        .with_clock(clock.clone());
    let issuer = Issuer::new(key())
        .with_issuer("https://auth.example")
        .with_audience("api")
        .with_clock(clock);
    let issued = issuer.issue("alice", "admin").unwrap();
    let c = payload(&issued.token);
    assert_eq!(
        (c["iss"].as_str(), c["aud"].as_str()),
        (Some("https://auth.example"), Some("api"))
    );
    assert!(verifier.verify(&issued.token).is_ok());
    let base = |extra: Value| {
        let mut v = json!({"sub": "a", "exp": NOW + 60});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        sign(v)
    };
    assert_eq!(
        verifier.verify(&base(json!({"aud": "api"}))).unwrap_err(),
        TokenError::WrongIssuer
    );
    assert_eq!(
        verifier
            .verify(&base(json!({"iss": "https://evil.example", "aud": "api"})))
            .unwrap_err(),
        TokenError::WrongIssuer
    );
    assert_eq!(
        verifier
            .verify(&base(json!({"iss": "https://auth.example"})))
            .unwrap_err(),
        TokenError::WrongAudience
    );
    assert_eq!(
        verifier
            .verify(&base(
                json!({"iss": "https://auth.example", "aud": "other"})
            ))
            .unwrap_err(),
        TokenError::WrongAudience
    );
    assert!(
        verifier
            .verify(&base(
                json!({"iss": "https://auth.example", "aud": ["other", "api"]})
            ))
            .is_ok()
    );
}

#[tokio::test]
async fn key_id_is_stamped_and_matched() {
    let clock = Arc::new(ManualClock::new(NOW));
    let key = key().with_key_id("k1");
    let token = Issuer::new(key.clone())
        .with_clock(clock.clone())
        .issue("a", "r")
        .unwrap()
        .token;
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["kid"], "k1");
    let verifier = Verifier::new(key).with_clock(clock);
    assert!(verifier.verify(&token).is_ok());
    // A token without kid is tried against the key of its algorithm (Node-signed tokens).
    assert!(verifier.verify(&sign(json!({"exp": NOW + 60}))).is_ok());
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some("k2".into());
    let other = encode(
        &h,
        &json!({"exp": NOW + 60}),
        &EncodingKey::from_secret(SECRET).unwrap(),
    )
    .unwrap();
    assert_eq!(verifier.verify(&other).unwrap_err(), TokenError::UnknownKey);
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

#[tokio::test]
async fn healthz_is_public_and_unknown_routes_need_a_token_first() {
    let f = Fixture::new();
    let app = f.app();
    let r = send(&app, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!((r.status, r.body.as_slice()), (StatusCode::OK, &b"ok"[..]));
    let r = send(
        &app,
        Request::get("/.well-known/jwks.json")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::NOT_FOUND, "not_found".into())
    );
    let r = send(&app, Request::get("/nowhere").body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let token = token_for(&app, "bob", "bob-password").await;
    let r = send(&app, get_with("/nowhere", &format!("Bearer {token}"))).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::NOT_FOUND, "not_found".into())
    );
    let r = send(
        &app,
        Request::post("/me")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed".into())
    );
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
    let app = app(
        endpoint,
        Verifier::new(key()),
        serve_rules::<&str>(&[]).unwrap(),
        &ServerLimits::default(),
    );
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
