//! [`TrustedIssuer`]: one issuer a verifier trusts — its `iss`, its keys and what its
//! tokens must say — so that a verifier trusting several never lets one issuer's key
//! vouch for a token that claims another.
//!
//! ```
//! use keycard::jwt::{Issuer, KeyAlgorithm, SigningKey, TrustedIssuer, Verifier, TokenError};
//!
//! let new_key = || -> Result<SigningKey, keycard::Error> {
//!     SigningKey::from_pkcs8_pem(SigningKey::generate(KeyAlgorithm::EdDSA)?.pem.as_bytes())
//! };
//! let (a, b) = (new_key()?, new_key()?);
//! let verifier = Verifier::new(a)
//!     .with_issuer("https://a.example")
//!     .trusting(TrustedIssuer::new("https://b.example", vec![b.verifying_key().clone()])?)?;
//!
//! let from_b = Issuer::new(b.clone()).with_issuer("https://b.example").issue("bob", "user")?;
//! assert_eq!(verifier.verify(&from_b.token)?.subject(), Some("bob"));
//! // B's key, a token claiming A: refused, whatever the signature.
//! let crossed = Issuer::new(b).with_issuer("https://a.example").issue("eve", "admin")?;
//! assert_eq!(verifier.verify(&crossed.token).unwrap_err(), TokenError::UnknownKey);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::Arc;

use crate::error::{Error, ErrorKind};
use crate::jwt::claims::Claims;
#[cfg(feature = "remote-jwks")]
use crate::jwt::jwks::RemoteJwks;
use crate::jwt::jws::verify_signed;
use crate::jwt::keys::{KeyAlgorithm, VerifyingKey};
use crate::jwt::verifier::{RevocationCheck, TokenError};

/// One issuer a [`Verifier`](crate::jwt::Verifier) trusts besides its first (see
/// [`Verifier::trusting`](crate::jwt::Verifier::trusting)): the `iss` its tokens name,
/// the keys that sign them, and optionally the audience they must carry, the algorithms
/// they may use and where their revocations come from.
///
/// A token is checked only with the keys of the issuer its `iss` names, and its verified
/// claims must name that issuer again: a key of one issuer never verifies a token
/// claiming another.
///
/// Cloning is cheap. `Debug` never shows key material.
#[derive(Clone, Debug)]
pub struct TrustedIssuer(pub(crate) Trust);

/// An issuer's keys: fixed, or a remote JWKS.
#[derive(Clone, Debug)]
pub(crate) enum KeySet {
    Static(Arc<[VerifyingKey]>),
    #[cfg(feature = "remote-jwks")]
    Remote(Arc<RemoteJwks>),
}

/// What a verifier knows of one issuer. The verifier's first may have no `iss` (then
/// it is the only one, and `iss` is not checked).
#[derive(Clone)]
pub(crate) struct Trust {
    pub(crate) iss: Option<String>,
    pub(crate) keys: KeySet,
    pub(crate) audience: Option<String>,
    pub(crate) algorithms: Option<Arc<[KeyAlgorithm]>>,
    pub(crate) revocations: Option<Arc<dyn RevocationCheck>>,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trust")
            .field("iss", &self.iss)
            .field("keys", &self.keys)
            .field("audience", &self.audience)
            .field("algorithms", &self.algorithms)
            .field("revocations", &self.revocations.is_some())
            .finish()
    }
}

impl Trust {
    pub(crate) fn new(keys: KeySet) -> Self {
        Self {
            iss: None,
            keys,
            audience: None,
            algorithms: None,
            revocations: None,
        }
    }

    /// The keys (for a remote JWKS, those cached now).
    pub(crate) fn keys(&self) -> Arc<[VerifyingKey]> {
        match &self.keys {
            KeySet::Static(keys) => keys.clone(),
            #[cfg(feature = "remote-jwks")]
            KeySet::Remote(jwks) => jwks.keys(),
        }
    }

    /// Which key set this is: a remote JWKS counts its refreshes; static keys never
    /// change.
    pub(crate) fn generation(&self) -> u64 {
        match &self.keys {
            KeySet::Static(_) => 0,
            #[cfg(feature = "remote-jwks")]
            KeySet::Remote(jwks) => jwks.generation(),
        }
    }

