//! `--tls-cert`, `--tls-key` and `--ca-file`: HTTPS on the public listener, and whom to
//! trust when reaching an `https://` issuer or upstream. A build without the `tls`
//! feature refuses the three in one line.

use std::path::PathBuf;
#[cfg(feature = "tls")]
use std::sync::Arc;
#[cfg(feature = "tls")]
use std::time::Duration;

use anyhow::bail;

/// How often the certificate files are looked at for a change.
#[cfg(feature = "tls")]
pub const RELOAD_EVERY: Duration = Duration::from_secs(5);

/// The resolved TLS settings.
#[derive(Default)]
pub struct Tls {
    /// The certificate and key files, as given.
    pub files: Option<(PathBuf, PathBuf)>,
    pub ca_file: Option<PathBuf>,
    /// The server certificate, loaded.
    #[cfg(feature = "tls")]
    pub server: Option<Arc<keycard::tls::TlsServer>>,
    /// The system's roots plus the CA file's; `None` without `--ca-file` (the system's).
    #[cfg(feature = "tls")]
    pub client: Option<keycard::tls::TlsClient>,
}

impl Tls {
    pub fn resolve(
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
        ca_file: Option<PathBuf>,
    ) -> anyhow::Result<Self> {
        let files = match (cert, key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some((cert, key)),
            (Some(_), None) => bail!("--tls-cert needs --tls-key (the certificate's private key)"),
            (None, Some(_)) => bail!("--tls-key needs --tls-cert (the certificate chain)"),
        };
        if cfg!(not(feature = "tls")) && (files.is_some() || ca_file.is_some()) {
            bail!(
                "--tls-cert, --tls-key, --ca-file: this keycard was built without TLS (cargo feature \"tls\")"
            );
        }
        #[cfg(feature = "tls")]
        let server = match &files {
            Some((cert, key)) => Some(keycard::tls::TlsServer::load(cert, key)?),
            None => None,
        };
        #[cfg(feature = "tls")]
        let client = match &ca_file {
            Some(path) => Some(keycard::tls::TlsClient::with_ca_file(path)?),
            None => None,
        };
        Ok(Self {
            files,
            ca_file,
            #[cfg(feature = "tls")]
            server,
            #[cfg(feature = "tls")]
            client,
        })
    }

    /// Refuses an `https://` URL when nothing would be trusted for it: no `--ca-file`
    /// and no system roots.
    pub fn check_trust(&self, urls: &[&str]) -> anyhow::Result<()> {
        #[cfg(feature = "tls")]
        if self.client.is_none()
            && let Some(url) = urls.iter().find(|u| u.starts_with("https://"))
            && let Err(e) = keycard::tls::TlsClient::system()
        {
            bail!("{url}: {e}");
        }
        #[cfg(not(feature = "tls"))]
        let _ = urls;
        Ok(())
    }

    /// `jwks`, trusting `--ca-file`'s CAs beside the system's roots when given.
    pub fn jwks(&self, jwks: keycard::RemoteJwks) -> keycard::RemoteJwks {
        #[cfg(feature = "tls")]
        if let Some(client) = &self.client {
            return jwks.with_tls(client.clone());
        }
        jwks
    }

    /// The scheme the public listener speaks.
    pub fn scheme(&self) -> &'static str {
        if self.files.is_some() {
            "https"
        } else {
            "http"
        }
    }
}
