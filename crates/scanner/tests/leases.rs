//! Scan leases on a real store and registry: a digest leased by another holder is not pulled
//! here while the lease lasts (the holder makes the list), and once the lease lapses (a holder
//! that died renews nothing) this scanner takes it over and scans.

use std::collections::BTreeMap;
use std::time::Duration;

use portcullis_scanner::{Scanner, ScannerConfig, StoreUrl};
use portcullis_test_support::registry;

#[tokio::test]
async fn a_lapsed_lease_of_a_dead_holder_is_taken_over() {
    let Some(reg) = registry() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("vuln.db");
    portcullis_vulndb::Db::import(&db, &[], None).expect("empty db");
    let store: StoreUrl = format!("sqlite:{}", dir.path().join("store.db").display())
        .parse()
        .expect("store url");
    let scanner = Scanner::new(ScannerConfig {
        image: portcullis_image::Options {
            cache_dir: dir.path().join("cache"),
            insecure_registries: vec![reg.clone()],
            ..Default::default()
        },
        db: Some(db),
        store: Some(store),
        ..Default::default()
    })
    .expect("scanner");
    let image = format!("{reg}/portcullis/debian:bookworm");
    let digest = scanner
        .resolve_digest(&image, &BTreeMap::new())
        .await
        .expect("resolve")
        .expect("a registry image has a digest");
    let shared = scanner.shared_store().expect("store");
    // Another replica leased the digest and died: its lease lapses in two seconds.
    assert!(
        shared
            .try_lease(&digest, "dead-replica", Duration::from_secs(2))
            .expect("lease")
    );
    let waited = tokio::time::timeout(Duration::from_millis(800), scanner.scan(&image)).await;
    assert!(waited.is_err(), "the scan waits while the lease lasts");
    assert!(
        !dir.path().join("cache/blobs/sha256").exists()
            || std::fs::read_dir(dir.path().join("cache/blobs/sha256"))
                .expect("blobs")
                .next()
                .is_none(),
        "nothing pulled meanwhile"
    );
    let report = tokio::time::timeout(Duration::from_secs(20), scanner.scan(&image))
        .await
        .expect("taken over once the lease lapsed")
        .expect("scan");
    assert_eq!(report.image.digest.as_ref(), Some(&digest));
    assert!(shared.inventory(&digest).expect("read").is_some());
    // Given back when done: another holder may lease it at once.
    assert!(
        shared
            .try_lease(&digest, "next-replica", Duration::from_secs(2))
            .expect("lease")
    );
}
