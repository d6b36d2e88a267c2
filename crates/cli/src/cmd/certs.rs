//! `portcullis certs`: a CA and a serving certificate for the webhook Service, and the caBundle to register.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use base64::Engine;

use crate::args::CertsArgs;

pub(crate) fn run(a: CertsArgs) -> anyhow::Result<ExitCode> {
    let names = vec![
        a.service.clone(),
        format!("{}.{}", a.service, a.namespace),
        format!("{}.{}.svc", a.service, a.namespace),
        format!("{}.{}.svc.cluster.local", a.service, a.namespace),
    ];
    let g =
        portcullis_webhook::ensure_generated(&a.out, &names).context("generating certificates")?;
    let ca = std::fs::read(&g.ca).with_context(|| format!("reading {}", g.ca.display()))?;
    eprintln!(
        "CA {}, certificate {}, key {} (for {})",
        g.ca.display(),
        g.cert.display(),
        g.key.display(),
        names[2]
    );
    writeln!(
        std::io::stdout(),
        "{}",
        base64::engine::general_purpose::STANDARD.encode(ca)
    )?;
    Ok(ExitCode::SUCCESS)
}
