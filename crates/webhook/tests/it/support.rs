//! Test scanner, reports, policies and request helpers.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use portcullis_core::{
    Cvss, DbInfo, Digest, Ecosystem, ImageInfo, Match, MatchDetail, MatchedPackage, ScanReport,
    Severity, Summary, Thresholds, TrackerState,
};
use portcullis_policy::ContainerAdmissionPolicy;
use portcullis_webhook::{
    AdmissionReview, AppState, DecisionEvent, DecisionSink, ImageScanner, PullSecret, ScanFailure,
    WebhookConfig,
};
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// A digest derived from the image name, so tests can predict it.
pub(crate) fn digest_of(image: &str) -> Digest {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in image.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    Digest::sha256(&format!("sha256:{}", format!("{h:016x}").repeat(4))).expect("64 hex digits")
}

fn vuln(id: &str, score: f64, package: &str, fixed: &str) -> Match {
    Match {
        id: id.into(),
        aliases: vec![format!("CVE-{id}")],
        package: MatchedPackage {
            name: package.into(),
            version: "1.0".into(),
            ecosystem: Ecosystem::PyPI,
            purl: format!("pkg:pypi/{package}@1.0"),
        },
        fixed_versions: vec![fixed.into()],
        severity: Severity::from_score(score),
        cvss: Some(Box::new(Cvss {
            version: "3.1".into(),
            vector: String::new(),
            score,
            source: None,
        })),
        state: TrackerState::Fixed,
        matched_by: MatchDetail {
            matcher: "test".into(),
            searched: String::new(),
            range: String::new(),
            source: "test".into(),
            location: String::new(),
            layer: None,
        },
        ignored: None,
        summary: None,
        informational: None,
    }
}

/// A report for `image` with the given vulnerabilities (`(id, cvss)`).
pub(crate) fn report(image: &str, vulns: &[(&str, f64)]) -> Arc<ScanReport> {
    let matches: Vec<Match> = vulns
        .iter()
        .map(|(id, s)| vuln(id, *s, "requests", "2.0"))
        .collect();
    Arc::new(ScanReport {
        target: image.into(),
        image: ImageInfo {
            reference: image.into(),
            digest: Some(digest_of(image)),
            ..ImageInfo::default()
        },
        packages: Vec::new(),
        summary: Summary::compute(&matches, &Thresholds::default()),
        vulnerabilities: matches,
        db: DbInfo::default(),
        scanned_at: None,
        warnings: Vec::new(),
        coverage: Vec::new(),
    })
}

/// A clean (Pass) report.
pub(crate) fn clean(image: &str) -> Arc<ScanReport> {
    report(image, &[])
}

/// What `ImageScanner::scan` returns, for the test scanners.
pub(crate) type ScanFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Arc<ScanReport>, ScanFailure>> + Send + 'a>>;

/// An in-process scanner over maps: `cache` answers `cached()`, `scannable` what a scan
/// finds (then cached), `failing` the images whose scan fails. Counts scan calls and
/// records every `cached()` lookup.
#[derive(Default)]
pub(crate) struct MapScanner {
    pub(crate) cache: Mutex<HashMap<String, Arc<ScanReport>>>,
    pub(crate) scannable: Mutex<HashMap<String, Arc<ScanReport>>>,
    pub(crate) failing: Mutex<HashMap<String, ScanFailure>>,
    /// Time a scan takes (tokio time, so paused-clock tests control it).
    pub(crate) delay: Option<Duration>,
    pub(crate) scans: AtomicUsize,
    pub(crate) lookups: Mutex<Vec<String>>,
}

impl MapScanner {
    pub(crate) fn with_cached(reports: &[Arc<ScanReport>]) -> Self {
        let s = MapScanner::default();
        for r in reports {
            s.cache.lock().insert(r.target.clone(), r.clone());
        }
        s
    }

    pub(crate) fn with_scannable(reports: &[Arc<ScanReport>], delay: Option<Duration>) -> Self {
        let s = MapScanner {
            delay,
            ..MapScanner::default()
        };
        for r in reports {
            s.scannable.lock().insert(r.target.clone(), r.clone());
        }
        s
    }

    pub(crate) fn scan_calls(&self) -> usize {
        self.scans.load(Ordering::SeqCst)
    }
}

