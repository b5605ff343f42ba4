//! Verifying tokens.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, ErrorKind};
use crate::jwt::cache::{Entry, TokenCache};
use crate::jwt::claims::Claims;
#[cfg(feature = "remote-jwks")]
use crate::jwt::jwks::RemoteJwks;
use crate::jwt::jws::claimed_issuer;
use crate::jwt::keys::{SigningKey, VerifyingKey};
use crate::jwt::trusted::{KeySet, Trust, TrustedIssuer, check_keys};

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

#[derive(Clone)]
struct VerifierInner {
    /// The first issuer trusted. Alone, its `iss` (if set) is required; with others,
    /// each has an `iss` and a token is checked by the one it names.
    first: Trust,
    others: Vec<Trust>,
    leeway: u64,
    max_lifetime: u64,
    clock: Arc<dyn Clock>,
    /// Tokens that verified under this configuration (see [`TokenCache`]).
    cache: Arc<TokenCache>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("first", &self.inner.first)
            .field("others", &self.inner.others)
            .field("leeway", &self.inner.leeway)
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
        check_keys(&keys)?;
        Ok(Self::with_keys_unchecked(keys))
    }

    #[cfg(feature = "remote-jwks")]
    /// A verifier whose keys come from an issuer's JWKS (see [`RemoteJwks`]): only
    /// public keys, each with its own algorithm.
    pub fn from_jwks(jwks: Arc<RemoteJwks>) -> Self {
        Self::with_trust(Trust::new(KeySet::Remote(jwks)))
    }

    /// A verifier trusting exactly these issuers (at least one, each `iss` once), each
    /// token checked by the one its `iss` names. The first is the one
    /// [`with_issuer`](Self::with_issuer) and its siblings configure.
    pub fn from_issuers(issuers: Vec<TrustedIssuer>) -> Result<Self, Error> {
        let mut issuers = issuers.into_iter();
        let first = issuers.next().ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidConfig,
                "a verifier needs at least one issuer",
            )
        })?;
        issuers.try_fold(Self::with_trust(first.0), Self::trusting)
    }

    fn with_keys_unchecked(keys: Vec<VerifyingKey>) -> Self {
        Self::with_trust(Trust::new(KeySet::Static(Arc::from(keys))))
    }

    fn with_trust(first: Trust) -> Self {
        Self {
            inner: Arc::new(VerifierInner {
                first,
                others: Vec::new(),
                leeway: DEFAULT_LEEWAY.as_secs(),
                max_lifetime: DEFAULT_MAX_LIFETIME.as_secs(),
                clock: Arc::new(SystemClock),
                cache: Arc::new(TokenCache::default()),
            }),
        }
    }

    /// The configuration, to change: not shared with clones made before, and with a
    /// cache of its own (same bounds, empty), so that an entry is only ever found by the
    /// configuration whose issuers, keys and rules it verified under.
    fn configure(&mut self) -> &mut VerifierInner {
        let inner = Arc::make_mut(&mut self.inner);
        match Arc::get_mut(&mut inner.cache) {
            Some(own) => own.clear(),
            None => inner.cache = Arc::new(inner.cache.emptied()),
        }
        inner
    }

    /// Uses `cache` for tokens that verified (on by default, [`TokenCache::default`];
    /// [`TokenCache::disabled`] to check every signature).
    pub fn with_token_cache(mut self, cache: TokenCache) -> Self {
        let inner = Arc::make_mut(&mut self.inner);
        inner.cache = Arc::new(cache);
        self
    }

    /// The verified-token cache (to read its size).
    pub fn token_cache(&self) -> &TokenCache {
        &self.inner.cache
    }

    /// Trusts `other` too: a token whose `iss` names it is checked with its keys and
    /// claims rules, and only those; every other token as before.
    ///
    /// Refused: this verifier's first issuer has no `iss` (set it first with
    /// [`with_issuer`](Self::with_issuer): with several issuers, every key must belong to
    /// a named one), or `other`'s `iss` is already trusted.
    pub fn trusting(mut self, other: TrustedIssuer) -> Result<Self, Error> {
        let inner = self.configure();
        if inner.first.iss.is_none() {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "to trust several issuers, name the first one's iss too: every key must belong to a named issuer",
            ));
        }
        if inner.all().any(|t| t.iss == other.0.iss) {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                format!("issuer {:?} is trusted twice", other.issuer()),
            ));
        }
        inner.others.push(other.0);
        Ok(self)
    }

    /// The issuers trusted besides the first.
    pub fn others(&self) -> impl Iterator<Item = TrustedIssuer> + '_ {
        self.inner.others.iter().cloned().map(TrustedIssuer)
    }

    /// The first issuer's verification keys (for a remote JWKS, those cached now): for
    /// an issuing node, its own.
    pub fn keys(&self) -> Arc<[VerifyingKey]> {
        self.inner.first.keys()
    }

    /// The remote JWKS the first issuer's keys come from, if any.
    #[cfg(feature = "remote-jwks")]
    pub fn remote(&self) -> Option<&Arc<RemoteJwks>> {
        match &self.inner.first.keys {
            KeySet::Remote(jwks) => Some(jwks),
            KeySet::Static(_) => None,
        }
    }

    /// Sets the tolerated clock skew.
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.configure().leeway = leeway.as_secs();
        self
    }

    /// Refuses tokens whose `exp` lies more than `max` (plus the leeway) ahead. Defaults
    /// to [`DEFAULT_MAX_LIFETIME`].
    pub fn with_max_lifetime(mut self, max: Duration) -> Self {
        self.configure().max_lifetime = max.as_secs();
        self
    }

    /// Requires `iss` to equal `iss` (of the first issuer's tokens; see
    /// [`trusting`](Self::trusting) for more).
    pub fn with_issuer(mut self, iss: impl Into<String>) -> Self {
        self.configure().first.iss = Some(iss.into());
        self
    }

    /// Requires `aud` to be, or contain, `aud` (in the first issuer's tokens; each
    /// [`TrustedIssuer`] has its own).
    pub fn with_audience(mut self, aud: impl Into<String>) -> Self {
        self.configure().first.audience = Some(aud.into());
        self
    }

    /// Reads the time from `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.configure().clock = clock;
        self
    }

    /// Refuses tokens that `revocations` says were revoked (after every other check): the
    /// first issuer's tokens; each [`TrustedIssuer`] has its own.
    pub fn with_revocations(mut self, revocations: Arc<dyn RevocationCheck>) -> Self {
        self.configure().first.revocations = Some(revocations);
        self
    }

    /// Whether a token refused with `error` might verify once the keys are fetched
    /// again: an unknown `kid` facing a remote JWKS.
    pub fn may_refetch(&self, error: TokenError) -> bool {
        error == TokenError::UnknownKey && self.inner.all().any(Trust::is_remote)
    }

    /// For `token`, refused with `error` that [`may_refetch`](Self::may_refetch), fetches
    /// the keys of the issuer it names (at most once per the JWKS's refetch interval,
    /// however many requests ask) and returns whether the token is worth verifying
    /// again. The one place that refetches, for the layer, gateway mode and forward auth
    /// alike.
    pub async fn refetch_for(&self, token: &str, error: TokenError) -> bool {
        if !self.may_refetch(error) {
            return false;
        }
        match self.inner.trust_for(token).map(|(_, t)| &t.keys) {
            #[cfg(feature = "remote-jwks")]
            Ok(KeySet::Remote(jwks)) => jwks.refresh_if_due().await,
            _ => false,
        }
    }

    /// Verifies `token`, refetching a remote JWKS first when the token names a key it
    /// lacks (see [`refetch_for`](Self::refetch_for)).
    pub async fn verify_refetching(&self, token: &str) -> Result<Claims, TokenError> {
        match self.verify(token) {
            Err(e) if self.refetch_for(token, e).await => self.verify(token),
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
    #[cfg(feature = "login")]
    pub(crate) fn verify_signature(&self, token: &str) -> Result<Claims, TokenError> {
        self.inner.signed(token).map(|(claims, ..)| claims)
    }

    /// Verifies `token` and returns its claims.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let verdict = self.verify_uncounted(token);
        crate::metrics::verification(verdict.as_ref().err());
        verdict
    }

    fn verify_uncounted(&self, token: &str) -> Result<Claims, TokenError> {
        let inner = &*self.inner;
        if let Some(hit) = inner.cache.get(token) {
            match inner.trust_at(hit.trust) {
                // The same bytes verified under the same keys: only the signature and
                // the parsing are skipped.
                Some(trust) if trust.generation() == hit.generation => {
                    inner.check_claims(trust, &hit.claims)?;
                    inner.check_revoked(trust, &hit.claims)?;
                    return Ok(hit.claims.clone());
                }
                // The keys changed since (a refresh may have dropped one).
                _ => inner.cache.clear(),
            }
        }
        let (claims, trust, index, generation) = inner.signed(token)?;
        inner.check_claims(trust, &claims)?;
        inner.check_revoked(trust, &claims)?;
        inner.cache.insert(
            token,
            Entry {
                claims: claims.clone(),
                trust: index,
                generation,
            },
        );
        Ok(claims)
    }
}

