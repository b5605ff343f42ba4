//! The attack suite: one test per RFC 8725 attack class and per JWT-library CVE family,
//! each driven through the full `keycard serve` application. Every forged token must be
//! refused with 401 `invalid_token` and exactly the `error_description` of the check
//! that stops it, so that a refusal for the wrong reason fails the test; each attack
//! starts from a token its app accepts (the positive control), for every algorithm it
//! applies to. None may crash, hang, or get a 5xx. SECURITY.md maps each test to the
//! code that closes the hole.

use std::sync::Arc;

use axum::Router;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use http::StatusCode;
use serde_json::{Value, json};

use crate::clock::ManualClock;
use crate::jwt::{Issuer, KeyAlgorithm, SigningKey, TokenError, Verifier, VerifyingKey};
use crate::login::{Hasher, PasswordPolicy, TokenEndpoint};
use crate::server::App;
use crate::store::FileUserStore;
use crate::testing::{NOW, SECRET, forge, get_with, hmac, key, key_file, send};
use TokenError::*;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The `keycard serve` app with `key`, at a fixed time.
fn app_for(key: &SigningKey) -> Router {
    let clock = Arc::new(ManualClock::new(NOW));
    let dir = std::env::temp_dir();
    let store = Arc::new(FileUserStore::open(dir.join("keycard-attack-suite-none.json")).unwrap());
    let endpoint = TokenEndpoint::new(
        Issuer::new(key.clone()).with_clock(clock.clone()),
        store,
        Hasher::new(PasswordPolicy::danger_test_minimum()),
    );
    App::issuer(endpoint, Verifier::new(key.clone()).with_clock(clock)).into_router()
}

fn hs256() -> SigningKey {
    key()
}

/// The key files of every public-key family and curve: private, public.
const KEY_FILES: [(&str, &str); 4] = [
    ("p256.pem", "p256.pub.pem"),
    ("p384.pem", "p384.pub.pem"),
    ("ed25519.pem", "ed25519.pub.pem"),
    ("rsa2048.pem", "rsa2048.pub.pem"),
];

/// A key under attack: the app that verifies with it, and a way to sign real tokens
/// with it (the positive control).
struct Target {
    name: &'static str,
    app: Router,
    alg: jsonwebtoken::Algorithm,
    kid: Option<String>,
    encoding: jsonwebtoken::EncodingKey,
    /// The public key as PEM and as a JWK; `None` for the HMAC secret.
    public: Option<(Vec<u8>, String)>,
}

/// One target per algorithm: HS256, then the public-key ones. RSA keys only verify in
/// this build (they never sign), so the RSA app is a verify-only one, its control
/// tokens signed by jsonwebtoken.
fn targets() -> Vec<Target> {
    let hs = hs256();
    let mut all = vec![Target {
        name: hs.algorithm_name(),
        app: app_for(&hs),
        alg: jsonwebtoken::Algorithm::HS256,
        kid: None,
        encoding: hs.encoding().clone(),
        public: None,
    }];
    for (private, public) in KEY_FILES {
        let verifying = VerifyingKey::from_pem(&key_file(public)).unwrap();
        let jwk = verifying.jwk_json().unwrap();
        // RSA keys sign only through ring (feature rsa-signing), so they are checked
        // here as a verify-only node's, with jsonwebtoken's RSA forging the tokens.
        let (app, encoding) = match SigningKey::from_pkcs8_pem(&key_file(private)) {
            Ok(key)
                if !matches!(
                    key.algorithm(),
                    crate::jwt::KeyAlgorithm::RS256 | crate::jwt::KeyAlgorithm::PS256
                ) =>
            {
                (app_for(&key), key.encoding().clone())
            }
            _ => {
                let clock = Arc::new(ManualClock::new(NOW));
                let verifier = Verifier::from_keys(vec![verifying.clone()])
                    .unwrap()
                    .with_clock(clock);
                let encoding = rsa_encoding_key(&key_file(private));
                (App::verify_only(verifier).into_router(), encoding)
            }
        };
        all.push(Target {
            name: verifying.algorithm().name(),
            app,
            alg: verifying.algorithm().jwt(),
            kid: verifying.key_id().map(str::to_owned),
            encoding,
            public: Some((key_file(public), jwk)),
        });
    }
    all
}

