//! The PostgreSQL result store, for replicas that share their results.
//!
//! The store seams are synchronous (a rematch encodes on blocking threads, the scanner reads from
//! async tasks), and a PostgreSQL client is asynchronous. The client therefore lives on a thread
//! of its own with its own single-threaded runtime; each call sends that thread a job and waits
//! for the answer. Callers on any thread, tokio workers included, can use the store, and no
//! caller's runtime is blocked inside another runtime.
//!
//! The connection is made again when it is lost (a restarted server): the call that finds it
//! closed fails with the error, and the next call reconnects. Nothing is half-written meanwhile:
//! each write is one statement or one transaction.

use std::sync::mpsc;
use std::thread;

use parking_lot::Mutex;
use portcullis_core::{
    ApiToken, DecisionEvent, DecisionStore, Digest, Documents, EncodedReport, Exception,
    HistoryStore, ImageSighting, ImageStore, Inventory, InventoryStore, LeaseStore, RematchMark,
    ReportStore, RuntimeImage, RuntimeStore, ScanReport, SeenImage, SettingChange, SettingsStore,
    Status, StatusChange, StoreError, StoredInventory, Thresholds, TokenStore,
};
use tokio_postgres::{Client, NoTls};

use crate::codec;
use crate::migrate::{self, Migration};
use crate::{CodeVersions, SchemaTooNew};

/// The schema, one migration per version; a new version appends one and never edits the older.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: "
CREATE TABLE inventories (
  digest TEXT PRIMARY KEY,
  inventory TEXT NOT NULL,
  code TEXT NOT NULL,
  created TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE reports (
  digest TEXT NOT NULL,
  db_version TEXT NOT NULL,
  report BYTEA NOT NULL,
  code TEXT NOT NULL,
  created TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (digest, db_version)
);
CREATE TABLE decisions (
  id BIGSERIAL PRIMARY KEY,
  time TIMESTAMPTZ NOT NULL,
  decision TEXT NOT NULL
);
",
    },
    Migration {
        version: 2,
        sql: "
CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE settings_generation (id INTEGER PRIMARY KEY CHECK (id = 1), generation BIGINT NOT NULL);
INSERT INTO settings_generation (id, generation) VALUES (1, 0);
CREATE TABLE status_history (
  id BIGSERIAL PRIMARY KEY,
  digest TEXT NOT NULL,
  time TIMESTAMPTZ NOT NULL,
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
  first_seen TIMESTAMPTZ NOT NULL,
  last_seen TIMESTAMPTZ NOT NULL,
  running BOOLEAN NOT NULL,
  PRIMARY KEY (cluster, namespace, workload_kind, workload_name, image, digest)
);
",
    },
    Migration {
        version: 4,
        sql: "CREATE TABLE scan_leases (digest TEXT PRIMARY KEY, holder TEXT NOT NULL, expires TIMESTAMPTZ NOT NULL);",
    },    Migration {
        version: 5,
        sql: "
CREATE TABLE image_sightings (
  registry TEXT NOT NULL,
  repository TEXT NOT NULL,
  digest TEXT NOT NULL,
  tag TEXT NOT NULL,
  source TEXT NOT NULL,
  first_seen TIMESTAMPTZ NOT NULL,
  last_seen TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (registry, repository, digest, tag, source)
);
",
    },
    Migration {
        version: 6,
        sql: "
CREATE TABLE rematch_mark (id INTEGER PRIMARY KEY CHECK (id = 1), generation BIGINT NOT NULL, db_version TEXT);
INSERT INTO rematch_mark (id, generation) VALUES (1, 0);
INSERT INTO settings (name, value) VALUES ('exceptions', '[]');
",
    },
    Migration {
        version: 7,
        sql: "
CREATE TABLE api_tokens (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  scope TEXT NOT NULL,
  secret_sha256 TEXT NOT NULL,
  created BIGINT NOT NULL,
  expires BIGINT,
  revoked BOOLEAN NOT NULL DEFAULT FALSE
);
",
    },
    Migration {
        version: 8,
        sql: "CREATE TABLE setting_changes (id BIGSERIAL PRIMARY KEY, change TEXT NOT NULL);",
    },
];

/// Serialises the schema check and migrations of replicas starting at once
/// (`pg_advisory_xact_lock` key; any fixed number works, this one spells "PCLS").
const MIGRATION_LOCK: i64 = 0x5043_4c53;

type Job = Box<dyn FnOnce(&tokio::runtime::Runtime, &mut Conn) + Send>;

/// The client thread's connection, made again when lost.
struct Conn {
    url: String,
    client: Option<Client>,
}

impl Conn {
    async fn client(&mut self) -> Result<&Client, tokio_postgres::Error> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            let (client, connection) = tokio_postgres::connect(&self.url, NoTls).await?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!("result store connection ended: {e}");
                }
            });
            self.client = Some(client);
        }
        Ok(self.client.as_ref().expect("connected above"))
    }
}

