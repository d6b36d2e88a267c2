//! What list and search routes read, kept as snapshots: the images with their latest status
//! (from the store) and an index of the held reports by vulnerability id (from memory).
//!
//! Making either takes tens of milliseconds at 10,000 images and 1,000,000 matches; a request
//! must not. A snapshot older than [`MAX_AGE`] is remade in the background while requests keep
//! reading the last one, but only while it is younger than [`STALE_LIMIT`]: under steady use
//! answers are at most seconds old, and the first request after a quiet spell (a user coming
//! back to the dashboard) waits for a fresh one rather than seeing the state of minutes ago. A
//! push drops it, so a pushed image is listed on the next request.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use portcullis_core::{Digest, ScanReport};

use crate::routes::ApiError;

/// How old a snapshot may be before a request has it remade.
pub(crate) const MAX_AGE: Duration = Duration::from_secs(2);
/// How old a snapshot may be and still be answered while a fresh one is made.
pub(crate) const STALE_LIMIT: Duration = Duration::from_secs(10);

/// A value made by a blocking function, remade when old while the old one is served.
pub(crate) struct Snapshot<T> {
    value: RwLock<Option<(Instant, Arc<T>)>>,
    /// When it was last dropped: nothing made from what was there before is kept.
    dropped: RwLock<Option<Instant>>,
    remaking: Arc<AtomicBool>,
    /// [`MAX_AGE`] and [`STALE_LIMIT`] (shorter in tests).
    ages: (Duration, Duration),
}

impl<T> Default for Snapshot<T> {
    fn default() -> Self {
        Snapshot {
            value: RwLock::new(None),
            dropped: RwLock::new(None),
            remaking: Arc::new(AtomicBool::new(false)),
            ages: (MAX_AGE, STALE_LIMIT),
        }
    }
}

impl<T: Send + Sync + 'static> Snapshot<T> {
    /// The snapshot: made now when there is none, else the one there (remade in the background
    /// when older than [`MAX_AGE`]).
    pub(crate) async fn get(
        self: &Arc<Self>,
        make: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<Arc<T>, ApiError> {
        let current = self.value.read().clone();
        match current {
            Some((at, v)) if at.elapsed() <= self.ages.1 => {
                if at.elapsed() > self.ages.0 && !self.remaking.swap(true, Ordering::AcqRel) {
                    let this = self.clone();
                    let started = Instant::now();
                    tokio::task::spawn_blocking(move || {
                        if let Ok(v) = make() {
                            this.keep(started, Arc::new(v));
                        }
                        this.remaking.store(false, Ordering::Release);
                    });
                }
                Ok(v)
            }
            _ => {
                let started = Instant::now();
                let v = Arc::new(crate::routes::blocking(make).await?);
                self.keep(started, v.clone());
                Ok(v)
            }
        }
    }

    /// Keeps `v`, made from what was there at `started`, unless a snapshot made later is kept
    /// already (a background remake finishing after a request's own must not undo it).
    fn keep(&self, started: Instant, v: Arc<T>) {
        let dropped = *self.dropped.read();
        let mut slot = self.value.write();
        if dropped.is_none_or(|d| d <= started)
            && slot.as_ref().is_none_or(|(at, _)| *at <= started)
        {
            *slot = Some((started, v));
        }
    }

    /// Drops the snapshot: the next request makes a new one.
    pub(crate) fn drop_it(&self) {
        *self.dropped.write() = Some(Instant::now());
        *self.value.write() = None;
    }
}

/// A report and the indexes of its matches for one vulnerability id.
pub(crate) type Hits = Vec<(Arc<ScanReport>, Vec<u32>)>;

/// The held reports by vulnerability id and alias (upper case): each report once (by digest),
/// with the indexes of its matches for that id.
#[derive(Default)]
pub(crate) struct VulnIndex {
    pub(crate) by_id: HashMap<String, Hits>,
    /// Every report once, by digest order.
    pub(crate) reports: Vec<Arc<ScanReport>>,
    /// Per vulnerability (its own id, not its aliases): the highest severity, whether every
    /// affected package has a fix, and the digests of the images where it counts.
    pub(crate) counted: Vec<Counted>,
    /// Digests of the images with at least one counted vulnerability that has a fix.
    pub(crate) fixable: std::collections::HashSet<String>,
    /// Each held report by its digest's text.
    pub(crate) by_digest: HashMap<String, Arc<ScanReport>>,
    /// Digests of the images with a vulnerable package of each name (lower case).
    pub(crate) by_package: HashMap<String, Vec<String>>,
}

