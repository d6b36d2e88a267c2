//! The SQLite store: one file, opened read-only for queries, replaced atomically on import.
//!
//! An import never writes the live file. It copies the existing database with
//! `VACUUM INTO` to a temporary file in the same directory, replaces the imported sources
//! there, and renames the copy over the target. Readers that opened the old file keep
//! reading it (they hold its inode); a failed import removes the copy and leaves the old
//! database untouched.

use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use portcullis_core::{Advisory, AdvisoryKind, DbInfo, Ecosystem, SeverityScore};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::SourceFormat;
use crate::ingest::{self, BoxError, Out};

/// The schema this code reads and writes. Bump on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// Errors of opening, querying and importing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the sources failed; nothing was written.
    #[error(transparent)]
    Ingest(#[from] ingest::Error),
    /// A source given to `import` held no advisory; nothing was written.
    #[error("no advisory found in {}{}; nothing was imported", path.display(), first_skipped.as_ref().map_or(String::new(), |w| format!(" (of the records skipped, the first: {w})")))]
    NothingImported {
        /// The source.
        path: PathBuf,
        /// Why the first record skipped was, when one was.
        first_skipped: Option<String>,
    },
    /// There is no database file at the path.
    #[error("no vulnerability database at {}; run `portcullis db update` or `portcullis db import` first", path.display())]
    Missing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The file exists but is not a Portcullis database (or not SQLite at all).
    #[error("{} is not a portcullis vulnerability database", path.display())]
    NotADatabase {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: BoxError,
    },
    /// The database was written by a newer Portcullis.
    #[error(
        "database schema {found} is newer than this portcullis ({supported}); update portcullis"
    )]
    SchemaTooNew {
        /// Schema version in the file.
        found: u32,
        /// Schema version this code supports.
        supported: u32,
    },
    /// The database was written by an older Portcullis with an incompatible schema.
    #[error(
        "database schema {found} is older than this portcullis ({supported}); import the sources into a new database"
    )]
    SchemaTooOld {
        /// Schema version in the file.
        found: u32,
        /// Schema version this code supports.
        supported: u32,
    },
    /// An SQL statement failed.
    #[error("vulnerability database {}: {what}", path.display())]
    Sql {
        /// The database (or the temporary copy being built).
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// SQLite's error.
        #[source]
        source: BoxError,
    },
    /// A file operation of an import failed.
    #[error("{what} {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// A stored advisory could not be decoded.
    #[error("vulnerability database {}: stored record {id} is corrupt", path.display())]
    Corrupt {
        /// The database.
        path: PathBuf,
        /// The advisory id or CVE.
        id: String,
        /// The decoding error.
        #[source]
        source: BoxError,
    },
    /// Two sources of one import would be stored under the same name.
    #[error("two sources of this import are named '{0}'; import them separately")]
    DuplicateSource(String),
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Per source: its name and the records it holds now.
    pub sources: Vec<(String, usize)>,
    /// Records and files skipped, as `file:line: why` (or `file: id: why`).
    pub warnings: Vec<String>,
}

/// The state of a database, for `portcullis db status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DbStatus {
    /// Schema version of the file.
    pub schema_version: u32,
    /// When it was built (RFC 3339 on the wire).
    #[serde(with = "time::serde::rfc3339")]
    pub built: OffsetDateTime,
    /// Content version: a digest of what the sources hold, the same for the same data.
    pub content_version: String,
    /// Advisories stored, withdrawn ones included.
    pub advisories: usize,
    /// The imported sources, by name.
    pub sources: Vec<SourceStatus>,
}

/// One imported source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SourceStatus {
    /// Name (config name for `db update`; the path's last components for `db import`).
    pub name: String,
    /// Formats found in it (`osv`, `debian-tracker+nvd`, ...).
    pub kind: String,
    /// Path or URL it was read from.
    pub location: String,
    /// Records it contributed.
    pub records: usize,
    /// When it was imported (RFC 3339 on the wire).
    #[serde(with = "time::serde::rfc3339")]
    pub imported_at: OffsetDateTime,
    /// HTTP validator of the download, for conditional updates.
    pub etag: Option<String>,
    /// HTTP validator of the download, for conditional updates.
    pub last_modified: Option<String>,
}

