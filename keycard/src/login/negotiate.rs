//! JSON or the bare token: what the client's `Accept` prefers.

use http::{HeaderMap, header};

/// The media type to answer with when the client prefers a bare token
/// (`application/jwt` or `text/plain`) over JSON; `None` for JSON.
pub(crate) fn bare_token_type(headers: &HeaderMap) -> Option<&'static str> {
    let accept = headers.get(header::ACCEPT)?.to_str().ok()?;
    let (mut json, mut jwt, mut text) = (0.0f32, 0.0f32, 0.0f32);
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
            })
            .next()
            .unwrap_or(1.0)
            .clamp(0.0, 1.0);
        match media.as_str() {
            "application/json" => json = json.max(q),
            "application/jwt" => jwt = jwt.max(q),
            "text/plain" => text = text.max(q),
            "application/*" => {
                json = json.max(q);
                jwt = jwt.max(q);
            }
            "text/*" => text = text.max(q),
            "*/*" => {
                json = json.max(q);
                jwt = jwt.max(q);
                text = text.max(q);
            }
            _ => {}
        }
    }
    // Ties go to JSON.
    if jwt > json && jwt >= text {
        Some("application/jwt")
    } else if text > json {
        Some("text/plain")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn accept(v: &str) -> Option<&'static str> {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        bare_token_type(&h)
    }

    #[test]
    fn accept_negotiation() {
        assert_eq!(bare_token_type(&HeaderMap::new()), None);
        assert_eq!(accept("*/*"), None);
        assert_eq!(accept("application/json"), None);
        assert_eq!(accept("application/jwt"), Some("application/jwt"));
        assert_eq!(accept("text/plain"), Some("text/plain"));
        assert_eq!(accept("text/plain, application/json"), None);
        assert_eq!(
            accept("application/json;q=0.5, text/plain"),
            Some("text/plain")
        );
        assert_eq!(
            accept("application/jwt, */*;q=0.1"),
            Some("application/jwt")
        );
        assert_eq!(accept("text/html"), None);
    }
}
