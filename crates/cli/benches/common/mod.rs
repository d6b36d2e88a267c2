//! What the `serve` and API benchmarks share: the binary, a scanner over a store, the lang
//! fixture's package list, and the store backends to run on.
#![allow(dead_code, unreachable_pub)]

use std::path::Path;

use portcullis_core::Inventory;
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
