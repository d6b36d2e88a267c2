//! Matching against a real database imported from real feeds, with the expectation computed
//! independently of the matcher: PyPA's explicit `versions` lists, and `dpkg
//! --compare-versions` for the Debian tracker's fixed versions.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use portcullis_core::{Ecosystem, Match, Package, Thresholds};
use portcullis_matcher::{MatchOptions, match_inventory, report, score_vector};
use portcullis_vulndb::Db;
use serde::Deserialize;

use crate::support::*;

fn import(sources: &[PathBuf]) -> (tempfile::TempDir, Db) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("vuln.db");
    Db::import(&path, sources, None).unwrap_or_else(|e| panic!("import {sources:?}: {e}"));
    let db = Db::open(&path).unwrap();
    (tmp, db)
}

/// The ids a package's matches stand for: each match's id and those of its aliases that are
/// records of the feed (merged duplicates).
fn matched_ids(ms: &[Match], name: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    ms.iter()
        .filter(|m| m.package.name == name)
        .flat_map(|m| std::iter::once(&m.id).chain(m.aliases.iter().filter(|a| known.contains(*a))))
        .cloned()
        .collect()
}

#[derive(Deserialize)]
struct OsvYaml {
    id: String,
    #[serde(default)]
    withdrawn: Option<String>,
    #[serde(default)]
    affected: Vec<OsvAffected>,
}

#[derive(Deserialize)]
struct OsvAffected {
    package: OsvPackage,
    #[serde(default)]
    versions: Vec<String>,
}

#[derive(Deserialize)]
struct OsvPackage {
    name: String,
}

