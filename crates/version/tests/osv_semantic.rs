//! Conformance with osv-scalibr's `semantic/testdata`: lines `a <op> b`, where the
//! `*-generated.txt` files were produced by each ecosystem's own tool. Every line is checked in
//! both directions (`a op b` and `b reverse(op) a`), as osv-scalibr does.

mod common;

use std::cmp::Ordering;
use std::fs;

use common::Suite;
use portcullis_version::{Ecosystem, Parsed, compare, compare_semver, pypi};

/// Lines whose expectation contradicts the ecosystem's own tool, with the tool's answer.
///
/// `maven-versions.txt` copies `1-ga-1 = 1-1` from the prose of Maven's version-order
/// specification, but Maven's `ComparableVersion` (checked with maven-artifact 3.8.7 and 3.9.9:
/// `java -cp maven-artifact.jar org.apache.maven.artifact.versioning.ComparableVersion 1-1
/// 1-ga-1` prints `1-1 > 1-ga-1`, tokens `[1, [1]]` and `[1, [[1]]]`) orders them; this crate
/// follows the tool Maven resolves with. The tool's answer is asserted instead.
///
/// `maven-versions-generated.txt` was generated with a Maven from before 3.9.0, which changed
/// the order of a qualifier after `.` (MNG-7644: `.X` reads as `-X`, so `1.5.9.RC1 = 1.5.9-RC1 >
/// 1.5.9-RC0`). These 18 of its 14,752 lines are the ones maven-artifact 3.9.9 orders the other
/// way (every line was run through it); its answer is asserted.
///
/// `alpine-versions.txt` line 47 says `1-ruff2 = 1--ruff1` as apk-tools orders them: an invalid
/// version (`--ruff1` is no revision) equals a valid one that reads the same, while two invalid
/// ones compare as whole strings. Together those are no order (`1--ruff1 = 1-ruff2 = 1--ruff3`
/// but `1--ruff1 < 1--ruff3`; `1l < 10.b0 < 1c03a8 < 1l`, a cycle `fuzz/` found), and sorting
/// by it may panic; this crate keeps a total order, in which the invalid one is older.
///
/// `packagist-versions.txt` line 96 says `1.2.3.# = 1.2.3.1`, as PHP's `version_compare` reads a
/// literal `#` as its number marker, equal to every number: then `1.2.3.# = 1.2.3.1` and `=
/// 1.2.3.2` though `1.2.3.1 < 1.2.3.2` (`#0 = 01.0 < 05 < #0` is the cycle `fuzz/` found). This
/// crate reads `#`, as every other punctuation, as a separator, so the version is `1.2.3`.
const TOOL_OVERRIDES: &[(&str, &str, Ordering)] = &[
    (
        "packagist-versions.txt",
        "1.2.3.# = 1.2.3.1",
        Ordering::Less,
    ),
    (
        "alpine-versions.txt",
        "1-ruff2 = 1--ruff1",
        Ordering::Greater,
    ),
    ("maven-versions.txt", "1-1 = 1-ga-1", Ordering::Greater),
    (
        "maven-versions-generated.txt",
        "1.0.0-RC16 < 1.0.0.RC8-beta",
        Ordering::Greater,
    ),
    (
        "maven-versions-generated.txt",
        "1.0.0-gradle-rework-beta3 < 1.0.0.RC7-3",
        Ordering::Greater,
    ),
    (
        "maven-versions-generated.txt",
        "2.9.0-1 < 2.9.0.RC1",
        Ordering::Greater,
    ),
    (
        "maven-versions-generated.txt",
        "6.1.12.rc5 < 6.1.12rc1",
        Ordering::Greater,
    ),
    (
        "maven-versions-generated.txt",
        "1.1.31.sec10 < 1.1.31_noneautotype",
        Ordering::Greater,
    ),
    (
        "maven-versions-generated.txt",
        "1.1.34.sec10 < 1.1.34_noneautotype",
        Ordering::Greater,
    ),
    (
        "maven-versions-generated.txt",
        "1.1.46.sec10 < 1.1.46_noneautotype",
        Ordering::Greater,
    ),
    (
        "maven-versions-generated.txt",
        "1.2.8.sec10_noneautotype < 1.2.8_noneautotype",
        Ordering::Greater,
    ),
    (
        "maven-versions-generated.txt",
        "1.2.31.sec10 < 1.2.31_noneautotype",
        Ordering::Greater,
    ),
    (
        "maven-versions-generated.txt",
        "1.2.48.sec10 < 1.2.48_noneautotype",
        Ordering::Greater,
    ),
    (
        "maven-versions-generated.txt",
        "1.2.50.sec10 < 1.2.50_noneautotype",
        Ordering::Greater,
    ),
    (
        "maven-versions-generated.txt",
        "1.2.54.sec10 < 1.2.54_noneautotype",
        Ordering::Greater,
    ),
    (
        "maven-versions-generated.txt",
        "1.2.57.sec10 < 1.2.57_noneautotype",
        Ordering::Greater,
    ),
    (
        "maven-versions-generated.txt",
        "1.2.60.sec10 < 1.2.60_noneautotype",
        Ordering::Greater,
    ),
    (
        "maven-versions-generated.txt",
        "1.2.67.sec10 < 1.2.67_noneautotype",
        Ordering::Greater,
    ),
    (
        "maven-versions-generated.txt",
        "1.0.0rc0 < 1.0.beta8",
        Ordering::Greater,
    ),
    (
        "maven-versions-generated.txt",
        "1.5.9.RC1 < 1.5.9-RC0",
        Ordering::Greater,
    ),
    (
        "maven-versions-generated.txt",
        "1.1.0-01-glassfish < 1.1.0.Beta1",
        Ordering::Greater,
    ),
];

