//! The library's error type for configuration and storage.
//!
//! Request-time failures are not errors of this kind: they become HTTP responses
//! (see [`AuthError`](crate::AuthError)).

use std::fmt;

/// An error from configuring Keycard or from its user store.
///
/// The message is meant for the operator (a log line, a CLI error); it never holds a
/// secret or a password.
pub struct Error {
    kind: ErrorKind,
    message: String,
}

/// What went wrong, for callers that act on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The HMAC secret is missing, too short or unreadable.
    InvalidSecret,
    /// A key file or JWK is unreadable, of an unsupported kind, or too weak.
    InvalidKey,
    /// A duration such as `7d` could not be parsed.
    InvalidDuration,
    /// A rate such as `10/m` could not be parsed.
    InvalidRate,
    /// A path pattern for the rule set is malformed.
    InvalidPattern,
    /// A username does not have 1–64 characters of `A-Z a-z 0-9 . _ @ -`.
    InvalidUsername,
    /// A role does not have 1–64 characters of `A-Z a-z 0-9 . _ @ - :`.
    InvalidRole,
    /// A password is shorter than 8 or longer than 1024 bytes.
    InvalidPassword,
    /// A user of that name already exists.
    UserExists,
    /// No user of that name exists.
    NoSuchUser,
    /// The users file is not valid (syntax, version, duplicate names).
    CorruptStore,
    /// Reading or writing a file failed.
    Io,
    /// Password hashing parameters are out of range.
    InvalidHashParams,
    /// A configuration value is out of range or inconsistent.
    InvalidConfig,
    /// Signing a token failed.
    Signing,
    /// A store could not be reached or did not answer (a database down, a task that
    /// failed): try again later. Not the same as "not found".
    Unavailable,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    #[cfg(feature = "store")]
    pub(crate) fn io(context: impl fmt::Display, err: std::io::Error) -> Self {
        Self::new(ErrorKind::Io, format!("{context}: {err}"))
    }

    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .finish()
    }
}

impl std::error::Error for Error {}
