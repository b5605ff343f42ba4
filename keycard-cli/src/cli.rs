//! The command line: flags and environment variables (clap). The same structs are the
//! keys of the config file (serde), so each option is defined once, here. Values left
//! unset fall back to the config file, then to the library's defaults, which [`parse`]
//! writes into the help (`config.rs` resolves them).
//!
//! Why one file of ~400 lines: it is declarations, one per option, and keeping every option
//! of the command line and the config file in one place is its point.

use std::path::PathBuf;

use clap::{Arg, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use keycard::duration::format_duration;
use keycard::jwt::revocation_feed::FEED_PATH;
use keycard::jwt::{DEFAULT_LEEWAY, DEFAULT_MAX_LIFETIME, DEFAULT_TOKEN_TTL, RevocationFeed};
use keycard::login::{default_ip_rate, default_user_rate};
use keycard::server::{ForwardAuthHeaders, IdentityHeaders};
use keycard::{Gateway, PasswordPolicy, RemoteJwks, ServerLimits, TokenCache};
use serde::{Deserialize, Serialize};

/// The address `keycard serve` binds unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The users file unless told otherwise.
pub const DEFAULT_USERS: &str = "users.json";
/// The config file read when present and no other is named.
pub const DEFAULT_CONFIG: &str = "keycard.toml";

#[derive(Parser, Debug)]
#[command(
    name = "keycard",
    version,
    about = "JWT authentication for HTTP APIs: a token endpoint, a verifier and a user database.",
    after_help = "Every option also has an environment variable and a key in the TOML config file (flag > environment > file > default). Secrets are read only from the environment or files, never from flags."
)]
pub struct Cli {
    /// TOML configuration file
    #[arg(
        long,
        global = true,
        env = "KEYCARD_CONFIG",
        value_name = "FILE",
        display_order = 999
    )]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,

    /// Whether `--database-url` was given as a flag (which must not hold a password).
    #[arg(skip)]
    pub database_url_is_a_flag: bool,
}

/// The options of every subcommand: the users file and the Argon2id cost of new
/// password hashes (OWASP's by default).
#[derive(Args, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[command(next_display_order = 1000)]
pub struct GlobalArgs {
    /// The user database file
    #[arg(long, global = true, env = "KEYCARD_USERS", value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users: Option<PathBuf>,

    /// PostgreSQL for the users and tokens instead of the users file, for several issuers: postgres://USER@HOST[:PORT]/DB (the password from this variable, PGPASSWORD or --database-password-file; never in the flag)
    #[arg(long, global = true, env = "KEYCARD_DATABASE_URL", value_name = "URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,

    /// Log lines on stderr: text (for people) or json (one object per line, for machines; the users commands then also write their audit events)
    #[arg(
        long,
        global = true,
        env = "KEYCARD_LOG_FORMAT",
        value_name = "text|json"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<String>,

    /// A file holding the database password (its first line)
    #[arg(
        long,
        global = true,
        env = "KEYCARD_DATABASE_PASSWORD_FILE",
        value_name = "FILE"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_password_file: Option<PathBuf>,

    /// Argon2id memory per hash, in KiB
    #[arg(long, global = true, env = "KEYCARD_ARGON2_MEMORY", value_name = "KIB")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub argon2_memory: Option<u32>,

    /// Argon2id iterations
    #[arg(
        long,
        global = true,
        env = "KEYCARD_ARGON2_ITERATIONS",
        value_name = "N"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub argon2_iterations: Option<u32>,

