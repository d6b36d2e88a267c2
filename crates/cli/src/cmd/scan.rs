//! `portcullis scan TARGET`: packages, matches and the verdict, in the format asked for.

use std::process::ExitCode;

use portcullis_core::{ScanReport, Severity, Status, Summary, Thresholds};
use portcullis_matcher::IgnoreRule;
use portcullis_scanner::Scanner;

use crate::args::{FailOn, ScanArgs, ScanFormat};
use crate::output;

pub(crate) async fn run(a: ScanArgs) -> anyhow::Result<ExitCode> {
    let cache = super::cache_dir(&a.image);
    let store = super::store_url(a.store.as_deref(), &cache)?;
    let cfg = super::scanner_config(&a.image, a.db.clone(), store, &a.verdict)?;
    let scanner = Scanner::new(cfg)?;
    let rules = ignore_rules(&a.ignorefile)?;
    let scanning = scanner.scan(&a.target);
    let mut report = match a.timeout {
        Some(t) => tokio::time::timeout(t, scanning).await.map_err(|_| {
            anyhow::anyhow!(
                "{}: gave up after --timeout {}",
                a.target,
                portcullis_core::format_duration(t)
            )
        })??,
        None => scanning.await?,
    };
    // Said from the report, so a report from the store says what a fresh scan said.
    super::say_warnings(&report.warnings);
    narrow(&mut report, &a, &rules, &scanner.thresholds());
    let bytes = match a.format {
        ScanFormat::Json => {
            let mut v = serde_json::to_vec_pretty(&report)?;
            v.push(b'\n');
            v
        }
        ScanFormat::Table => {
            let layout = if a.output.is_some() {
                output::table::Layout::plain()
            } else {
                output::table::Layout::for_stdout()
            };
            output::table::render(&report, layout).into_bytes()
        }
        ScanFormat::Sarif => output::sarif::render(&report)?,
        ScanFormat::Csv => output::csv::render(&report).into_bytes(),
        ScanFormat::CyclonedxJson => output::cyclonedx::render(&report)?,
    };
    super::write_output(a.output.as_deref(), &bytes)?;
    let at_least = |s: Severity| {
        report
            .vulnerabilities
            .iter()
            .filter(|m| m.ignored.is_none() && m.informational.is_none())
            .any(|m| m.severity >= s)
    };
    let failed = match a.fail_on {
        None => false,
        Some(FailOn::Warn) => report.summary.status >= Status::Warn,
        Some(FailOn::Fail) => report.summary.status >= Status::Fail,
        Some(FailOn::Low) => at_least(Severity::Low),
        Some(FailOn::Medium) => at_least(Severity::Medium),
        Some(FailOn::High) => at_least(Severity::High),
        Some(FailOn::Critical) => at_least(Severity::Critical),
    };
    let pushed = match &a.push {
        Some(url) => push(url, &a, &report).await,
        None => Ok(()),
    };
    Ok(match (failed, pushed) {
        (true, _) => ExitCode::from(a.exit_code),
        (false, Err(())) => ExitCode::from(PUSH_FAILED),
        (false, Ok(())) => ExitCode::SUCCESS,
    })
}

/// The rules of the `--ignorefile`s (`.trivyignore`, `.grype.yaml`).
fn ignore_rules(files: &[std::path::PathBuf]) -> anyhow::Result<Vec<IgnoreRule>> {
    use anyhow::Context as _;
    let mut rules = Vec::new();
    for f in files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("--ignorefile {}", f.display()))?;
        rules.extend(portcullis_matcher::ignore_rules(
            &text,
            &f.display().to_string(),
        )?);
    }
    Ok(rules)
}

/// What the user asked to see: the ignore files' rules mark their matches, `--severity` and
/// `--ignore-unfixed` leave out the rest; the status is made again of what is left.
fn narrow(report: &mut ScanReport, a: &ScanArgs, rules: &[IgnoreRule], t: &Thresholds) {
    let before = report.vulnerabilities.len();
    let marked = portcullis_matcher::apply_ignore_rules(
        &mut report.vulnerabilities,
        rules,
        time::OffsetDateTime::now_utc(),
    );
    if !a.severity.is_empty() {
        let keep: Vec<Severity> = a.severity.iter().map(|s| s.severity()).collect();
        report
            .vulnerabilities
            .retain(|m| keep.contains(&m.severity));
    }
    if a.ignore_unfixed {
        report
            .vulnerabilities
            .retain(|m| !m.fixed_versions.is_empty());
    }
    if marked > 0 || report.vulnerabilities.len() != before {
        report.summary = Summary::of(&report.vulnerabilities, &report.coverage, t);
    }
}

/// The exit code of a scan whose push failed (and whose status passed `--fail-on`).
const PUSH_FAILED: u8 = 3;

/// Sends the scan's inventory to the service at `url` (`POST /api/v1/push`), verifying it with
/// the system's roots and `--push-ca`. Errors are printed here: the report is out already.
async fn push(url: &str, a: &ScanArgs, report: &portcullis_core::ScanReport) -> Result<(), ()> {
    match try_push(url, a, report).await {
        Ok(said) => {
            if !crate::quiet() {
                eprintln!("portcullis: pushed to {url}: {said}");
            }
            Ok(())
        }
        Err(e) => {
            let chain: Vec<String> = e.chain().map(ToString::to_string).collect();
            eprintln!("portcullis: push to {url} failed: {}", chain.join(": "));
            Err(())
        }
    }
}

async fn try_push(
    url: &str,
    a: &ScanArgs,
    report: &portcullis_core::ScanReport,
) -> anyhow::Result<String> {
    use anyhow::Context as _;
    let token = a.token.as_deref().context("--push needs --token")?;
    let mut client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(120));
    if let Some(ca) = &a.push_ca {
        let pem = std::fs::read(ca).with_context(|| format!("--push-ca {}", ca.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("--push-ca {}: not a PEM certificate", ca.display()))?;
        anyhow::ensure!(
            !certs.is_empty(),
            "--push-ca {}: no certificate in it",
            ca.display()
        );
        for c in certs {
            client = client.add_root_certificate(c);
        }
    }
    let client = client.build().context("building the HTTPS client")?;
    let body = serde_json::json!({
        "target": a.target,
        "inventory": portcullis_core::Inventory {
            image: report.image.clone(),
            packages: report.packages.clone(),
            warnings: report.warnings.clone(),
        },
        "labels": a.push_label.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
    });
    let endpoint = format!("{}/api/v1/push", url.trim_end_matches('/'));
    let resp = client
        .post(&endpoint)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("POST {endpoint}"))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    let said: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    if !status.is_success() {
        let why = said["error"].as_str().unwrap_or(text.as_str());
        anyhow::bail!("HTTP {status}: {why}");
    }
    Ok(format!(
        "status {} under the service's DB {}",
        said["status"].as_str().unwrap_or("?"),
        said["db_version"].as_str().unwrap_or("?")
    ))
}
