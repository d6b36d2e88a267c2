//! Advisories in one normalised shape, whatever feed they came from.
//!
//! The shape is OSV's, because OSV can express every other feed Portcullis reads: a Debian
//! DSA entry becomes an `affected` entry for the source package in `Debian:bookworm` with
//! `introduced: 0, fixed: V`; an Alpine secfix becomes the same for `Alpine:v3.18`.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Whether an advisory describes a vulnerability or is only informational.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "what")]
pub enum AdvisoryKind {
    /// A vulnerability: counts toward the image status.
    #[default]
    Vulnerability,
    /// Informational (RustSec `unmaintained`, `unsound`, `notice`): reported apart, never counted.
    Informational(String),
}

/// A severity as the record states it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeverityScore {
    /// `CVSS_V2`, `CVSS_V3`, `CVSS_V4`, or `word` for a bare severity word.
    #[serde(rename = "type")]
    pub kind: String,
    /// The vector (`CVSS:3.1/AV:N/...`) or the word (`HIGH`).
    pub score: String,
}

/// The state a distro tracker gives a package for a vulnerability.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum TrackerState {
    /// A fix exists (the `fixed` event says which version).
    #[default]
    Fixed,
    /// No fix yet.
    Unfixed,
    /// The distro will not issue an advisory (Debian `no-DSA`).
    NoDsa,
    /// Judged unimportant by the distro.
    Unimportant,
    /// The package is out of security support.
    EndOfLife,
    /// Fix postponed to a later point release.
    Postponed,
}

/// Kind of a version range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RangeKind {
    /// Versions ordered by the ecosystem's own rules.
    Ecosystem,
    /// Versions ordered by SemVer 2.0.
    Semver,
    /// Git commits: not matched against installed packages.
    Git,
}

/// One OSV range event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// Versions from this one on are affected (`0` means from the start).
    Introduced(String),
    /// This version and later are not affected.
    Fixed(String),
    /// Versions up to and including this one are affected.
    LastAffected(String),
    /// Upper bound (exclusive) past which the range says nothing.
    Limit(String),
}

/// An OSV range: events in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    /// How to order the versions in the events.
    #[serde(rename = "type")]
    pub kind: RangeKind,
    /// The events, in the order the record gives them.
    pub events: Vec<Event>,
}

/// One affected package of an advisory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Affected {
    /// OSV ecosystem string, with release for distros (`Debian:bookworm`, `Alpine:v3.18`, `PyPI`).
    pub ecosystem: String,
    /// Package name as the feed spells it (source package for distros).
    pub package: String,
    /// Version ranges.
    #[serde(default)]
    pub ranges: Vec<Range>,
    /// Explicitly listed affected versions.
    #[serde(default)]
    pub versions: Vec<String>,
    /// Tracker state for distro feeds.
    #[serde(default)]
    pub state: TrackerState,
}

/// One advisory in normalised form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Advisory {
    /// Identifier (`GHSA-...`, `PYSEC-...`, `DSA-5000-1`, `CVE-...`).
    pub id: String,
    /// Other identifiers of the same vulnerability.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// One-line summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Last modification time, if the feed gives one that reads as a time (RFC 3339 on the
    /// wire). When two feeds carry one advisory, the later modification wins.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub modified: Option<OffsetDateTime>,
    /// Withdrawal time; withdrawn advisories are stored but never matched. Kept as the feed
    /// writes it: any value, even one that does not read as a time, withdraws the advisory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<String>,
    /// Severities as stated.
    #[serde(default)]
    pub severity: Vec<SeverityScore>,
    /// Affected packages.
    #[serde(default)]
    pub affected: Vec<Affected>,
    /// Vulnerability or informational.
    #[serde(default)]
    pub kind: AdvisoryKind,
    /// Name of the feed it came from (`osv`, `debian-tracker`, `alpine-secdb`, `npm-wg`).
    pub source: String,
}
