//! Verifying tokens.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, ErrorKind};
use crate::jwt::claims::Claims;
#[cfg(feature = "remote-jwks")]
use crate::jwt::jwks::RemoteJwks;
use crate::jwt::jws::verify_signed;
use crate::jwt::keys::{SigningKey, VerifyingKey};

/// The revocation check the verifier makes for every token whose signature and claims
/// are good. It runs on every request, so it must answer from memory. A fleet can back
/// it with a shared service; the file token store (`FileTokenStore`, feature `store`) is
/// the default.
pub trait RevocationCheck: Send + Sync + 'static {
    /// Whether this verified token has been revoked.
    fn is_revoked(&self, claims: &Claims) -> bool;
}

/// The default clock skew tolerated on `exp`, `nbf` and `iat`: 30 seconds.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// The longest lifetime a token may have left by default: 30 days. Keycard's own tokens
/// live 7 days; a token whose `exp` lies further ahead was minted by a key that should
/// not have minted it, or to outlive every revocation.
pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

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
    /// Revoked: logged out, its session ended, or its user's tokens cut off.
    Revoked,
    /// The header's `typ` is neither `JWT` nor `at+jwt` (a JWE, a logout token, …).
    WrongType,
    /// `exp` lies further ahead than the longest lifetime accepted.
    LifetimeTooLong,
}

impl TokenError {
    /// Every refusal, in declaration order.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) const ALL: [TokenError; 14] = [
        TokenError::Malformed,
        TokenError::AlgorithmNotAllowed,
        TokenError::UnknownKey,
        TokenError::BadSignature,
        TokenError::InvalidClaims,
        TokenError::MissingExpiry,
        TokenError::Expired,
        TokenError::NotYetValid,
        TokenError::IssuedInFuture,
        TokenError::WrongIssuer,
        TokenError::WrongAudience,
        TokenError::Revoked,
        TokenError::WrongType,
        TokenError::LifetimeTooLong,
    ];

    /// A stable, machine-readable name (`expired`, `bad_signature`, `unknown_kid`, …),
    /// the `reason` label of the verification metric.
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::Malformed => "malformed",
            TokenError::AlgorithmNotAllowed => "algorithm_not_allowed",
            TokenError::UnknownKey => "unknown_kid",
            TokenError::BadSignature => "bad_signature",
            TokenError::InvalidClaims => "invalid_claims",
            TokenError::MissingExpiry => "missing_exp",
            TokenError::Expired => "expired",
            TokenError::NotYetValid => "not_yet_valid",
            TokenError::IssuedInFuture => "issued_in_future",
            TokenError::WrongIssuer => "wrong_issuer",
            TokenError::WrongAudience => "wrong_audience",
            TokenError::Revoked => "revoked",
            TokenError::WrongType => "wrong_type",
            TokenError::LifetimeTooLong => "lifetime_too_long",
        }
    }

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
            TokenError::Revoked => "token revoked",
            TokenError::WrongType => "token type not accepted",
            TokenError::LifetimeTooLong => "token lifetime too long",
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
/// Defaults to: `exp` required, and at most [`DEFAULT_MAX_LIFETIME`] ahead; `nbf` and
/// `iat` checked when present; a leeway of [`DEFAULT_LEEWAY`]; `iss` and `aud` not
/// checked unless set (when set, required); a header `typ`, when present, of `JWT` or
/// `at+jwt` (RFC 8725 §3.11; `application/` prefix and case ignored).
///
/// Cloning is cheap.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<VerifierInner>,
}

#[derive(Clone, Debug)]
enum KeySet {
    Static(Arc<[VerifyingKey]>),
    #[cfg(feature = "remote-jwks")]
    Remote(Arc<RemoteJwks>),
}

