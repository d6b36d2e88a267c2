//! The SQLite result store: the embedded default, one file under the cache directory.
//!
//! Reports written as plain JSON text by versions before compact rows stay readable.

use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use portcullis_core::{
    ApiToken, DecisionEvent, DecisionStore, Digest, Documents, EncodedReport, Exception,
    HistoryStore, ImageSighting, ImageStore, Inventory, InventoryStore, LeaseStore, RematchMark,
    ReportStore, RuntimeImage, RuntimeStore, ScanReport, SeenImage, SettingChange, SettingsStore,
    Status, StatusChange, StoreError, StoredInventory, Thresholds, TokenStore,
};
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use time::OffsetDateTime;

use crate::CodeVersions;
use crate::codec::{self, CodecError};
use crate::migrate::{self, Migration};

/// The SQLite result store (the embedded default, one file).
pub struct SqliteStore {
    path: PathBuf,
    conn: Mutex<Connection>,
    versions: CodeVersions,
    /// Held while exclusive work runs (one process uses an SQLite store).
    exclusive: Mutex<()>,
}

/// Set on every open: a writer does not block readers, and a commit waits for the log only.
const PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;";

/// The schema, one migration per version (kept in `PRAGMA user_version`); a new version appends
/// one and never edits the older. Version 1 is the schema of the stores written before versions
/// were recorded, so it creates only what is missing.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: "
CREATE TABLE IF NOT EXISTS inventories (
  digest TEXT PRIMARY KEY,
  inventory TEXT NOT NULL,
  created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')),
  code TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS reports (
  digest TEXT NOT NULL,
  db_version TEXT NOT NULL,
  report TEXT NOT NULL,
  created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')),
  code TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (digest, db_version)
);
CREATE TABLE IF NOT EXISTS decisions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time TEXT NOT NULL,
  decision TEXT NOT NULL
);
",
    },
    Migration {
        version: 2,
        sql: "
CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO settings (name, value) VALUES ('generation', '0');
CREATE TABLE status_history (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  digest TEXT NOT NULL,
  time TEXT NOT NULL,
  from_status TEXT,
  to_status TEXT NOT NULL,
  cause TEXT NOT NULL,
  db_version TEXT NOT NULL
);
CREATE INDEX status_history_digest ON status_history (digest, id);
",
    },
    Migration {
        version: 3,
        sql: "
CREATE TABLE runtime_images (
  cluster TEXT NOT NULL,
  namespace TEXT NOT NULL,
  workload_kind TEXT NOT NULL,
  workload_name TEXT NOT NULL,
  image TEXT NOT NULL,
  digest TEXT NOT NULL,
  instances INTEGER NOT NULL,
  nodes TEXT NOT NULL,
  first_seen TEXT NOT NULL,
  last_seen TEXT NOT NULL,
  running INTEGER NOT NULL,
  PRIMARY KEY (cluster, namespace, workload_kind, workload_name, image, digest)
);
",
    },
    Migration {
        version: 4,
        sql: "CREATE TABLE scan_leases (digest TEXT PRIMARY KEY, holder TEXT NOT NULL, expires INTEGER NOT NULL);",
    },
    Migration {
        version: 5,
        sql: "
CREATE TABLE image_sightings (
  registry TEXT NOT NULL,
  repository TEXT NOT NULL,
  digest TEXT NOT NULL,
  tag TEXT NOT NULL,
  source TEXT NOT NULL,
  first_seen TEXT NOT NULL,
  last_seen TEXT NOT NULL,
  PRIMARY KEY (registry, repository, digest, tag, source)
);
",
    },
    Migration {
        version: 6,
        sql: "INSERT INTO settings (name, value) VALUES ('rematch_generation', '0'), ('rematch_db_version', ''), ('exceptions', '[]');",
    },
    Migration {
        version: 7,
        sql: "
CREATE TABLE api_tokens (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  scope TEXT NOT NULL,
  secret_sha256 TEXT NOT NULL,
  created INTEGER NOT NULL,
  expires INTEGER,
  revoked INTEGER NOT NULL DEFAULT 0
);
",
    },
    Migration {
        version: 8,
        sql: "CREATE TABLE setting_changes (id INTEGER PRIMARY KEY AUTOINCREMENT, change TEXT NOT NULL);",
    },
];

/// Adds status changes within the caller's transaction.
fn insert_changes(
    tx: &rusqlite::Transaction<'_>,
    changes: &[StatusChange],
) -> rusqlite::Result<()> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO status_history (digest, time, from_status, to_status, cause, db_version) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for c in changes {
        insert.execute(params![
            c.digest.as_str(),
            portcullis_core::format_time(c.time),
            c.from.map(Status::as_str),
            c.to.as_str(),
            c.cause.as_str(),
            c.db_version,
        ])?;
    }
    Ok(())
}

/// A `(digest, inventory)` row.
fn stored_inventory(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredInventory> {
    let digest: String = r.get(0)?;
    Ok(StoredInventory {
        digest: Digest::parse(&digest)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, Type::Text, Box::new(e)))?,
        data: r.get::<_, String>(1)?.into_bytes(),
    })
}

