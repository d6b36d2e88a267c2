//! Matches, exceptions and the image result.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use time::OffsetDateTime;

use crate::{Expiry, ImageInfo, Package, TrackerState};

/// Qualitative severity, ordered from least to most severe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// No score and no severity word anywhere.
    Unknown,
    /// CVSS 0.0.
    None,
    /// CVSS 0.1 - 3.9.
    Low,
    /// CVSS 4.0 - 6.9.
    Medium,
    /// CVSS 7.0 - 8.9.
    High,
    /// CVSS 9.0 - 10.0.
    Critical,
}

impl Severity {
    /// The qualitative rating of a CVSS base score (the same bands for v2, v3 and v4 here).
    pub fn from_score(score: f64) -> Severity {
        match score {
            s if s >= 9.0 => Severity::Critical,
            s if s >= 7.0 => Severity::High,
            s if s >= 4.0 => Severity::Medium,
            s if s > 0.0 => Severity::Low,
            _ => Severity::None,
        }
    }

    /// Parses a severity word as feeds write it (`HIGH`, `moderate`, `important` ...).
    pub fn from_word(word: &str) -> Option<Severity> {
        Some(match word.trim().to_ascii_lowercase().as_str() {
            "critical" => Severity::Critical,
            "high" | "important" => Severity::High,
            "medium" | "moderate" => Severity::Medium,
            "low" | "negligible" => Severity::Low,
            "none" => Severity::None,
            _ => return None,
        })
    }

    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "unknown",
            Severity::None => "none",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scored CVSS vector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cvss {
    /// `2.0`, `3.0`, `3.1` or `4.0`.
    pub version: String,
    /// The vector string.
    pub vector: String,
    /// Base score.
    pub score: f64,
    /// Which record the vector came from (the advisory itself, or an alias such as an NVD CVE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// Why a match matched: the evidence a person needs to agree or disagree with it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MatchDetail {
    /// The matcher that decided (`dpkg-source`, `osv-ecosystem`, `apk-origin` ...).
    pub matcher: String,
    /// What was searched for: ecosystem (with release), name and version.
    pub searched: String,
    /// The affected entry and range that matched, in a readable form
    /// (`Debian:bookworm openssl: introduced 0, fixed 3.0.11-1~deb12u1`).
    pub range: String,
    /// The feed the record came from.
    pub source: String,
    /// Where the package was found (path in the image).
    pub location: String,
    /// The layer that last wrote that path (none for a root filesystem or an SBOM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<crate::Digest>,
}

/// The exception that silenced a match.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IgnoredBy {
    /// Human-readable name of the exception (its id and scope).
    pub exception: String,
    /// Why it was granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
}

/// One vulnerability found in one package.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Match {
    /// Primary id.
    pub id: String,
    /// Other ids of the same vulnerability (CVE, GHSA, DSA ...).
    pub aliases: Vec<String>,
    /// The package it was found in.
    pub package: MatchedPackage,
    /// Versions that fix it (empty when none).
    pub fixed_versions: Vec<String>,
    /// Qualitative severity.
    pub severity: Severity,
    /// The CVSS vector used, if any. Boxed, like `ignored`: most matches have neither, and a
    /// `serve` holding 10,000 images holds hundreds of thousands of matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss: Option<Box<Cvss>>,
    /// Tracker state (distro feeds), `fixed` otherwise.
    pub state: TrackerState,
    /// Why it matched.
    pub matched_by: MatchDetail,
    /// Set when an exception silences it; it then does not count toward the status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignored: Option<Box<IgnoredBy>>,
    /// One-line summary of the advisory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Informational advisories (unmaintained, unsound) are reported but never counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub informational: Option<String>,
}

/// The package fields a match report repeats, so a match can be read on its own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchedPackage {
    /// Package name.
    pub name: String,
    /// Installed version.
    pub version: String,
    /// Ecosystem.
    pub ecosystem: crate::Ecosystem,
    /// Package URL.
    pub purl: String,
}

impl From<&Package> for MatchedPackage {
    fn from(p: &Package) -> Self {
        MatchedPackage {
            name: p.name.clone(),
            version: p.version.clone(),
            ecosystem: p.ecosystem,
            purl: p.purl.clone(),
        }
    }
}

