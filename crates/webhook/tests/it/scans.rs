//! Inline scans: the budget, sharing one scan between requests, failures.
//!
//! These run on tokio's paused clock: a scan "takes" an hour of virtual time, the budget is
//! spent first, and nothing depends on how fast the machine is.

use std::sync::Arc;
use std::time::Duration;

use portcullis_webhook::{API_V1, AppState, FailureAction, ScanFailure, WebhookConfig};

use crate::support::*;

const SLOW: &str = "registry.local/slow:1";

fn slow_scanner() -> Arc<MapScanner> {
    Arc::new(MapScanner::with_scannable(
        &[clean(SLOW)],
        Some(Duration::from_secs(3600)),
    ))
}

fn cfg(on_timeout: FailureAction) -> WebhookConfig {
    WebhookConfig {
        on_scan_timeout: on_timeout,
        ..WebhookConfig::default()
    }
    .with_webhook_timeout(Duration::from_secs(3))
}

#[tokio::test(start_paused = true)]
async fn scan_timeout_rejects_then_retry_uses_the_finished_scan() {
    let scanner = slow_scanner();
    let st = state(cfg(FailureAction::Reject), scanner.clone(), TRUSTED);
    let (_, a) = validate(&st, &wrap(API_V1, pod_request("t1", "default", &[SLOW]))).await;
    let r = a.response.unwrap();
    assert!(!r.allowed);
    let msg = r.message().unwrap();
    assert!(
        msg.contains(SLOW) && msg.contains("still running") && msg.contains("retry"),
        "{msg}"
    );
    assert!(
        scanner.cache.lock().is_empty(),
        "the scan cannot have finished yet"
    );
    // The scan goes on in the background; once it is done the retry is decided from it.
    tokio::time::sleep(Duration::from_secs(7200)).await;
    assert!(scanner.cache.lock().contains_key(SLOW));
    let (_, a) = validate(&st, &wrap(API_V1, pod_request("t2", "default", &[SLOW]))).await;
    assert!(a.response.unwrap().allowed);
    assert_eq!(scanner.scan_calls(), 1);
    let (_, metrics) = get(&st, "/metrics").await;
    assert!(
        metrics.contains("portcullis_webhook_scan_timeouts_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("portcullis_webhook_inline_scans_total 1"),
        "{metrics}"
    );
}

#[tokio::test(start_paused = true)]
async fn scan_timeout_allow_admits_with_a_warning() {
    let scanner = slow_scanner();
    let st = state(cfg(FailureAction::Allow), scanner, TRUSTED);
    let (_, a) = validate(&st, &wrap(API_V1, pod_request("t", "default", &[SLOW]))).await;
    let r = a.response.unwrap();
    assert!(r.allowed);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains(SLOW) && w.contains("still running")),
        "{:?}",
        r.warnings
    );
}

#[tokio::test(start_paused = true)]
async fn scan_within_budget_decides() {
    let scanner = Arc::new(MapScanner::with_scannable(
        &[clean(SLOW)],
        Some(Duration::from_millis(10)),
    ));
    let st = state(cfg(FailureAction::Reject), scanner.clone(), TRUSTED);
    let (_, a) = validate(&st, &wrap(API_V1, pod_request("t", "default", &[SLOW]))).await;
    assert!(a.response.unwrap().allowed);
    assert_eq!(scanner.scan_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn concurrent_requests_share_one_scan() {
    let scanner = Arc::new(MapScanner::with_scannable(
        &[clean(SLOW)],
        Some(Duration::from_secs(1)),
    ));
    let st = state(WebhookConfig::default(), scanner.clone(), TRUSTED);
    let requests = (0..10).map(|i| {
        let st = st.clone();
        async move {
            validate(
                &st,
                &wrap(API_V1, pod_request(&format!("c{i}"), "default", &[SLOW])),
            )
            .await
        }
    });
    let answers = futures_util::future::join_all(requests).await;
    for (i, (_, a)) in answers.into_iter().enumerate() {
        let r = a.response.unwrap();
        assert_eq!(r.uid, format!("c{i}"));
        assert!(r.allowed, "{:?}", r.status);
    }
    assert_eq!(scanner.scan_calls(), 1);
}

#[tokio::test]
async fn scan_error_rejects_or_allows_naming_the_error() {
    let image = "registry.local/broken:1";
    let scanner = Arc::new(MapScanner::default());
    scanner.failing.lock().insert(
        image.into(),
        ScanFailure::Pull {
            image: image.into(),
            reason: "401 unauthorized".into(),
        },
    );
    let st = state(WebhookConfig::default(), scanner.clone(), TRUSTED);
    let (_, a) = validate(&st, &wrap(API_V1, pod_request("e", "default", &[image]))).await;
    let r = a.response.unwrap();
    assert!(!r.allowed);
    assert!(
        r.message().unwrap().contains("401 unauthorized"),
        "{:?}",
        r.message()
    );
    let st = state(
        WebhookConfig {
            on_scan_error: FailureAction::Allow,
            ..WebhookConfig::default()
        },
        scanner,
        TRUSTED,
    );
    let (_, a) = validate(&st, &wrap(API_V1, pod_request("e", "default", &[image]))).await;
    let r = a.response.unwrap();
    assert!(r.allowed);
    assert!(
        r.warnings.iter().any(|w| w.contains("401 unauthorized")),
        "{:?}",
        r.warnings
    );
}

#[tokio::test]
async fn failed_rescan_falls_back_to_the_last_good_report() {
    let image = "registry.local/flaky:1";
    let scanner = Arc::new(MapScanner::with_scannable(&[clean(image)], None));
    let st = state(WebhookConfig::default(), scanner.clone(), TRUSTED);
    let (_, a) = validate(&st, &wrap(API_V1, pod_request("f1", "default", &[image]))).await;
    assert!(a.response.unwrap().allowed);
    // The scanner forgets the report (cache eviction) and can no longer reach the registry.
    scanner.cache.lock().clear();
    scanner.failing.lock().insert(
        image.into(),
        ScanFailure::Pull {
            image: image.into(),
            reason: "connection refused".into(),
        },
    );
    let (_, a) = validate(&st, &wrap(API_V1, pod_request("f2", "default", &[image]))).await;
    let r = a.response.unwrap();
    assert!(r.allowed, "{:?}", r.status);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("earlier scan") && w.contains("connection refused")),
        "{:?}",
        r.warnings
    );
    assert_eq!(scanner.scan_calls(), 2);
}

