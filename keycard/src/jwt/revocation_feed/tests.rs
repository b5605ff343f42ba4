//! The feed end to end inside one process: a real issuer app (`App::issuer` with a file
//! token store) or a hostile one on a real socket, and a [`RevocationFeed`] polling it.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::StatusCode;
use serde_json::json;

use super::*;
use crate::clock::ManualClock;
use crate::jwt::claims::Claims;
use crate::jwt::verifier::{RevocationCheck, TokenError, Verifier};
use crate::jwt::{RemoteJwks, SigningKey};
use crate::login::{Hasher, TokenService};
use crate::server::App;
use crate::store::{FileTokenStore, FileUserStore, TokenStore};
use crate::testing::{NOW, forge, key_file, policy};

fn ed25519() -> SigningKey {
    SigningKey::from_pkcs8_pem(&key_file("ed25519.pem"))
        .unwrap()
        .with_key_id("ed")
}

fn claims(v: serde_json::Value) -> Claims {
    serde_json::from_value(v).unwrap()
}

async fn listen(app: Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A real issuer over a file token store, on a socket; its clock and store.
async fn issuer(
    dir: &tempfile::TempDir,
    clock: Arc<ManualClock>,
) -> (std::net::SocketAddr, Arc<FileTokenStore>) {
    let tokens = Arc::new(
        FileTokenStore::open(dir.path().join("users.tokens.json"), clock.clone()).unwrap(),
    );
    let service = TokenService::builder(ed25519())
        .clock(clock)
        .issuer("https://issuer.example")
        .token_store(tokens.clone())
        .build()
        .unwrap();
    let users = Arc::new(FileUserStore::open(dir.path().join("users.json")).unwrap());
    let endpoint = service.endpoint(users, Hasher::new(policy()));
    let addr = listen(App::issuer(endpoint, service.verifier()).into_router()).await;
    (addr, tokens)
}

async fn feed_of(
    addr: std::net::SocketAddr,
    clock: Arc<ManualClock>,
) -> (Arc<RemoteJwks>, RevocationFeed) {
    let jwks = Arc::new(RemoteJwks::new(&format!("http://{addr}/.well-known/jwks.json")).unwrap());
    jwks.refresh().await.unwrap();
    let feed = RevocationFeed::beside(jwks.clone())
        .unwrap()
        .with_clock(clock)
        .with_issuer("https://issuer.example");
    (jwks, feed)
}

#[tokio::test]
async fn a_node_follows_the_issuers_revocations_conditionally() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(NOW));
    let (addr, tokens) = issuer(&dir, clock.clone()).await;
    let (_jwks, feed) = feed_of(addr, clock.clone()).await;
    assert_eq!(feed.url().path(), FEED_PATH);
    assert!(feed.is_stale(), "nothing known before the first document");
    assert!(
        feed.is_revoked(&claims(json!({"sub": "alice"}))),
        "and so nothing accepted"
    );

    assert_eq!(feed.refresh().await.unwrap(), Refreshed::Document(0));
    assert!(!feed.is_stale());
    assert!(!feed.is_revoked(&claims(json!({"sub": "alice", "jti": "j1", "iat": NOW}))));
    assert_eq!(
        feed.refresh().await.unwrap(),
        Refreshed::Unchanged,
        "304 while unchanged"
    );

    tokens.revoke_token("j1", NOW + 600).await.unwrap();
    tokens.revoke_session("s1", NOW + 600).await.unwrap();
    tokens.revoke_user("mallory").await.unwrap();
    assert_eq!(feed.refresh().await.unwrap(), Refreshed::Document(3));
    assert!(feed.is_revoked(&claims(json!({"jti": "j1"}))));
    assert!(feed.is_revoked(&claims(json!({"sid": "s1"}))));
    assert!(feed.is_revoked(&claims(json!({"sub": "mallory", "iat": NOW}))));
    assert!(!feed.is_revoked(&claims(json!({"sub": "mallory", "iat": NOW + 1}))));
    assert!(!feed.is_revoked(&claims(json!({"sub": "alice", "iat": NOW}))));

    // The published document names nobody in clear.
    let raw = crate::jwt::fetch::Source::parse(&format!("http://{addr}{FEED_PATH}"), "t")
        .unwrap()
        .get(FEED_MEDIA_TYPE, None, 1 << 20)
        .await
        .unwrap();
    let document = crate::testing::payload(std::str::from_utf8(&raw.body).unwrap());
    assert!(!document.to_string().contains("mallory"), "{document}");
    assert_eq!(document["iss"], "https://issuer.example");

    // The issuer re-signs every minute even when nothing changes, so a live feed stays
    // fresh; an issuer gone quiet turns the node's list stale, and then every token is
    // refused until a fresh document arrives.
    clock.advance(REISSUE.as_secs() + 1);
    assert!(matches!(
        feed.refresh().await.unwrap(),
        Refreshed::Document(_)
    ));
    assert_eq!(feed.age(), Some(0));
    clock.advance(RevocationFeed::DEFAULT_MAX_STALE.as_secs() + 60);
    assert!(feed.is_stale());
    assert!(feed.is_revoked(&claims(json!({"sub": "alice", "iat": NOW}))));
    feed.refresh().await.unwrap();
    assert!(!feed.is_stale());

    // Without a bound, a stale list is kept and trusted.
    let (_jwks, lax) = feed_of(addr, clock.clone()).await;
    let lax = lax.with_max_stale(None);
    assert!(!lax.is_stale());
    assert!(!lax.is_revoked(&claims(json!({"sub": "alice"}))));
}