/// The PostgreSQL result store.
pub struct PostgresStore {
    /// The URL without its password, for messages.
    location: String,
    jobs: Mutex<mpsc::Sender<Job>>,
    versions: CodeVersions,
    /// Held while exclusive work runs: the server's advisory locks are per session, and this
    /// process's callers share one session.
    exclusive: Mutex<()>,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://USER:PASSWORD@HOST:PORT/DATABASE`), creating or upgrading
    /// the schema, for results made by `versions`. Fails naming the server (never its password)
    /// when it cannot be reached, and when the database holds a newer schema than this binary
    /// knows.
    pub fn open(url: &str, versions: CodeVersions) -> Result<PostgresStore, StoreError> {
        let location = redact(url);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError {
                location: location.clone(),
                what: Some("could not start its client thread".into()),
                source: Box::new(e),
            })?;
        let (tx, rx) = mpsc::channel::<Job>();
        let mut conn = Conn {
            url: url.to_string(),
            client: None,
        };
        thread::Builder::new()
            .name("result-store".into())
            .spawn(move || {
                // Ends when the store (the only sender) is dropped.
                while let Ok(job) = rx.recv() {
                    job(&rt, &mut conn);
                }
            })
            .map_err(|e| StoreError {
                location: location.clone(),
                what: Some("could not start its client thread".into()),
                source: Box::new(e),
            })?;
        let store = PostgresStore {
            location,
            jobs: Mutex::new(tx),
            versions,
            exclusive: Mutex::new(()),
        };
        store
            .call("migrate the schema", |c| {
                Box::pin(async move {
                    let client = c.client().await?;
                    migrate_postgres(client).await
                })
            })?
            .map_err(|too_new| StoreError {
                location: store.location.clone(),
                what: None,
                source: Box::new(too_new),
            })?;
        Ok(store)
    }

    fn error(
        &self,
        what: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> StoreError {
        StoreError {
            location: self.location.clone(),
            what: Some(what.into()),
            source: source.into(),
        }
    }

    /// Runs `f` on the client thread and waits for its answer. `what` names the operation in
    /// an error.
    fn call<T: Send + 'static>(
        &self,
        what: &'static str,
        f: impl for<'c> FnOnce(
            &'c mut Conn,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<T, tokio_postgres::Error>> + 'c>,
        > + Send
        + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |rt, conn| {
            let out = rt.block_on(f(conn));
            let _ = tx.send(out);
        });
        self.jobs
            .lock()
            .send(job)
            .map_err(|_| self.error(what, "its client thread has stopped"))?;
        rx.recv()
            .map_err(|_| self.error(what, "its client thread has stopped"))?
            .map_err(|e| self.error(what, e))
    }
}

