//! The JWS compact serialization, read with the attacker in mind: three canonical
//! base64url parts, a JOSE header with only the members Keycard reads, the one key the
//! header selects, and the signature checked before the claims are decoded.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use crate::jwt::claims::Claims;
use crate::jwt::keys::{KeyAlgorithm, VerifyingKey};
use crate::jwt::verifier::TokenError;

/// The longest signature read, in bytes: an RSA-8192 signature. Anything longer can
/// match no key.
pub(crate) const MAX_SIGNATURE_LEN: usize = 1024;

/// The JOSE header members Keycard reads. Every other member is ignored: none of
/// them (`jku`, `x5u`, `x5c`, `jwk`) ever chooses a key. A duplicated `alg` or `kid`
/// is refused.
#[derive(Deserialize)]
struct JoseHeader<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(borrow, default, deserialize_with = "string")]
    kid: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "string")]
    typ: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "present")]
    crit: bool,
    #[serde(default, deserialize_with = "present")]
    b64: bool,
}

/// A member that, when there, is a string: `null` is none (RFC 7515 §4.1.4, §4.1.9), and
/// a `"kid": null` must not pass for a token without one.
fn string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Text<'a>(#[serde(borrow)] Cow<'a, str>);
    Text::deserialize(d).map(|t| Some(t.0))
}

/// True for a member that is there at all, whatever its value (`null` included).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| true)
}

/// Checks a compact JWS's signature with the one key its header selects (the header's
/// `alg` must be that key's), and only then reads its claims, once.
///
/// The header is read here rather than by `jsonwebtoken::decode_header`, whose
/// `Header` (a dozen owned fields and a flattened map of the rest) made up a fifth of
/// an HS256 verification; one buffer serves the header and then the payload.
///
/// `allowed`, when given, narrows the algorithms further: a token whose `alg` is not
/// among them is refused before any key is chosen.
pub(crate) fn verify_signed(
    keys: &[VerifyingKey],
    allowed: Option<&[KeyAlgorithm]>,
    token: &str,
) -> Result<Claims, TokenError> {
    verify_jws(keys, allowed, token, Type::Access)
}

/// What a JWS's header `typ` must be.
#[derive(Clone, Copy)]
pub(crate) enum Type {
    /// An access token: none, `JWT` or `at+jwt` (RFC 9068).
    Access,
    /// Exactly this (explicit typing, RFC 8725 §3.11): a document of another kind
    /// signed by the same key, such as the revocation feed, is never taken for an access
    /// token, nor one for it.
    #[cfg_attr(not(feature = "remote-jwks"), allow(dead_code))]
    Exactly(&'static str),
}

/// [`verify_signed`], for a payload of any type `T` and a header `typ` of `want`.
#[cfg_attr(not(feature = "remote-jwks"), allow(dead_code))]
pub(crate) fn verify_typed<T: serde::de::DeserializeOwned>(
    keys: &[VerifyingKey],
    token: &str,
    want: Type,
) -> Result<T, TokenError> {
    verify_jws(keys, None, token, want)
}

fn verify_jws<T: serde::de::DeserializeOwned>(
    keys: &[VerifyingKey],
    allowed: Option<&[KeyAlgorithm]>,
    token: &str,
    want: Type,
) -> Result<T, TokenError> {
    // Exactly three parts: header.payload.signature.
    let (message, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let (header, payload) = message.split_once('.').ok_or(TokenError::Malformed)?;
    if payload.contains('.') {
        return Err(TokenError::Malformed);
    }
    let mut buf = Vec::with_capacity(header.len().max(payload.len()) / 4 * 3 + 3);
    URL_SAFE_NO_PAD
        .decode_vec(header, &mut buf)
        .map_err(|_| TokenError::Malformed)?;
    let header: JoseHeader = serde_json::from_slice(&buf).map_err(|_| TokenError::Malformed)?;
    // RFC 7515 §4.1.11: Keycard understands no extension, so any `crit` fails; and an
    // unencoded payload (RFC 7797 `b64`) is never accepted.
    if header.crit || header.b64 {
        return Err(TokenError::Malformed);
    }
    let typed = match (want, header.typ.as_deref()) {
        (Type::Access, typ) => typ.is_none_or(accepted_type),
        (Type::Exactly(want), Some(typ)) => typ == want,
        (Type::Exactly(_), None) => false,
    };
    if !typed {
        return Err(TokenError::WrongType);
    }
    let alg = header
        .alg
        .parse::<jsonwebtoken::Algorithm>()
        .map_err(|_| TokenError::Malformed)?;
    if allowed.is_some_and(|allowed| !allowed.iter().any(|a| a.jwt() == alg)) {
        return Err(TokenError::AlgorithmNotAllowed);
    }
    let key = key_for(keys, alg, header.kid.as_deref())?;

    let mut sig = [0u8; MAX_SIGNATURE_LEN];
    let sig = match URL_SAFE_NO_PAD.decode_slice(signature, &mut sig) {
        Ok(len) => sig.get(..len).ok_or(TokenError::Malformed)?,
        Err(base64::DecodeSliceError::OutputSliceTooSmall) => {
            return Err(TokenError::BadSignature);
        }
        Err(base64::DecodeSliceError::DecodeError(_)) => return Err(TokenError::Malformed),
    };
    if !key.verifies(message.as_bytes(), sig) {
        return Err(TokenError::BadSignature);
    }

    buf.clear();
    URL_SAFE_NO_PAD
        .decode_vec(payload, &mut buf)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&buf).map_err(|_| TokenError::InvalidClaims)
}

/// `JWT` or `at+jwt` (RFC 9068), with or without `application/`, in any case (media
/// types compare without case, RFC 7515 §4.1.9).
fn accepted_type(typ: &str) -> bool {
    let typ = match typ.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => typ.get(12..).unwrap_or(""),
        _ => typ,
    };
    typ.eq_ignore_ascii_case("jwt") || typ.eq_ignore_ascii_case("at+jwt")
}