impl ImageScanner for MapScanner {
    fn scan(&self, image: &str, _pull_secrets: &[PullSecret]) -> ScanFuture<'_> {
        let image = image.to_string();
        Box::pin(async move {
            self.scans.fetch_add(1, Ordering::SeqCst);
            if let Some(d) = self.delay {
                tokio::time::sleep(d).await;
            }
            if let Some(f) = self.failing.lock().get(&image) {
                return Err(f.clone());
            }
            let found = self.scannable.lock().get(&image).cloned();
            match found {
                Some(r) => {
                    self.cache.lock().insert(image, r.clone());
                    Ok(r)
                }
                None => Err(ScanFailure::Pull {
                    image,
                    reason: "manifest unknown".into(),
                }),
            }
        })
    }

    fn cached(&self, image: &str) -> Option<Arc<ScanReport>> {
        self.lookups.lock().push(image.to_string());
        self.cache.lock().get(image).cloned()
    }
}

/// Records decisions.
#[derive(Default)]
pub(crate) struct Recorder(pub(crate) Mutex<Vec<DecisionEvent>>);

impl DecisionSink for Recorder {
    fn record(&self, event: &DecisionEvent) {
        self.0.lock().push(event.clone());
    }
}

/// Parses policies from YAML.
pub(crate) fn policies(yaml: &str) -> Vec<ContainerAdmissionPolicy> {
    let loaded = portcullis_policy::parse_text(yaml, "test");
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    loaded.policies
}

/// Rejects images from `evil.example/`, allows Pass/Warn, rejects the rest.
pub(crate) const TRUSTED: &str = r#"
apiVersion: containersecurity.portcullis.dev/v1
kind: ContainerAdmissionPolicy
metadata: {name: trusted-registries}
spec:
  order: 10
  selector: all()
  namespaceSelector: all()
  rules:
  - name: untrusted-registry
    action: Reject
    imagePath: {operator: IsOneOf, values: ['^evil\.example/.*']}
  - action: Allow
    imageScanStatus: {operator: IsOneOf, values: [Pass, Warn]}
  - action: Reject
"#;

pub(crate) fn state(cfg: WebhookConfig, scanner: Arc<MapScanner>, yaml: &str) -> Arc<AppState> {
    Arc::new(AppState::new(cfg, scanner, policies(yaml)))
}

/// A well-formed 50 MB AdmissionReview (uid `big`): five times the body limit.
pub(crate) fn oversized_review() -> Vec<u8> {
    let mut body =
        br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"big","x":""#
            .to_vec();
    body.resize(50 * 1024 * 1024, b'a');
    body.extend_from_slice(br#""}}"#);
    body
}

/// An AdmissionReview around `request`.
pub(crate) fn wrap(api_version: &str, request: Value) -> Value {
    json!({"apiVersion": api_version, "kind": "AdmissionReview", "request": request})
}

/// A Pod CREATE request in `namespace` with the given container images.
pub(crate) fn pod_request(uid: &str, namespace: &str, images: &[&str]) -> Value {
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, im)| json!({"name": format!("c{i}"), "image": im}))
        .collect();
    json!({
        "uid": uid,
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "namespace": namespace,
        "operation": "CREATE",
        "userInfo": {"username": "alice"},
        "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": namespace},
                   "spec": {"containers": containers}},
        "oldObject": null,
        "dryRun": false
    })
}

/// POSTs `body` to `path` and returns the status and parsed review.
pub(crate) async fn post(
    state: &Arc<AppState>,
    path: &str,
    body: Vec<u8>,
) -> (StatusCode, AdmissionReview) {
    let app = portcullis_webhook::router(state.clone());
    let req = Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let resp = app.oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let review: AdmissionReview = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "answer is not an AdmissionReview ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, review)
}

pub(crate) async fn validate(
    state: &Arc<AppState>,
    review: &Value,
) -> (StatusCode, AdmissionReview) {
    post(state, "/validate", serde_json::to_vec(review).unwrap()).await
}

/// GETs `path`, returning status and body text.
pub(crate) async fn get(state: &Arc<AppState>, path: &str) -> (StatusCode, String) {
    let app = portcullis_webhook::router(state.clone());
    let resp = app
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}
