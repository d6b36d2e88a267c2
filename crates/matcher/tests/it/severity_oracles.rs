//! CVSS scoring checked against scores that others computed: NVD records (v2, v3.0, v3.1 base
//! scores), the npm security WG's vector + score pairs (v3.0), and every vector RustSec ships
//! (v3.1, v4.0) must at least parse and score in range.

use std::path::Path;

use portcullis_matcher::score_vector;

use crate::support::testdata;

fn json_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    v.sort();
    v
}

fn same(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// Every CVSS metric in the NVD records: vector and NVD's base score must agree exactly.
#[test]
fn nvd_base_scores() {
    let Some(dir) = testdata("advisories/nvd") else {
        return;
    };
    let mut checked = 0;
    let mut mismatches = Vec::new();
    for path in json_files(&dir) {
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let Some(metrics) = doc["metrics"].as_object() else {
            continue;
        };
        for (kind, list) in metrics {
            for m in list.as_array().into_iter().flatten() {
                let (Some(vector), Some(expected)) = (
                    m["cvssData"]["vectorString"].as_str(),
                    m["cvssData"]["baseScore"].as_f64(),
                ) else {
                    continue;
                };
                let c = score_vector(vector).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let expected_version = match kind.as_str() {
                    "cvssMetricV2" => "2.0",
                    "cvssMetricV30" => "3.0",
                    "cvssMetricV31" => "3.1",
                    "cvssMetricV40" => "4.0",
                    other => panic!("unexpected metric kind {other}"),
                };
                assert_eq!(c.version, expected_version, "{vector}");
                if !same(c.score, expected) {
                    mismatches.push(format!(
                        "{}: {vector}: NVD {expected}, ours {}",
                        path.display(),
                        c.score
                    ));
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 90, "only {checked} NVD metrics found");
    assert!(
        mismatches.is_empty(),
        "{} of {checked} differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// The CVSS v3.0 base equation (specification section 8.1), written out independently of the
/// `cvss` crate: the referee when the npm WG file and our score disagree. `None` for a vector
/// with a missing or unknown base metric.
fn cvss30_base(vector: &str) -> Option<f64> {
    let rest = vector.strip_prefix("CVSS:3.0/")?;
    let metric = |name: &str| {
        rest.split('/').find_map(|c| {
            c.split_once(':')
                .filter(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    };
    let changed = match metric("S")?.as_str() {
        "U" => false,
        "C" => true,
        _ => return None,
    };
    let av: f64 = match metric("AV")?.as_str() {
        "N" => 0.85,
        "A" => 0.62,
        "L" => 0.55,
        "P" => 0.2,
        _ => return None,
    };
    let ac = match metric("AC")?.as_str() {
        "L" => 0.77,
        "H" => 0.44,
        _ => return None,
    };
    let pr = match (metric("PR")?.as_str(), changed) {
        ("N", _) => 0.85,
        ("L", false) => 0.62,
        ("L", true) => 0.68,
        ("H", false) => 0.27,
        ("H", true) => 0.5,
        _ => return None,
    };
    let ui = match metric("UI")?.as_str() {
        "N" => 0.85,
        "R" => 0.62,
        _ => return None,
    };
    let cia = |name: &str| match metric(name)?.as_str() {
        "H" => Some(0.56),
        "L" => Some(0.22),
        "N" => Some(0.0),
        _ => None,
    };
    let iss: f64 = 1.0 - (1.0 - cia("C")?) * (1.0 - cia("I")?) * (1.0 - cia("A")?);
    let impact = if changed {
        7.52 * (iss - 0.029) - 3.25 * (iss - 0.02).powi(15)
    } else {
        6.42 * iss
    };
    let exploitability = 8.22 * av * ac * pr * ui;
    if impact <= 0.0 {
        return Some(0.0);
    }
    let raw = if changed {
        (1.08 * (impact + exploitability)).min(10.0)
    } else {
        (impact + exploitability).min(10.0)
    };
    // Round up to one decimal, on integers so that float noise (7.50000001) cannot add 0.1.
    let hundred_thousandths = (raw * 100_000.0).round() as i64;
    Some(if hundred_thousandths % 10_000 == 0 {
        hundred_thousandths as f64 / 100_000.0
    } else {
        (hundred_thousandths / 10_000 + 1) as f64 / 10.0
    })
}

/// The npm security WG states a score next to each vector. Every vector must score exactly as
/// the v3.0 equation says; where the file's score differs, the equation decides: those are
/// errors in the file (typed by hand) and are listed, and they must stay a small minority.
#[test]
fn npm_wg_vector_scores() {
    let Some(dir) = testdata("advisories/npm-nodejs-security-wg/vuln/npm") else {
        return;
    };
    let (mut checked, mut agree) = (0, 0);
    let mut file_errors = Vec::new();
    for path in json_files(&dir) {
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let (Some(vector), Some(stated)) =
            (doc["cvss_vector"].as_str(), doc["cvss_score"].as_f64())
        else {
            continue;
        };
        if vector.trim().is_empty() {
            continue;
        }
        checked += 1;
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let spec = cvss30_base(vector);
        match score_vector(vector) {
            Err(e) => {
                assert_eq!(
                    spec, None,
                    "{file}: the equation scores {vector} but we reject it: {e}"
                );
                file_errors.push(format!("{file}: invalid vector: {e}"));
            }
            Ok(c) => {
                assert_eq!(
                    Some(c.score),
                    spec,
                    "{file}: {vector}: ours differs from the v3.0 equation"
                );
                if same(c.score, stated) {
                    agree += 1;
                } else {
                    file_errors.push(format!(
                        "{file}: {vector}: file says {stated}, equation and ours {}",
                        c.score
                    ));
                }
            }
        }
    }
    eprintln!(
        "npm WG: {agree} of {checked} stated scores agree; errors in the file:\n{}",
        file_errors.join("\n")
    );
    assert!(checked >= 400, "only {checked} npm WG vectors found");
    assert!(
        agree * 10 >= checked * 9,
        "only {agree} of {checked} agree:\n{}",
        file_errors.join("\n")
    );
}

/// Every RustSec severity vector (v3.1 and v4.0) parses, has the version its type says, and
/// scores within 0..=10.
#[test]
fn rustsec_vectors_score() {
    let Some(dir) = testdata("advisories/rustsec/crates") else {
        return;
    };
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for path in json_files(&dir) {
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for s in doc["severity"].as_array().into_iter().flatten() {
            let (kind, vector) = (s["type"].as_str().unwrap(), s["score"].as_str().unwrap());
            let c = score_vector(vector).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(
                &c.version[..1],
                &kind[kind.len() - 1..],
                "{}: {kind} {vector}",
                path.display()
            );
            assert!((0.0..=10.0).contains(&c.score));
            *seen.entry(kind.to_string()).or_default() += 1;
        }
    }
    assert!(
        seen.get("CVSS_V3").copied().unwrap_or(0) >= 300
            && seen.get("CVSS_V4").copied().unwrap_or(0) >= 50,
        "{seen:?}"
    );
}
