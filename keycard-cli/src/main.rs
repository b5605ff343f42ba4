//! The `keycard` command. It parses flags, validates them into a config, and calls the
//! library; it has no logic of its own.

mod allocator;
mod check_config;
mod cli;
mod config;
mod config_file;
mod demo;
mod keys_cmd;
mod serve;
mod stores;
mod tls;
mod trusted;
mod users_cmd;

use std::io::IsTerminal;
use std::process::ExitCode;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::cli::{Cli, Command};
use crate::config::ServeConfig;
use crate::config_file::FileConfig;

/// A failure and its exit code: 2 for bad configuration, 1 for everything else.
pub enum Failure {
    /// Bad flags, environment or config file: exit 2.
    Config(anyhow::Error),
    /// Anything else: exit 1.
    Runtime(anyhow::Error),
}

fn main() -> ExitCode {
    allocator::give_large_blocks_back();
    let cli = cli::parse();
    let outcome = run(cli);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        // `keycard users list | head -1`: the reader has what it wanted.
        Err(Failure::Runtime(e)) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(Failure::Config(e)) => {
            eprintln!("keycard: error: {e:#}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(e)) => {
            eprintln!("keycard: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Writes `text` and a newline to standard output, as an error (not println!'s panic)
/// when the reader has gone.
pub fn print_line(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()?;
    Ok(())
}

fn run(cli: Cli) -> Result<(), Failure> {
    let file = FileConfig::load(cli.config.as_deref()).map_err(Failure::Config)?;
    let global = file.global(&cli.global).map_err(Failure::Config)?;
    let location =
        stores::Location::of(&global, cli.database_url_is_a_flag).map_err(Failure::Config)?;
    match cli.command {
        Command::Serve(ref args) => {
            let args = file.serve(args).map_err(Failure::Config)?;
            let mut config =
                ServeConfig::resolve(&global, &args, &file).map_err(Failure::Config)?;
            init_logging(config.json_logs);
            let (demo, location) = if args.demo {
                let demo = demo::Demo::prepare(&mut config).map_err(Failure::Runtime)?;
                (Some(demo), stores::Location::File(config.users.clone()))
            } else {
                (None, location.trusting(&config.tls))
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|e| Failure::Runtime(e.into()))?;
            runtime.block_on(serve::run(config, location, demo.as_ref()))
        }
        Command::CheckConfig(ref args) => {
            let args = file.serve(args).map_err(Failure::Config)?;
            let config = ServeConfig::resolve(&global, &args, &file).map_err(Failure::Config)?;
            let location = location.trusting(&config.tls);
            current_thread(async {
                check_config::run(&config, &location)
                    .await
                    .map_err(Failure::Config)
            })
        }
        Command::Openapi => print_line(&keycard::server::openapi::full()).map_err(Failure::Runtime),
        Command::Keys { command } => keys_cmd::run(command).map_err(Failure::Runtime),
        Command::Tokens {
            command: cli::TokensCommand::Revoke { jti, until },
        } => current_thread(async {
            if config::json_logs(&global).map_err(Failure::Config)? {
                init_logging(true);
            }
            let stores = stores::Stores::open(&location)
                .await
                .map_err(Failure::Config)?;
            stores
                .tokens
                .revoke_token(&jti, until)
                .await
                .map_err(|e| Failure::Runtime(e.into()))?;
            users_cmd::audit("token.revoke", "-", None);
            eprintln!("token {jti} revoked until {until}");
            Ok(())
        }),
        Command::Db {
            command: cli::DbCommand::Migrate,
        } => current_thread(async { stores::migrate(&location).await.map_err(Failure::Config) }),
        Command::Users { command } => {
            let policy = config::password_policy(&global).map_err(Failure::Config)?;
            // In JSON mode the changes are also audit events (`keycard::audit`).
            if config::json_logs(&global).map_err(Failure::Config)? {
                init_logging(true);
            }
            users_cmd::run(command, &location, policy)
        }
    }
}

/// Runs `work` on a runtime of one thread (the short commands).
fn current_thread(work: impl Future<Output = Result<(), Failure>>) -> Result<(), Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(e.into()))?
        .block_on(work)
}

/// Logs to stderr, filtered by `RUST_LOG`: text, or one JSON object per line with stable
/// names (`timestamp`, `level`, `target`, `fields.message`, the event's fields, and the
/// request's span: `span.request_id`, `span.method`, `span.path`).
fn init_logging(json: bool) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|s| s.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if json {
        let fmt = tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr);
        registry.with(fmt).try_init()
    } else {
        let fmt = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal());
        registry.with(fmt).try_init()
    };
}
