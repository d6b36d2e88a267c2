//! `portcullis settings`: the settings kept in the result store, which every `serve` sharing the
//! store follows (thresholds), and the status history the store keeps.

use std::fmt::Write as _;
use std::process::ExitCode;

use portcullis_core::{Digest, ExceptionScope, ResultStore, Thresholds, format_time};

use crate::args::{SettingsArgs, SettingsCommand};

pub(crate) async fn run(a: SettingsArgs) -> anyhow::Result<ExitCode> {
    let out = super::with_store(&a.store, move |store| run_on(store, a.command)).await?;
    super::write_output(None, out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// What the command prints.
fn run_on(store: &dyn ResultStore, command: SettingsCommand) -> anyhow::Result<String> {
    let mut out = String::new();
    match command {
        SettingsCommand::Show { json } => {
            let stored = store.thresholds()?;
            let generation = store.settings_generation()?;
            let t = stored.clone().unwrap_or_default();
            if json {
                let v = serde_json::json!({
                    "thresholds": t,
                    "stored": stored.is_some(),
                    "generation": generation,
                });
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else {
                show(&mut out, &t, stored.is_some(), generation)?;
            }
        }
        SettingsCommand::Set {
            warn_threshold,
            fail_threshold,
            unknown_as,
            uncovered_as,
        } => {
            anyhow::ensure!(
                warn_threshold.is_some()
                    || fail_threshold.is_some()
                    || unknown_as.is_some()
                    || uncovered_as.is_some(),
                "nothing to set: give --warn-threshold, --fail-threshold, --unknown-as or --uncovered-as"
            );
            let old = store.thresholds()?.unwrap_or_default();
            let t = super::thresholds(
                warn_threshold.unwrap_or(old.warn),
                fail_threshold.unwrap_or(old.fail),
                unknown_as.map_or(old.unknown, super::status),
                uncovered_as.map_or(old.uncovered, super::status),
            )?;
            let generation = store.put_thresholds(&t)?;
            show(&mut out, &t, true, generation)?;
        }
        SettingsCommand::Exceptions { json } => {
            let exceptions = store.exceptions()?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&exceptions)?)?;
            } else if exceptions.is_empty() {
                writeln!(out, "no exceptions stored")?;
            } else {
                for e in exceptions {
                    let place = [e.registry.as_deref(), e.repository.as_deref()]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join("/");
                    writeln!(
                        out,
                        "{:<20}  {:<10}  {:<30}  expires {:<20}  {}",
                        e.id,
                        match e.scope {
                            ExceptionScope::Any => "any",
                            ExceptionScope::Repository => "repository",
                            ExceptionScope::Image => "image",
                        },
                        if e.tags.is_empty() {
                            place
                        } else {
                            format!("{place}:{}", e.tags.join(","))
                        },
                        e.expires
                            .as_ref()
                            .map_or("never".into(), ToString::to_string),
                        e.justification.as_deref().unwrap_or("")
                    )?;
                }
            }
        }
        SettingsCommand::History { digest, json } => {
            let digest: Digest = digest.parse()?;
            let history = store.status_history(&digest)?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&history)?)?;
            } else if history.is_empty() {
                writeln!(out, "no status recorded for {digest}")?;
            } else {
                for c in history {
                    writeln!(
                        out,
                        "{}  {:<4} -> {:<4}  {:<10}  db {}",
                        format_time(c.time),
                        c.from.map_or("-", |s| s.as_str()),
                        c.to,
                        c.cause,
                        c.db_version
                    )?;
                }
            }
        }
    }
    Ok(out)
}

fn show(out: &mut String, t: &Thresholds, stored: bool, generation: u64) -> std::fmt::Result {
    writeln!(out, "warn-threshold  {}", t.warn)?;
    writeln!(out, "fail-threshold  {}", t.fail)?;
    writeln!(out, "unknown-as      {}", t.unknown)?;
    writeln!(out, "uncovered-as    {}", t.uncovered)?;
    writeln!(
        out,
        "({}; settings generation {generation})",
        if stored {
            "stored"
        } else {
            "defaults: nothing stored yet"
        }
    )
}