/// One source to import, with how it is recorded.
#[derive(Clone, Debug)]
pub(crate) struct SourceSpec {
    pub(crate) name: String,
    pub(crate) path: PathBuf,
    pub(crate) format: Option<SourceFormat>,
    pub(crate) location: String,
    pub(crate) etag: Option<String>,
    pub(crate) last_modified: Option<String>,
}

/// An open, read-only vulnerability database. `Send + Sync`: queries serialise on one
/// connection, which is plenty for point look-ups.
pub struct Db {
    conn: Mutex<Connection>,
    path: PathBuf,
    info: DbInfo,
    memo: Mutex<Memo>,
}

/// Lookups already answered by this handle. The file under an open handle never changes (an
/// update writes a new file and renames it over the old one; the scanner reopens on change),
/// so answers stay true for the handle's life. This is what makes a rematch of many stored
/// package lists cheap: images share most of their packages.
#[derive(Default)]
struct Memo {
    packages: HashMap<(&'static str, String), Arc<[Advisory]>>,
    alias_scores: HashMap<String, Arc<[SeverityScore]>>,
    /// Per ecosystem: each release (or none) with the sources holding advisories for it, and
    /// when those were imported.
    releases: HashMap<&'static str, ReleaseSources>,
}

/// `(release, source, imported)` rows of one ecosystem.
type ReleaseSources = Arc<[(Option<String>, String, Option<OffsetDateTime>)]>;

/// Entries kept per memo table before it is emptied (a bound on memory, not a tuning knob:
/// the full test feeds have about 20,000 packages).
const MEMO_MAX: usize = 200_000;

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("path", &self.path)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// Records longer than this are stored zstd-compressed: most advisories are a few hundred
/// bytes of JSON, but the long ones (many affected versions or releases) are most of the
/// bytes, and compressing them keeps the DB file smaller than the feeds it was built from.
const PACK_OVER: usize = 512;

/// A record as stored: its JSON, zstd-compressed when long. Readers tell the two apart by the
/// first byte (`{` against zstd's magic), so files written before compression stay readable.
fn pack(json: &[u8]) -> Vec<u8> {
    if json.len() > PACK_OVER
        && let Ok(z) = zstd::bulk::compress(json, 9)
        && z.len() < json.len()
    {
        return z;
    }
    json.to_vec()
}

/// The advisory of a stored record (see [`pack`]).
fn unpack(stored: &[u8]) -> std::result::Result<Advisory, BoxError> {
    if stored.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]) {
        let mut json = Vec::new();
        zstd::stream::copy_decode(stored, &mut json)?;
        Ok(serde_json::from_slice(&json)?)
    } else {
        Ok(serde_json::from_slice(stored)?)
    }
}

const SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE sources (
    name TEXT PRIMARY KEY, kind TEXT NOT NULL, location TEXT NOT NULL, records INTEGER NOT NULL,
    imported_at TEXT NOT NULL, etag TEXT, last_modified TEXT
);
CREATE TABLE advisories (
    rowid INTEGER PRIMARY KEY, id TEXT NOT NULL, source TEXT NOT NULL, kind TEXT NOT NULL,
    withdrawn INTEGER NOT NULL, json BLOB NOT NULL, UNIQUE (id, source)
);
CREATE TABLE affected_index (
    ecosystem TEXT NOT NULL, release TEXT, package TEXT NOT NULL, advisory INTEGER NOT NULL
);
CREATE INDEX affected_by_package ON affected_index (ecosystem, package);
CREATE TABLE aliases (alias TEXT NOT NULL, advisory INTEGER NOT NULL);
CREATE INDEX aliases_by_alias ON aliases (alias);
CREATE TABLE cvss_enrichment (cve_id TEXT PRIMARY KEY, severity TEXT NOT NULL, source TEXT NOT NULL) WITHOUT ROWID;
";

fn sql(path: &Path, what: &'static str) -> impl FnOnce(rusqlite::Error) -> Error {
    let path = path.to_path_buf();
    move |e| Error::Sql {
        path,
        what,
        source: Box::new(e),
    }
}

