//! `portcullis token`: the API's tokens, in the result store `serve` reads them from.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use portcullis_core::format_time;
use time::OffsetDateTime;

use crate::args::{TokenArgs, TokenCmd};

pub(crate) async fn run(a: TokenArgs) -> anyhow::Result<ExitCode> {
    let out = super::with_store(&a.store, move |store| {
        let mut out = String::new();
        match a.cmd {
            TokenCmd::Create {
                scope,
                expires,
                name,
            } => {
                let now = OffsetDateTime::now_utc();
                let expires = expires
                    .map(|d| {
                        time::Duration::try_from(d)
                            .ok()
                            .and_then(|d| now.checked_add(d))
                            .context("--expires is too far away")
                    })
                    .transpose()?;
                let issued = portcullis_api::issue(scope, &name, expires, now)
                    .map_err(|e| anyhow::anyhow!("no randomness from the operating system: {e}"))?;
                store.put_token(&issued.token, &issued.secret_sha256)?;
                eprintln!(
                    "token {} ({} scope{}): shown this once, keep it secret",
                    issued.token.id,
                    scope.as_str(),
                    expires.map_or(String::new(), |e| format!(", expires {}", format_time(e)))
                );
                writeln!(out, "{}", issued.presented)?;
            }
            TokenCmd::List { json } => {
                let tokens = store.tokens()?;
                if json {
                    writeln!(out, "{}", serde_json::to_string_pretty(&tokens)?)?;
                } else {
                    for t in &tokens {
                        writeln!(
                            out,
                            "{:<14} {:<6} {:<22} {:<22} {}{}",
                            t.id,
                            t.scope.as_str(),
                            format_time(t.created),
                            t.expires.map_or("never".to_string(), format_time),
                            if t.revoked { "revoked " } else { "" },
                            t.name
                        )?;
                    }
                }
            }
            TokenCmd::Revoke { id } => {
                anyhow::ensure!(store.revoke_token(&id)?, "no token with id {id}");
                writeln!(out, "token {id} revoked")?;
            }
        }
        Ok(out)
    })
    .await?;
    write!(std::io::stdout(), "{out}")?;
    Ok(ExitCode::SUCCESS)
}