/// Runs `work` in a transaction: committed when it succeeds, rolled back when it fails (if the
/// connection is gone, so is the transaction).
async fn in_transaction<T, F, Fut>(client: &Client, work: F) -> Result<T, tokio_postgres::Error>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<T, tokio_postgres::Error>>,
{
    client.batch_execute("BEGIN").await?;
    match work().await {
        Ok(v) => {
            client.batch_execute("COMMIT").await?;
            Ok(v)
        }
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

/// Brings the schema up to date, in one transaction under an advisory lock (replicas starting
/// at once migrate once); a newer schema than this binary knows is refused.
async fn migrate_postgres(
    client: &Client,
) -> Result<Result<(), SchemaTooNew>, tokio_postgres::Error> {
    // Nothing is written when the store is too new, so committing then is harmless.
    in_transaction(client, || async {
        // The lock comes first: even `CREATE TABLE IF NOT EXISTS` races with itself.
        client
            .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS portcullis_schema (version INTEGER NOT NULL)",
            )
            .await?;
        let found: Option<i32> = client
            .query_opt("SELECT max(version) FROM portcullis_schema", &[])
            .await?
            .and_then(|r| r.get(0));
        let found = u32::try_from(found.unwrap_or(0)).unwrap_or(0);
        let plan = match migrate::plan(MIGRATIONS, found) {
            Ok(plan) => plan,
            Err(too_new) => return Ok(Err(too_new)),
        };
        for m in plan {
            client.batch_execute(m.sql).await?;
            client
                .execute(
                    "INSERT INTO portcullis_schema (version) VALUES ($1)",
                    &[&i32::try_from(m.version).unwrap_or(i32::MAX)],
                )
                .await?;
        }
        Ok(Ok(()))
    })
    .await
}

/// Status changes as the columns one statement inserts them from (`unnest`).
struct ChangeColumns {
    digests: Vec<String>,
    times: Vec<time::OffsetDateTime>,
    from: Vec<Option<&'static str>>,
    to: Vec<&'static str>,
    causes: Vec<&'static str>,
    versions: Vec<String>,
}

impl ChangeColumns {
    fn of(changes: &[StatusChange]) -> Self {
        ChangeColumns {
            digests: changes.iter().map(|c| c.digest.to_string()).collect(),
            times: changes.iter().map(|c| c.time).collect(),
            from: changes.iter().map(|c| c.from.map(Status::as_str)).collect(),
            to: changes.iter().map(|c| c.to.as_str()).collect(),
            causes: changes.iter().map(|c| c.cause.as_str()).collect(),
            versions: changes.iter().map(|c| c.db_version.clone()).collect(),
        }
    }

    /// Inserts them in order, within the caller's transaction if there is one.
    async fn insert(&self, client: &Client) -> Result<(), tokio_postgres::Error> {
        if self.digests.is_empty() {
            return Ok(());
        }
        client
            .execute(
                "INSERT INTO status_history (digest, time, from_status, to_status, cause, db_version) \
                 SELECT d, tm, f, s, c, v FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[]) \
                 WITH ORDINALITY AS t(d, tm, f, s, c, v, n) ORDER BY n",
                &[&self.digests, &self.times, &self.from, &self.to, &self.causes, &self.versions],
            )
            .await?;
        Ok(())
    }
}

/// The advisory-lock key of a named piece of work: a stable hash of the name (FNV-1a), apart
/// from [`MIGRATION_LOCK`].
fn lock_key(name: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    i64::from_ne_bytes(h.to_ne_bytes()) ^ MIGRATION_LOCK
}

/// `url` without its password.
pub(crate) fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((user, host)) => {
                let user = user.split_once(':').map_or(user, |(u, _)| u);
                format!("{scheme}://{user}@{host}")
            }
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

impl InventoryStore for PostgresStore {
    fn inventory(&self, digest: &Digest) -> Result<Option<Inventory>, StoreError> {
        let (d, code) = (digest.to_string(), self.versions.catalog.clone());
        let text: Option<String> = self.call("read an inventory", move |c| {
            Box::pin(async move {
                let row = c
                    .client()
                    .await?
                    .query_opt(
                        "SELECT inventory FROM inventories WHERE digest = $1 AND code = $2",
                        &[&d, &code],
                    )
                    .await?;
                Ok(row.map(|r| r.get(0)))
            })
        })?;
        text.map(|t| serde_json::from_str(&t).map_err(|e| self.error(codec::unreadable(digest), e)))
            .transpose()
    }

    fn put_inventory(&self, digest: &Digest, inventory: &Inventory) -> Result<(), StoreError> {
        let text = serde_json::to_string(inventory)
            .map_err(|e| self.error(codec::unreadable(digest), e))?;
        let (d, code) = (digest.to_string(), self.versions.catalog.clone());
        self.call("store an inventory", move |c| {
            Box::pin(async move {
                c.client()
                    .await?
                    .execute(
                        "INSERT INTO inventories (digest, inventory, code) VALUES ($1, $2, $3) \
                         ON CONFLICT (digest) DO UPDATE SET inventory = EXCLUDED.inventory, \
                         code = EXCLUDED.code, created = now()",
                        &[&d, &text, &code],
                    )
                    .await?;
                Ok(())
            })
        })
    }

    fn inventories_page(
        &self,
        without_report: Option<&str>,
        after: Option<&Digest>,
        limit: usize,
    ) -> Result<Vec<StoredInventory>, StoreError> {
        let args = (
            self.versions.catalog.clone(),
            after.map_or(String::new(), ToString::to_string),
            without_report.map(str::to_string),
            self.versions.report.clone(),
            i64::try_from(limit).unwrap_or(i64::MAX),
        );
        let rows: Vec<(String, String)> = self.call("list inventories", move |c| {
            Box::pin(async move {
                let (catalog, after, version, report, limit) = &args;
                let rows = c
                    .client()
                    .await?
                    .query(
                        "SELECT i.digest, i.inventory FROM inventories i \
                         WHERE i.code = $1 AND i.digest > $2 \
                         AND ($3::text IS NULL OR NOT EXISTS (SELECT 1 FROM reports r \
                           WHERE r.digest = i.digest AND r.db_version = $3 AND r.code = $4)) \
                         ORDER BY i.digest LIMIT $5",
                        &[catalog, after, version, report, limit],
                    )
                    .await?;
                Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
            })
        })?;
        rows.into_iter()
            .map(|(d, text)| {
                Ok(StoredInventory {
                    digest: Digest::parse(&d).map_err(|e| self.error("list inventories", e))?,
                    data: text.into_bytes(),
                })
            })
            .collect()
    }

    fn decode_inventory(&self, stored: &StoredInventory) -> Result<Inventory, StoreError> {
        serde_json::from_slice(&stored.data)
            .map_err(|e| self.error(codec::unreadable(&stored.digest), e))
    }
}

impl ReportStore for PostgresStore {
    fn report(&self, digest: &Digest, db_version: &str) -> Result<Option<ScanReport>, StoreError> {
        let Some(mut report) = self.report_row(digest, db_version)? else {
            return Ok(None);
        };
        // Reports are stored without their packages; the inventory holds them.
        match self.inventory(digest)? {
            Some(inv) => report.packages = inv.packages,
            None => return Ok(None),
        }
        Ok(Some(report))
    }

    fn report_for(
        &self,
        digest: &Digest,
        db_version: &str,
        inventory: &Inventory,
    ) -> Result<Option<ScanReport>, StoreError> {
        Ok(self.report_row(digest, db_version)?.map(|mut r| {
            r.packages = inventory.packages.clone();
            r
        }))
    }

    fn encode_report(
        &self,
        digest: &Digest,
        report: &mut ScanReport,
    ) -> Result<EncodedReport, StoreError> {
        codec::encode_report(digest, report).map_err(|e| self.error(e.what(digest), e))
    }

    /// A PostgreSQL advisory lock named after `name`, held by this store's connection while
    /// `work` runs. Taken by trying every 100 ms rather than waiting in the server, so the
    /// client thread stays free for the webhook's reads meanwhile.
    fn exclusively(&self, name: &str, work: &mut dyn FnMut()) -> Result<(), StoreError> {
        let _local = self.exclusive.lock();
        let key = lock_key(name);
        loop {
            let taken: bool = self.call("take a lock", move |c| {
                Box::pin(async move {
                    let row = c
                        .client()
                        .await?
                        .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
                        .await?;
                    Ok(row.get(0))
                })
            })?;
            if taken {
                break;
            }
            thread::sleep(std::time::Duration::from_millis(100));
        }
        work();
        // A release that fails means the session is gone, and the server released its locks
        // with it; the work's own outcome is what the caller needs to hear about.
        if let Err(e) = self.call("release a lock", move |c| {
            Box::pin(async move {
                c.client()
                    .await?
                    .execute("SELECT pg_advisory_unlock($1)", &[&key])
                    .await?;
                Ok(())
            })
        }) {
            tracing::debug!("{}", portcullis_core::ErrorChain(&e));
        }
        Ok(())
    }

    /// All in one transaction, in two statements whatever the count: a rematch of thousands
    /// of images costs two round trips and one commit.
    fn put_encoded_reports(
        &self,
        db_version: &str,
        reports: &[EncodedReport],
        changes: &[StatusChange],
    ) -> Result<(), StoreError> {
        let columns = ChangeColumns::of(changes);
        let digests: Vec<String> = reports.iter().map(|r| r.digest.to_string()).collect();
        let data: Vec<Vec<u8>> = reports.iter().map(|r| r.data.clone()).collect();
        let (version, code) = (db_version.to_string(), self.versions.report.clone());
        self.call("store reports", move |c| {
            Box::pin(async move {
                let client = c.client().await?;
                in_transaction(client, || async {
                    client
                        .execute(
                            "DELETE FROM reports WHERE digest = ANY($1) \
                             AND (db_version <> $2 OR code <> $3)",
                            &[&digests, &version, &code],
                        )
                        .await?;
                    client
                        .execute(
                            "INSERT INTO reports (digest, db_version, report, code) \
                             SELECT d, $2, r, $3 FROM unnest($1::text[], $4::bytea[]) AS t(d, r) \
                             ON CONFLICT (digest, db_version) DO UPDATE \
                             SET report = EXCLUDED.report, code = EXCLUDED.code, created = now()",
                            &[&digests, &version, &code, &data],
                        )
                        .await?;
                    columns.insert(client).await
                })
                .await
            })
        })
    }

    fn rematch_mark(&self) -> Result<RematchMark, StoreError> {
        self.rematch_row(
            "read the rematch mark",
            "SELECT generation, db_version FROM rematch_mark WHERE id = 1",
            Vec::new(),
        )
    }

    fn mark_rematch(&self, db_version: &str) -> Result<RematchMark, StoreError> {
        self.rematch_row(
            "mark a rematch",
            "UPDATE rematch_mark SET generation = generation + 1, db_version = $1 \
             WHERE id = 1 RETURNING generation, db_version",
            vec![db_version.to_string()],
        )
    }
}

impl PostgresStore {
    /// The stored setting `name`, decoded from JSON (`unreadable` says what when that fails).
    fn setting<T: serde::de::DeserializeOwned>(
        &self,
        name: &'static str,
        unreadable: &'static str,
    ) -> Result<Option<T>, StoreError> {
        let text: Option<String> = self.call("read a setting", move |c| {
            Box::pin(async move {
                let row = c
                    .client()
                    .await?
                    .query_opt("SELECT value FROM settings WHERE name = $1", &[&name])
                    .await?;
                Ok(row.map(|r| r.get(0)))
            })
        })?;
        text.map(|t| serde_json::from_str(&t).map_err(|e| self.error(unreadable, e)))
            .transpose()
    }

    /// The rematch mark, as `sql` (a `SELECT` or an `UPDATE ... RETURNING`) gives it.
    fn rematch_row(
        &self,
        what: &'static str,
        sql: &'static str,
        args: Vec<String>,
    ) -> Result<RematchMark, StoreError> {
        let (generation, version): (i64, Option<String>) = self.call(what, move |c| {
            Box::pin(async move {
                let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = args
                    .iter()
                    .map(|a| a as &(dyn tokio_postgres::types::ToSql + Sync))
                    .collect();
                let row = c.client().await?.query_one(sql, &params).await?;
                Ok((row.get(0), row.get(1)))
            })
        })?;
        Ok(RematchMark {
            generation: u64::try_from(generation).unwrap_or(0),
            db_version: version,
        })
    }

    fn report_row(
        &self,
        digest: &Digest,
        db_version: &str,
    ) -> Result<Option<ScanReport>, StoreError> {
        let (d, v, code) = (
            digest.to_string(),
            db_version.to_string(),
            self.versions.report.clone(),
        );
        let bytes: Option<Vec<u8>> = self.call("read a report", move |c| {
            Box::pin(async move {
                let row = c
                    .client()
                    .await?
                    .query_opt(
                        "SELECT report FROM reports WHERE digest = $1 AND db_version = $2 AND code = $3",
                        &[&d, &v, &code],
                    )
                    .await?;
                Ok(row.map(|r| r.get(0)))
            })
        })?;
        bytes
            .map(|b| codec::decode_report(&b).map_err(|e| self.error(e.what(digest), e)))
            .transpose()
    }
}

impl DecisionStore for PostgresStore {
    /// One statement for the batch.
    fn record_decisions(&self, decisions: &[DecisionEvent]) -> Result<(), StoreError> {
        let texts = decisions
            .iter()
            .map(|d| {
                serde_json::to_string(d)
                    .map_err(|e| self.error(format!("decision {} is unwritable", d.uid), e))
            })
            .collect::<Result<Vec<String>, _>>()?;
        let times: Vec<time::OffsetDateTime> = decisions.iter().map(|d| d.time).collect();
        self.call("record decisions", move |c| {
            Box::pin(async move {
                c.client()
                    .await?
                    .execute(
                        "INSERT INTO decisions (time, decision) \
                         SELECT t, d FROM unnest($1::timestamptz[], $2::text[]) WITH ORDINALITY AS x(t, d, n) \
                         ORDER BY n",
                        &[&times, &texts],
                    )
                    .await?;
                Ok(())
            })
        })
    }

    fn recent_decisions(&self, limit: usize) -> Result<Vec<DecisionEvent>, StoreError> {
        self.newest_json(
            "SELECT decision FROM decisions ORDER BY id DESC LIMIT $1",
            limit,
            "read decisions",
            "a stored decision is unreadable",
        )
    }
}

impl SettingsStore for PostgresStore {
    fn thresholds(&self) -> Result<Option<Thresholds>, StoreError> {
        self.setting(codec::THRESHOLDS, "the stored thresholds are unreadable")
    }

    fn put_thresholds(&self, thresholds: &Thresholds) -> Result<u64, StoreError> {
        let text = serde_json::to_string(thresholds)
            .map_err(|e| self.error("the thresholds are unwritable", e))?;
        let generation: i64 = self.call("store the thresholds", move |c| {
            Box::pin(async move {
                let client = c.client().await?;
                in_transaction(client, || async {
                    client
                        .execute(
                            "INSERT INTO settings (name, value) VALUES ($1, $2) \
                             ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                            &[&codec::THRESHOLDS, &text],
                        )
                        .await?;
                    let row = client
                        .query_one(
                            "UPDATE settings_generation SET generation = generation + 1 \
                             WHERE id = 1 RETURNING generation",
                            &[],
                        )
                        .await?;
                    Ok::<i64, tokio_postgres::Error>(row.get(0))
                })
                .await
            })
        })?;
        Ok(u64::try_from(generation).unwrap_or(0))
    }

    fn settings_generation(&self) -> Result<u64, StoreError> {
        let generation: i64 = self.call("read the settings generation", |c| {
            Box::pin(async move {
                let row = c
                    .client()
                    .await?
                    .query_one(
                        "SELECT generation FROM settings_generation WHERE id = 1",
                        &[],
                    )
                    .await?;
                Ok(row.get(0))
            })
        })?;
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
            .setting::<serde_json::Value>(which.key(), "a stored document list is unreadable")?
            .map(|v| v.to_string()))
    }

    fn put_documents(&self, which: Documents, json: &str) -> Result<bool, StoreError> {
        let list: Vec<serde_json::Value> = serde_json::from_str(json)
            .map_err(|e| self.error("a document list is not a JSON array", e))?;
        self.put_document(which.key(), &list)
    }

    fn record_setting_change(&self, change: &SettingChange) -> Result<(), StoreError> {
        let text = serde_json::to_string(change)
            .map_err(|e| self.error("a setting change is unwritable", e))?;
        self.call("record a setting change", move |c| {
            Box::pin(async move {
                c.client()
                    .await?
                    .execute("INSERT INTO setting_changes (change) VALUES ($1)", &[&text])
                    .await?;
                Ok(())
            })
        })
    }

    fn setting_changes(&self, limit: usize) -> Result<Vec<SettingChange>, StoreError> {
        self.newest_json(
            "SELECT change FROM setting_changes ORDER BY id DESC LIMIT $1",
            limit,
            "read setting changes",
            "a stored setting change is unreadable",
        )
    }
}