/// Brings the schema up to date in one immediate transaction (two processes opening one file at
/// once migrate once).
fn migrate_sqlite(conn: &mut Connection) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: u32 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for m in migrate::plan(MIGRATIONS, found)? {
        tx.execute_batch(m.sql)?;
        if m.version == 1 {
            add_code_columns(&tx)?;
        }
        tx.pragma_update(None, "user_version", m.version)?;
    }
    tx.commit()?;
    Ok(())
}

/// Stores made before results were keyed by code versions lack the `code` columns: their rows
/// get `''`, which no code version equals, so they are made anew on first use.
fn add_code_columns(conn: &Connection) -> rusqlite::Result<()> {
    for table in ["inventories", "reports"] {
        let has: bool = conn
            .prepare(&format!(
                "SELECT 1 FROM pragma_table_info('{table}') WHERE name = 'code'"
            ))?
            .exists([])?;
        if !has {
            conn.execute_batch(&format!(
                "ALTER TABLE {table} ADD COLUMN code TEXT NOT NULL DEFAULT ''"
            ))?;
        }
    }
    Ok(())
}

impl SqliteStore {
    /// Opens (creating and migrating) the store at `path`, handing out only results made by
    /// `versions`. Fails naming the file when it cannot be opened, is not an SQLite database,
    /// or holds a newer schema than this binary knows.
    pub fn open_for(path: &Path, versions: CodeVersions) -> Result<SqliteStore, StoreError> {
        let err = |source: Box<dyn std::error::Error + Send + Sync>| StoreError {
            location: path.display().to_string(),
            what: None,
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| err(Box::new(e)))?;
        }
        let mut conn = Connection::open(path).map_err(|e| err(Box::new(e)))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| err(Box::new(e)))?;
        conn.execute_batch(PRAGMAS).map_err(|e| err(Box::new(e)))?;
        migrate_sqlite(&mut conn).map_err(err)?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
            versions,
            exclusive: Mutex::new(()),
        })
    }

    fn error(
        &self,
        what: Option<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> StoreError {
        StoreError {
            location: self.path.display().to_string(),
            what,
            source: source.into(),
        }
    }

    fn sql(&self, source: rusqlite::Error) -> StoreError {
        self.error(None, source)
    }

    fn json(&self, key: impl std::fmt::Display, source: serde_json::Error) -> StoreError {
        self.error(Some(codec::unreadable(key)), source)
    }

    fn codec(&self, key: &Digest, source: CodecError) -> StoreError {
        self.error(Some(source.what(key)), source)
    }

    fn report_row(
        &self,
        digest: &Digest,
        db_version: &str,
    ) -> Result<Option<ScanReport>, StoreError> {
        let conn = self.conn.lock();
        // (compressed, bytes): blobs are compact rows, text is the older plain JSON.
        let row: Option<(bool, Vec<u8>)> = conn
            .query_row(
                "SELECT report FROM reports WHERE digest = ?1 AND db_version = ?2 AND code = ?3",
                params![digest.as_str(), db_version, self.versions.report],
                |r| {
                    Ok(match r.get_ref(0)? {
                        rusqlite::types::ValueRef::Blob(b) => (true, b.to_vec()),
                        other => (false, other.as_bytes()?.to_vec()),
                    })
                },
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        drop(conn);
        let Some((compressed, bytes)) = row else {
            return Ok(None);
        };
        if compressed {
            codec::decode_report(&bytes)
                .map(Some)
                .map_err(|e| self.codec(digest, e))
        } else {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| self.json(digest, e))
        }
    }
}

impl InventoryStore for SqliteStore {
    /// The stored inventory of an image digest, if the running extractors made it.
    fn inventory(&self, digest: &Digest) -> Result<Option<Inventory>, StoreError> {
        let conn = self.conn.lock();
        let text: Option<String> = conn
            .query_row(
                "SELECT inventory FROM inventories WHERE digest = ?1 AND code = ?2",
                params![digest.as_str(), self.versions.catalog],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        text.map(|t| serde_json::from_str(&t).map_err(|e| self.json(digest, e)))
            .transpose()
    }

    /// Stores an inventory.
    fn put_inventory(&self, digest: &Digest, inv: &Inventory) -> Result<(), StoreError> {
        let text = serde_json::to_string(inv).map_err(|e| self.json(digest, e))?;
        let conn = self.conn.lock();
        conn.execute(
            "INSERT OR REPLACE INTO inventories (digest, inventory, code) VALUES (?1, ?2, ?3)",
            params![digest.as_str(), text, self.versions.catalog],
        )
        .map_err(|e| self.sql(e))?;
        Ok(())
    }

    /// Every stored inventory the running extractors made, still serialised: decoding is left
    /// to the caller's threads. (One made by other extractors is made anew when its image is
    /// next scanned, not rematched.)
    fn inventories_page(
        &self,
        without_report: Option<&str>,
        after: Option<&Digest>,
        limit: usize,
    ) -> Result<Vec<StoredInventory>, StoreError> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT i.digest, i.inventory FROM inventories i WHERE i.code = ?1 AND i.digest > ?2 \
                 AND (?3 IS NULL OR NOT EXISTS (SELECT 1 FROM reports r \
                   WHERE r.digest = i.digest AND r.db_version = ?3 AND r.code = ?4)) \
                 ORDER BY i.digest LIMIT ?5",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map(
                params![
                    self.versions.catalog,
                    after.map_or("", Digest::as_str),
                    without_report,
                    self.versions.report,
                    i64::try_from(limit).unwrap_or(i64::MAX)
                ],
                stored_inventory,
            )
            .map_err(|e| self.sql(e))?;
        rows.map(|row| row.map_err(|e| self.sql(e))).collect()
    }

    /// Decodes a [`StoredInventory`]; a row that does not parse is an error naming its digest.
    fn decode_inventory(&self, stored: &StoredInventory) -> Result<Inventory, StoreError> {
        serde_json::from_slice(&stored.data).map_err(|e| self.json(&stored.digest, e))
    }
}

