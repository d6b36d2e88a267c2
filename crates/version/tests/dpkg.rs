//! Conformance with dpkg's own version test vectors (`scripts/t/Dpkg_Version.t`): lines
//! `a b result` with result -1, 0 or 1.

mod common;

use std::cmp::Ordering;

use common::Suite;
use portcullis_version::{Ecosystem, compare};

#[test]
fn dpkg_version_cmp() {
    let Some(dir) = common::testdata("versions/dpkg") else {
        return;
    };
    let text = std::fs::read_to_string(dir.join("dpkg_version_cmp.txt")).expect("read dpkg data");
    let mut suite = Suite::new("dpkg/dpkg_version_cmp.txt");
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let want = match parts.get(2).copied() {
            Some("-1") => Ordering::Less,
            Some("0") => Ordering::Equal,
            Some("1") => Ordering::Greater,
            _ => {
                suite.check(false, || format!("line {}: malformed {line:?}", i + 1));
                continue;
            }
        };
        for eco in [Ecosystem::Debian, Ecosystem::Ubuntu] {
            let got = compare(eco, parts[0], parts[1]);
            suite.check(got == Ok(want), || {
                format!("line {}: {line:?} ({eco}): got {got:?}", i + 1)
            });
        }
    }
    suite.finish();
}
