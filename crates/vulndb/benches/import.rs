//! Times an import of every feed in `shared/testdata/advisories` into a fresh database.
//! Run with `cargo bench -p portcullis-vulndb --bench import`. Target: under 5 s in release.

use std::path::PathBuf;
use std::time::Instant;

use portcullis_vulndb::Db;

fn main() {
    let Some(root) = portcullis_test_support::testdata("advisories") else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(&root) else {
        eprintln!("skipping: no test data at {}", root.display());
        return;
    };
    let mut sources: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    sources.sort();
    let Ok(tmp) = tempfile::tempdir() else {
        eprintln!("cannot create a temporary directory");
        return;
    };
    let db = tmp.path().join("vuln.db");
    let start = Instant::now();
    let report = match Db::import(&db, &sources, None) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("import failed: {e}");
            std::process::exit(1);
        }
    };
    let elapsed = start.elapsed();
    let records: usize = report.sources.iter().map(|(_, n)| n).sum();
    let size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    for (name, n) in &report.sources {
        println!("{name:32} {n:>7} records");
    }
    println!(
        "imported {records} records from {} sources in {:.2} s ({} warnings); database {:.1} MiB",
        report.sources.len(),
        elapsed.as_secs_f64(),
        report.warnings.len(),
        size as f64 / (1024.0 * 1024.0)
    );
}
