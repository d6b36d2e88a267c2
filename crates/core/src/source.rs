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

/// Where advisories come from.
pub trait AdvisorySource {
    /// Every non-withdrawn advisory with an affected entry for `package` in `eco` (any
    /// release; the source normalises the name with [`Ecosystem::normalize_name`]).
    fn advisories_for(&self, eco: Ecosystem, package: &str)
    -> Result<Arc<[Advisory]>, SourceError>;

    /// Severity scores stated for an alias of an advisory, typically the NVD record of a CVE
    /// id. Empty when nothing is known.
    fn alias_severity(&self, id: &str) -> Result<Arc<[SeverityScore]>, SourceError>;
}
