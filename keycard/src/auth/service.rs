use std::borrow::Cow;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::response::{IntoResponse, Response};
use http::uri::PathAndQuery;
use http::{HeaderMap, Request, Uri, header};
use tower::Service;

use super::decision::decide;
use super::future::{dispatch, take_ready};
use super::{AuthError, ResponseFuture};
use crate::auth::path;
use crate::auth::rules::Rules;
use crate::jwt::verifier::{TokenError, Verifier};

/// The verifying service; see [`AuthLayer`](super::AuthLayer).
///
/// For each request, in this order:
///
/// 1. the path is normalized ([`crate::auth::path`]); a refused path gets 400, and the
///    request passed on carries the normalized path;
/// 2. the rules decide what the request needs;
/// 3. the bearer token, if needed, is verified; the [`Claims`](crate::Claims) go into the request's
///    extensions.
///
/// Any refusal is a response ([`AuthError`]), never an error of the service.
#[derive(Clone, Debug)]
pub struct Auth<S> {
    inner: S,
    verifier: Verifier,
    rules: Arc<Rules>,
}

impl<S> Auth<S> {
    pub(crate) fn new(inner: S, verifier: Verifier, rules: Arc<Rules>) -> Self {
        Self {
            inner,
            verifier,
            rules,
        }
    }

    /// The one decision ([`decide`]): may this request through, and as whom? The request
    /// passed on carries the normalized path and the claims.
    fn authenticate<B>(&self, req: &mut Request<B>) -> Result<(), AuthError> {
        let verdict = decide(
            &self.verifier,
            &self.rules,
            req.method(),
            req.uri().path(),
            req.headers(),
        )?;
        let claims = verdict.claims;
        if let Cow::Owned(normal) = verdict.path {
            set_path(req, &normal)?;
        }
        if let Some(claims) = claims {
            req.extensions_mut().insert(claims);
        }
        Ok(())
    }
}

fn set_path<B>(req: &mut Request<B>, normal: &str) -> Result<(), AuthError> {
    let pq = match req.uri().query() {
        Some(q) => PathAndQuery::try_from(format!("{normal}?{q}")),
        None => PathAndQuery::try_from(normal),
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = Some(pq.map_err(|_| AuthError::InvalidPath(path::PathError::NonAscii))?);
    *req.uri_mut() =
        Uri::from_parts(parts).map_err(|_| AuthError::InvalidPath(path::PathError::NonAscii))?;
    Ok(())
}

/// The token of `Authorization: Bearer <token>` (RFC 6750 §2.1).
///
/// - `Ok(None)`: no credentials (no header, an empty one, another scheme);
/// - `Err(MalformedCredentials)`: two headers, `Bearer` alone, several words;
/// - `Err(InvalidToken)`: a token that is not even text.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, AuthError> {
    let mut all = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = all.next() else {
        return Ok(None);
    };
    if all.next().is_some() {
        return Err(AuthError::MalformedCredentials(
            "more than one Authorization header",
        ));
    }
    let value = value.as_bytes().trim_ascii();
    let (scheme, rest) = match value.iter().position(|b| *b == b' ' || *b == b'\t') {
        Some(at) => value.split_at(at),
        None => (value, &b""[..]),
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Ok(None);
    }
    let token = rest.trim_ascii();
    if token.is_empty() {
        return Err(AuthError::MalformedCredentials("Bearer without a token"));
    }
    if token.iter().any(|b| b.is_ascii_whitespace()) {
        return Err(AuthError::MalformedCredentials(
            "more than one word after Bearer",
        ));
    }
    std::str::from_utf8(token)
        .map(Some)
        .map_err(|_| AuthError::InvalidToken(TokenError::Malformed))
}

impl<S, B> Service<Request<B>> for Auth<S>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

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
                let this = Auth {
                    inner: take_ready(&mut self.inner),
                    verifier: self.verifier.clone(),
                    rules: self.rules.clone(),
                };
                ResponseFuture::waiting(Box::pin(async move {
                    let mut this = this;
                    this.verifier.refetch_for(e).await;
                    match this.authenticate(&mut req) {
                        Ok(()) => this.inner.call(req).await,
                        Err(rejection) => Ok(rejection.into_response()),
                    }
                }))
            }
            decision => dispatch(&mut self.inner, req, decision),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::AUTHORIZATION, HeaderValue::from_bytes(v).unwrap());
        }
        h
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token(&headers(&[])), Ok(None));
        assert_eq!(bearer_token(&headers(&[b""])), Ok(None));
        assert_eq!(
            bearer_token(&headers(&[b"Basic YWxhZGRpbjpvcGVuc2VzYW1l"])),
            Ok(None)
        );
        assert_eq!(bearer_token(&headers(&[b"Bearerx abc"])), Ok(None));
        assert_eq!(bearer_token(&headers(&[b"Bearer abc"])), Ok(Some("abc")));
        assert_eq!(
            bearer_token(&headers(&[b"bEaReR   abc  "])),
            Ok(Some("abc"))
        );
        assert_eq!(bearer_token(&headers(&[b"BEARER\tabc"])), Ok(Some("abc")));
        assert!(matches!(
            bearer_token(&headers(&[b"Bearer"])),
            Err(AuthError::MalformedCredentials(_))
        ));
        assert!(matches!(
            bearer_token(&headers(&[b"Bearer   "])),
            Err(AuthError::MalformedCredentials(_))
        ));
        assert!(matches!(
            bearer_token(&headers(&[b"Bearer a b"])),
            Err(AuthError::MalformedCredentials(_))
        ));
        assert!(matches!(
            bearer_token(&headers(&[b"Bearer a", b"Bearer a"])),
            Err(AuthError::MalformedCredentials(_))
        ));
        assert_eq!(
            bearer_token(&headers(&[b"Bearer \xff\xfe"])),
            Err(AuthError::InvalidToken(TokenError::Malformed))
        );
    }
}