    /// Argon2id lanes
    #[arg(
        long,
        global = true,
        env = "KEYCARD_ARGON2_PARALLELISM",
        value_name = "N"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub argon2_parallelism: Option<u32>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the token endpoint and the verifying server
    Serve(Box<ServeArgs>),
    /// Check a configuration as serve would, and print it resolved with secrets redacted (exit 0 or 2)
    CheckConfig(Box<ServeArgs>),
    /// Print the OpenAPI 3.1 document of Keycard's routes (every operation some configuration serves; a server publishes its own at /openapi.json)
    Openapi,
    /// Manage the user database
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Make and inspect signing keys
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Revoke issued tokens
    Tokens {
        #[command(subcommand)]
        command: TokensCommand,
    },
    /// Manage the PostgreSQL database (--database-url)
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum DbCommand {
    /// Apply the schema migrations this keycard carries (serve and users do it at start too)
    Migrate,
}

#[derive(Subcommand, Debug)]
pub enum TokensCommand {
    /// Revoke one token by its jti, until it would have expired anyway
    Revoke {
        /// The token's jti claim (base64url: it may start with `-`)
        #[arg(long, allow_hyphen_values = true)]
        jti: String,
        /// When the token expires (its exp claim, Unix seconds); the entry is dropped after
        #[arg(long, value_name = "UNIX_TIME")]
        until: u64,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Write a new private key (PKCS#8 PEM, mode 0600) and print its public JWK
    Generate {
        /// EdDSA (Ed25519), ES256 (P-256), ES384 (P-384), or RS256 (RSA 2048) in a build
        /// with the rsa-signing feature
        #[arg(long, default_value = "EdDSA")]
        alg: String,
        /// Where to write the private key; an existing file is never overwritten
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Print the public JWK of a key file (private PKCS#8 or public SPKI PEM)
    Show {
        /// The key file
        file: PathBuf,
    },
}

/// The options of `keycard serve`: flags, `KEYCARD_*` variables, and top-level keys of the
/// config file named like the long flags (`_` for `-`).
#[derive(Args, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeArgs {
    /// Address to bind
    #[arg(long, env = "KEYCARD_LISTEN", value_name = "ADDR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,

    /// Serve Prometheus metrics at /metrics on this address, a listener of its own (off by default)
    #[arg(long, env = "KEYCARD_METRICS_LISTEN", value_name = "ADDR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<String>,

    /// Serve HTTPS with this certificate chain (PEM, the server's certificate first), reloaded when it changes
    #[arg(long, env = "KEYCARD_TLS_CERT", value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1)
    #[arg(long, env = "KEYCARD_TLS_KEY", value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,

    /// Also trust these CA certificates (PEM) for https:// JWKS, revocation-feed and upstream URLs and PostgreSQL with sslmode=require, beside the system's roots
    #[arg(long, env = "KEYCARD_CA_FILE", value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,

    /// PKCS#8 PEM private key to sign with (instead of AUTHENTICATION_SECRET)
    #[arg(long, env = "KEYCARD_SIGNING_KEY", value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<PathBuf>,

    /// A retired key (public SPKI or private PKCS#8 PEM) that still verifies but never signs (repeatable)
    #[arg(
        long,
        env = "KEYCARD_VERIFY_KEY",
        value_delimiter = ',',
        value_name = "FILE"
    )]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verify_key: Vec<PathBuf>,

    /// Verify-only node: trust the keys of this issuer's JWKS (http://…/.well-known/jwks.json); no users, no /token
    #[arg(long, env = "KEYCARD_JWKS_URL", value_name = "URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,

    /// Verify-only node: find the issuer's JWKS (and its revocation feed) from its discovery metadata at this https:// URL, which tokens must name as iss
    #[arg(long, env = "KEYCARD_ISSUER_URL", value_name = "URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer_url: Option<String>,

    /// How often a verify-only node refetches the JWKS
    #[arg(long, env = "KEYCARD_JWKS_REFRESH", value_name = "DURATION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_refresh: Option<String>,

    /// Least time between two JWKS refetches caused by unknown key ids
    #[arg(long, env = "KEYCARD_JWKS_REFETCH_INTERVAL", value_name = "DURATION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_refetch_interval: Option<String>,

    /// Where a verify-only node reads the issuer's signed revocations, or off (revoked tokens then work on this node until they expire)
    #[arg(long, env = "KEYCARD_REVOCATION_FEED", value_name = "URL|off")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation_feed: Option<String>,

    /// How often a verify-only node polls the revocation feed
    #[arg(long, env = "KEYCARD_REVOCATION_REFRESH", value_name = "DURATION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation_refresh: Option<String>,

    /// How old the newest revocation document may grow (the issuer unreachable) before a verify-only node refuses every token; 0 keeps accepting with the last list
    #[arg(long, env = "KEYCARD_REVOCATION_MAX_STALE", value_name = "DURATION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation_max_stale: Option<String>,

    /// Also hand out refresh tokens valid this long (e.g. 30d) [default: off]
    #[arg(long, env = "KEYCARD_REFRESH_TTL", value_name = "DURATION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_ttl: Option<String>,

    /// Gateway mode: forward every other request, once allowed, to this upstream (http://host:port)
    #[arg(long, env = "KEYCARD_UPSTREAM", value_name = "URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,

    /// How long the upstream may take to answer
    #[arg(long, env = "KEYCARD_UPSTREAM_TIMEOUT", value_name = "DURATION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_timeout: Option<String>,

    /// Pass the client's Authorization header on to the upstream [default: off]
    #[arg(long, env = "KEYCARD_PASS_AUTHORIZATION")]
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pass_authorization: bool,

    /// Also read the bearer token from this query parameter (for WebSockets: browsers cannot set Authorization on one), removed before the request goes on [default: off]
    #[arg(long, env = "KEYCARD_TOKEN_QUERY_PARAM", value_name = "NAME")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_query_param: Option<String>,

    /// Also read the bearer token from a "bearer.<token>" entry of Sec-WebSocket-Protocol, removed before the request goes on [default: off]
    #[arg(long, env = "KEYCARD_TOKEN_WEBSOCKET_PROTOCOL")]
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub token_websocket_protocol: bool,

    /// Name of the identity header carrying the username
    #[arg(long, env = "KEYCARD_USER_HEADER", value_name = "NAME")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_header: Option<String>,

    /// Name of the identity header carrying the role
    #[arg(long, env = "KEYCARD_ROLE_HEADER", value_name = "NAME")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_header: Option<String>,

    /// Name of the identity header carrying the verified claims as JSON
    #[arg(long, env = "KEYCARD_CLAIMS_HEADER", value_name = "NAME")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claims_header: Option<String>,

    /// The front proxy asking /auth/verify, which decides the one original-URI and method header read: nginx (X-Original-URI, X-Original-Method), traefik or caddy (X-Forwarded-Uri, X-Forwarded-Method)
    #[arg(long, env = "KEYCARD_FORWARD_AUTH", value_name = "PROXY")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forward_auth: Option<String>,

    /// For another proxy (Envoy...): the header /auth/verify reads the original URI from (with --forward-auth-method-header)
    #[arg(long, env = "KEYCARD_FORWARD_AUTH_URI_HEADER", value_name = "NAME")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forward_auth_uri_header: Option<String>,

    /// For another proxy: the header /auth/verify reads the original method from (with --forward-auth-uri-header)
    #[arg(long, env = "KEYCARD_FORWARD_AUTH_METHOD_HEADER", value_name = "NAME")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forward_auth_method_header: Option<String>,

    /// Token lifetime: 90s, 15m, 12h, 7d
    #[arg(long, env = "KEYCARD_TOKEN_TTL", value_name = "DURATION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_ttl: Option<String>,

    /// Stamp `iss` into tokens and require it on verification
    #[arg(long, env = "KEYCARD_ISSUER")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,

    /// Stamp `aud` into tokens and require it on verification
    #[arg(long, env = "KEYCARD_AUDIENCE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,

    /// Clock skew tolerated on exp, nbf and iat
    #[arg(long, env = "KEYCARD_LEEWAY", value_name = "DURATION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leeway: Option<String>,

    /// Refuse tokens whose exp lies further ahead than this
    #[arg(long, env = "KEYCARD_MAX_TOKEN_LIFETIME", value_name = "DURATION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_token_lifetime: Option<String>,

    /// Remember this many verified tokens, so that a repeated one skips its signature check (exp, revocation and the rest are checked every time); 0: off
    #[arg(long, env = "KEYCARD_TOKEN_CACHE", value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_cache: Option<usize>,

    /// The most memory the verified-token cache holds, in bytes
    #[arg(long, env = "KEYCARD_TOKEN_CACHE_BYTES", value_name = "BYTES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_cache_bytes: Option<u64>,

    /// Extra path reachable without a token; a trailing * matches every path starting with the rest (repeatable)
    #[arg(
        long,
        env = "KEYCARD_PUBLIC",
        value_delimiter = ',',
        value_name = "PATH"
    )]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub public: Vec<String>,

