//! AdmissionReviews end to end through the webhook's `router()`: any body gets an
//! AdmissionReview back (never a panic, never another shape), answering the request's uid when
//! it had one. Scans fail at once (no registry), so decisions take the scan-error path; the
//! policies read paths, scan status and labels.
#![no_main]

use std::sync::{Arc, LazyLock};

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use portcullis_core::ScanReport;
use portcullis_webhook::{AppState, ImageScanner, PullSecret, ScanFailure, WebhookConfig, router};
use tower::ServiceExt;

struct NoRegistry;

impl ImageScanner for NoRegistry {
    fn scan(
        &self,
        image: &str,
        _: &[PullSecret],
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Arc<ScanReport>, ScanFailure>> + Send + '_>>
    {
        let image = image.to_string();
        Box::pin(async move {
            Err(ScanFailure::Pull {
                image,
                reason: "no registry here".into(),
            })
        })
    }

    fn cached(&self, _: &str) -> Option<Arc<ScanReport>> {
        None
    }
}

const POLICIES: &str = r#"
apiVersion: containersecurity.portcullis.dev/v1
kind: ContainerAdmissionPolicy
metadata: {name: registries}
spec:
  order: 1
  selector: app != 'trusted'
  rules:
  - action: Reject
    imagePath: {operator: IsOneOf, values: ['^docker\.io/', ':latest$']}
---
apiVersion: containersecurity.portcullis.dev/v1
kind: ContainerAdmissionPolicy
metadata: {name: scans}
spec:
  order: 2
  rules:
  - action: Allow
    imageScanStatus: {operator: IsOneOf, values: [Pass, Warn]}
  - action: Reject
"#;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
});

static APP: LazyLock<axum::Router> = LazyLock::new(|| {
    let _guard = RUNTIME.enter();
    let policies = portcullis_policy::parse_text(POLICIES, "policies.yaml").policies;
    let state = AppState::new(WebhookConfig::default(), Arc::new(NoRegistry), policies);
    router(Arc::new(state))
});

fuzz_target!(|data: &[u8]| {
    let uid = serde_json::from_slice::<serde_json::Value>(data)
        .ok()
        .and_then(|v| {
            v.pointer("/request/uid")
                .and_then(|u| u.as_str())
                .map(String::from)
        });
    let path = if data.first().is_some_and(|b| b % 2 == 1) {
        "/mutate"
    } else {
        "/validate"
    };
    let req = Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(data.to_vec()))
        .expect("a request");
    let body = RUNTIME.block_on(async {
        let resp = APP.clone().oneshot(req).await.expect("the router answers");
        resp.into_body().collect().await.expect("a body").to_bytes()
    });
    let review: serde_json::Value = serde_json::from_slice(&body).expect("the answer is JSON");
    assert_eq!(review["kind"], "AdmissionReview", "{review}");
    assert!(review["response"]["allowed"].is_boolean(), "{review}");
    if let Some(uid) = uid {
        let answered = review["response"]["uid"].as_str().unwrap_or_default();
        assert!(
            answered == uid || answered.is_empty(),
            "uid {uid:?} answered as {answered:?}"
        );
    }
});
