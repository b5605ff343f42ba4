//! `keycard serve`: build the library's pieces from the config and run them.

use std::sync::Arc;

use anyhow::Context;
use keycard::jwt::RevocationFeed;
use keycard::server::{App, Readiness};
use keycard::{Hasher, RemoteJwks, TokenCache, TokenService, Verifier};

use crate::Failure;
use crate::config::{Mode, ServeConfig};
use crate::demo::Demo;
use crate::stores::{Location, Stores};

/// The issuer's JWKS, found from its metadata (`--issuer-url`): a node that cannot
/// discover its issuer at start does not start (exit 2), since it would not know where
/// the keys are.
async fn discovered(issuer: &str, config: &ServeConfig) -> Result<RemoteJwks, Failure> {
    #[cfg(feature = "tls")]
    let found = match &config.tls.client {
        Some(tls) => RemoteJwks::discover_trusting(issuer, tls.clone()).await,
        None => RemoteJwks::discover(issuer).await,
    };
    #[cfg(not(feature = "tls"))]
    let found = {
        let _ = config;
        RemoteJwks::discover(issuer).await
    };
    found.map_err(|e| {
        Failure::Config(anyhow::anyhow!(
            "--issuer-url {issuer}: cannot discover the issuer: {e}"
        ))
    })
}