impl ReportStore for SqliteStore {
    /// The stored report of an image digest under a DB version.
    fn report(&self, digest: &Digest, db_version: &str) -> Result<Option<ScanReport>, StoreError> {
        let Some(mut report) = self.report_row(digest, db_version)? else {
            return Ok(None);
        };
        if report.packages.is_empty() {
            // Compact rows leave the packages to the inventory; no inventory, no complete report.
            match self.inventory(digest)? {
                Some(inv) => report.packages = inv.packages,
                None => return Ok(None),
            }
        }
        Ok(Some(report))
    }

    /// [`ReportStore::report`] for a digest whose inventory the caller already holds: its packages
    /// complete the report without reading the inventory row again.
    fn report_for(
        &self,
        digest: &Digest,
        db_version: &str,
        inv: &Inventory,
    ) -> Result<Option<ScanReport>, StoreError> {
        let report = self.report_row(digest, db_version)?;
        Ok(report.map(|mut r| {
            if r.packages.is_empty() {
                r.packages = inv.packages.clone();
            }
            r
        }))
    }

    /// Serialises and compresses a report for [`ReportStore::put_encoded_reports`], leaving its
    /// packages out (the inventory holds them; they are put back before this returns). Apart
    /// from the write so many threads can encode while one writes.
    fn encode_report(
        &self,
        digest: &Digest,
        report: &mut ScanReport,
    ) -> Result<EncodedReport, StoreError> {
        codec::encode_report(digest, report).map_err(|e| self.codec(digest, e))
    }

    /// One at a time within this process, which is the only one using the file.
    fn exclusively(&self, name: &str, work: &mut dyn FnMut()) -> Result<(), StoreError> {
        let _ = name;
        let _one = self.exclusive.lock();
        work();
        Ok(())
    }

    /// Stores many reports in one transaction (all or none), each replacing the reports of
    /// its digest made under older DB versions. One commit for a whole rematch instead of
    /// one per image: the commit, not the insert, is what costs.
    fn put_encoded_reports(
        &self,
        db_version: &str,
        reports: &[EncodedReport],
        changes: &[StatusChange],
    ) -> Result<(), StoreError> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction().map_err(|e| self.sql(e))?;
        insert_changes(&tx, changes).map_err(|e| self.sql(e))?;
        {
            let mut delete = tx
                .prepare_cached(
                    "DELETE FROM reports WHERE digest = ?1 AND (db_version <> ?2 OR code <> ?3)",
                )
                .map_err(|e| self.sql(e))?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO reports (digest, db_version, report, code) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(|e| self.sql(e))?;
            for r in reports {
                delete
                    .execute(params![r.digest.as_str(), db_version, self.versions.report])
                    .map_err(|e| self.sql(e))?;
                insert
                    .execute(params![
                        r.digest.as_str(),
                        db_version,
                        r.data,
                        self.versions.report
                    ])
                    .map_err(|e| self.sql(e))?;
            }
        }
        tx.commit().map_err(|e| self.sql(e))
    }

    fn rematch_mark(&self) -> Result<RematchMark, StoreError> {
        let conn = self.conn.lock();
        read_rematch_mark(&conn).map_err(|e| self.sql(e))
    }

    fn mark_rematch(&self, db_version: &str) -> Result<RematchMark, StoreError> {
        let mut conn = self.conn.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.sql(e))?;
        tx.execute(
            "UPDATE settings SET value = CAST(value AS INTEGER) + 1 WHERE name = ?1",
            [REMATCH_GENERATION],
        )
        .and_then(|_| {
            tx.execute(
                "UPDATE settings SET value = ?2 WHERE name = ?1",
                params![REMATCH_DB_VERSION, db_version],
            )
        })
        .map_err(|e| self.sql(e))?;
        let mark = read_rematch_mark(&tx).map_err(|e| self.sql(e))?;
        tx.commit().map_err(|e| self.sql(e))?;
        Ok(mark)
    }
}

/// The settings rows of the rematch mark.
const REMATCH_GENERATION: &str = "rematch_generation";
const REMATCH_DB_VERSION: &str = "rematch_db_version";

