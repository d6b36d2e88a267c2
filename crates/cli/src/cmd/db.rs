//! `portcullis db import|update|status`.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use portcullis_core::format_time;
use portcullis_vulndb::{Db, SourceFormat, UpdateConfig};

use crate::args::{DbArgs, DbCommand};

pub(crate) async fn run(a: DbArgs) -> anyhow::Result<ExitCode> {
    match a.command {
        DbCommand::Import {
            db,
            format,
            sources,
        } => {
            let path = super::db_path(db);
            let format: Option<SourceFormat> = format
                .map(|f| f.parse().with_context(|| format!("--format {f}")))
                .transpose()?;
            let spinner = working(format!("importing {} source(s)", sources.len()));
            let report = tokio::task::spawn_blocking(move || {
                Db::import(&path, &sources, format).map(|r| (r, path))
            })
            .await;
            if let Some(s) = spinner {
                s.finish_and_clear();
            }
            let report = report??;
            let (report, path) = report;
            if !crate::quiet() {
                for w in &report.warnings {
                    eprintln!("warning: {w}");
                }
                for (name, n) in &report.sources {
                    eprintln!("imported {n} records from {name}");
                }
                eprintln!("database {} ready", path.display());
            }
        }
        DbCommand::Update { db, config, mirror } => {
            let path = super::db_path(db);
            let mut cfg = match config {
                Some(p) => {
                    UpdateConfig::load(&p).with_context(|| format!("reading {}", p.display()))?
                }
                None => UpdateConfig::default(),
            };
            if mirror.is_some() {
                cfg.mirror = mirror;
            }
            let spinner = working("updating the vulnerability DB".to_string());
            let report = portcullis_vulndb::update(&path, &cfg).await;
            if let Some(s) = spinner {
                s.finish_and_clear();
            }
            let report = report?;
            if !crate::quiet() {
                for w in &report.warnings {
                    eprintln!("warning: {w}");
                }
                for (name, n) in &report.sources {
                    eprintln!("{name}: {n} records");
                }
            }
        }
        DbCommand::Status { db, json } => {
            let path = super::db_path(db);
            let db = Db::open(&path)?;
            let st = db.status()?;
            if json {
                writeln!(std::io::stdout(), "{}", serde_json::to_string_pretty(&st)?)?;
            } else {
                writeln!(std::io::stdout(), "database      {}", path.display())?;
                writeln!(std::io::stdout(), "schema        {}", st.schema_version)?;
                writeln!(std::io::stdout(), "built         {}", format_time(st.built))?;
                writeln!(std::io::stdout(), "content       {}", st.content_version)?;
                writeln!(
                    std::io::stdout(),
                    "age           {} h",
                    db.age().as_secs() / 3600
                )?;
                writeln!(std::io::stdout(), "advisories    {}", st.advisories)?;
                for s in &st.sources {
                    writeln!(
                        std::io::stdout(),
                        "source        {:<32} {:>7} records  {:<22} imported {}",
                        s.name,
                        s.records,
                        s.kind,
                        format_time(s.imported_at)
                    )?;
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A spinner with `what` and the time taken, on a terminal only (not on a pipe, nor with `-q`):
/// importing or downloading every feed takes a minute or more.
fn working(what: String) -> Option<indicatif::ProgressBar> {
    if crate::quiet() || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return None;
    }
    let s = indicatif::ProgressBar::new_spinner();
    if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        s.set_style(style);
    }
    s.set_message(what);
    s.enable_steady_tick(std::time::Duration::from_millis(120));
    Some(s)
}
