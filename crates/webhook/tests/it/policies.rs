//! Policies reloaded from a directory at runtime.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use portcullis_webhook::{API_V1, AppState, WebhookConfig};

use crate::support::*;

const IMAGE: &str = "registry.local/app:1";

fn reject_path(name: &str, pattern: &str) -> String {
    format!(
        r#"apiVersion: containersecurity.portcullis.dev/v1
kind: ContainerAdmissionPolicy
metadata: {{name: {name}}}
spec:
  order: 1
  selector: all()
  namespaceSelector: all()
  rules:
  - action: Reject
    imagePath: {{operator: IsOneOf, values: ['{pattern}']}}
"#
    )
}

async fn decide(st: &Arc<AppState>) -> bool {
    let (_, a) = validate(st, &wrap(API_V1, pod_request("u", "default", &[IMAGE]))).await;
    a.response.unwrap().allowed
}

fn empty_state() -> Arc<AppState> {
    let scanner = Arc::new(MapScanner::with_cached(&[clean(IMAGE)]));
    Arc::new(AppState::new(WebhookConfig::default(), scanner, Vec::new()))
}

#[tokio::test]
async fn reload_from_dir_picks_up_a_change() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.yaml"), reject_path("block", "^other/.*")).unwrap();
    let st = empty_state();
    let r = st.reload_policies_from_dir(dir.path());
    assert_eq!((r.loaded, r.errors.len()), (1, 0));
    assert!(decide(&st).await);
    std::fs::write(
        dir.path().join("p.yaml"),
        reject_path("block", "^registry\\.local/.*"),
    )
    .unwrap();
    st.reload_policies_from_dir(dir.path());
    assert!(!decide(&st).await);
    std::fs::remove_file(dir.path().join("p.yaml")).unwrap();
    let r = st.reload_policies_from_dir(dir.path());
    assert_eq!(
        r.loaded, 0,
        "a deleted policy is dropped when nothing is invalid"
    );
    assert!(decide(&st).await);
}

#[tokio::test]
async fn watcher_reloads_on_change() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.yaml"), reject_path("block", "^other/.*")).unwrap();
    let st = empty_state();
    st.reload_policies_from_dir(dir.path());
    let watcher = st.spawn_policy_watcher(dir.path().to_path_buf(), Duration::from_millis(20));
    assert!(decide(&st).await);
    std::fs::write(
        dir.path().join("q.yaml"),
        reject_path("block2", "^registry\\.local/.*"),
    )
    .unwrap();
    let mut picked_up = false;
    for _ in 0..500 {
        if !decide(&st).await {
            picked_up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    watcher.abort();
    assert!(picked_up, "the new policy file was never loaded");
    assert_eq!(st.policy_status().loaded, 2);
}

#[tokio::test]
async fn invalid_policy_file_skipped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        reject_path("good", "^registry\\.local/.*"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.yaml"),
        reject_path("broken", "([unclosed"),
    )
    .unwrap();
    let st = empty_state();
    let r = st.reload_policies_from_dir(dir.path());
    assert_eq!(r.loaded, 1);
    assert_eq!(r.errors.len(), 1);
    assert!(r.errors[0].contains("b.yaml"), "{:?}", r.errors);
    assert!(!decide(&st).await, "the valid policy is in use");
    let (status, body) = get(&st, "/readyz").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("invalid policy") && body.contains("b.yaml"),
        "{body}"
    );
}

#[tokio::test]
async fn policy_that_becomes_invalid_keeps_its_last_good_version() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        reject_path("block", "^registry\\.local/.*"),
    )
    .unwrap();
    let st = empty_state();
    st.reload_policies_from_dir(dir.path());
    assert!(!decide(&st).await);
    std::fs::write(dir.path().join("a.yaml"), "apiVersion: containersecurity.portcullis.dev/v1\nkind: ContainerAdmissionPolicy\nmetadata: {name: block}\nspec: {rules: [{action: Explode}]}\n").unwrap();
    let r = st.reload_policies_from_dir(dir.path());
    assert_eq!(r.kept_last_good, vec!["block".to_string()]);
    assert!(
        !decide(&st).await,
        "a typo must not drop a rejecting policy"
    );
    let (_, body) = get(&st, "/readyz").await;
    assert!(body.contains("last good version"), "{body}");
}

/// A mounted ConfigMap: the file names are symlinks through `..data`, and an update swaps
/// only `..data`.
#[cfg(unix)]
#[tokio::test]
async fn watcher_follows_configmap_style_symlink_swaps() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let (v1, v2) = (dir.path().join("..2024_v1"), dir.path().join("..2024_v2"));
    std::fs::create_dir(&v1).unwrap();
    std::fs::create_dir(&v2).unwrap();
    std::fs::write(v1.join("p.yaml"), reject_path("block", "^other/.*")).unwrap();
    std::fs::write(
        v2.join("p.yaml"),
        reject_path("block", "^registry\\.local/.*"),
    )
    .unwrap();
    symlink("..2024_v1", dir.path().join("..data")).unwrap();
    symlink("..data/p.yaml", dir.path().join("p.yaml")).unwrap();
    let st = empty_state();
    st.reload_policies_from_dir(dir.path());
    assert!(decide(&st).await);
    let watcher = st.spawn_policy_watcher(dir.path().to_path_buf(), Duration::from_millis(20));
    // Swap `..data` atomically, as the kubelet does.
    symlink("..2024_v2", dir.path().join("..data_tmp")).unwrap();
    std::fs::rename(dir.path().join("..data_tmp"), dir.path().join("..data")).unwrap();
    let mut picked_up = false;
    for _ in 0..500 {
        if !decide(&st).await {
            picked_up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    watcher.abort();
    assert!(picked_up, "the swapped ConfigMap content was never loaded");
}
