//! Signing tokens.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Header;

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, ErrorKind};
use crate::jwt::claims::IssuedClaims;
use crate::jwt::keys::SigningKey;
use crate::random;

/// The default token lifetime: 7 days, as the Express original.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(7 * 86_400);

/// Signs access tokens for users who logged in.
///
/// Cloning is cheap.
#[derive(Clone, Debug)]
pub struct Issuer {
    inner: Arc<IssuerInner>,
}

#[derive(Clone)]
struct IssuerInner {
    key: SigningKey,
    ttl: Duration,
    issuer: Option<String>,
    audience: Option<String>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for IssuerInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("key", &self.key)
            .field("ttl", &self.ttl)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

/// A freshly signed token.
#[derive(Clone)]
pub struct IssuedToken {
    /// The JWS compact serialization.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// Its `jti`.
    pub jti: String,
    /// Its `sid`.
    pub sid: String,
    /// Its `iat`.
    pub issued_at: u64,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .field("jti", &self.jti)
            .finish_non_exhaustive()
    }
}

impl Issuer {
    /// An issuer signing with `key`.
    ///
    /// Defaults to a 7-day lifetime, no `iss`, no `aud`, and the system clock.
    pub fn new(key: SigningKey) -> Self {
        Self {
            inner: Arc::new(IssuerInner {
                key,
                ttl: DEFAULT_TOKEN_TTL,
                issuer: None,
                audience: None,
                clock: Arc::new(SystemClock),
            }),
        }
    }

    /// Sets the token lifetime; it must be at least one second.
    pub fn with_ttl(mut self, ttl: Duration) -> Result<Self, Error> {
        if ttl.as_secs() == 0 {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "the token lifetime must be at least 1s",
            ));
        }
        Arc::make_mut(&mut self.inner).ttl = ttl;
        Ok(self)
    }

    /// Stamps `iss` into every token.
    pub fn with_issuer(mut self, iss: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.inner).issuer = Some(iss.into());
        self
    }

    /// Stamps `aud` into every token.
    pub fn with_audience(mut self, aud: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.inner).audience = Some(aud.into());
        self
    }

    /// Reads the time from `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        Arc::make_mut(&mut self.inner).clock = clock;
        self
    }

    /// The time now, by the issuer's clock.
    pub fn now(&self) -> u64 {
        self.inner.clock.now()
    }

    /// The token lifetime.
    pub fn ttl(&self) -> Duration {
        self.inner.ttl
    }

    /// The `iss` it stamps, if any.
    pub fn issuer_name(&self) -> Option<&str> {
        self.inner.issuer.as_deref()
    }

    /// The signing key.
    pub fn key(&self) -> &SigningKey {
        &self.inner.key
    }

    /// Signs a token for `username` with `role`, in a new login session.
    pub fn issue(&self, username: &str, role: &str) -> Result<IssuedToken, Error> {
        self.issue_in_session(username, role, random::id())
    }

    /// Signs a token for `username` with `role`, in the login session `sid`.
    pub fn issue_in_session(
        &self,
        username: &str,
        role: &str,
        sid: String,
    ) -> Result<IssuedToken, Error> {
        self.issue_after(username, role, sid, None)
    }

    /// Signs a token in session `sid` whose `iat` is at least `cutoff`: after a
    /// revoke-all in this very second, the new token must not look older than it.
    pub fn issue_after(
        &self,
        username: &str,
        role: &str,
        sid: String,
        cutoff: Option<u64>,
    ) -> Result<IssuedToken, Error> {
        let inner = &self.inner;
        let now = inner.clock.now().max(cutoff.unwrap_or(0));
        let ttl = inner.ttl.as_secs();
        let jti = random::id();
        let claims = IssuedClaims {
            sub: username,
            username,
            role,
            iat: now,
            exp: now.saturating_add(ttl),
            jti: &jti,
            sid: &sid,
            iss: inner.issuer.as_deref(),
            aud: inner.audience.as_deref(),
        };
        let mut header = Header::new(inner.key.algorithm().jwt());
        header.kid = inner.key.key_id().map(str::to_owned);
        let token = inner.key.sign(&header, &claims)?;
        Ok(IssuedToken {
            token,
            expires_in: ttl,
            jti,
            sid,
            issued_at: now,
        })
    }
}
