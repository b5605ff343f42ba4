//! One owner of the token configuration: the issuer, the verifier, the token store and
//! the endpoint, wired together once.
//!
//! Built separately, they can disagree: a `/revoke` that answers 200 while the verifying
//! layer, built without the token store, keeps accepting the revoked token; an `iss`
//! stamped by the issuer but not required by the verifier. A [`TokenService`] sets each
//! of those once, and hands out the [`Verifier`] for the layer and the
//! [`TokenEndpoint`] for `/token` and `/revoke`, so the wiring cannot be got wrong.
//!
//! ```
//! use std::sync::Arc;
//! use keycard::clock::SystemClock;
//! use keycard::store::token_store_path;
//! use keycard::{FileTokenStore, FileUserStore, Hasher, PasswordPolicy, Secret, SigningKey, TokenService};
//!
//! # fn main() -> Result<(), keycard::Error> {
//! # let dir = tempfile::tempdir().unwrap();
//! # let users_path = dir.path().join("users.json");
//! let key = SigningKey::hs256(&Secret::new(*b"an example secret of 32 bytes!!!")?)?;
//! let tokens = Arc::new(FileTokenStore::open(
//!     token_store_path(&users_path),
//!     Arc::new(SystemClock),
//! )?);
//! let service = TokenService::builder(key)
//!     .issuer("https://auth.example")
//!     .token_store(tokens)
//!     .refresh_ttl(std::time::Duration::from_secs(30 * 86_400))
//!     .build()?;
//! let verifier = service.verifier(); // for AuthLayer: checks iss and revocations
//! let endpoint = service.endpoint(
//!     Arc::new(FileUserStore::open(&users_path)?),
//!     Hasher::new(PasswordPolicy::default()),
//! );
//! # let _ = (verifier, endpoint);
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::duration::format_duration;
use crate::error::{Error, ErrorKind};
use crate::jwt::issuer::{DEFAULT_TOKEN_TTL, Issuer};
use crate::jwt::keys::{SigningKey, VerifyingKey};
use crate::jwt::verifier::{DEFAULT_LEEWAY, DEFAULT_MAX_LIFETIME, Verifier};
use crate::login::endpoint::TokenEndpoint;
use crate::login::password::Hasher;
use crate::store::tokens::TokenStore;
use crate::store::users::UserStore;

/// The role that may revoke other users' access tokens at `/revoke`, unless set
/// otherwise: `admin`.
pub const DEFAULT_ADMIN_ROLE: &str = "admin";

/// The issuer, the verifier and the token store of one deployment, set once: the
/// verifier always carries the issuer's `iss`, `aud` and the store's revocations.
#[derive(Clone)]
pub struct TokenService {
    issuer: Issuer,
    verifier: Verifier,
    sessions: Option<Sessions>,
}

/// What revocation and refresh tokens need: the store, how long refresh tokens live,
/// and who may revoke others' tokens.
#[derive(Clone)]
pub(crate) struct Sessions {
    pub(crate) store: Arc<dyn TokenStore>,
    /// The verifier with the store's revocations; `/revoke` reads tokens with it.
    pub(crate) verifier: Verifier,
    pub(crate) refresh_ttl: Option<Duration>,
    pub(crate) admin_role: String,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService")
            .field("issuer", &self.issuer)
            .field("verifier", &self.verifier)
            .field("revocation", &self.sessions.is_some())
            .finish()
    }
}

impl TokenService {
    /// A service signing with `key`; see [`TokenServiceBuilder`] for the defaults.
    pub fn builder(key: SigningKey) -> TokenServiceBuilder {
        TokenServiceBuilder {
            key,
            retired: Vec::new(),
            ttl: DEFAULT_TOKEN_TTL,
            issuer: None,
            audience: None,
            leeway: DEFAULT_LEEWAY,
            max_lifetime: DEFAULT_MAX_LIFETIME,
            clock: Arc::new(SystemClock),
            store: None,
            refresh_ttl: None,
            admin_role: DEFAULT_ADMIN_ROLE.to_owned(),
        }
    }

    /// The issuer.
    pub fn issuer(&self) -> &Issuer {
        &self.issuer
    }

    /// The verifier for the verifying layer: the signing key and the retired ones, the
    /// same `iss`, `aud`, leeway and clock as the issuer, and the token store's
    /// revocations.
    pub fn verifier(&self) -> Verifier {
        self.verifier.clone()
    }

    /// The `/token` endpoint (and `/revoke`, with a token store) for `users`.
    pub fn endpoint<U: UserStore>(&self, users: U, hasher: Hasher) -> TokenEndpoint<U> {
        TokenEndpoint::new(self.issuer.clone(), users, hasher).with_sessions(self.sessions.clone())
    }
}

/// Builds a [`TokenService`].
///
/// Defaults: tokens live [`DEFAULT_TOKEN_TTL`] (7 days); no `iss` or `aud`; a leeway of
/// [`DEFAULT_LEEWAY`]; at most [`DEFAULT_MAX_LIFETIME`] ahead; the system clock; no token
/// store (then no `/revoke` and no refresh tokens); the revoking role `admin`.
#[must_use]
pub struct TokenServiceBuilder {
    key: SigningKey,
    retired: Vec<VerifyingKey>,
    ttl: Duration,
    issuer: Option<String>,
    audience: Option<String>,
    leeway: Duration,
    max_lifetime: Duration,
    clock: Arc<dyn Clock>,
    store: Option<Arc<dyn TokenStore>>,
    refresh_ttl: Option<Duration>,
    admin_role: String,
}

