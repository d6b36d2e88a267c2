//! Which requests are evaluated, and what the answers say.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::StatusCode;
use portcullis_policy::{Mode, PolicySet};
use portcullis_webhook::{
    API_V1, API_V1BETA1, AppState, OfflineOptions, StaticNamespaceLabels, WebhookConfig,
    review_offline,
};
use serde_json::{Value, json};

use crate::support::*;

const EVIL: &str = "evil.example/app:1";

fn evil_state(cfg: WebhookConfig) -> Arc<AppState> {
    state(
        cfg,
        Arc::new(MapScanner::with_cached(&[clean(EVIL), clean("nginx:1.25")])),
        TRUSTED,
    )
}

fn allowed(answer: &portcullis_webhook::AdmissionReview) -> bool {
    answer.response.as_ref().unwrap().allowed
}

#[tokio::test]
async fn untrusted_pod_rejected_and_trusted_allowed() {
    let st = evil_state(WebhookConfig::default());
    let (_, a) = validate(&st, &wrap(API_V1, pod_request("u1", "default", &[EVIL]))).await;
    assert!(!allowed(&a));
    let (_, a) = validate(
        &st,
        &wrap(API_V1, pod_request("u2", "default", &["nginx:1.25"])),
    )
    .await;
    assert!(allowed(&a));
}

/// The message rejecting a pod of [`EVIL`] under [`TRUSTED`], checking that nothing was scanned.
async fn evil_rejection(scanner: Arc<MapScanner>) -> String {
    let st = state(WebhookConfig::default(), scanner.clone(), TRUSTED);
    let (_, a) = validate(&st, &wrap(API_V1, pod_request("u1", "default", &[EVIL]))).await;
    let r = a.response.unwrap();
    assert!(!r.allowed);
    assert_eq!(scanner.scan_calls(), 0);
    r.message().unwrap().to_string()
}