/// Pass, Warn or Fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Status {
    /// Below the warn threshold.
    Pass,
    /// At or above the warn threshold, below fail.
    Warn,
    /// At or above the fail threshold.
    Fail,
}

impl Status {
    /// The name as policies spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "Pass",
            Status::Warn => "Warn",
            Status::Fail => "Fail",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Thresholds that turn scores into a status.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// A score at or above this warns (default 4.0).
    pub warn: f64,
    /// A score at or above this fails (default 7.0).
    pub fail: f64,
    /// Status for a match with no score at all (default `Warn`).
    pub unknown: Status,
    /// The least status of an image with packages that no source in the DB covers, which
    /// therefore were not examined (default `Warn`: nothing reports Pass for what it did not
    /// examine).
    #[serde(default = "warn")]
    pub uncovered: Status,
}

fn warn() -> Status {
    Status::Warn
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            warn: 4.0,
            fail: 7.0,
            unknown: Status::Warn,
            uncovered: Status::Warn,
        }
    }
}

/// What a report could check for one ecosystem of the packages found: how many packages, and
/// the sources that covered them (none: those packages were not examined).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// The advisory namespace the packages are looked up in, as matching scopes them
    /// (`Debian:bookworm`, `Alpine:v3.19`, `PyPI`, `Maven` ...).
    pub ecosystem: String,
    /// Packages of the image in it.
    pub packages: usize,
    /// The DB sources holding advisories for it, with when each was imported.
    pub sources: Vec<crate::Covering>,
}

impl Coverage {
    /// True when some source covered these packages.
    pub fn examined(&self) -> bool {
        !self.sources.is_empty()
    }
}

/// Scope of an exception.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExceptionScope {
    /// Every image.
    #[default]
    Any,
    /// Images of one registry + repository (any tag).
    Repository,
    /// Images of one registry + repository with the listed tags.
    Image,
}

/// A decision to ignore a vulnerability, with its reason and expiry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exception {
    /// Vulnerability id (any alias matches).
    pub id: String,
    /// Where it applies.
    #[serde(default)]
    pub scope: ExceptionScope,
    /// Registry host, for repository and image scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// Repository path, for repository and image scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Tags, for the image scope.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Why it is acceptable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    /// RFC 3339 date or time after which the exception no longer applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<Expiry>,
    /// Who made it (`token:<name>` through the API): kept for the audit, never matched on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// When it was made or last changed through the API (RFC 3339).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub created: Option<time::OffsetDateTime>,
}

/// Counts and the resulting status.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Pass / Warn / Fail after exceptions.
    pub status: Status,
    /// Highest CVSS score among counted matches.
    pub max_cvss: Option<f64>,
    /// Counted matches per severity.
    pub counts: BTreeMap<Severity, usize>,
    /// Matches silenced by exceptions.
    pub ignored: usize,
    /// Informational advisories (not counted).
    pub informational: usize,
    /// Packages that no source in the DB covers, so were not examined; they raise the status
    /// to at least [`Thresholds::uncovered`].
    #[serde(default, skip_serializing_if = "is_zero")]
    pub not_examined: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The vulnerability database a report was made with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbInfo {
    /// Content version: changes whenever the DB changes, so cached results know when to rematch.
    pub version: String,
    /// When it was built (RFC 3339 on the wire).
    #[serde(with = "time::serde::rfc3339")]
    pub built: OffsetDateTime,
}

impl Default for DbInfo {
    /// No DB: an empty version, built at the epoch.
    fn default() -> Self {
        DbInfo {
            version: String::new(),
            built: OffsetDateTime::UNIX_EPOCH,
        }
    }
}

/// Everything a scan found, and the verdict on it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScanReport {
    /// The target as given.
    pub target: String,
    /// The image.
    pub image: ImageInfo,
    /// Every package found.
    pub packages: Vec<Package>,
    /// Every match, ignored ones included (marked).
    pub vulnerabilities: Vec<Match>,
    /// Status and counts.
    pub summary: Summary,
    /// The database used.
    pub db: DbInfo,
    /// When the packages were matched (RFC 3339, UTC): a rematch after a DB update renews it.
    /// Policies on the last scan time (`imageLastScan`) read it, so a report restored from the
    /// store after a restart keeps its real age.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub scanned_at: Option<time::OffsetDateTime>,
    /// Warnings from cataloguing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// What could and could not be checked, per ecosystem of the packages found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coverage: Vec<Coverage>,
}

