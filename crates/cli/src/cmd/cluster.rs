//! `portcullis cluster`: housekeeping the chart's hooks run inside the cluster.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context;

use crate::args::{ClusterArgs, ClusterCmd};

pub(crate) async fn run(a: ClusterArgs) -> anyhow::Result<ExitCode> {
    match a.cmd {
        ClusterCmd::RemoveWebhooks { name } => {
            let client = portcullis_cluster::client().await?;
            let removed = portcullis_cluster::remove_webhooks(client, &name)
                .await
                .with_context(|| format!("removing the webhooks {name}"))?;
            if removed.is_empty() {
                writeln!(std::io::stdout(), "no webhook configuration named {name}")?;
            }
            for kind in removed {
                writeln!(std::io::stdout(), "deleted {kind} {name}")?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