impl VerifierInner {
    fn all(&self) -> impl Iterator<Item = &Trust> {
        std::iter::once(&self.first).chain(&self.others)
    }

    /// The issuer whose keys must check `token`: the only one, or the one its `iss`
    /// names (read before the signature is checked, and checked again after).
    fn trust_for(&self, token: &str) -> Result<(usize, &Trust), TokenError> {
        if self.others.is_empty() {
            return Ok((0, &self.first));
        }
        let iss = claimed_issuer(token)?.ok_or(TokenError::WrongIssuer)?;
        self.all()
            .enumerate()
            .find(|(_, t)| t.iss.as_deref() == Some(iss.as_str()))
            .ok_or(TokenError::WrongIssuer)
    }

    /// The issuer at `index` of [`all`](Self::all).
    fn trust_at(&self, index: usize) -> Option<&Trust> {
        self.all().nth(index)
    }

    /// The claims of `token`, its signature checked by the issuer it names; that
    /// issuer, its index in [`all`](Self::all), and its key set's generation, read before
    /// the keys are (so that a cache entry is never newer than the keys that checked it).
    fn signed(&self, token: &str) -> Result<(Claims, &Trust, usize, u64), TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let (index, trust) = self.trust_for(token)?;
        let generation = trust.generation();
        let claims = trust.verify_signature(token)?;
        Ok((claims, trust, index, generation))
    }

    fn check_revoked(&self, trust: &Trust, claims: &Claims) -> Result<(), TokenError> {
        if trust
            .revocations
            .as_ref()
            .is_some_and(|r| r.is_revoked(claims))
        {
            return Err(TokenError::Revoked);
        }
        Ok(())
    }

    fn check_claims(&self, trust: &Trust, claims: &Claims) -> Result<(), TokenError> {
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
        // With several issuers this is the second look: the verified claims must name
        // the issuer whose key checked them.
        if let Some(want) = &trust.iss
            && claims.issuer() != Some(want.as_str())
        {
            return Err(TokenError::WrongIssuer);
        }
        if let Some(want) = &trust.audience
            && !claims.audience().is_some_and(|aud| aud.contains(want))
        {
            return Err(TokenError::WrongAudience);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