/// Ecosystems of the data set that Portcullis does not support.
const UNSUPPORTED: [&str; 3] = ["cran", "pub", "hackage"];

fn parse_op(op: &str) -> Option<Ordering> {
    match op {
        "<" => Some(Ordering::Less),
        "=" => Some(Ordering::Equal),
        ">" => Some(Ordering::Greater),
        _ => None,
    }
}

/// The comparison lines of a fixture file: osv-scalibr skips blank lines and `# `/`// ` comments.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !(l.is_empty() || l.starts_with("# ") || l.starts_with("// ")))
}

/// A comparison under test; errors are rendered as text for the report.
type CmpFn = dyn Fn(&str, &str) -> Result<Ordering, String>;

fn run_file(file: &str, text: &str, cmp: &CmpFn) -> Suite {
    let mut suite = Suite::new(format!("osv-semantic/{file}"));
    for (no, line) in lines(text) {
        let pieces: Vec<&str> = line.split(' ').collect();
        let parsed = match pieces.as_slice() {
            [a, op, b] => parse_op(op).map(|o| (*a, o, *b)),
            _ => None,
        };
        let Some((a, mut want, b)) = parsed else {
            suite.check(false, || format!("{file}:{no}: malformed line {line:?}"));
            continue;
        };
        if let Some((_, _, tool)) = TOOL_OVERRIDES
            .iter()
            .find(|(f, l, _)| *f == file && *l == line)
        {
            println!(
                "{file}:{no}: {line:?} contradicts the ecosystem's tool; asserting {tool:?} instead"
            );
            want = *tool;
        }
        let forward = cmp(a, b);
        let backward = cmp(b, a);
        suite.check(
            forward == Ok(want) && backward == Ok(want.reverse()),
            || format!("{file}:{no}: {line:?}: got {forward:?} forward and {backward:?} backward"),
        );
    }
    suite
}

