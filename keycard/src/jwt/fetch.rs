//! Fetching a document from an issuer over plain HTTP/1.1 (the JWKS, the revocation
//! feed): one small hyper client, bounded in time and size.

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
        match parsed.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(config_error(format!(
                    "{what} {url}: this build fetches over http:// only; reach the issuer on a private address or through a local TLS proxy"
                )));
            }
            _ => {
                return Err(config_error(format!(
                    "{what} {url:?} must start with http://"
                )));
            }
        }
        let authority = parsed
            .authority()
            .ok_or_else(|| config_error(format!("{what} {url:?} has no host")))?;
        let authority = match authority.port_u16() {
            Some(_) => authority.to_string(),
            None => format!("{}:80", authority.host()),
        };
        Ok(Self {
            url: parsed,
            authority,
        })
    }

    /// The same origin with another path.
    pub(crate) fn sibling(&self, path: &str) -> Result<Self, Error> {
        let scheme = self.url.scheme_str().unwrap_or("http");
        let host = self.url.authority().map_or("", |a| a.as_str());
        Self::parse(&format!("{scheme}://{host}{path}"), "URL")
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