fn now_rfc3339() -> String {
    portcullis_core::format_time(OffsetDateTime::now_utc())
}

/// The `meta` table, read and checked against [`SCHEMA_VERSION`].
struct Meta {
    built: OffsetDateTime,
    content_version: String,
    counter: u64,
}

fn read_meta(conn: &Connection, path: &Path) -> Result<Meta> {
    let not_db = |e: rusqlite::Error| Error::NotADatabase {
        path: path.to_path_buf(),
        source: Box::new(e),
    };
    let mut stmt = conn
        .prepare("SELECT key, value FROM meta")
        .map_err(not_db)?;
    let rows: HashMap<String, String> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(|rows| rows.collect())
        .map_err(not_db)?;
    let found: u32 = rows
        .get("schema_version")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::NotADatabase {
            path: path.to_path_buf(),
            source: "no schema_version in the meta table".into(),
        })?;
    if found > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found < SCHEMA_VERSION {
        return Err(Error::SchemaTooOld {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(Meta {
        built: rows
            .get("built")
            .and_then(|b| OffsetDateTime::parse(b, &Rfc3339).ok())
            .ok_or_else(|| Error::NotADatabase {
                path: path.to_path_buf(),
                source: "no RFC 3339 build time (`built`) in the meta table".into(),
            })?,
        content_version: rows.get("content_version").cloned().unwrap_or_default(),
        counter: rows
            .get("import_counter")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    })
}

fn open_read_only(path: &Path) -> Result<Connection> {
    if !path.is_file() {
        return Err(Error::Missing {
            path: path.to_path_buf(),
        });
    }
    Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| Error::NotADatabase {
        path: path.to_path_buf(),
        source: Box::new(e),
    })
}

impl Db {
    /// Opens a database read-only. Fails with a clear message when it is missing, not a
    /// Portcullis database, or written by a newer schema.
    pub fn open(path: &Path) -> Result<Db> {
        let conn = open_read_only(path)?;
        let meta = read_meta(&conn, path)?;
        Ok(Db {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
            info: DbInfo {
                version: meta.content_version,
                built: meta.built,
            },
            memo: Mutex::new(Memo::default()),
        })
    }

    /// Imports `sources` (files, directories, zip archives) into the database at `path`,
    /// creating it if absent. Sources already in the database under the same name are
    /// replaced; others are kept. `format` forces one format for every source. A source is
    /// named by its last path component (directories) or `parent/file` (files).
    pub fn import(
        path: &Path,
        sources: &[PathBuf],
        format: Option<SourceFormat>,
    ) -> Result<ImportReport> {
        let specs = sources
            .iter()
            .map(|p| SourceSpec {
                name: source_name(p),
                path: p.clone(),
                format,
                location: p.display().to_string(),
                etag: None,
                last_modified: None,
            })
            .collect();
        import_specs(path, specs, true)
    }

    /// Every advisory with an affected entry for `package` in `eco`, all releases, withdrawn
    /// ones excluded. An id carried by several sources is returned once: the later-modified
    /// record, plus any affected entries (ecosystem, package) only the others have.
    pub fn advisories_for(&self, eco: Ecosystem, package: &str) -> Result<Vec<Advisory>> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, json FROM advisories WHERE withdrawn = 0 AND rowid IN \
                 (SELECT advisory FROM affected_index WHERE ecosystem = ?1 AND package = ?2) ORDER BY rowid",
            )
            .map_err(sql(&self.path, "query advisories"))?;
        let rows: Vec<(String, Vec<u8>)> = stmt
            .query_map(params![eco.osv_name(), eco.normalize_name(package)], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .and_then(|rows| rows.collect())
            .map_err(sql(&self.path, "query advisories"))?;
        let mut out: Vec<Advisory> = Vec::with_capacity(rows.len());
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (id, json) in rows {
            let adv: Advisory = unpack(&json).map_err(|e| Error::Corrupt {
                path: self.path.clone(),
                id: id.clone(),
                source: e,
            })?;
            match seen.get(&id) {
                None => {
                    seen.insert(id, out.len());
                    out.push(adv);
                }
                Some(&i) => merge_same_id(&mut out[i], adv),
            }
        }
        Ok(out)
    }

    /// The sources holding advisories for `eco` in one of `releases` (see
    /// [`portcullis_core::release_covers`]), with when each was imported. Read once per
    /// ecosystem and remembered: a report's coverage asks for every ecosystem it has.
    pub fn covering(
        &self,
        eco: Ecosystem,
        releases: &[String],
    ) -> Result<Vec<portcullis_core::Covering>> {
        let key = eco.osv_name();
        // Bound apart: the memo's guard must be dropped before the miss path takes it again.
        let cached = self.memo().releases.get(key).cloned();
        let rows = match cached {
            Some(rows) => rows,
            None => {
                let conn = self.conn.lock();
                let mut stmt = conn
                    .prepare(
                        "SELECT DISTINCT a.release, adv.source, s.imported_at FROM affected_index a \
                         JOIN advisories adv ON adv.rowid = a.advisory \
                         LEFT JOIN sources s ON s.name = adv.source WHERE a.ecosystem = ?1",
                    )
                    .map_err(sql(&self.path, "read coverage"))?;
                let rows: ReleaseSources = stmt
                    .query_map([key], |r| {
                        let imported: Option<String> = r.get(2)?;
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            imported.and_then(|t| OffsetDateTime::parse(&t, &Rfc3339).ok()),
                        ))
                    })
                    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                    .map_err(sql(&self.path, "read coverage"))?
                    .into();
                drop(stmt);
                drop(conn);
                self.memo().releases.insert(key, rows.clone());
                rows
            }
        };
        let mut out: Vec<portcullis_core::Covering> = Vec::new();
        for (release, source, imported) in rows.iter() {
            if portcullis_core::release_covers(release.as_deref(), releases)
                && !out.iter().any(|c| &c.source == source)
            {
                out.push(portcullis_core::Covering {
                    source: source.clone(),
                    imported: *imported,
                });
            }
        }
        out.sort_by(|a, b| a.source.cmp(&b.source));
        Ok(out)
    }

    /// [`Db::advisories_for`], remembered for the life of this handle and shared.
    pub fn advisories_shared(&self, eco: Ecosystem, package: &str) -> Result<Arc<[Advisory]>> {
        let key = (eco.osv_name(), eco.normalize_name(package));
        if let Some(hit) = self.memo().packages.get(&key) {
            return Ok(hit.clone());
        }
        let found: Arc<[Advisory]> = self.advisories_for(eco, package)?.into();
        let mut memo = self.memo();
        if memo.packages.len() >= MEMO_MAX {
            memo.packages.clear();
        }
        memo.packages.insert(key, found.clone());
        Ok(found)
    }

    /// Severity scores known for an alias id, remembered for the life of this handle: the
    /// alias's own record first, when the database has one under that id (a GHSA record that
    /// a PYSEC record names), then what NVD says of it, so that of two vectors of one CVSS
    /// version the advisory's wins over NVD's.
    pub fn alias_scores(&self, id: &str) -> Result<Arc<[SeverityScore]>> {
        if let Some(hit) = self.memo().alias_scores.get(id) {
            return Ok(hit.clone());
        }
        let mut scores: Vec<SeverityScore> = self
            .advisories_by_id(id)?
            .into_iter()
            .filter(|a| a.id == id)
            .flat_map(|a| a.severity)
            .collect();
        scores.extend(self.nvd_severity(id)?);
        let scores: Arc<[SeverityScore]> = scores.into();
        let mut memo = self.memo();
        if memo.alias_scores.len() >= MEMO_MAX {
            memo.alias_scores.clear();
        }
        memo.alias_scores.insert(id.to_owned(), scores.clone());
        Ok(scores)
    }

    fn memo(&self) -> parking_lot::MutexGuard<'_, Memo> {
        self.memo.lock()
    }

    /// Advisories whose id or alias is `id` (withdrawn ones included), for showing one
    /// advisory by any of its names.
    pub fn advisories_by_id(&self, id: &str) -> Result<Vec<Advisory>> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, json FROM advisories WHERE id = ?1 OR rowid IN \
                 (SELECT advisory FROM aliases WHERE alias = ?1) ORDER BY rowid",
            )
            .map_err(sql(&self.path, "query advisories by id"))?;
        let rows: Vec<(String, Vec<u8>)> = stmt
            .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect())
            .map_err(sql(&self.path, "query advisories by id"))?;
        rows.into_iter()
            .map(|(id, json)| {
                unpack(&json).map_err(|e| Error::Corrupt {
                    path: self.path.clone(),
                    id,
                    source: e,
                })
            })
            .collect()
    }

    /// CVSS vectors NVD states for `cve` (V4, V3, V2 as present), empty when unknown.
    pub fn nvd_severity(&self, cve: &str) -> Result<Vec<SeverityScore>> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare_cached("SELECT severity FROM cvss_enrichment WHERE cve_id = ?1")
            .map_err(sql(&self.path, "query NVD severity"))?;
        let json: Option<String> = stmt
            .query_row([cve], |r| r.get(0))
            .optional()
            .map_err(sql(&self.path, "query NVD severity"))?;
        match json {
            None => Ok(Vec::new()),
            Some(j) => serde_json::from_str(&j).map_err(|e| Error::Corrupt {
                path: self.path.clone(),
                id: cve.to_string(),
                source: Box::new(e),
            }),
        }
    }

    /// Schema, build time, content version and the imported sources.
    pub fn status(&self) -> Result<DbStatus> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare(
                "SELECT name, kind, location, records, imported_at, etag, last_modified FROM sources ORDER BY name",
            )
            .map_err(sql(&self.path, "read sources"))?;
        let sources = stmt
            .query_map([], |r| {
                Ok(SourceStatus {
                    name: r.get(0)?,
                    kind: r.get(1)?,
                    location: r.get(2)?,
                    records: r.get::<_, i64>(3)?.try_into().unwrap_or(0),
                    imported_at: {
                        let t: String = r.get(4)?;
                        OffsetDateTime::parse(&t, &Rfc3339).map_err(|e| {
                            rusqlite::Error::FromSqlConversionFailure(
                                4,
                                rusqlite::types::Type::Text,
                                Box::new(e),
                            )
                        })?
                    },
                    etag: r.get(5)?,
                    last_modified: r.get(6)?,
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(sql(&self.path, "read sources"))?;
        let advisories: i64 = conn
            .query_row("SELECT count(*) FROM advisories", [], |r| r.get(0))
            .map_err(sql(&self.path, "count advisories"))?;
        Ok(DbStatus {
            schema_version: SCHEMA_VERSION,
            built: self.info.built,
            content_version: self.info.version.clone(),
            advisories: advisories.try_into().unwrap_or(0),
            sources,
        })
    }

    /// Content version and build time, for reports and result caches.
    pub fn info(&self) -> DbInfo {
        self.info.clone()
    }

    /// Time since the database was built (zero if the build time is ahead of the clock).
    pub fn age(&self) -> Duration {
        (OffsetDateTime::now_utc() - self.info.built)
            .try_into()
            .unwrap_or(Duration::ZERO)
    }

    /// The file this was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Folds a second record with the same id into the first: the later-modified one wins,
/// and affected entries for (ecosystem, package) pairs only the other has are kept.
fn merge_same_id(base: &mut Advisory, other: Advisory) {
    let (mut keep, extra) = if other.modified > base.modified {
        (other, std::mem::replace(base, placeholder()))
    } else {
        (std::mem::replace(base, placeholder()), other)
    };
    let have: HashSet<(String, String)> = keep
        .affected
        .iter()
        .map(|a| (a.ecosystem.clone(), a.package.clone()))
        .collect();
    keep.affected.extend(
        extra
            .affected
            .into_iter()
            .filter(|a| !have.contains(&(a.ecosystem.clone(), a.package.clone()))),
    );
    for alias in extra.aliases {
        if !keep.aliases.contains(&alias) {
            keep.aliases.push(alias);
        }
    }
    *base = keep;
}

fn placeholder() -> Advisory {
    Advisory {
        id: String::new(),
        aliases: Vec::new(),
        summary: None,
        modified: None,
        withdrawn: None,
        severity: Vec::new(),
        affected: Vec::new(),
        kind: AdvisoryKind::Vulnerability,
        source: String::new(),
    }
}

/// `pypi` for a directory, `DSA/list` or `PyPI/all.zip` for a file: short, and distinct
/// for the generic file names upstreams use.
fn source_name(p: &Path) -> String {
    let canonical = fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let last = canonical
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    match last {
        Some(last) if canonical.is_file() => match canonical.parent().and_then(|d| d.file_name()) {
            Some(parent) => format!("{}/{last}", parent.to_string_lossy()),
            None => last,
        },
        Some(last) => last,
        None => p.display().to_string(),
    }
}

/// Removes the temporary database unless the import got as far as renaming it.
struct TempDb {
    path: PathBuf,
    armed: bool,
}

impl Drop for TempDb {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
            let mut journal = self.path.clone().into_os_string();
            journal.push("-journal");
            let _ = fs::remove_file(journal);
        }
    }
}

/// Writes a new database file next to `path`, reading each source into it in turn (one
/// source in memory at a time), and renames it over `path` once all are in. A source that fails
/// to read removes the new file: `path` is left as it was.
///
/// With `must_hold`, sources that give no advisory at all fail the import (nothing is
/// written): `db import` of a file that is not an advisory feed is a mistake, not an empty
/// database.
pub(crate) fn import_specs(
    path: &Path,
    specs: Vec<SourceSpec>,
    must_hold: bool,
) -> Result<ImportReport> {
    let mut names = HashSet::new();
    for s in &specs {
        if !names.insert(s.name.as_str()) {
            return Err(Error::DuplicateSource(s.name.clone()));
        }
    }

    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(|source| Error::Io {
        path: dir.clone(),
        what: "cannot create directory",
        source,
    })?;
    let file_name = path
        .file_name()
        .map_or_else(|| "vulndb".into(), |n| n.to_string_lossy().into_owned());
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    let tmp = TempDb {
        path: dir.join(format!(".{file_name}.{}.{nanos}.tmp", std::process::id())),
        armed: true,
    };

    let previous = if path.exists() {
        let old = open_read_only(path)?;
        let meta = read_meta(&old, path)?;
        let target = tmp.path.to_str().ok_or_else(|| Error::Io {
            path: tmp.path.clone(),
            what: "cannot use non-UTF-8 path for",
            source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
        })?;
        old.execute("VACUUM INTO ?1", [target])
            .map_err(sql(path, "copy database"))?;
        Some(meta)
    } else {
        None
    };

    let mut conn = Connection::open(&tmp.path).map_err(sql(&tmp.path, "create database"))?;
    conn.execute_batch("PRAGMA journal_mode = MEMORY; PRAGMA synchronous = OFF;")
        .map_err(sql(&tmp.path, "configure database"))?;
    if previous.is_none() {
        conn.execute_batch(SCHEMA)
            .map_err(sql(&tmp.path, "create schema"))?;
    }
    let built = now_rfc3339();
    let counter = previous.as_ref().map_or(0, |m| m.counter) + 1;

    let mut report = ImportReport::default();
    let mut deleted = false;
    let first_path = specs.first().map(|s| s.path.clone()).unwrap_or_default();
    {
        let tx = conn.transaction().map_err(sql(&tmp.path, "begin"))?;
        for spec in specs {
            let out = ingest::load_source(&spec.path, spec.format)?;
            deleted |= delete_source(&tx, &tmp.path, &spec.name)?;
            let content = store_source(&tx, &tmp.path, &spec, &out, &built)?;
            tx.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                params![format!("{SOURCE_CONTENT}{}", spec.name), content],
            )
            .map_err(sql(&tmp.path, "write meta"))?;
            report.sources.push((spec.name.clone(), out.records()));
            report.warnings.extend(out.warnings);
        }
        if must_hold && !report.sources.is_empty() && report.sources.iter().all(|(_, n)| *n == 0) {
            return Err(Error::NothingImported {
                path: first_path,
                first_skipped: report.warnings.first().cloned(),
            });
        }
        let version = content_version(&tx, &tmp.path)?;
        let mut put = tx
            .prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")
            .map_err(sql(&tmp.path, "write meta"))?;
        for (k, v) in [
            ("schema_version", SCHEMA_VERSION.to_string()),
            ("built", built.clone()),
            ("content_version", version),
            ("import_counter", counter.to_string()),
        ] {
            put.execute([k, v.as_str()])
                .map_err(sql(&tmp.path, "write meta"))?;
        }
        drop(put);
        tx.commit().map_err(sql(&tmp.path, "commit"))?;
    }
    if deleted {
        // Re-imported sources leave free pages behind; keep the file as small as a fresh one.
        conn.execute_batch("VACUUM")
            .map_err(sql(&tmp.path, "compact database"))?;
    }
    conn.close()
        .map_err(|(_, e)| sql(&tmp.path, "close database")(e))?;
    replace(tmp, path)?;
    Ok(report)
}

