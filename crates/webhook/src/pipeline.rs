//! The production [`ImageScanner`]: the scan pipeline (`portcullis_scanner::Scanner`) behind the
//! webhook's seam, with the finished reports held in memory so that the admission hot path does
//! no IO.
//!
//! Reports are kept by image digest, the image's identity: two spellings of one image (`nginx`,
//! `docker.io/library/nginx:latest`, `nginx@sha256:...`) share one report, and a tag that moves to
//! a new digest is scanned as the new image it is. The images as written in pod specs point at
//! their digests. Both maps are bounded: past the capacity, the report cached longest ago goes
//! (a decision then scans again, or falls back as configured).

use futures_util::StreamExt as _;
use parking_lot::RwLock;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use portcullis_core::{Digest, ErrorChain, Exception, ScanReport, Thresholds};
use portcullis_scanner::Scanner;
use time::OffsetDateTime;

use crate::scan::{ImageScanner, PullSecret, ScanFailure};

/// How many reports [`PipelineScanner`] keeps by default: a large cluster's distinct images.
pub const DEFAULT_REPORT_CAPACITY: usize = 10_000;

/// The real scanner behind the webhook's seam.
pub struct PipelineScanner {
    scanner: Arc<Scanner>,
    cache: RwLock<ReportCache>,
    /// Whether some held report is marked stale: the hot path asks only then.
    any_stale: std::sync::atomic::AtomicBool,
}

/// How many registries a tag refresh asks at once.
const REFRESHES_AT_ONCE: usize = 4;

/// What [`PipelineScanner::refresh_tags`] found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TagRefresh {
    /// Images written with a tag that were asked about.
    pub checked: usize,
    /// Tags that named another digest now, scanned anew.
    pub moved: usize,
    /// Images whose registry could not be reached (or whose new digest failed to scan): the
    /// last good result stays, marked stale.
    pub stale: usize,
}

/// What a held report is known by: its image's digest, or (for a report without one, e.g. a
/// local directory) the image as written.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Digest(Digest),
    Unpinned(String),
}

/// Reports by digest, with the images that name each.
struct ReportCache {
    capacity: usize,
    reports: HashMap<Key, Cached>,
    /// Image as written → the key of its report.
    images: HashMap<String, Key>,
    /// Image as written → the pull secrets it was scanned with, for its rescans (only images
    /// scanned with some).
    secrets: HashMap<String, Arc<[PullSecret]>>,
    /// Keys, oldest first; a key cached again moves to the back (its old place is skipped).
    order: VecDeque<(Key, u64)>,
    next: u64,
}

struct Cached {
    report: Arc<ScanReport>,
    /// When it was cached: a report without its own scan time is as old as this.
    at: OffsetDateTime,
    /// The images written this way that point here.
    images: Vec<String>,
    /// Its place in `order`.
    generation: u64,
    /// Why this report may be out of date: the last rescan could not reach its registry.
    stale: Option<Arc<str>>,
}

impl ReportCache {
    fn new(capacity: usize) -> Self {
        ReportCache {
            capacity: capacity.max(1),
            reports: HashMap::new(),
            images: HashMap::new(),
            secrets: HashMap::new(),
            order: VecDeque::new(),
            next: 0,
        }
    }

    /// The report of `image` as written or, failing that, under its canonical name (how
    /// reports read from the store at start are known: `docker.io/library/nginx:1.25` answers
    /// for `nginx:1.25` too). Only a miss pays for the second look.
    fn get(&self, image: &str) -> Option<&Cached> {
        match self.images.get(image) {
            Some(key) => self.reports.get(key),
            None => self.reports.get(self.images.get(&canonical(image)?)?),
        }
    }

