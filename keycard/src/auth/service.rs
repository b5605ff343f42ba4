use std::borrow::Cow;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::response::Response;
use http::uri::PathAndQuery;
use http::{Request, Uri};
use tower::Service;

use super::decision::decide;
use super::future::{dispatch, take_ready};
use super::{AuthError, ResponseFuture};
use crate::auth::path;
use crate::auth::rules::Rules;
use crate::auth::token::TokenSources;
use crate::jwt::verifier::Verifier;

/// The verifying service; see [`AuthLayer`](super::AuthLayer).
///
/// For each request, in this order:
///
/// 1. the path is normalized ([`crate::auth::path`]); a refused path gets 400, and the
///    request passed on carries the normalized path;
/// 2. the rules decide what the request needs;
/// 3. the bearer token ([`TokenSources`]), if needed, is verified; the [`Claims`](crate::Claims) go into the request's
///    extensions.
///
/// Any refusal is a response ([`AuthError`]), never an error of the service.
#[derive(Clone, Debug)]
pub struct Auth<S> {
    inner: S,
    verifier: Verifier,
    rules: Arc<Rules>,
    sources: Arc<TokenSources>,
}

impl<S> Auth<S> {
    pub(crate) fn new(
        inner: S,
        verifier: Verifier,
        rules: Arc<Rules>,
        sources: Arc<TokenSources>,
    ) -> Self {
        Self {
            inner,
            verifier,
            rules,
            sources,
        }
    }

    /// The one decision ([`decide`]): may this request through, and as whom? The request
    /// passed on carries the normalized path and the claims, and no token but in
    /// `Authorization` ([`TokenSources::strip`]).
    fn authenticate<B>(&self, req: &mut Request<B>) -> Result<(), AuthError> {
        let verdict = decide(
            &self.verifier,
            &self.rules,
            &self.sources,
            req.method(),
            req.uri().path(),
            req.uri().query(),
            req.headers(),
        )?;
        let claims = verdict.claims;
        if let Cow::Owned(normal) = verdict.path {
            let query = req.uri().query().map(str::to_owned);
            let bad = AuthError::InvalidPath(path::PathError::NonAscii);
            set_target(req, &normal, query.as_deref(), bad)?;
        }
        if !self.sources.is_header_only() {
            self.sources.strip(req)?;
        }
        if let Some(claims) = claims {
            req.extensions_mut().insert(claims);
        }
        Ok(())
    }
}

/// Gives `req` the target `path?query` (`None`: no query), keeping scheme and authority;
/// `bad` when that is not a valid target.
pub(super) fn set_target<B>(
    req: &mut Request<B>,
    path: &str,
    query: Option<&str>,
    bad: AuthError,
) -> Result<(), AuthError> {
    let pq = match query {
        Some(q) => PathAndQuery::try_from(format!("{path}?{q}")),
        None => PathAndQuery::try_from(path),
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = Some(pq.map_err(|_| bad)?);
    *req.uri_mut() = Uri::from_parts(parts).map_err(|_| bad)?;
    Ok(())
}

impl<S, B, ResBody> Service<Request<B>> for Auth<S>
where
    S: Service<Request<B>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: 'static,
    B: Send + 'static,
    ResBody: HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let decision = self.authenticate(&mut req);
        match decision {
            // A kid the cached JWKS lacks: the issuer may have rotated. The verifier
            // refetches (at most once per interval, shared by all waiting requests);
            // then the request is decided again.
            Err(AuthError::InvalidToken(e)) if self.verifier.may_refetch(e) => {
                let token = self
                    .sources
                    .token(req.headers(), req.uri().query())
                    .ok()
                    .flatten()
                    .map(Cow::into_owned)
                    .unwrap_or_default();
                let this = Auth {
                    inner: take_ready(&mut self.inner),
                    verifier: self.verifier.clone(),
                    rules: self.rules.clone(),
                    sources: self.sources.clone(),
                };
                ResponseFuture::waiting(Box::pin(async move {
                    let mut this = this;
                    this.verifier.refetch_for(&token, e).await;
                    match this.authenticate(&mut req) {
                        Ok(()) => this.inner.call(req).await.map(|res| res.map(Body::new)),
                        Err(rejection) => Ok(rejection.response_for(req.headers())),
                    }
                }))
            }
            decision => dispatch(&mut self.inner, req, decision),
        }
    }
}
