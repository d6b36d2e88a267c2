//! Node.js security working group npm advisories (`vuln/npm/*.json`).
//!
//! The working group states affected versions as one node-semver range string, which OSV
//! cannot express. Convention (read by the matcher): the advisory has one [`Affected`] for
//! ecosystem `npm` with `versions: []` and exactly one range of kind ECOSYSTEM whose first
//! event is `Introduced("npm-range:" + vulnerable_versions)`, followed, when the record names
//! its fix, by `Fixed("npm-range:" + patched_versions)` (the matcher reads the fixed versions
//! from it). A record whose `patched_versions` is missing or `<0.0.0` (the working group's "no
//! fix") is `Unfixed`. The id is `NSWG-ECO-<id>` and the aliases are the CVEs.

use portcullis_core::parse_time;
use portcullis_core::{
    Advisory, AdvisoryKind, Affected, Event, NPM_RANGE_PREFIX, Range, RangeKind, SeverityScore,
    TrackerState,
};
use serde::Deserialize;

use super::Out;
use super::lenient::{opt_string, opt_vec};

/// Feed name stored in [`Advisory::source`].
pub(crate) const FEED: &str = "npm-wg";

#[derive(Deserialize)]
struct NpmWg {
    #[serde(default, deserialize_with = "opt_string")]
    id: Option<String>,
    #[serde(default)]
    module_name: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    vulnerable_versions: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    patched_versions: Option<String>,
    #[serde(default, deserialize_with = "opt_vec")]
    cves: Vec<String>,
    #[serde(default, deserialize_with = "opt_string")]
    cvss_vector: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    title: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    overview: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    updated_at: Option<String>,
}

/// Converts one working-group record, or warns naming the file.
pub(crate) fn convert(label: &str, value: serde_json::Value, out: &mut Out) {
    let raw: NpmWg = match serde_json::from_value(value) {
        Ok(r) => r,
        Err(e) => {
            out.warn(format!("{label}: record skipped: {e}"));
            return;
        }
    };
    let Some(num) = raw.id.filter(|s| !s.is_empty()) else {
        out.warn(format!("{label}: record skipped: missing `id`"));
        return;
    };
    let id = format!("NSWG-ECO-{num}");
    let Some(module) = raw.module_name.filter(|s| !s.is_empty()) else {
        out.warn(format!(
            "{label}: {id}: record skipped: missing `module_name`"
        ));
        return;
    };
    let Some(range) = raw
        .vulnerable_versions
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
    else {
        out.warn(format!(
            "{label}: {id}: record skipped: missing `vulnerable_versions`"
        ));
        return;
    };
    // `<0.0.0` matches no version: the working group's way to say there is no fix.
    let patched = raw
        .patched_versions
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty() && p != "<0.0.0");
    let mut events = vec![Event::Introduced(format!("{NPM_RANGE_PREFIX}{range}"))];
    if let Some(p) = &patched {
        events.push(Event::Fixed(format!("{NPM_RANGE_PREFIX}{p}")));
    }
    let severity = raw
        .cvss_vector
        .filter(|v| !v.trim().is_empty())
        .map(|v| {
            let kind = if v.starts_with("CVSS:3") {
                "CVSS_V3"
            } else if v.starts_with("CVSS:4") {
                "CVSS_V4"
            } else {
                "CVSS_V2"
            };
            SeverityScore {
                kind: kind.to_string(),
                score: v,
            }
        })
        .into_iter()
        .collect();
    out.advisories.push(Advisory {
        id,
        aliases: raw.cves,
        summary: raw.title.filter(|t| !t.trim().is_empty()).or_else(|| {
            raw.overview
                .as_deref()
                .and_then(super::summary_from_details)
        }),
        modified: raw.updated_at.as_deref().and_then(parse_time),
        withdrawn: None,
        severity,
        affected: vec![Affected {
            ecosystem: "npm".to_string(),
            package: module,
            ranges: vec![Range {
                kind: RangeKind::Ecosystem,
                events,
            }],
            versions: Vec::new(),
            state: if patched.is_some() {
                TrackerState::Fixed
            } else {
                TrackerState::Unfixed
            },
        }],
        kind: AdvisoryKind::Vulnerability,
        source: FEED.to_string(),
    });
}
