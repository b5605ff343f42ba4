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
//! Matching is then byte-for-byte and case-sensitive: `/TOKEN` is not `/token`.

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
            _ => {}
        }
    }
    Ok(())
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
    fn dots_inside_a_segment_are_fine() {
        assert_eq!(normalize("/a.b/..c/.d").unwrap(), "/a.b/..c/.d");
    }
}
