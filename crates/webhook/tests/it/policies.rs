//! Policies reloaded from a directory at runtime.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use portcullis_webhook::{API_V1, AppState, FailureAction, WebhookConfig};

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

/// The denial message, or `None` when allowed; and the warnings.
async fn answer(st: &Arc<AppState>) -> (Option<String>, Vec<String>) {
    let (_, a) = validate(st, &wrap(API_V1, pod_request("u", "default", &[IMAGE]))).await;
    let r = a.response.unwrap();
    let message = (!r.allowed).then(|| r.message().unwrap_or_default().to_string());
    (message, r.warnings)
}

fn state_with(cfg: WebhookConfig) -> Arc<AppState> {
    let scanner = Arc::new(MapScanner::with_cached(&[clean(IMAGE)]));
    Arc::new(AppState::new(cfg, scanner, Vec::new()))
}

/// A policy whose selector does not parse: valid YAML, refused by the loader.
fn typo(name: &str) -> String {
    reject_path(name, "^other/.*").replace("selector: all()", "selector: all(")
}

#[tokio::test]
async fn a_policy_set_broken_at_start_rejects_until_it_loads() {
    let dir = tempfile::tempdir().unwrap();
    // The only policy would admit IMAGE; its file does not load.
    std::fs::write(dir.path().join("p.yaml"), typo("block")).unwrap();
    let st = empty_state();
    let r = st.reload_policies_from_dir(dir.path());
    assert_eq!((r.loaded, r.errors.len()), (0, 1), "{:?}", r.errors);
    let (denied, _) = answer(&st).await;
    let denied = denied.expect("a broken policy set must not admit");
    assert!(
        denied.contains("p.yaml") && denied.contains("policies failed to load"),
        "the denial names the broken file: {denied}"
    );
    let (status, body) = get(&st, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body.contains("p.yaml") && body.contains("rejected"),
        "{body}"
    );
    assert!(!body.contains("no policies loaded"), "{body}");
    assert!(st.policy_status().broken);

    // Fixed: the set loads whole, the webhook is ready and decides by policy again.
    std::fs::write(dir.path().join("p.yaml"), reject_path("block", "^other/.*")).unwrap();
    let r = st.reload_policies_from_dir(dir.path());
    assert_eq!((r.loaded, r.errors.len()), (1, 0));
    assert_eq!(answer(&st).await, (None, vec![]));
    let (status, body) = get(&st, "/readyz").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Broken again at run time: now the last good set stays in force, and the webhook ready.
    std::fs::write(dir.path().join("p.yaml"), typo("block")).unwrap();
    let r = st.reload_policies_from_dir(dir.path());
    assert_eq!(r.kept_last_good, vec!["block".to_string()]);
    assert!(!st.policy_status().broken);
    assert_eq!(answer(&st).await.0, None, "the last good set decides");
    let (status, body) = get(&st, "/readyz").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains("invalid policy") && body.contains("last good version"),
        "{body}"
    );
}

#[tokio::test]
async fn a_partly_broken_set_at_start_rejects_even_what_its_good_part_admits() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.yaml"), reject_path("good", "^other/.*")).unwrap();
    std::fs::write(
        dir.path().join("b.yaml"),
        reject_path("broken", "([unclosed"),
    )
    .unwrap();
    let st = empty_state();
    let r = st.reload_policies_from_dir(dir.path());
    assert_eq!((r.loaded, r.errors.len()), (1, 1));
    assert!(r.errors[0].contains("b.yaml"), "{:?}", r.errors);
    let (denied, _) = answer(&st).await;
    assert!(
        denied.is_some_and(|m| m.contains("b.yaml")),
        "the broken file may have rejected it"
    );
    let (status, body) = get(&st, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        body.contains("invalid policy") && body.contains("b.yaml"),
        "{body}"
    );
}