/// jsonwebtoken's RSA signing key from a PKCS#8 PEM (it reads PKCS#1 DER).
fn rsa_encoding_key(pem: &[u8]) -> jsonwebtoken::EncodingKey {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    let key = rsa::PrivateKey::from_pkcs8_pem(std::str::from_utf8(pem).unwrap()).unwrap();
    jsonwebtoken::EncodingKey::from_rsa_der(key.to_pkcs1_der().unwrap().as_bytes())
}

/// The target of the algorithm `name`.
fn target(name: &str) -> Target {
    targets().into_iter().find(|t| t.name == name).unwrap()
}

impl Target {
    /// A token this target's key really signed, with these claims.
    fn sign(&self, claims: &Value) -> String {
        let mut header = jsonwebtoken::Header::new(self.alg);
        header.kid = self.kid.clone();
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

/// What the app answered a token with.
#[derive(Debug, PartialEq)]
enum Verdict {
    Accepted,
    /// 401 `invalid_token` with this `error_description`.
    Refused(String),
    /// Anything else: a status and body that no forged token may get.
    Other(StatusCode, String),
    /// Not even a valid header value: no request can carry it.
    Unsendable,
}

/// Sends `token` to `/me`.
async fn verdict(app: &Router, token: &str) -> Verdict {
    let credentials = format!("Bearer {token}");
    if http::HeaderValue::from_str(&credentials).is_err() {
        return Verdict::Unsendable;
    }
    let r = send(app, get_with("/me", &credentials)).await;
    let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    let why = v["error_description"].as_str().unwrap_or("").to_owned();
    match r.status {
        StatusCode::OK => Verdict::Accepted,
        StatusCode::UNAUTHORIZED
            if v["error"] == "invalid_token"
                && r.header("www-authenticate")
                    .contains(&format!("error_description=\"{why}\"")) =>
        {
            Verdict::Refused(why)
        }
        status => Verdict::Other(status, String::from_utf8_lossy(&r.body).into_owned()),
    }
}

/// Every case of one test, checked together so that a failure lists them all.
#[derive(Default)]
struct Cases {
    wrong: Vec<String>,
}

impl Cases {
    /// `token` must be refused for exactly `why`.
    async fn refused(&mut self, app: &Router, token: &str, why: TokenError, case: &str) {
        let got = verdict(app, token).await;
        if got != Verdict::Refused(why.description().to_owned()) {
            self.wrong
                .push(format!("{case}: want {why:?}, got {got:?}"));
        }
    }

    /// The positive control: `token` must be accepted.
    async fn accepted(&mut self, app: &Router, token: &str, case: &str) {
        let got = verdict(app, token).await;
        if got != Verdict::Accepted {
            self.wrong
                .push(format!("{case}: want it accepted, got {got:?}"));
        }
    }

    fn check(self) {
        assert!(self.wrong.is_empty(), "\n{}", self.wrong.join("\n"));
    }
}

fn good_claims() -> Value {
    json!({"sub": "alice", "username": "alice", "role": "admin", "iat": NOW, "exp": NOW + 600})
}

fn valid_hs256(payload: &Value) -> String {
    forge(r#"{"alg":"HS256","typ":"JWT"}"#, payload.to_string(), |m| {
        hmac(SECRET, m)
    })
}

#[tokio::test]
async fn control_every_algorithm_accepts_its_own_tokens() {
    // Without this, every "refused" below could pass for the wrong reason.
    let mut cases = Cases::default();
    for t in targets() {
        cases
            .accepted(&t.app, &t.sign(&good_claims()), t.name)
            .await;
    }
    for file in ["p256.pem", "p384.pem", "ed25519.pem"] {
        let key = SigningKey::from_pkcs8_pem(&key_file(file)).unwrap();
        let issued = Issuer::new(key.clone())
            .with_clock(Arc::new(ManualClock::new(NOW)))
            .issue("alice", "admin")
            .unwrap();
        cases.accepted(&app_for(&key), &issued.token, file).await;
    }
    let hs = app_for(&hs256());
    cases
        .accepted(&hs, &valid_hs256(&good_claims()), "forged HS256")
        .await;
    cases.check();
}

#[tokio::test]
async fn alg_none_in_every_spelling() {
    // RFC 8725 §2.1; CVE-2015-9235 family.
    let mut cases = Cases::default();
    for t in targets() {
        let (app, name) = (&t.app, t.name);
        cases.accepted(app, &t.sign(&good_claims()), name).await;
        // No algorithm Keycard knows: the header does not parse as one of its tokens.
        for alg in ["none", "None", "NONE", "nOnE", "none ", " none", ""] {
            let header = json!({"alg": alg, "typ": "JWT"}).to_string();
            let payload = good_claims().to_string();
            let unsigned = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
            let case = format!("{name} alg {alg:?}");
            cases
                .refused(app, &format!("{unsigned}."), Malformed, &case)
                .await;
            cases
                .refused(app, &format!("{unsigned}.AAAA"), Malformed, &case)
                .await;
            let signed = forge(&header, &payload, |m| hmac(SECRET, m));
            cases.refused(app, &signed, Malformed, &case).await;
        }
        // No alg at all.
        let token = forge(r#"{"typ":"JWT"}"#, good_claims().to_string(), |m| {
            hmac(SECRET, m)
        });
        cases.refused(app, &token, Malformed, name).await;
    }
    cases.check();
}