    pub(crate) fn is_remote(&self) -> bool {
        match &self.keys {
            #[cfg(feature = "remote-jwks")]
            KeySet::Remote(_) => true,
            KeySet::Static(_) => false,
        }
    }

    /// The signature, checked with this issuer's keys and algorithms only.
    pub(crate) fn verify_signature(&self, token: &str) -> Result<Claims, TokenError> {
        let allowed = self.algorithms.as_deref();
        match &self.keys {
            // Borrowed: no reference count touched per token.
            KeySet::Static(keys) => verify_signed(keys, allowed, token),
            #[cfg(feature = "remote-jwks")]
            KeySet::Remote(jwks) => verify_signed(&jwks.keys(), allowed, token),
        }
    }
}

/// HMAC secrets and public keys never verify side by side (a holder of public keys never
/// accepts an HMAC algorithm), and there is at least one key.
pub(crate) fn check_keys(keys: &[VerifyingKey]) -> Result<(), Error> {
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
    Ok(())
}

fn bad_config(message: String) -> Error {
    Error::new(ErrorKind::InvalidConfig, message)
}

impl TrustedIssuer {
    /// The issuer whose tokens name `iss` and are signed by one of `keys`, each only with
    /// its own algorithm.
    ///
    /// Refused: an empty `iss`, no key, or HMAC secrets mixed with public keys.
    pub fn new(iss: impl Into<String>, keys: Vec<VerifyingKey>) -> Result<Self, Error> {
        check_keys(&keys)?;
        Self::with_key_set(iss.into(), KeySet::Static(Arc::from(keys)))
    }

    /// The issuer whose tokens name `iss` and whose keys come from `jwks` (see
    /// [`RemoteJwks`]): only public keys, each with its own algorithm.
    #[cfg(feature = "remote-jwks")]
    pub fn jwks(iss: impl Into<String>, jwks: Arc<RemoteJwks>) -> Result<Self, Error> {
        Self::with_key_set(iss.into(), KeySet::Remote(jwks))
    }

    fn with_key_set(iss: String, keys: KeySet) -> Result<Self, Error> {
        if iss.is_empty() {
            return Err(bad_config(
                "a trusted issuer needs a non-empty iss".to_owned(),
            ));
        }
        let mut trust = Trust::new(keys);
        trust.iss = Some(iss);
        Ok(Self(trust))
    }

    /// The `iss` its tokens name.
    pub fn issuer(&self) -> &str {
        self.0.iss.as_deref().unwrap_or_default()
    }

    /// The remote JWKS its keys come from, if any.
    #[cfg(feature = "remote-jwks")]
    pub fn remote(&self) -> Option<&Arc<RemoteJwks>> {
        match &self.0.keys {
            KeySet::Remote(jwks) => Some(jwks),
            KeySet::Static(_) => None,
        }
    }

    /// Requires its tokens' `aud` to be, or contain, `aud`. Without it, `aud` is not
    /// checked for this issuer's tokens, whatever the verifier's first issuer requires.
    pub fn with_audience(mut self, aud: impl Into<String>) -> Self {
        self.0.audience = Some(aud.into());
        self
    }

    /// Accepts its tokens only with one of `algorithms`.
    ///
    /// Refused: an empty list, or a fixed key whose algorithm is not among them.
    pub fn with_algorithms(
        mut self,
        algorithms: impl IntoIterator<Item = KeyAlgorithm>,
    ) -> Result<Self, Error> {
        let algorithms: Arc<[KeyAlgorithm]> = algorithms.into_iter().collect();
        if algorithms.is_empty() {
            return Err(bad_config(format!(
                "trusted issuer {}: algorithms, when given, name at least one",
                self.issuer()
            )));
        }
        if let KeySet::Static(keys) = &self.0.keys
            && let Some(key) = keys.iter().find(|k| !algorithms.contains(&k.algorithm()))
        {
            return Err(bad_config(format!(
                "trusted issuer {}: a key is {}, which its algorithms do not allow",
                self.issuer(),
                key.algorithm()
            )));
        }
        self.0.algorithms = Some(algorithms);
        Ok(self)
    }

    /// Refuses its tokens that `revocations` says were revoked.
    pub fn with_revocations(mut self, revocations: Arc<dyn RevocationCheck>) -> Self {
        self.0.revocations = Some(revocations);
        self
    }
}

#[cfg(test)]
mod tests;
