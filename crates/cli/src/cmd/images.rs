//! `portcullis images`: the images the store has seen, by digest, with their tags, where they
//! were seen and the status of their latest result.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::process::ExitCode;

use portcullis_core::{Status, format_time};

use crate::args::ImagesArgs;

pub(crate) async fn run(a: ImagesArgs) -> anyhow::Result<ExitCode> {
    let json = a.json;
    let out = super::with_store(&a.store, move |store| {
        let mut out = String::new();
        let statuses: HashMap<_, Status> = store.latest_statuses()?.into_iter().collect();
        let images = store.seen_images()?;
        if json {
            let rows = images
                .iter()
                .map(|i| {
                    let mut v = serde_json::to_value(i)?;
                    v["status"] = serde_json::json!(statuses.get(&i.digest));
                    Ok(v)
                })
                .collect::<serde_json::Result<Vec<_>>>()?;
            writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
            return Ok(out);
        }
        for i in &images {
            writeln!(
                out,
                "{}/{}@{}  {:<5} tags [{}]  seen {} ({} .. {})",
                i.registry,
                i.repository,
                i.digest,
                statuses.get(&i.digest).map_or("-", |s| s.as_str()),
                i.tags.join(", "),
                i.sources.join(", "),
                format_time(i.first_seen),
                format_time(i.last_seen)
            )?;
        }
        Ok(out)
    })
    .await?;
    super::write_output(None, out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
