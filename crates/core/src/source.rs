//! The seam between matching and storage: where advisories come from.
//!
//! It lives here, below both: the matcher asks through it and the vulnerability database
//! implements it, so neither depends on the other (tests use an in-memory source).

use std::sync::Arc;

use crate::{Advisory, Ecosystem, SeverityScore};

/// The prefix of the single `Introduced` event that carries an npm advisory's range as npm
/// writes it (`npm-range:<=1.0.0`): the npm WG's feed has ranges, not events. Written by the
/// database's npm ingest, read by the matcher.
pub const NPM_RANGE_PREFIX: &str = "npm-range:";

/// A source could not answer a lookup.
#[derive(Debug, thiserror::Error)]
#[error("advisory source failed while {what}")]
pub struct SourceError {
    /// What was being looked up, e.g. `looking up advisories for pypi django`.
    pub what: String,
    /// Why the source failed.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// A source that holds advisories for an ecosystem (and release), and when it was imported: what
/// a report's coverage names.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Covering {
    /// The source's name in the DB (`osv-pypi`, `debian-dsa` ...).
    pub source: String,
    /// When it was imported, when known.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub imported: Option<time::OffsetDateTime>,
}

/// Whether an affected entry's release (`None`: no release in particular) is one the image is
/// scoped to: one of `releases`, with one of them as a `:`-separated part (`22.04` in
/// `22.04:LTS`), or beginning with one of them and a `:` (`Red Hat:enterprise_linux:9` of
/// `Red Hat:enterprise_linux:9::appstream`).
pub fn release_covers(release: Option<&str>, releases: &[String]) -> bool {
    match release {
        None => true,
        Some(r) => releases.iter().any(|x| {
            x == r
                || r.split(':').any(|part| part == x)
                || r.strip_prefix(x.as_str())
                    .is_some_and(|rest| rest.starts_with(':'))
        }),
    }
}

/// Where advisories come from.
pub trait AdvisorySource {
    /// The sources holding advisories for `eco` in one of `releases` (a release matches when
    /// it is one of them or has one of them as a `:`-separated part, as `22.04` in
    /// `22.04:LTS`), or for `eco` with no release. Empty when none does: packages there
    /// cannot be examined.
    fn covering(&self, eco: Ecosystem, releases: &[String]) -> Result<Vec<Covering>, SourceError>;

    /// Every non-withdrawn advisory with an affected entry for `package` in `eco` (any
    /// release; the source normalises the name with [`Ecosystem::normalize_name`]).
    fn advisories_for(&self, eco: Ecosystem, package: &str)
    -> Result<Arc<[Advisory]>, SourceError>;

    /// Severity scores stated for an alias of an advisory, typically the NVD record of a CVE
    /// id. Empty when nothing is known.
    fn alias_severity(&self, id: &str) -> Result<Arc<[SeverityScore]>, SourceError>;
}
