//! TLS to the database: libpq's `sslmode` and `sslrootcert` read from the URL, and the
//! rustls connector (feature `postgres-tls`).
//!
//! tokio-postgres reads `sslmode` only as `disable`, `prefer` or `require`, and refuses
//! `verify-ca`, `verify-full` and `sslrootcert`, which are what a libpq URL copied from a
//! cloud console holds. They are taken out of the URL here, before tokio-postgres parses
//! the rest:
//!
//! - `require`, `verify-ca` and `verify-full` all mean TLS with the server's certificate
//!   verified in full: its chain to a trusted CA and the host name. rustls has no mode
//!   that skips either, so `require` is as strict as libpq's `verify-full` (libpq's own
//!   `require` checks nothing unless a root certificate is present).
//! - `disable`, `allow` and `prefer` (libpq's default, and so the default here) connect
//!   without TLS. Keycard offers no encryption that does not check whom it talks to:
//!   that guards against a passive listener only, and invites trusting it.
//! - `sslrootcert=FILE` trusts exactly the CA certificates in `FILE` (PEM), as libpq does;
//!   `sslrootcert=system` the system's roots. Without it, the roots the caller gives (in
//!   `keycard serve`, the system's and `--ca-file`'s).

use std::path::PathBuf;

use crate::error::{Error, ErrorKind};

/// What the URL asks of TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsSettings {
    /// TLS with the certificate verified (`require`, `verify-ca`, `verify-full`).
    pub(crate) required: bool,
    /// `sslrootcert`: whom to trust instead of the caller's roots.
    pub(crate) root_cert: Option<RootCert>,
}

/// `sslrootcert`'s value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RootCert {
    /// `sslrootcert=system`: the system's roots.
    System,
    /// A PEM file of CA certificates, trusted alone.
    File(PathBuf),
}

fn malformed(why: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::InvalidConfig,
        format!("the database URL is malformed: {why}"),
    )
}

/// Takes `sslmode` and `sslrootcert` out of `url` (either form: `postgres://…?k=v&…`
/// or libpq's `k=v k=v`); returns the rest, for tokio-postgres, and what they asked.
pub(crate) fn split(url: &str) -> Result<(String, TlsSettings), Error> {
    let mut mode = None;
    let mut root_cert = None;
    let mut take = |key: &str, value: String| -> Result<bool, Error> {
        match key {
            "sslmode" => mode = Some(value),
            "sslrootcert" => root_cert = Some(value),
            // libpq settings Keycard does not implement: refused by name rather than
            // with tokio-postgres's "invalid connection string", and never ignored.
            "sslcert" | "sslkey" | "sslpassword" | "sslcrl" | "sslcrldir" => {
                return Err(malformed(format!(
                    "{key} is not supported (TLS to the database verifies the server; \
                     client certificates and CRLs are not implemented)"
                )));
            }
            _ => return Ok(false),
        }
        Ok(true)
    };
    let mut rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        match url.split_once('?') {
            None => url.to_owned(),
            Some((base, query)) => {
                let mut kept = Vec::new();
                for pair in query.split('&').filter(|p| !p.is_empty()) {
                    let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                    let value = percent_encoding::percent_decode_str(value)
                        .decode_utf8()
                        .map_err(|_| malformed(format!("{key}: not UTF-8")))?;
                    if !take(key, value.into_owned())? {
                        kept.push(pair);
                    }
                }
                if kept.is_empty() {
                    base.to_owned()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
        }
    } else {
        let mut kept = Vec::new();
        for (key, value, raw) in key_values(url)? {
            if !take(key, value)? {
                kept.push(raw);
            }
        }
        kept.join(" ")
    };
    if mode.is_none() && root_cert.is_none() {
        // Nothing taken: the URL as written (its spacing too).
        rest = url.to_owned();
    }
    let required = match mode.as_deref() {
        None | Some("disable" | "allow" | "prefer") => false,
        Some("require" | "verify-ca" | "verify-full") => true,
        Some(other) => {
            return Err(malformed(format!(
                "sslmode={other}: expected disable, allow, prefer, require, verify-ca or verify-full"
            )));
        }
    };
    let root_cert = match root_cert.as_deref() {
        None => None,
        Some("") => return Err(malformed("sslrootcert is empty")),
        Some("system") => Some(RootCert::System),
        Some(path) => Some(RootCert::File(PathBuf::from(path))),
    };
    if root_cert.is_some() && !required {
        return Err(malformed(
            "sslrootcert without sslmode=require (or verify-full): TLS would not be used",
        ));
    }
    Ok((
        rest,
        TlsSettings {
            required,
            root_cert,
        },
    ))
}

/// libpq's `key = value` pairs: each key, its value (unquoted), and the pair as written.
fn key_values(text: &str) -> Result<Vec<(&str, String, &str)>, Error> {
    let mut out = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let start = rest;
        let eq = rest
            .find('=')
            .ok_or_else(|| malformed(format!("{:?}: expected key=value", start.trim())))?;
        let (key, after) = rest.split_at(eq);
        let key = key.trim();
        let mut chars = after.get(1..).unwrap_or("").trim_start().char_indices();
        let after = after.get(1..).unwrap_or("").trim_start();
        let mut value = String::new();
        let end = match chars.next() {
            Some((_, '\'')) => {
                let mut end = None;
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => value.extend(chars.next().map(|(_, c)| c)),
                        '\'' => {
                            end = Some(i + 1);
                            break;
                        }
                        c => value.push(c),
                    }
                }
                end.ok_or_else(|| malformed(format!("{key}: an unterminated quote")))?
            }
            _ => {
                let end = after.find(char::is_whitespace).unwrap_or(after.len());
                value.push_str(after.get(..end).unwrap_or(""));
                end
            }
        };
        let consumed = start.len() - after.len() + end;
        let raw = start.get(..consumed).unwrap_or(start);
        out.push((key, value, raw));
        rest = start.get(consumed..).unwrap_or("").trim_start();
    }
    Ok(out)
}

