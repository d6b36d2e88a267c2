//! The pipeline put together: image → catalog → match → report, with a result cache.
//!
//! This is the one place the stages meet. The webhook and the CLI depend on [`Scanner`], never on the stages'
//! wiring, so the order (resolve, walk once, match, apply exceptions, summarise) is decided here only.

use parking_lot::Mutex;
use std::path::PathBuf;
use std::sync::Arc;

use portcullis_catalog::Cataloger;
use portcullis_core::{
    ChangeCause, DbInfo, Digest, EncodedReport, Exception, Inventory, ResultStore, ScanReport,
    Status, StatusChange, StoreError, Thresholds,
};
use portcullis_image::{Options as ImageOptions, Target};
use portcullis_matcher::MatchOptions;
use portcullis_vulndb::Db;

pub use portcullis_matcher::VexStatement;
pub use portcullis_store::{CodeVersions, StoreUrl};

/// The versions of the code in this binary that stored results depend on: an inventory on the
/// extractors, a report on the extractors and the matchers.
pub fn code_versions() -> CodeVersions {
    let join = |v: Vec<(&str, u32)>| {
        v.iter()
            .map(|(n, v)| format!("{n}@{v}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let catalog = join(Cataloger::default().extractor_versions());
    let matching = join(portcullis_matcher::matcher_versions());
    CodeVersions {
        report: format!("{catalog};{matching}"),
        catalog,
    }
}

/// Errors of the pipeline, each naming the stage that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The target could not be understood.
    #[error("target {target:?}")]
    Target {
        /// The target as given.
        target: String,
        /// Why.
        #[source]
        source: portcullis_image::TargetError,
    },
    /// The image could not be resolved or pulled.
    #[error(transparent)]
    Image(#[from] portcullis_image::ImageError),
    /// Walking the layers failed.
    #[error("{target}")]
    Walk {
        /// The target.
        target: String,
        /// Why.
        #[source]
        source: portcullis_image::WalkError,
    },
    /// An SBOM given as input could not be read.
    #[error(transparent)]
    Sbom(#[from] portcullis_sbom::SbomError),
    /// Reading an input file failed.
    #[error("reading {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// No vulnerability database was configured or it could not be opened.
    #[error(transparent)]
    Db(#[from] portcullis_vulndb::Error),
    /// Matching failed.
    #[error(transparent)]
    Match(#[from] portcullis_matcher::MatchError),
    /// The result store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No vulnerability database is configured.
    #[error(
        "no vulnerability database configured (--db PATH; build one with `portcullis db import`)"
    )]
    NoDb,
    /// A blocking task panicked or was cancelled.
    #[error("internal task failed: {0}")]
    Task(String),
    /// A package list handed in from elsewhere names no image digest: it cannot be kept beside
    /// the images seen, which are by digest.
    #[error(
        "the inventory of {target} names no image digest (scan a registry image or OCI layout)"
    )]
    NoDigest {
        /// The target it was made from.
        target: String,
    },
    /// A package list handed in from elsewhere needs a result store to be kept.
    #[error("no result store to keep the inventory of {target} in")]
    NoStore {
        /// The target it was made from.
        target: String,
    },
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Stores a report made here (a first scan, or one made anew with new extractors or matchers)
/// and records its status when it is new.
fn keep_report(
    store: &dyn ResultStore,
    digest: &Digest,
    db_version: &str,
    report: &ScanReport,
) -> Result<()> {
    store.put_report(digest, db_version, report)?;
    let before = store.status_history(digest)?.last().map(|c| c.to);
    if before != Some(report.summary.status) {
        store.record_status_changes(&[StatusChange {
            digest: digest.clone(),
            time: time::OffsetDateTime::now_utc(),
            from: before,
            to: report.summary.status,
            cause: if before.is_none() {
                ChangeCause::FirstScan
            } else {
                ChangeCause::Rescan
            },
            db_version: db_version.to_string(),
        }])?;
    }
    Ok(())
}

/// How to scan.
#[derive(Clone, Debug, Default)]
pub struct ScannerConfig {
    /// How to reach images.
    pub image: ImageOptions,
    /// The vulnerability database; without one, only inventories can be produced.
    pub db: Option<PathBuf>,
    /// The result store (an SQLite file or a PostgreSQL database); without one, nothing is
    /// kept between runs.
    pub store: Option<StoreUrl>,
    /// Pass/Warn/Fail thresholds.
    pub thresholds: Thresholds,
    /// Exceptions applied to every report.
    pub exceptions: Vec<Exception>,
    /// OpenVEX statements applied to every report.
    pub vex: Vec<VexStatement>,
    /// Matching options.
    pub matching: MatchOptions,
    /// Where the images scanned were seen, for the store's record of images (`admission` for
    /// the webhook); `None` says `scan`.
    pub seen_at: Option<String>,
}

/// Scans images. Cheap to share (`Arc`); the database is opened once and reopened when its file changes.
pub struct Scanner {
    cfg: ScannerConfig,
    db: Mutex<Option<(std::time::SystemTime, Arc<Db>)>>,
    store: Option<Arc<dyn ResultStore>>,
    /// The exceptions in force: `cfg.exceptions` until [`Scanner::set_exceptions`] replaces them
    /// (in a cluster, from a watch).
    exceptions: parking_lot::RwLock<Arc<Vec<Exception>>>,
    /// The VEX statements in force: `cfg.vex` and those [`Scanner::set_vex`] adds (from the API).
    vex: parking_lot::RwLock<Arc<Vec<VexStatement>>>,
    /// The thresholds in force: `cfg.thresholds` until [`Scanner::set_thresholds`] replaces
    /// them (from the stored settings).
    thresholds: parking_lot::RwLock<Thresholds>,
    /// The rematch mark this scanner's last rematch left in the store.
    own_mark: std::sync::atomic::AtomicU64,
}

impl Scanner {
    /// Builds a scanner; opens the store at `cfg.store` (creating or migrating it) but not the
    /// database, which is opened on first use.
    pub fn new(cfg: ScannerConfig) -> Result<Scanner> {
        let store = match &cfg.store {
            Some(url) => Some(portcullis_store::open(url, code_versions())?),
            None => None,
        };
        Ok(Self::with_store(cfg, store))
    }

    /// Builds a scanner over any result store (`cfg.store` is not opened).
    pub fn with_store(cfg: ScannerConfig, store: Option<Arc<dyn ResultStore>>) -> Scanner {
        Scanner {
            exceptions: parking_lot::RwLock::new(Arc::new(cfg.exceptions.clone())),
            vex: parking_lot::RwLock::new(Arc::new(cfg.vex.clone())),
            thresholds: parking_lot::RwLock::new(cfg.thresholds.clone()),
            cfg,
            db: Mutex::new(None),
            store,
            own_mark: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Replaces the exceptions in force. Reports made from now on use them, cached ones
    /// included (stored reports get them applied again when read); see
    /// [`Scanner::apply_exceptions`] for reports the caller holds.
    pub fn set_exceptions(&self, exceptions: Vec<Exception>) {
        *self.exceptions.write() = Arc::new(exceptions);
    }

    /// Puts `added` in force beside the configured VEX statements (`cfg.vex`), replacing what an
    /// earlier call added. Like exceptions, they apply to every report from now on.
    pub fn set_vex(&self, added: Vec<VexStatement>) {
        let mut all = self.cfg.vex.clone();
        all.extend(added);
        *self.vex.write() = Arc::new(all);
    }

    /// Replaces the thresholds in force. Reports made or read from now on are labelled with
    /// them; [`Scanner::rematch_stored_because`] relabels the stored ones and records why.
    pub fn set_thresholds(&self, thresholds: Thresholds) {
        *self.thresholds.write() = thresholds;
    }

    /// The generation of the rematch mark this scanner's last rematch left (0 before any): a
    /// mark the store shows beyond it is another replica's rematch.
    pub fn own_rematch_generation(&self) -> u64 {
        self.own_mark.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The version of the DB in force, if one can be opened.
    pub fn db_version(&self) -> Option<String> {
        self.db().ok().map(|d| d.info().version)
    }

    /// The thresholds in force.
    pub fn thresholds(&self) -> Thresholds {
        self.thresholds.read().clone()
    }

    /// Applies the exceptions in force to a report made earlier: marks and unmarks its matches
    /// and recomputes its summary. Cheap (no matching), so a changed exception never needs a
    /// rescan.
    pub fn apply_exceptions(&self, report: &mut ScanReport) {
        self.match_parts().reapply(report);
    }

    /// The configuration.
    pub fn config(&self) -> &ScannerConfig {
        &self.cfg
    }

    /// The result store, if any.
    pub fn store(&self) -> Option<&dyn ResultStore> {
        self.store.as_deref()
    }

    /// The result store, shared, for what outlives a call (the decision writer).
    pub fn shared_store(&self) -> Option<Arc<dyn ResultStore>> {
        self.store.clone()
    }

    /// The database, reopened when its file has been replaced since last opened (updates are atomic renames).
    pub fn db(&self) -> Result<Arc<Db>> {
        let path = self.cfg.db.clone().ok_or(Error::NoDb)?;
        let mtime = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        let mut guard = self.db.lock();
        if let (Some((t, db)), Some(m)) = (guard.as_ref(), mtime)
            && *t == m
        {
            return Ok(db.clone());
        }
        let db = Arc::new(Db::open(&path)?);
        *guard = Some((mtime.unwrap_or(std::time::UNIX_EPOCH), db.clone()));
        Ok(db)
    }

    /// Lists the packages of a target: walks the image once (or reads the SBOM).
    pub async fn inventory(&self, target: &str) -> Result<Inventory> {
        self.inventory_with(target, &self.cfg.image).await
    }

    async fn inventory_with(&self, target: &str, opts: &ImageOptions) -> Result<Inventory> {
        let parsed: Target = target.parse().map_err(|e| Error::Target {
            target: target.to_string(),
            source: e,
        })?;
        if let Target::Sbom(path) = &parsed {
            let bytes = tokio::fs::read(path).await.map_err(|e| Error::Io {
                path: path.clone(),
                source: e,
            })?;
            let mut inv = portcullis_sbom::decode(&bytes, &path.display().to_string())?;
            inv.image.reference = target.to_string();
            return Ok(inv);
        }
        // A registry image already catalogued is known by its manifest digest: fetch the
        // manifest first, so a rescan or a rematch after a DB update pulls no layer.
        let mut _lease = None;
        let img = match portcullis_image::resolve_manifest(&parsed, opts).await? {
            Some(pending) => {
                if let Some(store) = &self.store {
                    match self.stored_or_lease(store, pending.digest()).await? {
                        Ok(mut inv) => {
                            inv.image.reference = target.to_string();
                            return Ok(inv);
                        }
                        Err(lease) => _lease = lease,
                    }
                }
                pending.pull(opts).await?
            }
            None => {
                // Local images learn their digest only once resolved.
                let img = portcullis_image::resolve(&parsed, opts).await?;
                if let (Some(store), Some(digest)) = (&self.store, img.info.digest.as_ref())
                    && let Some(mut inv) = store.inventory(digest)?
                {
                    inv.image.reference = target.to_string();
                    return Ok(inv);
                }
                img
            }
        };
        let target_owned = target.to_string();
        let inv = tokio::task::spawn_blocking(move || catalog(&img, &target_owned))
            .await
            .map_err(|e| Error::Task(e.to_string()))??;
        if let (Some(store), Some(digest)) = (&self.store, inv.image.digest.as_ref()) {
            store.put_inventory(digest, &inv)?;
        }
        Ok(inv)
    }

    /// The stored inventory of `digest`, or the lease on making it. Replicas sharing a store
    /// make each package list once: while another holds the lease, this one waits for the list
    /// to appear (or for the lease to lapse: the holder renews it while it works, so a holder
    /// that died frees the digest within [`LEASE_TTL`]). A store that fails to lease is
    /// logged and the scan goes ahead (scanning twice is better than not at all).
    async fn stored_or_lease(
        &self,
        store: &Arc<dyn ResultStore>,
        digest: &portcullis_core::Digest,
    ) -> Result<Result<Inventory, Option<HeldLease>>> {
        let holder = lease_holder();
        loop {
            if let Some(inv) = store.inventory(digest)? {
                return Ok(Ok(inv));
            }
            match store.try_lease(digest, holder, LEASE_TTL) {
                Ok(true) => return Ok(Err(Some(HeldLease::hold(store.clone(), digest.clone())))),
                Ok(false) => tokio::time::sleep(LEASE_POLL).await,
                Err(e) => {
                    tracing::warn!("scan lease: {}", portcullis_core::ErrorChain(&e));
                    return Ok(Err(None));
                }
            }
        }
    }

    /// The digest a registry image resolves to now (one manifest request, nothing pulled;
    /// `logins` as for [`Scanner::scan_as`]); `None` for a target that is not a registry image.
    /// What a rescan asks first: a tag that still names the digest scanned needs no new list.
    pub async fn resolve_digest(
        &self,
        target: &str,
        logins: &std::collections::BTreeMap<String, portcullis_image::Login>,
    ) -> Result<Option<portcullis_core::Digest>> {
        let parsed: Target = target.parse().map_err(|e| Error::Target {
            target: target.to_string(),
            source: e,
        })?;
        Ok(
            portcullis_image::resolve_manifest(&parsed, &self.options_with(logins))
                .await?
                .map(|pending| pending.digest().clone()),
        )
    }

    /// The signatures and attestations a registry holds beside the image `target` names
    /// (nothing pulled but the manifests and their small blobs; `logins` as for
    /// [`Scanner::scan_as`]). A target that is not a registry image has none: an empty list
    /// with a problem saying why, so a signature rule never passes it.
    pub async fn attached(
        &self,
        target: &str,
        logins: &std::collections::BTreeMap<String, portcullis_image::Login>,
    ) -> Result<portcullis_core::Attached> {
        let parsed: Target = target.parse().map_err(|e| Error::Target {
            target: target.to_string(),
            source: e,
        })?;
        match portcullis_image::resolve_manifest(&parsed, &self.options_with(logins)).await? {
            Some(mut pending) => Ok(pending.attached().await?),
            None => Ok(portcullis_core::Attached {
                problems: vec![format!(
                    "{target} is not a registry image: signatures are looked up in registries"
                )],
                ..Default::default()
            }),
        }
    }

    /// Scans a target: inventory, then matches under the current database.
    pub async fn scan(&self, target: &str) -> Result<ScanReport> {
        self.scan_with(target, &self.cfg.image).await
    }

    /// [`Scanner::scan`] with extra registry logins for this scan only (a pod's pull secrets,
    /// by registry host): the admission webhook resolves and pulls as the pod would.
    pub async fn scan_as(
        &self,
        target: &str,
        logins: &std::collections::BTreeMap<String, portcullis_image::Login>,
    ) -> Result<ScanReport> {
        if logins.is_empty() {
            return self.scan(target).await;
        }
        self.scan_with(target, &self.options_with(logins)).await
    }

    /// The image options with extra registry logins (a pod's pull secrets, by host).
    fn options_with(
        &self,
        logins: &std::collections::BTreeMap<String, portcullis_image::Login>,
    ) -> ImageOptions {
        let mut opts = self.cfg.image.clone();
        opts.logins
            .extend(logins.iter().map(|(h, l)| (h.clone(), l.clone())));
        opts
    }

    async fn scan_with(&self, target: &str, opts: &ImageOptions) -> Result<ScanReport> {
        // The DB first: without one, pulling and walking the image is wasted (and slow).
        let db = self.db()?;
        let started = std::time::Instant::now();
        let inv = self.inventory_with(target, opts).await?;
        log_inventory(target, &inv, started.elapsed());
        self.record_sighting(target, &inv)?;
        let info = db.info();
        if let (Some(store), Some(digest)) = (&self.store, inv.image.digest.as_ref())
            && let Some(mut r) = store.report_for(digest, &info.version, &inv)?
        {
            r.target = target.to_string();
            r.image.reference = target.to_string();
            // Stored under the exceptions of its time; these may have changed since.
            self.match_parts().reapply(&mut r);
            tracing::info!(%target, db = %info.version, "report from the result store (same packages, same DB)");
            return Ok(r);
        }
        let matching = std::time::Instant::now();
        let report = tokio::task::spawn_blocking({
            let inv = inv.clone();
            let this = self.match_parts();
            move || this.report(&db, inv)
        })
        .await
        .map_err(|e| Error::Task(e.to_string()))??;
        log_matches(target, &report, matching.elapsed());
        if let (Some(store), Some(digest)) = (&self.store, report.image.digest.as_ref()) {
            keep_report(store.as_ref(), digest, &info.version, &report)?;
        }
        let mut report = report;
        report.target = target.to_string();
        Ok(report)
    }

    /// A package list made elsewhere (a CI scan pushed to the service): matched under the DB
    /// in force with this service's thresholds and exceptions, and kept like one made here
    /// (inventory, report, status history), as seen under `target` at `source`.
    pub fn accept_inventory(
        &self,
        target: &str,
        inv: Inventory,
        source: &str,
    ) -> Result<ScanReport> {
        let Some(store) = &self.store else {
            return Err(Error::NoStore {
                target: target.to_string(),
            });
        };
        let Some(digest) = inv.image.digest.clone() else {
            return Err(Error::NoDigest {
                target: target.to_string(),
            });
        };
        store.put_inventory(&digest, &inv)?;
        self.record_sighting_at(target, &inv, source)?;
        let db = self.db()?;
        let version = db.info().version;
        let mut report = self.match_parts().report(&db, inv)?;
        keep_report(store.as_ref(), &digest, &version, &report)?;
        report.target = target.to_string();
        Ok(report)
    }

    /// Records in the store that a registry image was seen under the name `target`, with the
    /// digest it resolved to (local targets have no place in the record of images).
    fn record_sighting(&self, target: &str, inv: &Inventory) -> Result<()> {
        let source = self.cfg.seen_at.clone().unwrap_or_else(|| "scan".into());
        self.record_sighting_at(target, inv, &source)
    }

    fn record_sighting_at(&self, target: &str, inv: &Inventory, source: &str) -> Result<()> {
        let (Some(store), Some(digest)) = (&self.store, &inv.image.digest) else {
            return Ok(());
        };
        let Ok(Target::Registry(r)) = target.parse::<Target>() else {
            return Ok(());
        };
        store.record_sightings(
            &[portcullis_core::ImageSighting {
                registry: r.registry,
                repository: r.repository,
                tag: r.tag,
                digest: digest.clone(),
                source: source.to_string(),
            }],
            time::OffsetDateTime::now_utc(),
        )?;
        Ok(())
    }

    /// Matches an inventory under the current database (no image IO): used for rematches after a DB update.
    pub fn rematch(&self, inv: Inventory) -> Result<ScanReport> {
        let db = self.db()?;
        self.match_parts().report(&db, inv)
    }

    /// The report of an SBOM given as bytes (CycloneDX or SPDX, JSON or XML), named `origin`:
    /// its packages matched under the current database, nothing pulled or stored. What an
    /// image's signed SBOM attestation is judged by.
    pub fn report_sbom(&self, bytes: &[u8], origin: &str) -> Result<ScanReport> {
        let mut inv = portcullis_sbom::decode(bytes, origin)?;
        inv.image.reference = origin.to_string();
        self.rematch(inv)
    }

    /// Rematches every package list in the store under the current database and stores the
    /// reports: what a DB update triggers, with no image IO. Lists are spread over the CPUs
    /// (matching is CPU work on shared, remembered DB lookups). Returns how many were done.
    pub fn rematch_stored(&self) -> Result<usize> {
        self.rematch_stored_because(ChangeCause::DbUpdate)
    }

    /// [`Scanner::rematch_stored`] for any cause (a DB update, new thresholds, new
    /// exceptions): every status that changes is recorded with `cause`.
    ///
    /// Replicas sharing a store take turns (`ReportStore::exclusively`), and after a DB update
    /// only lists without a report under the new version are matched: the second replica finds
    /// the work done, and no change is recorded twice.
    pub fn rematch_stored_because(&self, cause: ChangeCause) -> Result<usize> {
        let Some(store) = &self.store else {
            return Ok(0);
        };
        let mut result = Ok(0);
        store.exclusively("rematch", &mut || {
            result = self.rematch_under_lock(store.as_ref(), cause);
        })?;
        result
    }

    fn rematch_under_lock(&self, store: &dyn ResultStore, cause: ChangeCause) -> Result<usize> {
        let before: std::collections::HashMap<portcullis_core::Digest, Status> =
            store.latest_statuses()?.into_iter().collect();
        let db = self.db()?;
        let version = db.info().version;
        // After a DB update only what has no report under it yet; else every list.
        let without_report = (cause == ChangeCause::DbUpdate).then_some(version.as_str());
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let parts = self.match_parts();
        // Stored lists share most packages; each distinct one is evaluated once per rematch.
        let memo = portcullis_matcher::MatchMemo::default();
        // Page by page, so memory stays bounded whatever the number of images: threads decode,
        // match and encode a page, then its reports and the status changes they make are
        // written in one transaction. A failure leaves every batch all or nothing; the
        // rest is what a second try (or another replica) finds without a report.
        let mut after = None;
        let mut done = 0;
        loop {
            let batch = store.inventories_page(without_report, after.as_ref(), REMATCH_BATCH)?;
            let Some(last) = batch.last() else {
                break;
            };
            after = Some(last.digest.clone());
            done += batch.len();
            let chunk = batch.len().div_ceil(threads).max(1);
            let encoded = std::thread::scope(|s| {
                let workers: Vec<_> = batch
                    .chunks(chunk)
                    .map(|part| {
                        let (db, parts, memo) = (&db, &parts, &memo);
                        s.spawn(move || -> Result<Vec<(EncodedReport, Status)>> {
                            part.iter()
                                .map(|stored| {
                                    let inv = store.decode_inventory(stored)?;
                                    let mut report = parts.report_memo(db, inv, Some(memo))?;
                                    let status = report.summary.status;
                                    Ok((store.encode_report(&stored.digest, &mut report)?, status))
                                })
                                .collect()
                        })
                    })
                    .collect();
                let mut all = Vec::with_capacity(batch.len());
                for w in workers {
                    all.extend(
                        w.join()
                            .map_err(|_| Error::Task("a rematch thread panicked".into()))??,
                    );
                }
                Ok::<_, Error>(all)
            })?;
            let now = time::OffsetDateTime::now_utc();
            let changes: Vec<StatusChange> = encoded
                .iter()
                .filter(|(e, status)| before.get(&e.digest) != Some(status))
                .map(|(e, status)| StatusChange {
                    digest: e.digest.clone(),
                    time: now,
                    from: before.get(&e.digest).copied(),
                    to: *status,
                    cause,
                    db_version: version.clone(),
                })
                .collect();
            let encoded: Vec<EncodedReport> = encoded.into_iter().map(|(e, _)| e).collect();
            store.put_encoded_reports(&version, &encoded, &changes)?;
        }
        if done > 0 {
            let mark = store.mark_rematch(&version)?;
            self.own_mark
                .store(mark.generation, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(done)
    }

    fn match_parts(&self) -> MatchParts {
        MatchParts {
            thresholds: self.thresholds.read().clone(),
            exceptions: self.exceptions.read().clone(),
            vex: self.vex.read().clone(),
            matching: self.cfg.matching.clone(),
        }
    }
}

/// Whether `inv` has OS packages but no known distribution (only release-less advisories
/// apply to them).
fn image_lacks_distribution(inv: &Inventory) -> bool {
    inv.image.os.is_none() && inv.packages.iter().any(|p| p.ecosystem.is_os())
}

/// `-v`: what the walk found, by extractor.
fn log_inventory(target: &str, inv: &Inventory, took: std::time::Duration) {
    if !tracing::enabled!(tracing::Level::INFO) {
        return;
    }
    let mut by: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for p in &inv.packages {
        *by.entry(p.found_by.as_str()).or_default() += 1;
    }
    tracing::info!(
        %target,
        digest = ?inv.image.digest.as_ref().map(ToString::to_string),
        layers = inv.image.layers.len(),
        packages = inv.packages.len(),
        by_extractor = ?by,
        ms = took.as_millis(),
        "inventory made"
    );
}

/// `-v`: what matching found, by advisory source.
fn log_matches(target: &str, report: &ScanReport, took: std::time::Duration) {
    if !tracing::enabled!(tracing::Level::INFO) {
        return;
    }
    let mut by: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for m in &report.vulnerabilities {
        *by.entry(m.matched_by.source.as_str()).or_default() += 1;
    }
    tracing::info!(
        %target,
        db = %report.db.version,
        matches = report.vulnerabilities.len(),
        by_source = ?by,
        status = %report.summary.status,
        ms = took.as_millis(),
        "matched"
    );
}

/// Stored lists matched and written at a time by a rematch: large enough that commits cost
/// little, small enough that a cluster's worth of reports is never in memory at once.
const REMATCH_BATCH: usize = 250;

/// How long a scan lease lasts unless renewed; its holder renews it every third of that.
pub const LEASE_TTL: std::time::Duration = std::time::Duration::from_secs(30);
/// How often a replica waiting for another's scan looks for its result.
const LEASE_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// This replica, as Kubernetes Events and scan leases name it: the pod name in a cluster, else
/// the host name.
pub fn replica_name() -> String {
    std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "portcullis".into())
}

/// This process, as scan leases name it: the replica and the process id.
pub fn lease_holder() -> &'static str {
    static HOLDER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOLDER.get_or_init(|| format!("{}-{}", replica_name(), std::process::id()))
}

/// A scan lease held while this process makes a package list: renewed in the background, given
/// back when dropped (the scan finished, failed or was abandoned).
struct HeldLease {
    store: Arc<dyn ResultStore>,
    digest: portcullis_core::Digest,
    renew: tokio::task::JoinHandle<()>,
}

impl HeldLease {
    fn hold(store: Arc<dyn ResultStore>, digest: portcullis_core::Digest) -> HeldLease {
        let renew = tokio::spawn({
            let (store, digest) = (store.clone(), digest.clone());
            async move {
                loop {
                    tokio::time::sleep(LEASE_TTL / 3).await;
                    let (store, digest) = (store.clone(), digest.clone());
                    let renewed = tokio::task::spawn_blocking(move || {
                        store.try_lease(&digest, lease_holder(), LEASE_TTL)
                    })
                    .await;
                    if let Ok(Err(e)) = renewed {
                        tracing::warn!(
                            "renewing a scan lease: {}",
                            portcullis_core::ErrorChain(&e)
                        );
                    }
                }
            }
        });
        HeldLease {
            store,
            digest,
            renew,
        }
    }
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        self.renew.abort();
        if let Err(e) = self.store.release_lease(&self.digest, lease_holder()) {
            tracing::warn!(
                "giving back a scan lease: {}",
                portcullis_core::ErrorChain(&e)
            );
        }
    }
}

/// What matching needs, cloned out of the scanner so it can run on a blocking thread.
struct MatchParts {
    thresholds: Thresholds,
    exceptions: Arc<Vec<Exception>>,
    vex: Arc<Vec<VexStatement>>,
    matching: MatchOptions,
}

impl MatchParts {
    /// Applies these exceptions (and VEX) afresh to a finished report: what an earlier
    /// exception silenced is counted again unless one still applies.
    fn reapply(&self, report: &mut ScanReport) {
        for m in &mut report.vulnerabilities {
            m.ignored = None;
        }
        self.mark_excepted(&mut report.vulnerabilities, &report.image.reference);
        report.summary = portcullis_core::Summary::of(
            &report.vulnerabilities,
            &report.coverage,
            &self.thresholds,
        );
    }

    /// Marks the matches these exceptions and VEX statements silence for image `reference`.
    fn mark_excepted(&self, matches: &mut [portcullis_core::Match], reference: &str) {
        portcullis_matcher::apply_exceptions(
            matches,
            &self.exceptions,
            &self.vex,
            &portcullis_core::ImageRef::loose(reference),
            time::OffsetDateTime::now_utc(),
        );
    }

    fn report(&self, db: &Db, inv: Inventory) -> Result<ScanReport> {
        self.report_memo(db, inv, None)
    }

    /// [`MatchParts::report`], sharing findings with other lists matched under `db`.
    fn report_memo(
        &self,
        db: &Db,
        inv: Inventory,
        memo: Option<&portcullis_matcher::MatchMemo>,
    ) -> Result<ScanReport> {
        let mut matches = match memo {
            Some(m) => portcullis_matcher::match_inventory_memo(db, &inv, &self.matching, m)?,
            None => portcullis_matcher::match_inventory(db, &inv, &self.matching)?,
        };
        self.mark_excepted(&mut matches, &inv.image.reference);
        let coverage = portcullis_matcher::coverage(db, &inv, &self.matching)?;
        let info: DbInfo = db.info();
        let no_distribution = image_lacks_distribution(&inv);
        let Inventory {
            image,
            packages,
            mut warnings,
        } = inv;
        if no_distribution {
            warnings.push(portcullis_matcher::NO_DISTRIBUTION.to_string());
        }
        let mut r = portcullis_matcher::report(
            &image.reference.clone(),
            image,
            packages,
            matches,
            info,
            &self.thresholds,
        );
        r.warnings = warnings;
        r.summary = portcullis_core::Summary::of(&r.vulnerabilities, &coverage, &self.thresholds);
        r.coverage = coverage;
        r.scanned_at = Some(time::OffsetDateTime::now_utc());
        Ok(r)
    }
}

/// Walks a resolved image once through every extractor.
pub fn catalog(img: &portcullis_image::ResolvedImage, target: &str) -> Result<Inventory> {
    let mut cat = Cataloger::default();
    let walk_warnings = portcullis_image::walk_with_warnings(img, &mut |ev| cat.on_event(ev))
        .map_err(|e| Error::Walk {
            target: target.to_string(),
            source: e,
        })?;
    let (os, packages, mut warnings) = cat.finish();
    warnings.extend(walk_warnings);
    let mut image = img.info.clone();
    image.reference = target.to_string();
    image.os = os;
    image.config = img.config.as_ref().map(portcullis_image::image_config);
    Ok(Inventory {
        image,
        packages,
        warnings,
    })
}
