//! Where a request's bearer token comes from: [`TokenSources`].
//!
//! Always `Authorization: Bearer <token>` (RFC 6750 §2.1). A browser cannot set that
//! header on a WebSocket, so two more places may be switched on:
//!
//! - a query parameter (RFC 6750 §2.3), `?access_token=…` say, on any request;
//! - an entry `bearer.<token>` of `Sec-WebSocket-Protocol`, the one header a browser's
//!   `new WebSocket(url, protocols)` lets a page write.
//!
//! A token is taken from one place only: a request that carries one in two places is
//! refused (RFC 6750 §2: "clients MUST NOT use more than one method"), and so is one
//! with two copies in the same place. Whatever was read is removed from the request
//! before it goes on ([`TokenSources::strip`]), under every spelling an upstream could
//! read as the same name, so that the upstream never holds a credential, or a second
//! one, Keycard did not judge.

use std::borrow::Cow;

use http::{HeaderMap, HeaderName, HeaderValue, Request, header};

use super::AuthError;
use super::decision::same_header;
use super::service::set_target;
use crate::error::{Error, ErrorKind};
use crate::jwt::verifier::TokenError;

/// Where the bearer token may come from, besides `Authorization` (see the module docs).
/// By default nowhere else.
///
/// ```
/// use keycard::TokenSources;
///
/// # fn main() -> Result<(), keycard::Error> {
/// // `new WebSocket("wss://api.example/ws?access_token=" + token)`, or
/// // `new WebSocket("wss://api.example/ws", ["bearer." + token])`.
/// let sources = TokenSources::new().query_param("access_token")?.websocket_protocol(true);
/// # let _ = sources;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenSources {
    /// The query parameter's name, folded (see [`fold_name`]: for the names allowed,
    /// lower-cased).
    query_param: Option<String>,
    websocket_protocol: bool,
}

/// `Authorization` only: what [`TokenSources::new`] gives, as a constant.
pub(crate) const HEADER_ONLY: TokenSources = TokenSources {
    query_param: None,
    websocket_protocol: false,
};

impl TokenSources {
    /// The prefix of the `Sec-WebSocket-Protocol` entry that carries a token.
    pub const PROTOCOL_PREFIX: &'static str = "bearer.";

    /// `Authorization: Bearer` only.
    pub fn new() -> Self {
        HEADER_ONLY
    }

    /// Also reads the token from the query parameter `name` (letters, digits, `_`, `-`).
    pub fn query_param(mut self, name: &str) -> Result<Self, Error> {
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                format!("token query parameter {name:?}: use letters, digits, '_' and '-' only"),
            ));
        }
        self.query_param = Some(name.to_ascii_lowercase());
        Ok(self)
    }

    /// Also reads the token from a `bearer.<token>` entry of `Sec-WebSocket-Protocol`.
    pub fn websocket_protocol(mut self, on: bool) -> Self {
        self.websocket_protocol = on;
        self
    }

    /// Whether anything but `Authorization` is read.
    pub fn is_header_only(&self) -> bool {
        self == &HEADER_ONLY
    }

    /// The request's token, from the one place it came in.
    ///
    /// - `Ok(None)`: no credentials;
    /// - `Err(MalformedCredentials)`: a token in two places, two copies in one, a broken
    ///   `Authorization`;
    /// - `Err(InvalidToken)`: a token that is not even text.
    pub(crate) fn token<'a>(
        &self,
        headers: &'a HeaderMap,
        query: Option<&'a str>,
    ) -> Result<Option<Cow<'a, str>>, AuthError> {
        let mut found = bearer_token(headers)?.map(Cow::Borrowed);
        let mut take = |token: Option<Cow<'a, str>>| match (&found, token) {
            (_, None) => Ok(()),
            (Some(_), Some(_)) => Err(AuthError::MalformedCredentials(
                "the token came in more than one place",
            )),
            (None, token) => {
                found = token;
                Ok(())
            }
        };
        if let (Some(name), Some(query)) = (&self.query_param, query) {
            take(query_token(name.as_bytes(), query)?)?;
        }
        if self.websocket_protocol {
            take(protocol_token(headers)?.map(Cow::Borrowed))?;
        }
        Ok(found)
    }

    /// Removes from `req` every place [`token`](Self::token) reads besides
    /// `Authorization` (which the gateway removes itself, unless told to pass it on).
    pub(crate) fn strip<B>(&self, req: &mut Request<B>) -> Result<(), AuthError> {
        if let (Some(name), Some(query)) = (&self.query_param, req.uri().query())
            && let Some(kept) = without_param(name.as_bytes(), query)
        {
            let path = req.uri().path().to_owned();
            let query = (!kept.is_empty()).then_some(kept.as_str());
            let bad = AuthError::InvalidRequest("invalid query");
            set_target(req, &path, query, bad)?;
        }
        if self.websocket_protocol {
            strip_protocol(req.headers_mut());
        }
        Ok(())
    }
}

