//! The result store: what the scanner, the webhook and the service keep between runs and share
//! between replicas, behind the store traits of `portcullis-core`.
//!
//! Two backends pass one conformance suite (`portcullis_test_support::store`): SQLite, the
//! embedded default (one file under the cache directory), and PostgreSQL, for replicas that
//! share their results. [`StoreUrl`] names one (`sqlite:PATH`, `postgres://...`) and [`open`]
//! opens it as a [`ResultStore`].
//!
//! Each backend's schema is versioned and migrated at open: a newer binary upgrades an older
//! store; an older binary refuses a newer store ([`SchemaTooNew`]) rather than misread it.
//!
//! What a store keeps and why:
//! - an inventory per image digest: it depends only on the image (and the extractors), so it is
//!   kept as long as the image is, and a DB update rematches it without pulling the image;
//! - a report per (digest, DB version): it also depends on the DB;
//! - admission decisions, for the audit trail.
//!
//! Inventories and reports also depend on the code that made them ([`CodeVersions`]): a store
//! only hands out what the running code would make itself, so an upgraded extractor or matcher
//! makes its results anew instead of serving stale ones.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use portcullis_core::{ResultStore, StoreError};

mod codec;
mod migrate;
mod postgres;
mod sqlite;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// What stored results depend on besides the image and the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeVersions {
    /// The extractors (`name@version,...`), which an inventory depends on.
    pub catalog: String,
    /// The extractors and the matchers, which a report depends on.
    pub report: String,
}

/// A store's schema is newer than this binary knows: it was written by a newer Portcullis,
/// and reading it could misread it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "its schema is version {found}, newer than this binary knows ({known}); run a Portcullis at least as new as the one that wrote it"
)]
pub struct SchemaTooNew {
    /// The store's schema version.
    pub found: u32,
    /// The newest this binary knows.
    pub known: u32,
}

/// Where results are kept.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// An SQLite file (`sqlite:PATH`, or a bare path).
    Sqlite(PathBuf),
    /// A PostgreSQL database (`postgres://USER:PASSWORD@HOST:PORT/DATABASE`).
    Postgres(String),
}

/// A store URL that names no backend Portcullis has.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown result store `{0}`: expected sqlite:PATH, a file path, or postgres://USER:PASSWORD@HOST:PORT/DATABASE"
)]
pub struct UnknownStore(pub String);

impl FromStr for StoreUrl {
    type Err = UnknownStore;

    fn from_str(s: &str) -> Result<Self, UnknownStore> {
        if let Some(path) = s.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(UnknownStore(s.to_string()));
            }
            return Ok(StoreUrl::Sqlite(PathBuf::from(path)));
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(StoreUrl::Postgres(s.to_string()));
        }
        if s.is_empty() || s.contains("://") {
            return Err(UnknownStore(s.to_string()));
        }
        Ok(StoreUrl::Sqlite(PathBuf::from(s)))
    }
}

/// Shown without a password, so it can go into logs and messages.
impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUrl::Sqlite(p) => write!(f, "sqlite:{}", p.display()),
            StoreUrl::Postgres(url) => f.write_str(&postgres::redact(url)),
        }
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreUrl({self})")
    }
}

/// Opens (creating and migrating) the store `url` names, handing out only results made by
/// `versions`.
pub fn open(url: &StoreUrl, versions: CodeVersions) -> Result<Arc<dyn ResultStore>, StoreError> {
    Ok(match url {
        StoreUrl::Sqlite(path) => Arc::new(SqliteStore::open_for(path, versions)?),
        StoreUrl::Postgres(url) => Arc::new(PostgresStore::open(url, versions)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls() {
        let p = |s: &str| s.parse::<StoreUrl>();
        assert_eq!(
            p("sqlite:/var/lib/p/r.db"),
            Ok(StoreUrl::Sqlite("/var/lib/p/r.db".into()))
        );
        assert_eq!(
            p("sqlite:///var/lib/p/r.db"),
            Ok(StoreUrl::Sqlite("/var/lib/p/r.db".into()))
        );
        assert_eq!(p("results.db"), Ok(StoreUrl::Sqlite("results.db".into())));
        let pg = "postgres://app:s3cret@db:5432/portcullis";
        assert_eq!(p(pg), Ok(StoreUrl::Postgres(pg.into())));
        assert_eq!(
            p(pg).unwrap().to_string(),
            "postgres://app@db:5432/portcullis"
        );
        assert!(!format!("{:?}", p(pg).unwrap()).contains("s3cret"));
        for bad in ["", "sqlite:", "mysql://db/x", "redis://x"] {
            let err = p(bad).unwrap_err();
            assert!(err.to_string().contains(&format!("`{bad}`")), "{err}");
        }
    }
}
