//! Verifying tokens.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind as JwtErrorKind;
use jsonwebtoken::{Validation, decode, decode_header};

use crate::claims::Claims;
use crate::clock::{Clock, SystemClock};
use crate::keys::SigningKey;

/// The default clock skew tolerated on `exp`, `nbf` and `iat`: 30 seconds.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// The longest token accepted, in bytes. Real tokens are a few hundred bytes; this
/// bounds the work an attacker can ask for before the signature is checked.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Why a token was refused. Each has a short public description that never echoes
/// the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    /// Not three base64url parts with a JSON header, or too long.
    Malformed,
    /// The header names an algorithm other than the key's (`none` included).
    AlgorithmNotAllowed,
    /// The header's `kid` names no configured key.
    UnknownKey,
    /// The signature does not match.
    BadSignature,
    /// The payload is not a JSON object of well-typed claims.
    InvalidClaims,
    /// There is no `exp` claim.
    MissingExpiry,
    /// `exp` is in the past (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    IssuedInFuture,
    /// `iss` is not the configured issuer.
    WrongIssuer,
    /// `aud` does not contain the configured audience.
    WrongAudience,
}

impl TokenError {
    /// The public `error_description`.
    pub fn description(&self) -> &'static str {
        match self {
            TokenError::Malformed => "malformed token",
            TokenError::AlgorithmNotAllowed => "algorithm not allowed",
            TokenError::UnknownKey => "unknown key id",
            TokenError::BadSignature => "bad signature",
            TokenError::InvalidClaims => "invalid claims",
            TokenError::MissingExpiry => "token has no exp claim",
            TokenError::Expired => "token expired",
            TokenError::NotYetValid => "token not yet valid",
            TokenError::IssuedInFuture => "token issued in the future",
            TokenError::WrongIssuer => "wrong issuer",
            TokenError::WrongAudience => "wrong audience",
        }
    }
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.description())
    }
}

impl std::error::Error for TokenError {}

/// Verifies tokens: signature first, with the algorithm pinned to the key, then the
/// claims.
///
/// Defaults to: `exp` required; `nbf` and `iat` checked when present; a leeway of
/// [`DEFAULT_LEEWAY`]; `iss` and `aud` not checked unless set (when set, required).
///
/// Cloning is cheap.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<VerifierInner>,
}

#[derive(Clone)]
struct VerifierInner {
    keys: Vec<SigningKey>,
    validation: Validation,
    leeway: u64,
    issuer: Option<String>,
    audience: Option<String>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("keys", &self.inner.keys)
            .field("leeway", &self.inner.leeway)
            .field("issuer", &self.inner.issuer)
            .field("audience", &self.inner.audience)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier accepting tokens signed by `key`, and only with its algorithm.
    pub fn new(key: SigningKey) -> Self {
        let mut validation = Validation::new(key.algorithm());
        // The claims are checked below with our own clock and error messages; the
        // library is asked for the signature only.
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        Self {
            inner: Arc::new(VerifierInner {
                keys: vec![key],
                validation,
                leeway: DEFAULT_LEEWAY.as_secs(),
                issuer: None,
                audience: None,
                clock: Arc::new(SystemClock),
            }),
        }
    }

    /// Sets the tolerated clock skew.
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        Arc::make_mut(&mut self.inner).leeway = leeway.as_secs();
        self
    }

    /// Requires `iss` to equal `iss`.
    pub fn with_issuer(mut self, iss: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.inner).issuer = Some(iss.into());
        self
    }

    /// Requires `aud` to be, or contain, `aud`.
    pub fn with_audience(mut self, aud: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.inner).audience = Some(aud.into());
        self
    }

    /// Reads the time from `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        Arc::make_mut(&mut self.inner).clock = clock;
        self
    }

    /// Verifies `token` and returns its claims.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let inner = &*self.inner;
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let header = decode_header(token).map_err(|_| TokenError::Malformed)?;
        let key = inner.key_for(header.alg, header.kid.as_deref())?;
        let data =
            decode::<Claims>(token, key.decoding(), &inner.validation).map_err(|e| {
                match e.kind() {
                    JwtErrorKind::InvalidSignature => TokenError::BadSignature,
                    JwtErrorKind::InvalidAlgorithm | JwtErrorKind::InvalidAlgorithmName => {
                        TokenError::AlgorithmNotAllowed
                    }
                    JwtErrorKind::Json(_) => TokenError::InvalidClaims,
                    _ => TokenError::Malformed,
                }
            })?;
        inner.check_claims(&data.claims)?;
        Ok(data.claims)
    }
}

impl VerifierInner {
    /// The key a token must verify against: same algorithm, and the same `kid` when the
    /// token names one and a key of that id exists; a key without an id accepts any.
    fn key_for(
        &self,
        alg: jsonwebtoken::Algorithm,
        kid: Option<&str>,
    ) -> Result<&SigningKey, TokenError> {
        let mut same_alg = self.keys.iter().filter(|k| k.algorithm() == alg).peekable();
        if same_alg.peek().is_none() {
            return Err(TokenError::AlgorithmNotAllowed);
        }
        let mut fallback = None;
        for key in same_alg {
            match (kid, key.key_id()) {
                (Some(want), Some(have)) if want == have => return Ok(key),
                (None, _) | (_, None) => {
                    fallback.get_or_insert(key);
                }
                _ => {}
            }
        }
        fallback.ok_or(TokenError::UnknownKey)
    }

    fn check_claims(&self, claims: &Claims) -> Result<(), TokenError> {
        let now = self.clock.now();
        let exp = claims.expires_at().ok_or(TokenError::MissingExpiry)?;
        // RFC 7519 §4.1.4: not accepted "on or after" exp.
        if now >= exp.saturating_add(self.leeway) {
            return Err(TokenError::Expired);
        }
        let horizon = now.saturating_add(self.leeway);
        if claims.not_before().is_some_and(|nbf| nbf > horizon) {
            return Err(TokenError::NotYetValid);
        }
        if claims.issued_at().is_some_and(|iat| iat > horizon) {
            return Err(TokenError::IssuedInFuture);
        }
        if let Some(want) = &self.issuer
            && claims.issuer() != Some(want.as_str())
        {
            return Err(TokenError::WrongIssuer);
        }
        if let Some(want) = &self.audience
            && !claims.audience().is_some_and(|aud| aud.contains(want))
        {
            return Err(TokenError::WrongAudience);
        }
        Ok(())
    }
}
