//! The command line: flags and environment variables (clap). Values left unset here
//! fall back to the config file, then to the defaults (`config.rs`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "keycard",
    version,
    about = "JWT authentication for HTTP APIs: a token endpoint, a verifier and a user database.",
    after_help = "Every option also has an environment variable and a key in the TOML config file (flag > environment > file > default). Secrets are read only from the environment or files, never from flags."
)]
pub struct Cli {
    /// TOML configuration file [default: keycard.toml when present]
    #[arg(long, global = true, env = "KEYCARD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The user database file [default: users.json]
    #[arg(long, global = true, env = "KEYCARD_USERS", value_name = "FILE")]
    pub users: Option<PathBuf>,

    #[command(flatten)]
    pub argon2: Argon2Args,

    #[command(subcommand)]
    pub command: Command,
}

/// Argon2id cost of new password hashes (OWASP's by default).
#[derive(Args, Debug, Default)]
pub struct Argon2Args {
    /// Argon2id memory per hash, in KiB [default: 19456]
    #[arg(long, global = true, env = "KEYCARD_ARGON2_MEMORY", value_name = "KIB")]
    pub argon2_memory: Option<u32>,

    /// Argon2id iterations [default: 2]
    #[arg(
        long,
        global = true,
        env = "KEYCARD_ARGON2_ITERATIONS",
        value_name = "N"
    )]
    pub argon2_iterations: Option<u32>,

    /// Argon2id lanes [default: 1]
    #[arg(
        long,
        global = true,
        env = "KEYCARD_ARGON2_PARALLELISM",
        value_name = "N"
    )]
    pub argon2_parallelism: Option<u32>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the token endpoint and the verifying server
    Serve(Box<ServeArgs>),
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
        /// EdDSA (Ed25519), ES256 (P-256), ES384 (P-384) or RS256 (RSA 2048)
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

#[derive(Args, Debug, Default)]
pub struct ServeArgs {
    /// Address to bind [default: 127.0.0.1:8080]
    #[arg(long, env = "KEYCARD_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,

    /// PKCS#8 PEM private key to sign with (instead of AUTHENTICATION_SECRET)
    #[arg(long, env = "KEYCARD_SIGNING_KEY", value_name = "FILE")]
    pub signing_key: Option<PathBuf>,