/// The connector for a URL that asks for TLS: `settings`' `sslrootcert`, else `trust`,
/// else the system's roots.
#[cfg(feature = "postgres-tls")]
pub(crate) fn connector(
    settings: &TlsSettings,
    trust: Option<&crate::tls::TlsClient>,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, Error> {
    use crate::tls::TlsClient;
    let client = match (&settings.root_cert, trust) {
        (Some(RootCert::File(path)), _) => TlsClient::only_ca_file(path, "sslrootcert")?,
        (Some(RootCert::System), _) | (None, None) => TlsClient::system()?,
        (None, Some(trust)) => trust.clone(),
    };
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(
        (*client.config()).clone(),
    ))
}

/// A URL that asks for TLS, in a build without it.
#[cfg(not(feature = "postgres-tls"))]
pub(crate) fn refuse() -> Error {
    Error::new(
        ErrorKind::InvalidConfig,
        "the database URL asks for TLS (sslmode=require), but this keycard was built \
         without TLS to PostgreSQL (cargo feature \"postgres-tls\")",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(url: &str) -> (String, TlsSettings) {
        match split(url) {
            Ok(out) => out,
            Err(e) => panic!("{url}: {e}"),
        }
    }

    fn refused(url: &str) -> String {
        match split(url) {
            Ok(out) => panic!("{url}: accepted as {out:?}"),
            Err(e) => e.to_string(),
        }
    }

    const PLAIN: TlsSettings = TlsSettings {
        required: false,
        root_cert: None,
    };

    #[test]
    fn a_url_without_tls_settings_is_passed_through_unchanged() {
        for url in [
            "postgres://keycard@db/keycard",
            "postgresql://keycard:secret@db:5433/keycard?connect_timeout=2&application_name=x",
            "host=db user=keycard dbname=keycard",
            "host=db  password='it\\'s quoted'   dbname=keycard",
        ] {
            assert_eq!(ok(url), (url.to_owned(), PLAIN), "{url}");
        }
    }

    #[test]
    fn every_libpq_mode_maps_to_verified_tls_or_none() {
        for (mode, required) in [
            ("disable", false),
            ("allow", false),
            ("prefer", false),
            ("require", true),
            ("verify-ca", true),
            ("verify-full", true),
        ] {
            let (rest, s) = ok(&format!("postgres://u@db/k?sslmode={mode}"));
            assert_eq!(rest, "postgres://u@db/k", "{mode}");
            assert_eq!(s.required, required, "{mode}");
            let (rest, s) = ok(&format!("host=db sslmode={mode} user=u"));
            assert_eq!(rest, "host=db user=u", "{mode}");
            assert_eq!(s.required, required, "{mode}");
        }
        assert!(refused("postgres://u@db/k?sslmode=verify_full").contains("sslmode=verify_full"));
        assert!(refused("host=db sslmode=").contains("sslmode="));
    }

    #[test]
    fn sslrootcert_is_taken_out_and_decoded_in_both_forms() {
        let (rest, s) = ok(
            "postgres://u@db/k?connect_timeout=2&sslmode=verify-full&sslrootcert=%2Fetc%2Fca%20x.pem",
        );
        assert_eq!(rest, "postgres://u@db/k?connect_timeout=2");
        assert_eq!(
            s,
            TlsSettings {
                required: true,
                root_cert: Some(RootCert::File("/etc/ca x.pem".into())),
            }
        );
        let (rest, s) = ok("host=db  sslrootcert = '/etc/ca x.pem' sslmode=require dbname=k");
        assert_eq!(rest, "host=db dbname=k");
        assert_eq!(s.root_cert, Some(RootCert::File("/etc/ca x.pem".into())));
        let (_, s) = ok("postgres://u@db/k?sslmode=require&sslrootcert=system");
        assert_eq!(s.root_cert, Some(RootCert::System));
    }

    #[test]
    fn a_root_certificate_without_tls_or_a_broken_pair_is_refused() {
        assert!(refused("postgres://u@db/k?sslrootcert=/ca.pem").contains("without sslmode"));
        assert!(refused("host=db sslrootcert=/ca.pem").contains("without sslmode"));
        assert!(refused("postgres://u@db/k?sslmode=require&sslrootcert=").contains("empty"));
        assert!(refused("host=db sslrootcert='/ca.pem").contains("unterminated"));
        assert!(refused("host=db nonsense").contains("key=value"));
    }

    #[test]
    fn client_certificates_are_refused_by_name_not_ignored() {
        for key in ["sslcert", "sslkey", "sslpassword", "sslcrl", "sslcrldir"] {
            let why = refused(&format!("postgres://h/db?sslmode=require&{key}=/x"));
            assert!(why.contains(&format!("{key} is not supported")), "{why}");
            let why = refused(&format!("host=h sslmode=require {key}=/x"));
            assert!(why.contains(&format!("{key} is not supported")), "{why}");
        }
    }

    #[cfg(not(feature = "postgres-tls"))]
    #[test]
    fn a_build_without_postgres_tls_names_the_feature() {
        assert!(refuse().to_string().contains("\"postgres-tls\""));
    }
}