impl PostgresStore {
    /// The JSON rows `sql` selects (its `$1` is `limit`), decoded: `reading` names the query,
    /// `unreadable` a row that cannot be decoded.
    fn newest_json<T: serde::de::DeserializeOwned>(
        &self,
        sql: &'static str,
        limit: usize,
        reading: &'static str,
        unreadable: &'static str,
    ) -> Result<Vec<T>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<String> = self.call(reading, move |c| {
            Box::pin(async move {
                let rows = c.client().await?.query(sql, &[&limit]).await?;
                Ok(rows.iter().map(|r| r.get(0)).collect())
            })
        })?;
        rows.iter()
            .map(|t| serde_json::from_str(t).map_err(|e| self.error(unreadable, e)))
            .collect()
    }

    fn exception_set(&self, key: &'static str) -> Result<Vec<Exception>, StoreError> {
        Ok(self
            .setting(key, "the stored exceptions are unreadable")?
            .unwrap_or_default())
    }

    fn put_exception_set(
        &self,
        key: &'static str,
        exceptions: &[Exception],
    ) -> Result<bool, StoreError> {
        self.put_document(key, exceptions)
    }

    /// Stores `value` as the JSON of settings row `key`; true when it changed.
    fn put_document<T: serde::Serialize + ?Sized>(
        &self,
        key: &'static str,
        value: &T,
    ) -> Result<bool, StoreError> {
        let text = serde_json::to_string(value)
            .map_err(|e| self.error(format!("{key} are unwritable"), e))?;
        let changed = self.call("store the exceptions", move |c| {
            Box::pin(async move {
                c.client()
                    .await?
                    .execute(
                        "INSERT INTO settings (name, value) VALUES ($1, $2) \
                         ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value \
                         WHERE settings.value <> EXCLUDED.value",
                        &[&key, &text],
                    )
                    .await
            })
        })?;
        Ok(changed > 0)
    }
}

