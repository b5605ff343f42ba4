//! Resolving options: flag > environment (both via clap) > config file > default.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use keycard::duration::{Rate, parse_duration};
use keycard::login::{Cidr, TrustedProxies};
use keycard::server::{AppOptions, ForwardAuthHeaders, IdentityHeaders};
use keycard::{
    Gateway, PasswordPolicy, Rule, Rules, Secret, ServerLimits, SigningKey, VerifyingKey,
};
use serde::Deserialize;

use crate::cli::{Argon2Args, Cli, ServeArgs};

/// The config file: top-level keys named like the long flags, `_` for `-`.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    listen: Option<String>,
    users: Option<PathBuf>,
    signing_key: Option<PathBuf>,
    verify_key: Option<Vec<PathBuf>>,
    jwks_url: Option<String>,
    jwks_refresh: Option<String>,
    refresh_ttl: Option<String>,
    upstream: Option<String>,
    upstream_timeout: Option<String>,
    pass_authorization: Option<bool>,
    user_header: Option<String>,
    role_header: Option<String>,
    claims_header: Option<String>,
    forward_auth: Option<String>,
    forward_auth_uri_header: Option<String>,
    forward_auth_method_header: Option<String>,
    #[serde(default)]
    rule: Vec<RuleConfig>,
    jwks_refetch_interval: Option<String>,
    authentication_secret_file: Option<PathBuf>,
    token_ttl: Option<String>,
    issuer: Option<String>,
    audience: Option<String>,
    leeway: Option<String>,
    max_token_lifetime: Option<String>,
    public: Option<Vec<String>>,
    key_id: Option<String>,
    rate_limit_user: Option<String>,
    rate_limit_ip: Option<String>,
    request_timeout: Option<String>,
    trusted_proxy: Option<Vec<String>>,
    max_connections: Option<usize>,
    max_header_bytes: Option<usize>,
    max_headers: Option<usize>,
    header_timeout: Option<String>,
    argon2_memory: Option<u32>,
    argon2_iterations: Option<u32>,
    argon2_parallelism: Option<u32>,
}

/// A `[[rule]]` of the config file.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    path: String,
    #[serde(default)]
    methods: Vec<String>,
    #[serde(default)]
    public: bool,
    #[serde(default)]
    roles: Vec<String>,
}

const DEFAULT_CONFIG: &str = "keycard.toml";

impl FileConfig {
    /// `--config FILE`, or `keycard.toml` in the working directory when present.
    pub fn load(explicit: Option<&Path>) -> anyhow::Result<Self> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None if Path::new(DEFAULT_CONFIG).exists() => PathBuf::from(DEFAULT_CONFIG),
            None => return Ok(Self::default()),
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the config file {}", path.display()))?;
        toml::from_str(&text).map_err(|e| {
            // toml's messages span several lines; keep the first.
            let msg = e.to_string();
            let first = msg.lines().next().unwrap_or("invalid TOML").to_owned();
            let detail = e.message().to_owned();
            anyhow!("config file {}: {first}: {detail}", path.display())
        })
    }
}

/// The users file path, from `--users`, `KEYCARD_USERS`, the file, or `users.json`.
pub fn users_path(cli: &Cli, file: &FileConfig) -> PathBuf {
    cli.users
        .clone()
        .or_else(|| file.users.clone())
        .unwrap_or_else(|| PathBuf::from("users.json"))
}

/// The Argon2id policy for new hashes.
pub fn password_policy(args: &Argon2Args, file: &FileConfig) -> anyhow::Result<PasswordPolicy> {
    let d = PasswordPolicy::OWASP;
    let m = args
        .argon2_memory
        .or(file.argon2_memory)
        .unwrap_or(d.memory_kib());
    let t = args
        .argon2_iterations
        .or(file.argon2_iterations)
        .unwrap_or(d.iterations());
    let p = args
        .argon2_parallelism
        .or(file.argon2_parallelism)
        .unwrap_or(d.parallelism());
    Ok(PasswordPolicy::new(m, t, p)?)
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
        jwks_url: String,
        refresh: Duration,
        refetch: Duration,
    },
}