/// Every non-withdrawn PyPA advisory whose `versions` list contains the installed version must
/// match, and nothing else may.
#[test]
fn pypi_versions_lists_are_the_oracle() {
    let Some(vulns) = testdata("advisories/pypi/vulns") else {
        return;
    };
    let nvd = testdata("advisories/nvd");
    let mut sources = vec![vulns.clone()];
    sources.extend(nvd.clone());
    let (_tmp, db) = import(&sources);
    let installed = [
        ("django", "3.2"),
        ("requests", "2.19.0"),
        ("urllib3", "1.24.1"),
        ("jinja2", "2.10"),
        ("flask", "0.12"),
        ("werkzeug", "0.15.0"),
        ("sqlparse", "0.4.1"),
        ("pygments", "2.5.1"),
    ];
    let mut expected: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut known: BTreeSet<String> = BTreeSet::new();
    for (name, version) in installed {
        let mut ids = BTreeSet::new();
        for entry in std::fs::read_dir(vulns.join(name)).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let rec: OsvYaml =
                serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            known.insert(rec.id.clone());
            let listed = rec.affected.iter().any(|a| {
                a.package.name.eq_ignore_ascii_case(name) && a.versions.iter().any(|v| v == version)
            });
            if listed && rec.withdrawn.is_none() {
                ids.insert(rec.id);
            }
        }
        expected.insert(name, ids);
    }
    let packages: Vec<Package> = installed
        .iter()
        .map(|(n, v)| pkg(Ecosystem::PyPI, n, v))
        .collect();
    let inv = inventory(None, packages.clone());
    let ms = match_inventory(&db, &inv, &MatchOptions::default()).unwrap();

    let mut problems = Vec::new();
    for (name, want) in &expected {
        let got = matched_ids(&ms, name, &known);
        let missing: Vec<_> = want.difference(&got).collect();
        let extra: Vec<_> = got.difference(want).collect();
        if !missing.is_empty() || !extra.is_empty() {
            problems.push(format!("{name}: missing {missing:?}, unexpected {extra:?}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        expected.values().map(BTreeSet::len).sum::<usize>() >= 40,
        "the oracle is too small to mean much"
    );

    // Evidence and severity: every match names its matcher and range; vectors taken from an
    // alias come from one of the match's own aliases, and score as that vector says.
    for m in &ms {
        assert_eq!(m.matched_by.matcher, "osv-ecosystem");
        assert!(
            m.matched_by.range.starts_with("PyPI "),
            "{}",
            m.matched_by.range
        );
        if let Some(c) = &m.cvss {
            assert_eq!(score_vector(&c.vector).unwrap().score, c.score);
            if let Some(src) = &c.source {
                assert!(
                    m.aliases.contains(src),
                    "{}: vector from {src}, not an alias",
                    m.id
                );
            }
        }
    }
    if nvd.is_some() {
        let enriched = ms
            .iter()
            .filter(|m| m.cvss.as_ref().is_some_and(|c| c.source.is_some()))
            .count();
        assert!(
            enriched > 0,
            "NVD records were imported but no match took a vector from them"
        );
    }
    let r = report(
        "pypi-app",
        inv.image.clone(),
        packages,
        ms,
        db.info(),
        &Thresholds::default(),
    );
    assert_eq!(r.summary.status, portcullis_core::Status::Fail);
}

/// One entry of the tracker's DSA/DLA lists for one release.
struct TrackerLine {
    id: String,
    package: String,
    /// The fixed version, or the `<marker>`.
    fixed: String,
}

fn tracker_lines(path: &Path, release: &str) -> Vec<TrackerLine> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut id = String::new();
    let mut out = Vec::new();
    let tag = format!("[{release}] - ");
    for line in text.lines() {
        if line.starts_with('[') {
            id = line
                .split_once(']')
                .map(|(_, r)| r.split_whitespace().next().unwrap_or("").to_string())
                .unwrap_or_default();
        } else if let Some(rest) = line.trim_start().strip_prefix(&tag) {
            let mut words = rest.split_whitespace();
            if let (Some(p), Some(v)) = (words.next(), words.next()) {
                out.push(TrackerLine {
                    id: id.clone(),
                    package: p.into(),
                    fixed: v.into(),
                });
            }
        }
    }
    out
}

fn dpkg_lt(a: &str, b: &str) -> bool {
    let status = Command::new("dpkg")
        .args(["--compare-versions", a, "lt", b])
        .status()
        .expect("run dpkg");
    status.success()
}

/// The Debian tracker's DSA and DLA lists (frozen in April 2023, before bookworm existed, so
/// the image is bullseye) against a few source packages, one reached through a binNMU'd
/// binary. Expected: every entry for bullseye whose fixed version is above the installed
/// source version per `dpkg --compare-versions`, or that says `<unfixed>`/`<end-of-life>`.
#[test]
fn debian_tracker_against_dpkg() {
    let Some(data) = testdata("advisories/debian-security-tracker/data") else {
        return;
    };
    if Command::new("dpkg").arg("--version").output().is_err() {
        return portcullis_test_support::skip("dpkg");
    }
    let lists = [data.join("DSA/list"), data.join("DLA/list")];
    let (_tmp, db) = import(&lists);
    // (binary, binary version, source, source version)
    let installed = [
        (
            "libssl1.1",
            "1.1.1n-0+deb11u2",
            "openssl",
            "1.1.1n-0+deb11u2",
        ),
        ("curl", "7.74.0-1.3+deb11u2", "curl", "7.74.0-1.3+deb11u2"),
        ("apache2", "2.4.56-1~deb11u1", "apache2", "2.4.56-1~deb11u1"),
        (
            "xserver-xorg-core",
            "2:1.20.11-1+deb11u4+b1",
            "xorg-server",
            "2:1.20.11-1+deb11u4",
        ),
        ("libtiff5", "4.2.0-1+deb11u1", "tiff", "4.2.0-1+deb11u1"),
        ("libexpat1", "2.2.10-2", "expat", "2.2.10-2"),
    ];
    let lines: Vec<TrackerLine> = lists
        .iter()
        .flat_map(|l| tracker_lines(l, "bullseye"))
        .collect();
    let known: BTreeSet<String> = lines.iter().map(|l| l.id.clone()).collect();
    let mut packages = Vec::new();
    let mut expected: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (bin, bin_version, source, source_version) in installed {
        packages.push(with_source(
            pkg(Ecosystem::Debian, bin, bin_version),
            source,
            source_version,
        ));
        let ids = lines
            .iter()
            .filter(|l| l.package == source)
            .filter(|l| match l.fixed.as_str() {
                "<unfixed>" | "<end-of-life>" => true,
                f if f.starts_with('<') => false,
                f => dpkg_lt(source_version, f),
            })
            .map(|l| l.id.clone())
            .collect();
        expected.insert(bin, ids);
    }
    let inv = inventory(Some(distro("debian", "11", Some("bullseye"))), packages);
    let ms = match_inventory(&db, &inv, &MatchOptions::default()).unwrap();
    let mut problems = Vec::new();
    for (bin, want) in &expected {
        let got = matched_ids(&ms, bin, &known);
        if &got != want {
            problems.push(format!(
                "{bin}: missing {:?}, unexpected {:?}",
                want.difference(&got).collect::<Vec<_>>(),
                got.difference(want).collect::<Vec<_>>()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        expected.values().map(BTreeSet::len).sum::<usize>() >= 10,
        "the oracle is too small to mean much"
    );
    assert!(
        expected["apache2"].is_empty(),
        "the fully patched package is the negative control"
    );
    for m in &ms {
        assert_eq!(m.matched_by.matcher, "dpkg-source");
        assert!(
            m.matched_by.searched.starts_with("Debian:bullseye "),
            "{}",
            m.matched_by.searched
        );
    }
    let xorg = ms
        .iter()
        .find(|m| m.package.name == "xserver-xorg-core")
        .expect("xorg-server matches");
    assert!(
        xorg.matched_by
            .searched
            .contains("(source of xserver-xorg-core 2:1.20.11-1+deb11u4+b1)")
    );
}
