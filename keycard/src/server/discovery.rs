//! Discovery: authorization server metadata (RFC 8414) at [`OAUTH_METADATA_PATH`], and
//! the minimal OpenID Connect discovery document at [`OPENID_CONFIGURATION_PATH`] that
//! verifiers read (Kubernetes, Kong, Envoy's and go-oidc's users): the issuer, where its
//! keys and its token endpoint are, the algorithm, the grant types. Nothing Keycard does
//! not implement is claimed: no authorization endpoint, no response types, no scopes, no
//! client authentication (`none`).
//!
//! Published by an issuer whose `iss` is an absolute `https://` URL without a path
//! (`https://auth.example.com`): its endpoints are then that origin's `/token` and
//! `/.well-known/jwks.json`. The OpenID document needs public keys, so it is published
//! only for EdDSA and ES256/ES384 keys, never under an HMAC secret.

use bytes::Bytes;
use http::Uri;
use serde_json::{Value, json};

/// RFC 8414 §3: where the metadata of an issuer without a path is.
pub const OAUTH_METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
/// OpenID Connect Discovery 1.0 §4.
pub const OPENID_CONFIGURATION_PATH: &str = "/.well-known/openid-configuration";

/// What an issuer publishes.
#[derive(Clone, Debug)]
pub(crate) struct Published {
    pub(crate) oauth: Bytes,
    pub(crate) openid: Option<Bytes>,
}

/// The origin endpoints are under when `iss` can be discovered: an absolute `https://`
/// URL with a host, no user information, no query, and no path but `/`.
pub(crate) fn origin(iss: &str) -> Option<String> {
    let uri: Uri = iss.parse().ok()?;
    let authority = uri.authority()?;
    let plain = uri.scheme_str() == Some("https")
        && !authority.as_str().contains('@')
        && uri.query().is_none()
        && matches!(uri.path(), "" | "/")
        && !iss.contains('#');
    plain.then(|| format!("https://{authority}"))
}

/// The documents of an issuer named `iss` signing with `alg`; `public_keys` when its
/// keys are published at the JWKS, `refresh` when it hands out refresh tokens. `None`
/// when `iss` is not discoverable (see [`origin`]).
pub(crate) fn documents(
    iss: &str,
    alg: &str,
    public_keys: bool,
    refresh: bool,
) -> Option<Published> {
    let origin = origin(iss)?;
    let mut grants = vec!["password"];
    if refresh {
        grants.push("refresh_token");
    }
    let mut oauth = json!({
        "issuer": iss,
        "token_endpoint": format!("{origin}/token"),
        "token_endpoint_auth_methods_supported": ["none"],
        "grant_types_supported": grants,
        "response_types_supported": [],
    });
    let jwks_uri = format!("{origin}/.well-known/jwks.json");
    if public_keys && let Value::Object(o) = &mut oauth {
        o.insert("jwks_uri".to_owned(), Value::from(jwks_uri.clone()));
    }
    let openid = public_keys.then(|| {
        json!({
            "issuer": iss,
            "jwks_uri": jwks_uri,
            "token_endpoint": format!("{origin}/token"),
            "token_endpoint_auth_methods_supported": ["none"],
            "grant_types_supported": grants,
            "response_types_supported": [],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [alg],
            "claims_supported": ["sub", "username", "role", "iss", "aud", "iat", "exp", "jti", "sid"],
        })
    });
    let bytes = |v: &Value| serde_json::to_vec(v).ok().map(Bytes::from);
    Some(Published {
        oauth: bytes(&oauth)?,
        openid: match openid {
            Some(doc) => Some(bytes(&doc)?),
            None => None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_https_issuers_are_discoverable() {
        assert_eq!(
            origin("https://auth.example.com").as_deref(),
            Some("https://auth.example.com")
        );
        assert_eq!(
            origin("https://auth.example.com:8443/").as_deref(),
            Some("https://auth.example.com:8443")
        );
        for not in [
            "keycard",
            "http://auth.example.com",
            "https://auth.example.com/tenant",
            "https://user@auth.example.com",
            "https://auth.example.com?x=1",
            "https://auth.example.com#x",
            "https://",
        ] {
            assert_eq!(origin(not), None, "{not}");
        }
    }

    #[test]
    fn the_documents_claim_only_what_keycard_does() {
        let p = documents("https://auth.example.com", "EdDSA", true, false).unwrap();
        let oauth: Value = serde_json::from_slice(&p.oauth).unwrap();
        assert_eq!(oauth["issuer"], "https://auth.example.com");
        assert_eq!(oauth["token_endpoint"], "https://auth.example.com/token");
        assert_eq!(
            oauth["jwks_uri"],
            "https://auth.example.com/.well-known/jwks.json"
        );
        assert_eq!(oauth["grant_types_supported"], json!(["password"]));
        assert!(oauth.get("authorization_endpoint").is_none());
        let openid: Value = serde_json::from_slice(&p.openid.unwrap()).unwrap();
        assert_eq!(
            openid["id_token_signing_alg_values_supported"],
            json!(["EdDSA"])
        );
        // HMAC: metadata without keys, and no OpenID document.
        let p = documents("https://auth.example.com/", "HS256", false, true).unwrap();
        let oauth: Value = serde_json::from_slice(&p.oauth).unwrap();
        assert_eq!(
            oauth["issuer"], "https://auth.example.com/",
            "exactly as configured"
        );
        assert!(oauth.get("jwks_uri").is_none());
        assert_eq!(
            oauth["grant_types_supported"],
            json!(["password", "refresh_token"])
        );
        assert!(p.openid.is_none());
    }
}
