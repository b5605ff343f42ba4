use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Bytes, HttpBody};
use axum::response::Response;
use http::Request;
use tower::{Layer, Service};

use super::future::dispatch;
use super::{AuthError, ResponseFuture, require_role};
use crate::jwt::claims::Claims;

/// A role guard for a route or a router: lets through requests whose verified token
/// has one of the given roles; others get 403 `insufficient_scope`, or 401
/// `missing_token` when there are no verified claims at all.
///
/// Put it inside an [`AuthLayer`](super::AuthLayer), which supplies the claims.
///
/// ```
/// use axum::{Router, routing::get};
/// use keycard::RequireRoleLayer;
///
/// let admin: Router = Router::new()
///     .route("/admin/stats", get(|| async { "42" }))
///     .route_layer(RequireRoleLayer::new(["admin"]));
/// ```
#[derive(Clone, Debug)]
pub struct RequireRoleLayer {
    roles: Arc<[String]>,
}

impl RequireRoleLayer {
    /// Requires one of `roles`.
    pub fn new<R: Into<String>>(roles: impl IntoIterator<Item = R>) -> Self {
        Self {
            roles: roles.into_iter().map(Into::into).collect(),
        }
    }
}

impl<S> Layer<S> for RequireRoleLayer {
    type Service = RequireRole<S>;
    fn layer(&self, inner: S) -> RequireRole<S> {
        RequireRole {
            inner,
            roles: self.roles.clone(),
        }
    }
}

/// The service of [`RequireRoleLayer`].
#[derive(Clone, Debug)]
pub struct RequireRole<S> {
    inner: S,
    roles: Arc<[String]>,
}

impl<S> RequireRole<S> {
    fn authorize<B>(&self, req: &Request<B>) -> Result<(), AuthError> {
        let claims = req
            .extensions()
            .get::<Claims>()
            .ok_or(AuthError::MissingToken)?;
        require_role(claims, &self.roles)
    }
}

impl<S, B, ResBody> Service<Request<B>> for RequireRole<S>
where
    S: Service<Request<B>, Response = http::Response<ResBody>> + Clone,
    ResBody: HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let decision = self.authorize(&req);
        dispatch(&mut self.inner, req, decision)
    }
}
