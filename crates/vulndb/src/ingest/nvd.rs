//! NVD CVE records (API 2.0 shape, single records or `vulnerabilities[].cve` collections;
//! also the retired 1.1 feeds' `CVE_Items`). Only the CVSS vectors are kept, to enrich
//! advisories that state none.

use portcullis_core::SeverityScore;
use serde::Deserialize;

use super::lenient::opt_vec;
use super::{Error, Out, Result};

#[derive(Deserialize)]
struct Cve {
    id: String,
    #[serde(default)]
    metrics: Option<Metrics>,
}

#[derive(Deserialize, Default)]
struct Metrics {
    #[serde(rename = "cvssMetricV40", default, deserialize_with = "opt_vec")]
    v40: Vec<Metric>,
    #[serde(rename = "cvssMetricV31", default, deserialize_with = "opt_vec")]
    v31: Vec<Metric>,
    #[serde(rename = "cvssMetricV30", default, deserialize_with = "opt_vec")]
    v30: Vec<Metric>,
    #[serde(rename = "cvssMetricV2", default, deserialize_with = "opt_vec")]
    v2: Vec<Metric>,
}

#[derive(Deserialize)]
struct Metric {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(rename = "cvssData")]
    data: CvssData,
}

#[derive(Deserialize)]
struct CvssData {
    #[serde(rename = "vectorString")]
    vector: String,
}

#[derive(Deserialize)]
struct Collection {
    vulnerabilities: Vec<Wrapped>,
}

#[derive(Deserialize)]
struct Wrapped {
    cve: serde_json::Value,
}

/// NVD's own (Primary) score when there is one, else the first the record lists.
fn pick(metrics: &[Metric]) -> Option<&str> {
    metrics
        .iter()
        .find(|m| m.kind.as_deref() == Some("Primary"))
        .or_else(|| metrics.first())
        .map(|m| m.data.vector.as_str())
}

fn severities(m: &Metrics) -> Vec<SeverityScore> {
    let v3 = if m.v31.is_empty() { &m.v30 } else { &m.v31 };
    [("CVSS_V4", &m.v40), ("CVSS_V3", v3), ("CVSS_V2", &m.v2)]
        .into_iter()
        .filter_map(|(kind, list)| {
            pick(list).map(|v| SeverityScore {
                kind: kind.to_string(),
                score: v.to_string(),
            })
        })
        .collect()
}

fn record(label: &str, value: serde_json::Value, out: &mut Out) {
    match serde_json::from_value::<Cve>(value) {
        Ok(cve) => {
            out.nvd_records += 1;
            let sev = cve.metrics.as_ref().map(severities).unwrap_or_default();
            if !sev.is_empty() {
                out.nvd.push((cve.id, sev));
            }
        }
        Err(e) => out.warn(format!("{label}: NVD record skipped: {e}")),
    }
}

/// Reads one NVD JSON document. A collection whose list is malformed is a hard error.
pub(crate) fn from_value(label: &str, value: serde_json::Value, out: &mut Out) -> Result<()> {
    if value.get("vulnerabilities").is_some() {
        let c: Collection = serde_json::from_value(value).map_err(|e| Error::Container {
            label: label.to_string(),
            why: format!("invalid NVD collection: {e}"),
        })?;
        for (i, w) in c.vulnerabilities.into_iter().enumerate() {
            record(&format!("{label}: vulnerabilities[{i}]"), w.cve, out);
        }
    } else if let Some(items) = value.get("CVE_Items") {
        let Some(items) = items.as_array() else {
            return Err(Error::Container {
                label: label.to_string(),
                why: "`CVE_Items` is not a list".into(),
            });
        };
        for item in items {
            legacy(item, out);
        }
    } else {
        record(label, value, out);
    }
    Ok(())
}

/// NVD 1.1 feed item: `cve.CVE_data_meta.ID`, `impact.baseMetricV3.cvssV3.vectorString`.
fn legacy(item: &serde_json::Value, out: &mut Out) {
    let Some(id) = item
        .pointer("/cve/CVE_data_meta/ID")
        .and_then(|v| v.as_str())
    else {
        return;
    };
    out.nvd_records += 1;
    let sev: Vec<_> = [
        ("CVSS_V3", "/impact/baseMetricV3/cvssV3/vectorString"),
        ("CVSS_V2", "/impact/baseMetricV2/cvssV2/vectorString"),
    ]
    .into_iter()
    .filter_map(|(kind, ptr)| {
        item.pointer(ptr)
            .and_then(|v| v.as_str())
            .map(|v| SeverityScore {
                kind: kind.into(),
                score: v.into(),
            })
    })
    .collect();
    if !sev.is_empty() {
        out.nvd.push((id.to_string(), sev));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_prefers_primary_and_v31() {
        let doc = serde_json::json!({"vulnerabilities": [
            {"cve": {"id": "CVE-1", "metrics": {
                "cvssMetricV31": [
                    {"type": "Secondary", "cvssData": {"vectorString": "CVSS:3.1/AV:L/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L"}},
                    {"type": "Primary", "cvssData": {"vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}}],
                "cvssMetricV30": [{"type": "Primary", "cvssData": {"vectorString": "CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H"}}],
                "cvssMetricV2": [{"type": "Primary", "cvssData": {"vectorString": "AV:N/AC:L/Au:N/C:P/I:P/A:P"}}]}}},
            {"cve": {"id": "CVE-2", "metrics": {}}},
            {"cve": {"metrics": {}}}
        ]});
        let mut out = Out::default();
        from_value("nvd.json", doc, &mut out).unwrap();
        assert_eq!(out.nvd_records, 2);
        assert_eq!(out.nvd.len(), 1);
        let (id, sev) = &out.nvd[0];
        assert_eq!(id, "CVE-1");
        assert_eq!(sev[0].kind, "CVSS_V3");
        assert!(sev[0].score.contains("AV:N"));
        assert_eq!(sev[1].kind, "CVSS_V2");
        assert_eq!(out.warnings.len(), 1);
        assert!(
            out.warnings[0].starts_with("nvd.json: vulnerabilities[2]"),
            "{:?}",
            out.warnings
        );
    }
}
