//! OSV records (JSON or YAML) into the normalised [`Advisory`].
//!
//! The raw shape here is deliberately loose: optional fields may be missing or `null`, and
//! hint fields (`database_specific`) accept anything. What OSV requires and we need — the
//! `id`, the shape of `affected`/`ranges`/`events` — must be right, or the record is
//! skipped with a warning naming the file and the id.

use portcullis_core::parse_time;
use portcullis_core::{
    Advisory, AdvisoryKind, Affected, Ecosystem, Event, Range, RangeKind, SeverityScore,
    TrackerState,
};
use serde::Deserialize;

use super::lenient::{opt_string, opt_vec};
use super::{Out, summary_from_details};

/// Feed name stored in [`Advisory::source`] for OSV records.
pub(crate) const FEED: &str = "osv";

/// An OSV record as found in the wild.
#[derive(Deserialize)]
pub(crate) struct RawOsv {
    #[serde(default)]
    id: Option<String>,
    #[serde(default, deserialize_with = "opt_vec")]
    aliases: Vec<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    details: Option<String>,
    #[serde(default)]
    modified: Option<String>,
    #[serde(default)]
    withdrawn: Option<String>,
    #[serde(default, deserialize_with = "opt_vec")]
    severity: Vec<RawSeverity>,
    #[serde(default, deserialize_with = "opt_vec")]
    affected: Vec<RawAffected>,
    #[serde(default)]
    database_specific: Option<RawDbSpecific>,
}

/// Only the `id`, to name a record whose full shape did not parse.
#[derive(Deserialize)]
pub(crate) struct RawId {
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) id: Option<String>,
}

#[derive(Deserialize)]
struct RawSeverity {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    score: Option<String>,
}

#[derive(Deserialize)]
struct RawAffected {
    #[serde(default)]
    package: Option<RawPackage>,
    #[serde(default, deserialize_with = "opt_vec")]
    ranges: Vec<RawRange>,
    #[serde(default, deserialize_with = "opt_vec")]
    versions: Vec<String>,
    #[serde(default, deserialize_with = "opt_vec")]
    severity: Vec<RawSeverity>,
    #[serde(default)]
    database_specific: Option<RawDbSpecific>,
}

#[derive(Deserialize)]
struct RawPackage {
    #[serde(default)]
    ecosystem: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct RawRange {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, deserialize_with = "opt_vec")]
    events: Vec<RawEvent>,
}

#[derive(Deserialize)]
struct RawEvent {
    #[serde(default)]
    introduced: Option<String>,
    #[serde(default)]
    fixed: Option<String>,
    #[serde(default)]
    last_affected: Option<String>,
    #[serde(default)]
    limit: Option<String>,
}

/// `database_specific` is free-form; RustSec puts `informational` there (per record or per
/// affected entry), which is all we read.
#[derive(Deserialize)]
struct RawDbSpecific {
    #[serde(default, deserialize_with = "opt_string")]
    informational: Option<String>,
}

/// Converts one raw record, pushing the advisory (or a warning) into `out`.
/// `label` names the file (and archive entry) for warnings.
pub(crate) fn convert(raw: RawOsv, label: &str, out: &mut Out) {
    let id = match raw
        .id
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
    {
        Some(id) => id,
        None => {
            out.warn(format!("{label}: record skipped: missing `id`"));
            return;
        }
    };
    let mut severity = Vec::new();
    push_severities(&mut severity, raw.severity);
    let mut informational = raw
        .database_specific
        .and_then(|d| d.informational)
        .filter(|s| !s.is_empty());
    let had_affected = !raw.affected.is_empty();
    let mut affected = Vec::with_capacity(raw.affected.len());
    // Entry-level problems; reported only if the record is kept (else the skip says why).
    let mut dropped = Vec::new();
    for a in raw.affected {
        let Some(pkg) = a.package else {
            dropped.push("affected entry without `package`".to_string());
            continue;
        };
        let (Some(eco_str), Some(name)) = (pkg.ecosystem, pkg.name) else {
            dropped.push("affected entry without package ecosystem or name".to_string());
            continue;
        };
        if let Err(e) = Ecosystem::parse_osv(&eco_str) {
            dropped.push(format!("{e}; affected entry for '{name}'"));
            continue;
        }
        if informational.is_none() {
            informational = a
                .database_specific
                .and_then(|d| d.informational)
                .filter(|s| !s.is_empty());
        }
        push_severities(&mut severity, a.severity);
        let mut ranges = Vec::with_capacity(a.ranges.len());
        for r in a.ranges {
            let kind = match r.kind.as_str() {
                "ECOSYSTEM" => RangeKind::Ecosystem,
                "SEMVER" => RangeKind::Semver,
                "GIT" => RangeKind::Git,
                other => {
                    out.warn(format!(
                        "{label}: {id}: range of unknown type '{other}' dropped"
                    ));
                    continue;
                }
            };
            let events = r.events.into_iter().flat_map(events_of).collect();
            ranges.push(Range { kind, events });
        }
        affected.push(Affected {
            ecosystem: eco_str,
            package: name,
            ranges,
            versions: a.versions,
            state: TrackerState::Fixed,
        });
    }
    if had_affected && affected.is_empty() {
        let why = dropped
            .first()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        out.warn(format!(
            "{label}: {id}: record skipped: no affected package in a known ecosystem{why}"
        ));
        return;
    }
    for d in dropped {
        out.warn(format!("{label}: {id}: {d} dropped"));
    }
    let summary = raw
        .summary
        .filter(|s| !s.trim().is_empty())
        .or_else(|| raw.details.as_deref().and_then(summary_from_details));
    out.advisories.push(Advisory {
        id,
        aliases: raw.aliases,
        summary,
        modified: raw.modified.as_deref().and_then(parse_time),
        withdrawn: raw.withdrawn.filter(|w| !w.is_empty()),
        severity,
        affected,
        kind: informational.map_or(AdvisoryKind::Vulnerability, AdvisoryKind::Informational),
        source: FEED.to_string(),
    });
}

/// One OSV event object may (against the spec) carry several keys; keep each in OSV order.
fn events_of(e: RawEvent) -> impl Iterator<Item = Event> {
    [
        e.introduced.map(Event::Introduced),
        e.fixed.map(Event::Fixed),
        e.last_affected.map(Event::LastAffected),
        e.limit.map(Event::Limit),
    ]
    .into_iter()
    .flatten()
}

fn push_severities(into: &mut Vec<SeverityScore>, raw: Vec<RawSeverity>) {
    for s in raw {
        let (Some(kind), Some(score)) = (s.kind, s.score) else {
            continue;
        };
        let kind = match kind.as_str() {
            "CVSS_V2" | "CVSS_V3" | "CVSS_V4" => kind,
            // Ubuntu's `Ubuntu` type and the like carry a bare word.
            _ => "word".to_string(),
        };
        let score = SeverityScore { kind, score };
        if !into.contains(&score) {
            into.push(score);
        }
    }
}