impl std::fmt::Display for TokenSources {
    /// `Authorization`, then the others read, as `keycard check-config` shows them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Authorization")?;
        if let Some(name) = &self.query_param {
            write!(f, ", query parameter {name}")?;
        }
        if self.websocket_protocol {
            write!(
                f,
                ", Sec-WebSocket-Protocol {}<token>",
                Self::PROTOCOL_PREFIX
            )?;
        }
        Ok(())
    }
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
    // A fold rather than `any`: no early exit, so the compiler checks many bytes at once
    // (a valid token has none, so `any` would read them all anyway).
    if token
        .iter()
        .fold(false, |ws, b| ws | b.is_ascii_whitespace())
    {
        return Err(AuthError::MalformedCredentials(
            "more than one word after Bearer",
        ));
    }
    std::str::from_utf8(token)
        .map(Some)
        .map_err(|_| AuthError::InvalidToken(TokenError::Malformed))
}

/// A query parameter's name as the frameworks behind a gateway could read it: percent
/// decoded, `+` as a space, case folded (ASP.NET's query is case-insensitive), cut at
/// `[` (PHP and Rack read `name[x]` as `name`), `.` and space as `_` (PHP's mangling).
fn fold_name(raw: &[u8]) -> Vec<u8> {
    let decoded = percent_decode(raw);
    let cut = decoded
        .iter()
        .position(|b| *b == b'[')
        .map_or(&decoded[..], |at| decoded.get(..at).unwrap_or_default());
    cut.iter()
        .map(|b| match b {
            b'.' | b' ' => b'_',
            b => b.to_ascii_lowercase(),
        })
        .collect()
}

