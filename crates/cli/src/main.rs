//! The `portcullis` command.
//!
//! Flags are parsed here (clap derive; every flag also readable from a `PORTCULLIS_*` variable) and turned into
//! the library crates' configuration; each subcommand lives in `cmd/`, each report format in `output/`.

mod args;
mod cmd;
mod output;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};

/// mimalloc instead of glibc's malloc: the webhook allocates and frees a read buffer and a
/// request's small strings per review, and glibc spent about a sixth of the server's CPU on
/// that (consolidating its fast bins on every 8 KiB buffer). With mimalloc `/validate` serves
/// about 11% more reviews per CPU second (`scripts/bench-webhook`). Transparent huge pages are
/// off for it (`no_thp`): with them an inline scan's buffers raised peak RSS from 40 to 86 MiB.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    QUIET.store(cli.quiet, std::sync::atomic::Ordering::Relaxed);
    init_tracing(if cli.quiet { None } else { Some(cli.verbose) });
    // Exactly one rustls provider (aws-lc-rs) for the whole process; a second one would panic.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Command::Scan(a) => cmd::scan::run(*a).await,
            Command::Sbom(a) => cmd::sbom::run(a).await,
            Command::Db(a) => cmd::db::run(a).await,
            Command::Serve(a) => cmd::serve::run(*a).await,
            Command::Policy(a) => cmd::policy::run(a).await,
            Command::Version(a) => cmd::version::run(a),
            Command::Certs(a) => cmd::certs::run(a),
            Command::Settings(a) => cmd::settings::run(a).await,
            Command::Runtime(a) => cmd::runtime::run(a).await,
            Command::Decisions(a) => cmd::decisions::run(a).await,
            Command::Images(a) => cmd::images::run(a).await,
            Command::Cluster(a) => cmd::cluster::run(a).await,
            Command::Token(a) => cmd::token::run(a).await,
        }
    });
    match result {
        Ok(code) => code,
        // The reader went away (`| head`): done, quietly, as Unix tools are.
        Err(e) if closed_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", render(&e));
            ExitCode::from(2)
        }
    }
}

/// Whether `e` comes from writing to a reader that closed its end.
fn closed_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// `-q`: nothing on stderr but errors.
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether `-q` was given: commands leave out what they would say besides errors.
pub(crate) fn quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

/// Logging on stderr: `verbose` is `-v`s given, `None` under `-q` (errors only).
fn init_tracing(verbose: Option<u8>) {
    let default = match verbose {
        None => "error",
        Some(0) => "warn",
        Some(1) => "info,portcullis=debug",
        Some(_) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("PORTCULLIS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colours only on a terminal: container logs, CI logs and files get plain text.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// The error and its causes on one line: no message repeats its source, so each cause is
/// shown once, in order.
fn render(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        out.push_str(": ");
        out.push_str(&cause.to_string());
    }
    out
}