/// fsyncs the new file, renames it over the target, and fsyncs the directory.
fn replace(mut tmp: TempDb, path: &Path) -> Result<()> {
    let io = |what: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| Error::Io {
            path: p,
            what,
            source,
        }
    };
    fs::File::open(&tmp.path)
        .and_then(|f| f.sync_all())
        .map_err(io("cannot sync", &tmp.path))?;
    fs::rename(&tmp.path, path).map_err(io("cannot replace", path))?;
    tmp.armed = false;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Best effort: some filesystems refuse fsync on directories.
        let _ = fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// Removes everything a source stored. Returns whether it had anything.
fn delete_source(tx: &rusqlite::Transaction<'_>, db: &Path, name: &str) -> Result<bool> {
    let sub = "(SELECT rowid FROM advisories WHERE source = ?1)";
    tx.execute(
        &format!("DELETE FROM affected_index WHERE advisory IN {sub}"),
        [name],
    )
    .map_err(sql(db, "delete source index"))?;
    tx.execute(
        &format!("DELETE FROM aliases WHERE advisory IN {sub}"),
        [name],
    )
    .map_err(sql(db, "delete source aliases"))?;
    let n = tx
        .execute("DELETE FROM advisories WHERE source = ?1", [name])
        .map_err(sql(db, "delete source"))?;
    let m = tx
        .execute("DELETE FROM cvss_enrichment WHERE source = ?1", [name])
        .map_err(sql(db, "delete source"))?;
    let s = tx
        .execute("DELETE FROM sources WHERE name = ?1", [name])
        .map_err(sql(db, "delete source"))?;
    Ok(n + m + s > 0)
}

