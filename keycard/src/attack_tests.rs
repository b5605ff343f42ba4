//! The attack suite: one test per RFC 8725 attack class and per JWT-library CVE family,
//! each driven through the full `keycard serve` application. Every forged token must be
//! refused with a 4xx; none may crash, hang, or get a 5xx. SECURITY.md maps each test to
//! the code that closes the hole.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::clock::*;
use crate::jwt::*;
use crate::login::*;
use crate::server::*;
use crate::store::*;

const NOW: u64 = 1_800_000_000;
const SECRET: &[u8; 32] = b"attack-suite-secret-of-32-bytes!";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The `keycard serve` app with `key`, at a fixed time.
fn app(key: SigningKey) -> Router {
    let clock = Arc::new(ManualClock::new(NOW));
    let dir = std::env::temp_dir();
    let store = Arc::new(FileUserStore::open(dir.join("keycard-attack-suite-none.json")).unwrap());
    let endpoint = TokenEndpoint::new(
        Issuer::new(key.clone()).with_clock(clock.clone()),
        store,
        Hasher::new(PasswordPolicy::danger_test_minimum()),
    );
    let verifier = Verifier::new(key).with_clock(clock);
    crate::server::app(
        endpoint,
        verifier,
        serve_rules::<&str>(&[]).unwrap(),
        &ServerLimits::default(),
    )
}

fn hs256() -> SigningKey {
    SigningKey::hs256(&Secret::new(SECRET.to_vec()).unwrap()).unwrap()
}

fn es256() -> SigningKey {
    SigningKey::from_pkcs8_pem(&fixture("p256.pem")).unwrap()
}

/// Sends `token` to `/me`; returns the status and error description.
async fn try_token(app: &Router, token: &str) -> (StatusCode, String) {
    let req = Request::get("/me")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty());
    let Ok(req) = req else {
        // Not even a valid header value: no request can carry it.
        return (StatusCode::BAD_REQUEST, "unsendable".into());
    };
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (
        status,
        v["error_description"].as_str().unwrap_or("").to_owned(),
    )
}

async fn refused(app: &Router, token: &str) -> String {
    let (status, why) = try_token(app, token).await;
    assert!(
        status.is_client_error(),
        "{status} for {}",
        &token[..token.len().min(120)]
    );
    why
}

fn good_claims() -> Value {
    json!({"sub": "alice", "username": "alice", "role": "admin", "iat": NOW, "exp": NOW + 600})
}

fn hmac(msg: &[u8], secret: &[u8]) -> Vec<u8> {
    let key = jsonwebtoken::EncodingKey::from_secret(secret).unwrap();
    URL_SAFE_NO_PAD
        .decode(jsonwebtoken::crypto::sign(msg, &key, jsonwebtoken::Algorithm::HS256).unwrap())
        .unwrap()
}

/// header.payload.signature, with the signature made by `sign` over the first two.
fn forge(header: &str, payload: &str, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let sig = sign(input.as_bytes());
    format!("{input}.{}", b64(&sig))
}

fn valid_hs256(payload: &Value) -> String {
    forge(
        r#"{"alg":"HS256","typ":"JWT"}"#,
        &payload.to_string(),
        |m| hmac(m, SECRET),
    )
}

