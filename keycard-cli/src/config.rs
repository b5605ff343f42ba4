//! Resolving options: flag > environment (both via clap) > config file
//! (`config_file.rs`) > default, into one validated [`ServeConfig`].
//!
//! Each option is defined once, in `cli.rs`: the config file's keys deserialize into the
//! same structs, and a flag or variable that is set overrides the file's key of the
//! same name. Unset options fall back to the library's constants.
//!
//! Why one file of ~440 lines: resolving `keycard serve`'s options is one step from
//! options to a validated config; its helpers are small and used only here.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use keycard::TokenSources;
use keycard::duration::{Rate, parse_duration};
use keycard::jwt::{DEFAULT_LEEWAY, DEFAULT_MAX_LIFETIME, DEFAULT_TOKEN_TTL, RevocationFeed};
use keycard::login::{Cidr, TrustedProxies, default_ip_rate, default_user_rate};
use keycard::server::{ForwardAuthHeaders, IdentityHeaders};
use keycard::{
    Gateway, PasswordPolicy, RemoteJwks, Rule, Secret, ServerLimits, SigningKey, TokenCache,
    VerifyingKey,
};

use crate::cli::{DEFAULT_LISTEN, DEFAULT_USERS, GlobalArgs, ServeArgs};
use crate::config_file::{FileConfig, FileOnly, RuleConfig};
use crate::trusted::Trusted;

/// The users file path.
pub fn users_path(global: &GlobalArgs) -> PathBuf {
    global
        .users
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_USERS))
}

/// Whether log lines are JSON (`--log-format json`) rather than text.
pub fn json_logs(global: &GlobalArgs) -> anyhow::Result<bool> {
    match non_empty(global.log_format.as_deref()) {
        None | Some("text") => Ok(false),
        Some("json") => Ok(true),
        Some(other) => bail!("--log-format {other:?}: use text or json"),
    }
}

/// The Argon2id policy for new hashes.
pub fn password_policy(global: &GlobalArgs) -> anyhow::Result<PasswordPolicy> {
    let d = PasswordPolicy::OWASP;
    Ok(PasswordPolicy::new(
        global.argon2_memory.unwrap_or(d.memory_kib()),
        global.argon2_iterations.unwrap_or(d.iterations()),
        global.argon2_parallelism.unwrap_or(d.parallelism()),
    )?)
}

/// What this node does with tokens.
pub enum Mode {
    /// Issue tokens with `key` at `/token`; verify them and those of `retired` keys.
    Issuer {
        key: SigningKey,
        retired: Vec<VerifyingKey>,
    },
    /// Verify only, with the keys of a remote issuer's JWKS.
    VerifyOnly {
        /// The JWKS URL, or with `discover` the issuer URL to find it from.
        jwks_url: String,
        /// `--issuer-url`: `jwks_url` is the issuer's, whose metadata names the JWKS.
        discover: bool,
        refresh: Duration,
        refetch: Duration,
        /// The revocation feed, unless turned off.
        feed: Option<Feed>,
    },
    /// Verify only, with the keys of the `[[trusted_issuer]]` tables alone.
    Trusted,
}

impl Mode {
    fn issuer(key: SigningKey) -> Self {
        Mode::Issuer {
            key,
            retired: Vec::new(),
        }
    }
}

/// Where and how a verify-only node follows its issuer's revocations.
pub struct Feed {
    /// `None`: beside the JWKS.
    pub url: Option<String>,
    pub refresh: Duration,
    /// `None`: never stale.
    pub max_stale: Option<Duration>,
}

