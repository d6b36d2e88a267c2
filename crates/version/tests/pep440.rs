//! Conformance with pypa/packaging's version tests (`tests/test_version.py`, its literal
//! parametrize lists and their evaluated expansions).

mod common;

use std::cmp::Ordering;
use std::path::Path;

use common::Suite;
use portcullis_version::pypi::Version;
use portcullis_version::{Ecosystem, compare, validate};
use serde_json::Value;

fn load(dir: &Path, name: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(name)).expect("read pep440 data");
    serde_json::from_str(&text).expect("pep440 data is JSON")
}

/// The parametrize entries of one file, by test name (a test may appear more than once).
fn cases<'a>(doc: &'a Value, test: &str) -> Vec<&'a Value> {
    blocks(doc, test)
        .into_iter()
        .flat_map(|p| p["cases"].as_array().into_iter().flatten())
        .collect()
}

fn blocks<'a>(doc: &'a Value, test: &str) -> Vec<&'a Value> {
    doc["parametrize"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["test"] == test)
        .collect()
}

/// A comparison block compares versions when its operands are versions, not specifiers
/// (`test_specifiers` has both kinds under the same test name).
fn is_version_block(block: &Value) -> bool {
    block["cases"]
        .as_array()
        .and_then(|c| c.first())
        .and_then(|c| c[0].as_str())
        .is_some_and(|l| l.starts_with(|c: char| c.is_ascii_digit()))
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

fn op_holds(op: &str, ord: Ordering) -> Option<bool> {
    Some(match op {
        "<" => ord.is_lt(),
        "<=" => ord.is_le(),
        "==" => ord.is_eq(),
        "!=" => ord.is_ne(),
        ">=" => ord.is_ge(),
        ">" => ord.is_gt(),
        _ => return None,
    })
}

fn comparisons(suite: &mut Suite, doc: &Value, test: &str, expected: bool) {
    let version_blocks = blocks(doc, test)
        .into_iter()
        .filter(|b| is_version_block(b));
    for case in version_blocks.flat_map(|b| b["cases"].as_array().into_iter().flatten()) {
        let (l, r, op) = (s(&case[0]), s(&case[1]), s(&case[2]));
        let got = compare(Ecosystem::PyPI, l, r).map(|o| op_holds(op, o));
        suite.check(got == Ok(Some(expected)), || {
            format!("{test}: {l} {op} {r} should be {expected}, got {got:?}")
        });
    }
}

#[test]
fn packaging_test_version_evaluated() {
    let Some(dir) = common::testdata("versions/pep440") else {
        return;
    };
    let doc = load(&dir, "test_version.evaluated.json");
    let mut valid = Suite::new("pep440 test_valid_versions");
    for case in cases(&doc, "test_valid_versions") {
        let got = validate(Ecosystem::PyPI, s(case));
        valid.check(got.is_ok(), || format!("{case} should be valid: {got:?}"));
    }
    let mut invalid = Suite::new("pep440 test_invalid_versions");
    for case in cases(&doc, "test_invalid_versions") {
        let got = validate(Ecosystem::PyPI, s(case));
        invalid.check(got.is_err(), || format!("{case} should be invalid"));
    }
    let mut normalized = Suite::new("pep440 test_normalized_versions");
    for case in cases(&doc, "test_normalized_versions") {
        let got = Version::parse(s(&case[0])).map(|v| v.to_string());
        normalized.check(got.as_deref() == Ok(s(&case[1])), || {
            format!("{case}: got {got:?}")
        });
    }
    let mut ordered = Suite::new("pep440 test_comparison_true/false");
    comparisons(&mut ordered, &doc, "test_comparison_true", true);
    comparisons(&mut ordered, &doc, "test_comparison_false", false);
    common::finish_all(vec![valid, invalid, normalized, ordered]);
}

#[test]
fn packaging_test_version_literal_lists() {
    let Some(dir) = common::testdata("versions/pep440") else {
        return;
    };
    let doc = load(&dir, "test_version.json");
    let mut suite = Suite::new("pep440 test_version.json accessors");
    let num = |v: &Value| v.as_u64().map(|n| n.to_string());
    for (test, check) in [
        (
            "test_version_str_repr",
            &(|v: &Version, want: &Value| v.to_string() == s(want))
                as &dyn Fn(&Version, &Value) -> bool,
        ),
        ("test_version_public", &|v, want| v.public() == s(want)),
        ("test_version_base_version", &|v, want| {
            v.base_version() == s(want)
        }),
        ("test_version_epoch", &|v, want| {
            Some(v.epoch().to_string()) == num(want)
        }),
        ("test_version_release", &|v, want| {
            let want: Vec<Option<String>> =
                want.as_array().into_iter().flatten().map(num).collect();
            v.release()
                .iter()
                .map(|n| Some(n.to_string()))
                .collect::<Vec<_>>()
                == want
        }),
        ("test_version_local", &|v, want| {
            v.local().as_deref() == want.as_str()
        }),
        ("test_version_pre", &|v, want| {
            let got = v
                .pre()
                .map(|(k, n)| (k.as_str().to_string(), n.to_string()));
            let want = want
                .as_array()
                .map(|p| (s(&p[0]).to_string(), num(&p[1]).unwrap_or_default()));
            got == want
        }),
        ("test_version_dev", &|v, want| {
            v.dev().map(ToString::to_string) == num(want)
        }),
        ("test_version_post", &|v, want| {
            v.post().map(ToString::to_string) == num(want)
        }),
        ("test_version_is_prerelease", &|v, want| {
            Some(v.is_prerelease()) == want.as_bool()
        }),
        ("test_version_is_devrelease", &|v, want| {
            Some(v.is_devrelease()) == want.as_bool()
        }),
        ("test_version_is_postrelease", &|v, want| {
            Some(v.is_postrelease()) == want.as_bool()
        }),
    ] {
        for case in cases(&doc, test) {
            let got = Version::parse(s(&case[0]));
            suite.check(got.as_ref().is_ok_and(|v| check(v, &case[1])), || {
                format!("{test}: {case}: got {got:?}")
            });
        }
    }
    // `Version.from_parts(**args) == Version(string)`: the parts must be what parsing reads.
    for case in cases(&doc, "test_from_parts") {
        let parts = &case[0];
        let got = Version::parse(s(&case[1]));
        let ok = got.as_ref().is_ok_and(|v| {
            let release: Vec<Option<String>> = parts["release"]
                .as_array()
                .into_iter()
                .flatten()
                .map(num)
                .collect();
            let pre_want = parts["pre"].as_array().map(|p| {
                let kind = match s(&p[0]).to_ascii_lowercase().as_str() {
                    "a" | "alpha" => "a",
                    "b" | "beta" => "b",
                    _ => "rc",
                };
                (kind.to_string(), num(&p[1]).unwrap_or_default())
            });
            v.release()
                .iter()
                .map(|n| Some(n.to_string()))
                .collect::<Vec<_>>()
                == release
                && v.epoch().to_string() == num(&parts["epoch"]).unwrap_or_else(|| "0".to_string())
                && v.pre()
                    .map(|(k, n)| (k.as_str().to_string(), n.to_string()))
                    == pre_want
                && v.post().map(ToString::to_string) == num(&parts["post"])
                && v.dev().map(ToString::to_string) == num(&parts["dev"])
                && v.local().as_deref() == parts["local"].as_str()
        });
        suite.check(ok, || format!("test_from_parts {case}: got {got:?}"));
    }
    suite.finish();
}

/// `test_specifiers.evaluated.json` repeats the version comparison lists (checked here too); its
/// specifier cases (`~=`, `==1.*`, pre-release policy of specifier sets) belong to PEP 440
/// specifiers, which this crate does not implement: OSV matching uses ranges, not specifiers.
#[test]
fn packaging_test_specifiers_version_comparisons() {
    let Some(dir) = common::testdata("versions/pep440") else {
        return;
    };
    let doc = load(&dir, "test_specifiers.evaluated.json");
    let mut suite = Suite::new("pep440 test_specifiers.evaluated.json version comparisons");
    comparisons(&mut suite, &doc, "test_comparison_true", true);
    comparisons(&mut suite, &doc, "test_comparison_false", false);
    let skipped: Vec<String> = doc["parametrize"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| {
            !is_version_block(p)
                || !p["test"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("test_comparison_"))
        })
        .filter_map(|p| p["test"].as_str())
        .map(str::to_string)
        .collect();
    println!("skipped specifier suites (not part of this crate): {skipped:?}");
    suite.finish();
}
