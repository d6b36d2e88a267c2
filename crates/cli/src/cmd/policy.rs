//! `portcullis policy test|crd`: the webhook's decision offline (as `kyverno apply`), and the CRDs.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use portcullis_core::ScanReport;
use portcullis_scanner::Scanner;
use serde_json::{Value, json};

use crate::args::{PolicyArgs, PolicyCommand};

pub(crate) async fn run(a: PolicyArgs) -> anyhow::Result<ExitCode> {
    match a.command {
        PolicyCommand::Crd => {
            write!(
                std::io::stdout(),
                "{}---\n{}---\n{}",
                portcullis_policy::crd_yaml(),
                portcullis_policy::exception_crd_yaml(),
                portcullis_api::alerts::alert_crd_yaml()
            )?;
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Test {
            policies,
            review,
            manifest,
            results,
            db,
            namespace_labels,
            now,
            on_scan_error,
            on_scan_timeout,
            image,
            verdict,
        } => {
            let now = now
                .map(|t| {
                    portcullis_core::parse_time(&t)
                        .with_context(|| format!("--now {t}: not an RFC 3339 time"))
                })
                .transpose()?;
            let (list, errors) = portcullis_policy::load_dir(&policies);
            let mut bad = false;
            for e in &errors {
                if e.is_note() {
                    eprintln!("note: {e}");
                } else {
                    bad = true;
                    eprintln!("error: {e}");
                }
            }
            let (set, errs) = portcullis_policy::PolicySet::new(list);
            for e in &errs {
                bad = true;
                eprintln!("error: {e}");
            }
            // A policy that does not load is an error to fix, never a decision: nothing is
            // printed as one.
            if bad {
                return Ok(ExitCode::from(2));
            }
            let reviews = match (&review, &manifest) {
                (Some(p), _) => vec![
                    review_body(
                        &std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
                    )
                    .with_context(|| format!("--review {}", p.display()))?,
                ],
                (None, Some(p)) => manifest_reviews(
                    &std::fs::read_to_string(p)
                        .with_context(|| format!("reading {}", p.display()))?,
                )
                .with_context(|| format!("{}", p.display()))?,
                (None, None) => bail!("give --review FILE or --manifest FILE"),
            };
            // Reports: given, or made now by scanning every image the reviews name.
            let mut reports: HashMap<String, Arc<ScanReport>> = HashMap::new();
            if let Some(p) = &results {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading {}", p.display()))?;
                let v: Value = serde_json::from_str(&text)
                    .with_context(|| format!("{} is not JSON", p.display()))?;
                let list = match v {
                    Value::Array(list) => list,
                    one => vec![one],
                };
                for (i, report) in list.into_iter().enumerate() {
                    let r = read_report(report).map_err(|why| {
                        anyhow::anyhow!("{}: report {}: {why}", p.display(), i + 1)
                    })?;
                    let r = Arc::new(r);
                    reports.insert(r.target.clone(), r.clone());
                    reports.insert(r.image.reference.clone(), r);
                }
            }
            // One scanner for what the reviews need: their scans (with --db, when no results
            // are given), and what the registry holds beside each image for signature and
            // attestation rules (fetched here, verified offline by the webhook's own code).
            let scan = results.is_none() && db.is_some();
            let scanner = if scan || set.reads_attachments() {
                let cfg = super::scanner_config(&image, db.clone(), None, &verdict)?;
                Some(Arc::new(Scanner::new(cfg)?))
            } else {
                None
            };
            let mut attached = HashMap::new();
            if let Some(scanner) = &scanner {
                let mut images: Vec<String> = Vec::new();
                for img in reviews.iter().flat_map(|body| review_images(body)) {
                    if !images.contains(&img) {
                        images.push(img);
                    }
                }
                for img in images {
                    if scan && !reports.contains_key(&img) {
                        match scanner.scan(&img).await {
                            Ok(r) => {
                                reports.insert(img.clone(), Arc::new(r));
                            }
                            Err(e) => eprintln!(
                                "warning: scanning {img}: {}",
                                portcullis_core::ErrorChain(&e)
                            ),
                        }
                    }
                    if set.reads_attachments() {
                        let fetched = scanner
                            .attached(&img, &BTreeMap::new())
                            .await
                            .map_err(|e| portcullis_core::ErrorChain(&e).to_string());
                        attached.insert(img, fetched);
                    }
                }
            }
            let mut labels = BTreeMap::new();
            for kv in &namespace_labels {
                let Some((k, v)) = kv.split_once('=') else {
                    bail!("--namespace-label {kv}: expected KEY=VALUE")
                };
                labels.insert(k.to_string(), v.to_string());
            }
            let mut opts = portcullis_webhook::OfflineOptions {
                now,
                attached,
                ..Default::default()
            };
            // An attested SBOM is matched against --db when one is given.
            if db.is_some()
                && set.reads_attachments()
                && let Some(scanner) = scanner
            {
                opts.sbom_matcher = Some(portcullis_webhook::SbomMatcher(Arc::new(
                    move |image: &str, sbom: &[u8]| {
                        scanner
                            .report_sbom(sbom, &format!("the SBOM attested for {image}"))
                            .map_err(|e| portcullis_core::ErrorChain(&e).to_string())
                    },
                )));
            }
            opts.config.on_scan_error = super::action(on_scan_error);
            opts.config.on_scan_timeout = super::action(on_scan_timeout);
            let mut any_denied = false;
            for body in &reviews {
                let ns = serde_json::from_slice::<Value>(body)
                    .ok()
                    .and_then(|v| {
                        v.pointer("/request/namespace")
                            .and_then(|n| n.as_str())
                            .map(str::to_string)
                    })
                    .unwrap_or_else(|| "default".into());
                opts.namespace_labels.insert(ns, labels.clone());
                let lookup = |img: &str| reports.get(img).cloned();
                let answer = portcullis_webhook::review_offline(&set, body, &lookup, &opts);
                let v = serde_json::to_value(&answer)?;
                any_denied |= v.pointer("/response/allowed") == Some(&Value::Bool(false));
                writeln!(std::io::stdout(), "{}", serde_json::to_string_pretty(&v)?)?;
            }
            Ok(if bad {
                ExitCode::from(2)
            } else if any_denied {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

/// The images a review's object names (any kind with a pod spec).
fn review_images(body: &[u8]) -> Vec<String> {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return vec![];
    };
    let req = v.get("request").unwrap_or(&v);
    let kind = req
        .pointer("/kind/kind")
        .and_then(|k| k.as_str())
        .unwrap_or("");
    let Some(obj) = req.get("object") else {
        return vec![];
    };
    portcullis_webhook::images(kind, obj)
        .into_iter()
        .map(|c| c.image)
        .collect()
}

/// Wraps every object of a (multi-document) manifest into a CREATE AdmissionReview.
fn manifest_reviews(text: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).context("not YAML")?;
    let mut out = Vec::new();
    for (i, obj) in docs.into_iter().filter(|d| !d.is_null()).enumerate() {
        let kind = obj
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or_default()
            .to_string();
        let api = obj
            .get("apiVersion")
            .and_then(|k| k.as_str())
            .unwrap_or_default()
            .to_string();
        if kind.is_empty() || api.is_empty() {
            bail!("document {}: no kind/apiVersion", i + 1);
        }
        let (group, version) = api.split_once('/').unwrap_or(("", api.as_str()));
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(|n| n.as_str())
            .unwrap_or("default")
            .to_string();
        let name = obj
            .pointer("/metadata/name")
            .and_then(|n| n.as_str())
            .unwrap_or_default()
            .to_string();
        let review = json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                // Named by what it is, so each result says which document it decides.
                "uid": format!("{kind}/{ns}/{}", if name.is_empty() { format!("document-{}", i + 1) } else { name.clone() }),
                "kind": {"group": group, "version": version, "kind": kind},
                "resource": {"group": group, "version": version, "resource": format!("{}s", kind.to_lowercase())},
                "namespace": ns,
                "name": name,
                "operation": "CREATE",
                "userInfo": {"username": "portcullis-policy-test"},
                "object": obj,
                "dryRun": true,
            }
        });
        out.push(serde_json::to_vec(&review)?);
    }
    Ok(out)
}

/// One scan report as `scan --format json` writes it, or as older versions did (fields added
/// since are optional). When it does not read, the error names the field by its path
/// (`vulnerabilities[2].severity: unknown variant ...`).
fn read_report(v: Value) -> Result<ScanReport, String> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        }
    })
}

/// A review as `--review` gives it, as the webhook receives it: an AdmissionReview (v1 or
/// v1beta1) as is, a bare AdmissionRequest (what `kubectl` and policy test suites often keep)
/// wrapped in an AdmissionReview v1. Not JSON, or neither, is an error (exit 2), never a
/// decision.
fn review_body(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let v: Value = serde_json::from_slice(bytes).context("not JSON")?;
    if v.get("request").is_some() || v.get("apiVersion").is_some() {
        return Ok(bytes.to_vec());
    }
    if v.get("uid").is_some() && (v.get("object").is_some() || v.get("kind").is_some()) {
        let review = json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": v,
        });
        return Ok(serde_json::to_vec(&review)?);
    }
    bail!(
        "neither an AdmissionReview nor an AdmissionRequest (no `request`, no `uid` and `object`)"
    )
}
