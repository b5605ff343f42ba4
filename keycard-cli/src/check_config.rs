//! `keycard check-config`: the configuration resolved and checked exactly as `serve`
//! resolves it (flags, environment, config file; keys read, rules parsed, the store
//! opened read-only, a database reached), then printed with every secret redacted —
//! what `nginx -t` is to nginx. Exit 0, or 2 with the one line `serve` would print.

use keycard::duration::format_duration;

use crate::config::{Mode, ServeConfig};
use crate::stores::{self, Location};

pub async fn run(config: &ServeConfig, location: &Location) -> anyhow::Result<()> {
    let mut out = Vec::new();
    let mut line = |k: &str, v: String| out.push(format!("{k:<22} {v}"));
    line(
        "listen",
        format!("{}://{}", config.tls.scheme(), config.listen),
    );
    if let Some((cert, key)) = &config.tls.files {
        line(
            "tls",
            format!(
                "certificate {}, key {} [redacted], reloaded when changed",
                cert.display(),
                key.display()
            ),
        );
    }
    line(
        "ca file",
        config.tls.ca_file.as_ref().map_or_else(
            || "- (the system's roots)".to_owned(),
            |p| p.display().to_string(),
        ),
    );
    line(
        "metrics_listen",
        config
            .metrics_listen
            .clone()
            .unwrap_or_else(|| "off".to_owned()),
    );
    match &config.mode {
        Mode::Issuer { key, retired } => {
            let signing = match key.algorithm_name() {
                "HS256" => "HS256 with AUTHENTICATION_SECRET [redacted]".to_owned(),
                alg => format!("{alg}, key id {}", key.key_id().unwrap_or("-")),
            };
            line("mode", "issuer".to_owned());
            line("signing", signing);
            line("retired keys", retired.len().to_string());
            line("store", stores::check(location).await?);
            line("token ttl", format_duration(config.token_ttl));
            line(
                "refresh ttl",
                config.refresh_ttl.map_or("off".to_owned(), format_duration),
            );
            let rate =
                |r: Option<keycard::duration::Rate>| r.map_or("off".to_owned(), |r| r.to_string());
            line("rate limit per user", rate(config.rate_limit_user));
            line("rate limit per address", rate(config.rate_limit_ip));
            line("password policy", format!("{:?}", config.policy));
        }
        Mode::VerifyOnly {
            jwks_url,
            discover,
            refresh,
            refetch,
            feed,
        } => {
            line("mode", "verify-only".to_owned());
            line(
                "jwks",
                format!(
                    "{}{jwks_url} (every {}, refetch at most every {})",
                    if *discover {
                        "discovered from the metadata of "
                    } else {
                        ""
                    },
                    format_duration(*refresh),
                    format_duration(*refetch)
                ),
            );
            line(
                "revocation feed",
                match feed {
                    None => "off".to_owned(),
                    Some(f) => format!(
                        "{} (every {}, stale after {})",
                        f.url.as_deref().unwrap_or("beside the JWKS"),
                        format_duration(f.refresh),
                        f.max_stale.map_or("never".to_owned(), format_duration)
                    ),
                },
            );
        }
        Mode::Trusted => {
            line(
                "mode",
                "verify-only, [[trusted_issuer]] tables only".to_owned(),
            );
        }
    }
    for t in &config.trusted {
        line("trusted issuer", t.describe());
    }
    line(
        "issuer (iss)",
        config.issuer.clone().unwrap_or_else(|| "-".to_owned()),
    );
    line(
        "audience (aud)",
        config.audience.clone().unwrap_or_else(|| "-".to_owned()),
    );
    line("leeway", format_duration(config.leeway));
    line(
        "max token lifetime",
        format_duration(config.max_token_lifetime),
    );
    line(
        "upstream",
        config
            .gateway
            .as_ref()
            .map_or("- (no gateway)".to_owned(), |g| format!("{g:?}")),
    );
    line("forward auth", format!("{:?}", config.forward_auth));
    line("identity headers", format!("{:?}", config.identity));
    line("token from", config.token_sources.to_string());
    line("trusted proxies", format!("{:?}", config.proxies));
    line("limits", format!("{:?}", config.limits));
    line(
        "log format",
        if config.json_logs { "json" } else { "text" }.to_owned(),
    );
    for (i, rule) in config.rules.iter().enumerate() {
        line(&format!("rule {}", i + 1), format!("{rule:?}"));
    }
    for warning in &config.exposed {
        line("warning", warning.clone());
    }
    for l in out {
        crate::print_line(&l)?;
    }
    eprintln!("the configuration is valid");
    Ok(())
}
