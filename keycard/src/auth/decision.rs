//! The one request decision, shared by the layer, gateway mode and forward auth:
//! a request's method, path and headers in; its canonical path and the caller's
//! identity, or the refusal, out.
//!
//! Anything that judged a request somewhere else could judge it differently from the
//! server that then serves it; so nothing does.

use std::borrow::Cow;

use http::{HeaderMap, Method};

use super::{AuthError, require_role};
use crate::auth::path;
use crate::auth::rules::{Access, Rules};
use crate::auth::token::TokenSources;
use crate::jwt::claims::Claims;
use crate::jwt::verifier::Verifier;

/// Headers that make frameworks (Express's `method-override`, Rails, Symfony, ASP.NET)
/// serve a request as another method than the one Keycard judged. A request carrying
/// one is refused.
pub(crate) const METHOD_OVERRIDE_HEADERS: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// What Keycard decided about a request it lets through.
#[derive(Debug)]
pub(crate) struct Verdict<'a> {
    /// The normalized path: the one the rules judged, and the one passed on.
    pub(crate) path: Cow<'a, str>,
    /// The verified claims, when a valid token came with the request.
    pub(crate) claims: Option<Claims>,
}

/// True when `name` is `target` once case is folded and `_` is read as `-`: the way
/// CGI, WSGI and Rack (`HTTP_X_AUTH_USER`) and several proxies read header names.
pub(crate) fn same_header(name: &str, target: &str) -> bool {
    name.len() == target.len()
        && name
            .bytes()
            .zip(target.bytes())
            .all(|(a, b)| fold_header_byte(a) == fold_header_byte(b))
}

fn fold_header_byte(b: u8) -> u8 {
    match b {
        b'_' => b'-',
        b => b.to_ascii_lowercase(),
    }
}

/// Methods are tokens that routers compare without case (Werkzeug upper-cases them), so
/// only the canonical, upper-case spelling is judged; any other is refused.
pub(crate) fn check_method(method: &Method) -> Result<(), AuthError> {
    if method.as_str().bytes().any(|b| b.is_ascii_lowercase()) {
        return Err(AuthError::InvalidRequest(
            "the method must be in upper case",
        ));
    }
    Ok(())
}

/// Decides a request from what the cached keys say. A token whose key a remote JWKS may
/// have gained since is refused here; [`decide_refetching`] fetches the keys first.
pub(crate) fn decide<'a>(
    verifier: &Verifier,
    rules: &Rules,
    sources: &TokenSources,
    method: &Method,
    raw_path: &'a str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Verdict<'a>, AuthError> {
    check_method(method)?;
    if headers.keys().any(|name| {
        METHOD_OVERRIDE_HEADERS
            .iter()
            .any(|h| same_header(name.as_str(), h))
    }) {
        return Err(AuthError::InvalidRequest(
            "method override headers are not accepted",
        ));
    }
    let path = path::normalize(raw_path).map_err(AuthError::InvalidPath)?;
    let token = || sources.token(headers, query);
    let claims = judge(verifier, rules, method, &path, token)?;
    Ok(Verdict { path, claims })
}

#[cfg(feature = "server")]
/// [`decide`], and when the token names a key the verifier may still fetch (a rotation
/// at the issuer), once more after [`Verifier::refetch_for`].
pub(crate) async fn decide_refetching<'a>(
    verifier: &Verifier,
    rules: &Rules,
    sources: &TokenSources,
    method: &Method,
    raw_path: &'a str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Verdict<'a>, AuthError> {
    match decide(verifier, rules, sources, method, raw_path, query, headers) {
        Err(AuthError::InvalidToken(e)) if verifier.may_refetch(e) => {
            let token = sources.token(headers, query).ok().flatten();
            if verifier
                .refetch_for(token.as_deref().unwrap_or(""), e)
                .await
            {
                decide(verifier, rules, sources, method, raw_path, query, headers)
            } else {
                Err(AuthError::InvalidToken(e))
            }
        }
        verdict => verdict,
    }
}

/// What the rules and the bearer token (read by `token`, only when needed) say about
/// the canonical `method` on the normalized `path`.
fn judge<'a>(
    verifier: &Verifier,
    rules: &Rules,
    method: &Method,
    path: &str,
    token: impl Fn() -> Result<Option<Cow<'a, str>>, AuthError>,
) -> Result<Option<Claims>, AuthError> {
    let required = || -> Result<Claims, AuthError> {
        let token = token()?.ok_or(AuthError::MissingToken)?;
        verifier.verify(&token).map_err(AuthError::InvalidToken)
    };
    Ok(match &*rules.decide(method, path) {
        Access::Public => {
            // A valid token on a public route still identifies its bearer; an invalid or
            // absent one leaves the request anonymous.
            match token() {
                Ok(Some(token)) => verifier.verify(&token).ok(),
                _ => None,
            }
        }
        Access::Authenticated => Some(required()?),
        Access::Roles(roles) => {
            let claims = required()?;
            require_role(&claims, roles)?;
            Some(claims)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_fold_case_and_underscores() {
        assert!(same_header("x-auth-user", "x-auth-user"));
        assert!(same_header("X_Auth_User", "x-auth-user"));
        assert!(same_header("x_auth-USER", "x-auth-user"));
        assert!(!same_header("x-auth-users", "x-auth-user"));
        assert!(!same_header("x-auth-use", "x-auth-user"));
    }

    #[test]
    fn methods_are_upper_case_or_refused() {
        assert!(check_method(&Method::DELETE).is_ok());
        assert!(check_method(&Method::from_bytes(b"PROPFIND").unwrap()).is_ok());
        for m in [&b"delete"[..], b"Delete", b"gEt"] {
            assert!(check_method(&Method::from_bytes(m).unwrap()).is_err());
        }
    }
}
