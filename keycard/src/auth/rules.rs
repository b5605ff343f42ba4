//! Which requests need a token, and which role: the rule set behind `unless` and the
//! role guard.
//!
//! A rule has a path pattern, optionally a set of methods, and an [`Access`]. The
//! first rule that matches a request decides; when none does, the default decides
//! (any authenticated user, unless changed): the set fails closed.
//!
//! # Matching
//!
//! Patterns match the *normalized* path (see [`crate::auth::path`]) byte-for-byte and
//! case-sensitively. A pattern ending in `*` matches every path that starts with what
//! precedes the `*` (`/docs*` matches `/docs`, `/docs/x` and `/docsx`); any other
//! pattern matches only itself (`/token` matches neither `/token/` nor `/TOKEN`).
//! A pattern of a lone `*` matches every path. Methods are upper case and match
//! exactly, except that a rule for `GET` also covers `HEAD`, which routers answer with
//! the `GET` handler.
//!
//! # Failing closed against the router behind
//!
//! The router that serves the request may fold spellings together that the byte-exact
//! match keeps apart: Express matches without case and ignores a trailing slash, Tomcat
//! and Spring cut `;` parameters, some decode twice. So a request is judged twice: once
//! as it is, and once as its [`fold`](crate::auth::path::fold) against the folded patterns —
//! and it needs what *both* judgements require. A public exemption therefore applies
//! only to the exact spelling (`/status` is public, `/STATUS` and `/status;x` need a
//! token), while a rule that requires something covers every folded spelling
//! (`roles = ["admin"]` on `/admin*` also guards `/ADMIN/x`, `/Admin;x/y` and
//! `/%2561dmin`).
//!
//! When the two judgements ask for different roles, the request needs a role in both
//! sets; when the sets have none in common, no one may pass.

use std::borrow::Cow;

use http::Method;

use crate::auth::path;
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

