//! The result store: inventories by image digest, reports by (digest, DB version).
//!
//! An inventory depends only on the image, so it is kept for as long as the image is; a report also depends on
//! the database, so a DB change rematches the stored inventory without pulling the image again.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use portcullis_core::{Inventory, ScanReport};
use rusqlite::{Connection, OptionalExtension, params};

/// Errors of the result store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The SQLite file could not be opened or queried.
    #[error("result store {path}: {source}")]
    Sql {
        /// The store file.
        path: PathBuf,
        /// Why.
        #[source]
        source: rusqlite::Error,
    },
    /// A stored document could not be (de)serialised.
    #[error("result store {path}: stored document for {key} is unreadable: {source}")]
    Json {
        /// The store file.
        path: PathBuf,
        /// The digest it was stored under.
        key: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

/// The SQLite result store.
pub struct Store {
    path: PathBuf,
    conn: Mutex<Connection>,
}

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS inventories (
  digest TEXT PRIMARY KEY,
  inventory TEXT NOT NULL,
  created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now'))
);
CREATE TABLE IF NOT EXISTS reports (
  digest TEXT NOT NULL,
  db_version TEXT NOT NULL,
  report TEXT NOT NULL,
  created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')),
  PRIMARY KEY (digest, db_version)
);
";

impl Store {
    /// Opens (creating) the store at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let sql = |source| StoreError::Sql {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = Connection::open(path).map_err(sql)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sql)?;
        conn.execute_batch(SCHEMA).map_err(sql)?;
        Ok(Store {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    fn sql(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sql {
            path: self.path.clone(),
            source,
        }
    }

    fn json(&self, key: &str, source: serde_json::Error) -> StoreError {
        StoreError::Json {
            path: self.path.clone(),
            key: key.to_string(),
            source,
        }
    }

    /// The stored inventory of an image digest.
    pub fn inventory(&self, digest: &str) -> Result<Option<Inventory>, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let text: Option<String> = conn
            .query_row(
                "SELECT inventory FROM inventories WHERE digest = ?1",
                [digest],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        text.map(|t| serde_json::from_str(&t).map_err(|e| self.json(digest, e)))
            .transpose()
    }

    /// Stores an inventory.
    pub fn put_inventory(&self, digest: &str, inv: &Inventory) -> Result<(), StoreError> {
        let text = serde_json::to_string(inv).map_err(|e| self.json(digest, e))?;
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        conn.execute(
            "INSERT OR REPLACE INTO inventories (digest, inventory) VALUES (?1, ?2)",
            params![digest, text],
        )
        .map_err(|e| self.sql(e))?;
        Ok(())
    }

    /// The stored report of an image digest under a DB version.
    pub fn report(&self, digest: &str, db_version: &str) -> Result<Option<ScanReport>, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let text: Option<String> = conn
            .query_row(
                "SELECT report FROM reports WHERE digest = ?1 AND db_version = ?2",
                params![digest, db_version],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        text.map(|t| serde_json::from_str(&t).map_err(|e| self.json(digest, e)))
            .transpose()
    }

    /// Stores a report, dropping reports of the same digest made under older DB versions.
    pub fn put_report(
        &self,
        digest: &str,
        db_version: &str,
        report: &ScanReport,
    ) -> Result<(), StoreError> {
        let text = serde_json::to_string(report).map_err(|e| self.json(digest, e))?;
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction().map_err(|e| self.sql(e))?;
        tx.execute(
            "DELETE FROM reports WHERE digest = ?1 AND db_version <> ?2",
            params![digest, db_version],
        )
        .map_err(|e| self.sql(e))?;
        tx.execute(
            "INSERT OR REPLACE INTO reports (digest, db_version, report) VALUES (?1, ?2, ?3)",
            params![digest, db_version, text],
        )
        .map_err(|e| self.sql(e))?;
        tx.commit().map_err(|e| self.sql(e))
    }

    /// Every stored (digest, inventory), for rematching after a DB change.
    pub fn inventories(&self) -> Result<Vec<(String, Inventory)>, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let mut stmt = conn
            .prepare("SELECT digest, inventory FROM inventories ORDER BY digest")
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| self.sql(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (d, t) = row.map_err(|e| self.sql(e))?;
            let inv = serde_json::from_str(&t).map_err(|e| self.json(&d, e))?;
            out.push((d, inv));
        }
        Ok(out)
    }
}
