//! CSV: one row per match, RFC 4180 quoting, for spreadsheets and Calico-style exception review;
//! then one row per advisory namespace no source covered (state `not-examined`, the package
//! count as the package), so a sheet never reads as clean for what was not examined.

use portcullis_core::ScanReport;

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub(crate) fn render(r: &ScanReport) -> String {
    let mut out = String::from(
        "id,aliases,package,version,ecosystem,purl,fixed_versions,severity,cvss,state,ignored_by\n",
    );
    for m in super::ordered(&r.vulnerabilities) {
        let row = [
            m.id.clone(),
            m.aliases.join(" "),
            m.package.name.clone(),
            m.package.version.clone(),
            m.package.ecosystem.to_string(),
            m.package.purl.clone(),
            m.fixed_versions.join(" "),
            m.severity.to_string(),
            m.cvss
                .as_ref()
                .map(|c| format!("{:.1}", c.score))
                .unwrap_or_default(),
            format!("{:?}", m.state).to_lowercase(),
            m.ignored
                .as_ref()
                .map(|i| i.exception.clone())
                .unwrap_or_default(),
        ];
        out.push_str(&row.iter().map(|s| field(s)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    for c in r.coverage.iter().filter(|c| !c.examined()) {
        let row = [
            "",
            "",
            &format!("{} packages", c.packages),
            "",
            &c.ecosystem,
            "",
            "",
            "",
            "",
            "not-examined",
            "",
        ];
        out.push_str(&row.map(field).join(","));
        out.push('\n');
    }
    out
}
