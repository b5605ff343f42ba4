//! `[[trusted_issuer]]` tables: the other issuers a node trusts, read and checked with
//! the rest of the configuration, then started (their JWKS fetched and kept fresh) by
//! `keycard serve`.
//!
//! Each table is one issuer: its `iss`, its keys (`jwks_url` or `verify_key` files),
//! and optionally the `audience` its tokens must carry (the top-level `audience` when
//! not given) and the `algorithms` they may use. A token is checked only by the issuer
//! its `iss` names, so with tables every key set must belong to a named issuer: the
//! top-level key source needs the top-level `issuer` too.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use keycard::jwt::{KeyAlgorithm, TrustedIssuer};
use keycard::server::Readiness;
use keycard::{RemoteJwks, VerifyingKey};
use serde::Deserialize;

/// A `[[trusted_issuer]]` of the config file.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuerConfig {
    pub iss: String,
    pub jwks_url: Option<String>,
    #[serde(default)]
    pub verify_key: Vec<PathBuf>,
    pub audience: Option<String>,
    #[serde(default)]
    pub algorithms: Vec<String>,
}

/// One trusted issuer, checked: its fixed keys read, or its JWKS URL to fetch.
pub struct Trusted {
    iss: String,
    audience: Option<String>,
    algorithms: Vec<KeyAlgorithm>,
    keys: Keys,
}

enum Keys {
    /// Built already (the keys read and checked against `algorithms`), with how many.
    Fixed(TrustedIssuer, usize),
    Jwks(String),
}

impl Trusted {
    /// The JWKS URL, if its keys come from one.
    pub fn jwks_url(&self) -> Option<&str> {
        match &self.keys {
            Keys::Jwks(url) => Some(url),
            Keys::Fixed(..) => None,
        }
    }

    /// What `check-config` shows of it.
    pub fn describe(&self) -> String {
        let keys = match &self.keys {
            Keys::Fixed(_, n) => format!("{n} fixed keys"),
            Keys::Jwks(url) => format!("keys from {url}"),
        };
        let algs: Vec<&str> = self.algorithms.iter().map(|a| a.name()).collect();
        format!(
            "{}: {keys}, audience {}, algorithms {}",
            self.iss,
            self.audience.as_deref().unwrap_or("- (not checked)"),
            if algs.is_empty() {
                "those of its keys".to_owned()
            } else {
                algs.join(", ")
            }
        )
    }
}

/// The tables, checked: each names one issuer, once, with one key source; `issuer` is
/// the top-level one (never among them), `audience` the default for those without.
/// `read_key` reads a `verify_key` file.
pub fn resolve(
    tables: &[TrustedIssuerConfig],
    issuer: Option<&str>,
    audience: Option<&str>,
    mut read_key: impl FnMut(&std::path::Path) -> anyhow::Result<VerifyingKey>,
) -> anyhow::Result<Vec<Trusted>> {
    let mut seen: Vec<&str> = issuer.into_iter().collect();
    let mut trusted = Vec::new();
    for (i, t) in tables.iter().enumerate() {
        let at = || format!("config file: [[trusted_issuer]] number {}", i + 1);
        let iss = t.iss.as_str();
        if iss.is_empty() {
            bail!("{}: iss is empty", at());
        }
        if seen.contains(&iss) {
            bail!(
                "{}: issuer {iss:?} is trusted twice: one table (or the top-level issuer) per issuer",
                at()
            );
        }
        seen.push(iss);
        let audience = t.audience.as_deref().or(audience).filter(|a| !a.is_empty());
        let algorithms = algorithms(&t.algorithms).with_context(at)?;
        let jwks_url = t.jwks_url.as_deref().filter(|u| !u.is_empty());
        let keys = match (jwks_url, t.verify_key.is_empty()) {
            (Some(_), false) => bail!("{}: give jwks_url or verify_key, not both", at()),
            (None, true) => bail!("{}: give its keys: jwks_url or verify_key", at()),
            (Some(url), true) => {
                // Checked now, so that a bad URL is a configuration error.
                RemoteJwks::new(url).with_context(at)?;
                Keys::Jwks(url.to_owned())
            }
            (None, false) => {
                let mut keys = Vec::new();
                for path in &t.verify_key {
                    keys.push(read_key(path).with_context(at)?);
                }
                let n = keys.len();
                let issuer = TrustedIssuer::new(iss, keys).with_context(at)?;
                Keys::Fixed(narrowed(issuer, audience, &algorithms).with_context(at)?, n)
            }
        };
        trusted.push(Trusted {
            iss: iss.to_owned(),
            audience: audience.map(str::to_owned),
            algorithms,
            keys,
        });
    }
    Ok(trusted)
}