impl Mode {
    fn issuer(key: SigningKey) -> Self {
        Mode::Issuer {
            key,
            retired: Vec::new(),
        }
    }
}

/// Everything `keycard serve` needs, validated.
pub struct ServeConfig {
    pub listen: String,
    pub users: PathBuf,
    pub mode: Mode,
    pub token_ttl: Duration,
    pub refresh_ttl: Option<Duration>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub leeway: Duration,
    pub max_token_lifetime: Duration,
    pub rules: Rules,
    pub options: AppOptions,
    pub rate_limit_user: Option<Rate>,
    pub rate_limit_ip: Option<Rate>,
    pub limits: ServerLimits,
    pub proxies: TrustedProxies,
    pub policy: PasswordPolicy,
    /// Files holding secrets that other users can read: warned about at start.
    pub exposed: Vec<String>,
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

fn duration(name: &str, value: Option<String>, default: &str) -> anyhow::Result<Duration> {
    let text = value.unwrap_or_else(|| default.to_owned());
    parse_duration(&text).with_context(|| format!("--{name}"))
}

/// [`duration`], refused below `min_secs` seconds with "--NAME must be at least …s".
fn duration_at_least(
    name: &str,
    value: Option<String>,
    default: &str,
    min_secs: u64,
) -> anyhow::Result<Duration> {
    let d = duration(name, value, default)?;
    if d < Duration::from_secs(min_secs) {
        bail!("--{name} must be at least {min_secs}s");
    }
    Ok(d)
}

fn rate(name: &str, value: Option<String>, default: &str) -> anyhow::Result<Option<Rate>> {
    let text = value.unwrap_or_else(|| default.to_owned());
    Rate::parse(&text).with_context(|| format!("--{name}"))
}

impl ServeConfig {
    pub fn resolve(cli: &Cli, args: &ServeArgs, file: FileConfig) -> anyhow::Result<Self> {
        let users = users_path(cli, &file);
        let policy = password_policy(&cli.argon2, &file)?;
        // The demo makes its own throwaway secret and users file (see demo::Demo).
        let mut warnings = Vec::new();
        let mode = if args.demo {
            Mode::issuer(SigningKey::hs256(&Secret::random())?)
        } else {
            mode(args, &file, &mut warnings)?
        };
        if matches!(mode, Mode::Issuer { .. }) {
            warnings.extend(exposed(&users, "the users file"));
        }
        let token_ttl = duration("token-ttl", args.token_ttl.clone().or(file.token_ttl), "7d")?;
        if token_ttl.is_zero() {
            bail!("--token-ttl: a token must live at least 1s");
        }
        let max_token_lifetime = duration(
            "max-token-lifetime",
            args.max_token_lifetime.clone().or(file.max_token_lifetime),
            "30d",
        )?;
        if token_ttl > max_token_lifetime {
            bail!(
                "--token-ttl ({}s) is longer than --max-token-lifetime ({}s): the server would refuse its own tokens; raise --max-token-lifetime",
                token_ttl.as_secs(),
                max_token_lifetime.as_secs()
            );
        }
        let refresh_ttl = match args
            .refresh_ttl
            .clone()
            .or(file.refresh_ttl)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(text) => {
                let ttl = parse_duration(&text).context("--refresh-ttl")?;
                if ttl.is_zero() {
                    bail!("--refresh-ttl: a refresh token must live at least 1s");
                }
                Some(ttl)
            }
        };
        let listen = args
            .listen
            .clone()
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        listen.parse::<std::net::SocketAddr>().with_context(|| {
            format!("--listen {listen:?} is not an address like 127.0.0.1:8080")
        })?;
        if args.demo {
            crate::demo::check_demo_listen(&listen)?;
        }
        let public = if args.public.is_empty() {
            file.public.unwrap_or_default()
        } else {
            args.public.clone()
        };
        let public: Vec<String> = public
            .into_iter()
            .filter(|p| !p.trim().is_empty())
            .collect();
        let mut rules = keycard::server::serve_rules(&public).context("--public")?;
        for (i, r) in file.rule.iter().enumerate() {
            rules = rules
                .rule(rule(r).with_context(|| format!("config file: [[rule]] number {}", i + 1))?);
        }
        let identity = IdentityHeaders::new(
            args.user_header
                .as_deref()
                .or(file.user_header.as_deref())
                .unwrap_or("X-Auth-User"),
            args.role_header
                .as_deref()
                .or(file.role_header.as_deref())
                .unwrap_or("X-Auth-Role"),
            args.claims_header
                .as_deref()
                .or(file.claims_header.as_deref())
                .unwrap_or("X-Auth-Claims"),
        )?;
        let gateway = match non_empty(args.upstream.clone().or(file.upstream.clone())) {
            None => None,
            Some(url) => {
                let timeout = duration_at_least(
                    "upstream-timeout",
                    args.upstream_timeout
                        .clone()
                        .or(file.upstream_timeout.clone()),
                    "30s",
                    1,
                )?;
                let pass = args.pass_authorization || file.pass_authorization.unwrap_or(false);
                Some(
                    Gateway::new(&url)?
                        .with_timeout(timeout)
                        .with_authorization_passed(pass),
                )
            }
        };
        let forward_auth = forward_auth_headers(
            args.forward_auth.clone().or(file.forward_auth),
            args.forward_auth_uri_header
                .clone()
                .or(file.forward_auth_uri_header),
            args.forward_auth_method_header
                .clone()
                .or(file.forward_auth_method_header),
        )?;
        let request_timeout = duration_at_least(
            "request-timeout",
            args.request_timeout.clone().or(file.request_timeout),
            "30s",
            1,
        )?;
        let header_timeout = duration_at_least(
            "header-timeout",
            args.header_timeout.clone().or(file.header_timeout),
            "10s",
            1,
        )?;
        let defaults = ServerLimits::default();
        let limits = ServerLimits {
            request_timeout,
            header_timeout,
            max_connections: at_least(
                "max-connections",
                args.max_connections.or(file.max_connections),
                defaults.max_connections,
                1,
            )?,
            max_header_bytes: at_least(
                "max-header-bytes",
                args.max_header_bytes.or(file.max_header_bytes),
                defaults.max_header_bytes,
                1024,
            )?,
            max_headers: at_least(
                "max-headers",
                args.max_headers.or(file.max_headers),
                defaults.max_headers,
                8,
            )?,
            ..defaults
        };
        let proxy_list = if args.trusted_proxy.is_empty() {
            file.trusted_proxy.unwrap_or_default()
        } else {
            args.trusted_proxy.clone()
        };
        let mut blocks = Vec::new();
        for p in proxy_list.iter().filter(|p| !p.trim().is_empty()) {
            blocks.push(p.parse::<Cidr>().context("--trusted-proxy")?);
        }
        let proxies = TrustedProxies::new(blocks);
        let gateway = gateway.map(|g| g.with_trusted_proxies(proxies.clone()));
        let options = AppOptions {
            gateway,
            identity,
            forward_auth,
        };
        Ok(Self {
            listen,
            users,
            mode,
            token_ttl,
            refresh_ttl,
            issuer: non_empty(args.issuer.clone().or(file.issuer)),
            audience: non_empty(args.audience.clone().or(file.audience)),
            leeway: duration("leeway", args.leeway.clone().or(file.leeway), "30s")?,
            max_token_lifetime,
            rules,
            options,
            rate_limit_user: rate(
                "rate-limit-user",
                args.rate_limit_user.clone().or(file.rate_limit_user),
                "10/m",
            )?,
            rate_limit_ip: rate(
                "rate-limit-ip",
                args.rate_limit_ip.clone().or(file.rate_limit_ip),
                "100/m",
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
    proxy: Option<String>,
    uri: Option<String>,
    method: Option<String>,
) -> anyhow::Result<ForwardAuthHeaders> {
    match (non_empty(proxy), non_empty(uri), non_empty(method)) {
        (None, None, None) => Ok(ForwardAuthHeaders::default()),
        (Some(proxy), None, None) => Ok(ForwardAuthHeaders::preset(&proxy)?),
        (None, Some(uri), Some(method)) => Ok(ForwardAuthHeaders::custom(&uri, &method)?),
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

fn non_empty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty())
}

/// Exactly one of `AUTHENTICATION_SECRET`, `AUTHENTICATION_SECRET_FILE` (or the file's
/// `authentication_secret_file`), `--signing-key` and `--jwks-url`; then the keys.
fn mode(args: &ServeArgs, file: &FileConfig, warnings: &mut Vec<String>) -> anyhow::Result<Mode> {
    let secret = env("AUTHENTICATION_SECRET");
    let secret_file = env("AUTHENTICATION_SECRET_FILE")
        .map(PathBuf::from)
        .or_else(|| file.authentication_secret_file.clone());
    let signing_key = args
        .signing_key
        .clone()
        .or_else(|| file.signing_key.clone());
    let jwks_url = non_empty(args.jwks_url.clone().or_else(|| file.jwks_url.clone()));
    let given: Vec<&str> = [
        secret.as_ref().map(|_| "AUTHENTICATION_SECRET"),
        secret_file.as_ref().map(|_| "AUTHENTICATION_SECRET_FILE"),
        signing_key.as_ref().map(|_| "--signing-key"),
        jwks_url.as_ref().map(|_| "--jwks-url"),
    ]
    .into_iter()
    .flatten()
    .collect();
    match given.as_slice() {
        [] => bail!(
            "no signing key: set AUTHENTICATION_SECRET to a secret of at least 32 bytes (e.g. export AUTHENTICATION_SECRET=$(head -c 32 /dev/urandom | base64)), or AUTHENTICATION_SECRET_FILE, or --signing-key FILE (make one with `keycard keys generate --out FILE`), or try `keycard serve --demo`"
        ),
        [_] => {}
        many => bail!(
            "more than one key source given ({}): keep exactly one",
            many.join(" and ")
        ),
    }
    let retired_paths = if args.verify_key.is_empty() {
        file.verify_key.clone().unwrap_or_default()
    } else {
        args.verify_key.clone()
    };
    let key_id = non_empty(args.key_id.clone().or_else(|| file.key_id.clone()));
    if let Some(url) = jwks_url {
        if !retired_paths.is_empty() || key_id.is_some() {
            bail!(
                "--verify-key and --key-id are for issuers; a --jwks-url node takes its keys from the issuer"
            );
        }
        let refresh = duration_at_least(
            "jwks-refresh",
            args.jwks_refresh
                .clone()
                .or_else(|| file.jwks_refresh.clone()),
            "5m",
            10,
        )?;
        let refetch = duration_at_least(
            "jwks-refetch-interval",
            args.jwks_refetch_interval
                .clone()
                .or_else(|| file.jwks_refetch_interval.clone()),
            "10s",
            1,
        )?;
        // Checked now so that a bad URL is a configuration error.
        keycard::RemoteJwks::new(&url)?;
        return Ok(Mode::VerifyOnly {
            jwks_url: url,
            refresh,
            refetch,
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
        let pem = read_key(&path, "--verify-key")?;
        if pem.windows(11).any(|w| w == b"PRIVATE KEY") {
            warnings.extend(exposed(&path, "the private key"));
        }
        retired.push(
            VerifyingKey::from_pem(&pem)
                .with_context(|| format!("--verify-key {}", path.display()))?,
        );
    }
    if key.algorithm().is_hmac() && !retired.is_empty() {
        bail!(
            "--verify-key takes public keys, which cannot verify beside an HMAC secret; sign with --signing-key to rotate keys"
        );
    }
    Ok(Mode::Issuer { key, retired })
}
