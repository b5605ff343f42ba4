//! The claims a Keycard token carries.

use serde::de::{self, DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};

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
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims<E = Extra> {
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

impl<E> Claims<E> {
    /// Who the token is about: `sub`, or `username` for Express-era tokens without `sub`.
    pub fn subject(&self) -> Option<&str> {
        self.sub.as_deref().or(self.username.as_deref())
    }
    /// The `username` claim.
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }
    /// The `role` claim.
    pub fn role(&self) -> Option<&str> {
        self.role.as_deref()
    }
    /// Issued at (`iat`), seconds since the epoch.
    pub fn issued_at(&self) -> Option<u64> {
        self.iat
    }
    /// Not before (`nbf`), seconds since the epoch.
    pub fn not_before(&self) -> Option<u64> {
        self.nbf
    }
    /// Expires at (`exp`), seconds since the epoch. Always present on a verified token.
    pub fn expires_at(&self) -> Option<u64> {
        self.exp
    }
    /// The token's unique id (`jti`).
    pub fn token_id(&self) -> Option<&str> {
        self.jti.as_deref()
    }
    /// The login session id (`sid`).
    pub fn session_id(&self) -> Option<&str> {
        self.sid.as_deref()
    }
    /// The issuer (`iss`).
    pub fn issuer(&self) -> Option<&str> {
        self.iss.as_deref()
    }
    /// The audience (`aud`).
    pub fn audience(&self) -> Option<&Audience> {
        self.aud.as_ref()
    }
    /// The application's own claims.
    pub fn extra(&self) -> &E {
        &self.extra
    }
}

impl Claims<Extra> {
    /// Re-reads the application's own claims as `T`.
    pub(crate) fn typed<T: DeserializeOwned>(&self) -> Result<Claims<T>, serde_json::Error> {
        let extra = T::deserialize(serde_json::Value::Object(self.extra.clone()))?;
        Ok(Claims {
            sub: self.sub.clone(),
            username: self.username.clone(),
            role: self.role.clone(),
            iat: self.iat,
            nbf: self.nbf,
            exp: self.exp,
            jti: self.jti.clone(),
            sid: self.sid.clone(),
            iss: self.iss.clone(),
            aud: self.aud.clone(),
            extra,
        })
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
