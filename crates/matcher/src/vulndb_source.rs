//! The vulnerability database as an [`AdvisorySource`].

use portcullis_core::{Advisory, Ecosystem, SeverityScore};
use portcullis_vulndb::Db;

use crate::{AdvisorySource, MatchError, Result};

impl AdvisorySource for Db {
    fn advisories_for(&self, eco: Ecosystem, package: &str) -> Result<Vec<Advisory>> {
        Db::advisories_for(self, eco, package).map_err(|e| MatchError::Source {
            what: format!("looking up advisories for {eco} {package}"),
            source: Box::new(e),
        })
    }

    /// The alias's own record, when the database has one under that id (a GHSA record that a
    /// PYSEC record names), then what NVD says of it. Its own record comes first so that, of
    /// two vectors of one CVSS version, the advisory's wins over NVD's.
    fn alias_severity(&self, id: &str) -> Result<Vec<SeverityScore>> {
        let wrap = |e: portcullis_vulndb::Error| MatchError::Source {
            what: format!("looking up the severity of {id}"),
            source: Box::new(e),
        };
        let mut scores: Vec<SeverityScore> = self
            .advisories_by_id(id)
            .map_err(wrap)?
            .into_iter()
            .filter(|a| a.id == id)
            .flat_map(|a| a.severity)
            .collect();
        scores.extend(self.nvd_severity(id).map_err(wrap)?);
        Ok(scores)
    }
}
