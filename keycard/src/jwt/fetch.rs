//! Fetching a document from an issuer over HTTP/1.1 (the JWKS, the revocation feed),
//! plain or, with the `tls` feature, over TLS: one small hyper client, bounded in time
//! and size.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;

use crate::error::{Error, ErrorKind};

/// How long one fetch may take, connection included.
pub(crate) const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// An `http://` URL of an issuer's document, checked.
#[derive(Clone, Debug)]
pub(crate) struct Source {
    pub(crate) url: Uri,
    /// `host:port`, to connect to.
    authority: String,
    /// For an `https://` URL: whom to trust.
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsClient>,
}

/// What a GET brought back.
pub(crate) struct Fetched {
    pub(crate) status: StatusCode,
    pub(crate) etag: Option<String>,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: Bytes,
}

fn config_error(why: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidConfig, why)
}

impl Source {
    /// Checks `url` (`http://host[:port]/path`); `what` names it in errors ("JWKS URL").
    pub(crate) fn parse(url: &str, what: &str) -> Result<Self, Error> {
        let parsed: Uri = url
            .parse()
            .map_err(|_| config_error(format!("invalid {what} {url:?}")))?;
        let port = match parsed.scheme_str() {
            Some("http") => 80,
            #[cfg(feature = "tls")]
            Some("https") => 443,
            #[cfg(not(feature = "tls"))]
            Some("https") => {
                return Err(config_error(format!(
                    "{what} {url}: this build has no TLS (cargo feature \"tls\"); reach the issuer over http:// on a private address"
                )));
            }
            _ => {
                return Err(config_error(format!(
                    "{what} {url:?} must start with http:// or https://"
                )));
            }
        };
        let authority = parsed
            .authority()
            .ok_or_else(|| config_error(format!("{what} {url:?} has no host")))?;
        if authority.as_str().contains('@') {
            return Err(config_error(format!(
                "{what} {url:?}: no user information in the URL"
            )));
        }
        let authority = match authority.port_u16() {
            Some(_) => authority.to_string(),
            None => format!("{}:{port}", authority.host()),
        };
        #[cfg(feature = "tls")]
        // The system's roots; none at all (a board without ca-certificates) is reported
        // when fetching, unless a CA file is given meanwhile (`set_tls`).
        let tls = match parsed.scheme_str() {
            Some("https") => crate::tls::TlsClient::system().ok(),
            _ => None,
        };
        Ok(Self {
            url: parsed,
            authority,
            #[cfg(feature = "tls")]
            tls,
        })
    }

    /// The same origin with another path (and the same trust).
    pub(crate) fn sibling(&self, path: &str) -> Result<Self, Error> {
        let scheme = self.url.scheme_str().unwrap_or("http");
        let host = self.url.authority().map_or("", |a| a.as_str());
        #[allow(unused_mut)]
        let mut sibling = Self::parse(&format!("{scheme}://{host}{path}"), "URL")?;
        #[cfg(feature = "tls")]
        sibling.trust_as(self);
        Ok(sibling)
    }

    /// Trusts `tls` for an `https://` URL (no effect on `http://`).
    #[cfg(feature = "tls")]
    pub(crate) fn set_tls(&mut self, tls: &crate::tls::TlsClient) {
        if self.is_https() {
            self.tls = Some(tls.clone());
        }
    }

    #[cfg(feature = "tls")]
    fn is_https(&self) -> bool {
        self.url.scheme_str() == Some("https")
    }

    /// Trusts whom `other` trusts (the same issuer's other document).
    #[cfg(feature = "tls")]
    pub(crate) fn trust_as(&mut self, other: &Source) {
        if let Some(tls) = &other.tls {
            self.set_tls(tls);
        }
    }

    /// GETs the document, in at most [`FETCH_TIMEOUT`] and `max_len` bytes; any status
    /// comes back (the caller decides), a body only with 200.
    pub(crate) async fn get(
        &self,
        accept: &'static str,
        if_none_match: Option<&str>,
        max_len: usize,
    ) -> Result<Fetched, Error> {
        tokio::time::timeout(
            FETCH_TIMEOUT,
            self.get_untimed(accept, if_none_match, max_len),
        )
        .await
        .map_err(|_| Error::new(ErrorKind::Io, format!("{}: timed out", self.url)))?
    }

    async fn get_untimed(
        &self,
        accept: &'static str,
        if_none_match: Option<&str>,
        max_len: usize,
    ) -> Result<Fetched, Error> {
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            Error::new(ErrorKind::Io, format!("{}: {what}: {e}", self.url))
        };
        let stream = tokio::net::TcpStream::connect(&self.authority)
            .await
            .map_err(|e| fail("cannot connect", &e))?;
        #[cfg(feature = "tls")]
        if self.is_https() {
            // None only when the system has no roots and no CA file was given: the
            // system's refusal says so.
            let tls = match &self.tls {
                Some(tls) => tls.clone(),
                None => crate::tls::TlsClient::system().map_err(|e| fail("TLS", &e))?,
            };
            let host = self
                .url
                .host()
                .unwrap_or_default()
                .trim_start_matches('[')
                .trim_end_matches(']');
            let name = rustls::pki_types::ServerName::try_from(host.to_owned())
                .map_err(|e| fail("not a TLS server name", &e))?;
            let stream = tokio_rustls::TlsConnector::from(tls.config())
                .connect(name, stream)
                .await
                .map_err(|e| fail("TLS handshake failed", &crate::tls::describe(&e)))?;
            return self.exchange(stream, accept, if_none_match, max_len).await;
        }
        self.exchange(stream, accept, if_none_match, max_len).await
    }

    /// One GET over an established connection.
    async fn exchange<S>(
        &self,
        stream: S,
        accept: &'static str,
        if_none_match: Option<&str>,
        max_len: usize,
    ) -> Result<Fetched, Error>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            Error::new(ErrorKind::Io, format!("{}: {what}: {e}", self.url))
        };
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| fail("handshake failed", &e))?;
        let conn = tokio::spawn(conn);
        let path = self.url.path_and_query().map_or("/", |pq| pq.as_str());
        let mut req = Request::get(path)
            .header(
                header::HOST,
                self.url.authority().map_or("", |a| a.as_str()),
            )
            .header(header::ACCEPT, accept);
        if let Some(tag) = if_none_match {
            req = req.header(header::IF_NONE_MATCH, tag);
        }
        let req = req
            .body(Empty::<Bytes>::new())
            .map_err(|e| fail("bad request", &e))?;
        let res = sender
            .send_request(req)
            .await
            .map_err(|e| fail("request failed", &e))?;
        let status = res.status();
        let etag = res
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let headers = res.headers().clone();
        let body = if status == StatusCode::OK {
            Limited::new(res.into_body(), max_len)
                .collect()
                .await
                .map_err(|e| fail("reading the body failed", &e))?
                .to_bytes()
        } else {
            Bytes::new()
        };
        conn.abort();
        Ok(Fetched {
            status,
            etag,
            headers,
            body,
        })
    }
}
