//! TLS, with rustls and its `ring` provider: [`TlsClient`] for reaching `https://`
//! issuers and upstreams (the system's roots, plus a CA file of your own), and, with the
//! `server` feature, [`TlsServer`] for Keycard's own listener, its certificate re-read
//! when the files change.
//!
//! Why ring and not aws-lc-rs (rustls's default): aws-lc-rs builds a large C library
//! with CMake, which is what makes cross-compiling to a board hard; ring is a small crate
//! of Rust with some C and assembly that `cc` cross-compiles with the target's C compiler.
//! A provider in pure Rust (`rustls-rustcrypto`) exists but is an alpha that its authors
//! do not recommend for production.
//!
//! ```no_run
//! use keycard::jwt::RemoteJwks;
//! use keycard::tls::TlsClient;
//!
//! # fn main() -> Result<(), keycard::Error> {
//! // The system's roots and a private CA's certificate.
//! let tls = TlsClient::with_ca_file("ca.pem")?;
//! let jwks = RemoteJwks::new("https://issuer.internal/.well-known/jwks.json")?.with_tls(tls);
//! # let _ = jwks;
//! # Ok(()) }
//! ```

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::error::{Error, ErrorKind};

#[cfg(feature = "server")]
mod server;
#[cfg(feature = "server")]
pub use server::TlsServer;

/// The crypto provider: ring's, made once.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

fn config_error(why: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidConfig, why)
}

/// Whom a TLS client trusts: the system's roots, and optionally the certificates of a
/// CA file. Cheap to clone.
#[derive(Clone)]
pub struct TlsClient {
    config: Arc<rustls::ClientConfig>,
    roots: usize,
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClient")
            .field("roots", &self.roots)
            .finish_non_exhaustive()
    }
}

/// The system's roots, read once: `SSL_CERT_FILE` / `SSL_CERT_DIR` when set, else the
/// platform's store (on Debian, `/etc/ssl/certs` from `ca-certificates`).
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            tracing::warn!(error = %e, "a system root certificate could not be read");
        }
        found.certs
    })
}

impl TlsClient {
    /// Trusts the system's roots. Refused when there are none (a board without
    /// `ca-certificates`): give a CA file then, with [`with_ca_file`](Self::with_ca_file).
    pub fn system() -> Result<Self, Error> {
        // Built once: every https:// URL (the JWKS, its feed, the upstream) shares it.
        // (Its only error is a configuration one, kept as its message.)
        static SYSTEM: OnceLock<Result<TlsClient, String>> = OnceLock::new();
        SYSTEM
            .get_or_init(|| Self::build(system_roots(), &[], "").map_err(|e| e.to_string()))
            .clone()
            .map_err(config_error)
    }

    /// Trusts the system's roots and every certificate in `ca_file` (PEM): a private CA,
    /// or a self-signed issuer's own certificate.
    pub fn with_ca_file(ca_file: impl AsRef<Path>) -> Result<Self, Error> {
        let what = format!("--ca-file {}", ca_file.as_ref().display());
        let certs = read_certificates(ca_file.as_ref(), &what)?;
        Self::build(system_roots(), &certs, &what)
    }

    /// Trusts the certificates in `ca_file` (PEM) alone, not the system's roots: a
    /// database URL's `sslrootcert`, as libpq reads it. `setting` names it in errors.
    #[cfg(feature = "postgres-tls")]
    pub(crate) fn only_ca_file(ca_file: &Path, setting: &str) -> Result<Self, Error> {
        let what = format!("{setting} {}", ca_file.display());
        let certs = read_certificates(ca_file, &what)?;
        Self::build(&[], &certs, &what)
    }

    fn build(
        system: &[CertificateDer<'static>],
        extra: &[CertificateDer<'static>],
        what: &str,
    ) -> Result<Self, Error> {
        let mut roots = RootCertStore::empty();
        let (system_added, _) = roots.add_parsable_certificates(system.iter().cloned());
        for cert in extra {
            roots
                .add(cert.clone())
                .map_err(|e| config_error(format!("{what}: a certificate is not a CA: {e}")))?;
        }
        if roots.is_empty() {
            return Err(config_error(
                "no trusted root certificates: install ca-certificates or give --ca-file",
            ));
        }
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| config_error(format!("TLS: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            config: Arc::new(config),
            roots: system_added + extra.len(),
        })
    }

    /// Trusts nobody: for a client that speaks only plain HTTP (an `http://` upstream).
    #[cfg(feature = "server")]
    pub(crate) fn none() -> Result<Self, Error> {
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| config_error(format!("TLS: {e}")))?
            .with_root_certificates(RootCertStore::empty())
            .with_no_client_auth();
        Ok(Self {
            config: Arc::new(config),
            roots: 0,
        })
    }

    /// How many root certificates it trusts.
    pub fn roots(&self) -> usize {
        self.roots
    }

    /// The rustls configuration, for a client of your own.
    pub fn config(&self) -> Arc<rustls::ClientConfig> {
        self.config.clone()
    }
}

/// The PEM certificates in `path`, at least one; `what` names the setting in errors.
fn read_certificates(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let text = std::fs::read(path).map_err(|e| config_error(format!("{what}: {e}")))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<_, _>>()
        .map_err(|e| config_error(format!("{what}: not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(config_error(format!(
            "{what}: no certificate in it (expected -----BEGIN CERTIFICATE-----)"
        )));
    }
    Ok(certs)
}

/// A rustls error as one clear phrase: what is wrong with the peer's certificate.
pub(crate) fn describe(e: &std::io::Error) -> String {
    let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
        return e.to_string();
    };
    use rustls::CertificateError as C;
    match inner {
        rustls::Error::InvalidCertificate(cert) => match cert {
            C::Expired | C::ExpiredContext { .. } => {
                format!("the server's certificate has expired ({inner})")
            }
            C::NotValidYet | C::NotValidYetContext { .. } => {
                format!("the server's certificate is not valid yet ({inner})")
            }
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                format!("the server's certificate is not valid for this host name ({inner})")
            }
            C::UnknownIssuer => format!(
                "the server's certificate is not signed by a trusted CA (give its CA with --ca-file) ({inner})"
            ),
            _ => format!("the server's certificate was refused ({inner})"),
        },
        other => format!("TLS: {other}"),
    }
}
