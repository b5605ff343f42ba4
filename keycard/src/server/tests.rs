//! The `keycard serve` app's own routes and answers.

use axum::body::Body;
use http::{Request, StatusCode, header};

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
