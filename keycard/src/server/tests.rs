//! The `keycard serve` app's own routes and answers.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};

use crate::jwt::revocation_feed::FEED_PATH;
use crate::jwt::{SigningKey, Verifier};
use crate::login::{Hasher, TokenService};
use crate::server::discovery::{OAUTH_METADATA_PATH, OPENID_CONFIGURATION_PATH};
use crate::server::openapi::OPENAPI_PATH;
use crate::server::{App, ForwardAuthHeaders, Gateway, IdentityHeaders};
use crate::store::{FileTokenStore, FileUserStore};
use crate::testing::*;

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

/// The document's operations, as `(path, METHOD)`, from the app's own `/openapi.json`.
async fn listed_by(app: &Router, token: &str) -> Vec<(String, String)> {
    let r = send(app, get_with(OPENAPI_PATH, &format!("Bearer {token}"))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), "application/json");
    crate::server::openapi::listed(&r.json())
}

/// Every path Keycard can serve in some configuration.
const KEYCARD_PATHS: [&str; 9] = [
    "/token",
    "/revoke",
    "/me",
    "/.well-known/jwks.json",
    FEED_PATH,
    "/auth/verify",
    "/healthz",
    "/readyz",
    OPENAPI_PATH,
];

/// The discovery documents, served by an issuer whose `iss` is an https:// origin.
const DISCOVERY_PATHS: [&str; 2] = [OAUTH_METADATA_PATH, OPENID_CONFIGURATION_PATH];

const ALL_METHODS: [Method; 8] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
    Method::TRACE,
];

/// Holds the document to the router: each listed operation is routed (neither 404 nor
/// 405, with a valid token); each other method on a listed path is 405 with an `Allow`
/// naming exactly the listed ones; each Keycard path not listed answers 404.
async fn document_matches_router(app: &Router, token: &str, expected: &[&str]) {
    let listed = listed_by(app, token).await;
    let mut paths: Vec<&str> = listed.iter().map(|(p, _)| p.as_str()).collect();
    paths.sort_unstable();
    paths.dedup();
    let mut expected = expected.to_vec();
    expected.sort_unstable();
    assert_eq!(paths, expected, "the document's paths");
    for path in KEYCARD_PATHS.iter().chain(&DISCOVERY_PATHS) {
        let path = *path;
        let methods: Vec<&str> = listed
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, m)| m.as_str())
            .collect();
        for method in &ALL_METHODS {
            let req = Request::builder()
                .method(method.clone())
                .uri(path)
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                // Forward auth needs these to judge anything at all.
                .header("x-original-uri", "/me")
                .header("x-original-method", "GET")
                .body(Body::empty())
                .unwrap();
            let r = send(app, req).await;
            let documented = methods.contains(&method.as_str())
                || (method == Method::HEAD && methods.contains(&"GET"));
            if methods.is_empty() {
                assert_eq!(
                    r.status,
                    StatusCode::NOT_FOUND,
                    "{method} {path}: {:?}",
                    String::from_utf8_lossy(&r.body)
                );
            } else if documented {
                assert!(
                    ![StatusCode::NOT_FOUND, StatusCode::METHOD_NOT_ALLOWED].contains(&r.status),
                    "{method} {path} is documented but answered {}",
                    r.status
                );
            } else {
                assert_eq!(
                    r.status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is not documented"
                );
                let mut allow: Vec<&str> = r.header("allow").split(',').map(str::trim).collect();
                allow.retain(|m| *m != "HEAD" || !methods.contains(&"GET"));
                allow.sort_unstable();
                let mut want = methods.clone();
                want.sort_unstable();
                assert_eq!(allow, want, "Allow of {path}");
            }
        }
    }
}

#[tokio::test]
async fn the_openapi_document_lists_exactly_what_an_hmac_issuer_serves() {
    let f = Fixture::new();
    let app = f.app();
    let token = token_for(&app, "bob", "bob-password").await;
    document_matches_router(
        &app,
        &token,
        &[
            "/token",
            "/me",
            "/auth/verify",
            "/healthz",
            "/readyz",
            OPENAPI_PATH,
        ],
    )
    .await;
    // Public: no token needed to read it.
    let r = send(
        &app,
        Request::get(OPENAPI_PATH).body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["openapi"], "3.1.0");
    assert_eq!(r.json()["info"]["version"], env!("CARGO_PKG_VERSION"));
    // The link into /revoke goes with /revoke.
    let links = &r.json()["paths"]["/token"]["post"]["responses"]["200"]["links"];
    assert!(links.get("GetMe").is_some() && links.get("RevokeToken").is_none());
}

/// An EdDSA issuer over a file token store, named `iss` if given.
fn asymmetric_issuer(f: &Fixture, dir: &tempfile::TempDir, iss: Option<&str>) -> Router {
    let tokens = Arc::new(
        FileTokenStore::open(dir.path().join("users.tokens.json"), f.clock.clone()).unwrap(),
    );
    let key = SigningKey::from_pkcs8_pem(&key_file("ed25519.pem"))
        .unwrap()
        .with_key_id("ed");
    let mut service = TokenService::builder(key)
        .clock(f.clock.clone())
        .token_store(tokens);
    if let Some(iss) = iss {
        service = service.issuer(iss);
    }
    let service = service.build().unwrap();
    let users = Arc::new(FileUserStore::open(&f.path).unwrap());
    let endpoint = service.endpoint(users, Hasher::new(policy()));
    App::issuer(endpoint, service.verifier())
        .forward_auth(ForwardAuthHeaders::nginx())
        .into_router()
        .layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 4000))))
}

