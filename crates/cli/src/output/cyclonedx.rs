//! CycloneDX 1.6 with a `vulnerabilities` section: the SBOM of the image plus what affects it (a VDR).

use portcullis_core::{Inventory, ScanReport};
use serde_json::{Value, json};

pub(crate) fn render(r: &ScanReport) -> anyhow::Result<Vec<u8>> {
    let inv = Inventory {
        image: r.image.clone(),
        packages: r.packages.clone(),
        warnings: vec![],
    };
    let opts = portcullis_sbom::EncodeOptions {
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        timestamp: None,
        serial: None,
    };
    let sbom = portcullis_sbom::encode(&inv, portcullis_sbom::Format::CycloneDxJson, &opts)?;
    let mut doc: Value = serde_json::from_slice(&sbom)?;
    // Each vulnerability points at the component(s) with the same purl through their bom-refs.
    let refs: Vec<(String, String)> = doc["components"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter_map(|c| {
                    Some((
                        c["purl"].as_str()?.to_string(),
                        c["bom-ref"].as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let vulns: Vec<Value> = super::ordered(&r.vulnerabilities)
        .into_iter()
        .map(|m| {
            let affects: Vec<Value> = refs.iter().filter(|(p, _)| *p == m.package.purl).map(|(_, b)| json!({ "ref": b })).collect();
            let mut v = json!({
                "id": m.id,
                "source": { "name": m.matched_by.source },
                "references": m.aliases.iter().map(|a| json!({ "id": a, "source": { "name": "alias" } })).collect::<Vec<_>>(),
                "description": m.summary.clone().unwrap_or_default(),
                "recommendation": if m.fixed_versions.is_empty() { "no fix available".to_string() } else { format!("upgrade {} to {}", m.package.name, m.fixed_versions.join(" or ")) },
                "affects": affects,
            });
            let mut rating = json!({ "severity": m.severity.as_str() });
            if let Some(c) = &m.cvss {
                rating["score"] = json!(c.score);
                rating["vector"] = json!(c.vector);
                rating["method"] = json!(match c.version.as_str() { "2.0" => "CVSSv2", "3.0" => "CVSSv3", "4.0" => "CVSSv4", _ => "CVSSv31" });
            }
            v["ratings"] = json!([rating]);
            if let Some(i) = &m.ignored {
                v["analysis"] = json!({ "state": "not_affected", "detail": format!("{}: {}", i.exception, i.justification.clone().unwrap_or_default()) });
            }
            v
        })
        .collect();
    doc["vulnerabilities"] = Value::Array(vulns);
    // What was checked, per advisory namespace: a reader of the VDR sees what it does not
    // speak for (packages no source covers were not examined).
    let coverage: Vec<Value> = r
        .coverage
        .iter()
        .map(|c| {
            json!({
                "name": "portcullis:coverage",
                "value": format!("{}: {} packages, {}", c.ecosystem, c.packages, super::covered_by(c)),
            })
        })
        .collect();
    if !coverage.is_empty() {
        let metadata = &mut doc["metadata"];
        match metadata["properties"].as_array_mut() {
            Some(props) => props.extend(coverage),
            None => metadata["properties"] = Value::Array(coverage),
        }
    }
    let mut out = serde_json::to_vec_pretty(&doc)?;
    out.push(b'\n');
    Ok(out)
}