#[tokio::test]
async fn hmac_signed_with_the_public_key() {
    // RFC 8725 §2.1 (key confusion); CVE-2016-10555 family.
    let mut cases = Cases::default();
    for t in targets() {
        let Some((pem, jwk)) = &t.public else {
            continue;
        };
        cases
            .accepted(&t.app, &t.sign(&good_claims()), t.name)
            .await;
        for public in [pem.as_slice(), jwk.as_bytes()] {
            for alg in ["HS256", "HS384", "HS512"] {
                let header = json!({"alg": alg, "typ": "JWT", "kid": t.kid}).to_string();
                let token = forge(&header, good_claims().to_string(), |m| hmac(public, m));
                let case = format!("{} as {alg}", t.name);
                cases
                    .refused(&t.app, &token, AlgorithmNotAllowed, &case)
                    .await;
            }
        }
    }
    cases.check();
}

#[tokio::test]
async fn stripped_and_truncated_signatures() {
    let mut cases = Cases::default();
    for t in targets() {
        let (app, name) = (&t.app, t.name);
        let good = t.sign(&good_claims());
        cases.accepted(app, &good, name).await;
        let (input, sig) = good.rsplit_once('.').unwrap();
        let bytes = URL_SAFE_NO_PAD.decode(sig).unwrap();
        for (case, token, why) in [
            // Zero bytes of signature: decoded, and no match.
            ("empty signature", format!("{input}."), BadSignature),
            ("no signature", input.to_owned(), Malformed),
            // Whole groups of four characters, so that no trailing bits are involved.
            (
                "a group short",
                format!("{input}.{}", &sig[..(sig.len() / 4 - 1) * 4]),
                BadSignature,
            ),
            (
                "8 characters",
                format!("{input}.{}", &sig[..8]),
                BadSignature,
            ),
            (
                "doubled",
                format!("{input}.{}", b64(&[bytes.clone(), bytes.clone()].concat())),
                BadSignature,
            ),
            ("a fourth part", format!("{input}.{sig}."), Malformed),
            ("a leading dot", format!(".{input}.{sig}"), Malformed),
            ("two dots", "..".to_owned(), Malformed),
            ("one dot", ".".to_owned(), Malformed),
        ] {
            cases
                .refused(app, &token, why, &format!("{name} {case}"))
                .await;
        }
        // One character less: a length base64url cannot have, or one whose last
        // character carries bits that must be zero; either way no signature.
        let short = format!("{input}.{}", &sig[..sig.len() - 1]);
        let got = verdict(app, &short).await;
        if got != Verdict::Refused(Malformed.description().into())
            && got != Verdict::Refused(BadSignature.description().into())
        {
            cases.wrong.push(format!("{name} one short: {got:?}"));
        }
    }
    cases.check();
}