    fn insert(&mut self, image: &str, report: Arc<ScanReport>, at: OffsetDateTime) {
        let key = match &report.image.digest {
            Some(d) => Key::Digest(d.clone()),
            None => Key::Unpinned(image.to_string()),
        };
        // The image may have pointed at another digest (a moved tag).
        if let Some(old) = self.images.insert(image.to_string(), key.clone())
            && old != key
            && let Some(c) = self.reports.get_mut(&old)
        {
            c.images.retain(|i| i != image);
        }
        let generation = self.next;
        self.next += 1;
        let entry = self.reports.entry(key.clone()).or_insert_with(|| Cached {
            report: report.clone(),
            at,
            images: Vec::new(),
            generation,
            stale: None,
        });
        entry.report = report;
        entry.at = at;
        entry.generation = generation;
        entry.stale = None;
        if !entry.images.iter().any(|i| i == image) {
            entry.images.push(image.to_string());
        }
        self.order.push_back((key, generation));
        while self.reports.len() > self.capacity {
            let Some((key, generation)) = self.order.pop_front() else {
                break;
            };
            if self
                .reports
                .get(&key)
                .is_some_and(|c| c.generation == generation)
                && let Some(gone) = self.reports.remove(&key)
            {
                for i in gone.images {
                    self.images.remove(&i);
                    self.secrets.remove(&i);
                }
            }
        }
        // Places left behind by keys cached again; keeps `order` within twice the capacity.
        if self.order.len() > 2 * self.capacity {
            let reports = &self.reports;
            self.order
                .retain(|(k, g)| reports.get(k).is_some_and(|c| c.generation == *g));
        }
    }
}

/// The name an image reference is known by whatever its spelling: `REGISTRY/REPOSITORY@DIGEST`
/// when pinned, else `REGISTRY/REPOSITORY:TAG` (`latest` when none is written).
fn canonical(image: &str) -> Option<String> {
    image.parse().ok().map(canonical_name)
}

/// [`canonical`] of a reference already split: the digest when there is one, else the tag.
fn canonical_name(mut r: portcullis_core::ImageRef) -> String {
    if r.digest.is_some() {
        r.tag = None;
    }
    r.to_string()
}

impl PipelineScanner {
    /// The scanner, keeping up to [`DEFAULT_REPORT_CAPACITY`] reports.
    pub fn new(scanner: Scanner) -> Self {
        Self::with_capacity(scanner, DEFAULT_REPORT_CAPACITY)
    }