impl std::fmt::Debug for TokenServiceBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenServiceBuilder")
            .field("key", &self.key)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TokenServiceBuilder {
    /// Retired keys: they still verify, never sign.
    pub fn retired_keys(mut self, keys: impl IntoIterator<Item = VerifyingKey>) -> Self {
        self.retired.extend(keys);
        self
    }

    /// How long tokens live.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Stamps `iss` into tokens and requires it on verification.
    pub fn issuer(mut self, iss: impl Into<String>) -> Self {
        self.issuer = Some(iss.into());
        self
    }

    /// Stamps `aud` into tokens and requires it on verification.
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.audience = Some(aud.into());
        self
    }

    /// The clock skew tolerated on `exp`, `nbf` and `iat`.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The furthest ahead an `exp` may lie; at least the token lifetime.
    pub fn max_lifetime(mut self, max: Duration) -> Self {
        self.max_lifetime = max;
        self
    }

    /// The clock the issuer and the verifier read.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Revocation, logout (`POST /revoke`) and the per-user cut-off, over `store`; the
    /// verifier then refuses revoked tokens.
    pub fn token_store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Also hands out refresh tokens, valid this long (needs a token store).
    pub fn refresh_ttl(mut self, ttl: Duration) -> Self {
        self.refresh_ttl = Some(ttl);
        self
    }

    /// The role that may revoke other users' access tokens.
    pub fn admin_role(mut self, role: impl Into<String>) -> Self {
        self.admin_role = role.into();
        self
    }

    /// The service. Refused: a lifetime (of access or refresh tokens) of zero, an access
    /// lifetime beyond the maximum, refresh tokens without a token store, keys that cannot verify side by side.
    pub fn build(self) -> Result<TokenService, Error> {
        let invalid = |why: String| Err(Error::new(ErrorKind::InvalidConfig, why));
        if self.ttl > self.max_lifetime {
            return invalid(format!(
                "a token lifetime of {} is longer than the maximum lifetime of {}: tokens would be refused by their own verifier; raise the maximum",
                format_duration(self.ttl),
                format_duration(self.max_lifetime)
            ));
        }
        if self.refresh_ttl.is_some_and(|ttl| ttl.as_secs() == 0) {
            return invalid("a refresh token must live at least 1s".to_owned());
        }
        if self.refresh_ttl.is_some() && self.store.is_none() {
            return invalid("refresh tokens need a token store".to_owned());
        }
        let mut issuer = Issuer::new(self.key.clone())
            .with_ttl(self.ttl)?
            .with_clock(self.clock.clone());
        let keys = std::iter::once(self.key.verifying_key().clone())
            .chain(self.retired)
            .collect();
        let mut verifier = Verifier::from_keys(keys)?
            .with_leeway(self.leeway)
            .with_max_lifetime(self.max_lifetime)
            .with_clock(self.clock);
        if let Some(iss) = self.issuer {
            issuer = issuer.with_issuer(iss.clone());
            verifier = verifier.with_issuer(iss);
        }
        if let Some(aud) = self.audience {
            issuer = issuer.with_audience(aud.clone());
            verifier = verifier.with_audience(aud);
        }
        if let Some(store) = &self.store {
            verifier = verifier.with_revocations(store.clone());
        }
        let sessions = self.store.map(|store| Sessions {
            store,
            verifier: verifier.clone(),
            refresh_ttl: self.refresh_ttl,
            admin_role: self.admin_role,
        });
        Ok(TokenService {
            issuer,
            verifier,
            sessions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::jwt::secret::Secret;
    use crate::jwt::verifier::TokenError;
    use crate::store::FileTokenStore;

    fn key() -> SigningKey {
        SigningKey::hs256(&Secret::new(b"an example secret of 32 bytes!!!".to_vec()).unwrap())
            .unwrap()
    }

    #[tokio::test]
    async fn the_verifier_shares_the_issuers_claims_and_the_stores_revocations() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(1_800_000_000));
        let store =
            Arc::new(FileTokenStore::open(dir.path().join("t.json"), clock.clone()).unwrap());
        let service = TokenService::builder(key())
            .issuer("https://auth.example")
            .audience("api")
            .clock(clock)
            .token_store(store.clone())
            .build()
            .unwrap();
        let token = service.issuer().issue("alice", "admin").unwrap();
        let claims = service.verifier().verify(&token.token).unwrap();
        assert_eq!(claims.issuer(), Some("https://auth.example"));
        store.revoke_token(&token.jti, 1_900_000_000).await.unwrap();
        assert_eq!(
            service.verifier().verify(&token.token).unwrap_err(),
            TokenError::Revoked
        );
        // A token from an issuer without the iss is refused by this verifier.
        let other = Issuer::new(key()).issue("alice", "admin").unwrap();
        assert!(service.verifier().verify(&other.token).is_err());
    }

    #[test]
    fn inconsistent_settings_are_refused() {
        let refused = |b: TokenServiceBuilder| b.build().unwrap_err().kind();
        assert_eq!(
            refused(TokenService::builder(key()).refresh_ttl(Duration::from_secs(60))),
            ErrorKind::InvalidConfig
        );
        assert_eq!(
            refused(
                TokenService::builder(key())
                    .ttl(Duration::from_secs(90 * 86_400))
                    .max_lifetime(Duration::from_secs(30 * 86_400))
            ),
            ErrorKind::InvalidConfig
        );
        assert_eq!(
            refused(TokenService::builder(key()).ttl(Duration::ZERO)),
            ErrorKind::InvalidConfig
        );
        let zero_refresh = TokenService::builder(key()).refresh_ttl(Duration::ZERO);
        assert!(
            zero_refresh
                .build()
                .unwrap_err()
                .to_string()
                .contains("at least 1s")
        );
    }
}