#[tokio::test]
async fn tampered_payloads() {
    let mut cases = Cases::default();
    for t in targets() {
        let (app, name) = (&t.app, t.name);
        let good = t.sign(&json!({"sub": "bob", "role": "user", "exp": NOW + 600}));
        cases.accepted(app, &good, name).await;
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
            cases.refused(app, &token, BadSignature, name).await;
        }
        // A payload swapped in from another valid token.
        let other = t.sign(&json!({"sub": "admin", "role": "admin", "exp": NOW + 600}));
        cases.accepted(app, &other, name).await;
        let token = format!(
            "{}.{}.{}",
            parts[0],
            other.split('.').nth(1).unwrap(),
            parts[2]
        );
        cases.refused(app, &token, BadSignature, name).await;
    }
    cases.check();
}

#[tokio::test]
async fn ecdsa_psychic_signatures() {
    // CVE-2022-21449: r = s = 0 verified in some ECDSA implementations.
    let mut cases = Cases::default();
    let es256 = target("ES256");
    let app = &es256.app;
    cases
        .accepted(app, &es256.sign(&good_claims()), "control")
        .await;
    let header =
        json!({"alg": "ES256", "typ": "JWT", "kid": es256.kid.as_deref().unwrap()}).to_string();
    let payload = good_claims().to_string();
    let order_n = p256_order();
    for (i, sig) in [
        vec![0u8; 64],
        [vec![0u8; 32], order_n.clone()].concat(),
        [order_n.clone(), order_n].concat(),
        vec![0xff; 64],
        // A DER-encoded signature where a raw r||s is due.
        vec![0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00],
    ]
    .into_iter()
    .enumerate()
    {
        let token = forge(&header, &payload, |_| sig.clone());
        cases
            .refused(app, &token, BadSignature, &format!("signature {i}"))
            .await;
    }
    cases.check();
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
    let mut cases = Cases::default();
    let es256 = target("ES256");
    let app = &es256.app;
    cases
        .accepted(app, &es256.sign(&good_claims()), "control")
        .await;
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
        let case = &kid[..kid.len().min(30)];
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": kid}).to_string();
        let token = forge(&header, good_claims().to_string(), |_| vec![1; 64]);
        cases.refused(app, &token, UnknownKey, case).await;
        let header = json!({"alg": "HS256", "typ": "JWT", "kid": kid}).to_string();
        let token = forge(&header, good_claims().to_string(), |m| hmac(b"guess", m));
        cases.refused(app, &token, AlgorithmNotAllowed, case).await;
    }
    // kid of the wrong type.
    let hs = app_for(&hs256());
    for kid in [json!(1), json!(null), json!(["a"]), json!({"a": 1})] {
        let header = json!({"alg": "HS256", "typ": "JWT", "kid": kid}).to_string();
        let token = forge(&header, good_claims().to_string(), |m| hmac(SECRET, m));
        cases
            .refused(&hs, &token, Malformed, &kid.to_string())
            .await;
    }
    cases.check();
}