#[tokio::test]
async fn panicking_scanner_is_a_scan_error_not_a_crash() {
    struct Panics;
    impl portcullis_webhook::ImageScanner for Panics {
        fn scan(&self, _: &str, _: &[portcullis_webhook::PullSecret]) -> ScanFuture<'_> {
            Box::pin(async { panic!("scanner bug") })
        }
        fn cached(&self, _: &str) -> Option<Arc<portcullis_core::ScanReport>> {
            None
        }
    }
    let st = Arc::new(portcullis_webhook::AppState::new(
        WebhookConfig::default(),
        Arc::new(Panics),
        policies(TRUSTED),
    ));
    let (status, a) = validate(&st, &wrap(API_V1, pod_request("p", "default", &["x:1"]))).await;
    assert_eq!(status, axum::http::StatusCode::OK);
    let r = a.response.unwrap();
    assert_eq!(r.uid, "p");
    assert!(!r.allowed);
    assert!(
        r.message().unwrap().contains("stopped without a result"),
        "{:?}",
        r.message()
    );
}

/// Calico's semantics: only a policy whose outcome depends on the scan makes the webhook scan,
/// and only then can a scan failure reject. What no policy selects, or what a path rule decides,
/// is decided without a scan, even while every scan fails.
#[tokio::test]
async fn images_no_scan_could_matter_for_are_never_scanned() {
    const IMAGE: &str = "registry.local/app:1";
    let failing = || {
        let s = MapScanner::default();
        s.failing.lock().insert(
            IMAGE.to_string(),
            ScanFailure::Unavailable("no vulnerability database".into()),
        );
        s.failing.lock().insert(
            "evil.example/x:1".to_string(),
            ScanFailure::Unavailable("no vulnerability database".into()),
        );
        Arc::new(s)
    };
    let allowed = |st: Arc<AppState>, image: &'static str| async move {
        let (_, a) = validate(&st, &wrap(API_V1, pod_request("u", "default", &[image]))).await;
        a.response.expect("response").allowed
    };
    // No policy at all: admitted, nothing scanned.
    let scanner = failing();
    assert!(allowed(state(WebhookConfig::default(), scanner.clone(), ""), IMAGE).await);
    assert_eq!(scanner.scan_calls(), 0);
    // A policy that selects other workloads only.
    let scanner = failing();
    let others = TRUSTED.replace("selector: all()", "selector: app == 'db'");
    assert!(
        allowed(
            state(WebhookConfig::default(), scanner.clone(), &others),
            IMAGE
        )
        .await
    );
    assert_eq!(scanner.scan_calls(), 0);
    // A path rule decides before any scan-reading rule: rejected, without a scan.
    let scanner = failing();
    let st = state(WebhookConfig::default(), scanner.clone(), TRUSTED);
    assert!(!allowed(st.clone(), "evil.example/x:1").await);
    assert_eq!(scanner.scan_calls(), 0);
    // The scan matters for the rest: scanned, and the failure rejects (on_scan_error).
    assert!(!allowed(st, IMAGE).await);
    assert_eq!(scanner.scan_calls(), 1);
}
