//! `portcullis decisions`: the audit trail of admission decisions `serve` keeps in the store.

use std::fmt::Write as _;
use std::process::ExitCode;

use portcullis_core::format_time;

use crate::args::DecisionsArgs;

pub(crate) async fn run(a: DecisionsArgs) -> anyhow::Result<ExitCode> {
    let (limit, json) = (a.limit, a.json);
    let out = super::with_store(&a.store, move |store| {
        let mut out = String::new();
        let decisions = store.recent_decisions(limit)?;
        if json {
            writeln!(out, "{}", serde_json::to_string_pretty(&decisions)?)?;
            return Ok(out);
        }
        for d in &decisions {
            let object = if d.namespace.is_empty() {
                format!("{} {}", d.kind, d.name)
            } else {
                format!("{} {}/{}", d.kind, d.namespace, d.name)
            };
            writeln!(
                out,
                "{}  {:<8} {:<6} {}  [{}]  {}{}",
                format_time(d.time),
                if d.allowed { "allowed" } else { "rejected" },
                d.operation,
                object,
                d.images.join(", "),
                if d.policy.is_empty() {
                    String::new()
                } else {
                    format!("policy {} rule {}: ", d.policy, d.rule)
                },
                d.message.as_deref().unwrap_or("")
            )?;
        }
        Ok(out)
    })
    .await?;
    super::write_output(None, out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