fn read_rematch_mark(conn: &Connection) -> rusqlite::Result<RematchMark> {
    let (generation, version): (i64, String) = conn.query_row(
        "SELECT (SELECT CAST(value AS INTEGER) FROM settings WHERE name = ?1), \
                (SELECT value FROM settings WHERE name = ?2)",
        params![REMATCH_GENERATION, REMATCH_DB_VERSION],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(RematchMark {
        generation: u64::try_from(generation).unwrap_or(0),
        db_version: (!version.is_empty()).then_some(version),
    })
}

impl DecisionStore for SqliteStore {
    /// One transaction for the batch.
    fn record_decisions(&self, decisions: &[DecisionEvent]) -> Result<(), StoreError> {
        let rows = decisions
            .iter()
            .map(|d| {
                serde_json::to_string(d)
                    .map(|text| (portcullis_core::format_time(d.time), text))
                    .map_err(|e| self.json(&d.uid, e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut conn = self.conn.lock();
        let tx = conn.transaction().map_err(|e| self.sql(e))?;
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO decisions (time, decision) VALUES (?1, ?2)")
                .map_err(|e| self.sql(e))?;
            for (time, text) in &rows {
                insert
                    .execute(params![time, text])
                    .map_err(|e| self.sql(e))?;
            }
        }
        tx.commit().map_err(|e| self.sql(e))
    }

    fn recent_decisions(&self, limit: usize) -> Result<Vec<DecisionEvent>, StoreError> {
        self.newest_json("decisions", "decision", limit, "a decision")
    }
}

impl SqliteStore {
    /// The newest `limit` rows of a log `table` (an `id` column), each the JSON in `column`,
    /// newest first (`what` names one when it cannot be read).
    fn newest_json<T: serde::de::DeserializeOwned>(
        &self,
        table: &str,
        column: &str,
        limit: usize,
        what: &'static str,
    ) -> Result<Vec<T>, StoreError> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {column} FROM {table} ORDER BY id DESC LIMIT ?1"
            ))
            .map_err(|e| self.sql(e))?;
        let rows: Vec<String> = stmt
            .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.sql(e))?;
        drop(stmt);
        drop(conn);
        rows.iter()
            .map(|t| serde_json::from_str(t).map_err(|e| self.json(what, e)))
            .collect()
    }

    /// The stored setting `name`, decoded from JSON (`what` names it when that fails).
    fn setting<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
        what: &'static str,
    ) -> Result<Option<T>, StoreError> {
        let text: Option<String> = self
            .conn
            .lock()
            .query_row("SELECT value FROM settings WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.sql(e))?;
        text.map(|t| serde_json::from_str(&t).map_err(|e| self.json(what, e)))
            .transpose()
    }
}

impl SettingsStore for SqliteStore {
    fn thresholds(&self) -> Result<Option<Thresholds>, StoreError> {
        self.setting(codec::THRESHOLDS, "the thresholds")
    }

    fn put_thresholds(&self, thresholds: &Thresholds) -> Result<u64, StoreError> {
        let text = serde_json::to_string(thresholds).map_err(|e| self.json("the thresholds", e))?;
        let mut conn = self.conn.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.sql(e))?;
        tx.execute(
            "INSERT INTO settings (name, value) VALUES (?1, ?2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            params![codec::THRESHOLDS, text],
        )
        .map_err(|e| self.sql(e))?;
        let generation: i64 = tx
            .query_row(
                "UPDATE settings SET value = CAST(value AS INTEGER) + 1 WHERE name = 'generation' \
                 RETURNING CAST(value AS INTEGER)",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.sql(e))?;
        tx.commit().map_err(|e| self.sql(e))?;
        Ok(u64::try_from(generation).unwrap_or(0))
    }

    fn settings_generation(&self) -> Result<u64, StoreError> {
        let generation: i64 = self
            .conn
            .lock()
            .query_row(
                "SELECT CAST(value AS INTEGER) FROM settings WHERE name = 'generation'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.sql(e))?;
        Ok(u64::try_from(generation).unwrap_or(0))
    }

    fn exceptions(&self) -> Result<Vec<Exception>, StoreError> {
        self.exception_set(codec::EXCEPTIONS)
    }

    fn put_exceptions(&self, exceptions: &[Exception]) -> Result<bool, StoreError> {
        self.put_exception_set(codec::EXCEPTIONS, exceptions)
    }

    fn api_exceptions(&self) -> Result<Vec<Exception>, StoreError> {
        self.exception_set(codec::API_EXCEPTIONS)
    }

    fn put_api_exceptions(&self, exceptions: &[Exception]) -> Result<bool, StoreError> {
        self.put_exception_set(codec::API_EXCEPTIONS, exceptions)
    }

    fn documents(&self, which: Documents) -> Result<Option<String>, StoreError> {
        Ok(self
            .setting::<serde_json::Value>(which.key(), "a document list")?
            .map(|v| v.to_string()))
    }

    fn put_documents(&self, which: Documents, json: &str) -> Result<bool, StoreError> {
        let list: Vec<serde_json::Value> =
            serde_json::from_str(json).map_err(|e| self.json("a document list", e))?;
        self.put_document(which.key(), &list)
    }

    fn record_setting_change(&self, change: &SettingChange) -> Result<(), StoreError> {
        let text = serde_json::to_string(change).map_err(|e| self.json("a setting change", e))?;
        self.conn
            .lock()
            .execute("INSERT INTO setting_changes (change) VALUES (?1)", [text])
            .map_err(|e| self.sql(e))?;
        Ok(())
    }

    fn setting_changes(&self, limit: usize) -> Result<Vec<SettingChange>, StoreError> {
        self.newest_json("setting_changes", "change", limit, "a setting change")
    }
}

