use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::response::Response;
use pin_project_lite::pin_project;

/// A boxed response future, for the rare request that must wait (a JWKS refetch).
type Waiting<T> = Pin<Box<dyn Future<Output = T> + Send>>;

pin_project! {
    /// The response future of [`Auth`](super::Auth) and
    /// [`RequireRole`](super::RequireRole): the inner service's (its body, of any type,
    /// made a [`Body`]), a rejection, or (for a token whose key must first be fetched) a
    /// boxed wait.
    pub struct ResponseFuture<F, E> {
        #[pin]
        kind: Kind<F, E>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, E> {
        Inner { #[pin] future: F },
        Rejected { response: Option<Response> },
        Waiting { future: Waiting<Result<Response, E>> },
    }
}

/// Calls `inner` when `decision` lets the request through, or answers with the refusal
/// (in gRPC's form to a gRPC request). The service that was driven to readiness is the
/// one called (tower's clone-and-swap).
pub(crate) fn dispatch<S, B, ResBody>(
    inner: &mut S,
    req: http::Request<B>,
    decision: Result<(), super::AuthError>,
) -> ResponseFuture<S::Future, S::Error>
where
    S: tower::Service<http::Request<B>, Response = http::Response<ResBody>> + Clone,
{
    match decision {
        Ok(()) => ResponseFuture::inner(take_ready(inner).call(req)),
        Err(rejection) => ResponseFuture::rejected(rejection, req.headers()),
    }
}

/// The service that was driven to readiness, leaving a clone in its place.
pub(crate) fn take_ready<S: Clone>(inner: &mut S) -> S {
    let clone = inner.clone();
    std::mem::replace(inner, clone)
}

impl<F, E> ResponseFuture<F, E> {
    pub(crate) fn inner(future: F) -> Self {
        Self {
            kind: Kind::Inner { future },
        }
    }

    /// `rejection`'s answer to a request with these headers: gRPC's status for a gRPC
    /// request, the HTTP error otherwise.
    pub(crate) fn rejected(rejection: super::AuthError, headers: &http::HeaderMap) -> Self {
        tracing::debug!(reason = ?rejection, "request refused");
        Self {
            kind: Kind::Rejected {
                response: Some(rejection.response_for(headers)),
            },
        }
    }

    pub(crate) fn waiting(future: Waiting<Result<Response, E>>) -> Self {
        Self {
            kind: Kind::Waiting { future },
        }
    }
}

impl<F, E, ResBody> Future for ResponseFuture<F, E>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
    ResBody: HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<axum::BoxError>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            // `Body::new` of a `Body` is the body itself (no second box).
            KindProj::Inner { future } => future
                .poll(cx)
                .map(|answer| answer.map(|res| res.map(Body::new))),
            KindProj::Rejected { response } => Poll::Ready(Ok(response.take().unwrap_or_default())),
            KindProj::Waiting { future } => future.as_mut().poll(cx),
        }
    }
}