impl HistoryStore for PostgresStore {
    fn record_status_changes(&self, changes: &[StatusChange]) -> Result<(), StoreError> {
        let columns = ChangeColumns::of(changes);
        self.call("record status changes", move |c| {
            Box::pin(async move { columns.insert(c.client().await?).await })
        })
    }

    fn latest_statuses(&self) -> Result<Vec<(Digest, Status)>, StoreError> {
        let rows: Vec<(String, String)> = self.call("read the latest statuses", |c| {
            Box::pin(async move {
                let rows = c
                    .client()
                    .await?
                    .query(
                        "SELECT DISTINCT ON (digest) digest, to_status FROM status_history \
                         ORDER BY digest, id DESC",
                        &[],
                    )
                    .await?;
                Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
            })
        })?;
        rows.into_iter()
            .map(|(d, st)| {
                let digest = Digest::parse(&d)
                    .map_err(|e| self.error("a stored status is unreadable", e))?;
                let status = codec::status(&st)
                    .map_err(|e| self.error("a stored status is unreadable", e))?;
                Ok((digest, status))
            })
            .collect()
    }

    fn status_history(&self, digest: &Digest) -> Result<Vec<StatusChange>, StoreError> {
        let d = digest.to_string();
        type Row = (time::OffsetDateTime, Option<String>, String, String, String);
        let rows: Vec<Row> = self.call("read a status history", move |c| {
            Box::pin(async move {
                let rows = c
                    .client()
                    .await?
                    .query(
                        "SELECT time, from_status, to_status, cause, db_version FROM status_history \
                         WHERE digest = $1 ORDER BY id",
                        &[&d],
                    )
                    .await?;
                Ok(rows
                    .iter()
                    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
                    .collect())
            })
        })?;
        rows.into_iter()
            .map(|(time, from, to, cause, db_version)| {
                codec::status_change(
                    digest,
                    &portcullis_core::format_time(time),
                    from.as_deref(),
                    &to,
                    &cause,
                    db_version,
                )
                .map_err(|e| self.error("a stored status is unreadable", e))
            })
            .collect()
    }