#[tokio::test]
async fn on_policy_error_allow_lets_the_loaded_policies_decide_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        reject_path("good", "^registry\\.local/.*"),
    )
    .unwrap();
    std::fs::write(dir.path().join("b.yaml"), typo("broken")).unwrap();
    let cfg = WebhookConfig {
        on_policy_error: FailureAction::Allow,
        ..WebhookConfig::default()
    };
    let st = state_with(cfg.clone());
    st.reload_policies_from_dir(dir.path());
    let (denied, _) = answer(&st).await;
    assert!(
        denied.as_deref().is_some_and(|m| m.contains("good")),
        "the policy that loaded still rejects: {denied:?}"
    );
    std::fs::write(dir.path().join("a.yaml"), reject_path("good", "^other/.*")).unwrap();
    st.reload_policies_from_dir(dir.path());
    let (denied, warnings) = answer(&st).await;
    assert_eq!(denied, None);
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("b.yaml") && w.contains("on-policy-error: allow")),
        "{warnings:?}"
    );
    let (status, _) = get(&st, "/readyz").await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "unready either way"
    );

    // Audit mode with the default (reject): allowed, and the would-be rejection is a warning.
    let audit = state_with(WebhookConfig {
        mode: portcullis_policy::Mode::Audit,
        ..WebhookConfig::default()
    });
    audit.reload_policies_from_dir(dir.path());
    let (denied, warnings) = answer(&audit).await;
    assert_eq!(denied, None);
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("rejected until they load")),
        "{warnings:?}"
    );
}

#[tokio::test]
async fn a_file_over_the_yaml_document_budget_is_a_broken_set() {
    let dir = tempfile::tempdir().unwrap();
    // A good policy, then more documents than a file may hold: nothing of it loads.
    let over = portcullis_policy::MAX_DOCUMENTS_PER_FILE;
    let text = format!(
        "{}---\n{}",
        reject_path("p0", "^other/.*"),
        "a: 1\n---\n".repeat(over)
    );
    std::fs::write(dir.path().join("many.yaml"), text).unwrap();
    let st = empty_state();
    let r = st.reload_policies_from_dir(dir.path());
    assert_eq!(r.loaded, 0);
    assert!(
        r.errors
            .iter()
            .any(|e| e.contains("many.yaml") && e.contains(&format!("limit of {over} documents"))),
        "{:?}",
        r.errors
    );
    assert!(
        answer(&st).await.0.is_some(),
        "nothing of the file loaded: the gate stays shut"
    );
    assert_eq!(get(&st, "/readyz").await.0, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn a_missing_policy_directory_is_a_broken_set() {
    let dir = tempfile::tempdir().unwrap();
    let st = empty_state();
    let r = st.reload_policies_from_dir(&dir.path().join("nope"));
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    assert!(answer(&st).await.0.is_some_and(|m| m.contains("nope")));
}

#[tokio::test]
async fn cluster_policies_follow_the_same_rules() {
    let good = policies(&reject_path("block", "^registry\\.local/.*"));
    let st = empty_state();
    // An invalid object at start: broken, whatever else loaded.
    st.set_cluster_policies(
        Vec::new(),
        vec!["ContainerAdmissionPolicy typo: spec.selector: bad".into()],
    );
    assert!(answer(&st).await.0.is_some_and(|m| m.contains("typo")));
    assert_eq!(get(&st, "/readyz").await.0, StatusCode::SERVICE_UNAVAILABLE);
    // Fixed: the set is in force.
    st.set_cluster_policies(good.clone(), Vec::new());
    assert!(answer(&st).await.0.is_some_and(|m| m.contains("block")));
    assert_eq!(get(&st, "/readyz").await.0, StatusCode::OK);
    // The object turns invalid: its last good version stays in force.
    let r = st.set_cluster_policies(
        Vec::new(),
        vec!["ContainerAdmissionPolicy block: spec.selector: bad".into()],
    );
    assert_eq!(r.kept_last_good, vec!["block".to_string()]);
    assert!(answer(&st).await.0.is_some_and(|m| m.contains("block")));
    assert_eq!(get(&st, "/readyz").await.0, StatusCode::OK);
    // Deleted while nothing is invalid: gone.
    st.set_cluster_policies(Vec::new(), Vec::new());
    assert_eq!(answer(&st).await.0, None);
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
