//! The seam to the scanner, and the shared in-flight scans.
//!
//! The webhook never depends on the scanner crate: it sees an [`ImageScanner`], which the
//! `serve` command implements with the real pipeline and tests implement with a map. Scans
//! are started on a spawned task so that they outlive a request that stopped waiting (the
//! retry is then decided from the result), and concurrent requests for one image await the
//! same task instead of scanning it again.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};
use portcullis_core::{Attached, ScanReport};
use time::OffsetDateTime;

use crate::metrics::Metrics;

/// A registry credential from an `imagePullSecrets` entry.
#[derive(Clone, PartialEq, Eq)]
pub struct PullSecret {
    /// Secret name, for logs.
    pub name: String,
    /// The secret's `.dockerconfigjson` bytes.
    pub dockerconfigjson: Vec<u8>,
}

impl std::fmt::Debug for PullSecret {
    /// Never prints the credential.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullSecret")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Why a scan gave no report. Cloneable because one failure is handed to every request
/// that waited on the same scan; it carries text, not the scanner's own error types.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScanFailure {
    /// The image could not be resolved or pulled (unknown image, registry down, denied).
    #[error("cannot pull {image}: {reason}")]
    Pull {
        /// The image as written in the pod spec.
        image: String,
        /// What the registry or client said.
        reason: String,
    },
    /// The image was pulled but cataloguing or matching failed.
    #[error("scan of {image} failed: {reason}")]
    Scan {
        /// The image as written in the pod spec.
        image: String,
        /// What went wrong.
        reason: String,
    },
    /// The scanner cannot work at all (vulnerability database missing or unreadable).
    #[error("scanner unavailable: {0}")]
    Unavailable(String),
    /// The scan task ended without a result (it panicked or the runtime shut down).
    #[error("scan of {image} stopped without a result")]
    Aborted {
        /// The image as written in the pod spec.
        image: String,
    },
    /// No report is known for the image (offline reviews never scan).
    #[error("no scan report for {image}")]
    NoReport {
        /// The image as written in the pod spec.
        image: String,
    },
}

/// The scanner as the webhook sees it.
pub trait ImageScanner: Send + Sync + 'static {
    /// Resolves `image` (as written in the pod spec) to a digest and returns its scan
    /// report, scanning if needed.
    fn scan(
        &self,
        image: &str,
        pull_secrets: &[PullSecret],
    ) -> Pin<Box<dyn Future<Output = Result<Arc<ScanReport>, ScanFailure>> + Send + '_>>;

    /// A cached report if one exists, without any IO (the hot path of every admission).
    fn cached(&self, image: &str) -> Option<Arc<ScanReport>>;

    /// What the registry holds beside `image` (cosign signatures, attestations), fetched as
    /// the pod would pull. A scanner that cannot fetch them says so: signature rules then
    /// match nothing, and the failure is decided as a scan error.
    fn attached(
        &self,
        image: &str,
        _pull_secrets: &[PullSecret],
    ) -> Pin<Box<dyn Future<Output = Result<Attached, ScanFailure>> + Send + '_>> {
        let image = image.to_string();
        Box::pin(async move {
            Err(ScanFailure::Pull {
                image,
                reason: "this scanner does not fetch signatures".into(),
            })
        })
    }

    /// Why the cached report of `image` may be out of date, when it may: the last rescan could
    /// not reach its registry. Decisions on it say so.
    fn stale(&self, _image: &str) -> Option<Arc<str>> {
        None
    }

    /// The report of an SBOM an image's signed attestation carries: its packages matched
    /// against the DB in force, as a scan of `image` would be (no pull).
    fn match_sbom(
        &self,
        image: &str,
        _sbom: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Result<Arc<ScanReport>, ScanFailure>> + Send + '_>> {
        let image = image.to_string();
        Box::pin(async move {
            Err(ScanFailure::Scan {
                image,
                reason: "this scanner does not match SBOMs".into(),
            })
        })
    }

    /// When `report` was made, if known: policies can require a recent scan, and reports
    /// carry no time of their own. `None` makes the webhook use the time of the admission.
    fn scanned_at(&self, _image: &str, _report: &ScanReport) -> Option<OffsetDateTime> {
        None
    }

    /// Reasons the scanner cannot scan right now (database missing, store down), shown on
    /// `/readyz`. Empty when healthy.
    fn unavailable(&self) -> Vec<String> {
        Vec::new()
    }

    /// How old the vulnerability database in use is (since it was built), when there is one:
    /// `/readyz` and `portcullis_db_age_seconds` say it, so a DB that stopped updating shows.
    fn db_age(&self) -> Option<std::time::Duration> {
        None
    }
}