/// `%XX` decoded and `+` read as a space (`application/x-www-form-urlencoded`); a `%`
/// not followed by two hex digits stays as it is.
fn percent_decode(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        let hex = |at: usize| raw.get(at).and_then(|h| (*h as char).to_digit(16));
        match b {
            b'%' => match (hex(i + 1), hex(i + 2)) {
                (Some(hi), Some(lo)) => {
                    out.push((hi * 16 + lo) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// The query's fields with their byte ranges: separated by `&`, and by `;`, which some
/// servers (older Python, Tomcat's matrix-minded cousins) also split on.
fn fields(query: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut start = 0;
    query.split(['&', ';']).map(move |field| {
        let at = start;
        start += field.len() + 1;
        (at, field)
    })
}

/// A field's name and value (`name` alone: an empty value).
fn key_value(field: &str) -> (&str, &str) {
    field.split_once('=').unwrap_or((field, ""))
}

/// The token in the query parameter whose folded name is `name`.
fn query_token<'a>(name: &[u8], query: &'a str) -> Result<Option<Cow<'a, str>>, AuthError> {
    let mut found = None;
    for (_, field) in fields(query) {
        let (key, value) = key_value(field);
        if fold_name(key.as_bytes()) != name {
            continue;
        }
        if found.is_some() {
            return Err(AuthError::MalformedCredentials(
                "more than one token parameter",
            ));
        }
        found = Some(value);
    }
    let Some(value) = found else {
        return Ok(None);
    };
    let token = if value.bytes().any(|b| b == b'%' || b == b'+') {
        Cow::Owned(
            String::from_utf8(percent_decode(value.as_bytes()))
                .map_err(|_| AuthError::InvalidToken(TokenError::Malformed))?,
        )
    } else {
        Cow::Borrowed(value)
    };
    if token.is_empty() {
        return Err(AuthError::MalformedCredentials("an empty token parameter"));
    }
    if token.bytes().any(|b| b.is_ascii_whitespace()) {
        return Err(AuthError::MalformedCredentials(
            "more than one word in the token parameter",
        ));
    }
    Ok(Some(token))
}

/// `query` without the fields named `name` (folded), or `None` when it has none.
fn without_param(name: &[u8], query: &str) -> Option<String> {
    let mut kept = String::with_capacity(query.len());
    let mut removed = false;
    for (at, field) in fields(query) {
        if fold_name(key_value(field).0.as_bytes()) == name {
            removed = true;
            continue;
        }
        // Each kept field with the separator that preceded it in the original (the
        // first one kept without): `a=1;b=2` stays `a=1;b=2` for a server that does not
        // split on `;`.
        if !kept.is_empty() {
            let separator = at
                .checked_sub(1)
                .and_then(|s| query.get(s..at))
                .unwrap_or("&");
            kept.push_str(separator);
        }
        kept.push_str(field);
    }
    removed.then_some(kept)
}

/// Whether `name` is `Sec-WebSocket-Protocol` under a spelling an upstream could read so
/// (CGI's `HTTP_SEC_WEBSOCKET_PROTOCOL` folds `_` and `-`).
fn is_protocol_header(name: &HeaderName) -> bool {
    same_header(name.as_str(), header::SEC_WEBSOCKET_PROTOCOL.as_str())
}

/// The entry of `Sec-WebSocket-Protocol` that is a token, if any.
fn protocol_entry(entry: &str) -> Option<&str> {
    let prefix = TokenSources::PROTOCOL_PREFIX;
    let head = entry.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| entry.get(prefix.len()..))
        .flatten()
}

/// The token in a `bearer.<token>` entry of `Sec-WebSocket-Protocol`.
fn protocol_token(headers: &HeaderMap) -> Result<Option<&str>, AuthError> {
    let mut found = None;
    for (name, value) in headers {
        if !is_protocol_header(name) {
            continue;
        }
        let value = value
            .to_str()
            .map_err(|_| AuthError::InvalidToken(TokenError::Malformed))?;
        for token in value.split(',').filter_map(|e| protocol_entry(e.trim())) {
            if found.is_some() {
                return Err(AuthError::MalformedCredentials(
                    "more than one token in Sec-WebSocket-Protocol",
                ));
            }
            if token.is_empty() {
                return Err(AuthError::MalformedCredentials(
                    "bearer. without a token in Sec-WebSocket-Protocol",
                ));
            }
            found = Some(token);
        }
    }
    Ok(found)
}

/// Removes the token entries of `Sec-WebSocket-Protocol` (every spelling of its name),
/// and the header when nothing else is left in it.
fn strip_protocol(headers: &mut HeaderMap) {
    let names: Vec<HeaderName> = headers
        .keys()
        .filter(|n| is_protocol_header(n))
        .cloned()
        .collect();
    for name in names {
        let values: Vec<HeaderValue> = headers
            .get_all(&name)
            .iter()
            .filter_map(|value| {
                // A value that is not text cannot carry a token the upstream could read
                // as one, but neither can Keycard judge it: it goes.
                let text = value.to_str().ok()?;
                let kept: Vec<&str> = text
                    .split(',')
                    .map(str::trim)
                    .filter(|e| !e.is_empty() && protocol_entry(e).is_none())
                    .collect();
                HeaderValue::try_from(kept.join(", "))
                    .ok()
                    .filter(|v| !v.is_empty())
            })
            .collect();
        headers.remove(&name);
        for value in values {
            headers.append(name.clone(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        for malformed in [
            &[&b"Bearer"[..]][..],
            &[b"Bearer   "],
            &[b"Bearer a b"],
            &[b"Bearer a", b"Bearer a"],
        ] {
            assert!(matches!(
                bearer_token(&headers(malformed)),
                Err(AuthError::MalformedCredentials(_))
            ));
        }
        assert_eq!(
            bearer_token(&headers(&[b"Bearer \xff\xfe"])),
            Err(AuthError::InvalidToken(TokenError::Malformed))
        );
    }

    fn query_sources() -> TokenSources {
        TokenSources::new().query_param("access_token").unwrap()
    }

    #[test]
    fn the_query_parameter_is_read_under_every_spelling_and_only_once() {
        let s = query_sources();
        let none = HeaderMap::new();
        let token = |q: &str| s.token(&none, Some(q)).map(|t| t.map(Cow::into_owned));
        assert_eq!(token("access_token=abc"), Ok(Some("abc".into())));
        assert_eq!(token("a=1&access_token=a%2Eb"), Ok(Some("a.b".into())));
        assert_eq!(token("x=1"), Ok(None));
        assert_eq!(token("access_tokens=abc"), Ok(None));
        // Names an upstream reads as the same one are the same one.
        for twice in [
            "access_token=a&access_token=b",
            "access_token=a&ACCESS_TOKEN=b",
            "access_token=a&access%5Ftoken=b",
            "access_token=a&access.token=b",
            "access_token=a&access+token=b",
            "access_token=a&access_token[]=b",
            "access_token=a;access_token=b",
        ] {
            assert!(
                matches!(token(twice), Err(AuthError::MalformedCredentials(_))),
                "{twice}"
            );
        }
        for bad in ["access_token=", "access_token", "access_token=a+b"] {
            assert!(
                matches!(token(bad), Err(AuthError::MalformedCredentials(_))),
                "{bad}"
            );
        }
        // Off unless asked for.
        assert_eq!(
            TokenSources::new().token(&none, Some("access_token=a")),
            Ok(None)
        );
    }

    #[test]
    fn one_place_only() {
        let s = query_sources().websocket_protocol(true);
        let mut h = headers(&[b"Bearer a"]);
        assert!(matches!(
            s.token(&h, Some("access_token=b")),
            Err(AuthError::MalformedCredentials(_))
        ));
        h.clear();
        h.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("chat, bearer.abc"),
        );
        assert_eq!(s.token(&h, None), Ok(Some(Cow::Borrowed("abc"))));
        assert!(matches!(
            s.token(&h, Some("access_token=b")),
            Err(AuthError::MalformedCredentials(_))
        ));
        h.append(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("Bearer.def"),
        );
        assert!(matches!(
            s.token(&h, None),
            Err(AuthError::MalformedCredentials(_))
        ));
        // Another scheme in Authorization is no token: the query's is the one.
        let basic = headers(&[b"Basic eDp5"]);
        assert_eq!(
            s.token(&basic, Some("access_token=b")),
            Ok(Some(Cow::Borrowed("b")))
        );
    }

    #[test]
    fn what_was_read_is_stripped() {
        let s = query_sources().websocket_protocol(true);
        let strip = |uri: &str, protocols: &[&'static str]| {
            let mut req = Request::builder().uri(uri);
            for p in protocols {
                req = req.header("sec-websocket-protocol", *p);
            }
            let mut req = req.body(()).unwrap();
            s.strip(&mut req).unwrap();
            let left: Vec<String> = req
                .headers()
                .get_all("sec-websocket-protocol")
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect();
            (req.uri().to_string(), left)
        };
        assert_eq!(strip("/ws?access_token=abc", &[]).0, "/ws");
        assert_eq!(strip("/ws?a=1&access_token=abc&b=2", &[]).0, "/ws?a=1&b=2");
        assert_eq!(strip("/ws?access_token=abc;a=1", &[]).0, "/ws?a=1");
        assert_eq!(strip("/ws?a=1;b=2&ACCESS%5Ftoken=x", &[]).0, "/ws?a=1;b=2");
        assert_eq!(strip("/ws?a=1", &[]).0, "/ws?a=1");
        assert_eq!(
            strip("/ws", &["chat, bearer.abc", "bearer.x"]).1,
            vec!["chat".to_owned()]
        );
        assert!(strip("/ws", &["bearer.abc"]).1.is_empty());
        // The underscore spelling goes too.
        let mut req = Request::builder()
            .uri("/ws")
            .header("sec_websocket_protocol", "bearer.abc")
            .body(())
            .unwrap();
        s.strip(&mut req).unwrap();
        assert!(req.headers().is_empty());
    }

    #[test]
    fn query_parameter_names_are_checked() {
        for bad in ["", "a b", "a=b", "a&b", "tök"] {
            assert!(TokenSources::new().query_param(bad).is_err(), "{bad:?}");
        }
        assert!(TokenSources::new().is_header_only());
        assert!(!query_sources().is_header_only());
        assert_eq!(
            TokenSources::new()
                .query_param("Token")
                .unwrap()
                .websocket_protocol(true)
                .to_string(),
            "Authorization, query parameter token, Sec-WebSocket-Protocol bearer.<token>"
        );
    }
}
