//! Rematch after a DB update at cluster scale, on both store backends (not a timed test):
//! 10,000 distinct stored inventories, made from the lang fixture's package list with varied
//! versions, are rematched under a new DB version; target ≤ 5 s on 2 cores, on SQLite and on
//! PostgreSQL. Every list is read back from the store, matched, and its report written (one
//! transaction per backend).
//!
//! The lists vary as a cluster's images do: each package of image `i` takes one of
//! [`VARIANTS`] versions (its own, or its last number moved), chosen per image and package, so no
//! two images hold the same list while base layers still share most packages.
//!
//! Run with `scripts/bench-rematch` (which starts the fixtures and PostgreSQL), or
//! `cargo bench -p portcullis-scanner --bench rematch` with `PORTCULLIS_TEST_POSTGRES` set.

use std::path::Path;
use std::time::Instant;

use portcullis_core::{Digest, Inventory};
use portcullis_scanner::{Scanner, ScannerConfig, StoreUrl};
use portcullis_vulndb::Db;

/// Images rematched.
const IMAGES: usize = 10_000;
/// Versions each package takes across the images.
const VARIANTS: usize = 40;

use portcullis_test_support::bench::fail;

fn scanner(store: StoreUrl, db: &Path, cache: &Path) -> Scanner {
    Scanner::new(ScannerConfig {
        image: portcullis_image::Options {
            cache_dir: cache.to_path_buf(),
            ..Default::default()
        },
        db: Some(db.to_path_buf()),
        store: Some(store),
        ..Default::default()
    })
    .unwrap_or_else(|e| fail("scanner", e))
}

fn main() {
    let (Some(sources), Some(fx)) = (
        portcullis_test_support::advisory_feeds(),
        portcullis_test_support::fixtures(),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap_or_else(|e| fail("tempdir", e));
    let (db1, db2) = (tmp.path().join("vuln1.db"), tmp.path().join("vuln2.db"));
    // The update brings the PyPA advisories: another DB version (versions follow content).
    let before: Vec<_> = sources
        .iter()
        .filter(|s| !s.ends_with("pypi"))
        .cloned()
        .collect();
    Db::import(&db1, &before, None).unwrap_or_else(|e| fail("import", e));
    Db::import(&db2, &sources, None).unwrap_or_else(|e| fail("import", e));
    let cache = tmp.path().join("cache");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail("runtime", e));
    let base = rt
        .block_on(
            scanner(StoreUrl::Sqlite(tmp.path().join("base.db")), &db1, &cache)
                .inventory(&format!("oci:{}:lang", fx.join("oci").display())),
        )
        .unwrap_or_else(|e| fail("inventory", e));
    let images: Vec<(Digest, Inventory)> = (0..IMAGES)
        .map(|i| portcullis_test_support::build::varied(&base, i, VARIANTS))
        .collect();
    let distinct: std::collections::HashSet<_> = images
        .iter()
        .flat_map(|(_, inv)| inv.packages.iter().map(|p| (&p.name, &p.version)))
        .collect();
    println!(
        "inventories {IMAGES} of {} packages; {} distinct (package, version) pairs",
        base.packages.len(),
        distinct.len()
    );

    let mut backends = vec![("sqlite", StoreUrl::Sqlite(tmp.path().join("store.db")))];
    if let Some(url) = portcullis_test_support::postgres::fresh_database("bench_rematch") {
        backends.push((
            "postgres",
            url.parse().unwrap_or_else(|e| fail("postgres url", e)),
        ));
    }
    for (name, url) in backends {
        let first = scanner(url.clone(), &db1, &cache);
        let store = first.store().unwrap_or_else(|| fail("store", "none"));
        let t = Instant::now();
        for (d, inv) in &images {
            store
                .put_inventory(d, inv)
                .unwrap_or_else(|e| fail("put", e));
        }
        let put = t.elapsed();
        first
            .rematch_stored()
            .unwrap_or_else(|e| fail("rematch", e));
        drop(first);
        // The DB changes: every stored list is matched again under the new version.
        let updated = scanner(url, &db2, &cache);
        let t = Instant::now();
        let n = updated
            .rematch_stored()
            .unwrap_or_else(|e| fail("rematch", e));
        let took = t.elapsed();
        println!(
            "rematch     {name:<8} {n} distinct stored lists after a DB update: {:.2} s (target <= 5 s); \
             storing them took {:.1} s",
            took.as_secs_f64(),
            put.as_secs_f64()
        );
    }
}
