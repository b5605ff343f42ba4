use std::sync::Arc;

use tower::Layer;

use super::Auth;
use crate::auth::rules::Rules;
use crate::auth::token::TokenSources;
use crate::jwt::verifier::Verifier;

/// Applies [`Auth`] to a service: every request needs a valid bearer token unless the
/// rules say otherwise.
#[derive(Clone, Debug)]
pub struct AuthLayer {
    verifier: Verifier,
    rules: Arc<Rules>,
    sources: Arc<TokenSources>,
}

impl AuthLayer {
    /// Every request needs a token valid for `verifier`.
    ///
    /// Defaults to no public paths at all: add them with [`unless`](Self::unless).
    pub fn new(verifier: Verifier) -> Self {
        Self {
            verifier,
            rules: Arc::new(Rules::new()),
            sources: Arc::new(TokenSources::new()),
        }
    }

    /// Uses `rules` to decide which requests are public and which need a role: the
    /// Express `unless`, and more. See [`Rules`] for the matching rule.
    pub fn unless(mut self, rules: Rules) -> Self {
        self.rules = Arc::new(rules);
        self
    }

    /// Also reads the token from these places (by default `Authorization` only), and
    /// removes it from there before the request goes on: see [`TokenSources`].
    pub fn token_sources(mut self, sources: TokenSources) -> Self {
        self.sources = Arc::new(sources);
        self
    }
}

impl AuthLayer {
    /// Wraps a whole router, so that the path normalization happens *before* routing
    /// and the router matches the same path the rules judged.
    ///
    /// `Router::layer` runs a layer after routing (for the matched route or the
    /// fallback). With it the rules still see the normalized path, so protection holds,
    /// but the router matched the raw one: `/%74oken` then finds no `/token` route.
    /// Prefer `wrap` for a whole application.
    pub fn wrap(self, router: axum::Router) -> axum::Router {
        axum::Router::new().fallback_service(self.layer(router))
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Auth<S> {
        Auth::new(
            inner,
            self.verifier.clone(),
            self.rules.clone(),
            self.sources.clone(),
        )
    }
}
