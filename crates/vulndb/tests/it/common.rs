//! Test data location and small file helpers.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The advisories folder of the shared test data (see [`portcullis_test_support::testdata`]).
pub(crate) fn advisories() -> Option<PathBuf> {
    portcullis_test_support::testdata("advisories")
}

/// Every file under `dir` (recursively) whose name satisfies `keep`, sorted.
pub(crate) fn files(dir: &Path, keep: &dyn Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if keep(&p) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

pub(crate) fn ext_is(ext: &'static str) -> impl Fn(&Path) -> bool {
    move |p: &Path| p.extension().is_some_and(|e| e == ext)
}

pub(crate) fn sha256_file(p: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(p).unwrap()))
}

/// Writes a zip of `files` (stored under `prefix/<file name>`).
pub(crate) fn write_zip(dest: &Path, prefix: &str, files: &[PathBuf]) {
    let f = std::fs::File::create(dest).unwrap();
    let mut z = zip::ZipWriter::new(f);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for p in files {
        let name = format!("{prefix}/{}", p.file_name().unwrap().to_string_lossy());
        z.start_file(name, opts).unwrap();
        z.write_all(&std::fs::read(p).unwrap()).unwrap();
    }
    z.finish().unwrap();
}

/// Names of files left in a directory (to see that no temporary database survived).
pub(crate) fn dir_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The shared NVD records (one CVE a file) and an API 2.0 yearly feed holding them all,
/// the shape of `nvdcve-2.0-YYYY.json`.
pub(crate) fn nvd_year_feed(nvd_dir: &Path) -> (Vec<serde_json::Value>, serde_json::Value) {
    let records: Vec<serde_json::Value> = files(nvd_dir, &ext_is("json"))
        .iter()
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .collect();
    let feed = serde_json::json!({
        "resultsPerPage": records.len(), "startIndex": 0, "totalResults": records.len(),
        "format": "NVD_CVE", "version": "2.0", "timestamp": "2026-12-01T00:00:00.000",
        "vulnerabilities": records.iter().map(|r| serde_json::json!({"cve": r})).collect::<Vec<_>>(),
    });
    (records, feed)
}