impl SqliteStore {
    fn exception_set(&self, key: &str) -> Result<Vec<Exception>, StoreError> {
        Ok(self.setting(key, "the exceptions")?.unwrap_or_default())
    }

    fn put_exception_set(&self, key: &str, exceptions: &[Exception]) -> Result<bool, StoreError> {
        self.put_document(key, exceptions)
    }

    /// Stores `value` as the JSON of settings row `key`; true when it changed.
    fn put_document<T: serde::Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<bool, StoreError> {
        let text = serde_json::to_string(value).map_err(|e| self.json(key, e))?;
        let changed = self
            .conn
            .lock()
            .execute(
                "INSERT INTO settings (name, value) VALUES (?1, ?2) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value \
                 WHERE settings.value <> excluded.value",
                params![key, text],
            )
            .map_err(|e| self.sql(e))?;
        Ok(changed > 0)
    }
}

impl HistoryStore for SqliteStore {
    fn record_status_changes(&self, changes: &[StatusChange]) -> Result<(), StoreError> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction().map_err(|e| self.sql(e))?;
        insert_changes(&tx, changes).map_err(|e| self.sql(e))?;
        tx.commit().map_err(|e| self.sql(e))
    }

    fn latest_statuses(&self) -> Result<Vec<(Digest, Status)>, StoreError> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare(
                "SELECT digest, to_status FROM status_history \
                 WHERE id IN (SELECT max(id) FROM status_history GROUP BY digest) ORDER BY digest",
            )
            .map_err(|e| self.sql(e))?;
        let rows: Vec<(String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.sql(e))?;
        rows.into_iter()
            .map(|(d, st)| {
                let bad = |e: Box<dyn std::error::Error + Send + Sync>| {
                    self.error(Some("a stored status is unreadable".into()), e)
                };
                Ok((
                    Digest::parse(&d).map_err(|e| bad(Box::new(e)))?,
                    codec::status(&st).map_err(|e| bad(Box::new(e)))?,
                ))
            })
            .collect()
    }

    fn status_history(&self, digest: &Digest) -> Result<Vec<StatusChange>, StoreError> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare(
                "SELECT time, from_status, to_status, cause, db_version FROM status_history \
                 WHERE digest = ?1 ORDER BY id",
            )
            .map_err(|e| self.sql(e))?;
        type Row = (String, Option<String>, String, String, String);
        let rows: Vec<Row> = stmt
            .query_map([digest.as_str()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .and_then(|rows| rows.collect())
            .map_err(|e| self.sql(e))?;
        rows.into_iter()
            .map(|(time, from, to, cause, db_version)| {
                codec::status_change(digest, &time, from.as_deref(), &to, &cause, db_version)
                    .map_err(|e| self.error(Some("a stored status is unreadable".into()), e))
            })
            .collect()
    }

    fn status_changes_after(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, StatusChange)>, StoreError> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare(
                "SELECT id, digest, time, from_status, to_status, cause, db_version \
                 FROM status_history WHERE id > ?1 ORDER BY id LIMIT ?2",
            )
            .map_err(|e| self.sql(e))?;
        type Row = (i64, String, String, Option<String>, String, String, String);
        let rows: Vec<Row> = stmt
            .query_map(
                params![after, i64::try_from(limit).unwrap_or(i64::MAX)],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                },
            )
            .and_then(|rows| rows.collect())
            .map_err(|e| self.sql(e))?;
        rows.into_iter()
            .map(|(id, digest, time, from, to, cause, db_version)| {
                let bad = |e: Box<dyn std::error::Error + Send + Sync>| {
                    self.error(Some("a stored status is unreadable".into()), e)
                };
                let digest = Digest::parse(&digest).map_err(|e| bad(Box::new(e)))?;
                let change =
                    codec::status_change(&digest, &time, from.as_deref(), &to, &cause, db_version)
                        .map_err(bad)?;
                Ok((id, change))
            })
            .collect()
    }

    fn last_status_change(&self) -> Result<i64, StoreError> {
        self.conn
            .lock()
            .query_row("SELECT coalesce(max(id), 0) FROM status_history", [], |r| {
                r.get(0)
            })
            .map_err(|e| self.sql(e))
    }
}

impl RuntimeStore for SqliteStore {
    fn put_running(
        &self,
        cluster: &str,
        running: &[RuntimeImage],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let now = portcullis_core::format_time(now);
        let mut conn = self.conn.lock();
        let tx = conn.transaction().map_err(|e| self.sql(e))?;
        tx.execute(
            "UPDATE runtime_images SET running = 0, instances = 0 WHERE cluster = ?1",
            [cluster],
        )
        .map_err(|e| self.sql(e))?;
        {
            let mut upsert = tx
                .prepare_cached(
                    "INSERT INTO runtime_images (cluster, namespace, workload_kind, workload_name, image, \
                     digest, instances, nodes, first_seen, last_seen, running) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, 1) \
                     ON CONFLICT (cluster, namespace, workload_kind, workload_name, image, digest) \
                     DO UPDATE SET instances = excluded.instances, nodes = excluded.nodes, \
                     last_seen = excluded.last_seen, running = 1",
                )
                .map_err(|e| self.sql(e))?;
            for r in running {
                upsert
                    .execute(params![
                        cluster,
                        r.namespace,
                        r.workload_kind,
                        r.workload_name,
                        r.image,
                        r.digest.as_ref().map_or("", Digest::as_str),
                        r.instances,
                        r.nodes.join(","),
                        now,
                    ])
                    .map_err(|e| self.sql(e))?;
            }
        }
        tx.commit().map_err(|e| self.sql(e))
    }