#[tokio::test]
async fn untrusted_image_without_a_report_rejected_without_a_scan() {
    // No scan result could change the rejection, so the image is never pulled.
    let msg = evil_rejection(Arc::new(MapScanner::with_scannable(&[clean(EVIL)], None))).await;
    // The rule by its name, and the criterion with the value it matched.
    assert!(
        msg.contains(r#"rule "untrusted-registry" (imagePath IsOneOf ["^evil\\.example/.*"]: evil.example/app:1)"#)
            && msg.contains("not scanned"),
        "{msg}"
    );
}

#[tokio::test]
async fn untrusted_image_with_a_cached_report_rejected_with_its_vulnerabilities() {
    // A cached report costs nothing to use, and the message then shows what the image holds.
    let cached = report(EVIL, &[("CVE-2024-0001", 9.8)]);
    let msg = evil_rejection(Arc::new(MapScanner::with_cached(&[cached]))).await;
    assert!(msg.contains(r#"rule "untrusted-registry""#), "{msg}");
    assert!(
        msg.contains("CVE-2024-0001") && msg.contains("max CVSS 9.8"),
        "{msg}"
    );
}

#[tokio::test]
async fn owned_pod_allowed_unless_evaluate_owned() {
    let mut req = pod_request("u1", "default", &[EVIL]);
    req["object"]["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "x-1", "uid": "r", "controller": true}]);
    let st = evil_state(WebhookConfig::default());
    let (_, a) = validate(&st, &wrap(API_V1, req.clone())).await;
    assert!(allowed(&a));
    let st = evil_state(WebhookConfig {
        evaluate_owned: true,
        ..WebhookConfig::default()
    });
    let (_, a) = validate(&st, &wrap(API_V1, req)).await;
    assert!(!allowed(&a));
}

#[tokio::test]
async fn update_with_same_images_allowed_changed_images_evaluated() {
    let st = evil_state(WebhookConfig::default());
    let mut req = pod_request("u1", "default", &[EVIL]);
    req["operation"] = "UPDATE".into();
    req["oldObject"] = req["object"].clone();
    req["object"]["metadata"]["labels"] = json!({"changed": "yes"});
    let (_, a) = validate(&st, &wrap(API_V1, req.clone())).await;
    assert!(allowed(&a), "unchanged images must not be re-evaluated");
    req["oldObject"]["spec"]["containers"][0]["image"] = "nginx:1.25".into();
    let (_, a) = validate(&st, &wrap(API_V1, req)).await;
    assert!(!allowed(&a), "a new image must be evaluated");
}

#[tokio::test]
async fn delete_and_connect_allowed() {
    let st = evil_state(WebhookConfig::default());
    for op in ["DELETE", "CONNECT"] {
        let mut req = pod_request("u1", "default", &[EVIL]);
        req["operation"] = op.into();
        if op == "DELETE" {
            req["oldObject"] = req["object"].take();
        }
        let (status, a) = validate(&st, &wrap(API_V1, req)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(allowed(&a), "{op}");
    }
}

#[tokio::test]
async fn exempt_namespaces_allowed() {
    let labels = StaticNamespaceLabels {
        namespaces: BTreeMap::from([(
            "sandbox".to_string(),
            BTreeMap::from([("portcullis.dev/ignore".to_string(), "true".to_string())]),
        )]),
    };
    let cfg = WebhookConfig {
        own_namespace: Some("portcullis".into()),
        ..WebhookConfig::default()
    };
    let scanner = Arc::new(MapScanner::with_cached(&[clean(EVIL)]));
    let st = Arc::new(
        AppState::new(cfg, scanner, policies(TRUSTED)).with_namespace_labels(Arc::new(labels)),
    );
    for ns in ["kube-system", "portcullis", "sandbox"] {
        let (_, a) = validate(&st, &wrap(API_V1, pod_request("u", ns, &[EVIL]))).await;
        assert!(allowed(&a), "{ns} is exempt");
    }
    let (_, a) = validate(&st, &wrap(API_V1, pod_request("u", "team-a", &[EVIL]))).await;
    assert!(!allowed(&a));
}

#[tokio::test]
async fn namespace_selector_sees_provider_labels() {
    let only_prod = r#"
apiVersion: containersecurity.portcullis.dev/v1
kind: ContainerAdmissionPolicy
metadata: {name: prod-only}
spec:
  selector: all()
  namespaceSelector: env == 'prod'
  rules:
  - action: Reject
"#;
    let labels = StaticNamespaceLabels {
        namespaces: BTreeMap::from([(
            "shop".to_string(),
            BTreeMap::from([("env".to_string(), "prod".to_string())]),
        )]),
    };
    let scanner = Arc::new(MapScanner::with_cached(&[clean("nginx:1.25")]));
    let st = Arc::new(
        AppState::new(WebhookConfig::default(), scanner, policies(only_prod))
            .with_namespace_labels(Arc::new(labels)),
    );
    let (_, a) = validate(
        &st,
        &wrap(API_V1, pod_request("u", "shop", &["nginx:1.25"])),
    )
    .await;
    assert!(!allowed(&a));
    let (_, a) = validate(&st, &wrap(API_V1, pod_request("u", "dev", &["nginx:1.25"]))).await;
    assert!(allowed(&a));
}

#[tokio::test]
async fn v1beta1_answered_as_v1beta1() {
    let st = evil_state(WebhookConfig::default());
    let (status, a) = validate(
        &st,
        &wrap(API_V1BETA1, pod_request("beta", "default", &[EVIL])),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(a.api_version, API_V1BETA1);
    let r = a.response.unwrap();
    assert_eq!(r.uid, "beta");
    assert!(!r.allowed);
}

#[tokio::test]
async fn unreadable_reviews_get_400_reviews() {
    let st = evil_state(WebhookConfig::default());
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (b"{not json".to_vec(), "", "not JSON"),
        (b"".to_vec(), "", "not JSON"),
        (br#"{"apiVersion":"admission.k8s.io/v1","kind":"Pod","request":{"uid":"k"}}"#.to_vec(), "k", "kind"),
        (br#"{"apiVersion":"v9","kind":"AdmissionReview","request":{"uid":"v"}}"#.to_vec(), "v", "apiVersion"),
        (br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"operation":"CREATE"}}"#.to_vec(), "", "uid"),
        (br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"m","operation":42}}"#.to_vec(), "m", "malformed"),
        (b"[1,2,3]".to_vec(), "", "apiVersion"),
    ];
    for (body, uid, needle) in cases {
        let (status, a) = post(&st, "/validate", body.clone()).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(a.kind, "AdmissionReview");
        let r = a.response.unwrap();
        assert_eq!(r.uid, uid);
        assert!(!r.allowed);
        let s = r.status.unwrap();
        assert_eq!(s.code, Some(400));
        assert!(
            s.message.as_deref().unwrap().contains(needle),
            "{:?} lacks {needle}",
            s.message
        );
    }
}

#[tokio::test]
async fn huge_body_refused_cleanly() {
    let st = evil_state(WebhookConfig::default());
    let body = oversized_review();
    // Without a Content-Length header: the body is cut off while reading.
    let (status, a) = post(&st, "/validate", body.clone()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let r = a.response.unwrap();
    assert!(!r.allowed);
    assert_eq!(r.status.unwrap().code, Some(413));
    // With one: refused before reading.
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;
    let req = Request::post("/validate")
        .header("content-length", body.len().to_string())
        .body(Body::from(body))
        .unwrap();
    let resp = portcullis_webhook::router(st.clone())
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn request_without_object_denied_not_crashed() {
    let st = evil_state(WebhookConfig::default());
    let mut req = pod_request("u", "default", &[EVIL]);
    req["object"] = Value::Null;
    let (status, a) = validate(&st, &wrap(API_V1, req)).await;
    assert_eq!(status, StatusCode::OK);
    let r = a.response.unwrap();
    assert!(!r.allowed);
    assert_eq!(r.status.unwrap().code, Some(400));
}

#[tokio::test]
async fn mutate_pins_digests_when_allowed_only() {
    let st = evil_state(WebhookConfig::default());
    let mut req = pod_request("m", "default", &["nginx:1.25"]);
    req["object"]["spec"]["initContainers"] = json!([{"name": "init", "image": "nginx:1.25"}]);
    let (_, a) = post(
        &st,
        "/mutate",
        serde_json::to_vec(&wrap(API_V1, req)).unwrap(),
    )
    .await;
    let r = a.response.unwrap();
    assert!(r.allowed);
    assert_eq!(r.patch_type.as_deref(), Some("JSONPatch"));
    let ops = r.patch_ops().unwrap();
    let pinned = format!("nginx@{}", digest_of("nginx:1.25"));
    let got: Vec<(String, String)> = ops
        .iter()
        .map(|o| (o.path.clone(), o.value.as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("/spec/containers/0/image".to_string(), pinned.clone()),
            ("/spec/initContainers/0/image".to_string(), pinned)
        ]
    );
    assert!(ops.iter().all(|o| o.op == "replace"));
    // Rejected: no patch.
    let (_, a) = post(
        &st,
        "/mutate",
        serde_json::to_vec(&wrap(API_V1, pod_request("m2", "default", &[EVIL]))).unwrap(),
    )
    .await;
    let r = a.response.unwrap();
    assert!(!r.allowed);
    assert!(r.patch.is_none());
    // /validate never patches.
    let (_, a) = validate(
        &st,
        &wrap(API_V1, pod_request("m3", "default", &["nginx:1.25"])),
    )
    .await;
    assert!(a.response.unwrap().patch.is_none());
}

#[tokio::test]
async fn vulnerable_image_rejected_naming_vulnerability() {
    let image = "registry.local/app:old";
    let scanner = Arc::new(MapScanner::with_cached(&[report(
        image,
        &[("GHSA-1", 9.8), ("GHSA-2", 5.0)],
    )]));
    let st = state(WebhookConfig::default(), scanner, TRUSTED);
    let (_, a) = validate(&st, &wrap(API_V1, pod_request("v", "default", &[image]))).await;
    let r = a.response.unwrap();
    assert!(!r.allowed);
    let msg = r.message().unwrap();
    assert!(
        msg.contains("GHSA-1") && msg.contains(image) && msg.contains("rule 3:"),
        "{msg}"
    );
}

#[tokio::test]
async fn audit_mode_admits_and_warns() {
    let st = evil_state(WebhookConfig {
        mode: Mode::Audit,
        ..WebhookConfig::default()
    });
    let (_, a) = validate(&st, &wrap(API_V1, pod_request("a", "default", &[EVIL]))).await;
    let r = a.response.unwrap();
    assert!(r.allowed);
    assert!(
        r.warnings.iter().any(|w| w.contains(EVIL)),
        "{:?}",
        r.warnings
    );
}

#[tokio::test]
async fn metrics_and_health() {
    let st = evil_state(WebhookConfig::default());
    let _ = validate(&st, &wrap(API_V1, pod_request("a", "team", &[EVIL]))).await;
    let _ = post(&st, "/validate", b"garbage".to_vec()).await;
    let (status, text) = get(&st, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("portcullis_webhook_decisions_total{")
                && l.contains("result=\"rejected\"")
        })
        .unwrap_or_else(|| panic!("no rejected decision in\n{text}"));
    assert!(
        line.contains("policy=\"trusted-registries\"")
            && line.contains("rule=\"untrusted-registry\""),
        "{line}"
    );
    assert!(
        line.contains("kind=\"Pod\"") && line.contains("namespace=\"team\""),
        "{line}"
    );
    assert!(text.contains("result=\"invalid\""), "{text}");
    // The image's report is cached, so the rejection is decided on it (no scan needed).
    assert!(
        text.contains("portcullis_webhook_scan_cache_hits_total 1"),
        "{text}"
    );
    assert!(
        text.contains("portcullis_webhook_scan_cache_misses_total 0"),
        "{text}"
    );
    assert!(
        text.contains("portcullis_webhook_request_duration_seconds_count{endpoint=\"validate\"}"),
        "{text}"
    );
    let (status, body) = get(&st, "/healthz").await;
    assert_eq!((status, body.trim()), (StatusCode::OK, "ok"));
}

#[tokio::test]
async fn readyz_reports_scanner_trouble_and_missing_policies() {
    struct Down;
    impl portcullis_webhook::ImageScanner for Down {
        fn scan(&self, image: &str, _: &[portcullis_webhook::PullSecret]) -> ScanFuture<'_> {
            let e =
                portcullis_webhook::ScanFailure::Unavailable(format!("no database for {image}"));
            Box::pin(async move { Err(e) })
        }
        fn cached(&self, _: &str) -> Option<Arc<portcullis_core::ScanReport>> {
            None
        }
        fn unavailable(&self) -> Vec<String> {
            vec!["vulnerability database missing".into()]
        }
    }
    let st = Arc::new(AppState::new(
        WebhookConfig::default(),
        Arc::new(Down),
        Vec::new(),
    ));
    // No policy reads scans: the trouble is reported, and the webhook stays ready.
    let (status, body) = get(&st, "/readyz").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("vulnerability database missing"), "{body}");
    assert!(body.contains("no policies loaded"), "{body}");
    // TRUSTED allows only Pass and Warn results: it needs the scanner.
    st.set_policies(policies(TRUSTED));
    let (status, body) = get(&st, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("vulnerability database missing"), "{body}");
    let healthy = evil_state(WebhookConfig::default());
    let (status, body) = get(&healthy, "/readyz").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["degraded"], json!([]));
    assert_eq!(v["policies"], 1);
}

#[tokio::test]
async fn readyz_lists_degraded_sources_but_stays_ready() {
    // A source that reports trouble (in a cluster: a watch that lost the API server).
    struct Lost;
    impl portcullis_webhook::HealthSource for Lost {
        fn degraded(&self) -> Vec<String> {
            vec!["policy watch failing: connection refused".into()]
        }
    }
    let st = Arc::new(
        AppState::new(
            WebhookConfig::default(),
            Arc::new(MapScanner::with_cached(&[clean(EVIL)])),
            policies(TRUSTED),
        )
        .with_health_source(Arc::new(Lost)),
    );
    let (status, body) = get(&st, "/readyz").await;
    // Decisions continue from the last good state: degraded, not unready.
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["degraded"],
        json!(["policy watch failing: connection refused"])
    );
}

#[test]
fn offline_review_matches_the_server_path() {
    let (set, errors) = PolicySet::new(policies(TRUSTED));
    assert!(errors.is_empty());
    let reports = |image: &str| match image {
        "nginx:1.25" => Some(clean(image)),
        "bad:1" => Some(report(image, &[("GHSA-9", 9.1)])),
        _ => None,
    };
    let opts = OfflineOptions::default();
    let review = |uid: &str, images: &[&str]| {
        serde_json::to_vec(&wrap(API_V1, pod_request(uid, "default", images))).unwrap()
    };

    let a = review_offline(&set, &review("ok", &["nginx:1.25"]), &reports, &opts);
    assert_eq!(a.api_version, API_V1);
    let r = a.response.unwrap();
    assert_eq!(r.uid, "ok");
    assert!(r.allowed);

    let r = review_offline(&set, &review("bad", &["bad:1"]), &reports, &opts)
        .response
        .unwrap();
    assert!(!r.allowed);
    assert!(r.message().unwrap().contains("GHSA-9"));

    let r = review_offline(&set, &review("unknown", &["nowhere:1"]), &reports, &opts)
        .response
        .unwrap();
    assert!(!r.allowed);
    assert!(
        r.message()
            .unwrap()
            .contains("no scan report for nowhere:1"),
        "{:?}",
        r.message()
    );

    let allow = OfflineOptions {
        config: WebhookConfig {
            on_scan_error: portcullis_webhook::FailureAction::Allow,
            ..WebhookConfig::default()
        },
        ..OfflineOptions::default()
    };
    let r = review_offline(&set, &review("unknown", &["nowhere:1"]), &reports, &allow)
        .response
        .unwrap();
    assert!(r.allowed);
    assert!(r.warnings.iter().any(|w| w.contains("nowhere:1")));

    let r = review_offline(&set, b"nonsense", &reports, &opts)
        .response
        .unwrap();
    assert!(!r.allowed);
    assert_eq!(r.status.unwrap().code, Some(400));

    // As on the server: an image no scan could matter for needs no report. An untrusted path is
    // rejected on its path, and a workload no policy selects is admitted.
    let r = review_offline(
        &set,
        &review("evil", &["evil.example/x:1"]),
        &reports,
        &opts,
    )
    .response
    .unwrap();
    assert!(!r.allowed);
    assert!(
        !r.message().unwrap().contains("no scan report"),
        "{:?}",
        r.message()
    );
    let (none, _) = PolicySet::new(Vec::new());
    let r = review_offline(&none, &review("free", &["nowhere:1"]), &reports, &opts)
        .response
        .unwrap();
    assert!(r.allowed, "{:?}", r.message());
}

/// The DB's age shows on `/readyz` and as `portcullis_db_age_seconds`, beside the webhook's own
/// metrics (whose names stay `portcullis_webhook_*`).
#[tokio::test]
async fn the_db_age_is_reported() {
    struct Aged;
    impl portcullis_webhook::ImageScanner for Aged {
        fn scan(&self, image: &str, _: &[portcullis_webhook::PullSecret]) -> ScanFuture<'_> {
            let e = portcullis_webhook::ScanFailure::Unavailable(format!("not here: {image}"));
            Box::pin(async move { Err(e) })
        }
        fn cached(&self, _: &str) -> Option<Arc<portcullis_core::ScanReport>> {
            None
        }
        fn db_age(&self) -> Option<std::time::Duration> {
            Some(std::time::Duration::from_secs(7200))
        }
    }
    let st = Arc::new(AppState::new(
        WebhookConfig::default(),
        Arc::new(Aged),
        Vec::new(),
    ));
    let (_, body) = get(&st, "/readyz").await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["db_age_seconds"], 7200, "{body}");
    let (_, metrics) = get(&st, "/metrics").await;
    assert!(
        metrics.contains("portcullis_db_age_seconds 7200"),
        "{metrics}"
    );
    assert!(
        metrics.contains("portcullis_webhook_decisions"),
        "{metrics}"
    );
    // Without a DB, neither says an age.
    let none = evil_state(WebhookConfig::default());
    let (_, body) = get(&none, "/readyz").await;
    assert!(!body.contains("db_age_seconds"), "{body}");
}