/// A hostile issuer: the real JWKS of `key`, and whatever feed the test puts up.
struct Hostile {
    addr: std::net::SocketAddr,
    feed: Arc<Mutex<(StatusCode, String)>>,
}

async fn hostile(key: &SigningKey) -> Hostile {
    let jwks = format!("{{\"keys\":[{}]}}", key.verifying_key().jwk_json().unwrap());
    let feed: Arc<Mutex<(StatusCode, String)>> =
        Arc::new(Mutex::new((StatusCode::OK, String::new())));
    async fn serve(State(feed): State<Arc<Mutex<(StatusCode, String)>>>) -> Response {
        let (status, body) = feed.lock().unwrap().clone();
        (status, [(http::header::ETAG, "\"same\"")], body).into_response()
    }
    let app = Router::new()
        .route(
            "/.well-known/jwks.json",
            get(move || async move { jwks.clone() }),
        )
        .route(FEED_PATH, get(serve))
        .with_state(feed.clone());
    Hostile {
        addr: listen(app).await,
        feed,
    }
}

fn signed_by(key: &SigningKey, typ: &str, body: serde_json::Value) -> String {
    let mut header = jsonwebtoken::Header::new(key.algorithm().jwt());
    header.typ = Some(typ.to_owned());
    header.kid = key.key_id().map(str::to_owned);
    jsonwebtoken::encode(&header, &body, key.encoding()).unwrap()
}

#[tokio::test]
async fn only_a_document_of_the_trusted_key_and_type_is_taken() {
    let key = ed25519();
    let server = hostile(&key).await;
    let clock = Arc::new(ManualClock::new(NOW));
    let jwks = Arc::new(
        RemoteJwks::new(&format!("http://{}/.well-known/jwks.json", server.addr)).unwrap(),
    );
    jwks.refresh().await.unwrap();
    let feed = RevocationFeed::beside(jwks.clone())
        .unwrap()
        .with_clock(clock.clone());
    let put = |status: StatusCode, body: String| *server.feed.lock().unwrap() = (status, body);
    let document = |iat: u64, jti: &str| json!({"iat": iat, "revoked": {"tokens": {jti: NOW + 600}, "sessions": {}, "cutoffs": {}}});

    // Signed by another key (with the trusted kid), or not signed at all.
    let other = SigningKey::from_pkcs8_pem(&key_file("p256.pem"))
        .unwrap()
        .with_key_id("ed");
    put(
        StatusCode::OK,
        signed_by(&other, FEED_TYPE, document(NOW, "j1")),
    );
    assert!(
        feed.refresh()
            .await
            .unwrap_err()
            .to_string()
            .contains("refused")
    );
    put(
        StatusCode::OK,
        forge(
            json!({"alg": "none", "typ": FEED_TYPE}),
            document(NOW, "j1"),
            |_| Vec::new(),
        ),
    );
    assert!(feed.refresh().await.is_err());
    // The right key, the wrong type: an access token put up as a feed, or no typ.
    for typ in ["JWT", "at+jwt", "keycard-revocations"] {
        put(StatusCode::OK, signed_by(&key, typ, document(NOW, "j1")));
        let err = feed.refresh().await.unwrap_err().to_string();
        assert!(err.contains("token type not accepted"), "{typ}: {err}");
    }
    // Signed in the future, or not a document: refused. A 404, a 500: errors.
    put(
        StatusCode::OK,
        signed_by(&key, FEED_TYPE, document(NOW + 3_600, "j1")),
    );
    assert!(feed.refresh().await.is_err());
    put(
        StatusCode::OK,
        signed_by(&key, FEED_TYPE, json!({"iat": NOW, "extra": 1})),
    );
    assert!(feed.refresh().await.is_err());
    for status in [StatusCode::NOT_FOUND, StatusCode::INTERNAL_SERVER_ERROR] {
        put(status, String::new());
        assert!(feed.refresh().await.is_err());
    }
    assert!(
        feed.is_stale(),
        "none of that counted as news of the issuer"
    );
    assert!(!feed.revocations.is_revoked(&claims(json!({"jti": "j1"}))));

    // The real thing; then an older one replayed (a cache): nothing is taken away, and
    // it is no news either.
    put(
        StatusCode::OK,
        signed_by(&key, FEED_TYPE, document(NOW, "j1")),
    );
    feed.refresh().await.unwrap();
    assert!(feed.is_revoked(&claims(json!({"jti": "j1"}))));
    clock.advance(30);
    put(
        StatusCode::OK,
        signed_by(&key, FEED_TYPE, document(NOW - 500, "j0")),
    );
    feed.refresh().await.unwrap();
    assert!(feed.is_revoked(&claims(json!({"jti": "j1"}))), "kept");
    assert_eq!(feed.age(), Some(30), "the replay did not refresh the age");
    // A bare 304 (a cache, a liar) is no news of the issuer either.
    clock.advance(10);
    put(StatusCode::NOT_MODIFIED, String::new());
    assert_eq!(feed.refresh().await.unwrap(), Refreshed::Unchanged);
    assert_eq!(feed.age(), Some(40));

    // And the other way round: the feed document is never an access token.
    let verifier = Verifier::from_jwks(jwks);
    let as_token = signed_by(&key, FEED_TYPE, json!({"sub": "mallory", "exp": NOW + 60}));
    assert_eq!(
        verifier.with_clock(clock).verify(&as_token).unwrap_err(),
        TokenError::WrongType
    );
}