    fn runtime_images(&self) -> Result<Vec<RuntimeImage>, StoreError> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare(
                "SELECT cluster, namespace, workload_kind, workload_name, image, digest, instances, \
                 nodes, first_seen, last_seen, running FROM runtime_images \
                 ORDER BY cluster, namespace, workload_kind, workload_name, image, digest",
            )
            .map_err(|e| self.sql(e))?;
        let rows: Vec<codec::RuntimeRow> = stmt
            .query_map([], |r| {
                Ok(codec::RuntimeRow {
                    cluster: r.get(0)?,
                    namespace: r.get(1)?,
                    workload_kind: r.get(2)?,
                    workload_name: r.get(3)?,
                    image: r.get(4)?,
                    digest: r.get(5)?,
                    instances: r.get(6)?,
                    nodes: r.get(7)?,
                    first_seen: r.get(8)?,
                    last_seen: r.get(9)?,
                    running: r.get(10)?,
                })
            })
            .and_then(|rows| rows.collect())
            .map_err(|e| self.sql(e))?;
        rows.into_iter()
            .map(|row| {
                row.decode()
                    .map_err(|e| self.error(Some("a runtime image row is unreadable".into()), e))
            })
            .collect()
    }
}

/// Lease times are whole seconds since the epoch: one process uses an SQLite store, so its own
/// clock is the only one.
impl LeaseStore for SqliteStore {
    fn try_lease(
        &self,
        digest: &Digest,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let expires = now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX));
        self.conn
            .lock()
            .query_row(
                "INSERT INTO scan_leases (digest, holder, expires) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (digest) DO UPDATE SET holder = excluded.holder, expires = excluded.expires \
                 WHERE scan_leases.expires <= ?4 OR scan_leases.holder = excluded.holder \
                 RETURNING holder",
                params![digest.as_str(), holder, expires, now],
                |_| Ok(()),
            )
            .optional()
            .map(|taken| taken.is_some())
            .map_err(|e| self.sql(e))
    }

    fn release_lease(&self, digest: &Digest, holder: &str) -> Result<(), StoreError> {
        self.conn
            .lock()
            .execute(
                "DELETE FROM scan_leases WHERE digest = ?1 AND holder = ?2",
                params![digest.as_str(), holder],
            )
            .map(|_| ())
            .map_err(|e| self.sql(e))
    }
}

/// A token's columns, selected in the order `id, name, scope, created, expires, revoked`.
fn token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<codec::TokenRow> {
    Ok(codec::TokenRow {
        id: r.get(0)?,
        name: r.get(1)?,
        scope: r.get(2)?,
        created: r.get(3)?,
        expires: r.get(4)?,
        revoked: r.get(5)?,
    })
}