    /// The `kid` stamped into tokens [default: none for HS256]
    #[arg(long, env = "KEYCARD_KEY_ID", value_name = "KID")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,

    /// Failed logins allowed per username: N/s, N/m, N/h, or 0 for no limit
    #[arg(long, env = "KEYCARD_RATE_LIMIT_USER", value_name = "RATE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit_user: Option<String>,

    /// /token requests allowed per client address: N/s, N/m, N/h, or 0 for no limit
    #[arg(long, env = "KEYCARD_RATE_LIMIT_IP", value_name = "RATE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit_ip: Option<String>,

    /// A reverse proxy whose X-Forwarded-For is believed (IP or CIDR, repeatable) [default: none]
    #[arg(
        long,
        env = "KEYCARD_TRUSTED_PROXY",
        value_delimiter = ',',
        value_name = "CIDR"
    )]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_proxy: Vec<String>,

    /// Most connections served at once
    #[arg(long, env = "KEYCARD_MAX_CONNECTIONS", value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<usize>,

    /// Largest request head (request line and headers), in bytes
    #[arg(long, env = "KEYCARD_MAX_HEADER_BYTES", value_name = "BYTES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_header_bytes: Option<usize>,

    /// Most header fields in a request
    #[arg(long, env = "KEYCARD_MAX_HEADERS", value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_headers: Option<usize>,

    /// How long a client may take to send a request head, and stay idle between requests
    #[arg(long, env = "KEYCARD_HEADER_TIMEOUT", value_name = "DURATION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header_timeout: Option<String>,

    /// How long one request may take
    #[arg(long, env = "KEYCARD_REQUEST_TIMEOUT", value_name = "DURATION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_timeout: Option<String>,

    /// Try it out: a throwaway secret and a demo user in a temporary users file
    #[arg(long)]
    #[serde(skip)]
    pub demo: bool,
}

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// Add a user
    Add {
        /// Username: 1-64 characters of A-Z a-z 0-9 . _ @ -
        name: String,
        /// The user's role
        #[arg(long, default_value = "user")]
        role: String,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change a user's password
    Passwd {
        /// Username
        name: String,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change a user's role
    SetRole {
        /// Username
        name: String,
        /// The new role
        role: String,
    },
    /// Remove a user
    Remove {
        /// Username
        name: String,
    },
    /// Log a user out everywhere: every token issued to them so far stops working
    RevokeAll {
        /// Username
        name: String,
    },
    /// List users: name, role, creation time
    List {
        /// Print a JSON array instead
        #[arg(long)]
        json: bool,
    },
    /// Print every user, password hashes included, as a users file (JSON) on standard output
    Export,
    /// Add the users of a users file (or of the Express original's array) to the store,
    /// hashes as they are; a user already there with another record is replaced and their
    /// tokens end. Running it twice changes nothing the second time
    Import {
        /// The file to read, or - for standard input
        file: PathBuf,
    },
}

/// Parses the command line, with each option's default written into its help.
pub fn parse() -> Cli {
    let command = Cli::command()
        .mut_args(with_default)
        .mut_subcommand("serve", |serve| serve.mut_args(with_default))
        .mut_subcommand("check-config", |check| check.mut_args(with_default));
    let matches = command.get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    cli.database_url_is_a_flag =
        matches.value_source("database_url") == Some(clap::parser::ValueSource::CommandLine);
    cli
}

fn with_default(arg: Arg) -> Arg {
    match default_of(arg.get_id().as_str()) {
        Some(default) => {
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            arg.help(format!("{help} [default: {default}]"))
        }
        None => arg,
    }
}

/// The default of the option `id`, as its help shows it: the library's constant where
/// the library has one. `config.rs` resolves unset options to the same constants.
fn default_of(id: &str) -> Option<String> {
    let limits = ServerLimits::DEFAULT;
    let policy = PasswordPolicy::OWASP;
    let rate = |r: Option<keycard::duration::Rate>| r.map_or("0".to_owned(), |r| r.to_string());
    Some(match id {
        "config" => format!("{DEFAULT_CONFIG} when present"),
        "users" => DEFAULT_USERS.to_owned(),
        "argon2_memory" => policy.memory_kib().to_string(),
        "argon2_iterations" => policy.iterations().to_string(),
        "argon2_parallelism" => policy.parallelism().to_string(),
        "listen" => DEFAULT_LISTEN.to_owned(),
        "log_format" => "text".to_owned(),
        "jwks_refresh" => format_duration(RemoteJwks::DEFAULT_REFRESH),
        "jwks_refetch_interval" => format_duration(RemoteJwks::DEFAULT_MIN_REFETCH),
        "revocation_feed" => format!("{FEED_PATH} beside the JWKS"),
        "revocation_refresh" => format_duration(RevocationFeed::DEFAULT_REFRESH),
        "revocation_max_stale" => format_duration(RevocationFeed::DEFAULT_MAX_STALE),
        "upstream_timeout" => format_duration(Gateway::DEFAULT_TIMEOUT),
        "user_header" => IdentityHeaders::DEFAULT_USER.to_owned(),
        "role_header" => IdentityHeaders::DEFAULT_ROLE.to_owned(),
        "claims_header" => IdentityHeaders::DEFAULT_CLAIMS.to_owned(),
        "forward_auth" => ForwardAuthHeaders::DEFAULT_PROXY.to_owned(),
        "token_ttl" => format_duration(DEFAULT_TOKEN_TTL),
        "leeway" => format_duration(DEFAULT_LEEWAY),
        "max_token_lifetime" => format_duration(DEFAULT_MAX_LIFETIME),
        "rate_limit_user" => rate(default_user_rate()),
        "rate_limit_ip" => rate(default_ip_rate()),
        "max_connections" => limits.max_connections.to_string(),
        "token_cache" => TokenCache::DEFAULT_ENTRIES.to_string(),
        "token_cache_bytes" => TokenCache::DEFAULT_BYTES.to_string(),
        "max_header_bytes" => limits.max_header_bytes.to_string(),
        "max_headers" => limits.max_headers.to_string(),
        "header_timeout" => format_duration(limits.header_timeout),
        "request_timeout" => format_duration(limits.request_timeout),
        _ => return None,
    })
}
