//! SARIF 2.1.0: one rule per vulnerability id, one result per match, located at the file that evidenced the package.

use std::collections::BTreeMap;

use portcullis_core::{ScanReport, Severity};
use serde_json::{Value, json};

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        _ => "note",
    }
}

pub(crate) fn render(r: &ScanReport) -> anyhow::Result<Vec<u8>> {
    let mut rules: BTreeMap<&str, Value> = BTreeMap::new();
    let mut results = Vec::new();
    for m in super::ordered(&r.vulnerabilities) {
        rules.entry(m.id.as_str()).or_insert_with(|| {
            let mut props = json!({ "tags": ["security", "vulnerability"] });
            if let Some(c) = &m.cvss {
                props["security-severity"] = json!(format!("{:.1}", c.score));
            }
            json!({
                "id": m.id,
                "name": m.id,
                "shortDescription": { "text": m.summary.clone().unwrap_or_else(|| m.id.clone()) },
                "fullDescription": { "text": format!("{} ({})", m.summary.clone().unwrap_or_default(), m.aliases.join(", ")) },
                "helpUri": format!("https://osv.dev/vulnerability/{}", m.id),
                "properties": props,
            })
        });
        let path = m.matched_by.location.trim_start_matches('/');
        let mut result = json!({
            "ruleId": m.id,
            "level": if m.ignored.is_some() || m.informational.is_some() { "none" } else { level(m.severity) },
            "message": { "text": format!(
                "{} {} in {} {} ({}); fixed in: {}. {}",
                m.id,
                m.severity,
                m.package.name,
                m.package.version,
                m.package.purl,
                if m.fixed_versions.is_empty() { "no fix".to_string() } else { m.fixed_versions.join(", ") },
                m.matched_by.range,
            )},
            "locations": [{ "physicalLocation": { "artifactLocation": { "uri": if path.is_empty() { r.target.as_str() } else { path } } } }],
            "partialFingerprints": { "vulnerability/package": format!("{}/{}", m.id, m.package.purl) },
        });
        if let Some(i) = &m.ignored {
            result["suppressions"] = json!([{ "kind": "external", "justification": i.justification.clone().unwrap_or_else(|| i.exception.clone()) }]);
        }
        results.push(result);
    }
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "portcullis",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://example.invalid/portcullis",
                "rules": rules.into_values().collect::<Vec<_>>(),
            }},
            "results": results,
            // What could not be checked is said where SARIF readers look for tool trouble.
            "invocations": [{
                "executionSuccessful": true,
                "toolExecutionNotifications": r.coverage.iter().filter(|c| !c.examined()).map(|c| json!({
                    "level": "warning",
                    "message": { "text": format!("{} {} packages not examined: no source in the vulnerability DB covers {}", c.packages, c.ecosystem, c.ecosystem) },
                })).collect::<Vec<_>>(),
            }],
            "properties": {
                "target": r.target,
                "status": r.summary.status.as_str(),
                "maxCvss": r.summary.max_cvss,
                "notExamined": r.summary.not_examined,
                "coverage": r.coverage,
            },
        }],
    });
    let mut v = serde_json::to_vec_pretty(&doc)?;
    v.push(b'\n');
    Ok(v)
}