    fn status_changes_after(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, StatusChange)>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        type Row = (
            i64,
            String,
            time::OffsetDateTime,
            Option<String>,
            String,
            String,
            String,
        );
        let rows: Vec<Row> = self.call("read status changes", move |c| {
            Box::pin(async move {
                let rows = c
                    .client()
                    .await?
                    .query(
                        "SELECT id, digest, time, from_status, to_status, cause, db_version \
                         FROM status_history WHERE id > $1 ORDER BY id LIMIT $2",
                        &[&after, &limit],
                    )
                    .await?;
                Ok(rows
                    .iter()
                    .map(|r| {
                        (
                            r.get(0),
                            r.get(1),
                            r.get(2),
                            r.get(3),
                            r.get(4),
                            r.get(5),
                            r.get(6),
                        )
                    })
                    .collect())
            })
        })?;
        rows.into_iter()
            .map(|(id, digest, time, from, to, cause, db_version)| {
                let digest = Digest::parse(&digest)
                    .map_err(|e| self.error("a stored status is unreadable", e))?;
                let change = codec::status_change(
                    &digest,
                    &portcullis_core::format_time(time),
                    from.as_deref(),
                    &to,
                    &cause,
                    db_version,
                )
                .map_err(|e| self.error("a stored status is unreadable", e))?;
                Ok((id, change))
            })
            .collect()
    }

    fn last_status_change(&self) -> Result<i64, StoreError> {
        self.call("read the latest status change", |c| {
            Box::pin(async move {
                let row = c
                    .client()
                    .await?
                    .query_one("SELECT coalesce(max(id), 0) FROM status_history", &[])
                    .await?;
                Ok(row.get::<_, i64>(0))
            })
        })
    }
}

