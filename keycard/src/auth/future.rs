use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::response::Response;
use pin_project_lite::pin_project;

pin_project! {
    /// The response future of [`Auth`](super::Auth) and
    /// [`RequireRole`](super::RequireRole): the inner service's, or a rejection.
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Inner { #[pin] future: F },
        Rejected { response: Option<Response> },
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
        Ok(()) => {
            let clone = inner.clone();
            let mut ready = std::mem::replace(inner, clone);
            ResponseFuture::inner(ready.call(req))
        }
        Err(rejection) => {
            tracing::debug!(reason = ?rejection, "request refused");
            ResponseFuture::rejected(axum::response::IntoResponse::into_response(rejection))
        }
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn inner(future: F) -> Self {
        Self {
            kind: Kind::Inner { future },
        }
    }

    pub(crate) fn rejected(response: Response) -> Self {
        Self {
            kind: Kind::Rejected {
                response: Some(response),
            },
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
        }
    }
}