#[tokio::test]
async fn the_openapi_document_lists_exactly_what_an_asymmetric_issuer_with_a_store_serves() {
    let (f, dir) = (Fixture::new(), tempfile::tempdir().unwrap());
    let app = asymmetric_issuer(&f, &dir, None);
    let token = token_for(&app, "bob", "bob-password").await;
    document_matches_router(&app, &token, &KEYCARD_PATHS).await;
    for path in DISCOVERY_PATHS {
        let r = send(&app, get_with(path, &format!("Bearer {token}"))).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: no https:// iss");
    }
}

#[tokio::test]
async fn an_issuer_named_by_an_https_origin_publishes_its_discovery_documents() {
    let (f, dir) = (Fixture::new(), tempfile::tempdir().unwrap());
    let app = asymmetric_issuer(&f, &dir, Some("https://auth.example.com"));
    let token = token_for(&app, "bob", "bob-password").await;
    let all: Vec<&str> = KEYCARD_PATHS
        .iter()
        .chain(&DISCOVERY_PATHS)
        .copied()
        .collect();
    document_matches_router(&app, &token, &all).await;
    // Public, JSON, and consistent with what the issuer signs and publishes.
    let r = send(
        &app,
        Request::get(OPENID_CONFIGURATION_PATH)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), "application/json");
    let doc = r.json();
    assert_eq!(doc["issuer"], crate::testing::payload(&token)["iss"]);
    assert_eq!(
        doc["jwks_uri"],
        "https://auth.example.com/.well-known/jwks.json"
    );
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["EdDSA"])
    );
    let r = send(
        &app,
        Request::get(OAUTH_METADATA_PATH)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.json()["token_endpoint"], "https://auth.example.com/token");
    // Forward auth does not make an upstream's documents public.
    let req = Request::get("/auth/verify")
        .header("x-original-uri", OPENID_CONFIGURATION_PATH)
        .header("x-original-method", "GET")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, req).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_openapi_document_of_a_verify_only_node_names_its_headers() {
    let app = App::verify_only(Verifier::new(key()))
        .forward_auth(ForwardAuthHeaders::traefik())
        .identity_headers(
            IdentityHeaders::new("Remote-User", "Remote-Role", "Remote-Claims").unwrap(),
        )
        .into_router();
    // This verifier's clock is the system's: a token good for the next ten minutes.
    let now = crate::clock::Clock::now(&crate::clock::SystemClock);
    let token = sign(json!({"sub": "bob", "iat": now, "exp": now + 600}));
    let doc = {
        let r = send(
            &app,
            Request::get(OPENAPI_PATH).body(Body::empty()).unwrap(),
        )
        .await;
        r.json()
    };
    let params = &doc["components"]["parameters"];
    assert_eq!(params["OriginalUri"]["name"], "x-forwarded-uri");
    assert_eq!(params["OriginalMethod"]["name"], "x-forwarded-method");
    let allowed = &doc["components"]["responses"]["ForwardAuthAllowed"]["headers"];
    assert!(allowed.get("remote-user").is_some() && allowed.get("X-Auth-User").is_none());
    // The lib's request above sends nginx's names; this node reads Traefik's, so it
    // answers 400 for /auth/verify — still routed, neither 404 nor 405.
    document_matches_router(
        &app,
        &token,
        &["/me", "/auth/verify", "/healthz", "/readyz", OPENAPI_PATH],
    )
    .await;
}

#[tokio::test]
async fn a_gateway_serves_no_document_of_its_own() {
    // The upstream is never reached: the request is refused before forwarding.
    let app = App::verify_only(Verifier::new(key()))
        .gateway(Gateway::new("http://127.0.0.1:9").unwrap())
        .into_router();
    let r = send(
        &app,
        Request::get(OPENAPI_PATH).body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "missing_token".into()),
        "the upstream's /openapi.json is protected like any of its paths"
    );
}

#[tokio::test]
async fn forward_auth_does_not_make_the_upstreams_openapi_json_public() {
    let f = Fixture::new();
    let app = f.app();
    let req = Request::get("/auth/verify")
        .header("x-original-uri", OPENAPI_PATH)
        .header("x-original-method", "GET")
        .body(Body::empty())
        .unwrap();
    let r = send(&app, req).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[test]
fn the_whole_document_parses_and_every_operation_has_an_id() {
    let doc: Value = serde_json::from_str(&crate::server::openapi::full()).unwrap();
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let listed = crate::server::openapi::listed(&doc);
    assert_eq!(listed.len(), 18);
    let mut ids: Vec<String> = listed
        .iter()
        .map(|(path, method)| {
            doc["paths"][path][method.to_ascii_lowercase()]["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"))
                .to_owned()
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), listed.len(), "operationIds are unique");
}

#[test]
fn the_document_states_the_body_limit_the_code_holds() {
    let doc: Value = serde_json::from_str(&crate::server::openapi::full()).unwrap();
    let said = doc["components"]["responses"]["PayloadTooLarge"]["description"]
        .as_str()
        .unwrap();
    let limit = format!("over {} KiB", crate::login::MAX_TOKEN_BODY / 1024);
    assert!(said.contains(&limit), "{said:?} should say {limit:?}");
}
