//! Request path normalization: what decides whether a path is public must be exactly
//! what the router later sees.
//!
//! The rule (SPEC §2):
//!
//! 1. Percent-encoded unreserved characters (`A–Z a–z 0–9 - . _ ~`) are decoded; every
//!    other escape is kept, with its hex digits upper-cased.
//! 2. The result is refused if it holds a dot segment (`.`, `..`), an empty segment
//!    inside it (`//`), an encoded slash or backslash (`%2F`, `%5C`), an encoded NUL
//!    (`%00`), a malformed escape (`%zz`, a lone `%`), a raw backslash, or a raw byte
//!    outside ASCII. A single trailing slash is kept: `/me/` is another path than `/me`.
//!
//! 3. Refused too, because routers behind Keycard read them as other paths: a segment
//!    of dots with `;` parameters (`..;`, `.;x`, which Tomcat, Jetty and Spring resolve
//!    as `..` and `.`), a segment of three dots or more, and escapes that an upstream
//!    decoding the path once more would turn into a dot segment, a separator or a NUL
//!    (`%252e%252e`, `%252F`, `%2500`), or into bytes that are not UTF-8 (overlong forms
//!    such as `%C0%AE`).
//!
//! A public exemption matches the normalized path byte-for-byte and case-sensitively:
//! `/TOKEN` is not `/token`. A rule that *requires* something also matches the path's
//! [`fold`]: the spelling that lenient routers take for the same route.

use std::borrow::Cow;

/// Why a path was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathError {
    /// The path does not start with `/`.
    NotAbsolute,
    /// A `%` not followed by two hex digits.
    MalformedEscape,
    /// `%2F` or `%5C`.
    EncodedSeparator,
    /// `%00`.
    EncodedNul,
    /// A raw `\`.
    Backslash,
    /// A raw byte outside ASCII, or a control character.
    NonAscii,
    /// A `.` or `..` segment.
    DotSegment,
    /// An empty segment (`//`) before the end.
    EmptySegment,
    /// A segment of dots with `;` parameters (`..;`), or of three dots or more.
    ParameterDotSegment,
    /// Escapes that another decoding would turn into a dot segment, a separator, a NUL,
    /// or bytes that are not UTF-8 (double encoding, overlong UTF-8).
    AmbiguousEncoding,
}

impl PathError {
    /// The public `error_description`.
    pub fn description(&self) -> &'static str {
        match self {
            PathError::NotAbsolute => "the path must start with /",
            PathError::MalformedEscape => "malformed percent-escape in path",
            PathError::EncodedSeparator => "encoded slash or backslash in path",
            PathError::EncodedNul => "encoded NUL in path",
            PathError::Backslash => "backslash in path",
            PathError::NonAscii => "non-ASCII byte in path",
            PathError::DotSegment => "dot segment in path",
            PathError::EmptySegment => "empty segment in path",
            PathError::ParameterDotSegment => "dot segment with parameters in path",
            PathError::AmbiguousEncoding => "ambiguous percent-encoding in path",
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn upper_hex(nibble: u8) -> char {
    char::from_digit(u32::from(nibble), 16)
        .unwrap_or('0')
        .to_ascii_uppercase()
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Normalizes a request path (without its query) by the rule in the module docs.
/// Borrows when the path is already normal.
pub fn normalize(path: &str) -> Result<Cow<'_, str>, PathError> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    let mut out: Option<String> = None;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let (hi, lo) = match (
                    bytes.get(i + 1).copied().and_then(hex),
                    bytes.get(i + 2).copied().and_then(hex),
                ) {
                    (Some(hi), Some(lo)) => (hi, lo),
                    _ => return Err(PathError::MalformedEscape),
                };
                let v = hi << 4 | lo;
                let buf = out.get_or_insert_with(|| path.get(..i).unwrap_or_default().to_owned());
                match v {
                    b'/' | b'\\' => return Err(PathError::EncodedSeparator),
                    0 => return Err(PathError::EncodedNul),
                    v if is_unreserved(v) => buf.push(char::from(v)),
                    _ => {
                        buf.push('%');
                        buf.push(upper_hex(hi));
                        buf.push(upper_hex(lo));
                    }
                }
                i += 3;
            }
            b'\\' => return Err(PathError::Backslash),
            b if !b.is_ascii() || b.is_ascii_control() => return Err(PathError::NonAscii),
            b => {
                if let Some(buf) = out.as_mut() {
                    buf.push(char::from(b));
                }
                i += 1;
            }
        }
    }
    let normal = match out {
        Some(s) => Cow::Owned(s),
        None => Cow::Borrowed(path),
    };
    check_segments(&normal)?;
    if normal.contains('%') {
        // What an upstream that decodes again would see must hold no surprise either.
        fold(&normal).map_err(|_| PathError::AmbiguousEncoding)?;
    }
    Ok(normal)
}

