//! Run with `cargo run -p imagevault-server` (or `cargo run -p imagevault-server -- --help`)
//!
//! The imagevault example server: the whole REST API with its thumbnail worker in one
//! binary, plus the commands to run a worker alone, migrate the database and set up users
//! and plans. With no arguments it serves on <http://127.0.0.1:8000> with SQLite and files
//! under `./imagevault-data`, and on the first start creates an administrator whose
//! password it prints once. This file is wiring only: every rule lives in the library.

mod admin;
mod cli;
mod healthcheck;
mod import;
mod metrics;
mod progress;
#[cfg(test)]
mod reference;
mod run;
mod shutdown;
mod sweep;
mod table;
mod thumbnails;

use std::io::IsTerminal as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use tracing_subscriber::EnvFilter;

use cli::{Cli, Command, LogFormat, ServeArgs};

fn main() -> ExitCode {
    restrict_new_files();
    raise_open_files_limit();
    let cli = Cli::parse();
    let command = cli
        .command
        .unwrap_or_else(|| Command::Serve(ServeArgs::from_environment()));
    if let Err(error) = init_logging(cli.global.log.as_deref(), cli.global.log_format, &command) {
        eprintln!("error: {error:#}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match command {
            Command::Serve(args) => run::serve_command(&cli.global, args).await,
            Command::Worker(args) => run::worker_command(&cli.global, args).await,
            Command::Migrate => run::migrate(&cli.global).await,
            Command::Sweep(args) => {
                let vault = run::open_vault(&cli.global).await?;
                sweep::run(&vault, args).await
            }
            Command::Admin(command) => {
                let vault = run::open_vault_with(&cli.global, |config| {
                    if let cli::AdminCommand::Import(args) = &command {
                        import::configure(args, config);
                    }
                })
                .await?;
                admin::run(&vault, &cli.global, command).await
            }
            Command::Healthcheck(args) => healthcheck::run(args).await,
            Command::Completions { shell } => {
                let mut command = <Cli as clap::CommandFactory>::command();
                clap_complete::generate(
                    shell,
                    &mut command,
                    "imagevault-server",
                    &mut std::io::stdout(),
                );
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Everything the server creates (the data directory, the SQLite database and its
/// journal files, media files, the generated administrator password) is for the server's
/// own user only: directories 0700 and files 0600, however the process was started.
/// Set before any thread starts, since the mask is the whole process's.
fn restrict_new_files() {
    #[cfg(unix)]
    {
        use rustix::fs::Mode;
        rustix::process::umask(Mode::RWXG | Mode::RWXO);
    }
}

/// Raises the soft limit on open files to the hard one, as nginx's `worker_rlimit_nofile`
/// lets its operators do: beside one file per connection, every media buffer of 64 KiB or
/// more that the server holds keeps its file open, so that it is sent from the file (up to
/// 512 for a full media cache), and the common default soft limit of 1024 would leave
/// little room for connections.
fn raise_open_files_limit() {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let limit = getrlimit(Resource::Nofile);
        // `None` is unlimited: a soft limit that already is, or a hard one the kernel
        // would refuse as the soft limit for files.
        if let (Some(current), Some(maximum)) = (limit.current, limit.maximum)
            && current < maximum
        {
            let raised = Rlimit {
                current: Some(maximum),
                maximum: Some(maximum),
            };
            // Best effort: where it fails, the server works within the soft limit.
            let _ = setrlimit(Resource::Nofile, raised);
        }
    }
}

/// Logs go to stderr, so that stdout carries only command output and the listening line.
/// Without `--log` or `IMAGEVAULT_LOG`, `RUST_LOG` applies, else `info` for the
/// long-running commands and `warn` for the one-shot ones (whose output is the result).
/// JSON lines carry the event's fields at the top level and the current span's (a
/// request's id, route, user, client address) under `span`, without the span list,
/// which would repeat them.
fn init_logging(
    directive: Option<&str>,
    format: LogFormat,
    command: &Command,
) -> anyhow::Result<()> {
    let from_rust_log = std::env::var("RUST_LOG").ok();
    let default = match command {
        // A sweep logs each object it deletes.
        Command::Serve(_) | Command::Worker(_) | Command::Sweep(_) => "info",
        Command::Migrate
        | Command::Admin(_)
        | Command::Healthcheck(_)
        | Command::Completions { .. } => "warn",
    };
    let directive = directive.or(from_rust_log.as_deref()).unwrap_or(default);
    let filter = EnvFilter::try_new(directive).with_context(|| {
        format!(
            "invalid log filter {directive:?} (--log, IMAGEVAULT_LOG or RUST_LOG); use a level such as `info` or directives such as `imagevault=debug,warn`"
        )
    })?;
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => subscriber
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => subscriber
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    }
    .map_err(|error| anyhow::anyhow!("cannot set up logging: {error}"))
}
