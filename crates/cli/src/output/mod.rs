//! Scan report formats, one module each. JSON is the report's own serde form and needs no module.

pub(crate) mod csv;
pub(crate) mod cyclonedx;
pub(crate) mod sarif;
pub(crate) mod table;

use portcullis_core::Match;

/// Matches in report order: counted first, by CVSS (highest first), then id; ignored and informational last.
pub(crate) fn ordered(matches: &[Match]) -> Vec<&Match> {
    let mut v: Vec<&Match> = matches.iter().collect();
    v.sort_by(|a, b| {
        let rank = |m: &Match| (m.ignored.is_some() || m.informational.is_some()) as u8;
        rank(a)
            .cmp(&rank(b))
            .then_with(|| {
                let s = |m: &Match| m.cvss.as_ref().map(|c| c.score).unwrap_or(-1.0);
                s(b).total_cmp(&s(a))
            })
            .then_with(|| b.severity.cmp(&a.severity))
            .then_with(|| a.id.cmp(&b.id))
            .then_with(|| a.package.name.cmp(&b.package.name))
    });
    v
}

/// What covered a namespace's packages, for people: `osv-pypi (imported 2026-12-07), ...`, or
/// that nothing did. Every format says it the same way.
pub(crate) fn covered_by(c: &portcullis_core::Coverage) -> String {
    if !c.examined() {
        return "NOT EXAMINED: no source in the DB covers it".to_string();
    }
    c.sources
        .iter()
        .map(|s| match s.imported {
            Some(t) => format!("{} (imported {})", s.source, t.date()),
            None => s.source.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
