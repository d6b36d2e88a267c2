//! One conformance suite for every result-store backend: what the store traits promise, run
//! against a fresh, empty store.

use portcullis_core::{
    DbInfo, DecisionEvent, Ecosystem, Inventory, ResultStore, ScanReport, Summary, Thresholds,
};

use crate::build::{inventory, package};

fn inventory_of(digest: &str) -> Inventory {
    let mut inv = inventory(None, vec![package(Ecosystem::PyPI, "jinja2", "2.10")]);
    inv.image.digest = Some(digest.to_string());
    inv
}

fn report_of(inv: &Inventory, db_version: &str) -> ScanReport {
    ScanReport {
        target: "oci:x".into(),
        image: inv.image.clone(),
        packages: inv.packages.clone(),
        vulnerabilities: Vec::new(),
        summary: Summary::compute(&[], &Thresholds::default()),
        db: DbInfo {
            version: db_version.into(),
            ..Default::default()
        },
        scanned_at: Some(time::macros::datetime!(2026-01-02 03:04:05 UTC)),
        warnings: Vec::new(),
    }
}

fn decision(uid: &str, allowed: bool) -> DecisionEvent {
    DecisionEvent {
        time: time::OffsetDateTime::UNIX_EPOCH,
        uid: uid.into(),
        kind: "Pod".into(),
        namespace: "default".into(),
        name: uid.into(),
        operation: "CREATE".into(),
        user: "tester".into(),
        images: vec!["registry.local/app:1".into()],
        allowed,
        message: (!allowed).then(|| "rejected by policy".into()),
        warnings: Vec::new(),
        audit_rejections: Vec::new(),
        policy: "gate".into(),
        rule: "1".into(),
    }
}

/// Runs every check against `store`, which must be empty.
pub fn conformance(store: &dyn ResultStore) {
    // Inventories by digest.
    let inv = inventory_of("sha256:01");
    assert_eq!(store.inventory("sha256:01").expect("read"), None);
    store
        .put_inventory("sha256:01", &inv)
        .expect("put inventory");
    assert_eq!(
        store.inventory("sha256:01").expect("read"),
        Some(inv.clone())
    );
    store
        .put_inventory("sha256:02", &inventory_of("sha256:02"))
        .expect("put inventory");
    let stored = store.stored_inventories().expect("list");
    let digests: Vec<&str> = stored.iter().map(|s| s.digest.as_str()).collect();
    assert_eq!(digests, ["sha256:01", "sha256:02"], "digest order");
    assert_eq!(store.decode_inventory(&stored[0]).expect("decode"), inv);

    // Reports by digest and DB version; a newer version replaces the older.
    let v1 = report_of(&inv, "v1");
    store
        .put_report("sha256:01", "v1", &v1)
        .expect("put report");
    assert_eq!(
        store.report("sha256:01", "v1").expect("read"),
        Some(v1.clone())
    );
    assert_eq!(
        store.report_for("sha256:01", "v1", &inv).expect("read"),
        Some(v1)
    );
    assert_eq!(store.report("sha256:01", "v2").expect("read"), None);
    let mut v2 = report_of(&inv, "v2");
    let encoded = store.encode_report("sha256:01", &mut v2).expect("encode");
    assert_eq!(
        v2,
        report_of(&inv, "v2"),
        "encoding leaves the report as it was"
    );
    store
        .put_encoded_reports("v2", &[encoded])
        .expect("put encoded");
    assert_eq!(store.report("sha256:01", "v2").expect("read"), Some(v2));
    assert_eq!(
        store.report("sha256:01", "v1").expect("read"),
        None,
        "older versions of a digest's report go"
    );

    // Decisions, newest first.
    for (uid, allowed) in [("a", true), ("b", false), ("c", true)] {
        store
            .record_decision(&decision(uid, allowed))
            .expect("record");
    }
    let recent = store.recent_decisions(2).expect("recent");
    assert_eq!(recent, [decision("c", true), decision("b", false)]);
}
