//! Publishing the revocation feed ([`FEED_PATH`]): the token store's live revocations,
//! signed with the issuer's key (the format is `jwt/revocation_feed.rs`). The signed
//! document is kept and served again until the revocations change or it is
//! [`REISSUE`] old; `If-None-Match` with its `ETag` gets a 304. Both carry the signed
//! proof that the ETag is current ([`CURRENT_HEADER`]), re-signed at most once a second.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use sha2::{Digest, Sha256};

use crate::jwt::issuer::Issuer;
use crate::jwt::revocation_feed::{CURRENT_HEADER, FEED_MEDIA_TYPE, REISSUE, sign, sign_current};
use crate::jwt::revocations::Listed;
use crate::server::errors::unavailable;
use crate::store::TokenStore;

pub(crate) use crate::jwt::revocation_feed::FEED_PATH;

/// The feed of one issuer and token store.
pub(crate) struct Publisher {
    issuer: Issuer,
    store: Arc<dyn TokenStore>,
    /// How long a cut-off matters: the longest a token may live, plus the leeway.
    window: u64,
    signed: Mutex<Option<Signed>>,
    /// The last proof: the second it was signed, the ETag it is for, the header.
    proof: Mutex<Option<(u64, HeaderValue, HeaderValue)>>,
}

struct Signed {
    revoked: Listed,
    iat: u64,
    body: Bytes,
    etag: HeaderValue,
}

impl Publisher {
    pub(crate) fn new(issuer: Issuer, store: Arc<dyn TokenStore>, window: u64) -> Self {
        Self {
            issuer,
            store,
            window,
            signed: Mutex::new(None),
            proof: Mutex::new(None),
        }
    }

    /// The current document: the one kept, or a new one if the revocations changed or
    /// it is due for re-signing.
    fn current(&self) -> Result<(Bytes, HeaderValue), crate::Error> {
        let now = self.issuer.now();
        let revoked = self.store.listed(now.saturating_sub(self.window));
        let mut signed = crate::sync::lock(&self.signed);
        if let Some(s) = signed.as_ref()
            && s.revoked == revoked
            && now.saturating_sub(s.iat) < REISSUE.as_secs()
        {
            return Ok((s.body.clone(), s.etag.clone()));
        }
        let (token, iat) = sign(&self.issuer, revoked.clone())?;
        let tag = format!(
            "\"{}\"",
            URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()).get(..16).unwrap_or(&[]))
        );
        let etag = HeaderValue::try_from(tag).map_err(|_| {
            crate::Error::new(crate::ErrorKind::Signing, "the feed's ETag is not a header")
        })?;
        let body = Bytes::from(token);
        *signed = Some(Signed {
            revoked,
            iat,
            body: body.clone(),
            etag: etag.clone(),
        });
        Ok((body, etag))
    }
}

impl Publisher {
    /// The signed proof that `etag` is current, as of this second.
    fn proof(&self, etag: &HeaderValue) -> Result<HeaderValue, crate::Error> {
        let now = self.issuer.now();
        let mut proof = crate::sync::lock(&self.proof);
        if let Some((at, tag, header)) = proof.as_ref()
            && *at == now
            && tag == etag
        {
            return Ok(header.clone());
        }
        let (token, iat) = sign_current(&self.issuer, etag.to_str().unwrap_or(""))?;
        let header = HeaderValue::try_from(token).map_err(|_| {
            crate::Error::new(
                crate::ErrorKind::Signing,
                "the feed's proof is not a header",
            )
        })?;
        *proof = Some((iat, etag.clone(), header.clone()));
        Ok(header)
    }
}

/// `GET /.well-known/keycard-revocations`.
pub(crate) async fn serve_feed(State(feed): State<Arc<Publisher>>, headers: HeaderMap) -> Response {
    let current = feed
        .current()
        .and_then(|(body, etag)| Ok((feed.proof(&etag)?, body, etag)));
    let (proof, body, etag) = match current {
        Ok(current) => current,
        Err(e) => {
            tracing::error!(error = %e, "revocation feed not signed");
            return unavailable(1, "the revocation feed could not be signed");
        }
    };
    let matches = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == etag.to_str().unwrap_or("") || t.trim() == "*");
    let mut res = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut res = body.into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(FEED_MEDIA_TYPE),
        );
        res
    };
    let h = res.headers_mut();
    h.insert(header::ETAG, etag);
    h.insert(CURRENT_HEADER, proof);
    // Any cache must ask again each time: a stale copy only delays revocations.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}
