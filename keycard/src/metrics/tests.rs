use super::*;
use crate::jwt::keys::SigningKey;
use crate::jwt::secret::Secret;
use crate::jwt::verifier::Verifier;

/// The value of the sample line `series` (name and labels exactly as encoded).
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn verifications_are_counted_by_outcome_and_reason() {
    let metrics = Metrics::install();
    let key = SigningKey::hs256(&Secret::random()).unwrap();
    let verifier = Verifier::new(key);
    let valid = r#"keycard_token_verifications_total{outcome="valid",reason="none"}"#;
    let malformed = r#"keycard_token_verifications_total{outcome="refused",reason="malformed"}"#;
    let before = metrics.encode(Format::Prometheus);
    assert!(verifier.verify("not-a-token").is_err());
    let after = metrics.encode(Format::Prometheus);
    // Other tests verify in parallel: at least this one's refusal.
    assert!(value(&after, malformed) >= value(&before, malformed) + 1.0);
    assert!(after.contains(valid));
}

#[test]
fn every_refusal_has_its_own_series() {
    let text = Metrics::install().encode(Format::Prometheus);
    for e in TokenError::ALL {
        let series = format!(
            r#"keycard_token_verifications_total{{outcome="refused",reason="{}"}}"#,
            e.code()
        );
        assert!(text.contains(&series), "{series}");
    }
}

#[test]
fn audit_events_move_their_counters_and_unknown_ones_nothing() {
    let metrics = Metrics::install();
    let series = r#"keycard_logins_total{outcome="queue_full"}"#;
    let before = value(&metrics.encode(Format::Prometheus), series);
    event("login.failure", "queue_full");
    event("user.add", "");
    let text = metrics.encode(Format::Prometheus);
    assert!(value(&text, series) >= before + 1.0);
    assert!(!text.contains("user.add"));
}

#[test]
fn openmetrics_ends_with_eof() {
    let text = Metrics::install().encode(Format::OpenMetrics);
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(text.contains("# TYPE keycard_logins counter"));
}