/// One vulnerability's figures over the held reports.
pub(crate) struct Counted {
    pub(crate) id: String,
    pub(crate) severity: portcullis_core::Severity,
    pub(crate) fixable: bool,
    pub(crate) digests: Vec<Digest>,
}

impl VulnIndex {
    pub(crate) fn of(held: Vec<Arc<ScanReport>>) -> VulnIndex {
        let mut by_digest: HashMap<Digest, Arc<ScanReport>> = HashMap::new();
        for r in held {
            if let Some(d) = r.image.digest.clone() {
                by_digest.entry(d).or_insert(r);
            }
        }
        let mut reports: Vec<Arc<ScanReport>> = by_digest.into_values().collect();
        reports.sort_by(|a, b| a.image.digest.cmp(&b.image.digest));
        let mut by_id: HashMap<String, Hits> = HashMap::new();
        for r in &reports {
            let mut here: HashMap<String, Vec<u32>> = HashMap::new();
            for (i, m) in r.vulnerabilities.iter().enumerate() {
                let idx = u32::try_from(i).unwrap_or(u32::MAX);
                for id in std::iter::once(&m.id).chain(&m.aliases) {
                    let list = here.entry(id.to_ascii_uppercase()).or_default();
                    if list.last() != Some(&idx) {
                        list.push(idx);
                    }
                }
            }
            for (id, idxs) in here {
                by_id.entry(id).or_default().push((r.clone(), idxs));
            }
        }
        let mut counted: HashMap<&str, Counted> = HashMap::new();
        for r in &reports {
            let Some(d) = &r.image.digest else { continue };
            for m in r.vulnerabilities.iter().filter(|m| m.ignored.is_none()) {
                let c = counted.entry(m.id.as_str()).or_insert_with(|| Counted {
                    id: m.id.clone(),
                    severity: m.severity,
                    fixable: true,
                    digests: Vec::new(),
                });
                c.severity = c.severity.max(m.severity);
                c.fixable &= !m.fixed_versions.is_empty();
                if c.digests.last() != Some(d) {
                    c.digests.push(d.clone());
                }
            }
        }
        let counted = counted.into_values().collect();
        let fixable = reports
            .iter()
            .filter(|r| {
                r.vulnerabilities
                    .iter()
                    .any(|m| m.ignored.is_none() && !m.fixed_versions.is_empty())
            })
            .filter_map(|r| r.image.digest.as_ref().map(ToString::to_string))
            .collect();
        let mut summaries = HashMap::new();
        let mut by_package: HashMap<String, Vec<String>> = HashMap::new();
        for r in &reports {
            let Some(d) = &r.image.digest else { continue };
            let d = d.to_string();
            for m in &r.vulnerabilities {
                let list = by_package
                    .entry(m.package.name.to_ascii_lowercase())
                    .or_default();
                if list.last() != Some(&d) {
                    list.push(d.clone());
                }
            }
            summaries.insert(d, r.clone());
        }
        VulnIndex {
            by_id,
            reports,
            counted,
            fixable,
            by_digest: summaries,
            by_package,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick() -> Arc<Snapshot<u32>> {
        Arc::new(Snapshot {
            ages: (Duration::from_millis(30), Duration::from_millis(300)),
            ..Snapshot::default()
        })
    }

    async fn settle() {
        tokio::time::sleep(Duration::from_millis(60)).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn stale_answers_are_bounded_and_a_drop_is_never_undone() {
        let s = quick();
        assert_eq!(*s.get(|| Ok(1)).await.expect("made"), 1);
        assert_eq!(*s.get(|| Ok(2)).await.expect("fresh"), 1, "fresh: kept");
        settle().await;
        // Old but within the limit: answered, and remade behind.
        assert_eq!(*s.get(|| Ok(3)).await.expect("stale"), 1);
        settle().await;
        assert_eq!(*s.get(|| Ok(4)).await.expect("remade"), 3);
        // Past the limit: made before answering.
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert_eq!(*s.get(|| Ok(5)).await.expect("made again"), 5);
        // A remake started before a drop does not bring the old state back.
        settle().await;
        let slow = || {
            std::thread::sleep(Duration::from_millis(100));
            Ok(6)
        };
        assert_eq!(*s.get(slow).await.expect("stale"), 5);
        s.drop_it();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(*s.get(|| Ok(7)).await.expect("after the drop"), 7);
    }
}
