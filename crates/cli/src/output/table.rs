//! The human table: one row per vulnerability, then the verdict.

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use portcullis_core::ScanReport;

pub(crate) fn render(r: &ScanReport) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    t.set_header([
        "ID",
        "PACKAGE",
        "INSTALLED",
        "FIXED IN",
        "SEVERITY",
        "CVSS",
        "NOTE",
    ]);
    for m in super::ordered(&r.vulnerabilities) {
        let note = match (&m.ignored, &m.informational) {
            (Some(i), _) => format!("ignored: {}", i.exception),
            (None, Some(kind)) => format!("informational: {kind}"),
            _ if m.state != portcullis_core::TrackerState::Fixed => {
                format!("{:?}", m.state).to_lowercase()
            }
            _ => String::new(),
        };
        t.add_row([
            m.id.clone(),
            m.package.name.clone(),
            m.package.version.clone(),
            m.fixed_versions.join(", "),
            m.severity.to_string(),
            m.cvss
                .as_ref()
                .map(|c| format!("{:.1}", c.score))
                .unwrap_or_default(),
            note,
        ]);
    }
    let s = &r.summary;
    let counts: Vec<String> = s
        .counts
        .iter()
        .rev()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    let mut coverage = String::new();
    for c in &r.coverage {
        let sources = super::covered_by(c);
        coverage.push_str(&format!(
            "  {:<24} {:>5} packages  {sources}\n",
            c.ecosystem, c.packages
        ));
    }
    if !coverage.is_empty() {
        coverage.insert_str(0, "coverage:\n");
    }
    let not_examined = if s.not_examined > 0 {
        format!(", {} not examined", s.not_examined)
    } else {
        String::new()
    };
    format!(
        "{}\n{}\n{coverage}{} packages, {} vulnerabilities ({}), {} ignored, {} informational{not_examined}\nmax CVSS {}  status {}\n",
        r.target,
        if r.vulnerabilities.is_empty() {
            "no vulnerabilities found".to_string()
        } else {
            t.to_string()
        },
        r.packages.len(),
        s.counts.values().sum::<usize>(),
        if counts.is_empty() {
            "none".to_string()
        } else {
            counts.join(", ")
        },
        s.ignored,
        s.informational,
        s.max_cvss
            .map(|x| format!("{x:.1}"))
            .unwrap_or_else(|| "-".into()),
        s.status,
    )
}
