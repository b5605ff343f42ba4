//! Which requests need a token, and which role: the rule set behind `unless` and the
//! role guard.
//!
//! A rule has a path pattern, optionally a set of methods, and an [`Access`]. The
//! first rule that matches a request decides; when none does, the default decides
//! (any authenticated user, unless changed): the set fails closed.
//!
//! # Matching
//!
//! Patterns match the *normalized* path (see [`crate::path`]) byte-for-byte and
//! case-sensitively. A pattern ending in `*` matches every path that starts with what
//! precedes the `*` (`/docs*` matches `/docs`, `/docs/x` and `/docsx`); any other
//! pattern matches only itself (`/token` matches neither `/token/` nor `/TOKEN`).
//! A pattern of a lone `*` matches every path. Methods match exactly.

use http::Method;

use crate::error::{Error, ErrorKind};

/// What a matching request needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    /// Nothing: no token is required. A valid token, if sent, is still verified and
    /// its claims made available; an invalid one is ignored.
    Public,
    /// A valid token.
    Authenticated,
    /// A valid token whose `role` is one of these.
    Roles(Vec<String>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Pattern {
    Exact(String),
    Prefix(String),
}

impl Pattern {
    fn parse(text: &str) -> Result<Self, Error> {
        let bad = |why: &str| {
            Error::new(
                ErrorKind::InvalidPattern,
                format!("invalid path pattern {text:?}: {why}"),
            )
        };
        let (body, prefix) = match text.strip_suffix('*') {
            Some(body) => (body, true),
            None => (text, false),
        };
        if body.contains('*') {
            return Err(bad("`*` is allowed only at the end"));
        }
        if !(body.starts_with('/') || (prefix && body.is_empty())) {
            return Err(bad("a pattern starts with /"));
        }
        if !body.is_empty() {
            // A pattern that is not itself a normal path could never match one.
            match crate::path::normalize(body) {
                Ok(n) if n == body => {}
                Ok(_) => {
                    return Err(bad(
                        "write it in normal form (unreserved characters unescaped, escapes in upper case)",
                    ));
                }
                Err(e) => return Err(bad(e.description())),
            }
        }
        Ok(if prefix {
            Pattern::Prefix(body.to_owned())
        } else {
            Pattern::Exact(body.to_owned())
        })
    }

    fn matches(&self, path: &str) -> bool {
        match self {
            Pattern::Exact(p) => p == path,
            Pattern::Prefix(p) => path.starts_with(p.as_str()),
        }
    }
}

/// One rule: a path pattern, optional methods, and what the request needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pattern: Pattern,
    methods: Option<Vec<Method>>,
    access: Access,
}

impl Rule {
    /// A rule for `pattern` (see the module docs), any method, requiring a valid token.
    pub fn new(pattern: &str) -> Result<Self, Error> {
        Ok(Self {
            pattern: Pattern::parse(pattern)?,
            methods: None,
            access: Access::Authenticated,
        })
    }

    /// Limits the rule to these methods.
    pub fn methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.methods = Some(methods.into_iter().collect());
        self
    }

    /// Makes matching requests public.
    pub fn public(mut self) -> Self {
        self.access = Access::Public;
        self
    }

    /// Requires one of these roles.
    pub fn roles<R: Into<String>>(mut self, roles: impl IntoIterator<Item = R>) -> Self {
        self.access = Access::Roles(roles.into_iter().map(Into::into).collect());
        self
    }

    /// What a matching request needs.
    pub fn access(&self) -> &Access {
        &self.access
    }

    fn matches(&self, method: &Method, path: &str) -> bool {
        self.methods.as_ref().is_none_or(|m| m.contains(method)) && self.pattern.matches(path)
    }
}

/// An ordered rule set; the first match wins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rules {
    rules: Vec<Rule>,
    default: Access,
}

impl Default for Rules {
    fn default() -> Self {
        Self::new()
    }
}

impl Rules {
    /// No rules: every request needs a valid token.
    pub fn new() -> Self {
        Self {
            rules: Vec::new(),
            default: Access::Authenticated,
        }
    }

    /// Appends a public rule for `pattern`, every method (the Express `unless({ path })`).
    pub fn public(self, pattern: &str) -> Result<Self, Error> {
        Ok(self.rule(Rule::new(pattern)?.public()))
    }

    /// Appends a public rule for `method` on every path (for example `OPTIONS`, so CORS
    /// preflights pass).
    pub fn public_method(self, method: Method) -> Self {
        self.rule(Rule {
            pattern: Pattern::Prefix(String::new()),
            methods: Some(vec![method]),
            access: Access::Public,
        })
    }

    /// Appends a rule.
    pub fn rule(mut self, rule: Rule) -> Self {
        self.rules.push(rule);
        self
    }

    /// Sets what a request that matches no rule needs. Defaults to
    /// [`Access::Authenticated`].
    pub fn default_access(mut self, access: Access) -> Self {
        self.default = access;
        self
    }

    /// What a request for `method` and the normalized `path` needs.
    pub fn decide(&self, method: &Method, path: &str) -> &Access {
        self.rules
            .iter()
            .find(|r| r.matches(method, path))
            .map_or(&self.default, |r| &r.access)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide<'a>(rules: &'a Rules, method: Method, path: &str) -> &'a Access {
        rules.decide(&method, path)
    }

    #[test]
    fn exact_prefix_and_method_rules() {
        let rules = Rules::new()
            .public("/token")
            .unwrap()
            .public("/docs*")
            .unwrap()
            .public_method(Method::OPTIONS)
            .rule(Rule::new("/admin*").unwrap().roles(["admin"]));
        assert_eq!(decide(&rules, Method::POST, "/token"), &Access::Public);
        assert_eq!(
            decide(&rules, Method::POST, "/token/"),
            &Access::Authenticated
        );
        assert_eq!(
            decide(&rules, Method::POST, "/TOKEN"),
            &Access::Authenticated
        );
        assert_eq!(decide(&rules, Method::GET, "/docs"), &Access::Public);
        assert_eq!(decide(&rules, Method::GET, "/docs/x"), &Access::Public);
        assert_eq!(decide(&rules, Method::GET, "/docsx"), &Access::Public);
        assert_eq!(decide(&rules, Method::GET, "/doc"), &Access::Authenticated);
        assert_eq!(
            decide(&rules, Method::OPTIONS, "/anything"),
            &Access::Public
        );
        assert_eq!(
            decide(&rules, Method::GET, "/admin/users"),
            &Access::Roles(vec!["admin".into()])
        );
        assert_eq!(decide(&rules, Method::GET, "/me"), &Access::Authenticated);
    }

    #[test]
    fn first_match_wins() {
        let rules = Rules::new()
            .rule(
                Rule::new("/status")
                    .unwrap()
                    .methods([Method::GET])
                    .public(),
            )
            .rule(Rule::new("/status").unwrap().roles(["ops"]));
        assert_eq!(decide(&rules, Method::GET, "/status"), &Access::Public);
        assert_eq!(
            decide(&rules, Method::POST, "/status"),
            &Access::Roles(vec!["ops".into()])
        );
    }

    #[test]
    fn bad_patterns_are_refused() {
        for p in [
            "token", "/a*b", "/a/../b", "/%74oken", "/a//b", "*/x", "/a%2fb",
        ] {
            assert_eq!(
                Rule::new(p).unwrap_err().kind(),
                ErrorKind::InvalidPattern,
                "{p:?}"
            );
        }
        assert!(Rule::new("*").is_ok());
        assert!(Rule::new("/").is_ok());
    }
}