/// The key a token must verify against: same algorithm, and the same `kid` when the
/// token names one and a key of that id exists; a key without an id accepts any.
///
/// A `kid` that names no key at all is [`TokenError::UnknownKey`] (for a remote JWKS:
/// time to refetch), except for an HMAC token facing public keys, which is always
/// [`TokenError::AlgorithmNotAllowed`].
fn key_for<'k>(
    keys: &'k [VerifyingKey],
    alg: jsonwebtoken::Algorithm,
    kid: Option<&str>,
) -> Result<&'k VerifyingKey, TokenError> {
    let hmac = matches!(
        alg,
        jsonwebtoken::Algorithm::HS256
            | jsonwebtoken::Algorithm::HS384
            | jsonwebtoken::Algorithm::HS512
    );
    let known_kid = kid.is_none_or(|want| keys.iter().any(|k| k.key_id() == Some(want)));
    let mut fallback = None;
    let mut same_alg = false;
    for key in keys.iter().filter(|k| k.algorithm().jwt() == alg) {
        same_alg = true;
        match (kid, key.key_id()) {
            (Some(want), Some(have)) if want == have => return Ok(key),
            (None, _) | (_, None) => {
                fallback.get_or_insert(key);
            }
            _ => {}
        }
    }
    if let Some(key) = fallback {
        return Ok(key);
    }
    if !known_kid && !hmac {
        return Err(TokenError::UnknownKey);
    }
    Err(if same_alg {
        TokenError::UnknownKey
    } else {
        TokenError::AlgorithmNotAllowed
    })
}

/// The `iss` a compact JWS's payload claims, read before its signature is checked, only
/// to choose whose keys must check it: the caller then requires the verified claims to
/// name the same issuer. A payload that is not a JSON object, or names `iss` twice, is
/// [`TokenError::Malformed`].
pub(crate) fn claimed_issuer(token: &str) -> Result<Option<String>, TokenError> {
    #[derive(Deserialize)]
    struct Issuer<'a> {
        #[serde(borrow, default, deserialize_with = "string")]
        iss: Option<Cow<'a, str>>,
    }
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let json = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenError::Malformed)?;
    let claimed: Issuer = serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)?;
    Ok(claimed.iss.map(Cow::into_owned))
}
