//! The claims a Keycard token carries.

use serde::de::{self, DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Claims beyond the registered ones: whatever else the token's payload holds.
pub type Extra = serde_json::Map<String, serde_json::Value>;

/// The `aud` claim: one audience or several (RFC 7519 §4.1.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience, `"aud": "api"`.
    One(String),
    /// Several audiences, `"aud": ["api", "admin"]`.
    Many(Vec<String>),
}

impl Audience {
    /// Whether `aud` is, or contains, `wanted`.
    pub fn contains(&self, wanted: &str) -> bool {
        match self {
            Audience::One(a) => a == wanted,
            Audience::Many(all) => all.iter().any(|a| a == wanted),
        }
    }
}

/// The verified claims of a token.
///
/// `E` holds the application's own claims: any type that deserializes from the
/// payload's remaining members. By default it is [`Extra`], a JSON map of all of them.
///
/// Tokens issued by Keycard carry `sub`, `username`, `role`, `iat`, `exp`, `jti`,
/// `sid`, and `iss`/`aud` when configured. Tokens signed elsewhere (Node's
/// `jsonwebtoken` with `{username, role}`) verify too, so every claim but `exp` is
/// optional here.
///
/// The claims are shared, not copied: a clone (into a request's extensions, out of the
/// verified-token cache, into a handler's arguments) is one reference count.
pub struct Claims<E = Extra>(Arc<Fields<E>>);

/// What a [`Claims`] holds.
#[derive(Serialize, Deserialize)]
struct Fields<E> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    role: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "numeric_date"
    )]
    iat: Option<u64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "numeric_date"
    )]
    nbf: Option<u64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "numeric_date"
    )]
    exp: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aud: Option<Audience>,
    #[serde(flatten)]
    extra: E,
}

impl<E> Clone for Claims<E> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<E: std::fmt::Debug> std::fmt::Debug for Claims<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &*self.0;
        f.debug_struct("Claims")
            .field("sub", &c.sub)
            .field("username", &c.username)
            .field("role", &c.role)
            .field("iat", &c.iat)
            .field("nbf", &c.nbf)
            .field("exp", &c.exp)
            .field("jti", &c.jti)
            .field("sid", &c.sid)
            .field("iss", &c.iss)
            .field("aud", &c.aud)
            .field("extra", &c.extra)
            .finish()
    }
}

impl<E: Serialize> Serialize for Claims<E> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de, E: Deserialize<'de>> Deserialize<'de> for Claims<E> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Fields::deserialize(d).map(|fields| Self(Arc::new(fields)))
    }
}

impl<E> Claims<E> {
    /// Who the token is about: `sub`, or `username` for Express-era tokens without `sub`.
    pub fn subject(&self) -> Option<&str> {
        self.0.sub.as_deref().or(self.0.username.as_deref())
    }
    /// The `username` claim.
    pub fn username(&self) -> Option<&str> {
        self.0.username.as_deref()
    }
    /// The `role` claim.
    pub fn role(&self) -> Option<&str> {
        self.0.role.as_deref()
    }
    /// Issued at (`iat`), seconds since the epoch.
    pub fn issued_at(&self) -> Option<u64> {
        self.0.iat
    }
    /// Not before (`nbf`), seconds since the epoch.
    pub fn not_before(&self) -> Option<u64> {
        self.0.nbf
    }
    /// Expires at (`exp`), seconds since the epoch. Always present on a verified token.
    pub fn expires_at(&self) -> Option<u64> {
        self.0.exp
    }
    /// The token's unique id (`jti`).
    pub fn token_id(&self) -> Option<&str> {
        self.0.jti.as_deref()
    }
    /// The login session id (`sid`).
    pub fn session_id(&self) -> Option<&str> {
        self.0.sid.as_deref()
    }
    /// The issuer (`iss`).
    pub fn issuer(&self) -> Option<&str> {
        self.0.iss.as_deref()
    }
    /// The audience (`aud`).
    pub fn audience(&self) -> Option<&Audience> {
        self.0.aud.as_ref()
    }
    /// The application's own claims.
    pub fn extra(&self) -> &E {
        &self.0.extra
    }
}

