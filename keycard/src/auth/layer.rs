use std::sync::Arc;

use tower::Layer;

use super::Auth;
use crate::rules::Rules;
use crate::verifier::Verifier;

/// Applies [`Auth`] to a service: every request needs a valid bearer token unless the
/// rules say otherwise.
#[derive(Clone, Debug)]
pub struct AuthLayer {
    verifier: Verifier,
    rules: Arc<Rules>,
}

impl AuthLayer {
    /// Every request needs a token valid for `verifier`.
    ///
    /// Defaults to no public paths at all: add them with [`unless`](Self::unless).
    pub fn new(verifier: Verifier) -> Self {
        Self {
            verifier,
            rules: Arc::new(Rules::new()),
        }
    }

    /// Uses `rules` to decide which requests are public and which need a role: the
    /// Express `unless`, and more. See [`Rules`] for the matching rule.
    pub fn unless(mut self, rules: Rules) -> Self {
        self.rules = Arc::new(rules);
        self
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Auth<S> {
        Auth::new(inner, self.verifier.clone(), self.rules.clone())
    }
}
