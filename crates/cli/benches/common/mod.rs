//! What the `serve` and API benchmarks share: the binary, a scanner over a store, the lang
//! fixture's package list, and the store backends to run on.
#![allow(dead_code, unreachable_pub)]

use std::path::Path;

use portcullis_core::{Digest, ImageSighting, Inventory, ResultStore};
use portcullis_scanner::{Scanner, ScannerConfig, StoreUrl};
use portcullis_test_support::bench::fail;

/// The binary measured: `PORTCULLIS_BIN` (the release build, from the scripts), else this build's.
pub fn bin() -> String {
    std::env::var("PORTCULLIS_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_portcullis").into())
}

/// A scanner over `store`, matching with `db`.
pub fn scanner(store: StoreUrl, db: &Path, cache: &Path) -> Scanner {
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

/// The package list of the lang fixture image, the base of the varied images.
pub fn lang_inventory(rt: &tokio::runtime::Runtime, fixtures: &Path) -> Inventory {
    rt.block_on(
        Scanner::new(ScannerConfig::default())
            .unwrap_or_else(|e| fail("scanner", e))
            .inventory(&format!("oci:{}:lang", fixtures.join("oci").display())),
    )
    .unwrap_or_else(|e| fail("inventory", e))
}

/// The backends to measure: SQLite under `dir`, and PostgreSQL when one is there (a fresh
/// database named after `bench`).
pub fn backends(dir: &Path, bench: &str) -> Vec<(&'static str, String)> {
    let mut v = vec![(
        "sqlite",
        format!("sqlite:{}", dir.join("store.db").display()),
    )];
    if let Some(url) = portcullis_test_support::postgres::fresh_database(bench) {
        v.push(("postgres", url));
    }
    v
}

/// A multi-threaded runtime for the benchmark's async parts.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail("runtime", e))
}

/// Puts `count` distinct images made from `base` (each package in one of `variants` versions)
/// into `store`, as a cluster's admissions would: each image's list, what `each` adds for it (a
/// report), and a sighting as `bench.invalid/app-N:1`.
pub fn seed_images(
    store: &dyn ResultStore,
    base: &Inventory,
    count: usize,
    variants: usize,
    mut each: impl FnMut(usize, &Digest, &Inventory),
) {
    let mut sightings = Vec::with_capacity(count);
    for i in 0..count {
        let (digest, inv) = portcullis_test_support::build::varied(base, i, variants);
        store
            .put_inventory(&digest, &inv)
            .unwrap_or_else(|e| fail("put inventory", e));
        each(i, &digest, &inv);
        sightings.push(ImageSighting {
            registry: "bench.invalid".into(),
            repository: format!("app-{i}"),
            tag: Some("1".into()),
            digest,
            source: "cluster:bench".into(),
        });
    }
    store
        .record_sightings(&sightings, time::OffsetDateTime::now_utc())
        .unwrap_or_else(|e| fail("sightings", e));
}

/// A port free on 127.0.0.1 now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap_or_else(|e| fail("port", e))
        .port()
}