#[tokio::test]
async fn control_a_well_formed_token_is_accepted() {
    // Without this, every "refused" below could pass for the wrong reason.
    let app = app(hs256());
    assert_eq!(
        try_token(&app, &valid_hs256(&good_claims())).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn alg_none_in_every_spelling() {
    // RFC 8725 §2.1; CVE-2015-9235 family.
    for app in [app(hs256()), app(es256())] {
        for alg in ["none", "None", "NONE", "nOnE", "none ", " none", ""] {
            let header = json!({"alg": alg, "typ": "JWT"}).to_string();
            let payload = good_claims().to_string();
            for sig in ["", "AAAA"] {
                let token = format!(
                    "{}.{}.{sig}",
                    b64(header.as_bytes()),
                    b64(payload.as_bytes())
                );
                refused(&app, &token).await;
            }
            let signed = forge(&header, &payload, |m| hmac(m, SECRET));
            refused(&app, &signed).await;
        }
        // No alg at all.
        let token = forge(r#"{"typ":"JWT"}"#, &good_claims().to_string(), |m| {
            hmac(m, SECRET)
        });
        refused(&app, &token).await;
    }
}

#[tokio::test]
async fn hmac_signed_with_the_public_key() {
    // RFC 8725 §2.1 (key confusion); CVE-2016-10555 family.
    let app = app(es256());
    for public in [
        fixture("p256.pub.pem"),
        es256()
            .verifying_key()
            .jwk()
            .map(|j| serde_json::to_vec(j).unwrap())
            .unwrap(),
    ] {
        for alg in ["HS256", "HS384", "HS512"] {
            let header =
                json!({"alg": alg, "typ": "JWT", "kid": es256().key_id().unwrap()}).to_string();
            let token = forge(&header, &good_claims().to_string(), |m| hmac(m, &public));
            assert_eq!(refused(&app, &token).await, "algorithm not allowed");
        }
    }
}

#[tokio::test]
async fn stripped_and_truncated_signatures() {
    let app = app(hs256());
    let good = valid_hs256(&good_claims());
    let (input, sig) = good.rsplit_once('.').unwrap();
    for token in [
        format!("{input}."),
        input.to_owned(),
        format!("{input}.{}", &sig[..sig.len() - 1]),
        format!("{input}.{}", &sig[..sig.len() - 4]),
        format!("{input}.{}", &sig[..8]),
        format!("{input}.{sig}{sig}"),
        format!("{input}.{sig}."),
        format!(".{input}.{sig}"),
        "..".to_owned(),
        ".".to_owned(),
    ] {
        refused(&app, &token).await;
    }
}

#[tokio::test]
async fn tampered_payloads() {
    let app = app(hs256());
    let good = valid_hs256(&json!({"sub": "bob", "role": "user", "exp": NOW + 600}));
    let parts: Vec<&str> = good.split('.').collect();
    for claims in [
        json!({"sub": "bob", "role": "admin", "exp": NOW + 600}),
        json!({"sub": "alice", "role": "user", "exp": NOW + 600}),
        json!({"sub": "bob", "role": "user", "exp": NOW + 6_000_000}),
    ] {
        let token = format!(
            "{}.{}.{}",
            parts[0],
            b64(claims.to_string().as_bytes()),
            parts[2]
        );
        assert_eq!(refused(&app, &token).await, "bad signature");
    }
    // A payload swapped in from another valid token.
    let other = valid_hs256(&json!({"sub": "admin", "role": "admin", "exp": NOW + 600}));
    let token = format!(
        "{}.{}.{}",
        parts[0],
        other.split('.').nth(1).unwrap(),
        parts[2]
    );
    assert_eq!(refused(&app, &token).await, "bad signature");
}

#[tokio::test]
async fn ecdsa_psychic_signatures() {
    // CVE-2022-21449: r = s = 0 verified in some ECDSA implementations.
    let app = app(es256());
    let header =
        json!({"alg": "ES256", "typ": "JWT", "kid": es256().key_id().unwrap()}).to_string();
    let payload = good_claims().to_string();
    let order_n = p256_order();
    for sig in [
        vec![0u8; 64],
        [vec![0u8; 32], order_n.clone()].concat(),
        [order_n.clone(), order_n].concat(),
        vec![0xff; 64],
    ] {
        let token = forge(&header, &payload, |_| sig.clone());
        assert_eq!(refused(&app, &token).await, "bad signature");
    }
    // A DER-encoded signature where a raw r||s is due.
    let token = forge(&header, &payload, |_| {
        vec![0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00]
    });
    refused(&app, &token).await;
}

fn p256_order() -> Vec<u8> {
    // n of P-256: r or s equal to n is as invalid as 0.
    (0..32)
        .map(|i| {
            u8::from_str_radix(
                &"FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551"
                    [i * 2..i * 2 + 2],
                16,
            )
            .unwrap()
        })
        .collect()
}

#[tokio::test]
async fn kid_injection() {
    // kid used as a path, an SQL fragment, a URL, or made huge: it only ever selects among
    // configured keys by string equality.
    let app = app(es256());
    for kid in [
        "../../../../../../dev/null",
        "/etc/passwd",
        "' OR '1'='1",
        "1; DROP TABLE keys --",
        "https://evil.example/key",
        "\u{0000}",
        "%00",
        &"k".repeat(5000),
    ] {
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": kid}).to_string();
        let token = forge(&header, &good_claims().to_string(), |_| vec![1; 64]);
        refused(&app, &token).await;
        let header = json!({"alg": "HS256", "typ": "JWT", "kid": kid}).to_string();
        let token = forge(&header, &good_claims().to_string(), |m| hmac(m, b"guess"));
        refused(&app, &token).await;
    }
    // kid of the wrong type.
    for kid in [json!(1), json!(null), json!(["a"]), json!({"a": 1})] {
        let header = json!({"alg": "HS256", "typ": "JWT", "kid": kid}).to_string();
        refused(
            &app,
            &forge(&header, &good_claims().to_string(), |m| hmac(m, SECRET)),
        )
        .await;
    }
}

#[tokio::test]
async fn key_carrying_headers_are_never_followed() {
    // RFC 8725 §3.10; CVE-2018-0114 (embedded jwk) family.
    let app = app(es256());
    let attacker = SigningKey::generate(KeyAlgorithm::ES256).unwrap();
    let attacker_key = SigningKey::from_pkcs8_pem(attacker.pem.as_bytes()).unwrap();
    let jwk = serde_json::to_value(attacker.verifying_key.jwk().unwrap()).unwrap();
    for extra in [
        json!({"jwk": jwk}),
        json!({"jku": "http://127.0.0.1:1/jwks.json"}),
        json!({"x5u": "http://127.0.0.1:1/cert.pem"}),
        json!({"x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]}),
        json!({"jwk": jwk, "kid": es256().key_id().unwrap()}),
    ] {
        let mut header =
            serde_json::to_value(jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256))
                .unwrap();
        header
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let header: jsonwebtoken::Header = serde_json::from_value(header).unwrap();
        let token = jsonwebtoken::encode(&header, &good_claims(), attacker_key.encoding()).unwrap();
        refused(&app, &token).await;
    }
}

#[tokio::test]
async fn crit_headers_are_refused() {
    // RFC 7515 §4.1.11: an extension the verifier does not understand must fail.
    let app = app(hs256());
    for crit in [
        json!(["exp"]),
        json!(["urn:example:unknown"]),
        json!([]),
        json!("exp"),
        json!(["b64"]),
    ] {
        let header =
            json!({"alg": "HS256", "typ": "JWT", "crit": crit, "urn:example:unknown": true})
                .to_string();
        let token = forge(&header, &good_claims().to_string(), |m| hmac(m, SECRET));
        refused(&app, &token).await;
    }
}

#[tokio::test]
async fn wrongly_typed_time_claims() {
    let app = app(hs256());
    for (claim, value) in [
        ("exp", json!("99999999999")),
        ("exp", json!(true)),
        ("exp", json!(null)),
        ("exp", json!([NOW + 600])),
        ("exp", json!({"t": NOW + 600})),
        ("exp", json!(-1)),
        ("exp", json!(1e300)),
        ("nbf", json!("0")),
        ("nbf", json!(false)),
        ("iat", json!("now")),
        ("iat", json!([0])),
    ] {
        let mut claims = good_claims();
        claims[claim] = value.clone();
        refused(&app, &valid_hs256(&claims)).await;
    }
    // Registered string claims of the wrong type, too.
    for (claim, value) in [
        ("sub", json!(1)),
        ("role", json!(["admin"])),
        ("aud", json!(5)),
        ("iss", json!({})),
    ] {
        let mut claims = good_claims();
        claims[claim] = value;
        assert_eq!(refused(&app, &valid_hs256(&claims)).await, "invalid claims");
    }
}

#[tokio::test]
async fn duplicate_json_keys() {
    let app = app(hs256());
    // In the header: which alg would win?
    let header = r#"{"alg":"HS256","alg":"none","typ":"JWT"}"#;
    refused(
        &app,
        &forge(header, &good_claims().to_string(), |m| hmac(m, SECRET)),
    )
    .await;
    // In the claims: which exp, which role?
    for payload in [
        format!(r#"{{"sub":"a","exp":{},"exp":{}}}"#, NOW - 100, NOW + 600),
        format!(
            r#"{{"sub":"a","role":"user","role":"admin","exp":{}}}"#,
            NOW + 600
        ),
    ] {
        refused(
            &app,
            &forge(r#"{"alg":"HS256","typ":"JWT"}"#, &payload, |m| {
                hmac(m, SECRET)
            }),
        )
        .await;
    }
}

#[tokio::test]
async fn non_canonical_base64url() {
    let app = app(hs256());
    // Bytes whose base64 needs the 62nd and 63rd letters, so alphabets differ.
    // And a length that needs padding, so a padded spelling differs.
    let mut claims = good_claims();
    let mut note = "~~~???>>>".to_owned();
    loop {
        claims["note"] = json!(note);
        if !claims.to_string().len().is_multiple_of(3) {
            break;
        }
        note.push('~');
    }
    let good = valid_hs256(&claims);
    assert_eq!(try_token(&app, &good).await.0, StatusCode::OK);
    let parts: Vec<&str> = good.split('.').collect();
    let payload = claims.to_string();
    let standard = STANDARD.encode(&payload).trim_end_matches('=').to_owned();
    assert_ne!(
        standard, parts[1],
        "the test needs + or / in the standard spelling"
    );
    let mut cases = vec![
        // Padding.
        format!("{}.{}.{}", parts[0], URL_SAFE.encode(&payload), parts[2]),
        format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
        format!("{}.{}.{}==", parts[0], parts[1], parts[2]),
        // The standard alphabet's + and /.
        format!("{}.{standard}.{}", parts[0], parts[2]),
        // Whitespace inside.
        format!("{}.{} .{}", parts[0], parts[1], parts[2]),
    ];
    // Non-zero trailing bits in the signature: the same bytes, spelled differently.
    let mut sig = parts[2].to_owned();
    let last = sig.pop().unwrap();
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let pos = alphabet.iter().position(|c| *c == last as u8).unwrap();
    sig.push(alphabet[pos | 1] as char);
    if sig != parts[2] {
        cases.push(format!("{}.{}.{sig}", parts[0], parts[1]));
    }
    for (i, token) in cases.iter().enumerate() {
        let (status, _) = try_token(&app, token).await;
        assert!(status.is_client_error(), "case {i}: {status}");
    }
}

#[tokio::test]
async fn enormous_and_odd_shaped_tokens() {
    let app = app(hs256());
    let huge_claims = json!({"sub": "a", "exp": NOW + 600, "pad": "x".repeat(1024 * 1024)});
    refused(&app, &valid_hs256(&huge_claims)).await;
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    refused(
        &app,
        &forge(r#"{"alg":"HS256","typ":"JWT"}"#, &deep, |m| hmac(m, SECRET)),
    )
    .await;
    for token in [
        "a.b.c.d.e".to_owned(),
        format!("{}.{}", valid_hs256(&good_claims()), "extra"),
        "\u{e9}t\u{e9}.\u{e9}.\u{e9}".to_owned(),
        "e30.e30.e30".to_owned(),
        "bnVsbA.bnVsbA.bnVsbA".to_owned(),
    ] {
        refused(&app, &token).await;
    }
}

#[tokio::test]
async fn algorithm_substitution_between_asymmetric_keys() {
    // A token claiming another asymmetric algorithm than the key's: refused before any
    // signature check.
    let app = app(es256());
    for alg in ["ES384", "EdDSA", "RS256", "PS256", "ES512"] {
        let header =
            json!({"alg": alg, "typ": "JWT", "kid": es256().key_id().unwrap()}).to_string();
        let token = forge(&header, &good_claims().to_string(), |_| vec![7; 64]);
        refused(&app, &token).await;
    }
}