#[cfg(test)]
impl<E> Claims<E> {
    /// Whether both are the same claims in memory (one verification's), not copies.
    pub(crate) fn shares(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Claims<Extra> {
    /// Re-reads the application's own claims as `T`.
    pub(crate) fn typed<T: DeserializeOwned>(&self) -> Result<Claims<T>, serde_json::Error> {
        let extra = T::deserialize(serde_json::Value::Object(self.0.extra.clone()))?;
        Ok(Claims(Arc::new(Fields {
            sub: self.0.sub.clone(),
            username: self.0.username.clone(),
            role: self.0.role.clone(),
            iat: self.0.iat,
            nbf: self.0.nbf,
            exp: self.0.exp,
            jti: self.0.jti.clone(),
            sid: self.0.sid.clone(),
            iss: self.0.iss.clone(),
            aud: self.0.aud.clone(),
            extra,
        })))
    }
}

/// The claims Keycard signs into a token it issues.
#[derive(Serialize)]
pub(crate) struct IssuedClaims<'a> {
    pub sub: &'a str,
    pub username: &'a str,
    pub role: &'a str,
    pub iat: u64,
    pub exp: u64,
    pub jti: &'a str,
    pub sid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<&'a str>,
}

/// A NumericDate (RFC 7519 §2): a JSON number of seconds, possibly fractional. Strings,
/// negative, and non-finite numbers are refused.
fn numeric_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    if let Some(v) = n.as_u64() {
        return Ok(Some(v));
    }
    match n.as_f64() {
        Some(f) if (0.0..1e15).contains(&f) => Ok(Some(f as u64)),
        _ => Err(de::Error::custom(
            "a date must be a non-negative number of seconds",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn express_era_payload_reads() {
        let c: Claims =
            serde_json::from_str(r#"{"username":"alice","role":"admin","iat":1,"exp":2}"#).unwrap();
        assert_eq!(c.subject(), Some("alice"));
        assert_eq!(c.role(), Some("admin"));
        assert_eq!(c.expires_at(), Some(2));
        assert!(c.extra().is_empty());
    }

    #[test]
    fn fractional_dates_floor_and_strings_fail() {
        let c: Claims = serde_json::from_str(r#"{"exp":2.9}"#).unwrap();
        assert_eq!(c.expires_at(), Some(2));
        assert!(serde_json::from_str::<Claims>(r#"{"exp":"2"}"#).is_err());
        assert!(serde_json::from_str::<Claims>(r#"{"exp":-1}"#).is_err());
        assert!(serde_json::from_str::<Claims>(r#"{"exp":null}"#).is_err());
    }

    #[test]
    fn duplicate_registered_claims_are_refused() {
        assert!(serde_json::from_str::<Claims>(r#"{"exp":1,"exp":99999999999}"#).is_err());
        assert!(serde_json::from_str::<Claims>(r#"{"role":"user","role":"admin"}"#).is_err());
    }

    #[test]
    fn audience_one_or_many() {
        let c: Claims = serde_json::from_str(r#"{"aud":["a","b"]}"#).unwrap();
        assert!(c.audience().unwrap().contains("b"));
        let c: Claims = serde_json::from_str(r#"{"aud":"a"}"#).unwrap();
        assert!(c.audience().unwrap().contains("a"));
        assert!(!c.audience().unwrap().contains("b"));
    }

    #[test]
    fn extra_claims_become_typed() {
        #[derive(Deserialize)]
        struct Mine {
            tenant: String,
        }
        let c: Claims = serde_json::from_str(r#"{"sub":"a","tenant":"acme","exp":5}"#).unwrap();
        let t = c.typed::<Mine>().unwrap();
        assert_eq!(t.extra().tenant, "acme");
        assert_eq!(t.subject(), Some("a"));
    }
}
