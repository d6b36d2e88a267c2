//! Every real AdmissionReview sample gets an answer in kind, and the images of every
//! workload kind are found.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::http::StatusCode;
use portcullis_webhook::{API_V1, WebhookConfig};
use serde_json::Value;

use crate::support::*;

/// Every sample as a full review (bare requests wrapped), with its file path.
fn samples(admission: &Path) -> Vec<(PathBuf, Value)> {
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(admission)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    for dir in dirs.into_iter().filter(|d| d.is_dir()) {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files
            .into_iter()
            .filter(|f| f.extension().is_some_and(|e| e == "json"))
        {
            let v: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
            let review = if v.get("kind").and_then(Value::as_str) == Some("AdmissionReview") {
                v
            } else {
                wrap(API_V1, v)
            };
            out.push((f, review));
        }
    }
    assert!(
        out.len() >= 30,
        "expected the admission samples, found {}",
        out.len()
    );
    out
}

/// The images of a workload object, found by walking it independently of the crate: every
/// `image` field of an object inside a `containers`/`initContainers`/`ephemeralContainers` list.
fn walk_images(v: &Value, in_list: bool, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if in_list && let Some(Value::String(s)) = m.get("image") {
                out.push(s.clone());
            }
            for (k, x) in m {
                let list = matches!(
                    k.as_str(),
                    "containers" | "initContainers" | "ephemeralContainers"
                );
                walk_images(x, list, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| walk_images(x, in_list, out)),
        _ => {}
    }
}

#[tokio::test]
async fn every_sample_answered_in_kind_with_its_uid() {
    let Some(admission) = portcullis_test_support::testdata("admission") else {
        return;
    };
    for (path, review) in samples(&admission) {
        let mut images = Vec::new();
        walk_images(&review["request"]["object"], false, &mut images);
        let reports: Vec<_> = images.iter().map(|i| clean(i)).collect();
        let scanner = Arc::new(MapScanner::with_cached(&reports));
        let st = state(WebhookConfig::default(), scanner, TRUSTED);
        let (status, answer) = validate(&st, &review).await;
        assert_eq!(status, StatusCode::OK, "{}", path.display());
        assert_eq!(
            answer.api_version,
            review["apiVersion"].as_str().unwrap(),
            "{}",
            path.display()
        );
        assert_eq!(answer.kind, "AdmissionReview");
        let r = answer
            .response
            .unwrap_or_else(|| panic!("{}: no response", path.display()));
        assert_eq!(
            r.uid,
            review["request"]["uid"].as_str().unwrap(),
            "{}",
            path.display()
        );
        // Every image is clean and trusted, so everything is admitted.
        assert!(r.allowed, "{}: {:?}", path.display(), r.status);
    }
}

#[tokio::test]
async fn workload_kinds_have_their_images_extracted() {
    let Some(admission) = portcullis_test_support::testdata("admission") else {
        return;
    };
    let kinds = [
        "deployment",
        "cronjob",
        "statefulset",
        "daemonset",
        "job",
        "replicationcontroller",
        "replicaset",
        "pod",
    ];
    let mut checked = 0;
    for (path, review) in samples(&admission) {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !kinds.iter().any(|k| name.starts_with(&format!("{k}_"))) {
            continue;
        }
        let mut expected = Vec::new();
        walk_images(&review["request"]["object"], false, &mut expected);
        expected.sort();
        expected.dedup();
        assert!(!expected.is_empty(), "{name}: sample has no image");
        let scanner = Arc::new(MapScanner::default());
        let st = state(WebhookConfig::default(), scanner.clone(), TRUSTED);
        let _ = validate(&st, &review).await;
        let mut looked_up = scanner.lookups.lock().clone();
        looked_up.sort();
        looked_up.dedup();
        assert_eq!(looked_up, expected, "{}", path.display());
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} workload samples");
}

#[tokio::test]
async fn ingress_has_no_images_and_is_allowed() {
    let Some(admission) = portcullis_test_support::testdata("admission") else {
        return;
    };
    let raw =
        std::fs::read(admission.join("kubewarden-trusted-repos-policy/ingress_creation.json"))
            .unwrap();
    let review = wrap(API_V1, serde_json::from_slice(&raw).unwrap());
    let scanner = Arc::new(MapScanner::default());
    let st = state(
        WebhookConfig {
            default_allow: false,
            ..WebhookConfig::default()
        },
        scanner.clone(),
        TRUSTED,
    );
    let (_, answer) = validate(&st, &review).await;
    assert!(answer.response.unwrap().allowed);
    assert!(scanner.lookups.lock().is_empty());
}

#[tokio::test]
async fn untrusted_deployment_sample_rejected_naming_image_policy_and_rule() {
    let Some(admission) = portcullis_test_support::testdata("admission") else {
        return;
    };
    let raw =
        std::fs::read(admission.join("kubewarden-trusted-repos-policy/deployment_creation.json"))
            .unwrap();
    let mut request: Value = serde_json::from_slice(&raw).unwrap();
    request["object"]["spec"]["template"]["spec"]["containers"][0]["image"] =
        "evil.example/app:1".into();
    let scanner = Arc::new(MapScanner::with_cached(&[clean("evil.example/app:1")]));
    let st = state(WebhookConfig::default(), scanner, TRUSTED);
    let (status, answer) = validate(&st, &wrap(API_V1, request)).await;
    assert_eq!(status, StatusCode::OK);
    let r = answer.response.unwrap();
    assert!(!r.allowed);
    let msg = r.message().unwrap();
    assert!(msg.contains("evil.example/app:1"), "{msg}");
    assert!(msg.contains("trusted-registries"), "{msg}");
    assert!(msg.contains(r#"rule "untrusted-registry""#), "{msg}");
    assert_eq!(r.status.unwrap().code, Some(403));
}

#[tokio::test]
async fn gke_sample_dry_run_is_not_recorded() {
    let Some(admission) = portcullis_test_support::testdata("admission") else {
        return;
    };
    let raw = std::fs::read(admission.join("kube-rs/gke_pod_create_admissionreview.json")).unwrap();
    let mut review: Value = serde_json::from_slice(&raw).unwrap();
    let scanner = Arc::new(MapScanner::with_cached(&[clean("jmalloc/echo-server")]));
    let recorder = Arc::new(Recorder::default());
    let st = Arc::new(
        portcullis_webhook::AppState::new(WebhookConfig::default(), scanner, policies(TRUSTED))
            .with_decision_sink(recorder.clone()),
    );
    review["request"]["dryRun"] = true.into();
    let (_, answer) = validate(&st, &review).await;
    assert!(answer.response.unwrap().allowed);
    assert!(
        recorder.0.lock().is_empty(),
        "a dry run must not be recorded"
    );
    review["request"]["dryRun"] = false.into();
    let (_, answer) = validate(&st, &review).await;
    assert!(answer.response.unwrap().allowed);
    let events = recorder.0.lock().clone();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].uid, review["request"]["uid"].as_str().unwrap());
    assert_eq!(events[0].images, vec!["jmalloc/echo-server".to_string()]);
    assert_eq!(events[0].policy, "trusted-registries");
}
