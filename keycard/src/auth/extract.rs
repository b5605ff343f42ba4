//! axum extractors for the verified claims.
//!
//! `Claims` (or `Claims<MyClaims>` for the application's own claims) in a handler's
//! arguments yields the claims the [`AuthLayer`](crate::AuthLayer) verified; it
//! rejects with 401 when there are none. `Option<Claims<…>>` is the optional form for
//! public routes: `Some` when a valid token came along, `None` otherwise.

use std::any::Any;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;
use serde::de::DeserializeOwned;

use crate::auth::AuthError;
use crate::jwt::claims::Claims;
use crate::jwt::verifier::TokenError;

fn typed<E: DeserializeOwned + 'static>(parts: &Parts) -> Option<Result<Claims<E>, AuthError>> {
    let verified = parts.extensions.get::<Claims>()?;
    // The common case needs no conversion round-trip: the same claims, shared.
    if let Some(same) = (verified as &dyn Any).downcast_ref::<Claims<E>>() {
        return Some(Ok(same.clone()));
    }
    Some(
        verified
            .typed::<E>()
            .map_err(|_| AuthError::InvalidToken(TokenError::InvalidClaims)),
    )
}

impl<S, E> FromRequestParts<S> for Claims<E>
where
    S: Send + Sync,
    E: DeserializeOwned + Send + 'static,
{
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AuthError> {
        typed(parts).unwrap_or(Err(AuthError::MissingToken))
    }
}

impl<S, E> OptionalFromRequestParts<S> for Claims<E>
where
    S: Send + Sync,
    E: DeserializeOwned + Send + 'static,
{
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, AuthError> {
        Ok(typed(parts).and_then(Result::ok))
    }
}