fn check_segments(path: &str) -> Result<(), PathError> {
    // Skip the leading "/"; the last segment may be empty (a trailing slash).
    let mut segments = path.split('/').skip(1).peekable();
    while let Some(seg) = segments.next() {
        let last = segments.peek().is_none();
        match seg {
            "." | ".." => return Err(PathError::DotSegment),
            "" if !last => return Err(PathError::EmptySegment),
            _ if dots_only(seg) => return Err(PathError::ParameterDotSegment),
            _ => {}
        }
    }
    Ok(())
}

/// `..;`, `.;x`, `...`: a segment that some router reads as a dot segment.
fn dots_only(segment: &str) -> bool {
    let (name, params) = match segment.split_once(';') {
        Some((name, _)) => (name, true),
        None => (segment, false),
    };
    !name.is_empty() && name.bytes().all(|b| b == b'.') && (params || name.len() > 2)
}

/// How many times [`fold`] decodes: a path encoded three times over is refused.
const MAX_DECODINGS: usize = 3;

/// The spelling that lenient routers take for a normalized path, for matching the rules
/// that require a token or a role (never for public exemptions):
///
/// - percent-escapes decoded, again and again (double encoding), and `\` read as `/`;
/// - letters in lower case (Express and most Java and .NET routers match without case);
/// - each segment cut at `;` (path parameters: Tomcat, Jetty, Spring), then without
///   trailing dots and white space (`/admin.` is `/admin` to Windows and IIS);
/// - empty segments dropped, so `a//b` is `a/b` and a trailing slash goes (Express's
///   `strict: false`, Werkzeug's `merge_slashes`).
///
/// Borrows when the path is its own fold. Refuses what no path should fold to: a dot
/// segment, a NUL, bytes that are not UTF-8.
pub fn fold(path: &str) -> Result<Cow<'_, str>, PathError> {
    if is_folded(path) {
        return Ok(Cow::Borrowed(path));
    }
    let mut bytes = path.as_bytes().to_vec();
    let mut rounds = 0;
    while bytes.contains(&b'%') {
        let (decoded, changed) = decode_once(&bytes);
        if !changed {
            break;
        }
        if separators(&decoded) != separators(&bytes) {
            // A separator that only a second decoding reveals (`%252F`).
            return Err(PathError::EncodedSeparator);
        }
        rounds += 1;
        if rounds > MAX_DECODINGS {
            return Err(PathError::AmbiguousEncoding);
        }
        bytes = decoded;
    }
    let text = String::from_utf8(bytes).map_err(|_| PathError::AmbiguousEncoding)?;
    if text.contains('\0') {
        return Err(PathError::EncodedNul);
    }
    let text = text.replace('\\', "/").to_lowercase();
    let mut out = String::with_capacity(text.len());
    for segment in text.split('/') {
        let name = segment.split(';').next().unwrap_or_default();
        if !name.is_empty() && name.bytes().all(|b| b == b'.') {
            return Err(PathError::DotSegment);
        }
        let name = name.trim_end_matches(|c: char| c == '.' || c.is_whitespace());
        if !name.is_empty() {
            out.push('/');
            out.push_str(name);
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(Cow::Owned(out))
}

/// True when [`fold`] would change nothing: the common case, checked without allocating.
fn is_folded(path: &str) -> bool {
    let bytes = path.as_bytes();
    let clean = bytes
        .iter()
        .all(|&b| !(b.is_ascii_uppercase() || matches!(b, b'%' | b';' | b'\\') || !b.is_ascii()));
    path == "/"
        || (clean
            && !bytes.ends_with(b"/")
            && path.split('/').skip(1).all(|s| {
                !s.is_empty() && !s.ends_with(|c: char| c == '.' || c.is_ascii_whitespace())
            }))
}

fn separators(bytes: &[u8]) -> usize {
    bytes.iter().filter(|b| matches!(b, b'/' | b'\\')).count()
}

/// Decodes every valid `%XX` once; returns whether anything was decoded.
fn decode_once(bytes: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::with_capacity(bytes.len());
    let mut changed = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push(hi << 4 | lo);
            changed = true;
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    (out, changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreserved_escapes_decode_others_uppercase() {
        assert_eq!(normalize("/%74oken").unwrap(), "/token");
        assert_eq!(normalize("/%61dmin/x").unwrap(), "/admin/x");
        assert_eq!(normalize("/a%2db%7E").unwrap(), "/a-b~");
        assert_eq!(normalize("/a%20b").unwrap(), "/a%20b");
        assert_eq!(normalize("/a%3fb%3F").unwrap(), "/a%3Fb%3F");
    }

    #[test]
    fn normal_paths_borrow() {
        assert!(matches!(
            normalize("/token").unwrap(),
            Cow::Borrowed("/token")
        ));
        assert_eq!(normalize("/").unwrap(), "/");
        assert_eq!(normalize("/me/").unwrap(), "/me/");
        assert_eq!(normalize("/TOKEN").unwrap(), "/TOKEN");
    }

    #[test]
    fn refused() {
        let cases = [
            ("token", PathError::NotAbsolute),
            ("", PathError::NotAbsolute),
            ("//token", PathError::EmptySegment),
            ("/a//b", PathError::EmptySegment),
            ("/token//", PathError::EmptySegment),
            ("/./token", PathError::DotSegment),
            ("/a/../token", PathError::DotSegment),
            ("/a/..", PathError::DotSegment),
            ("/%2e%2E/token", PathError::DotSegment),
            ("/a/%2E", PathError::DotSegment),
            ("/a%2Fb", PathError::EncodedSeparator),
            ("/a%2fb", PathError::EncodedSeparator),
            ("/a%5Cb", PathError::EncodedSeparator),
            ("/a%00", PathError::EncodedNul),
            ("/a%zz", PathError::MalformedEscape),
            ("/a%", PathError::MalformedEscape),
            ("/a%4", PathError::MalformedEscape),
            ("/a\\b", PathError::Backslash),
            ("/caf\u{e9}", PathError::NonAscii),
            ("/a\u{7f}", PathError::NonAscii),
        ];
        for (path, want) in cases {
            assert_eq!(normalize(path), Err(want), "{path:?}");
        }
    }

    #[test]
    fn router_differentials_are_refused() {
        let cases = [
            ("/docs/..;/admin/x", PathError::ParameterDotSegment),
            ("/docs/.;x/admin", PathError::ParameterDotSegment),
            ("/docs/%2e%2e;/admin", PathError::ParameterDotSegment),
            ("/docs/.../admin", PathError::ParameterDotSegment),
            ("/docs/%252e%252e/admin", PathError::AmbiguousEncoding),
            ("/docs/..%3B/admin", PathError::AmbiguousEncoding),
            ("/a%252Fb", PathError::AmbiguousEncoding),
            ("/a%2500", PathError::AmbiguousEncoding),
            ("/%C0%AE%C0%AE/admin", PathError::AmbiguousEncoding),
            ("/%FF", PathError::AmbiguousEncoding),
            ("/%25252525252e", PathError::AmbiguousEncoding),
        ];
        for (path, want) in cases {
            assert_eq!(normalize(path), Err(want), "{path:?}");
        }
        // Real UTF-8, escaped, is a path like any other.
        assert_eq!(normalize("/caf%C3%A9").unwrap(), "/caf%C3%A9");
        assert_eq!(normalize("/a;b/c").unwrap(), "/a;b/c");
    }

    #[test]
    fn folds_what_routers_fold() {
        let cases = [
            ("/admin/x", "/admin/x"),
            ("/ADMIN/x", "/admin/x"),
            ("/reports/", "/reports"),
            ("/Reports", "/reports"),
            ("/reports;x", "/reports"),
            ("/reports;jsessionid=1/a;b=c", "/reports/a"),
            ("/admin./x", "/admin/x"),
            ("/admin%20", "/admin"),
            ("/%2561dmin", "/admin"),
            ("/caf%C3%89", "/café"),
            ("/", "/"),
            ("/;x", "/"),
        ];
        for (path, want) in cases {
            assert_eq!(fold(path).unwrap(), want, "{path:?}");
        }
        assert!(matches!(fold("/admin/x").unwrap(), Cow::Borrowed(_)));
        assert!(matches!(fold("/").unwrap(), Cow::Borrowed(_)));
        assert_eq!(fold("/a/%2e%2e/b"), Err(PathError::DotSegment));
        assert_eq!(fold("/a%2Fb"), Err(PathError::EncodedSeparator));
        assert_eq!(fold("/a%255Cb"), Err(PathError::EncodedSeparator));
    }

    #[test]
    fn dots_inside_a_segment_are_fine() {
        assert_eq!(normalize("/a.b/..c/.d").unwrap(), "/a.b/..c/.d");
    }
}