fn eco_cmp(eco: Ecosystem) -> impl Fn(&str, &str) -> Result<Ordering, String> {
    move |a, b| {
        let r = compare(eco, a, b).map_err(|e| e.to_string())?;
        // The parse-once path the matcher uses must order every vector exactly as compare does.
        let parsed = |v| Parsed::ecosystem(eco, v).map_err(|e| e.to_string());
        let p = parsed(a)?.cmp(&parsed(b)?);
        if p != r {
            return Err(format!("Parsed orders {p:?} but compare {r:?}"));
        }
        Ok(r)
    }
}

#[test]
fn osv_semantic_fixtures() {
    let Some(dir) = common::testdata("versions/osv-semantic") else {
        return;
    };
    let mut names: Vec<String> = fs::read_dir(&dir)
        .expect("read osv-semantic")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.ends_with(".txt"))
        .collect();
    names.sort();
    let mut suites = Vec::new();
    let mut skipped = Vec::new();
    for name in &names {
        let text = fs::read_to_string(dir.join(name)).expect("read fixture");
        let prefix = name.split('-').next().unwrap_or("");
        let cmp: Box<CmpFn> = match prefix {
            "alpine" => Box::new(eco_cmp(Ecosystem::Alpine)),
            "debian" => Box::new(eco_cmp(Ecosystem::Debian)),
            "redhat" => Box::new(eco_cmp(Ecosystem::Rpm)),
            "maven" => Box::new(eco_cmp(Ecosystem::Maven)),
            "nuget" => Box::new(eco_cmp(Ecosystem::NuGet)),
            "packagist" => Box::new(eco_cmp(Ecosystem::Packagist)),
            "rubygems" => Box::new(eco_cmp(Ecosystem::RubyGems)),
            "semver" => {
                Box::new(|a: &str, b: &str| compare_semver(a, b).map_err(|e| e.to_string()))
            }
            "pypi" => {
                suites.push(pypi_strict_part(name, &text));
                // Generated with `packaging` < 22, which ordered non-PEP 440 strings as legacy
                // versions: the whole file holds under that rule.
                Box::new(|a: &str, b: &str| Ok(pypi::compare_with_legacy(a, b)))
            }
            p if UNSUPPORTED.contains(&p) => {
                skipped.push(name.clone());
                continue;
            }
            _ => {
                panic!("fixture {name} has no ecosystem mapping: add one or list it as unsupported")
            }
        };
        suites.push(run_file(name, &text, &*cmp));
    }
    println!("skipped (ecosystems Portcullis does not support): {skipped:?}");
    assert_eq!(
        skipped.len(),
        4,
        "expected the cran, pub and hackage files to be the only skipped ones"
    );
    common::finish_all(suites);
}

/// The PyPI lines seen through the strict [`compare`]: lines with two PEP 440 versions must give
/// the expected order, lines with a non-PEP 440 version must be rejected.
fn pypi_strict_part(name: &str, text: &str) -> Suite {
    let mut suite = Suite::new(format!("osv-semantic/{name} (strict PEP 440 view)"));
    let (mut ordered, mut rejected) = (0, 0);
    for (no, line) in lines(text) {
        let pieces: Vec<&str> = line.split(' ').collect();
        let [a, op, b] = pieces.as_slice() else {
            continue;
        };
        let Some(want) = parse_op(op) else { continue };
        let valid = pypi::Version::parse(a).is_ok() && pypi::Version::parse(b).is_ok();
        let got = compare(Ecosystem::PyPI, a, b);
        if valid {
            ordered += 1;
            suite.check(got == Ok(want), || {
                format!("{name}:{no}: {line:?}: got {got:?}")
            });
        } else {
            rejected += 1;
            suite.check(got.is_err(), || {
                format!("{name}:{no}: {line:?}: expected a rejection, got {got:?}")
            });
        }
    }
    println!(
        "{name}: {ordered} lines with two PEP 440 versions, {rejected} with a legacy version (rejected by compare)"
    );
    suite
}