impl Summary {
    /// Computes the summary of a match list under thresholds. Ignored and informational
    /// matches are counted apart and never change the status.
    pub fn compute(matches: &[Match], t: &Thresholds) -> Summary {
        let mut counts = BTreeMap::new();
        let mut max: Option<f64> = None;
        let mut status = Status::Pass;
        let (mut ignored, mut informational) = (0, 0);
        for m in matches {
            if m.ignored.is_some() {
                ignored += 1;
                continue;
            }
            if m.informational.is_some() {
                informational += 1;
                continue;
            }
            *counts.entry(m.severity).or_insert(0) += 1;
            let s = match &m.cvss {
                Some(c) => {
                    max = Some(max.map_or(c.score, |x: f64| x.max(c.score)));
                    if c.score >= t.fail {
                        Status::Fail
                    } else if c.score >= t.warn {
                        Status::Warn
                    } else {
                        Status::Pass
                    }
                }
                None => match m.severity {
                    Severity::Unknown => t.unknown,
                    Severity::Critical | Severity::High if t.fail <= 7.0 => Status::Fail,
                    Severity::Critical if t.fail <= 9.0 => Status::Fail,
                    Severity::Critical | Severity::High | Severity::Medium if t.warn <= 4.0 => {
                        Status::Warn
                    }
                    Severity::Critical | Severity::High => Status::Warn,
                    _ => Status::Pass,
                },
            };
            status = status.max(s);
        }
        Summary {
            status,
            max_cvss: max,
            counts,
            ignored,
            informational,
            not_examined: 0,
        }
    }

    /// [`Summary::compute`], then what was not examined: packages that no source covers
    /// raise the status to at least [`Thresholds::uncovered`].
    pub fn of(matches: &[Match], coverage: &[Coverage], t: &Thresholds) -> Summary {
        let mut s = Summary::compute(matches, t);
        s.not_examined = coverage
            .iter()
            .filter(|c| !c.examined())
            .map(|c| c.packages)
            .sum();
        if s.not_examined > 0 {
            s.status = s.status.max(t.uncovered);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Ecosystem;

    fn m(score: Option<f64>, sev: Severity) -> Match {
        Match {
            id: "X".into(),
            aliases: vec![],
            package: MatchedPackage {
                name: "p".into(),
                version: "1".into(),
                ecosystem: Ecosystem::PyPI,
                purl: "pkg:pypi/p@1".into(),
            },
            fixed_versions: vec![],
            severity: sev,
            cvss: score.map(|s| {
                Box::new(Cvss {
                    version: "3.1".into(),
                    vector: String::new(),
                    score: s,
                    source: None,
                })
            }),
            state: TrackerState::Fixed,
            matched_by: MatchDetail {
                matcher: String::new(),
                searched: String::new(),
                range: String::new(),
                source: String::new(),
                location: String::new(),
                layer: None,
            },
            ignored: None,
            summary: None,
            informational: None,
        }
    }

    #[test]
    fn status_by_thresholds() {
        let t = Thresholds::default();
        assert_eq!(Summary::compute(&[], &t).status, Status::Pass);
        assert_eq!(
            Summary::compute(&[m(Some(3.9), Severity::Low)], &t).status,
            Status::Pass
        );
        assert_eq!(
            Summary::compute(&[m(Some(4.0), Severity::Medium)], &t).status,
            Status::Warn
        );
        let s = Summary::compute(
            &[
                m(Some(4.0), Severity::Medium),
                m(Some(9.8), Severity::Critical),
            ],
            &t,
        );
        assert_eq!(s.status, Status::Fail);
        assert_eq!(s.max_cvss, Some(9.8));
        assert_eq!(
            Summary::compute(&[m(None, Severity::Unknown)], &t).status,
            Status::Warn
        );
    }

    #[test]
    fn ignored_does_not_count() {
        let mut x = m(Some(9.8), Severity::Critical);
        x.ignored = Some(Box::new(IgnoredBy {
            exception: "e".into(),
            justification: None,
        }));
        let s = Summary::compute(&[x], &Thresholds::default());
        assert_eq!(s.status, Status::Pass);
        assert_eq!(s.ignored, 1);
    }
}
