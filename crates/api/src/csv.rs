//! CSV exports, safe to open in a spreadsheet: a cell that starts with `=`, `+`, `-`, `@` (or a
//! tab or carriage return) is prefixed with `'`, so it is never read as a formula.

use std::fmt::Write as _;

use crate::routes::ImageRow;
use crate::views::ExportRow;

/// One cell: neutralised, then quoted when it holds a separator, quote or line break.
pub(crate) fn cell(value: &str) -> String {
    let v = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

fn row(out: &mut String, cells: &[&str]) {
    let line: Vec<String> = cells.iter().map(|c| cell(c)).collect();
    let _ = writeln!(out, "{}", line.join(","));
}

/// Any list as CSV: one row per item, a column per field of the first item, by name (nested lists
/// joined with spaces, objects as JSON), so every list route answers `?format=csv` alike.
pub(crate) fn records(items: &[serde_json::Value]) -> String {
    let mut out = String::new();
    let Some(first) = items.first().and_then(|f| f.as_object()) else {
        return out;
    };
    let columns: Vec<&String> = first.keys().collect();
    row(
        &mut out,
        &columns.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
    );
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    };
    for item in items {
        let cells: Vec<String> = columns.iter().map(|c| text(&item[c.as_str()])).collect();
        row(
            &mut out,
            &cells.iter().map(String::as_str).collect::<Vec<_>>(),
        );
    }
    out
}

/// The images list as CSV, one row per image.
pub(crate) fn images(rows: &[ImageRow]) -> String {
    let mut out = String::new();
    row(
        &mut out,
        &[
            "registry",
            "repository",
            "digest",
            "tags",
            "status",
            "max_cvss",
            "critical",
            "high",
            "medium",
            "low",
            "running",
            "instances",
            "namespaces",
            "sources",
            "first_seen",
            "last_seen",
        ],
    );
    for r in rows {
        let count = |s: &str| r.counts.get(s).copied().unwrap_or(0).to_string();
        row(
            &mut out,
            &[
                &r.registry,
                &r.repository,
                &r.digest,
                &r.tags.join(" "),
                r.status.as_deref().unwrap_or(""),
                &r.max_cvss.map(|c| c.to_string()).unwrap_or_default(),
                &count("critical"),
                &count("high"),
                &count("medium"),
                &count("low"),
                &r.running.to_string(),
                &r.instances.to_string(),
                &r.namespaces.join(" "),
                &r.sources.join(" "),
                &r.first_seen,
                &r.last_seen,
            ],
        );
    }
    out
}

/// The runtime inventory as CSV, one row per workload and image.
pub(crate) fn running(rows: &[portcullis_core::RuntimeImage]) -> String {
    let mut out = String::new();
    row(
        &mut out,
        &[
            "cluster",
            "namespace",
            "kind",
            "workload",
            "image",
            "digest",
            "pods",
            "nodes",
            "running",
            "last_seen",
        ],
    );
    for r in rows {
        let digest = r
            .digest
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        row(
            &mut out,
            &[
                &r.cluster,
                &r.namespace,
                &r.workload_kind,
                &r.workload_name,
                &r.image,
                &digest,
                &r.instances.to_string(),
                &r.nodes.join(" "),
                if r.running { "true" } else { "false" },
                &portcullis_core::format_time(r.last_seen),
            ],
        );
    }
    out
}

/// The export's CSV header line.
pub(crate) fn export_header() -> String {
    let mut out = String::new();
    row(
        &mut out,
        &[
            "image",
            "digest",
            "status",
            "vulnerability",
            "severity",
            "cvss",
            "package",
            "version",
            "fixed",
            "workloads",
        ],
    );
    out
}

/// One export row as a CSV line: an image, one vulnerability, the workloads running it.
pub(crate) fn export_row(r: &ExportRow) -> String {
    let mut out = String::new();
    let cvss = r.cvss.map(|c| format!("{c:.1}")).unwrap_or_default();
    row(
        &mut out,
        &[
            &r.image,
            &r.digest,
            &r.status,
            &r.vulnerability,
            &r.severity,
            &cvss,
            &r.package,
            &r.version,
            &r.fixed,
            &r.workloads.join(" "),
        ],
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_list_is_a_table_of_its_fields() {
        let items = vec![
            serde_json::json!({"id": "CVE-1", "images": 2, "tags": ["a", "b"], "note": "=cmd", "gone": null}),
            serde_json::json!({"id": "CVE-2", "images": 0, "tags": [], "note": "x,y", "gone": {"k": 1}}),
        ];
        assert_eq!(
            records(&items),
            "gone,id,images,note,tags\n,CVE-1,2,'=cmd,a b\n\"{\"\"k\"\":1}\",CVE-2,0,\"x,y\",\n"
        );
        assert_eq!(records(&[]), "");
    }

    #[test]
    fn formulas_are_neutralised_and_separators_quoted() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("+1"), "'+1");
        assert_eq!(cell("-2"), "'-2");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("1.2-3"), "1.2-3", "only the first character counts");
    }
}
