//! `Scanner::rematch_stored`: every stored package list is matched again under a new database
//! and its report stored under the new version, without touching the image.

use std::path::PathBuf;

use portcullis_core::{ChangeCause, InventoryStore, ReportStore, Status, Thresholds};
use portcullis_scanner::{Scanner, ScannerConfig, StoreUrl, code_versions};
use portcullis_store::SqliteStore;
use portcullis_vulndb::Db;

/// The PyPI advisories and the fixture OCI layout.
fn inputs() -> Option<(PathBuf, PathBuf)> {
    let pypi = portcullis_test_support::testdata("advisories/pypi")?;
    Some((pypi, portcullis_test_support::fixtures()?.join("oci")))
}

/// A scanner on `db` and `store`, its image cache under `dir`.
fn scanner_on(dir: &std::path::Path, db: &std::path::Path, store: StoreUrl) -> Scanner {
    Scanner::new(ScannerConfig {
        image: portcullis_image::Options {
            cache_dir: dir.join("cache"),
            ..Default::default()
        },
        db: Some(db.to_path_buf()),
        store: Some(store),
        ..Default::default()
    })
    .expect("scanner")
}

#[test]
fn stored_lists_are_rematched_under_a_new_database() {
    let Some((pypi, oci)) = inputs() else { return };
    let td = pypi.join("../..");
    let dir = tempfile::tempdir().expect("tempdir");
    let (db1, db2) = (dir.path().join("one.db"), dir.path().join("two.db"));
    Db::import(&db1, std::slice::from_ref(&pypi), None).expect("import");
    Db::import(&db2, &[pypi, td.join("advisories/nvd")], None).expect("import");
    let store_path = dir.path().join("results.db");
    let scanner = |db: &PathBuf| scanner_on(dir.path(), db, StoreUrl::Sqlite(store_path.clone()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let first = scanner(&db1);
    let inv = rt
        .block_on(first.inventory(&format!("oci:{}:lang", oci.display())))
        .expect("inventory");
    // Three more lists under other digests, as if three more images had been scanned.
    let store = SqliteStore::open_for(&store_path, code_versions()).expect("store");
    // The last one has its packages elsewhere: its matches must say so, not repeat the
    // locations of the list that was matched first.
    for i in 0..3 {
        let mut other = inv.clone();
        other.image.digest = Some(format!("sha256:{i:064x}").parse().expect("digest"));
        if i == 2 {
            for p in &mut other.packages {
                for l in &mut p.locations {
                    l.path = format!("/elsewhere{}", l.path);
                }
            }
        }
        store
            .put_inventory(other.image.digest.as_ref().expect("digest"), &other)
            .expect("put");
    }

    let second = scanner(&db2);
    assert_eq!(second.rematch_stored().expect("rematch"), 4);
    let v2 = Db::open(&db2).expect("open").info().version;
    let digests: Vec<_> = store
        .stored_inventories()
        .expect("list")
        .iter()
        .map(|s| (s.digest.clone(), store.decode_inventory(s).expect("decode")))
        .collect();
    assert_eq!(digests.len(), 4);
    // The same list matched alone (no memo) gives the same vulnerabilities as the shared rematch.
    let alone = second.rematch(inv.clone()).expect("rematch one");
    for (digest, stored) in digests {
        let r = store
            .report(&digest, &v2)
            .expect("read")
            .unwrap_or_else(|| panic!("no report for {digest} under the new DB"));
        assert_eq!(r.db.version, v2);
        assert!(!r.vulnerabilities.is_empty(), "{digest}");
        // NVD came with the new DB: CVSS now comes from the aliases' NVD records.
        assert!(r.summary.max_cvss.is_some(), "{digest}");
        // Reports are stored without packages; reading gives back the inventory's.
        assert_eq!(r.packages, stored.packages, "{digest}");
        let moved = stored.packages.first().is_some_and(|p| {
            p.locations
                .first()
                .is_some_and(|l| l.path.starts_with("/elsewhere"))
        });
        let mut expected = alone.vulnerabilities.clone();
        if moved {
            for m in &mut expected {
                m.matched_by.location = format!("/elsewhere{}", m.matched_by.location);
            }
            assert!(
                r.vulnerabilities
                    .iter()
                    .all(|m| m.matched_by.location.starts_with("/elsewhere")),
                "{digest}"
            );
        }
        assert_eq!(
            serde_json::to_value(&r.vulnerabilities).expect("json"),
            serde_json::to_value(&expected).expect("json"),
            "{digest}"
        );
    }
}

/// Exceptions changed after a scan (in a cluster, by a watch) apply to the report the store
/// already holds, without a rescan; taking them away counts the matches again.
#[tokio::test]
async fn changed_exceptions_apply_to_stored_reports() {
    let Some((pypi, oci)) = inputs() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("vuln.db");
    Db::import(&db, &[pypi], None).expect("import");
    let scanner = Scanner::new(ScannerConfig {
        image: portcullis_image::Options {
            cache_dir: dir.path().join("cache"),
            ..Default::default()
        },
        db: Some(db),
        store: Some(StoreUrl::Sqlite(dir.path().join("results.db"))),
        ..Default::default()
    })
    .expect("scanner");
    let target = format!("oci:{}:lang", oci.display());
    let first = scanner.scan(&target).await.expect("scan");
    assert_eq!(first.summary.status, portcullis_core::Status::Fail);
    assert!(
        first.scanned_at.is_some(),
        "a report says when it was matched"
    );
    let ids: std::collections::BTreeSet<String> =
        first.vulnerabilities.iter().map(|m| m.id.clone()).collect();
    let except = |id: &String| portcullis_core::Exception {
        id: id.clone(),
        scope: portcullis_core::ExceptionScope::Any,
        registry: None,
        repository: None,
        tags: Vec::new(),
        justification: Some("accepted in test".into()),
        expires: None,
        created_by: None,
        created: None,
    };

    scanner.set_exceptions(ids.iter().map(except).collect());
    let excepted = scanner.scan(&target).await.expect("cached scan");
    assert!(excepted.vulnerabilities.iter().all(|m| m.ignored.is_some()));
    // Every finding excepted; the image's other packages (Debian's, Go's ...) were not examined
    // with PyPI data only, so Warn, not Pass.
    assert_eq!(excepted.summary.status, portcullis_core::Status::Warn);
    assert!(excepted.summary.counts.is_empty() && excepted.summary.not_examined > 0);
    assert_eq!(excepted.vulnerabilities.len(), first.vulnerabilities.len());
    // Served from the store: as old as the match that made it.
    assert_eq!(excepted.scanned_at, first.scanned_at);

    // A report held in memory gets the same treatment.
    let mut held = first.clone();
    scanner.apply_exceptions(&mut held);
    assert_eq!(held.summary, excepted.summary);

    scanner.set_exceptions(Vec::new());
    let again = scanner.scan(&target).await.expect("cached scan");
    assert_eq!(again.summary, first.summary);
    assert!(again.vulnerabilities.iter().all(|m| m.ignored.is_none()));
}

/// Every change of an image's status is recorded with its cause (first scan, DB update,
/// thresholds), on both store backends; a rematch that changes nothing records nothing.
#[test]
fn status_changes_are_recorded_with_their_cause() {
    let Some((pypi, oci)) = inputs() else { return };
    let nvd = pypi.join("../nvd");
    let dir = tempfile::tempdir().expect("tempdir");
    let (db1, db2) = (dir.path().join("one.db"), dir.path().join("two.db"));
    // Without package advisories nothing of the lang image is examined: Warn (never Pass for
    // what was not examined); the PyPA data makes it fail.
    Db::import(&db1, std::slice::from_ref(&nvd), None).expect("import");
    Db::import(&db2, &[pypi, nvd], None).expect("import");
    let mut stores = vec![StoreUrl::Sqlite(dir.path().join("results.db"))];
    if let Some(url) = portcullis_test_support::postgres::fresh_database("history") {
        stores.push(url.parse().expect("url"));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for url in stores {
        let scanner = |db: &PathBuf| scanner_on(dir.path(), db, url.clone());
        let first = scanner(&db1);
        let report = rt
            .block_on(first.scan(&format!("oci:{}:lang", oci.display())))
            .expect("scan");
        let digest = report.image.digest.clone().expect("digest");
        let history = |s: &Scanner| -> Vec<(Option<Status>, Status, ChangeCause)> {
            s.store()
                .expect("store")
                .status_history(&digest)
                .expect("history")
                .iter()
                .map(|c| (c.from, c.to, c.cause))
                .collect()
        };
        assert_eq!(
            history(&first),
            [(None, Status::Warn, ChangeCause::FirstScan)],
            "{url}"
        );
        assert!(report.summary.not_examined > 0, "{url}");
        drop(first);

        let updated = scanner(&db2);
        updated.rematch_stored().expect("rematch");
        updated.set_thresholds(Thresholds {
            warn: 10.0,
            fail: 10.0,
            unknown: Status::Pass,
            uncovered: Status::Pass,
        });
        updated
            .rematch_stored_because(ChangeCause::Thresholds)
            .expect("relabel");
        updated
            .rematch_stored_because(ChangeCause::Thresholds)
            .expect("again, nothing changes");
        assert_eq!(
            history(&updated),
            [
                (None, Status::Warn, ChangeCause::FirstScan),
                (Some(Status::Warn), Status::Fail, ChangeCause::DbUpdate),
                (Some(Status::Fail), Status::Pass, ChangeCause::Thresholds),
            ],
            "{url}"
        );
    }
}

/// A store at `url` holding the lang image's list under `images` more digests, all matched
/// under a DB without package advisories (all Pass); returns the scanner on that DB, the path of
/// a DB with the PyPA advisories (all Fail), and how many lists are stored.
fn stored_lists(
    dir: &std::path::Path,
    url: &StoreUrl,
    images: usize,
) -> Option<(Scanner, PathBuf, usize)> {
    let (pypi, oci) = inputs()?;
    let nvd = pypi.join("../nvd");
    let (db1, db2) = (dir.join("one.db"), dir.join("two.db"));
    Db::import(&db1, std::slice::from_ref(&nvd), None).expect("import");
    Db::import(&db2, &[pypi, nvd], None).expect("import");
    let first = scanner_on(dir, &db1, url.clone());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let inv = rt
        .block_on(first.inventory(&format!("oci:{}:lang", oci.display())))
        .expect("inventory");
    let store = first.store().expect("store");
    for i in 0..images {
        let mut other = inv.clone();
        let d: portcullis_core::Digest = format!("sha256:{i:064x}").parse().expect("digest");
        other.image.digest = Some(d.clone());
        store.put_inventory(&d, &other).expect("put");
    }
    // The lang image's own list is stored too.
    let stored = store.stored_inventories().expect("list").len();
    assert_eq!(stored, images + 1);
    assert_eq!(first.rematch_stored().expect("first DB"), stored);
    Some((first, db2, stored))
}

/// Two replicas on one PostgreSQL store, both told of the same DB update at once: every stored
/// list is rematched once in all, by one or the other, and each change recorded once.
#[test]
fn replicas_rematch_once_after_a_db_update() {
    let Some(url) = portcullis_test_support::postgres::fresh_database("replicas_rematch") else {
        return;
    };
    let url: StoreUrl = url.parse().expect("url");
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((first, db2, stored)) = stored_lists(dir.path(), &url, 40) else {
        return;
    };
    let store = first.store().expect("store");
    let replicas = [
        scanner_on(dir.path(), &db2, url.clone()),
        scanner_on(dir.path(), &db2, url),
    ];
    let done: Vec<usize> = std::thread::scope(|s| {
        let handles: Vec<_> = replicas
            .iter()
            .map(|r| s.spawn(|| r.rematch_stored().expect("rematch")))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    assert_eq!(done.iter().sum::<usize>(), stored, "{done:?}");
    assert_each_rematched_twice(store);
}

/// Every stored list's history: the rematch under the first DB, then the update's change,
/// once each.
fn assert_each_rematched_twice(store: &dyn portcullis_core::ResultStore) {
    for stored in store.stored_inventories().expect("list") {
        let causes: Vec<ChangeCause> = store
            .status_history(&stored.digest)
            .expect("history")
            .iter()
            .map(|c| c.cause)
            .collect();
        assert_eq!(
            causes,
            [ChangeCause::DbUpdate, ChangeCause::DbUpdate],
            "{}",
            stored.digest
        );
    }
}

/// PostgreSQL killed in the middle of a rematch and started again: the same scanner (no
/// restart) finishes the work, and no result or recorded change is lost or doubled.
#[test]
fn a_rematch_survives_postgres_being_killed() {
    let Some(server) = portcullis_test_support::postgres::PrivateServer::start("kill") else {
        return;
    };
    portcullis_test_support::postgres::sql(&server.url, "CREATE DATABASE killed");
    let url: StoreUrl = portcullis_test_support::postgres::database_url(&server.url, "killed")
        .parse()
        .expect("url");
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((_first, db2, stored)) = stored_lists(dir.path(), &url, 300) else {
        return;
    };
    let updated = scanner_on(dir.path(), &db2, url);
    let v2 = Db::open(&db2).expect("db").info().version;
    let during = std::thread::scope(|s| {
        let rematch = s.spawn(|| updated.rematch_stored());
        std::thread::sleep(std::time::Duration::from_millis(40));
        server.kill();
        rematch.join().expect("thread")
    });
    server.restart();
    // Whatever the kill interrupted, the same scanner finishes the rest once the server is back.
    let mut after = Vec::new();
    for _ in 0..10 {
        let r = updated.rematch_stored();
        let ok = r.is_ok();
        after.push(r.map_err(|e| e.to_string()));
        if ok {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let done = during.as_ref().map_or(0, |n| *n)
        + after.iter().filter_map(|r| r.as_ref().ok()).sum::<usize>();
    assert_eq!(done, stored, "during: {during:?}, after: {after:?}");
    let store = updated.store().expect("store");
    assert!(
        store
            .inventories_page(Some(&v2), None, usize::MAX)
            .expect("left")
            .is_empty(),
        "every list has its report under the new DB"
    );
    assert_each_rematched_twice(store);
}
