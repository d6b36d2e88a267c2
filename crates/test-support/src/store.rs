//! One conformance suite for every result-store backend: what the store traits promise, run
//! against a fresh, empty store.

use portcullis_core::{
    ChangeCause, DecisionEvent, Digest, Ecosystem, Exception, ImageSighting, Inventory,
    RematchMark, ResultStore, RuntimeImage, ScanReport, SeenImage, Status, StatusChange,
    Thresholds,
};

use crate::build::{digest, inventory, package};

fn inventory_of(d: &Digest) -> Inventory {
    let mut inv = inventory(None, vec![package(Ecosystem::PyPI, "jinja2", "2.10")]);
    inv.image.digest = Some(d.clone());
    inv
}

fn report_of(inv: &Inventory, db_version: &str) -> ScanReport {
    crate::build::report(inv, db_version)
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
    tokens(store);
    // Inventories by digest.
    let (d1, d2) = (digest(1), digest(2));
    let inv = inventory_of(&d1);
    assert_eq!(store.inventory(&d1).expect("read"), None);
    store.put_inventory(&d1, &inv).expect("put inventory");
    assert_eq!(store.inventory(&d1).expect("read"), Some(inv.clone()));
    store
        .put_inventory(&d2, &inventory_of(&d2))
        .expect("put inventory");
    let stored = store.stored_inventories().expect("list");
    let digests: Vec<&Digest> = stored.iter().map(|s| &s.digest).collect();
    assert_eq!(digests, [&d1, &d2], "digest order");
    assert_eq!(store.decode_inventory(&stored[0]).expect("decode"), inv);

    // Reports by digest and DB version; a newer version replaces the older.
    let v1 = report_of(&inv, "v1");
    store.put_report(&d1, "v1", &v1).expect("put report");
    assert_eq!(store.report(&d1, "v1").expect("read"), Some(v1.clone()));
    assert_eq!(store.report_for(&d1, "v1", &inv).expect("read"), Some(v1));
    assert_eq!(store.report(&d1, "v2").expect("read"), None);
    let without = |v: &str| -> Vec<Digest> {
        store
            .inventories_page(Some(v), None, usize::MAX)
            .expect("without")
            .into_iter()
            .map(|s| s.digest)
            .collect()
    };
    assert_eq!(
        without("v1"),
        std::slice::from_ref(&d2),
        "d1 has its v1 report"
    );
    assert_eq!(without("v2"), [d1.clone(), d2.clone()]);
    // Pages: at most `limit`, in digest order after `after`.
    let page = |without: Option<&str>, after: Option<&Digest>, limit| -> Vec<Digest> {
        store
            .inventories_page(without, after, limit)
            .expect("page")
            .into_iter()
            .map(|s| s.digest)
            .collect()
    };
    assert_eq!(page(None, None, 1), std::slice::from_ref(&d1));
    assert_eq!(page(None, Some(&d1), 1), std::slice::from_ref(&d2));
    assert!(page(None, Some(&d2), 1).is_empty());
    assert_eq!(page(Some("v2"), Some(&d1), 10), std::slice::from_ref(&d2));
    assert_eq!(page(Some("v1"), None, 10), std::slice::from_ref(&d2));
    let mut ran = 0;
    store
        .exclusively("conformance", &mut || ran += 1)
        .expect("exclusively");
    assert_eq!(ran, 1, "the work runs once");
    let mut v2 = report_of(&inv, "v2");
    let encoded = store.encode_report(&d1, &mut v2).expect("encode");
    assert_eq!(
        v2,
        report_of(&inv, "v2"),
        "encoding leaves the report as it was"
    );
    store
        .put_encoded_reports("v2", &[encoded], &[])
        .expect("put encoded");
    assert_eq!(store.report(&d1, "v2").expect("read"), Some(v2));
    assert_eq!(
        store.report(&d1, "v1").expect("read"),
        None,
        "older versions of a digest's report go"
    );

    // The rematch mark: one more per rematch, with its DB version; storing reports alone
    // does not move it.
    assert_eq!(store.rematch_mark().expect("mark"), RematchMark::default());
    let marked = store.mark_rematch("v2").expect("mark");
    assert_eq!(
        (marked.generation, marked.db_version.as_deref()),
        (1, Some("v2"))
    );
    store
        .put_report(&d2, "v2", &report_of(&inventory_of(&d2), "v2"))
        .expect("put report");
    assert_eq!(store.rematch_mark().expect("mark"), marked);
    assert_eq!(store.mark_rematch("v3").expect("mark").generation, 2);
    assert_eq!(
        store.rematch_mark().expect("mark").db_version.as_deref(),
        Some("v3")
    );

    // Decisions, newest first.
    for (uid, allowed) in [("a", true), ("b", false), ("c", true)] {
        store
            .record_decision(&decision(uid, allowed))
            .expect("record");
    }
    let recent = store.recent_decisions(2).expect("recent");
    assert_eq!(recent, [decision("c", true), decision("b", false)]);

    // Settings: none at first, then each change bumps the generation.
    assert_eq!(store.thresholds().expect("read"), None);
    assert_eq!(store.settings_generation().expect("generation"), 0);
    let strict = Thresholds {
        warn: 2.5,
        fail: 5.0,
        unknown: Status::Fail,
        uncovered: Status::Fail,
    };
    assert_eq!(store.put_thresholds(&strict).expect("put"), 1);
    assert_eq!(store.thresholds().expect("read"), Some(strict));
    assert_eq!(
        store.put_thresholds(&Thresholds::default()).expect("put"),
        2
    );
    assert_eq!(store.settings_generation().expect("generation"), 2);
    assert_eq!(
        store.thresholds().expect("read"),
        Some(Thresholds::default())
    );

    // Exceptions: none at first; a set stored replaces the last, and the same set again is
    // no change.
    assert_eq!(store.exceptions().expect("read"), []);
    assert!(
        !store.put_exceptions(&[]).expect("put"),
        "none stored is none in force: no change"
    );
    let accepted: Vec<Exception> = serde_json::from_value(serde_json::json!([
        {"id": "CVE-2024-0001", "justification": "not reachable", "expires": "2030-01-01"},
        {"id": "GHSA-aaaa-bbbb-cccc", "scope": "repository", "registry": "registry.local", "repository": "app"}
    ]))
    .expect("exceptions");
    assert!(store.put_exceptions(&accepted).expect("put"));
    assert_eq!(store.exceptions().expect("read"), accepted);
    assert!(!store.put_exceptions(&accepted).expect("put"), "unchanged");
    assert!(store.put_exceptions(&accepted[1..]).expect("put"));
    assert_eq!(store.exceptions().expect("read"), &accepted[1..]);
    assert!(store.put_exceptions(&[]).expect("put"));
    assert_eq!(store.exceptions().expect("read"), []);
    // The API's own set is apart from the set in force.
    assert_eq!(store.api_exceptions().expect("read"), []);
    assert!(store.put_api_exceptions(&accepted[..1]).expect("put"));
    assert!(
        !store.put_api_exceptions(&accepted[..1]).expect("put"),
        "unchanged"
    );
    assert_eq!(store.api_exceptions().expect("read"), &accepted[..1]);
    assert_eq!(store.exceptions().expect("read"), [], "in force: untouched");
    // Document lists (alert rules, VEX): kept as written, each apart.
    use portcullis_core::Documents;
    assert_eq!(store.documents(Documents::AlertRules).expect("read"), None);
    let rules = r#"[{"name":"fails","query":"result = Fail"}]"#;
    assert!(
        store
            .put_documents(Documents::AlertRules, rules)
            .expect("put")
    );
    assert!(
        !store
            .put_documents(Documents::AlertRules, rules)
            .expect("put"),
        "unchanged"
    );
    let back: serde_json::Value = serde_json::from_str(
        &store
            .documents(Documents::AlertRules)
            .expect("read")
            .expect("some"),
    )
    .expect("json");
    assert_eq!(
        back,
        serde_json::from_str::<serde_json::Value>(rules).expect("json")
    );
    assert_eq!(
        store.documents(Documents::Vex).expect("read"),
        None,
        "apart"
    );
    assert!(store.put_documents(Documents::Vex, "[{}]").expect("put"));
    assert!(
        store
            .put_documents(Documents::AlertRules, "not json")
            .is_err()
    );
    assert!(
        store
            .put_documents(Documents::Vex, r#"{"an":"object"}"#)
            .is_err(),
        "a list only"
    );
    // Setting changes: the audit trail, newest first, as recorded.
    assert!(store.setting_changes(10).expect("read").is_empty());
    let setting = |minute, action: &str| portcullis_core::SettingChange {
        time: time::macros::datetime!(2026-01-02 03:00 UTC) + time::Duration::minutes(minute),
        actor: "token:ci".into(),
        setting: "thresholds".into(),
        action: action.into(),
        before: (minute > 0).then(|| r#"{"fail":7.0}"#.into()),
        after: Some(r#"{"fail":9.0, "note":"'; DROP TABLE settings; --"}"#.into()),
    };
    let (a, b) = (setting(0, "set"), setting(1, "update"));
    store.record_setting_change(&a).expect("record");
    store.record_setting_change(&b).expect("record");
    assert_eq!(store.setting_changes(10).expect("read"), [b.clone(), a]);
    assert_eq!(store.setting_changes(1).expect("read"), [b]);

    // Status history: in order per image, the latest per image.
    let change = |d: &Digest, from, to, cause, minute| StatusChange {
        digest: d.clone(),
        time: time::macros::datetime!(2026-01-02 03:00 UTC) + time::Duration::minutes(minute),
        from,
        to,
        cause,
        db_version: "v1".into(),
    };
    assert!(store.latest_statuses().expect("latest").is_empty());
    assert_eq!(store.last_status_change().expect("last"), 0);
    let first = [
        change(&d1, None, Status::Pass, ChangeCause::FirstScan, 0),
        change(&d2, None, Status::Warn, ChangeCause::FirstScan, 1),
    ];
    store.record_status_changes(&first).expect("record");
    let later = [change(
        &d1,
        Some(Status::Pass),
        Status::Fail,
        ChangeCause::DbUpdate,
        2,
    )];
    store.record_status_changes(&later).expect("record");
    store.record_status_changes(&[]).expect("nothing to record");
    // Every image's changes in the order recorded, read on from a number.
    let all = store.status_changes_after(0, 100).expect("changes");
    assert_eq!(
        all.iter().map(|(_, c)| c.clone()).collect::<Vec<_>>(),
        [first[0].clone(), first[1].clone(), later[0].clone()]
    );
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "numbered in order");
    assert_eq!(store.last_status_change().expect("last"), all[2].0);
    assert_eq!(
        store.status_changes_after(all[0].0, 1).expect("changes"),
        [all[1].clone()],
        "after a number, at most the limit"
    );
    assert!(
        store
            .status_changes_after(all[2].0, 10)
            .expect("changes")
            .is_empty()
    );
    assert_eq!(
        store.status_history(&d1).expect("history"),
        [first[0].clone(), later[0].clone()]
    );
    assert_eq!(
        store.latest_statuses().expect("latest"),
        [(d1.clone(), Status::Fail), (d2.clone(), Status::Warn)]
    );
    // Reports and the changes they make are written together.
    let inv2 = inventory_of(&d2);
    let encoded = store
        .encode_report(&d2, &mut report_of(&inv2, "v3"))
        .expect("encode");
    let made = change(
        &d2,
        Some(Status::Warn),
        Status::Fail,
        ChangeCause::DbUpdate,
        3,
    );
    store
        .put_encoded_reports("v3", &[encoded], std::slice::from_ref(&made))
        .expect("put with changes");
    assert!(store.report(&d2, "v3").expect("read").is_some());
    assert_eq!(
        store.status_history(&d2).expect("history").last(),
        Some(&made)
    );
    assert!(store.status_history(&digest(3)).expect("none").is_empty());

    // The runtime inventory: seen again keeps its first sighting; gone is kept, not running.
    let t1 = time::macros::datetime!(2026-01-02 03:00 UTC);
    let t2 = t1 + time::Duration::minutes(5);
    let running =
        |cluster: &str, name: &str, image: &str, d: Option<&Digest>, n: u32| RuntimeImage {
            cluster: cluster.into(),
            namespace: "shop".into(),
            workload_kind: "Deployment".into(),
            workload_name: name.into(),
            image: image.into(),
            digest: d.cloned(),
            instances: n,
            nodes: vec!["node-a".into(), "node-b".into()],
            first_seen: t1,
            last_seen: t1,
            running: true,
        };
    let web = running("east", "web", "registry.local/web:1", Some(&d1), 2);
    let db = running("east", "db", "registry.local/db:1", None, 1);
    let other = running("west", "web", "registry.local/web:1", Some(&d1), 3);
    store
        .put_running("east", &[web.clone(), db.clone()], t1)
        .expect("put");
    store
        .put_running("west", std::slice::from_ref(&other), t1)
        .expect("put");
    let web_now = RuntimeImage {
        instances: 1,
        nodes: vec!["node-a".into()],
        ..web.clone()
    };
    store
        .put_running("east", std::slice::from_ref(&web_now), t2)
        .expect("put again");
    let db_gone = RuntimeImage {
        instances: 0,
        nodes: Vec::new(),
        running: false,
        ..db.clone()
    };
    assert_eq!(
        store.runtime_images().expect("read"),
        [
            RuntimeImage {
                nodes: vec!["node-a".into(), "node-b".into()],
                ..db_gone
            },
            RuntimeImage {
                last_seen: t2,
                ..web_now
            },
            other,
        ]
    );

    // Scan leases: one holder at a time until it gives the lease back or it expires.
    let minute = std::time::Duration::from_secs(60);
    assert!(store.try_lease(&d1, "replica-a", minute).expect("lease"));
    assert!(!store.try_lease(&d1, "replica-b", minute).expect("held"));
    assert!(store.try_lease(&d1, "replica-a", minute).expect("renewed"));
    assert!(
        store
            .try_lease(&d2, "replica-b", minute)
            .expect("another digest")
    );
    store
        .release_lease(&d1, "replica-b")
        .expect("not b's: nothing happens");
    assert!(
        !store
            .try_lease(&d1, "replica-b", minute)
            .expect("still a's")
    );
    store.release_lease(&d1, "replica-a").expect("release");
    assert!(
        store
            .try_lease(&d1, "replica-b", minute)
            .expect("free again")
    );
    let short = std::time::Duration::from_secs(1);
    assert!(
        store
            .try_lease(&digest(9), "replica-a", short)
            .expect("lease")
    );
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert!(
        store
            .try_lease(&digest(9), "replica-b", minute)
            .expect("expired"),
        "a lease its holder stopped renewing is taken over"
    );

    // Images seen: one per digest, with every tag and place, first and last sighting.
    let seen = |tag: Option<&str>, source: &str| ImageSighting {
        registry: "registry.local".into(),
        repository: "shop/web".into(),
        tag: tag.map(Into::into),
        digest: d1.clone(),
        source: source.into(),
    };
    store
        .record_sightings(
            &[seen(Some("1.0"), "admission"), seen(None, "cluster:east")],
            t1,
        )
        .expect("record");
    store
        .record_sightings(&[seen(Some("latest"), "admission")], t2)
        .expect("record");
    assert_eq!(
        store.seen_images().expect("images"),
        [SeenImage {
            registry: "registry.local".into(),
            repository: "shop/web".into(),
            digest: d1.clone(),
            tags: vec!["1.0".into(), "latest".into()],
            sources: vec!["admission".into(), "cluster:east".into()],
            first_seen: t1,
            last_seen: t2,
        }]
    );
}

/// API tokens: kept with their secret's hash, listed newest first, revoked in place.
fn tokens(store: &dyn ResultStore) {
    use portcullis_core::{ApiToken, TokenScope};
    let at = |s: i64| time::OffsetDateTime::from_unix_timestamp(1_800_000_000 + s).expect("time");
    let token = |id: &str, scope, created, expires: Option<i64>| ApiToken {
        id: id.into(),
        name: format!("{id} token"),
        scope,
        created: at(created),
        expires: expires.map(at),
        revoked: false,
    };
    let ci = token("c1", TokenScope::Push, 10, Some(3600));
    let reader = token("r1", TokenScope::Read, 20, None);
    assert!(store.tokens().expect("list").is_empty());
    store.put_token(&ci, &[7; 32]).expect("put");
    store.put_token(&reader, &[9; 32]).expect("put");
    assert!(
        store.put_token(&reader, &[1; 32]).is_err(),
        "an id is never reused"
    );
    assert_eq!(
        store.token("c1").expect("read"),
        Some((ci.clone(), [7; 32]))
    );
    assert_eq!(store.token("nope").expect("read"), None);
    assert_eq!(store.tokens().expect("list"), [reader.clone(), ci.clone()]);
    assert!(store.revoke_token("r1").expect("revoke"));
    assert!(!store.revoke_token("nope").expect("revoke"));
    let (revoked, hash) = store.token("r1").expect("read").expect("kept");
    assert!(revoked.revoked && hash == [9; 32]);
}