/// Everything `keycard serve` needs, validated.
pub struct ServeConfig {
    pub listen: String,
    /// Where `/metrics` is served; `None`: nowhere.
    pub metrics_listen: Option<String>,
    pub users: PathBuf,
    pub mode: Mode,
    pub token_ttl: Duration,
    pub refresh_ttl: Option<Duration>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub leeway: Duration,
    pub max_token_lifetime: Duration,
    /// The verified-token cache's bounds: entries and bytes (0: off), checked.
    pub token_cache: (usize, u64),
    /// The `--public` paths, then the file's `[[rule]]`s, after Keycard's own.
    pub rules: Vec<Rule>,
    pub gateway: Option<Gateway>,
    pub identity: IdentityHeaders,
    /// Where the bearer token may come from besides `Authorization`.
    pub token_sources: TokenSources,
    pub forward_auth: ForwardAuthHeaders,
    pub rate_limit_user: Option<Rate>,
    pub rate_limit_ip: Option<Rate>,
    pub limits: ServerLimits,
    pub proxies: TrustedProxies,
    pub policy: PasswordPolicy,
    /// Files holding secrets that other users can read: warned about at start.
    pub exposed: Vec<String>,
    /// Log lines as JSON objects rather than text.
    pub json_logs: bool,
    /// HTTPS on the listener; whom to trust over https://.
    pub tls: crate::tls::Tls,
    /// The `[[trusted_issuer]]` tables, each token checked by the issuer it names.
    pub trusted: Vec<Trusted>,
    /// How often a trusted issuer's JWKS is fetched, and refetched at most.
    pub jwks_refresh: Duration,
    pub jwks_refetch: Duration,
}

/// The metrics listener: an address, never the public listener's own (what it tells is
/// for operators), and only in a build with metrics.
fn metrics_listen(given: Option<&str>, listen: &str) -> anyhow::Result<Option<String>> {
    let Some(addr) = non_empty(given) else {
        return Ok(None);
    };
    let parsed: std::net::SocketAddr = addr.parse().with_context(|| {
        format!("--metrics-listen {addr:?} is not an address like 127.0.0.1:9090")
    })?;
    if listen.parse::<std::net::SocketAddr>().ok() == Some(parsed) && parsed.port() != 0 {
        bail!(
            "--metrics-listen {addr} is the public listener: give the metrics an address of their own"
        );
    }
    if !cfg!(feature = "metrics") {
        bail!(
            "--metrics-listen: this keycard was built without metrics (cargo feature \"metrics\")"
        );
    }
    Ok(Some(addr.to_owned()))
}

