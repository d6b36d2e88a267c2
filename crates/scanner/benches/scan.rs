//! The scan pipeline's figures, side by side in one run (not a timed test):
//!   1. import of every feed in `$PORTCULLIS_TESTDATA/advisories` (target ≤ 5 s; DB size vs the input's);
//!   2. matching throughput (packages/s) on the lang fixture's package list;
//!   3. a cold `scan` (walk + match + store) of the lang OCI layout vs a cached one (store hit);
//!   4. rematch of 1,000 stored package lists under a new DB version (target ≤ 1 s).
//!
//! Run with `cargo bench -p portcullis-scanner --bench scan` (or `scripts/bench-scan`) after `scripts/fixtures`.

use std::path::Path;
use std::time::{Duration, Instant};

use portcullis_core::InventoryStore;
use portcullis_scanner::{Scanner, ScannerConfig, StoreUrl, code_versions};
use portcullis_store::SqliteStore;
use portcullis_vulndb::Db;

fn dir_size(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    };
    rd.filter_map(Result::ok)
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                dir_size(&p)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            }
        })
        .sum()
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("{what}: {e}");
    std::process::exit(1);
}

fn main() {
    let (Some(sources), Some(fx)) = (
        portcullis_test_support::advisory_feeds(),
        portcullis_test_support::fixtures(),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap_or_else(|e| fail("tempdir", e));

    // 1. Import.
    let db_path = tmp.path().join("vuln.db");
    let t = Instant::now();
    let report = Db::import(&db_path, &sources, None).unwrap_or_else(|e| fail("import", e));
    let import_time = t.elapsed();
    let records: usize = report.sources.iter().map(|(_, n)| n).sum();
    let db_size = std::fs::metadata(&db_path).map(|m| m.len()).unwrap_or(0);
    println!(
        "import      {records} records, {} sources: {:.2} s; DB {:.1} MiB vs input {:.1} MiB",
        report.sources.len(),
        import_time.as_secs_f64(),
        mib(db_size),
        mib(sources.iter().map(|s| dir_size(s)).sum()),
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail("runtime", e));
    let target = format!("oci:{}:lang", fx.join("oci").display());
    let scanner = |store: &Path, db: &Path| {
        Scanner::new(ScannerConfig {
            image: portcullis_image::Options {
                cache_dir: tmp.path().join("cache"),
                ..Default::default()
            },
            db: Some(db.to_path_buf()),
            store: Some(StoreUrl::Sqlite(store.to_path_buf())),
            ..Default::default()
        })
        .unwrap_or_else(|e| fail("scanner", e))
    };

    // 3. Cold scan, then the cached one (same scanner, same store).
    let store_path = tmp.path().join("results.db");
    let s = scanner(&store_path, &db_path);
    let t = Instant::now();
    let cold = rt
        .block_on(s.scan(&target))
        .unwrap_or_else(|e| fail("scan", e));
    let cold_time = t.elapsed();
    let runs = 20u32;
    let t = Instant::now();
    for _ in 0..runs {
        rt.block_on(s.scan(&target))
            .unwrap_or_else(|e| fail("scan", e));
    }
    let cached_time = t.elapsed() / runs;

    // 2. Matching throughput on the same package list.
    let inv = rt
        .block_on(s.inventory(&target))
        .unwrap_or_else(|e| fail("inventory", e));
    let db = Db::open(&db_path).unwrap_or_else(|e| fail("open", e));
    let opts = portcullis_matcher::MatchOptions::default();
    let (mut n, t) = (0u64, Instant::now());
    while t.elapsed() < Duration::from_secs(2) {
        portcullis_matcher::match_inventory(&db, &inv, &opts).unwrap_or_else(|e| fail("match", e));
        n += 1;
    }
    let per = t.elapsed().as_secs_f64() / n as f64;
    println!(
        "matching    {} packages, {} matches: {:.2} ms per list, {:.0} packages/s",
        inv.packages.len(),
        cold.vulnerabilities.len(),
        per * 1e3,
        inv.packages.len() as f64 / per
    );
    println!(
        "scan        cold {:.0} ms (walk + match + store), cached {:.2} ms: {:.0}x",
        cold_time.as_secs_f64() * 1e3,
        cached_time.as_secs_f64() * 1e3,
        cold_time.as_secs_f64() / cached_time.as_secs_f64()
    );

    // 4. 1,000 stored package lists (the lang list under 1,000 digests), rematched under a
    //    new DB version: every list read back from the store, matched, and its report stored.
    let many = tmp.path().join("many.db");
    let store = SqliteStore::open_for(&many, code_versions()).unwrap_or_else(|e| fail("store", e));
    for i in 0..1000 {
        let mut inv = inv.clone();
        let digest: portcullis_core::Digest = format!("sha256:{i:064x}")
            .parse()
            .unwrap_or_else(|e| fail("digest", e));
        inv.image.digest = Some(digest.clone());
        store
            .put_inventory(&digest, &inv)
            .unwrap_or_else(|e| fail("put", e));
    }
    let db2 = tmp.path().join("vuln2.db");
    Db::import(&db2, &sources, None).unwrap_or_else(|e| fail("import", e));
    let s2 = scanner(&many, &db2);
    let t = Instant::now();
    let count = s2.rematch_stored().unwrap_or_else(|e| fail("rematch", e));
    let rematch_time = t.elapsed();
    println!(
        "rematch     {count} stored lists of {} packages (one image's list under 1,000 digests: \
         packages shared, each evaluated once): {:.2} s",
        inv.packages.len(),
        rematch_time.as_secs_f64(),
    );
    // The case without sharing: every list matched on its own, one thread.
    let (mut n, t) = (0u32, Instant::now());
    while t.elapsed() < Duration::from_secs(2) {
        s2.rematch(inv.clone())
            .unwrap_or_else(|e| fail("rematch", e));
        n += 1;
    }
    let each = t.elapsed().as_secs_f64() / f64::from(n);
    println!(
        "rematch     one list alone (nothing shared): {:.2} ms, i.e. {:.2} s per 1,000 distinct lists on one core",
        each * 1e3,
        each * 1e3
    );
}
