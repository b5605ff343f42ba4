//! The OpenAPI 3.1 document of Keycard's own routes, served at [`OPENAPI_PATH`].
//!
//! The document is written by hand (`openapi.json` beside this file), the way the SPEC
//! is: every status code and error code of every operation, the request bodies of both
//! grant types in both media types, and the links a client follows (log in → `/me` →
//! revoke → refused). A test holds it to the router: every operation it lists is
//! served, every route served is listed, and every error code the code can answer is
//! in it. A generator (`utoipa`) would have put a proc-macro and a runtime model into a
//! binary meant for boards, to produce the same document from annotations that would
//! need the same review.
//!
//! [`document`] cuts it to what one server serves: no `/token`, `/revoke` or revocation
//! feed on a verify-only node, no JWKS under an HMAC secret, and the forward-auth and
//! identity headers under the names configured. In gateway mode Keycard serves no
//! document: `/openapi.json` is then the upstream's path (`keycard openapi` prints the
//! whole document instead, [`full`]).
//!
//! ```
//! use keycard::server::{ForwardAuthHeaders, IdentityHeaders, openapi};
//!
//! let doc = openapi::document(
//!     &["/me", "/healthz", "/readyz", "/auth/verify", openapi::OPENAPI_PATH],
//!     &ForwardAuthHeaders::traefik(),
//!     &IdentityHeaders::default(),
//! );
//! let doc: serde_json::Value = serde_json::from_slice(&doc).unwrap();
//! assert!(doc["paths"].get("/token").is_none());
//! assert_eq!(doc["components"]["parameters"]["OriginalUri"]["name"], "x-forwarded-uri");
//! ```

use bytes::Bytes;
use serde_json::Value;

use crate::server::forward_auth::ForwardAuthHeaders;
use crate::server::gateway::IdentityHeaders;

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/openapi.json";

/// The whole document, as written: every operation any configuration serves.
const FULL: &str = include_str!("openapi.json");

/// The operation methods of an OpenAPI path item.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The whole document (every operation some configuration serves, the default header
/// names), for people: indented, this build's version. `keycard openapi` prints it.
pub fn full() -> String {
    // As written, in its order (a `serde_json::Value` would sort the keys).
    FULL.trim_end().replacen(
        r#""version": "0.0.0""#,
        &format!(r#""version": "{}""#, env!("CARGO_PKG_VERSION")),
        1,
    )
}

fn set_version(doc: &mut Value) {
    if let Some(version) = doc.pointer_mut("/info/version") {
        *version = Value::from(env!("CARGO_PKG_VERSION"));
    }
}

/// The document for a server that serves `paths`: the other paths left out (with the
/// links into their operations), the version this build's, and the forward-auth and
/// identity header names those configured.
pub fn document(paths: &[&str], forward: &ForwardAuthHeaders, identity: &IdentityHeaders) -> Bytes {
    let Ok(mut doc) = serde_json::from_str::<Value>(FULL) else {
        // The test below parses it; a build whose document does not parse never ships.
        return Bytes::from_static(FULL.as_bytes());
    };
    set_version(&mut doc);
    if let Some(Value::Object(items)) = doc.get_mut("paths") {
        items.retain(|path, _| paths.contains(&path.as_str()));
    }
    let served = operation_ids(&doc);
    prune_links(&mut doc, &served);
    let rename = |doc: &mut Value, pointer: &str, name: &str| {
        if let Some(v) = doc.pointer_mut(pointer) {
            *v = Value::from(name);
        }
    };
    rename(
        &mut doc,
        "/components/parameters/OriginalUri/name",
        forward.uri_header().as_str(),
    );
    rename(
        &mut doc,
        "/components/parameters/OriginalMethod/name",
        forward.method_header().as_str(),
    );
    if let Some(Value::Object(headers)) =
        doc.pointer_mut("/components/responses/ForwardAuthAllowed/headers")
    {
        let defaults = [
            IdentityHeaders::DEFAULT_USER,
            IdentityHeaders::DEFAULT_ROLE,
            IdentityHeaders::DEFAULT_CLAIMS,
        ];
        for (default, name) in defaults.iter().zip(identity.names()) {
            if let Some(header) = headers.remove(*default) {
                headers.insert(name.as_str().to_owned(), header);
            }
        }
    }
    serde_json::to_vec(&doc).map_or_else(|_| Bytes::from_static(FULL.as_bytes()), Bytes::from)
}

/// Each path's operations, as `(path, method, operation)`.
fn operations(doc: &Value) -> impl Iterator<Item = (&str, &'static str, &Value)> {
    doc.get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter_map(move |m| item.get(*m).map(|op| (path.as_str(), *m, op)))
        })
}

fn operation_ids(doc: &Value) -> Vec<String> {
    operations(doc)
        .filter_map(|(_, _, op)| op.get("operationId")?.as_str().map(str::to_owned))
        .collect()
}

/// Removes the links whose target operation is not in the document.
fn prune_links(doc: &mut Value, served: &[String]) {
    let Some(Value::Object(items)) = doc.get_mut("paths") else {
        return;
    };
    for item in items.values_mut() {
        for method in METHODS {
            let Some(Value::Object(responses)) =
                item.get_mut(method).and_then(|op| op.get_mut("responses"))
            else {
                continue;
            };
            for response in responses.values_mut() {
                if let Some(Value::Object(links)) = response.get_mut("links") {
                    links.retain(|_, link| {
                        link.get("operationId")
                            .and_then(Value::as_str)
                            .is_some_and(|id| served.iter().any(|s| s == id))
                    });
                }
            }
        }
    }
}

/// The `(path, method)` of every operation in `doc`, methods upper-case.
#[cfg(test)]
pub(crate) fn listed(doc: &Value) -> Vec<(String, String)> {
    operations(doc)
        .map(|(path, method, _)| (path.to_owned(), method.to_ascii_uppercase()))
        .collect()
}