    /// The scanner, keeping up to `capacity` reports (at least one).
    pub fn with_capacity(scanner: Scanner, capacity: usize) -> Self {
        PipelineScanner {
            scanner: Arc::new(scanner),
            cache: RwLock::new(ReportCache::new(capacity)),
            any_stale: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Scans an image (with the pod's pull secrets, if any) and keeps the report.
    pub async fn scan_image(
        &self,
        image: &str,
        pull_secrets: &[PullSecret],
    ) -> Result<Arc<ScanReport>, portcullis_scanner::Error> {
        let logins = logins_of(pull_secrets);
        let mut report = self.scanner.scan_as(image, &logins).await?;
        self.slim(&mut report);
        let report = Arc::new(report);
        let mut cache = self.cache.write();
        cache.insert(image, report.clone(), OffsetDateTime::now_utc());
        if pull_secrets.is_empty() {
            cache.secrets.remove(image);
        } else {
            cache.secrets.insert(image.to_string(), pull_secrets.into());
        }
        Ok(report)
    }

    /// Holds the stored reports of the images the store has seen (most recently seen first, up
    /// to the capacity) under the DB in force, by their canonical names: a restarted replica,
    /// or one that joins, answers for them from memory at once instead of scanning on the
    /// first admission. Images without a report under this DB are left to be scanned when
    /// asked for. Returns how many reports are held.
    pub fn warm_from_store(&self) -> Result<usize, portcullis_scanner::Error> {
        let Some(store) = self.scanner.store() else {
            return Ok(0);
        };
        let version = self.scanner.db()?.info().version;
        let mut seen = store.seen_images()?;
        seen.sort_by_key(|i| std::cmp::Reverse(i.last_seen));
        let capacity = self.cache.read().capacity;
        seen.truncate(capacity);
        // Oldest first: a tag seen on several digests ends on the one seen last.
        seen.reverse();
        let mut held = 0;
        for image in seen {
            // Held slim: the list is not read.
            let none = portcullis_core::Inventory::default();
            let Some(mut report) = store.report_for(&image.digest, &version, &none)? else {
                continue;
            };
            self.scanner.apply_exceptions(&mut report);
            self.slim(&mut report);
            let at = report.scanned_at.unwrap_or_else(OffsetDateTime::now_utc);
            let name = |tag: Option<&String>, digest: Option<&portcullis_core::Digest>| {
                canonical_name(portcullis_core::ImageRef {
                    registry: image.registry.clone(),
                    repository: image.repository.clone(),
                    tag: tag.cloned(),
                    digest: digest.cloned(),
                })
            };
            let pinned = name(None, Some(&image.digest));
            report.target = pinned.clone();
            report.image.reference = pinned.clone();
            let report = Arc::new(report);
            let mut cache = self.cache.write();
            cache.insert(&pinned, report.clone(), at);
            for tag in &image.tags {
                cache.insert(&name(Some(tag), None), report.clone(), at);
            }
            held += 1;
        }
        Ok(held)
    }

    /// Asks the registry what each held image written with a tag names now: a tag that moved
    /// is scanned as the new image it is (a new package list for a new digest only); one whose
    /// registry cannot be reached keeps its last good report, marked stale (decisions on it
    /// say so) until a later rescan reaches it. At most [`REFRESHES_AT_ONCE`] at a time.
    pub async fn refresh_tags(&self) -> TagRefresh {
        let held: Vec<(String, Key, Arc<[PullSecret]>)> = {
            let cache = self.cache.read();
            cache
                .images
                .iter()
                .filter(|(image, _)| !image.contains('@'))
                .map(|(image, key)| {
                    let secrets = cache
                        .secrets
                        .get(image)
                        .cloned()
                        .unwrap_or_else(|| Arc::new([]));
                    (image.clone(), key.clone(), secrets)
                })
                .collect()
        };
        let summary = parking_lot::Mutex::new(TagRefresh::default());
        futures_util::stream::iter(held)
            .for_each_concurrent(REFRESHES_AT_ONCE, |(image, key, secrets)| {
                let summary = &summary;
                async move {
                    let logins = logins_of(&secrets);
                    let outcome = match self.scanner.resolve_digest(&image, &logins).await {
                        Ok(Some(now)) if key == Key::Digest(now.clone()) => Ok(false),
                        Ok(None) => Ok(false),
                        Ok(Some(_)) => self.scan_image(&image, &secrets).await.map(|_| true),
                        Err(e) => Err(e),
                    };
                    let mut cache = self.cache.write();
                    let mut s = summary.lock();
                    s.checked += 1;
                    match outcome {
                        Ok(moved) => {
                            s.moved += usize::from(moved);
                            if let Some(c) = cache.reports.get_mut(&key) {
                                c.stale = None;
                            }
                        }
                        Err(e) => {
                            s.stale += 1;
                            let why = format!(
                                "the rescan of {} could not reach it ({})",
                                portcullis_core::format_time(OffsetDateTime::now_utc()),
                                ErrorChain(&e)
                            );
                            tracing::warn!(%image, "{why}; the last good result stays, marked stale");
                            if let Some(c) = cache.reports.get_mut(&key) {
                                c.stale = Some(why.into());
                            }
                        }
                    }
                }
            })
            .await;
        let summary = summary.into_inner();
        self.any_stale
            .store(summary.stale > 0, std::sync::atomic::Ordering::Relaxed);
        summary
    }

    /// Puts new exceptions in force, for the reports held in memory too (no rescan).
    pub fn set_exceptions(&self, exceptions: Vec<Exception>) {
        self.scanner.set_exceptions(exceptions);
        self.relabel_cached();
    }

    /// Puts OpenVEX statements in force beside the configured ones ([`Scanner::set_vex`]), for
    /// the reports held in memory too.
    pub fn set_vex(&self, added: Vec<portcullis_scanner::VexStatement>) {
        self.scanner.set_vex(added);
        self.relabel_cached();
    }

    /// Puts new thresholds in force, for the reports held in memory too (no rescan): the next
    /// decision already uses them.
    pub fn set_thresholds(&self, thresholds: Thresholds) {
        self.scanner.set_thresholds(thresholds);
        self.relabel_cached();
    }

    /// Applies the exceptions and thresholds in force to every report held in memory.
    fn relabel_cached(&self) {
        let mut cache = self.cache.write();
        for c in cache.reports.values_mut() {
            let mut r = ScanReport::clone(&c.report);
            self.scanner.apply_exceptions(&mut r);
            c.report = Arc::new(r);
        }
    }

    /// The scanner behind this adapter.
    pub fn scanner(&self) -> &Scanner {
        &self.scanner
    }

    /// Matches every report held in memory again under the current database (after a DB
    /// update), from the package lists the reports carry: no image is pulled, and decisions
    /// use the new reports as soon as this returns. A report the store already holds under the
    /// current database (after `Scanner::rematch_stored`) is taken from there, not matched
    /// twice. Returns how many were rematched; a report that fails to rematch keeps its old
    /// version (and the error is logged).
    pub fn rematch_cached(&self) -> usize {
        let held: Vec<(Key, Arc<ScanReport>)> = {
            let cache = self.cache.read();
            cache
                .reports
                .iter()
                .map(|(k, c)| (k.clone(), c.report.clone()))
                .collect()
        };
        let mut done = 0;
        let now = OffsetDateTime::now_utc();
        let version = self.scanner.db_version();
        for (key, old) in held {
            let fresh = self.rematched(&old, version.as_deref());
            match fresh {
                Ok(mut fresh) => {
                    fresh.target = old.target.clone();
                    self.slim(&mut fresh);
                    if let Some(c) = self.cache.write().reports.get_mut(&key) {
                        c.report = Arc::new(fresh);
                        c.at = now;
                        done += 1;
                    }
                }
                Err(e) => {
                    tracing::warn!(image = %old.target, "rematch failed; the last report stays: {}", ErrorChain(&e))
                }
            }
        }
        done
    }

    /// `old` under the DB in force (`version`): the store's report when a rematch of the store
    /// made it already, else matched here from the package list (held, or read from the store
    /// when the held report is slim). With the store down, a slim report cannot be matched
    /// again: it stays as it is until the owed rematch after the store is back.
    fn rematched(
        &self,
        old: &ScanReport,
        version: Option<&str>,
    ) -> Result<ScanReport, portcullis_scanner::Error> {
        let mut inventory = portcullis_core::Inventory {
            image: old.image.clone(),
            packages: old.packages.clone(),
            warnings: old.warnings.clone(),
        };
        let (Some(store), Some(digest)) = (self.scanner.store(), &old.image.digest) else {
            return self.scanner.rematch(inventory);
        };
        if let Some(v) = version
            && let Some(mut r) = store.report_for(digest, v, &inventory)?
        {
            r.image.reference = old.image.reference.clone();
            // Stored under the exceptions of its time.
            self.scanner.apply_exceptions(&mut r);
            return Ok(r);
        }
        if inventory.packages.is_empty()
            && let Some(stored) = store.inventory(digest)?
        {
            inventory.packages = stored.packages;
        }
        self.scanner.rematch(inventory)
    }

    /// Makes a report held in memory slim when the store keeps it whole: without the package
    /// list and each match's evidence (its summary, purl, CVSS vector and how it matched), and
    /// with what decisions, exceptions and thresholds read (ids, package name and version,
    /// fixes, severity and score, where the package was found). A list is most of a report's memory; 10,000 images held
    /// whole would take gigabytes.
    fn slim(&self, report: &mut ScanReport) {
        if self.scanner.store().is_none() || report.image.digest.is_none() {
            return;
        }
        report.packages = Vec::new();
        let layers = &report.image.layers;
        for m in &mut report.vulnerabilities {
            // Where the package was found stays: denials show it. The layer's digest is the
            // image's (one allocation for all its matches, not one each).
            let layer = m.matched_by.layer.take().map(|l| {
                layers
                    .iter()
                    .find(|known| **known == l)
                    .cloned()
                    .unwrap_or(l)
            });
            m.matched_by = portcullis_core::MatchDetail {
                location: std::mem::take(&mut m.matched_by.location),
                layer,
                ..Default::default()
            };
            m.summary = None;
            m.package.purl = String::new();
            if let Some(c) = &mut m.cvss {
                c.version = String::new();
                c.vector = String::new();
                c.source = None;
            }
            m.aliases.shrink_to_fit();
            m.fixed_versions.shrink_to_fit();
        }
        report.vulnerabilities.shrink_to_fit();
        // Of the coverage, what decisions say and statuses count: what was not examined.
        report.coverage.retain(|c| !c.examined());
        report.coverage.shrink_to_fit();
    }

    /// How many reports are held.
    pub fn cached_reports(&self) -> usize {
        self.cache.read().reports.len()
    }

    /// Every report held now (slim when the store keeps them whole): what the API searches by
    /// vulnerability without reading the store.
    pub fn held_reports(&self) -> Vec<Arc<ScanReport>> {
        self.cache
            .read()
            .reports
            .values()
            .map(|c| c.report.clone())
            .collect()
    }

    /// Holds a report made elsewhere (a pushed CI scan) under `image`, as a scan here would:
    /// admissions of that image decide from it, and the API finds it.
    pub fn hold(&self, image: &str, mut report: ScanReport) {
        self.slim(&mut report);
        self.cache
            .write()
            .insert(image, Arc::new(report), OffsetDateTime::now_utc());
    }
}

impl ImageScanner for PipelineScanner {
    fn scan(
        &self,
        image: &str,
        pull_secrets: &[PullSecret],
    ) -> Pin<Box<dyn Future<Output = Result<Arc<ScanReport>, ScanFailure>> + Send + '_>> {
        let image = image.to_string();
        let pull_secrets = pull_secrets.to_vec();
        Box::pin(async move {
            self.scan_image(&image, &pull_secrets).await.map_err(|e| {
                let reason = ErrorChain(&e).to_string();
                match e {
                    portcullis_scanner::Error::Image(_)
                    | portcullis_scanner::Error::Target { .. } => ScanFailure::Pull {
                        image: image.clone(),
                        reason,
                    },
                    portcullis_scanner::Error::NoDb | portcullis_scanner::Error::Db(_) => {
                        ScanFailure::Unavailable(reason)
                    }
                    _ => ScanFailure::Scan {
                        image: image.clone(),
                        reason,
                    },
                }
            })
        })
    }

    fn cached(&self, image: &str) -> Option<Arc<ScanReport>> {
        self.cache.read().get(image).map(|c| c.report.clone())
    }

    fn match_sbom(
        &self,
        image: &str,
        sbom: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Result<Arc<ScanReport>, ScanFailure>> + Send + '_>> {
        let image = image.to_string();
        Box::pin(async move {
            let failed = |reason: String| ScanFailure::Scan {
                image: image.clone(),
                reason,
            };
            let scanner = self.scanner.clone();
            let origin = format!("the SBOM attested for {image}");
            let report = tokio::task::spawn_blocking(move || {
                scanner
                    .report_sbom(&sbom, &origin)
                    .map_err(|e| ErrorChain(&e).to_string())
            })
            .await
            .map_err(|e| failed(e.to_string()))?
            .map_err(failed)?;
            Ok(Arc::new(report))
        })
    }

    fn attached(
        &self,
        image: &str,
        pull_secrets: &[PullSecret],
    ) -> Pin<Box<dyn Future<Output = Result<portcullis_core::Attached, ScanFailure>> + Send + '_>>
    {
        let image = image.to_string();
        let logins = logins_of(pull_secrets);
        Box::pin(async move {
            self.scanner
                .attached(&image, &logins)
                .await
                .map_err(|e| ScanFailure::Pull {
                    reason: ErrorChain(&e).to_string(),
                    image,
                })
        })
    }

    fn stale(&self, image: &str) -> Option<Arc<str>> {
        if !self.any_stale.load(std::sync::atomic::Ordering::Relaxed) {
            return None;
        }
        self.cache.read().get(image)?.stale.clone()
    }

    fn scanned_at(&self, image: &str, report: &ScanReport) -> Option<OffsetDateTime> {
        // The report's own time first: one restored from the store is as old as its match.
        report
            .scanned_at
            .or_else(|| self.cache.read().get(image).map(|c| c.at))
    }

    fn db_age(&self) -> Option<std::time::Duration> {
        let db = self.scanner.config().db.as_ref()?;
        if !db.is_file() {
            return None;
        }
        self.scanner.db().ok().map(|d| d.age())
    }

    fn unavailable(&self) -> Vec<String> {
        match &self.scanner.config().db {
            Some(p) if !p.is_file() => vec![format!(
                "vulnerability database {} is missing: run `portcullis db import --db {} SOURCE...` or `portcullis db update`",
                p.display(),
                p.display()
            )],
            _ => vec![],
        }
    }
}

/// The registry logins in a pod's pull secrets; for a host named by several, the first secret
/// wins (the pod's own before its service account's, in list order). A secret that does not
/// parse is skipped with a warning: the pull may still work anonymously, and the scan error
/// then says what failed.
fn logins_of(secrets: &[PullSecret]) -> BTreeMap<String, portcullis_image::Login> {
    let mut logins = BTreeMap::new();
    for s in secrets.iter().rev() {
        let text = String::from_utf8_lossy(&s.dockerconfigjson);
        match portcullis_image::parse_pull_secret(&text, Path::new(&format!("secret/{}", s.name))) {
            Ok(found) => logins.extend(found),
            Err(e) => tracing::warn!(secret = %s.name, "pull secret ignored: {}", ErrorChain(&e)),
        }
    }
    logins
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_scanner::ScannerConfig;

    fn scanner(dir: &Path, capacity: usize) -> PipelineScanner {
        PipelineScanner::with_capacity(
            Scanner::new(ScannerConfig {
                store: Some(portcullis_scanner::StoreUrl::Sqlite(dir.join("r.db"))),
                ..Default::default()
            })
            .expect("scanner"),
            capacity,
        )
    }

    fn report(image: &str, digest: Option<u8>) -> Arc<ScanReport> {
        let mut r = portcullis_matcher::report(
            image,
            portcullis_core::ImageInfo::default(),
            Vec::new(),
            Vec::new(),
            portcullis_core::DbInfo::default(),
            &portcullis_core::Thresholds::default(),
        );
        r.image.digest = digest.map(portcullis_test_support::build::digest);
        Arc::new(r)
    }

    fn put(s: &PipelineScanner, image: &str, r: Arc<ScanReport>) {
        s.cache.write().insert(image, r, OffsetDateTime::now_utc());
    }

    #[test]
    fn a_reports_own_scan_time_wins_over_when_it_was_cached() {
        let dir = tempfile::tempdir().expect("tempdir");
        let scanner = scanner(dir.path(), 10);
        let mut r = ScanReport::clone(&report("r/app:1", None));
        assert_eq!(scanner.scanned_at("r/app:1", &r), None);
        r.scanned_at = Some(time::macros::datetime!(2020-01-02 03:04:05 UTC));
        assert_eq!(
            scanner.scanned_at("r/app:1", &r),
            Some(time::macros::datetime!(2020-01-02 03:04:05 UTC))
        );
    }

    #[test]
    fn spellings_of_one_digest_share_a_report_and_a_moved_tag_does_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = scanner(dir.path(), 10);
        put(&s, "nginx", report("nginx", Some(0xaa)));
        put(
            &s,
            "docker.io/library/nginx:latest",
            report("x", Some(0xaa)),
        );
        assert_eq!(s.cached_reports(), 1);
        assert_eq!(
            s.cached("nginx").and_then(|r| r.image.digest.clone()),
            Some(portcullis_test_support::build::digest(0xaa))
        );
        // The tag moves: `nginx` now names another image; the old spelling keeps the old one.
        put(&s, "nginx", report("nginx", Some(0xbb)));
        assert_eq!(
            s.cached("nginx").and_then(|r| r.image.digest.clone()),
            Some(portcullis_test_support::build::digest(0xbb))
        );
        assert_eq!(
            s.cached("docker.io/library/nginx:latest")
                .and_then(|r| r.image.digest.clone()),
            Some(portcullis_test_support::build::digest(0xaa))
        );
        assert!(s.cached("never-scanned").is_none());
    }

    #[test]
    fn short_spellings_find_reports_held_by_canonical_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = scanner(dir.path(), 10);
        let d = portcullis_test_support::build::digest(0xcc);
        put(&s, "docker.io/library/nginx:1.25", report("x", Some(0xcc)));
        put(
            &s,
            &format!("docker.io/library/nginx@{d}"),
            report("x", Some(0xcc)),
        );
        put(
            &s,
            "registry.local:5000/team/app:latest",
            report("x", Some(0xdd)),
        );
        for short in ["nginx:1.25", "library/nginx:1.25", "docker.io/nginx:1.25"] {
            assert_eq!(
                s.cached(short).and_then(|r| r.image.digest.clone()),
                Some(d.clone()),
                "{short}"
            );
        }
        assert!(s.cached(&format!("nginx@{d}")).is_some(), "pinned");
        assert!(
            s.cached(&format!("nginx:1.25@{d}")).is_some(),
            "pinned with a tag"
        );
        assert!(s.cached("registry.local:5000/team/app").is_some(), "latest");
        assert!(s.cached("nginx:1.26").is_none());
        assert!(s.cached("not a reference").is_none());
    }

    #[test]
    fn the_cache_is_bounded_and_drops_the_oldest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = scanner(dir.path(), 3);
        for i in 0..5 {
            put(&s, &format!("app:{i}"), report("x", Some(i)));
        }
        assert_eq!(s.cached_reports(), 3);
        assert!(s.cached("app:0").is_none() && s.cached("app:1").is_none());
        assert!(s.cached("app:2").is_some() && s.cached("app:4").is_some());
        // Cached again, an image is young again.
        put(&s, "app:2", report("x", Some(2)));
        put(&s, "app:5", report("x", Some(5)));
        assert!(s.cached("app:2").is_some(), "refreshed, so kept");
        assert!(s.cached("app:3").is_none(), "the oldest went");
        // Many refreshes of one image keep the bookkeeping bounded too.
        for _ in 0..100 {
            put(&s, "app:5", report("x", Some(5)));
        }
        let cache = s.cache.read();
        assert!(cache.order.len() <= 2 * 3 + 1, "{}", cache.order.len());
        assert!(cache.images.len() <= 3);
    }
}
