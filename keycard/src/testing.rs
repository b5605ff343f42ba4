//! What the tests share: keys and tokens here; in [`app`] (with the `server` feature) a
//! users file with alice and bob, the `keycard serve` app over it, and a way to send it
//! requests.

#![allow(dead_code)]

#[cfg(feature = "server")]
mod app;

#[cfg(feature = "server")]
pub(crate) use app::*;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::Value;

use crate::jwt::{Secret, SigningKey};

/// The HMAC secret of [`key`] and [`sign`].
pub(crate) const SECRET: &[u8; 32] = b"router-test-secret-of-32-bytes!!";
/// The time the tests' clocks show.
pub(crate) const NOW: u64 = 1_800_000_000;

/// A key file of `tests/keys`.
pub(crate) fn key_file(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The HS256 key over [`SECRET`].
pub(crate) fn key() -> SigningKey {
    SigningKey::hs256(&Secret::new(SECRET.to_vec()).unwrap()).unwrap()
}

/// An HS256 token over [`SECRET`] with these claims.
pub(crate) fn sign(claims: Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET).unwrap(),
    )
    .unwrap()
}

/// A token with any header and payload (JSON text or values, used byte for byte), signed
/// by `sign` over the signing input.
pub(crate) fn forge(
    header: impl std::fmt::Display,
    payload: impl std::fmt::Display,
    sign: impl Fn(&[u8]) -> Vec<u8>,
) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    );
    let sig = sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// The raw HS256 signature of `msg` under `secret`.
pub(crate) fn hmac(secret: &[u8], msg: &[u8]) -> Vec<u8> {
    let key = EncodingKey::from_secret(secret).unwrap();
    let sig = jsonwebtoken::crypto::sign(msg, &key, Algorithm::HS256).unwrap();
    URL_SAFE_NO_PAD.decode(sig).unwrap()
}

/// A token's claims, unverified.
pub(crate) fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}