impl Access {
    /// What a request needs to satisfy both `self` and `other`.
    fn and(&self, other: &Access) -> Access {
        match (self, other) {
            (Access::Public, x) | (x, Access::Public) => x.clone(),
            (Access::Authenticated, x) | (x, Access::Authenticated) => x.clone(),
            (Access::Roles(a), Access::Roles(b)) => {
                Access::Roles(a.iter().filter(|r| b.contains(r)).cloned().collect())
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Pattern {
    Exact(String),
    Prefix(String),
}

/// A pattern as written, and as folded (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Patterns {
    exact: Pattern,
    folded: Pattern,
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
            match crate::auth::path::normalize(body) {
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

    fn folded(&self) -> Result<Pattern, Error> {
        let fold = |p: &str| -> Result<String, Error> {
            if p.is_empty() {
                return Ok(String::new());
            }
            path::fold(p).map(Cow::into_owned).map_err(|e| {
                Error::new(
                    ErrorKind::InvalidPattern,
                    format!("invalid path pattern {p:?}: {}", e.description()),
                )
            })
        };
        Ok(match self {
            Pattern::Exact(p) => Pattern::Exact(fold(p)?),
            // `/admin/*` folds to the prefix `/admin`, which covers more: fine for a rule
            // that requires, and a public one must match as written anyway.
            Pattern::Prefix(p) => Pattern::Prefix(fold(p)?),
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
    pattern: Patterns,
    methods: Option<Vec<Method>>,
    access: Access,
}

impl Rule {
    /// A rule for `pattern` (see the module docs), any method, requiring a valid token.
    pub fn new(pattern: &str) -> Result<Self, Error> {
        let exact = Pattern::parse(pattern)?;
        Ok(Self {
            pattern: Patterns {
                folded: exact.folded()?,
                exact,
            },
            methods: None,
            access: Access::Authenticated,
        })
    }

    /// Limits the rule to these methods (upper-cased: requests are judged by their
    /// canonical, upper-case method). `GET` covers `HEAD` too.
    pub fn methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.methods = Some(methods.into_iter().map(|m| upper(&m)).collect());
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

    fn matches(&self, method: &Method, path: &str, folded: bool) -> bool {
        let pattern = if folded {
            &self.pattern.folded
        } else {
            &self.pattern.exact
        };
        self.methods.as_ref().is_none_or(|m| {
            m.contains(method) || (*method == Method::HEAD && m.contains(&Method::GET))
        }) && pattern.matches(path)
    }
}

fn upper(method: &Method) -> Method {
    Method::from_bytes(method.as_str().to_ascii_uppercase().as_bytes()).unwrap_or(method.clone())
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
            pattern: Patterns {
                exact: Pattern::Prefix(String::new()),
                folded: Pattern::Prefix(String::new()),
            },
            methods: Some(vec![upper(&method)]),
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

    /// What a request for the canonical `method` and the normalized `path` needs: what
    /// the first matching rule asks of the path as it is, and what the first matching
    /// rule asks of its fold, together (see the module docs).
    ///
    /// A path that cannot be folded (which [`path::normalize`] never returns) is open
    /// to no one.
    pub fn decide(&self, method: &Method, path: &str) -> Cow<'_, Access> {
        let exact = self.first(method, path, false);
        let Ok(folded) = path::fold(path) else {
            return Cow::Owned(Access::Roles(Vec::new()));
        };
        let loose = self.first(method, &folded, true);
        if exact == loose {
            Cow::Borrowed(exact)
        } else {
            Cow::Owned(exact.and(loose))
        }
    }

    fn first(&self, method: &Method, path: &str, folded: bool) -> &Access {
        self.rules
            .iter()
            .find(|r| r.matches(method, path, folded))
            .map_or(&self.default, |r| &r.access)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(rules: &Rules, method: Method, path: &str) -> Access {
        rules.decide(&method, path).into_owned()
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
        assert_eq!(decide(&rules, Method::POST, "/token"), Access::Public);
        assert_eq!(
            decide(&rules, Method::POST, "/token/"),
            Access::Authenticated
        );
        assert_eq!(
            decide(&rules, Method::POST, "/TOKEN"),
            Access::Authenticated
        );
        assert_eq!(decide(&rules, Method::GET, "/docs"), Access::Public);
        assert_eq!(decide(&rules, Method::GET, "/docs/x"), Access::Public);
        assert_eq!(decide(&rules, Method::GET, "/docsx"), Access::Public);
        assert_eq!(decide(&rules, Method::GET, "/doc"), Access::Authenticated);
        assert_eq!(decide(&rules, Method::OPTIONS, "/anything"), Access::Public);
        assert_eq!(
            decide(&rules, Method::GET, "/admin/users"),
            Access::Roles(vec!["admin".into()])
        );
        assert_eq!(decide(&rules, Method::GET, "/me"), Access::Authenticated);
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
        assert_eq!(decide(&rules, Method::GET, "/status"), Access::Public);
        assert_eq!(
            decide(&rules, Method::POST, "/status"),
            Access::Roles(vec!["ops".into()])
        );
    }

    #[test]
    fn requiring_rules_cover_every_folded_spelling() {
        let rules = Rules::new()
            .public("/docs*")
            .unwrap()
            .public("/status")
            .unwrap()
            .rule(Rule::new("/admin*").unwrap().roles(["admin"]))
            .rule(Rule::new("/reports").unwrap().roles(["admin"]))
            .rule(
                Rule::new("/items*")
                    .unwrap()
                    .methods([Method::DELETE])
                    .roles(["admin"]),
            )
            .rule(
                Rule::new("/Mixed")
                    .unwrap()
                    .methods([Method::GET])
                    .roles(["ops"]),
            );
        let admin = Access::Roles(vec!["admin".into()]);
        for path in [
            "/admin/x",
            "/ADMIN/x",
            "/Admin;x/y",
            "/admin./x",
            "/%2561dmin/x",
            "/reports",
            "/reports/",
            "/Reports",
            "/reports;x",
            "/REPORTS.",
            "/reports%20",
        ] {
            assert_eq!(decide(&rules, Method::GET, path), admin, "{path}");
        }
        assert_eq!(decide(&rules, Method::DELETE, "/Items/1"), admin);
        assert_eq!(
            decide(&rules, Method::GET, "/Items/1"),
            Access::Authenticated
        );
        // A rule written with capitals guards the lower-case spelling too, and GET covers HEAD.
        let ops = Access::Roles(vec!["ops".into()]);
        assert_eq!(decide(&rules, Method::GET, "/mixed"), ops);
        assert_eq!(decide(&rules, Method::HEAD, "/MIXED/"), ops);
    }

    #[test]
    fn public_exemptions_cover_the_exact_spelling_only() {
        let rules = Rules::new()
            .public("/status")
            .unwrap()
            .public("/docs*")
            .unwrap()
            .rule(
                Rule::new("/status")
                    .unwrap()
                    .methods([Method::GET])
                    .public(),
            );
        assert_eq!(decide(&rules, Method::GET, "/status"), Access::Public);
        assert_eq!(decide(&rules, Method::HEAD, "/status"), Access::Public);
        for path in ["/STATUS", "/status/", "/status;x", "/status.", "/Docs/x"] {
            assert_eq!(
                decide(&rules, Method::GET, path),
                Access::Authenticated,
                "{path}"
            );
        }
        assert_eq!(decide(&rules, Method::GET, "/docs/x;y"), Access::Public);
    }

    #[test]
    fn two_role_sets_need_a_role_in_both() {
        let rules = Rules::new()
            .rule(Rule::new("/a").unwrap().roles(["x", "y"]))
            .rule(Rule::new("/A").unwrap().roles(["y", "z"]));
        assert_eq!(
            decide(&rules, Method::GET, "/A"),
            Access::Roles(vec!["y".into()])
        );
        let rules = Rules::new()
            .rule(Rule::new("/a").unwrap().roles(["x"]))
            .rule(Rule::new("/A").unwrap().roles(["z"]));
        assert_eq!(decide(&rules, Method::GET, "/A"), Access::Roles(vec![]));
    }

    #[test]
    fn rule_methods_are_upper_cased() {
        let rules = Rules::new().rule(
            Rule::new("/x")
                .unwrap()
                .methods([Method::from_bytes(b"delete").unwrap()])
                .roles(["admin"]),
        );
        assert_eq!(
            decide(&rules, Method::DELETE, "/x"),
            Access::Roles(vec!["admin".into()])
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
