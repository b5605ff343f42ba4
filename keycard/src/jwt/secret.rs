//! The HS256 secret.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::{Error, ErrorKind};

/// The least number of bytes an HS256 secret may have (RFC 7518 §3.2: a key of the
/// same size as the hash output).
pub const MIN_SECRET_LEN: usize = 32;

/// An HMAC secret. Zeroized on drop; `Debug` prints `[redacted]`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Takes a secret of at least [`MIN_SECRET_LEN`] bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, Error> {
        let mut bytes = bytes.into();
        if bytes.len() < MIN_SECRET_LEN {
            let len = bytes.len();
            bytes.zeroize();
            return Err(Error::new(
                ErrorKind::InvalidSecret,
                format!(
                    "the secret has {len} bytes but needs at least {MIN_SECRET_LEN}; make one with: head -c 32 /dev/urandom | base64"
                ),
            ));
        }
        Ok(Self(bytes))
    }

    /// Reads a secret file, ignoring one trailing `\n` or `\r\n`.
    pub fn from_file(path: &std::path::Path) -> Result<Self, Error> {
        let mut bytes = std::fs::read(path).map_err(|e| {
            Error::new(
                ErrorKind::InvalidSecret,
                format!("cannot read the secret file {}: {e}", path.display()),
            )
        })?;
        if bytes.ends_with(b"\r\n") {
            bytes.truncate(bytes.len() - 2);
        } else if bytes.ends_with(b"\n") {
            bytes.truncate(bytes.len() - 1);
        }
        Self::new(bytes)
    }

    /// A fresh random secret of 32 bytes, for demos and tests.
    pub fn random() -> Self {
        Self(crate::random::bytes::<32>().to_vec())
    }

    pub(crate) fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_secrets_are_refused() {
        assert_eq!(
            Secret::new(vec![7; 31]).unwrap_err().kind(),
            ErrorKind::InvalidSecret
        );
        assert!(Secret::new(vec![7; 32]).is_ok());
    }

    #[test]
    fn debug_is_redacted() {
        let s = Secret::new(b"super-secret-value-that-is-long-enough".to_vec()).unwrap();
        assert_eq!(format!("{s:?}"), "Secret([redacted])");
    }

    #[test]
    fn one_trailing_newline_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        std::fs::write(&p, b"0123456789abcdef0123456789abcdef\r\n").unwrap();
        assert_eq!(
            Secret::from_file(&p).unwrap().expose(),
            b"0123456789abcdef0123456789abcdef"
        );
        std::fs::write(&p, b"0123456789abcdef0123456789abcdef\n\n").unwrap();
        assert_eq!(Secret::from_file(&p).unwrap().expose().len(), 33);
    }
}