/// Looks up the pull secrets a pod would pull with (in a cluster, from the API server): the
/// ones it names and its service account's. Asked only when an image must be scanned, so a
/// slow lookup never touches the cached path.
pub trait PullSecretSource: Send + Sync + 'static {
    /// The secrets among `names`, plus those of `service_account`, that exist in `namespace`.
    fn pull_secrets<'a>(
        &'a self,
        namespace: &'a str,
        service_account: &'a str,
        names: &'a [String],
    ) -> Pin<Box<dyn Future<Output = Vec<PullSecret>> + Send + 'a>>;
}

type ScanResult = Result<Arc<ScanReport>, ScanFailure>;
type SharedScan = Shared<BoxFuture<'static, ScanResult>>;

/// Upper bound on remembered good reports, so a cluster churning through image tags cannot
/// grow memory without end.
const MAX_LAST_GOOD: usize = 4096;

/// Scans in flight, keyed by image, and the last good report of each image (the fail-safe
/// answer when a later scan fails or is too slow).
#[derive(Default)]
pub(crate) struct Scans {
    inflight: Mutex<HashMap<String, SharedScan>>,
    last_good: Mutex<HashMap<String, Arc<ScanReport>>>,
    /// Where scans run: the multi-threaded runtime that built the state, not the
    /// single-threaded one of the connection that asked (a scan would stall its other
    /// connections). `None`: the caller's runtime.
    runtime: Option<tokio::runtime::Handle>,
}

impl Scans {
    /// No scans yet; new ones are spawned on `runtime` (or on the caller's when `None`).
    pub(crate) fn new(runtime: Option<tokio::runtime::Handle>) -> Scans {
        Scans {
            runtime,
            ..Scans::default()
        }
    }

    /// The running scan of `image`, starting one on a spawned task if none runs. The
    /// boolean says whether this call started it.
    pub(crate) fn get_or_start(
        self: &Arc<Self>,
        scanner: &Arc<dyn ImageScanner>,
        image: &str,
        secrets: Vec<PullSecret>,
        metrics: &Arc<Metrics>,
    ) -> (SharedScan, bool) {
        let mut map = self.inflight.lock();
        if let Some(s) = map.get(image) {
            return (s.clone(), false);
        }
        let (tx, rx) = tokio::sync::oneshot::channel::<ScanResult>();
        let key = image.to_string();
        let waiting = {
            let image = key.clone();
            async move { rx.await.unwrap_or(Err(ScanFailure::Aborted { image })) }
                .boxed()
                .shared()
        };
        // Inserted before the task is spawned, under the lock the task needs to remove it,
        // so the task can never remove the entry before it exists.
        map.insert(key.clone(), waiting.clone());
        let (scans, scanner, metrics) =
            (Arc::clone(self), Arc::clone(scanner), Arc::clone(metrics));
        let task = async move {
            let started = Instant::now();
            let result = AssertUnwindSafe(scanner.scan(&key, &secrets))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err(ScanFailure::Aborted { image: key.clone() }));
            metrics.scan_finished(started.elapsed(), result.is_ok());
            match &result {
                Ok(report) => {
                    tracing::info!(image = %key, status = %report.summary.status, "scan finished");
                    let mut good = scans.last_good.lock();
                    if good.len() >= MAX_LAST_GOOD && !good.contains_key(&key) {
                        good.clear();
                    }
                    good.insert(key.clone(), Arc::clone(report));
                }
                Err(e) => tracing::warn!(image = %key, error = %e, "scan failed"),
            }
            scans.inflight.lock().remove(&key);
            // Nobody waiting any more is normal: the request timed out and the result is
            // only needed for the retry, which finds it in the scanner's cache.
            let _ = tx.send(result);
        };
        match &self.runtime {
            Some(rt) => drop(rt.spawn(task)),
            None => drop(tokio::spawn(task)),
        }
        (waiting, true)
    }

    /// The last report a scan of `image` produced in this process.
    pub(crate) fn last_good(&self, image: &str) -> Option<Arc<ScanReport>> {
        self.last_good.lock().get(image).cloned()
    }

    /// Number of scans in flight (for `/readyz` and tests).
    pub(crate) fn inflight_count(&self) -> usize {
        self.inflight.lock().len()
    }
}