impl RuntimeStore for PostgresStore {
    fn put_running(
        &self,
        cluster: &str,
        running: &[RuntimeImage],
        now: time::OffsetDateTime,
    ) -> Result<(), StoreError> {
        let cluster = cluster.to_string();
        let col = |f: fn(&RuntimeImage) -> String| running.iter().map(f).collect::<Vec<String>>();
        let namespaces = col(|r| r.namespace.clone());
        let kinds = col(|r| r.workload_kind.clone());
        let names = col(|r| r.workload_name.clone());
        let images = col(|r| r.image.clone());
        let digests = col(|r| {
            r.digest
                .as_ref()
                .map_or_else(String::new, Digest::to_string)
        });
        let nodes = col(|r| r.nodes.join(","));
        let instances: Vec<i32> = running
            .iter()
            .map(|r| i32::try_from(r.instances).unwrap_or(i32::MAX))
            .collect();
        self.call("store the runtime inventory", move |c| {
            Box::pin(async move {
                let client = c.client().await?;
                in_transaction(client, || async {
                    client
                        .execute(
                            "UPDATE runtime_images SET running = false, instances = 0 WHERE cluster = $1",
                            &[&cluster],
                        )
                        .await?;
                    client
                        .execute(
                            "INSERT INTO runtime_images (cluster, namespace, workload_kind, workload_name, \
                             image, digest, instances, nodes, first_seen, last_seen, running) \
                             SELECT $1, ns, k, n, i, d, c, nd, $9, $9, true FROM \
                             unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int4[], $8::text[]) \
                             AS t(ns, k, n, i, d, c, nd) \
                             ON CONFLICT (cluster, namespace, workload_kind, workload_name, image, digest) \
                             DO UPDATE SET instances = EXCLUDED.instances, nodes = EXCLUDED.nodes, \
                             last_seen = EXCLUDED.last_seen, running = true",
                            &[
                                &cluster, &namespaces, &kinds, &names, &images, &digests, &instances,
                                &nodes, &now,
                            ],
                        )
                        .await?;
                    Ok(())
                })
                .await
            })
        })
    }

    fn runtime_images(&self) -> Result<Vec<RuntimeImage>, StoreError> {
        let rows: Vec<codec::RuntimeRow> = self.call("read the runtime inventory", |c| {
            Box::pin(async move {
                let rows = c
                    .client()
                    .await?
                    .query(
                        "SELECT cluster, namespace, workload_kind, workload_name, image, digest, instances, \
                         nodes, first_seen, last_seen, running FROM runtime_images \
                         ORDER BY cluster, namespace, workload_kind, workload_name, image, digest",
                        &[],
                    )
                    .await?;
                Ok(rows
                    .iter()
                    .map(|r| codec::RuntimeRow {
                        cluster: r.get(0),
                        namespace: r.get(1),
                        workload_kind: r.get(2),
                        workload_name: r.get(3),
                        image: r.get(4),
                        digest: r.get(5),
                        instances: u32::try_from(r.get::<_, i32>(6)).unwrap_or(0),
                        nodes: r.get(7),
                        first_seen: portcullis_core::format_time(r.get(8)),
                        last_seen: portcullis_core::format_time(r.get(9)),
                        running: r.get(10),
                    })
                    .collect())
            })
        })?;
        rows.into_iter()
            .map(|row| {
                row.decode()
                    .map_err(|e| self.error("a runtime image row is unreadable", e))
            })
            .collect()
    }
}

/// Lease times are the server's: replicas' clocks may differ, the database's is one.
impl LeaseStore for PostgresStore {
    fn try_lease(
        &self,
        digest: &Digest,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError> {
        let (d, h) = (digest.to_string(), holder.to_string());
        let seconds = ttl.as_secs_f64();
        self.call("take a scan lease", move |c| {
            Box::pin(async move {
                let row = c
                    .client()
                    .await?
                    .query_opt(
                        "INSERT INTO scan_leases (digest, holder, expires) \
                         VALUES ($1, $2, now() + make_interval(secs => $3)) \
                         ON CONFLICT (digest) DO UPDATE SET holder = EXCLUDED.holder, expires = EXCLUDED.expires \
                         WHERE scan_leases.expires <= now() OR scan_leases.holder = EXCLUDED.holder \
                         RETURNING holder",
                        &[&d, &h, &seconds],
                    )
                    .await?;
                Ok(row.is_some())
            })
        })
    }

    fn release_lease(&self, digest: &Digest, holder: &str) -> Result<(), StoreError> {
        let (d, h) = (digest.to_string(), holder.to_string());
        self.call("release a scan lease", move |c| {
            Box::pin(async move {
                c.client()
                    .await?
                    .execute(
                        "DELETE FROM scan_leases WHERE digest = $1 AND holder = $2",
                        &[&d, &h],
                    )
                    .await?;
                Ok(())
            })
        })
    }
}

/// A token row as read: its columns, and the secret's SHA-256 when asked for.
fn token_row(r: &tokio_postgres::Row) -> codec::TokenRow {
    codec::TokenRow {
        id: r.get(0),
        name: r.get(1),
        scope: r.get(2),
        created: r.get(3),
        expires: r.get(4),
        revoked: r.get(5),
    }
}

impl TokenStore for PostgresStore {
    fn put_token(&self, token: &ApiToken, secret_sha256: &[u8; 32]) -> Result<(), StoreError> {
        let (id, name, scope) = (token.id.clone(), token.name.clone(), token.scope.as_str());
        let hash = codec::hex32(secret_sha256);
        let (created, expires, revoked) = (
            token.created.unix_timestamp(),
            token.expires.map(time::OffsetDateTime::unix_timestamp),
            token.revoked,
        );
        self.call("store an API token", move |c| {
            Box::pin(async move {
                c.client()
                    .await?
                    .execute(
                        "INSERT INTO api_tokens (id, name, scope, secret_sha256, created, expires, revoked) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        &[&id, &name, &scope, &hash, &created, &expires, &revoked],
                    )
                    .await?;
                Ok(())
            })
        })
    }