#[tokio::test]
async fn key_carrying_headers_are_never_followed() {
    // RFC 8725 §3.10; CVE-2018-0114 (embedded jwk) family.
    let mut cases = Cases::default();
    let es256 = target("ES256");
    let app = &es256.app;
    cases
        .accepted(app, &es256.sign(&good_claims()), "control")
        .await;
    let attacker = SigningKey::generate(KeyAlgorithm::ES256).unwrap();
    let attacker_key = SigningKey::from_pkcs8_pem(attacker.pem.as_bytes()).unwrap();
    let jwk: Value = serde_json::from_str(&attacker.verifying_key.jwk_json().unwrap()).unwrap();
    for extra in [
        json!({"jwk": jwk}),
        json!({"jku": "http://127.0.0.1:1/jwks.json"}),
        json!({"x5u": "http://127.0.0.1:1/cert.pem"}),
        json!({"x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]}),
        json!({"jwk": jwk, "kid": es256.kid.as_deref().unwrap()}),
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
        let case = extra
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>();
        cases
            .refused(app, &token, BadSignature, &case.join("+"))
            .await;
    }
    cases.check();
}

#[tokio::test]
async fn crit_headers_are_refused() {
    // RFC 7515 §4.1.11: an extension the verifier does not understand must fail.
    let mut cases = Cases::default();
    let app = app_for(&hs256());
    let control = forge(
        json!({"alg": "HS256", "typ": "JWT", "urn:example:unknown": true}).to_string(),
        good_claims().to_string(),
        |m| hmac(SECRET, m),
    );
    cases.accepted(&app, &control, "control").await;
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
        let token = forge(&header, good_claims().to_string(), |m| hmac(SECRET, m));
        cases
            .refused(&app, &token, Malformed, &crit.to_string())
            .await;
    }
    cases.check();
}

#[tokio::test]
async fn wrongly_typed_time_claims() {
    let mut cases = Cases::default();
    let app = app_for(&hs256());
    cases
        .accepted(&app, &valid_hs256(&good_claims()), "control")
        .await;
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
        // Registered string claims of the wrong type, too.
        ("sub", json!(1)),
        ("role", json!(["admin"])),
        ("aud", json!(5)),
        ("iss", json!({})),
    ] {
        let mut claims = good_claims();
        claims[claim] = value.clone();
        cases
            .refused(
                &app,
                &valid_hs256(&claims),
                InvalidClaims,
                &format!("{claim} = {value}"),
            )
            .await;
    }
    cases.check();
}

#[tokio::test]
async fn duplicate_json_keys() {
    let mut cases = Cases::default();
    let app = app_for(&hs256());
    cases
        .accepted(&app, &valid_hs256(&good_claims()), "control")
        .await;
    // In the header: which alg would win?
    let header = r#"{"alg":"HS256","alg":"none","typ":"JWT"}"#;
    let token = forge(header, good_claims().to_string(), |m| hmac(SECRET, m));
    cases.refused(&app, &token, Malformed, "alg twice").await;
    // In the claims: which exp, which role?
    for (case, payload) in [
        (
            "exp twice",
            format!(r#"{{"sub":"a","exp":{},"exp":{}}}"#, NOW - 100, NOW + 600),
        ),
        (
            "role twice",
            format!(
                r#"{{"sub":"a","role":"user","role":"admin","exp":{}}}"#,
                NOW + 600
            ),
        ),
    ] {
        let token = forge(r#"{"alg":"HS256","typ":"JWT"}"#, &payload, |m| {
            hmac(SECRET, m)
        });
        cases.refused(&app, &token, InvalidClaims, case).await;
    }
    cases.check();
}

#[tokio::test]
async fn non_canonical_base64url() {
    let mut cases = Cases::default();
    let app = app_for(&hs256());
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
    cases.accepted(&app, &good, "control").await;
    let parts: Vec<&str> = good.split('.').collect();
    let payload = claims.to_string();
    let standard = STANDARD.encode(&payload).trim_end_matches('=').to_owned();
    assert_ne!(
        standard, parts[1],
        "the test needs + or / in the standard spelling"
    );
    let mut tokens = vec![
        (
            "padded payload",
            format!("{}.{}.{}", parts[0], URL_SAFE.encode(&payload), parts[2]),
        ),
        (
            "padded header",
            format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
        ),
        (
            "padded signature",
            format!("{}.{}.{}==", parts[0], parts[1], parts[2]),
        ),
        (
            "standard alphabet",
            format!("{}.{standard}.{}", parts[0], parts[2]),
        ),
    ];
    // Non-zero trailing bits in the signature: the same bytes, spelled differently.
    let mut sig = parts[2].to_owned();
    let last = sig.pop().unwrap();
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let pos = alphabet.iter().position(|c| *c == last as u8).unwrap();
    sig.push(alphabet[pos | 1] as char);
    if sig != parts[2] {
        tokens.push(("trailing bits", format!("{}.{}.{sig}", parts[0], parts[1])));
    }
    // The header is decoded first; the payload only once the signature, checked over
    // the text as sent, holds.
    for (case, token) in tokens {
        let why = match case {
            "padded payload" | "standard alphabet" => BadSignature,
            _ => Malformed,
        };
        cases.refused(&app, &token, why, case).await;
    }
    // A space splits the credentials: no token at all.
    let spaced = format!("{}.{} .{}", parts[0], parts[1], parts[2]);
    let got = verdict(&app, &spaced).await;
    if !matches!(&got, Verdict::Other(StatusCode::BAD_REQUEST, body) if body.contains("invalid_request"))
    {
        cases
            .wrong
            .push(format!("whitespace: want 400 invalid_request, got {got:?}"));
    }
    cases.check();
}