/// The meta key prefix under which each source's content digest is kept.
const SOURCE_CONTENT: &str = "source_content:";

/// The DB's content version: a digest of what every source holds, never of when or where it
/// was imported. Two imports of the same data agree, so replicas that update from the same
/// sources each on their own reach the same version, and the results stored under it by one
/// are the other's too (nothing is matched twice); an update that brought nothing new keeps
/// the version, so nothing is matched again.
fn content_version(tx: &rusqlite::Transaction<'_>, db: &Path) -> Result<String> {
    let mut stmt = tx
        .prepare(
            "SELECT s.name, coalesce(m.value, s.imported_at) FROM sources s \
             LEFT JOIN meta m ON m.key = ?1 || s.name ORDER BY s.name",
        )
        .map_err(sql(db, "read sources"))?;
    let rows: Vec<(String, String)> = stmt
        .query_map([SOURCE_CONTENT], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(|rows| rows.collect())
        .map_err(sql(db, "read sources"))?;
    let mut hasher = Sha256::new();
    for (name, content) in rows {
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(content.as_bytes());
        hasher.update([0]);
    }
    Ok(hex::encode(hasher.finalize())[..16].to_string())
}

/// Stores one source's records; returns the digest of its content, the same whatever order
/// the records came in (a directory's listing order is the filesystem's).
fn store_source(
    tx: &rusqlite::Transaction<'_>,
    db: &Path,
    spec: &SourceSpec,
    out: &Out,
    now: &str,
) -> Result<String> {
    let mut digests: Vec<[u8; 32]> = Vec::with_capacity(out.advisories.len() + out.nvd.len());
    let mut adv_stmt = tx
        .prepare("INSERT INTO advisories (id, source, kind, withdrawn, json) VALUES (?1, ?2, ?3, ?4, ?5)")
        .map_err(sql(db, "prepare insert"))?;
    let mut idx_stmt = tx
        .prepare("INSERT INTO affected_index (ecosystem, release, package, advisory) VALUES (?1, ?2, ?3, ?4)")
        .map_err(sql(db, "prepare insert"))?;
    let mut alias_stmt = tx
        .prepare("INSERT INTO aliases (alias, advisory) VALUES (?1, ?2)")
        .map_err(sql(db, "prepare insert"))?;
    let mut keys: HashSet<(Ecosystem, Option<&str>, String)> = HashSet::new();
    for adv in &out.advisories {
        let json = serde_json::to_vec(adv).map_err(|e| Error::Corrupt {
            path: db.to_path_buf(),
            id: adv.id.clone(),
            source: Box::new(e),
        })?;
        digests.push(Sha256::digest(&json).into());
        let json = pack(&json);
        let kind = match adv.kind {
            AdvisoryKind::Vulnerability => "vulnerability",
            AdvisoryKind::Informational(_) => "informational",
        };
        adv_stmt
            .execute(params![
                adv.id,
                spec.name,
                kind,
                adv.withdrawn.is_some(),
                json
            ])
            .map_err(sql(db, "insert advisory"))?;
        let rowid = tx.last_insert_rowid();
        keys.clear();
        for a in &adv.affected {
            let Ok((eco, release)) = Ecosystem::parse_osv(&a.ecosystem) else {
                continue;
            };
            let key = (eco, release, eco.normalize_name(&a.package));
            if keys.contains(&key) {
                continue;
            }
            idx_stmt
                .execute(params![eco.osv_name(), key.1, key.2, rowid])
                .map_err(sql(db, "insert index"))?;
            keys.insert(key);
        }
        for alias in &adv.aliases {
            alias_stmt
                .execute(params![alias, rowid])
                .map_err(sql(db, "insert alias"))?;
        }
    }
    let mut nvd_stmt = tx
        .prepare(
            "INSERT OR REPLACE INTO cvss_enrichment (cve_id, severity, source) VALUES (?1, ?2, ?3)",
        )
        .map_err(sql(db, "prepare insert"))?;
    for (cve, sev) in &out.nvd {
        let json = serde_json::to_string(sev).map_err(|e| Error::Corrupt {
            path: db.to_path_buf(),
            id: cve.clone(),
            source: Box::new(e),
        })?;
        digests.push(Sha256::digest(format!("{cve}\0{json}")).into());
        nvd_stmt
            .execute(params![cve, json, spec.name])
            .map_err(sql(db, "insert NVD severity"))?;
    }
    let kind = match spec.format {
        Some(f) => f.as_str().to_string(),
        None => out
            .formats
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join("+"),
    };
    tx.execute(
        "INSERT INTO sources (name, kind, location, records, imported_at, etag, last_modified) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            spec.name,
            kind,
            spec.location,
            i64::try_from(out.records()).unwrap_or(i64::MAX),
            now,
            spec.etag,
            spec.last_modified
        ],
    )
    .map_err(sql(db, "insert source"))?;
    digests.sort_unstable();
    let mut hasher = Sha256::new();
    for d in &digests {
        hasher.update(d);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Per source name: the stored `ETag` and `Last-Modified`.
pub(crate) type Validators = HashMap<String, (Option<String>, Option<String>)>;

/// The HTTP validators stored per source, for conditional downloads.
pub(crate) fn validators(path: &Path) -> Result<Validators> {
    if !path.exists() {
        return Ok(HashMap::new());
    }
    let db = Db::open(path)?;
    Ok(db
        .status()?
        .sources
        .into_iter()
        .map(|s| (s.name, (s.etag, s.last_modified)))
        .collect())
}