    fn token(&self, id: &str) -> Result<Option<(ApiToken, [u8; 32])>, StoreError> {
        let key = id.to_string();
        let row = self.call("read an API token", move |c| {
            Box::pin(async move {
                let row = c
                    .client()
                    .await?
                    .query_opt(
                        "SELECT id, name, scope, created, expires, revoked, secret_sha256 FROM api_tokens WHERE id = $1",
                        &[&key],
                    )
                    .await?;
                Ok(row.map(|r| (token_row(&r), r.get::<_, String>(6))))
            })
        })?;
        let unreadable = |e| self.error("an API token row is unreadable", e);
        row.map(|(t, hash)| {
            Ok((
                t.decode().map_err(unreadable)?,
                codec::unhex32(&hash).map_err(unreadable)?,
            ))
        })
        .transpose()
    }

    fn tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        let rows: Vec<codec::TokenRow> = self.call("list the API tokens", |c| {
            Box::pin(async move {
                let rows = c
                    .client()
                    .await?
                    .query(
                        "SELECT id, name, scope, created, expires, revoked FROM api_tokens ORDER BY created DESC, id",
                        &[],
                    )
                    .await?;
                Ok(rows.iter().map(token_row).collect())
            })
        })?;
        rows.into_iter()
            .map(|t| {
                t.decode()
                    .map_err(|e| self.error("an API token row is unreadable", e))
            })
            .collect()
    }

    fn revoke_token(&self, id: &str) -> Result<bool, StoreError> {
        let key = id.to_string();
        self.call("revoke an API token", move |c| {
            Box::pin(async move {
                let n = c
                    .client()
                    .await?
                    .execute(
                        "UPDATE api_tokens SET revoked = TRUE WHERE id = $1",
                        &[&key],
                    )
                    .await?;
                Ok(n > 0)
            })
        })
    }
}

impl ImageStore for PostgresStore {
    fn record_sightings(
        &self,
        sightings: &[ImageSighting],
        now: time::OffsetDateTime,
    ) -> Result<(), StoreError> {
        let col = |f: fn(&ImageSighting) -> String| sightings.iter().map(f).collect::<Vec<_>>();
        let registries = col(|s| s.registry.clone());
        let repositories = col(|s| s.repository.clone());
        let digests = col(|s| s.digest.to_string());
        let tags = col(|s| s.tag.clone().unwrap_or_default());
        let sources = col(|s| s.source.clone());
        self.call("record image sightings", move |c| {
            Box::pin(async move {
                c.client()
                    .await?
                    .execute(
                        "INSERT INTO image_sightings (registry, repository, digest, tag, source, first_seen, last_seen) \
                         SELECT DISTINCT r, p, d, t, s, $6::timestamptz, $6::timestamptz \
                         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS x(r, p, d, t, s) \
                         ON CONFLICT (registry, repository, digest, tag, source) DO UPDATE SET last_seen = EXCLUDED.last_seen",
                        &[&registries, &repositories, &digests, &tags, &sources, &now],
                    )
                    .await?;
                Ok(())
            })
        })
    }

    fn seen_images(&self) -> Result<Vec<SeenImage>, StoreError> {
        let rows: Vec<codec::SightingRow> = self.call("read image sightings", |c| {
            Box::pin(async move {
                let rows = c
                    .client()
                    .await?
                    .query(
                        "SELECT registry, repository, digest, tag, source, first_seen, last_seen FROM image_sightings",
                        &[],
                    )
                    .await?;
                Ok(rows
                    .iter()
                    .map(|r| codec::SightingRow {
                        registry: r.get(0),
                        repository: r.get(1),
                        digest: r.get(2),
                        tag: r.get(3),
                        source: r.get(4),
                        first_seen: portcullis_core::format_time(r.get(5)),
                        last_seen: portcullis_core::format_time(r.get(6)),
                    })
                    .collect())
            })
        })?;
        codec::seen_images(rows).map_err(|e| self.error("an image sighting is unreadable", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password_in_messages() {
        assert_eq!(
            redact("postgres://app:s3cret@db.local:5432/portcullis"),
            "postgres://app@db.local:5432/portcullis"
        );
        assert_eq!(
            redact("postgres://db.local/portcullis"),
            "postgres://db.local/portcullis"
        );
        assert_eq!(
            redact("postgresql://a:b:c@h/d?sslmode=disable"),
            "postgresql://a@h/d?sslmode=disable"
        );
    }
}
