//! Entry points for the fuzz targets in `fuzz/`: the parsers that read what an attacker
//! sends or what sits on disk. Not part of the stable API.

use std::sync::{Arc, OnceLock};

use http::{HeaderMap, HeaderValue, header};

use crate::clock::ManualClock;
use crate::{Secret, SigningKey, Verifier};

/// Verifies `data` (as text) as a token with an HS256 verifier and, when given, a public
/// key verifier; must never panic.
pub fn verify_token(data: &[u8]) {
    static VERIFIERS: OnceLock<Vec<Verifier>> = OnceLock::new();
    let verifiers = VERIFIERS.get_or_init(|| {
        let clock = Arc::new(ManualClock::new(1_800_000_000));
        let mut v = Vec::new();
        if let Ok(secret) = Secret::new(b"fuzzing-secret-fuzzing-secret-32".to_vec())
            && let Ok(key) = SigningKey::hs256(&secret)
        {
            v.push(Verifier::new(key).with_clock(clock.clone()));
        }
        if let Ok(key) = SigningKey::generate(crate::jwt::KeyAlgorithm::ES256)
            .and_then(|g| SigningKey::from_pkcs8_pem(g.pem.as_bytes()))
        {
            v.push(Verifier::new(key).with_clock(clock));
        }
        v
    });
    let text = String::from_utf8_lossy(data);
    for verifier in verifiers {
        let _ = verifier.verify(&text);
    }
}

/// Parses `data` as the value(s) of `Authorization` headers (split on newlines).
pub fn authorization(data: &[u8]) {
    let mut headers = HeaderMap::new();
    for line in data.split(|b| *b == b'\n') {
        if let Ok(v) = HeaderValue::from_bytes(line) {
            headers.append(header::AUTHORIZATION, v);
        }
    }
    let _ = crate::auth::token::bearer_token(&headers);
}

/// Parses `data` as a `/token` body; the first byte picks JSON or form.
pub fn token_body(data: &[u8]) {
    let Some((first, body)) = data.split_first() else {
        return;
    };
    let kind = if first % 2 == 0 {
        crate::login::request::BodyKind::Json
    } else {
        crate::login::request::BodyKind::Form
    };
    let _ = crate::login::request::parse_body(kind, body);
}

/// Parses `data` as a users file.
pub fn users_file(data: &[u8]) {
    let _ = crate::store::file::Users::parse_bytes(data);
}

/// Normalizes `data` as a request path, folds it, and judges it by a rule set: a
/// normalized path always folds (what `normalize` lets through, `fold` never refuses).
pub fn path(data: &[u8]) {
    static RULES: OnceLock<crate::Rules> = OnceLock::new();
    let rules = RULES.get_or_init(|| {
        crate::Rules::new()
            .public("/docs*")
            .and_then(|r| r.public("/status"))
            .and_then(|r| Ok(r.rule(crate::Rule::new("/admin*")?.roles(["admin"]))))
            .unwrap_or_default()
    });
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = crate::auth::path::fold(text);
    if let Ok(normal) = crate::auth::path::normalize(text) {
        assert!(
            crate::auth::path::fold(&normal).is_ok(),
            "a normalized path that does not fold: {normal:?}"
        );
        let _ = rules.decide(&http::Method::GET, &normal);
    }
}
