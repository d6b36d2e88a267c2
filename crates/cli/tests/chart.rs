//! The Helm chart ships the CRDs generated from the Rust types; they must not drift.

mod common;

#[test]
fn chart_crds_match_the_generated_ones() {
    let out = common::run(&["policy", "crd"]);
    assert!(out.status.success());
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/helm/portcullis/crds/portcullis-crds.yaml"
    );
    let committed = std::fs::read_to_string(path).expect("chart CRDs");
    assert!(
        committed == String::from_utf8_lossy(&out.stdout),
        "deploy/helm/portcullis/crds/portcullis-crds.yaml is stale: regenerate it with `portcullis policy crd`"
    );
}
