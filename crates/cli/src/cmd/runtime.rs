//! `portcullis runtime`: the images running in the clusters, as `serve --watch-cluster` keeps
//! them in the result store, with the status of each digest's latest result.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::process::ExitCode;

use portcullis_core::{Status, format_time};

use crate::args::RuntimeArgs;

pub(crate) async fn run(a: RuntimeArgs) -> anyhow::Result<ExitCode> {
    let (json, only_running) = (a.json, a.running);
    let out = super::with_store(&a.store, move |store| {
        let mut out = String::new();
        let statuses: HashMap<_, Status> = store.latest_statuses()?.into_iter().collect();
        let images: Vec<_> = store
            .runtime_images()?
            .into_iter()
            .filter(|r| r.running || !only_running)
            .collect();
        if json {
            let rows = images
                .iter()
                .map(|r| {
                    let mut v = serde_json::to_value(r)?;
                    v["status"] =
                        serde_json::json!(r.digest.as_ref().and_then(|d| statuses.get(d)));
                    Ok(v)
                })
                .collect::<serde_json::Result<Vec<_>>>()?;
            writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
            return Ok(out);
        }
        writeln!(
            out,
            "{:<10} {:<16} {:<28} {:<44} {:>4} {:<7} {:<8} LAST SEEN",
            "CLUSTER", "NAMESPACE", "WORKLOAD", "IMAGE", "RUN", "STATUS", "DIGEST"
        )?;
        for r in &images {
            let status = r
                .digest
                .as_ref()
                .and_then(|d| statuses.get(d))
                .map_or("-", |s| s.as_str());
            writeln!(
                out,
                "{:<10} {:<16} {:<28} {:<44} {:>4} {:<7} {:<8} {}",
                r.cluster,
                r.namespace,
                format!("{}/{}", r.workload_kind, r.workload_name),
                r.image,
                r.instances,
                status,
                r.digest
                    .as_ref()
                    .map_or("-", |d| &d.encoded()[..8.min(d.encoded().len())]),
                format_time(r.last_seen)
            )?;
        }
        Ok(out)
    })
    .await?;
    super::write_output(None, out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
