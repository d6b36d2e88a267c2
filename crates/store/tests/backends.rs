//! Both backends for real: the conformance suite, schema versions, and unreachable stores, on an
//! SQLite file and on the PostgreSQL server `scripts/postgres` starts.

use portcullis_core::InventoryStore;
use portcullis_store::{CodeVersions, PostgresStore, SqliteStore, StoreUrl};
use portcullis_test_support::build::{digest, inventory};
use portcullis_test_support::postgres;

fn versions() -> CodeVersions {
    CodeVersions {
        catalog: "python@1".into(),
        report: "python@1;language@1".into(),
    }
}

#[test]
fn sqlite_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url: StoreUrl = format!("sqlite:{}", dir.path().join("r.db").display())
        .parse()
        .expect("url");
    let store = portcullis_store::open(&url, versions()).expect("open");
    portcullis_test_support::store::conformance(store.as_ref());
}

#[test]
fn postgres_passes_the_conformance_suite() {
    let Some(url) = postgres::fresh_database("conformance") else {
        return;
    };
    let store = portcullis_store::open(&url.parse().expect("url"), versions()).expect("open");
    portcullis_test_support::store::conformance(store.as_ref());
}

/// An older binary refuses a store a newer one wrote, naming the store and both versions.
#[test]
fn a_newer_schema_is_refused_on_both_backends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("r.db");
    drop(SqliteStore::open_for(&path, versions()).expect("create"));
    rusqlite::Connection::open(&path)
        .and_then(|c| c.pragma_update(None, "user_version", 99))
        .expect("set user_version");
    let err = SqliteStore::open_for(&path, versions())
        .err()
        .expect("refused");
    let msg = chain(&err);
    assert!(
        msg.contains(&path.display().to_string())
            && msg.contains("version 99")
            && msg.contains("newer than this binary knows"),
        "{msg}"
    );

    let Some(url) = postgres::fresh_database("newer_schema") else {
        return;
    };
    drop(PostgresStore::open(&url, versions()).expect("create"));
    postgres::sql(&url, "INSERT INTO portcullis_schema (version) VALUES (99)");
    let err = PostgresStore::open(&url, versions())
        .err()
        .expect("refused");
    let msg = chain(&err);
    assert!(
        msg.contains("version 99") && msg.contains("newer than this binary knows"),
        "{msg}"
    );
    assert!(
        !msg.contains("portcullis-test"),
        "no password in messages: {msg}"
    );
}

/// Replicas starting at once on one empty database migrate it once, and both work.
#[test]
fn replicas_opening_at_once_migrate_once() {
    let Some(url) = postgres::fresh_database("replicas") else {
        return;
    };
    let stores: Vec<PostgresStore> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| PostgresStore::open(&url, versions())))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread").expect("open"))
            .collect()
    });
    let d = digest(7);
    let mut inv = inventory(None, Vec::new());
    inv.image.digest = Some(d.clone());
    stores[0].put_inventory(&d, &inv).expect("put");
    assert_eq!(stores[3].inventory(&d).expect("read"), Some(inv));
}

/// A server that goes away and comes back: calls fail meanwhile with a clear error, and the
/// store reconnects by itself.
#[test]
fn postgres_reconnects_after_losing_its_connection() {
    let Some(url) = postgres::fresh_database("reconnect") else {
        return;
    };
    let store = PostgresStore::open(&url, versions()).expect("open");
    let d = digest(9);
    let mut inv = inventory(None, Vec::new());
    inv.image.digest = Some(d.clone());
    store.put_inventory(&d, &inv).expect("put");
    // Every other session of this database is ended, as a server restart would.
    let db = url.rsplit('/').next().expect("db").to_string();
    postgres::sql(
        &postgres::server().expect("server"),
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()"
        ),
    );
    // The first call may find the connection closed; within a few the store is back.
    let back = (0..5).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        store.inventory(&d).ok() == Some(Some(inv.clone()))
    });
    assert!(back, "the store did not reconnect");
}

#[test]
fn unreachable_stores_are_named() {
    let err = PostgresStore::open("postgres://app:s3cret@127.0.0.1:1/portcullis", versions())
        .err()
        .expect("unreachable");
    let msg = chain(&err);
    assert!(
        msg.contains("postgres://app@127.0.0.1:1/portcullis"),
        "{msg}"
    );
    assert!(!msg.contains("s3cret"), "{msg}");

    let file = tempfile::NamedTempFile::new().expect("file");
    let inside_a_file = file.path().join("r.db");
    let err = SqliteStore::open_for(&inside_a_file, versions())
        .err()
        .expect("not a directory");
    assert!(
        chain(&err).contains(&inside_a_file.display().to_string()),
        "{}",
        chain(&err)
    );
}

fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    portcullis_core::ErrorChain(e).to_string()
}

/// Work under one name never overlaps, between two stores (two replicas) on one database nor
/// between threads of one.
#[test]
fn postgres_exclusive_work_never_overlaps() {
    use portcullis_core::ReportStore;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let Some(url) = postgres::fresh_database("exclusive") else {
        return;
    };
    let replicas: Vec<PostgresStore> = (0..2)
        .map(|_| PostgresStore::open(&url, versions()).expect("open"))
        .collect();
    let (inside, overlaps, done) = (
        AtomicBool::new(false),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    std::thread::scope(|s| {
        for r in &replicas {
            for _ in 0..3 {
                s.spawn(|| {
                    r.exclusively("rematch", &mut || {
                        if inside.swap(true, Ordering::SeqCst) {
                            overlaps.fetch_add(1, Ordering::SeqCst);
                        }
                        std::thread::sleep(std::time::Duration::from_millis(50));
                        inside.store(false, Ordering::SeqCst);
                        done.fetch_add(1, Ordering::SeqCst);
                    })
                    .expect("exclusively");
                });
            }
        }
    });
    assert_eq!(done.load(Ordering::SeqCst), 6);
    assert_eq!(overlaps.load(Ordering::SeqCst), 0);
}
