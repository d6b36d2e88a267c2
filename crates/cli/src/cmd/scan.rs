//! `portcullis scan TARGET`: packages, matches and the verdict, in the format asked for.

use std::process::ExitCode;

use portcullis_core::Status;
use portcullis_scanner::Scanner;

use crate::args::{FailOn, ScanArgs, ScanFormat};
use crate::output;

pub(crate) async fn run(a: ScanArgs) -> anyhow::Result<ExitCode> {
    let cache = super::cache_dir(&a.image);
    let store = super::store_url(a.store.as_deref(), &cache)?;
    let cfg = super::scanner_config(&a.image, a.db.clone(), store, &a.verdict)?;
    let scanner = Scanner::new(cfg)?;
    let report = scanner.scan(&a.target).await?;
    let bytes = match a.format {
        ScanFormat::Json => {
            let mut v = serde_json::to_vec_pretty(&report)?;
            v.push(b'\n');
            v
        }
        ScanFormat::Table => output::table::render(&report).into_bytes(),
        ScanFormat::Sarif => output::sarif::render(&report)?,
        ScanFormat::Csv => output::csv::render(&report).into_bytes(),
        ScanFormat::CyclonedxJson => output::cyclonedx::render(&report)?,
    };
    super::write_output(a.output.as_deref(), &bytes)?;
    let failed = match a.fail_on {
        None => false,
        Some(FailOn::Warn) => report.summary.status >= Status::Warn,
        Some(FailOn::Fail) => report.summary.status >= Status::Fail,
    };
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
