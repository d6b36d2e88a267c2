//! The vulnerability database as an [`AdvisorySource`].

use std::sync::Arc;

use portcullis_core::{Advisory, Ecosystem, SeverityScore};
use portcullis_vulndb::Db;

use crate::{AdvisorySource, MatchError, Result};

impl AdvisorySource for Db {
    fn advisories_for(&self, eco: Ecosystem, package: &str) -> Result<Arc<[Advisory]>> {
        self.advisories_shared(eco, package)
            .map_err(|e| MatchError::Source {
                what: format!("looking up advisories for {eco} {package}"),
                source: Box::new(e),
            })
    }

    fn alias_severity(&self, id: &str) -> Result<Arc<[SeverityScore]>> {
        self.alias_scores(id).map_err(|e| MatchError::Source {
            what: format!("looking up the severity of {id}"),
            source: Box::new(e),
        })
    }
}