    /// A retired key (public SPKI or private PKCS#8 PEM) that still verifies but never signs (repeatable)
    #[arg(
        long,
        env = "KEYCARD_VERIFY_KEY",
        value_delimiter = ',',
        value_name = "FILE"
    )]
    pub verify_key: Vec<PathBuf>,

    /// Verify-only node: trust the keys of this issuer's JWKS (http://…/.well-known/jwks.json); no users, no /token
    #[arg(long, env = "KEYCARD_JWKS_URL", value_name = "URL")]
    pub jwks_url: Option<String>,

    /// How often a verify-only node refetches the JWKS [default: 5m]
    #[arg(long, env = "KEYCARD_JWKS_REFRESH", value_name = "DURATION")]
    pub jwks_refresh: Option<String>,

    /// Least time between two JWKS refetches caused by unknown key ids [default: 10s]
    #[arg(long, env = "KEYCARD_JWKS_REFETCH_INTERVAL", value_name = "DURATION")]
    pub jwks_refetch_interval: Option<String>,

    /// Also hand out refresh tokens valid this long (e.g. 30d) [default: off]
    #[arg(long, env = "KEYCARD_REFRESH_TTL", value_name = "DURATION")]
    pub refresh_ttl: Option<String>,

    /// Gateway mode: forward every other request, once allowed, to this upstream (http://host:port)
    #[arg(long, env = "KEYCARD_UPSTREAM", value_name = "URL")]
    pub upstream: Option<String>,

    /// How long the upstream may take to answer [default: 30s]
    #[arg(long, env = "KEYCARD_UPSTREAM_TIMEOUT", value_name = "DURATION")]
    pub upstream_timeout: Option<String>,

    /// Pass the client's Authorization header on to the upstream [default: off]
    #[arg(long, env = "KEYCARD_PASS_AUTHORIZATION")]
    pub pass_authorization: bool,

    /// Name of the identity header carrying the username [default: X-Auth-User]
    #[arg(long, env = "KEYCARD_USER_HEADER", value_name = "NAME")]
    pub user_header: Option<String>,

    /// Name of the identity header carrying the role [default: X-Auth-Role]
    #[arg(long, env = "KEYCARD_ROLE_HEADER", value_name = "NAME")]
    pub role_header: Option<String>,

    /// Name of the identity header carrying the verified claims as JSON [default: X-Auth-Claims]
    #[arg(long, env = "KEYCARD_CLAIMS_HEADER", value_name = "NAME")]
    pub claims_header: Option<String>,

    /// The front proxy asking /auth/verify, which decides the one original-URI and method header read: nginx (X-Original-URI, X-Original-Method), traefik or caddy (X-Forwarded-Uri, X-Forwarded-Method) [default: nginx]
    #[arg(long, env = "KEYCARD_FORWARD_AUTH", value_name = "PROXY")]
    pub forward_auth: Option<String>,

    /// For another proxy (Envoy...): the header /auth/verify reads the original URI from (with --forward-auth-method-header)
    #[arg(long, env = "KEYCARD_FORWARD_AUTH_URI_HEADER", value_name = "NAME")]
    pub forward_auth_uri_header: Option<String>,

    /// For another proxy: the header /auth/verify reads the original method from (with --forward-auth-uri-header)
    #[arg(long, env = "KEYCARD_FORWARD_AUTH_METHOD_HEADER", value_name = "NAME")]
    pub forward_auth_method_header: Option<String>,

    /// Token lifetime: 90s, 15m, 12h, 7d [default: 7d]
    #[arg(long, env = "KEYCARD_TOKEN_TTL", value_name = "DURATION")]
    pub token_ttl: Option<String>,

    /// Stamp `iss` into tokens and require it on verification
    #[arg(long, env = "KEYCARD_ISSUER")]
    pub issuer: Option<String>,

    /// Stamp `aud` into tokens and require it on verification
    #[arg(long, env = "KEYCARD_AUDIENCE")]
    pub audience: Option<String>,

    /// Clock skew tolerated on exp, nbf and iat [default: 30s]
    #[arg(long, env = "KEYCARD_LEEWAY", value_name = "DURATION")]
    pub leeway: Option<String>,

    /// Refuse tokens whose exp lies further ahead than this [default: 30d]
    #[arg(long, env = "KEYCARD_MAX_TOKEN_LIFETIME", value_name = "DURATION")]
    pub max_token_lifetime: Option<String>,

    /// Extra path reachable without a token; a trailing * matches every path starting with the rest (repeatable)
    #[arg(
        long,
        env = "KEYCARD_PUBLIC",
        value_delimiter = ',',
        value_name = "PATH"
    )]
    pub public: Vec<String>,

    /// The `kid` stamped into tokens [default: none for HS256]
    #[arg(long, env = "KEYCARD_KEY_ID", value_name = "KID")]
    pub key_id: Option<String>,

    /// Failed logins allowed per username: N/s, N/m, N/h, or 0 for no limit [default: 10/m]
    #[arg(long, env = "KEYCARD_RATE_LIMIT_USER", value_name = "RATE")]
    pub rate_limit_user: Option<String>,

    /// /token requests allowed per client address: N/s, N/m, N/h, or 0 for no limit [default: 100/m]
    #[arg(long, env = "KEYCARD_RATE_LIMIT_IP", value_name = "RATE")]
    pub rate_limit_ip: Option<String>,

    /// A reverse proxy whose X-Forwarded-For is believed (IP or CIDR, repeatable) [default: none]
    #[arg(
        long,
        env = "KEYCARD_TRUSTED_PROXY",
        value_delimiter = ',',
        value_name = "CIDR"
    )]
    pub trusted_proxy: Vec<String>,

    /// Most connections served at once [default: 1024]
    #[arg(long, env = "KEYCARD_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,

    /// Largest request head (request line and headers), in bytes [default: 16384]
    #[arg(long, env = "KEYCARD_MAX_HEADER_BYTES", value_name = "BYTES")]
    pub max_header_bytes: Option<usize>,

    /// Most header fields in a request [default: 64]
    #[arg(long, env = "KEYCARD_MAX_HEADERS", value_name = "N")]
    pub max_headers: Option<usize>,

    /// How long a client may take to send a request head, and stay idle between requests [default: 10s]
    #[arg(long, env = "KEYCARD_HEADER_TIMEOUT", value_name = "DURATION")]
    pub header_timeout: Option<String>,

    /// How long one request may take [default: 30s]
    #[arg(long, env = "KEYCARD_REQUEST_TIMEOUT", value_name = "DURATION")]
    pub request_timeout: Option<String>,

    /// Try it out: a throwaway secret and a demo user in a temporary users file
    #[arg(long)]
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
}
