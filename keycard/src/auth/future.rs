use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::response::Response;
use pin_project_lite::pin_project;

/// A boxed response future, for the rare request that must wait (a JWKS refetch).
type Waiting<T> = Pin<Box<dyn Future<Output = T> + Send>>;

pin_project! {
    /// The response future of [`Auth`](super::Auth) and
    /// [`RequireRole`](super::RequireRole): the inner service's, a rejection, or (for a
    /// token whose key must first be fetched) a boxed wait.
    pub struct ResponseFuture<F: Future> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F: Future> {
        Inner { #[pin] future: F },
        Rejected { response: Option<Response> },
        Waiting { future: Waiting<F::Output> },
    }
}

/// Calls `inner` when `decision` lets the request through, or answers with the refusal.
/// The service that was driven to readiness is the one called (tower's clone-and-swap).
pub(crate) fn dispatch<S, B>(
    inner: &mut S,
    req: http::Request<B>,
    decision: Result<(), super::AuthError>,
) -> ResponseFuture<S::Future>
where
    S: tower::Service<http::Request<B>, Response = Response> + Clone,
{
    match decision {
        Ok(()) => ResponseFuture::inner(take_ready(inner).call(req)),
        Err(rejection) => ResponseFuture::rejected(rejection),
    }
}

/// The service that was driven to readiness, leaving a clone in its place.
pub(crate) fn take_ready<S: Clone>(inner: &mut S) -> S {
    let clone = inner.clone();
    std::mem::replace(inner, clone)
}

impl<F: Future> ResponseFuture<F> {
    pub(crate) fn inner(future: F) -> Self {
        Self {
            kind: Kind::Inner { future },
        }
    }

    pub(crate) fn rejected(rejection: super::AuthError) -> Self {
        tracing::debug!(reason = ?rejection, "request refused");
        Self {
            kind: Kind::Rejected {
                response: Some(axum::response::IntoResponse::into_response(rejection)),
            },
        }
    }

    pub(crate) fn waiting(future: Waiting<F::Output>) -> Self {
        Self {
            kind: Kind::Waiting { future },
        }
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => future.poll(cx),
            KindProj::Rejected { response } => Poll::Ready(Ok(response.take().unwrap_or_default())),
            KindProj::Waiting { future } => future.as_mut().poll(cx),
        }
    }
}