/// `issuer`, with its audience and algorithms.
fn narrowed(
    mut issuer: TrustedIssuer,
    audience: Option<&str>,
    algorithms: &[KeyAlgorithm],
) -> Result<TrustedIssuer, keycard::Error> {
    if let Some(aud) = audience {
        issuer = issuer.with_audience(aud);
    }
    if !algorithms.is_empty() {
        issuer = issuer.with_algorithms(algorithms.iter().copied())?;
    }
    Ok(issuer)
}

/// `algorithms`: JWS names of public-key algorithms.
fn algorithms(names: &[String]) -> anyhow::Result<Vec<KeyAlgorithm>> {
    let mut algorithms = Vec::new();
    for name in names {
        match KeyAlgorithm::from_name(name) {
            Some(a) if a.is_hmac() => bail!(
                "algorithms: {name} is for shared secrets, and a trusted issuer's keys are public"
            ),
            Some(a) => algorithms.push(a),
            None => bail!(
                "algorithms: {name:?} is not one of EdDSA, ES256, ES384, RS256, PS256 (names are case-sensitive)"
            ),
        }
    }
    Ok(algorithms)
}

/// The trusted issuers, started: JWKS fetched once (a failure is logged, and their
/// tokens refused until a fetch succeeds) and refreshed in the background; a readiness
/// check that fails while one holds no keys.
pub struct Started {
    pub issuers: Vec<TrustedIssuer>,
    pub background: Vec<tokio::task::JoinHandle<()>>,
    remote: Vec<Arc<RemoteJwks>>,
}

impl Started {
    /// `readiness`, with a check that every trusted JWKS holds keys.
    pub fn ready(&self, readiness: Readiness) -> Readiness {
        if self.remote.is_empty() {
            return readiness;
        }
        let remote = self.remote.clone();
        readiness.check("trusted_issuers", move || {
            let all = remote.iter().all(|j| !j.keys().is_empty());
            async move {
                all.then_some(())
                    .ok_or("a trusted issuer's keys are not fetched yet")
            }
        })
    }

    /// For the banner.
    pub fn summary(&self) -> String {
        if self.issuers.is_empty() {
            return String::new();
        }
        let names: Vec<&str> = self.issuers.iter().map(TrustedIssuer::issuer).collect();
        format!(", trusting also {}", names.join(", "))
    }
}

pub async fn start(
    trusted: &[Trusted],
    refresh: Duration,
    refetch: Duration,
    tls: &crate::tls::Tls,
) -> Result<Started, keycard::Error> {
    let mut started = Started {
        issuers: Vec::new(),
        background: Vec::new(),
        remote: Vec::new(),
    };
    for t in trusted {
        let issuer = match &t.keys {
            Keys::Fixed(issuer, _) => issuer.clone(),
            Keys::Jwks(url) => {
                let jwks = tls.jwks(RemoteJwks::new(url)?);
                let jwks = Arc::new(jwks.with_intervals(refresh, refetch));
                if let Err(e) = jwks.refresh().await {
                    tracing::error!(issuer = %t.iss, error = %e, "a trusted issuer's JWKS is not reachable yet; its tokens are refused until it is");
                }
                started.background.push(jwks.spawn_refresher());
                started.remote.push(jwks.clone());
                let issuer = TrustedIssuer::jwks(t.iss.clone(), jwks)?;
                narrowed(issuer, t.audience.as_deref(), &t.algorithms)?
            }
        };
        started.issuers.push(issuer);
    }
    Ok(started)
}