#[tokio::test]
async fn enormous_and_odd_shaped_tokens() {
    let mut cases = Cases::default();
    let app = app_for(&hs256());
    cases
        .accepted(&app, &valid_hs256(&good_claims()), "control")
        .await;
    // Past MAX_TOKEN_LEN, within the request head limit: the verifier refuses it.
    let long_claims = json!({"sub": "a", "exp": NOW + 600, "pad": "x".repeat(9 * 1024)});
    cases
        .refused(&app, &valid_hs256(&long_claims), Malformed, "9 KiB")
        .await;
    // Past the head limit: the server refuses it before any verifier sees it.
    let huge_claims = json!({"sub": "a", "exp": NOW + 600, "pad": "x".repeat(1024 * 1024)});
    let got = verdict(&app, &valid_hs256(&huge_claims)).await;
    if !matches!(&got, Verdict::Other(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, body) if body.contains("request_header_fields_too_large"))
    {
        cases
            .wrong
            .push(format!("a megabyte: want 431, got {got:?}"));
    }
    let deep = format!("{}{}", "[".repeat(3_000), "]".repeat(3_000));
    let token = forge(r#"{"alg":"HS256","typ":"JWT"}"#, &deep, |m| hmac(SECRET, m));
    cases.refused(&app, &token, InvalidClaims, "deep").await;
    for token in [
        "a.b.c.d.e".to_owned(),
        format!("{}.{}", valid_hs256(&good_claims()), "extra"),
        "e30.e30.e30".to_owned(),
        "bnVsbA.bnVsbA.bnVsbA".to_owned(),
    ] {
        cases.refused(&app, &token, Malformed, &token[..9]).await;
    }
    // Not ASCII: no header value carries it, or it is refused as malformed.
    let odd = "\u{e9}t\u{e9}.\u{e9}.\u{e9}";
    let got = verdict(&app, odd).await;
    if got != Verdict::Unsendable && got != Verdict::Refused(Malformed.description().into()) {
        cases.wrong.push(format!("not ASCII: {got:?}"));
    }
    cases.check();
}

#[tokio::test]
async fn algorithm_substitution_between_asymmetric_keys() {
    // A token claiming another algorithm than the key's: refused before any signature
    // check, for every key.
    let mut cases = Cases::default();
    for t in targets() {
        let (app, name) = (&t.app, t.name);
        cases.accepted(app, &t.sign(&good_claims()), name).await;
        for alg in [
            "HS256", "ES256", "ES384", "ES512", "EdDSA", "RS256", "PS256", "RS512",
        ] {
            if alg == name {
                continue;
            }
            let mut header = json!({"alg": alg, "typ": "JWT"});
            if let Some(kid) = &t.kid {
                header["kid"] = json!(kid);
            }
            let token = forge(header.to_string(), good_claims().to_string(), |_| {
                vec![7; 64]
            });
            // ES512 is no algorithm Keycard knows; the others are, and not this key's.
            let why = if alg == "ES512" {
                Malformed
            } else {
                AlgorithmNotAllowed
            };
            cases
                .refused(app, &token, why, &format!("{name} as {alg}"))
                .await;
        }
    }
    cases.check();
}
