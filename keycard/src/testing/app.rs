//! A users file with alice and bob, the `keycard serve` app over it, and a way to send
//! it requests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::clock::{ManualClock, SystemClock};
use crate::duration::Rate;
use crate::jwt::{Issuer, Verifier};
use crate::login::{Hasher, PasswordPolicy, TokenEndpoint};
use crate::server::App;
use crate::store::{FileUserStore, StoreFuture, User, UserStore};
use crate::testing::{NOW, key};

/// A users file with alice (admin) and bob (user), a manual clock at [`NOW`], and a
/// count of the user lookups the app makes.
pub(crate) struct Fixture {
    _dir: tempfile::TempDir,
    pub(crate) path: std::path::PathBuf,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) finds: Arc<AtomicUsize>,
}

/// The real file store, counting lookups (to prove a throttled login costs nothing).
struct Counting {
    inner: Arc<FileUserStore>,
    finds: Arc<AtomicUsize>,
}

impl UserStore for Counting {
    fn find<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<User>> {
        self.finds.fetch_add(1, Ordering::SeqCst);
        self.inner.find(name)
    }
    fn upgrade_password_hash<'a>(
        &'a self,
        name: &'a str,
        old: &'a str,
        new: String,
    ) -> StoreFuture<'a, bool> {
        self.inner.upgrade_password_hash(name, old, new)
    }
    fn hash_kinds(&self) -> Arc<[String]> {
        self.inner.hash_kinds()
    }
}

/// A cheap Argon2id policy: tests hash real passwords.
pub(crate) fn policy() -> PasswordPolicy {
    PasswordPolicy::new(1024, 1, 1).unwrap()
}

impl Fixture {
    pub(crate) fn new() -> Self {
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

    /// The `keycard serve` app over the users file, with these limits and public paths.
    pub(crate) fn app_with(
        &self,
        user_rate: Option<Rate>,
        ip_rate: Option<Rate>,
        public: &[&str],
    ) -> Router {
        let store = Counting {
            inner: Arc::new(FileUserStore::open(&self.path).unwrap()),
            finds: self.finds.clone(),
        };
        let issuer = Issuer::new(key()).with_clock(self.clock.clone());
        let verifier = Verifier::new(key()).with_clock(self.clock.clone());
        let endpoint = TokenEndpoint::new(issuer, store, Hasher::new(policy()))
            .with_user_rate(user_rate)
            .with_ip_rate(ip_rate);
        public
            .iter()
            .fold(App::issuer(endpoint, verifier), |app, p| {
                app.public(p).unwrap()
            })
            .into_router()
            .layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 4000))))
    }

    /// [`app_with`](Self::app_with) without limits, `/public*` public.
    pub(crate) fn app(&self) -> Router {
        self.app_with(None, None, &["/public*"])
    }
}

/// A response, read whole.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {:?}", String::from_utf8_lossy(&self.body)))
    }
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }
    /// The JSON body's `error`, checking the body is JSON.
    pub(crate) fn error(&self) -> String {
        assert_eq!(self.header("content-type"), "application/json");
        self.json()["error"].as_str().unwrap().to_owned()
    }
}

/// Sends `req` to `app`, reading the whole response.
pub(crate) async fn send(app: &Router, req: Request<Body>) -> Reply {
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

pub(crate) fn post_json(path: &str, body: Value) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

pub(crate) fn login(user: &str, password: &str) -> Request<Body> {
    post_json("/token", json!({"username": user, "password": password}))
}

pub(crate) fn get_with(path: &str, auth: &str) -> Request<Body> {
    Request::get(path)
        .header(header::AUTHORIZATION, auth)
        .body(Body::empty())
        .unwrap()
}

/// A token from `/token` for `user`.
pub(crate) async fn token_for(app: &Router, user: &str, password: &str) -> String {
    let r = send(app, login(user, password)).await;
    assert_eq!(r.status, StatusCode::OK);
    r.json()["access_token"].as_str().unwrap().to_owned()
}