/// `path`'s description if other users may read it (any group or other permission bit).
fn exposed(path: &std::path::Path, what: &str) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then(|| {
            format!(
                "{what} {} is readable by other users (mode {mode:03o}); run: chmod 600 {}",
                path.display(),
                path.display()
            )
        })
    }
    #[cfg(not(unix))]
    {
        let _ = (path, what);
        None
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

fn duration(name: &str, value: Option<&str>, default: Duration) -> anyhow::Result<Duration> {
    match value {
        Some(text) => parse_duration(text).with_context(|| format!("--{name}")),
        None => Ok(default),
    }
}

/// [`duration`], refused below `min_secs` seconds with "--NAME must be at least …s".
fn duration_at_least(
    name: &str,
    value: Option<&str>,
    default: Duration,
    min_secs: u64,
) -> anyhow::Result<Duration> {
    let d = duration(name, value, default)?;
    if d < Duration::from_secs(min_secs) {
        bail!("--{name} must be at least {min_secs}s");
    }
    Ok(d)
}

fn rate(name: &str, value: Option<&str>, default: Option<Rate>) -> anyhow::Result<Option<Rate>> {
    match value {
        Some(text) => Rate::parse(text).with_context(|| format!("--{name}")),
        None => Ok(default),
    }
}

impl ServeConfig {
    /// Validates `args`, the options of the command line over those of `file`.
    pub fn resolve(
        global: &GlobalArgs,
        args: &ServeArgs,
        file: &FileConfig,
    ) -> anyhow::Result<Self> {
        let users = users_path(global);
        let policy = password_policy(global)?;
        // The demo makes its own throwaway secret and users file (see demo::Demo).
        let mut warnings = Vec::new();
        let mode = if args.demo {
            Mode::issuer(SigningKey::hs256(&Secret::random())?)
        } else {
            mode(args, &file.only, &mut warnings)?
        };
        if matches!(mode, Mode::Issuer { .. }) {
            warnings.extend(exposed(&users, "the users file"));
        }
        // A zero lifetime, or one past the maximum, is refused by the token service
        // (TokenService::builder), which owns those rules.
        let token_ttl = duration("token-ttl", args.token_ttl.as_deref(), DEFAULT_TOKEN_TTL)?;
        let max_token_lifetime = duration(
            "max-token-lifetime",
            args.max_token_lifetime.as_deref(),
            DEFAULT_MAX_LIFETIME,
        )?;
        let refresh_ttl = match non_empty(args.refresh_ttl.as_deref()) {
            None => None,
            Some(text) => Some(parse_duration(text).context("--refresh-ttl")?),
        };
        let listen = args.listen.as_deref().unwrap_or(DEFAULT_LISTEN).to_owned();
        listen.parse::<std::net::SocketAddr>().with_context(|| {
            format!("--listen {listen:?} is not an address like {DEFAULT_LISTEN}")
        })?;
        if args.demo {
            crate::demo::check_demo_listen(&listen)?;
        }
        let metrics_listen = metrics_listen(args.metrics_listen.as_deref(), &listen)?;
        let mut rules = Vec::new();
        for p in args.public.iter().filter(|p| !p.trim().is_empty()) {
            rules.push(Rule::new(p).context("--public")?.public());
        }
        for (i, r) in file.only.rule.iter().enumerate() {
            rules.push(rule(r).with_context(|| format!("config file: [[rule]] number {}", i + 1))?);
        }
        let identity = IdentityHeaders::new(
            args.user_header
                .as_deref()
                .unwrap_or(IdentityHeaders::DEFAULT_USER),
            args.role_header
                .as_deref()
                .unwrap_or(IdentityHeaders::DEFAULT_ROLE),
            args.claims_header
                .as_deref()
                .unwrap_or(IdentityHeaders::DEFAULT_CLAIMS),
        )?;
        let gateway = match non_empty(args.upstream.as_deref()) {
            None => None,
            Some(url) => {
                let timeout = duration_at_least(
                    "upstream-timeout",
                    args.upstream_timeout.as_deref(),
                    Gateway::DEFAULT_TIMEOUT,
                    1,
                )?;
                Some(
                    Gateway::new(url)?
                        .with_timeout(timeout)
                        .with_authorization_passed(args.pass_authorization),
                )
            }
        };
        let mut token_sources =
            TokenSources::new().websocket_protocol(args.token_websocket_protocol);
        if let Some(name) = non_empty(args.token_query_param.as_deref()) {
            token_sources = token_sources.query_param(name)?;
        }
        let forward_auth = forward_auth_headers(
            args.forward_auth.as_deref(),
            args.forward_auth_uri_header.as_deref(),
            args.forward_auth_method_header.as_deref(),
        )?;
        let defaults = ServerLimits::DEFAULT;
        let limits = ServerLimits {
            request_timeout: duration_at_least(
                "request-timeout",
                args.request_timeout.as_deref(),
                defaults.request_timeout,
                1,
            )?,
            header_timeout: duration_at_least(
                "header-timeout",
                args.header_timeout.as_deref(),
                defaults.header_timeout,
                1,
            )?,
            max_connections: at_least(
                "max-connections",
                args.max_connections,
                defaults.max_connections,
                1,
            )?,
            max_header_bytes: at_least(
                "max-header-bytes",
                args.max_header_bytes,
                defaults.max_header_bytes,
                1024,
            )?,
            max_headers: at_least("max-headers", args.max_headers, defaults.max_headers, 8)?,
            ..defaults
        };
        let mut blocks = Vec::new();
        for p in args.trusted_proxy.iter().filter(|p| !p.trim().is_empty()) {
            blocks.push(p.parse::<Cidr>().context("--trusted-proxy")?);
        }
        let proxies = TrustedProxies::new(blocks);
        #[cfg_attr(not(feature = "tls"), allow(unused_mut))]
        let mut gateway = gateway.map(|g| g.with_trusted_proxies(proxies.clone()));
        // A node that discovers its issuer requires the tokens to name it.
        let issuer = match (&mode, non_empty(args.issuer.as_deref())) {
            (
                Mode::VerifyOnly {
                    jwks_url,
                    discover: true,
                    ..
                },
                None,
            ) => Some(jwks_url.clone()),
            (
                Mode::VerifyOnly {
                    jwks_url,
                    discover: true,
                    ..
                },
                Some(iss),
            ) if iss != jwks_url => {
                bail!(
                    "--issuer {iss:?} is not --issuer-url {jwks_url:?}: a discovered issuer is the one its tokens name"
                )
            }
            (_, iss) => iss.map(str::to_owned),
        };
        let tls = crate::tls::Tls::resolve(
            args.tls_cert.clone(),
            args.tls_key.clone(),
            args.ca_file.clone(),
        )?;
        #[cfg(feature = "tls")]
        if let Some(client) = &tls.client {
            gateway = gateway.map(|g| g.with_tls(client));
        }
        let audience = non_empty(args.audience.as_deref()).map(str::to_owned);
        let tables = &file.only.trusted_issuer;
        if !tables.is_empty() {
            let source = match &mode {
                Mode::Issuer { .. } => Some("this node's own tokens"),
                Mode::VerifyOnly { .. } => Some("the --jwks-url issuer's tokens"),
                Mode::Trusted => None,
            };
            match (source, &issuer) {
                (Some(source), None) => bail!(
                    "[[trusted_issuer]]: set `issuer` too, the iss of {source}: with several issuers every key must belong to a named one"
                ),
                (None, Some(iss)) => bail!(
                    "issuer {iss:?}: it names the tokens of a key source, and there is none besides the [[trusted_issuer]] tables (give each its iss)"
                ),
                _ => {}
            }
        }
        let trusted =
            crate::trusted::resolve(tables, issuer.as_deref(), audience.as_deref(), |path| {
                verifying_key(path, "verify_key", &mut warnings)
            })?;
        let (jwks_refresh, jwks_refetch) = jwks_intervals(args)?;
        let mut remote: Vec<&str> = args.upstream.iter().map(String::as_str).collect();
        if let Mode::VerifyOnly { jwks_url, feed, .. } = &mode {
            remote.push(jwks_url);
            remote.extend(feed.as_ref().and_then(|f| f.url.as_deref()));
        }
        remote.extend(trusted.iter().filter_map(Trusted::jwks_url));
        tls.check_trust(&remote)?;
        Ok(Self {
            tls,
            json_logs: json_logs(global)?,
            listen,
            metrics_listen,
            users,
            mode,
            token_ttl,
            refresh_ttl,
            issuer,
            audience,
            trusted,
            jwks_refresh,
            jwks_refetch,
            leeway: duration("leeway", args.leeway.as_deref(), DEFAULT_LEEWAY)?,
            max_token_lifetime,
            token_cache: token_cache(args)?,
            rules,
            gateway,
            identity,
            token_sources,
            forward_auth,
            rate_limit_user: rate(
                "rate-limit-user",
                args.rate_limit_user.as_deref(),
                default_user_rate(),
            )?,
            rate_limit_ip: rate(
                "rate-limit-ip",
                args.rate_limit_ip.as_deref(),
                default_ip_rate(),
            )?,
            limits,
            proxies,
            policy,
            exposed: warnings,
        })
    }
}

/// Reads a key file into memory that is wiped when dropped.
fn read_key(path: &std::path::Path, flag: &str) -> anyhow::Result<zeroize::Zeroizing<Vec<u8>>> {
    std::fs::read(path)
        .map(zeroize::Zeroizing::new)
        .with_context(|| format!("{flag}: cannot read {}", path.display()))
}

/// `--forward-auth PROXY`, or both header names for another proxy.
fn forward_auth_headers(
    proxy: Option<&str>,
    uri: Option<&str>,
    method: Option<&str>,
) -> anyhow::Result<ForwardAuthHeaders> {
    match (non_empty(proxy), non_empty(uri), non_empty(method)) {
        (None, None, None) => Ok(ForwardAuthHeaders::default()),
        (Some(proxy), None, None) => Ok(ForwardAuthHeaders::preset(proxy)?),
        (None, Some(uri), Some(method)) => Ok(ForwardAuthHeaders::custom(uri, method)?),
        (Some(_), _, _) => {
            bail!(
                "--forward-auth names a proxy; --forward-auth-uri-header and --forward-auth-method-header are for another one: give one or the other"
            )
        }
        _ => bail!(
            "--forward-auth-uri-header and --forward-auth-method-header go together: give both"
        ),
    }
}

/// One `[[rule]]`: a path pattern, optional methods, and public / roles / any user.
fn rule(r: &RuleConfig) -> anyhow::Result<Rule> {
    let mut rule = Rule::new(&r.path)?;
    if !r.methods.is_empty() {
        let mut methods = Vec::new();
        for m in &r.methods {
            if m.bytes().any(|b| b.is_ascii_lowercase()) {
                bail!("methods: write {m:?} in upper case, as requests must send it");
            }
            methods.push(
                axum_method(m).with_context(|| format!("methods: {m:?} is not an HTTP method"))?,
            );
        }
        rule = rule.methods(methods);
    }
    match (r.public, r.roles.is_empty()) {
        (true, false) => bail!("a rule is either public or for roles, not both"),
        (true, true) => rule = rule.public(),
        (false, false) => rule = rule.roles(r.roles.iter().cloned()),
        (false, true) => {}
    }
    Ok(rule)
}

fn axum_method(m: &str) -> Option<keycard::auth::Method> {
    keycard::auth::Method::from_bytes(m.trim().as_bytes()).ok()
}

fn at_least(name: &str, value: Option<usize>, default: usize, min: usize) -> anyhow::Result<usize> {
    let v = value.unwrap_or(default);
    if v < min {
        bail!("--{name} must be at least {min}");
    }
    Ok(v)
}

/// `--token-cache` and `--token-cache-bytes`, checked by building the cache once.
fn token_cache(args: &ServeArgs) -> anyhow::Result<(usize, u64)> {
    let entries = args.token_cache.unwrap_or(TokenCache::DEFAULT_ENTRIES);
    let bytes = args.token_cache_bytes.unwrap_or(TokenCache::DEFAULT_BYTES);
    if TokenCache::new(entries, bytes).is_err() {
        bail!(
            "--token-cache-bytes {bytes} is less than a byte for each of --token-cache {entries} tokens"
        );
    }
    Ok((entries, bytes))
}

fn non_empty(v: Option<&str>) -> Option<&str> {
    v.filter(|s| !s.is_empty())
}

/// `--jwks-refresh` and `--jwks-refetch-interval`.
fn jwks_intervals(args: &ServeArgs) -> anyhow::Result<(Duration, Duration)> {
    let refresh = duration_at_least(
        "jwks-refresh",
        args.jwks_refresh.as_deref(),
        RemoteJwks::DEFAULT_REFRESH,
        10,
    )?;
    let refetch = duration_at_least(
        "jwks-refetch-interval",
        args.jwks_refetch_interval.as_deref(),
        RemoteJwks::DEFAULT_MIN_REFETCH,
        1,
    )?;
    Ok((refresh, refetch))
}

/// Exactly one of `AUTHENTICATION_SECRET`, `AUTHENTICATION_SECRET_FILE` (or the file's
/// `authentication_secret_file`), `--signing-key` and `--jwks-url`; then the keys.
fn mode(args: &ServeArgs, file: &FileOnly, warnings: &mut Vec<String>) -> anyhow::Result<Mode> {
    let secret = env("AUTHENTICATION_SECRET");
    let secret_file = env("AUTHENTICATION_SECRET_FILE")
        .map(PathBuf::from)
        .or_else(|| file.authentication_secret_file.clone());
    let signing_key = args.signing_key.clone();
    let jwks_url = non_empty(args.jwks_url.as_deref());
    let issuer_url = non_empty(args.issuer_url.as_deref());
    let given: Vec<&str> = [
        secret.as_ref().map(|_| "AUTHENTICATION_SECRET"),
        secret_file.as_ref().map(|_| "AUTHENTICATION_SECRET_FILE"),
        signing_key.as_ref().map(|_| "--signing-key"),
        jwks_url.as_ref().map(|_| "--jwks-url"),
        issuer_url.as_ref().map(|_| "--issuer-url"),
    ]
    .into_iter()
    .flatten()
    .collect();
    match given.as_slice() {
        [] if !file.trusted_issuer.is_empty() => return Ok(Mode::Trusted),
        [] => bail!(
            "no signing key: set AUTHENTICATION_SECRET to a secret of at least 32 bytes (e.g. export AUTHENTICATION_SECRET=$(head -c 32 /dev/urandom | base64)), or AUTHENTICATION_SECRET_FILE, or --signing-key FILE (make one with `keycard keys generate --out FILE`), or try `keycard serve --demo`"
        ),
        [_] => {}
        many => bail!(
            "more than one key source given ({}): keep exactly one",
            many.join(" and ")
        ),
    }
    let retired_paths = &args.verify_key;
    let key_id = non_empty(args.key_id.as_deref());
    let discover = issuer_url.is_some();
    if let Some(url) = jwks_url.or(issuer_url) {
        if !retired_paths.is_empty() || key_id.is_some() {
            bail!(
                "--verify-key and --key-id are for issuers; a --jwks-url node takes its keys from the issuer"
            );
        }
        let (refresh, refetch) = jwks_intervals(args)?;
        // Checked now so that a bad URL is a configuration error (a discovered JWKS is
        // checked when found; the feed beside it is on the issuer's origin meanwhile).
        let jwks = if discover {
            if !url.starts_with("https://") && !url.starts_with("http://") {
                bail!("--issuer-url {url:?} must start with https:// (or http://)");
            }
            std::sync::Arc::new(
                RemoteJwks::new(&format!(
                    "{}/.well-known/jwks.json",
                    url.trim_end_matches('/')
                ))
                .context("--issuer-url")?,
            )
        } else {
            std::sync::Arc::new(RemoteJwks::new(url)?)
        };
        let feed = match non_empty(args.revocation_feed.as_deref()) {
            Some("off") => None,
            given => {
                let url = given.map(str::to_owned);
                match &url {
                    Some(u) => RevocationFeed::new(u, jwks).context("--revocation-feed")?,
                    None => RevocationFeed::beside(jwks)?,
                };
                let refresh = duration_at_least(
                    "revocation-refresh",
                    args.revocation_refresh.as_deref(),
                    RevocationFeed::DEFAULT_REFRESH,
                    1,
                )?;
                let max_stale = duration(
                    "revocation-max-stale",
                    args.revocation_max_stale.as_deref(),
                    RevocationFeed::DEFAULT_MAX_STALE,
                )?;
                if !max_stale.is_zero() && max_stale < refresh * 2 {
                    bail!(
                        "--revocation-max-stale must be 0 or at least twice --revocation-refresh"
                    );
                }
                Some(Feed {
                    url,
                    refresh,
                    max_stale: (!max_stale.is_zero()).then_some(max_stale),
                })
            }
        };
        return Ok(Mode::VerifyOnly {
            jwks_url: url.to_owned(),
            discover,
            refresh,
            refetch,
            feed,
        });
    }
    let mut key = if let Some(s) = secret {
        SigningKey::hs256(&Secret::new(s.into_bytes()).context("AUTHENTICATION_SECRET")?)?
    } else if let Some(path) = secret_file {
        warnings.extend(exposed(&path, "the secret file"));
        SigningKey::hs256(&Secret::from_file(&path)?)?
    } else if let Some(path) = signing_key {
        let pem = read_key(&path, "--signing-key")?;
        warnings.extend(exposed(&path, "the private key"));
        SigningKey::from_pkcs8_pem(&pem)
            .with_context(|| format!("--signing-key {}", path.display()))?
    } else {
        bail!("no signing key")
    };
    if let Some(kid) = key_id {
        key = key.with_key_id(kid);
    }
    let mut retired = Vec::new();
    for path in retired_paths {
        retired.push(verifying_key(path, "--verify-key", warnings)?);
    }
    Ok(Mode::Issuer { key, retired })
}

/// The key that verifies, from the PEM file at `path` (public, or private: then noted
/// when others can read it); `what` names the setting in errors.
fn verifying_key(
    path: &std::path::Path,
    what: &str,
    warnings: &mut Vec<String>,
) -> anyhow::Result<VerifyingKey> {
    let pem = read_key(path, what)?;
    if pem.windows(11).any(|w| w == b"PRIVATE KEY") {
        warnings.extend(exposed(path, "the private key"));
    }
    VerifyingKey::from_pem(&pem).with_context(|| format!("{what} {}", path.display()))
}
