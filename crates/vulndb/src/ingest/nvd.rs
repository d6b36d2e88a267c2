//! NVD CVE records (API 2.0 shape, single records or `vulnerabilities[].cve` collections;
//! also the retired 1.1 feeds' `CVE_Items`). Only the CVSS vectors are kept, to enrich
//! advisories that state none.

use std::fmt;

use portcullis_core::SeverityScore;
use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

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

/// Reads one NVD JSON document from any JSON deserializer: a file's bytes, a zip entry's
/// stream or a parsed value. Records are handed on one at a time, so a yearly feed (hundreds
/// of MB) never exists as a whole tree in memory. A document that is not JSON, or whose list
/// is not a list, is a hard error; a bad record inside a list is skipped with a warning.
pub(crate) fn read<'de, D: Deserializer<'de>>(label: &str, doc: D, out: &mut Out) -> Result<()> {
    doc.deserialize_map(Document { label, out })
        .map_err(|e| Error::Container {
            label: label.to_string(),
            why: format!("invalid NVD document: {e}"),
        })
}

/// Reads a whole JSON text (bytes or a stream) as one NVD document; trailing data is an error.
pub(crate) fn read_json<'de, R: serde_json::de::Read<'de>>(
    label: &str,
    mut de: serde_json::Deserializer<R>,
    out: &mut Out,
) -> Result<()> {
    read(label, &mut de, out)?;
    de.end().map_err(|e| Error::Container {
        label: label.to_string(),
        why: format!("invalid NVD document: {e}"),
    })
}

/// The top level: `vulnerabilities` (API 2.0 feeds), `CVE_Items` (1.1 feeds), or else the
/// fields of one CVE record.
struct Document<'a> {
    label: &'a str,
    out: &'a mut Out,
}

impl<'de> Visitor<'de> for Document<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an NVD collection or CVE record")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut listed = false;
        // The feed header (a few small fields), or the record itself when there is no list.
        let mut rest = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let list = match key.as_str() {
                "vulnerabilities" => List::Api2,
                "CVE_Items" => List::Legacy,
                _ => {
                    rest.insert(key, map.next_value()?);
                    continue;
                }
            };
            listed = true;
            map.next_value_seed(Records {
                label: self.label,
                out: &mut *self.out,
                list,
            })?;
        }
        if !listed {
            record(self.label, serde_json::Value::Object(rest), self.out);
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum List {
    Api2,
    Legacy,
}

/// One of the document's record lists, read element by element.
struct Records<'a> {
    label: &'a str,
    out: &'a mut Out,
    list: List,
}

impl<'de> DeserializeSeed<'de> for Records<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Records<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of CVE records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0usize;
        // Each element is one record's tree at most (a few KB): the leniency per record
        // needs the element whole, the feed never.
        while let Some(mut item) = seq.next_element::<serde_json::Value>()? {
            match self.list {
                List::Legacy => legacy(&item, self.out),
                List::Api2 => {
                    let at = format!("{}: vulnerabilities[{i}]", self.label);
                    match item.get_mut("cve").map(serde_json::Value::take) {
                        Some(cve) => record(&at, cve, self.out),
                        None => self.out.warn(format!("{at}: NVD record skipped: no `cve`")),
                    }
                }
            }
            i += 1;
        }
        Ok(())
    }
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
        read("nvd.json", doc, &mut out).unwrap();
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