#[derive(Clone)]
struct VerifierInner {
    keys: KeySet,
    leeway: u64,
    max_lifetime: u64,
    issuer: Option<String>,
    audience: Option<String>,
    clock: Arc<dyn Clock>,
    revocations: Option<Arc<dyn RevocationCheck>>,
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
        Self::with_keys_unchecked(vec![key.verifying_key().clone()])
    }

    /// A verifier accepting tokens signed by any of `keys` (the current key and
    /// retired ones, say), each only with its own algorithm.
    ///
    /// Refused: no key, or HMAC secrets mixed with public keys (a verifier that holds
    /// public keys never accepts an HMAC algorithm).
    pub fn from_keys(keys: Vec<VerifyingKey>) -> Result<Self, Error> {
        if keys.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidKey,
                "a verifier needs at least one key",
            ));
        }
        let hmac = keys.iter().filter(|k| k.algorithm().is_hmac()).count();
        if hmac != 0 && hmac != keys.len() {
            return Err(Error::new(
                ErrorKind::InvalidKey,
                "HMAC secrets and public keys cannot verify side by side: to rotate keys, sign with a private key",
            ));
        }
        Ok(Self::with_keys_unchecked(keys))
    }

    #[cfg(feature = "remote-jwks")]
    /// A verifier whose keys come from an issuer's JWKS (see [`RemoteJwks`]): only
    /// public keys, each with its own algorithm.
    pub fn from_jwks(jwks: Arc<RemoteJwks>) -> Self {
        Self::with_key_set(KeySet::Remote(jwks))
    }

    fn with_keys_unchecked(keys: Vec<VerifyingKey>) -> Self {
        Self::with_key_set(KeySet::Static(Arc::from(keys)))
    }

    fn with_key_set(keys: KeySet) -> Self {
        Self {
            inner: Arc::new(VerifierInner {
                keys,
                leeway: DEFAULT_LEEWAY.as_secs(),
                max_lifetime: DEFAULT_MAX_LIFETIME.as_secs(),
                issuer: None,
                audience: None,
                clock: Arc::new(SystemClock),
                revocations: None,
            }),
        }
    }

    /// The verification keys (for a remote JWKS, those cached now).
    pub fn keys(&self) -> Arc<[VerifyingKey]> {
        match &self.inner.keys {
            KeySet::Static(keys) => keys.clone(),
            #[cfg(feature = "remote-jwks")]
            KeySet::Remote(jwks) => jwks.keys(),
        }
    }

    /// The remote JWKS the keys come from, if any.
    #[cfg(feature = "remote-jwks")]
    pub fn remote(&self) -> Option<&Arc<RemoteJwks>> {
        match &self.inner.keys {
            KeySet::Remote(jwks) => Some(jwks),
            KeySet::Static(_) => None,
        }
    }

    /// Sets the tolerated clock skew.
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        Arc::make_mut(&mut self.inner).leeway = leeway.as_secs();
        self
    }

    /// Refuses tokens whose `exp` lies more than `max` (plus the leeway) ahead. Defaults
    /// to [`DEFAULT_MAX_LIFETIME`].
    pub fn with_max_lifetime(mut self, max: Duration) -> Self {
        Arc::make_mut(&mut self.inner).max_lifetime = max.as_secs();
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

    /// Refuses tokens that `revocations` says were revoked (after every other check).
    pub fn with_revocations(mut self, revocations: Arc<dyn RevocationCheck>) -> Self {
        Arc::make_mut(&mut self.inner).revocations = Some(revocations);
        self
    }

    /// Whether a token refused with `error` might verify once the keys are fetched
    /// again: an unknown `kid` facing a remote JWKS.
    pub fn may_refetch(&self, error: TokenError) -> bool {
        let remote = match &self.inner.keys {
            #[cfg(feature = "remote-jwks")]
            KeySet::Remote(_) => true,
            KeySet::Static(_) => false,
        };
        remote && error == TokenError::UnknownKey
    }

    /// For a token refused with `error` that [`may_refetch`](Self::may_refetch), fetches
    /// the remote keys (at most once per the JWKS's refetch interval, however many
    /// requests ask) and returns whether the token is worth verifying again. The one
    /// place that refetches, for the layer, gateway mode and forward auth alike.
    pub async fn refetch_for(&self, error: TokenError) -> bool {
        if !self.may_refetch(error) {
            return false;
        }
        match &self.inner.keys {
            #[cfg(feature = "remote-jwks")]
            KeySet::Remote(jwks) => jwks.refresh_if_due().await,
            KeySet::Static(_) => false,
        }
    }

    /// Verifies `token`, refetching a remote JWKS first when the token names a key it
    /// lacks (see [`refetch_for`](Self::refetch_for)).
    pub async fn verify_refetching(&self, token: &str) -> Result<Claims, TokenError> {
        match self.verify(token) {
            Err(e) if self.refetch_for(e).await => self.verify(token),
            verdict => verdict,
        }
    }

    /// The longest lifetime (`exp` − now) accepted, in seconds.
    pub fn max_lifetime(&self) -> u64 {
        self.inner.max_lifetime
    }

    /// The clock skew tolerated, in seconds.
    pub fn leeway(&self) -> u64 {
        self.inner.leeway
    }

    /// Verifies the signature (with the algorithm pinned to the key) but not the time
    /// claims or revocation: for deciding whose a presented token is, as `/revoke` must.
    pub(crate) fn verify_signature(&self, token: &str) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        match &self.inner.keys {
            // Borrowed: no reference count touched per token.
            KeySet::Static(keys) => verify_signed(keys, token),
            #[cfg(feature = "remote-jwks")]
            KeySet::Remote(jwks) => verify_signed(&jwks.keys(), token),
        }
    }

    /// Verifies `token` and returns its claims.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let verdict = self.verify_uncounted(token);
        crate::metrics::verification(verdict.as_ref().err());
        verdict
    }

    fn verify_uncounted(&self, token: &str) -> Result<Claims, TokenError> {
        let inner = &*self.inner;
        let claims = self.verify_signature(token)?;
        inner.check_claims(&claims)?;
        if inner
            .revocations
            .as_ref()
            .is_some_and(|r| r.is_revoked(&claims))
        {
            return Err(TokenError::Revoked);
        }
        Ok(claims)
    }
}

impl VerifierInner {
    fn check_claims(&self, claims: &Claims) -> Result<(), TokenError> {
        let now = self.clock.now();
        let exp = claims.expires_at().ok_or(TokenError::MissingExpiry)?;
        // RFC 7519 §4.1.4: not accepted "on or after" exp.
        if now >= exp.saturating_add(self.leeway) {
            return Err(TokenError::Expired);
        }
        let horizon = now.saturating_add(self.leeway);
        if exp > horizon.saturating_add(self.max_lifetime) {
            return Err(TokenError::LifetimeTooLong);
        }
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

#[cfg(test)]
mod tests;
