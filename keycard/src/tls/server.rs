//! The server's certificate: a PEM chain and its private key, re-read when either file
//! changes. A new certificate serves the next handshake; connections already open keep
//! theirs, so a renewal (certbot, cert-manager) drops nothing.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::{config_error, provider};
use crate::error::Error;

/// What a file looked like when last read: a change in either means read again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
    })
}

/// Keycard's own certificate for HTTPS: the chain (`--tls-cert`, PEM, the server's
/// certificate first) and its private key (`--tls-key`, PEM: PKCS#8, or PKCS#1 / SEC1).
///
/// [`reload`](Self::reload) (and [`watch`](Self::watch), which calls it on a timer)
/// re-reads both files when either changed; a pair that does not load (half-written, a
/// key for another certificate) is logged and the current one kept.
pub struct TlsServer {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    seen: Mutex<(Option<Stamp>, Option<Stamp>)>,
}

impl std::fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsServer")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Reads and checks a certificate chain and its key.
fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, Error> {
    let cert_shown = cert.display();
    let key_shown = key.display();
    let text =
        std::fs::read(cert).map_err(|e| config_error(format!("--tls-cert {cert_shown}: {e}")))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            config_error(format!(
                "--tls-cert {cert_shown}: not a PEM certificate chain: {e}"
            ))
        })?;
    if chain.is_empty() {
        return Err(config_error(format!(
            "--tls-cert {cert_shown}: no certificate in it (expected -----BEGIN CERTIFICATE-----)"
        )));
    }
    let text =
        std::fs::read(key).map_err(|e| config_error(format!("--tls-key {key_shown}: {e}")))?;
    let private = PrivateKeyDer::from_pem_slice(&text).map_err(|_| {
        config_error(format!(
            "--tls-key {key_shown}: no private key in it (expected PEM: PKCS#8, PKCS#1 or SEC1)"
        ))
    })?;
    CertifiedKey::from_der(chain, private, &provider()).map_err(|e| {
        config_error(format!(
            "--tls-key {key_shown}: does not go with --tls-cert {cert_shown}: {e}"
        ))
    })
}

impl TlsServer {
    /// Reads the certificate chain and the key; refused, in one line, when either is
    /// missing, not PEM, or when the key is not the certificate's.
    pub fn load(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Arc<Self>, Error> {
        let (cert, key) = (cert.as_ref().to_path_buf(), key.as_ref().to_path_buf());
        let seen = (stamp(&cert), stamp(&key));
        let current = load(&cert, &key)?;
        Ok(Arc::new(Self {
            cert,
            key,
            current: RwLock::new(Arc::new(current)),
            seen: Mutex::new(seen),
        }))
    }

    /// Re-reads the files if either changed since the last read: `Ok(true)` when a new
    /// certificate now serves, `Ok(false)` when nothing changed, and the error when the
    /// new files do not load (the current certificate stays).
    pub fn reload(&self) -> Result<bool, Error> {
        let now = (stamp(&self.cert), stamp(&self.key));
        {
            let mut seen = crate::sync::lock(&self.seen);
            if *seen == now {
                return Ok(false);
            }
            // Tried once per change: a broken pair is reported once, not every tick.
            *seen = now;
        }
        let fresh = load(&self.cert, &self.key)?;
        *crate::sync::write(&self.current) = Arc::new(fresh);
        Ok(true)
    }

    /// Calls [`reload`](Self::reload) every `every`, logging what happened.
    pub fn watch(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let this = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(this) = this.upgrade() else { return };
                match this.reload() {
                    Ok(true) => {
                        tracing::info!(cert = %this.cert.display(), "TLS certificate reloaded")
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::error!(error = %e, "TLS certificate not reloaded; serving the previous one")
                    }
                }
            }
        })
    }

    /// The acceptor for [`serve_tls`](crate::server::serve_tls): TLS 1.2 and 1.3, ALPN
    /// `http/1.1`.
    pub(crate) fn acceptor(self: &Arc<Self>) -> Result<tokio_rustls::TlsAcceptor, Error> {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| config_error(format!("TLS: {e}")))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = if cfg!(feature = "http2") {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        };
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }
}

impl ResolvesServerCert for TlsServer {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(crate::sync::read(&self.current).clone())
    }
}