pub async fn run(
    config: ServeConfig,
    location: Location,
    demo: Option<&Demo>,
) -> Result<(), Failure> {
    let config_err = |e: keycard::Error| Failure::Config(e.into());
    let limits = config.limits;
    let (entries, bytes) = config.token_cache;
    let cached = |verifier: Verifier| {
        verifier.with_token_cache(
            TokenCache::new(entries, bytes).unwrap_or_else(|_| TokenCache::disabled()),
        )
    };
    let claims_checks = |mut verifier: Verifier| {
        verifier = verifier
            .with_leeway(config.leeway)
            .with_max_lifetime(config.max_token_lifetime);
        if let Some(iss) = &config.issuer {
            verifier = verifier.with_issuer(iss.clone());
        }
        if let Some(aud) = &config.audience {
            verifier = verifier.with_audience(aud.clone());
        }
        verifier
    };
    let mut background = Vec::new();
    // Installed first, so that the start-up fetches of a verify-only node are counted.
    #[cfg(feature = "metrics")]
    if config.metrics_listen.is_some() {
        keycard::metrics::Metrics::install();
    }
    // The [[trusted_issuer]] tables: each token is checked by the issuer it names.
    let trusted = crate::trusted::start(
        &config.trusted,
        config.jwks_refresh,
        config.jwks_refetch,
        &config.tls,
    )
    .await
    .map_err(config_err)?;
    let trust_also = |verifier: Verifier| {
        trusted
            .issuers
            .iter()
            .cloned()
            .try_fold(verifier, Verifier::trusting)
            .map_err(config_err)
    };
    let (app, banner) = match &config.mode {
        Mode::Issuer { key, retired } => {
            let mut stores = Stores::open(&location).await.map_err(Failure::Config)?;
            let (users, tokens) = (stores.users.clone(), stores.tokens.clone());
            // One place sets iss, aud, the lifetimes and the token store for the issuer,
            // the verifier and /revoke alike.
            let mut service = TokenService::builder(key.clone())
                .retired_keys(retired.iter().cloned())
                .ttl(config.token_ttl)
                .leeway(config.leeway)
                .max_lifetime(config.max_token_lifetime)
                .token_store(tokens.clone());
            if let Some(iss) = &config.issuer {
                service = service.issuer(iss.clone());
            }
            if let Some(aud) = &config.audience {
                service = service.audience(aud.clone());
            }
            if let Some(ttl) = config.refresh_ttl {
                service = service.refresh_ttl(ttl);
            }
            // The service owns the rules on lifetimes and keys: its refusal is one line.
            let service = service
                .build()
                .context("the token settings")
                .map_err(Failure::Config)?;
            let verifier = trust_also(service.verifier())?;
            let endpoint = service
                .endpoint(users.clone(), Hasher::new(config.policy))
                .with_user_rate(config.rate_limit_user)
                .with_ip_rate(config.rate_limit_ip)
                .with_trusted_proxies(config.proxies.clone());
            background.extend(stores.watch());
            let retired = if retired.is_empty() {
                String::new()
            } else {
                format!(", {} retired keys", retired.len())
            };
            let banner = format!(
                "algorithm {}, key id {}{retired}, users {}: {} users",
                key.algorithm_name(),
                key.key_id().unwrap_or("-"),
                stores.shown,
                stores.count
            );
            let readiness = trusted.ready(stores.readiness.clone());
            (
                App::issuer(endpoint, cached(verifier)).readiness(readiness),
                banner,
            )
        }
        Mode::VerifyOnly {
            jwks_url,
            discover,
            refresh,
            refetch,
            feed,
        } => {
            let jwks = config.tls.jwks(if *discover {
                discovered(jwks_url, &config).await?
            } else {
                RemoteJwks::new(jwks_url).map_err(config_err)?
            });
            let jwks = Arc::new(jwks.with_intervals(*refresh, *refetch));
            let jwks_url = &jwks.url().to_string();
            let found = match jwks.refresh().await {
                Ok(n) => format!("{n} keys"),
                Err(e) => {
                    tracing::error!(error = %e, "JWKS not reachable yet; tokens are refused until it is");
                    "no keys yet".to_owned()
                }
            };
            background.push(jwks.spawn_refresher());
            let mut verifier = claims_checks(Verifier::from_jwks(jwks.clone()));
            let keys = jwks.clone();
            let mut readiness = Readiness::new().check("keys", move || {
                let held = keys.keys().len();
                async move {
                    (held > 0)
                        .then_some(())
                        .ok_or("no verification keys from the issuer yet")
                }
            });
            let revocations = match feed {
                None => {
                    tracing::warn!(
                        "--revocation-feed off: tokens revoked on the issuer keep working here until they expire"
                    );
                    "revocations off".to_owned()
                }
                Some(f) => {
                    let mut feed = match &f.url {
                        Some(url) => RevocationFeed::new(url, jwks.clone()),
                        None => RevocationFeed::beside(jwks.clone()),
                    }
                    .map_err(config_err)?
                    .with_refresh(f.refresh)
                    .with_max_stale(f.max_stale)
                    .with_leeway(config.leeway);
                    if let Some(iss) = &config.issuer {
                        feed = feed.with_issuer(iss.clone());
                    }
                    let feed = Arc::new(feed);
                    let got = match feed.refresh().await {
                        Ok(_) => "revocations from",
                        Err(e) if f.max_stale.is_some() => {
                            tracing::error!(error = %e, "revocation feed not reachable yet; tokens are refused until it is");
                            "revocations (not yet) from"
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "revocation feed not reachable yet; tokens are accepted without revocations until it is");
                            "revocations (not yet) from"
                        }
                    };
                    let shown = format!("{got} {}", feed.url());
                    background.push(feed.spawn_poller());
                    let watched = feed.clone();
                    readiness = readiness.check("revocations", move || {
                        let stale = watched.is_stale();
                        async move {
                            (!stale)
                                .then_some(())
                                .ok_or("the issuer's revocation feed is stale")
                        }
                    });
                    verifier = verifier.with_revocations(feed);
                    shown
                }
            };
            let banner = format!(
                "verify-only, algorithm -, key id -, keys from {jwks_url}: {found}, {revocations}"
            );
            let verifier = trust_also(verifier)?;
            let readiness = trusted.ready(readiness);
            (
                App::verify_only(cached(verifier)).readiness(readiness),
                banner,
            )
        }
        Mode::Trusted => {
            // Each issuer's own audience (the top-level one by default) is set already.
            let verifier = Verifier::from_issuers(trusted.issuers.clone())
                .map_err(config_err)?
                .with_leeway(config.leeway)
                .with_max_lifetime(config.max_token_lifetime);
            let readiness = trusted.ready(Readiness::new());
            let banner = "verify-only, algorithm -, key id -, keys of the [[trusted_issuer]] tables only, revocations off".to_owned();
            (
                App::verify_only(cached(verifier)).readiness(readiness),
                banner,
            )
        }
    };
    #[cfg_attr(not(feature = "metrics"), allow(unused_mut))]
    let mut banner = banner + &trusted.summary();
    background.extend(trusted.background);

    let mut app = config
        .rules
        .iter()
        .cloned()
        .fold(app, App::rule)
        .limits(limits)
        .identity_headers(config.identity.clone())
        .token_sources(config.token_sources.clone())
        .forward_auth(config.forward_auth.clone());
    if let Some(gateway) = &config.gateway {
        app = app.gateway(gateway.clone());
    }

    // Warned about once the configuration has held, so a refusal stays one line.
    for warning in &config.exposed {
        tracing::warn!("{warning}");
    }
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))
        .map_err(Failure::Runtime)?;
    let addr = listener
        .local_addr()
        .map_err(|e| Failure::Runtime(e.into()))?;
    // A build without metrics refuses --metrics-listen at configuration.
    #[cfg(feature = "metrics")]
    if let Some(metrics) = &config.metrics_listen {
        let (task, bound) = serve_metrics(metrics, limits).await?;
        background.push(task);
        banner.push_str(&format!(", metrics on http://{bound}/metrics"));
    }
    let scheme = config.tls.scheme();
    if config.json_logs {
        tracing::info!("keycard listening on {scheme}://{addr} ({banner})");
    } else {
        eprintln!("keycard listening on {scheme}://{addr} ({banner})");
    }
    if let Some(demo) = demo {
        demo.print(addr);
    }
    let router = app.into_router();
    #[cfg(feature = "tls")]
    let served = match &config.tls.server {
        Some(server) => {
            background.push(server.watch(crate::tls::RELOAD_EVERY));
            keycard::server::serve_tls(listener, router, limits, server, shutdown_signal()).await
        }
        None => keycard::serve(listener, router, limits, shutdown_signal()).await,
    };
    #[cfg(not(feature = "tls"))]
    let served = keycard::serve(listener, router, limits, shutdown_signal()).await;
    served.map_err(|e| Failure::Runtime(e.into()))?;
    for task in background {
        task.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

/// The metrics listener: `/metrics` alone, served until the public listener stops.
#[cfg(feature = "metrics")]
async fn serve_metrics(
    addr: &str,
    limits: keycard::ServerLimits,
) -> Result<(tokio::task::JoinHandle<()>, std::net::SocketAddr), Failure> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (--metrics-listen)"))
        .map_err(Failure::Runtime)?;
    let bound = listener
        .local_addr()
        .map_err(|e| Failure::Runtime(e.into()))?;
    let router = keycard::metrics::router();
    let task = tokio::spawn(async move {
        if let Err(e) = keycard::serve(listener, router, limits, std::future::pending()).await {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    });
    Ok((task, bound))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received");
}