impl TokenStore for SqliteStore {
    fn put_token(&self, token: &ApiToken, secret_sha256: &[u8; 32]) -> Result<(), StoreError> {
        self.conn
            .lock()
            .execute(
                "INSERT INTO api_tokens (id, name, scope, secret_sha256, created, expires, revoked) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    token.id,
                    token.name,
                    token.scope.as_str(),
                    codec::hex32(secret_sha256),
                    token.created.unix_timestamp(),
                    token.expires.map(OffsetDateTime::unix_timestamp),
                    token.revoked,
                ],
            )
            .map(|_| ())
            .map_err(|e| self.sql(e))
    }

    fn token(&self, id: &str) -> Result<Option<(ApiToken, [u8; 32])>, StoreError> {
        let row = self
            .conn
            .lock()
            .query_row(
                "SELECT id, name, scope, created, expires, revoked, secret_sha256 FROM api_tokens WHERE id = ?1",
                params![id],
                |r| Ok((token_row(r)?, r.get::<_, String>(6)?)),
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        let unreadable = |e| self.error(Some(codec::unreadable(format!("API token {id}"))), e);
        row.map(|(t, hash)| {
            Ok((
                t.decode().map_err(unreadable)?,
                codec::unhex32(&hash).map_err(unreadable)?,
            ))
        })
        .transpose()
    }

    fn tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare(
                "SELECT id, name, scope, created, expires, revoked FROM api_tokens ORDER BY created DESC, id",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([], token_row)
            .map_err(|e| self.sql(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.sql(e))?;
        rows.into_iter()
            .map(|t| {
                let id = t.id.clone();
                t.decode()
                    .map_err(|e| self.error(Some(codec::unreadable(format!("API token {id}"))), e))
            })
            .collect()
    }

    fn revoke_token(&self, id: &str) -> Result<bool, StoreError> {
        self.conn
            .lock()
            .execute(
                "UPDATE api_tokens SET revoked = 1 WHERE id = ?1",
                params![id],
            )
            .map(|n| n > 0)
            .map_err(|e| self.sql(e))
    }
}

impl ImageStore for SqliteStore {
    fn record_sightings(
        &self,
        sightings: &[ImageSighting],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let now = portcullis_core::format_time(now);
        let mut conn = self.conn.lock();
        let tx = conn.transaction().map_err(|e| self.sql(e))?;
        {
            let mut upsert = tx
                .prepare_cached(
                    "INSERT INTO image_sightings (registry, repository, digest, tag, source, first_seen, last_seen) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) \
                     ON CONFLICT (registry, repository, digest, tag, source) DO UPDATE SET last_seen = excluded.last_seen",
                )
                .map_err(|e| self.sql(e))?;
            for s in sightings {
                upsert
                    .execute(params![
                        s.registry,
                        s.repository,
                        s.digest.as_str(),
                        s.tag.as_deref().unwrap_or(""),
                        s.source,
                        now
                    ])
                    .map_err(|e| self.sql(e))?;
            }
        }
        tx.commit().map_err(|e| self.sql(e))
    }

    fn seen_images(&self) -> Result<Vec<SeenImage>, StoreError> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare(
                "SELECT registry, repository, digest, tag, source, first_seen, last_seen FROM image_sightings",
            )
            .map_err(|e| self.sql(e))?;
        let rows: Vec<codec::SightingRow> = stmt
            .query_map([], |r| {
                Ok(codec::SightingRow {
                    registry: r.get(0)?,
                    repository: r.get(1)?,
                    digest: r.get(2)?,
                    tag: r.get(3)?,
                    source: r.get(4)?,
                    first_seen: r.get(5)?,
                    last_seen: r.get(6)?,
                })
            })
            .and_then(|rows| rows.collect())
            .map_err(|e| self.sql(e))?;
        codec::seen_images(rows)
            .map_err(|e| self.error(Some("an image sighting is unreadable".into()), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_core::{Ecosystem, ImageInfo, Location, Package};
    use portcullis_test_support::build::digest as dg;

    fn inventory(digest: &Digest) -> Inventory {
        let package = Package {
            module: None,
            name: "jinja2".into(),
            version: "2.10".into(),
            ecosystem: Ecosystem::PyPI,
            purl: "pkg:pypi/jinja2@2.10".into(),
            source: None,
            found_by: "python/dist-info".into(),
            locations: vec![Location {
                layer: None,
                path: "/usr/lib/python3/dist-packages/Jinja2-2.10.dist-info/METADATA".into(),
            }],
            arch: None,
            licenses: vec!["BSD-3-Clause".into()],
        };
        Inventory {
            image: ImageInfo {
                digest: Some(digest.clone()),
                ..Default::default()
            },
            packages: vec![package],
            warnings: Vec::new(),
        }
    }

    fn report_of(inv: &Inventory) -> ScanReport {
        portcullis_test_support::build::report(inv, "v2")
    }

    /// The code versions of the tests' "binary".
    fn versions() -> CodeVersions {
        CodeVersions {
            catalog: "python@1".into(),
            report: "python@1;language@1".into(),
        }
    }

    impl SqliteStore {
        fn open(path: &Path) -> Result<SqliteStore, StoreError> {
            SqliteStore::open_for(path, versions())
        }
    }

    #[test]
    fn sqlite_passes_the_store_conformance_suite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("r.db")).expect("open");
        portcullis_test_support::store::conformance(&store);
    }

    #[test]
    fn compact_reports_come_back_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("r.db")).expect("open");
        let inv = inventory(&dg(0xaa));
        let report = report_of(&inv);
        store.put_inventory(&dg(0xaa), &inv).expect("inv");
        store.put_report(&dg(0xaa), "v2", &report).expect("put");
        // The row holds no package list; reading puts the inventory's back.
        assert_eq!(
            store.report(&dg(0xaa), "v2").expect("read"),
            Some(report.clone())
        );
        assert_eq!(
            store.report_for(&dg(0xaa), "v2", &inv).expect("read"),
            Some(report)
        );
        assert_eq!(store.report(&dg(0xaa), "v1").expect("read"), None);
    }

    /// An upgraded extractor or matcher never gets results the old code made: the inventory
    /// (extractors) and the report (extractors and matchers) are misses until made anew.
    #[test]
    fn results_of_other_code_versions_are_misses() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.db");
        let inv = inventory(&dg(0xcc));
        let report = report_of(&inv);
        let old = versions();
        let store = SqliteStore::open_for(&path, old.clone()).expect("open");
        store.put_inventory(&dg(0xcc), &inv).expect("inv");
        store.put_report(&dg(0xcc), "v2", &report).expect("put");
        drop(store);
        let new_matcher = CodeVersions {
            report: "python@1;language@2".into(),
            ..old.clone()
        };
        let store = SqliteStore::open_for(&path, new_matcher).expect("open");
        assert_eq!(store.inventory(&dg(0xcc)).expect("read"), Some(inv.clone()));
        assert_eq!(store.report(&dg(0xcc), "v2").expect("read"), None);
        assert_eq!(store.stored_inventories().expect("list").len(), 1);
        drop(store);
        let new_extractor = CodeVersions {
            catalog: "python@2".into(),
            report: "python@2;language@1".into(),
        };
        let store = SqliteStore::open_for(&path, new_extractor).expect("open");
        assert_eq!(store.inventory(&dg(0xcc)).expect("read"), None);
        assert_eq!(store.report(&dg(0xcc), "v2").expect("read"), None);
        assert!(
            store.stored_inventories().expect("list").is_empty(),
            "a list made by other extractors is not rematched"
        );
        drop(store);
        let store = SqliteStore::open_for(&path, old).expect("open");
        assert_eq!(store.report(&dg(0xcc), "v2").expect("read"), Some(report));
    }

    /// A store written before results were keyed by code versions opens, and its rows are
    /// misses (made anew) rather than served.
    #[test]
    fn stores_without_code_versions_are_upgraded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.db");
        let conn = Connection::open(&path).expect("sqlite");
        conn.execute_batch(
            "CREATE TABLE inventories (digest TEXT PRIMARY KEY, inventory TEXT NOT NULL, created TEXT NOT NULL DEFAULT '');
             CREATE TABLE reports (digest TEXT NOT NULL, db_version TEXT NOT NULL, report TEXT NOT NULL, created TEXT NOT NULL DEFAULT '', PRIMARY KEY (digest, db_version));",
        )
        .expect("old schema");
        let inv = inventory(&dg(0xdd));
        conn.execute(
            "INSERT INTO inventories (digest, inventory) VALUES (?1, ?2)",
            params![
                dg(0xdd).as_str(),
                serde_json::to_string(&inv).expect("json")
            ],
        )
        .expect("old row");
        drop(conn);
        let store = SqliteStore::open(&path).expect("upgraded");
        assert_eq!(store.inventory(&dg(0xdd)).expect("read"), None);
        store.put_inventory(&dg(0xdd), &inv).expect("inv");
        assert_eq!(store.inventory(&dg(0xdd)).expect("read"), Some(inv));
    }

    /// A store of an older schema version is brought up to date at open, its rows kept.
    #[test]
    fn an_older_schema_is_migrated_and_keeps_its_rows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.db");
        let inv = inventory(&dg(0xee));
        {
            let conn = Connection::open(&path).expect("sqlite");
            conn.execute_batch(MIGRATIONS[0].sql).expect("version 1");
            conn.pragma_update(None, "user_version", 1)
                .expect("version");
            conn.execute(
                "INSERT INTO inventories (digest, inventory, code) VALUES (?1, ?2, ?3)",
                params![
                    dg(0xee).as_str(),
                    serde_json::to_string(&inv).expect("json"),
                    versions().catalog
                ],
            )
            .expect("row");
        }
        let store = SqliteStore::open(&path).expect("migrated");
        assert_eq!(store.inventory(&dg(0xee)).expect("read"), Some(inv));
        assert_eq!(store.settings_generation().expect("settings table"), 0);
        let found: u32 = store
            .conn
            .lock()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(found, MIGRATIONS.last().expect("migrations").version);
    }

    #[test]
    fn a_compact_report_without_its_inventory_is_a_miss() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("r.db")).expect("open");
        let inv = inventory(&dg(0xbb));
        store
            .put_report(&dg(0xbb), "v2", &report_of(&inv))
            .expect("put");
        assert_eq!(store.report(&dg(0xbb), "v2").expect("read"), None);
    }

    #[test]
    fn plain_json_reports_of_older_versions_stay_readable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.db");
        let store = SqliteStore::open(&path).expect("open");
        let report = report_of(&inventory(&dg(0xcc)));
        let conn = Connection::open(&path).expect("conn");
        conn.execute(
            "INSERT INTO reports (digest, db_version, report, code) VALUES (?3, 'v2', ?1, ?2)",
            params![
                serde_json::to_string(&report).expect("json"),
                store.versions.report,
                dg(0xcc).as_str()
            ],
        )
        .expect("insert");
        assert_eq!(store.report(&dg(0xcc), "v2").expect("read"), Some(report));
    }

    #[test]
    fn a_corrupt_compact_report_is_an_error_naming_its_digest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.db");
        let store = SqliteStore::open(&path).expect("open");
        let conn = Connection::open(&path).expect("conn");
        conn.execute(
            "INSERT INTO reports (digest, db_version, report, code) VALUES (?3, 'v2', ?1, ?2)",
            params![
                b"\x28\xb5\x2f\xfd garbage".to_vec(),
                store.versions.report,
                dg(0xdd).as_str()
            ],
        )
        .expect("insert");
        let err = store.report(&dg(0xdd), "v2").expect_err("corrupt");
        assert!(
            err.what
                .as_deref()
                .is_some_and(|w| w.contains("could not be (de)compressed")),
            "{err}"
        );
        assert!(err.to_string().contains(dg(0xdd).as_str()), "{err}");
    }

    #[test]
    fn a_batch_replaces_older_versions_of_each_digest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("r.db")).expect("open");
        let mut encoded = Vec::new();
        for d in [&dg(1), &dg(2)] {
            let inv = inventory(d);
            store.put_inventory(d, &inv).expect("inv");
            store.put_report(d, "v1", &report_of(&inv)).expect("v1");
            encoded.push(store.encode_report(d, &mut report_of(&inv)).expect("enc"));
        }
        store
            .put_encoded_reports("v2", &encoded, &[])
            .expect("batch");
        for d in [&dg(1), &dg(2)] {
            assert!(store.report(d, "v2").expect("read").is_some(), "{d}");
            assert_eq!(store.report(d, "v1").expect("read"), None, "{d}");
        }
    }
}
