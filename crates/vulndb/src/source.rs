//! The vulnerability database as the matcher's [`AdvisorySource`].

use std::sync::Arc;

use portcullis_core::{Advisory, AdvisorySource, Ecosystem, SeverityScore, SourceError};

use crate::Db;

impl AdvisorySource for Db {
    fn covering(
        &self,
        eco: Ecosystem,
        releases: &[String],
    ) -> Result<Vec<portcullis_core::Covering>, SourceError> {
        Db::covering(self, eco, releases).map_err(|e| SourceError {
            what: format!("looking up which sources cover {eco}"),
            source: Box::new(e),
        })
    }

    fn advisories_for(
        &self,
        eco: Ecosystem,
        package: &str,
    ) -> Result<Arc<[Advisory]>, SourceError> {
        self.advisories_shared(eco, package)
            .map_err(|e| SourceError {
                what: format!("looking up advisories for {eco} {package}"),
                source: Box::new(e),
            })
    }

    fn alias_severity(&self, id: &str) -> Result<Arc<[SeverityScore]>, SourceError> {
        self.alias_scores(id).map_err(|e| SourceError {
            what: format!("looking up the severity of {id}"),
            source: Box::new(e),
        })
    }
}
