//! Import of each shared feed, failure atomicity, schema checks.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use portcullis_core::{AdvisoryKind, Ecosystem, Event, RangeKind, TrackerState};
use portcullis_vulndb::{Db, Error, NPM_RANGE_PREFIX, SourceFormat};

use crate::common::{advisories, dir_names, ext_is, files, nvd_year_feed, sha256_file, write_zip};

fn import_one(
    dir: &Path,
    sub: &str,
) -> (tempfile::TempDir, PathBuf, portcullis_vulndb::ImportReport) {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("vuln.db");
    let report = Db::import(&db, &[dir.join(sub)], None).unwrap();
    (tmp, db, report)
}

fn fixed_of(a: &portcullis_core::Affected) -> Option<&str> {
    a.ranges
        .iter()
        .flat_map(|r| &r.events)
        .find_map(|e| match e {
            Event::Fixed(v) => Some(v.as_str()),
            _ => None,
        })
}

#[test]
fn pypi_counts_aliases_withdrawn_and_size() {
    let Some(adv) = advisories() else { return };
    let yaml = files(&adv.join("pypi/vulns"), &ext_is("yaml"));
    let (_t, db_path, report) = import_one(&adv, "pypi");
    assert_eq!(report.sources, [("pypi".to_string(), yaml.len())]);
    assert!(report.warnings.is_empty(), "{:#?}", report.warnings);

    let input: u64 = yaml.iter().map(|p| p.metadata().unwrap().len()).sum();
    let size = db_path.metadata().unwrap().len();
    assert!(size <= input, "database {size} bytes > input {input} bytes");

    let db = Db::open(&db_path).unwrap();
    // PEP 503: any spelling finds the same advisories.
    let oslo = db
        .advisories_for(Ecosystem::PyPI, "Oslo_Middleware")
        .unwrap();
    let a = oslo
        .iter()
        .find(|a| a.id == "PYSEC-2018-104")
        .expect("PYSEC-2018-104 for oslo.middleware");
    assert!(
        a.aliases.contains(&"CVE-2017-2592".to_string())
            && a.aliases.contains(&"GHSA-xcp8-hh74-f6mc".to_string())
    );
    assert_eq!(a.source, "osv");
    assert!(
        a.summary
            .as_deref()
            .is_some_and(|s| s.starts_with("python-oslo-middleware before")),
        "summary from details"
    );
    let events = &a.affected[0].ranges[0].events;
    assert_eq!(events.len(), 6, "every event kept in order");
    assert_eq!(events[0], Event::Introduced("3.9.0".into()));

    // Withdrawn records are stored but never returned for matching.
    let withdrawn: Vec<_> = yaml
        .iter()
        .filter(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .any(|l| l.starts_with("withdrawn:"))
        })
        .collect();
    assert!(!withdrawn.is_empty());
    for p in withdrawn {
        let id = p.file_stem().unwrap().to_string_lossy().into_owned();
        let pkg = p
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            db.advisories_for(Ecosystem::PyPI, &pkg)
                .unwrap()
                .iter()
                .all(|a| a.id != id),
            "{id} is withdrawn"
        );
        let stored = db.advisories_by_id(&id).unwrap();
        assert!(
            stored.iter().any(|a| a.withdrawn.is_some()),
            "{id} is kept in the database"
        );
    }
    // Look-up by alias.
    assert!(
        db.advisories_by_id("GHSA-xcp8-hh74-f6mc")
            .unwrap()
            .iter()
            .any(|a| a.id == "PYSEC-2018-104")
    );

    let status = db.status().unwrap();
    assert_eq!(status.advisories, yaml.len());
    assert_eq!(status.sources[0].kind, "osv");
    assert_eq!(status.sources[0].records, yaml.len());
    assert_eq!(db.info().version, status.content_version);
    assert!(db.age() < std::time::Duration::from_secs(24 * 3600));
}

#[test]
fn rustsec_informational_and_withdrawn() {
    let Some(adv) = advisories() else { return };
    let json = files(&adv.join("rustsec/crates"), &ext_is("json"));
    let (_t, db_path, report) = import_one(&adv, "rustsec");
    assert_eq!(report.sources, [("rustsec".to_string(), json.len())]);
    assert!(report.warnings.is_empty(), "{:#?}", report.warnings);
    let db = Db::open(&db_path).unwrap();

    let mut informational = 0;
    let mut withdrawn = 0;
    for p in &json {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
        let id = v["id"].as_str().unwrap();
        let pkg = v["affected"][0]["package"]["name"].as_str().unwrap();
        let word = v["affected"][0]["database_specific"]["informational"].as_str();
        let found = db.advisories_for(Ecosystem::Cargo, pkg).unwrap();
        let got = found.iter().find(|a| a.id == id);
        if v.get("withdrawn").is_some() {
            withdrawn += 1;
            assert!(got.is_none(), "{id} is withdrawn");
            continue;
        }
        let got = got.unwrap_or_else(|| panic!("{id} for {pkg}"));
        match word {
            Some(w) => {
                informational += 1;
                assert_eq!(got.kind, AdvisoryKind::Informational(w.to_string()), "{id}");
            }
            None => assert_eq!(got.kind, AdvisoryKind::Vulnerability, "{id}"),
        }
        assert!(
            got.affected
                .iter()
                .all(|a| a.ranges.iter().all(|r| r.kind == RangeKind::Semver))
        );
    }
    assert!(informational > 0 && withdrawn > 0);
}

#[test]
fn go_vulndb_with_stdlib() {
    let Some(adv) = advisories() else { return };
    let json = files(&adv.join("go/data/osv"), &ext_is("json"));
    let (_t, db_path, report) = import_one(&adv, "go");
    assert_eq!(report.sources, [("go".to_string(), json.len())]);
    assert!(report.warnings.is_empty(), "{:#?}", report.warnings);
    let db = Db::open(&db_path).unwrap();
    let stdlib_files = json
        .iter()
        .filter(|p| {
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
            v.get("withdrawn").is_none()
                && v["affected"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| a["package"]["name"] == "stdlib")
        })
        .count();
    assert_eq!(
        db.advisories_for(Ecosystem::Go, "stdlib").unwrap().len(),
        stdlib_files
    );
    assert!(
        !db.advisories_for(Ecosystem::Go, "toolchain")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn npm_wg_range_convention() {
    let Some(adv) = advisories() else { return };
    let npm = files(&adv.join("npm-nodejs-security-wg/vuln/npm"), &|p: &Path| {
        ext_is("json")(p) && p.file_name().is_some_and(|n| n != "index.json")
    });
    let core = files(
        &adv.join("npm-nodejs-security-wg/vuln/core"),
        &ext_is("json"),
    );
    let (_t, db_path, report) = import_one(&adv, "npm-nodejs-security-wg");
    assert_eq!(report.sources[0].1, npm.len());
    let core_records = core
        .iter()
        .filter(|p| p.file_name().is_some_and(|n| n != "index.json"))
        .count();
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains(&format!("{core_records} Node.js core advisories skipped"))),
        "{:#?}",
        report.warnings
    );
    let db = Db::open(&db_path).unwrap();
    let found = db.advisories_for(Ecosystem::Npm, "merge-options").unwrap();
    let a = found
        .iter()
        .find(|a| a.id == "NSWG-ECO-410")
        .expect("NSWG-ECO-410");
    assert_eq!(a.affected[0].ecosystem, "npm");
    assert!(a.affected[0].versions.is_empty());
    assert_eq!(a.affected[0].ranges.len(), 1);
    assert_eq!(a.affected[0].ranges[0].kind, RangeKind::Ecosystem);
    // No patched range in the record: no fix event, and not marked fixed.
    assert_eq!(
        a.affected[0].ranges[0].events,
        [Event::Introduced(format!("{NPM_RANGE_PREFIX}<=1.0.0"))]
    );
    assert_eq!(a.affected[0].state, portcullis_core::TrackerState::Unfixed);
    // With one, the range carries it.
    let lodash = db.advisories_for(Ecosystem::Npm, "lodash").unwrap();
    let lodash = lodash
        .iter()
        .find(|a| a.id == "NSWG-ECO-368")
        .expect("NSWG-ECO-368");
    assert_eq!(
        lodash.affected[0].ranges[0].events,
        [
            Event::Introduced(format!("{NPM_RANGE_PREFIX}<4.17.5")),
            Event::Fixed(format!("{NPM_RANGE_PREFIX}>=4.17.5"))
        ]
    );
    assert_eq!(
        lodash.affected[0].state,
        portcullis_core::TrackerState::Fixed
    );
    assert_eq!(a.severity[0].kind, "CVSS_V3");
    assert_eq!(
        a.summary.as_deref(),
        Some("merge-options prototype pollution")
    );
    // CVEs become aliases.
    let with_cve = npm
        .iter()
        .map(|p| serde_json::from_slice::<serde_json::Value>(&std::fs::read(p).unwrap()).unwrap())
        .find(|v| v["cves"].as_array().is_some_and(|c| !c.is_empty()))
        .unwrap();
    let id = format!("NSWG-ECO-{}", with_cve["id"]);
    let got = db
        .advisories_by_id(with_cve["cves"][0].as_str().unwrap())
        .unwrap();
    assert!(got.iter().any(|a| a.id == id), "{id} by its CVE");
}

#[test]
fn alpine_secdb_per_cve_and_branch() {
    let Some(adv) = advisories() else { return };
    let dir = adv.join("alpine-secdb");
    // Independent count: identifiers listed under a fixed version other than "0" (with the
    // feed's `CVE 2018-…` and `CVE_2019-…` typos read as CVE ids).
    let version_key = regex::Regex::new(r#"^\s+"?([^\s":]+)"?:\s*$"#).unwrap();
    let item = regex::Regex::new(r"^\s+- (.+)$").unwrap();
    let mut ids = BTreeSet::new();
    for p in files(&dir, &ext_is("yaml")) {
        let mut zero = false;
        for line in std::fs::read_to_string(&p).unwrap().lines() {
            if let Some(c) = version_key.captures(line) {
                zero = &c[1] == "0";
            } else if let Some(c) = item.captures(line) {
                let text = c[1].replace("CVE_", "CVE-").replace("CVE ", "CVE-");
                let first = text
                    .split_whitespace()
                    .find(|t| t.contains('-') && t.bytes().any(|b| b.is_ascii_digit()));
                if let (false, Some(id)) = (zero, first) {
                    ids.insert(id.to_string());
                }
            }
        }
    }
    let (_t, db_path, report) = import_one(&adv, "alpine-secdb");
    assert_eq!(report.sources[0].1, ids.len(), "{:#?}", report.warnings);
    assert!(report.warnings.is_empty(), "{:#?}", report.warnings);
    let db = Db::open(&db_path).unwrap();
    let ansible = db.advisories_for(Ecosystem::Alpine, "ansible").unwrap();
    let a = ansible.iter().find(|a| a.id == "CVE-2019-10206").unwrap();
    let v39 = a
        .affected
        .iter()
        .find(|f| f.ecosystem == "Alpine:v3.9" && f.package == "ansible")
        .unwrap();
    assert_eq!(fixed_of(v39), Some("2.7.13-r0"));
    assert_eq!(v39.state, TrackerState::Fixed);
    // Fixed version 0 ("never affected") is not stored.
    for a in db.advisories_for(Ecosystem::Alpine, "db").unwrap() {
        assert!(
            a.affected.iter().all(|f| fixed_of(f) != Some("0")),
            "{}",
            a.id
        );
    }
    let xen = db.advisories_for(Ecosystem::Alpine, "xen").unwrap();
    let x = xen.iter().find(|a| a.id == "CVE-2017-8904").unwrap();
    assert_eq!(x.aliases, ["XSA-214"]);
    assert!(x.affected.len() > 1, "one entry per branch");
}

#[test]
fn debian_dsa_dla_triples_match_the_oracle() {
    let Some(adv) = advisories() else { return };
    let data = adv.join("debian-security-tracker/data");
    // The acceptance oracle's own regular expressions (acceptance/lib/deb_oracle.py).
    let header = regex::Regex::new(r"^\[.*?\]\s+(D[SL]A-\S+)").unwrap();
    let release_line = regex::Regex::new(r"^\s+\[(\w+)\]\s+-\s+(\S+)\s+(\S+)").unwrap();
    let mut expected = BTreeSet::new();
    for list in ["DSA/list", "DLA/list"] {
        let mut cur: Option<String> = None;
        for line in std::fs::read_to_string(data.join(list)).unwrap().lines() {
            if let Some(c) = header.captures(line) {
                cur = Some(c[1].to_string());
                continue;
            }
            if let (Some(c), Some(id)) = (release_line.captures(line), &cur)
                && !c[3].starts_with('<')
            {
                expected.insert((
                    id.clone(),
                    c[1].to_string(),
                    c[2].to_string(),
                    c[3].to_string(),
                ));
            }
        }
    }
    let (_t, db_path, report) = import_one(&adv, "debian-security-tracker");
    assert!(report.warnings.is_empty(), "{:#?}", report.warnings);
    let db = Db::open(&db_path).unwrap();
    let packages: BTreeSet<_> = expected.iter().map(|t| t.2.clone()).collect();
    let mut got = BTreeSet::new();
    for pkg in &packages {
        for a in db.advisories_for(Ecosystem::Debian, pkg).unwrap() {
            for f in &a.affected {
                let Some(release) = f.ecosystem.strip_prefix("Debian:") else {
                    continue;
                };
                // The oracle's `\[(\w+)\]` only sees word-character release names.
                if let (true, Some(fixed)) = (&f.package == pkg, fixed_of(f))
                    && release.chars().all(|c| c.is_alphanumeric() || c == '_')
                {
                    got.insert((
                        a.id.clone(),
                        release.to_string(),
                        f.package.clone(),
                        fixed.to_string(),
                    ));
                }
            }
        }
    }
    assert_eq!(got.len(), expected.len());
    assert_eq!(got, expected);
    assert!(
        expected
            .iter()
            .any(|t| t.1 == "bookworm" || t.1 == "bullseye")
    );

    let x = db.advisories_for(Ecosystem::Debian, "xorg-server").unwrap();
    let d = x.iter().find(|a| a.id == "DSA-5380-1").unwrap();
    assert_eq!(d.aliases, ["CVE-2023-1393"]);
    assert_eq!(d.source, "debian-tracker");
}

#[test]
fn ubuntu_osv_sample() {
    let Some(adv) = advisories() else { return };
    let (_t, db_path, report) = import_one(&adv, "ubuntu-osv-sample");
    assert_eq!(report.sources[0].1, 1);
    let db = Db::open(&db_path).unwrap();
    let got = db.advisories_for(Ecosystem::Ubuntu, "unzip").unwrap();
    assert_eq!(got.len(), 1);
    assert!(
        got[0]
            .affected
            .iter()
            .all(|a| a.ecosystem.starts_with("Ubuntu:"))
    );
    assert_eq!(got[0].severity[0].kind, "CVSS_V3");
}

#[test]
fn nvd_enrichment() {
    let Some(adv) = advisories() else { return };
    let json = files(&adv.join("nvd"), &ext_is("json"));
    let (_t, db_path, report) = import_one(&adv, "nvd");
    assert_eq!(report.sources, [("nvd".to_string(), json.len())]);
    let db = Db::open(&db_path).unwrap();
    let (mut with, mut without) = (0, 0);
    let mut some_with = None;
    for p in &json {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
        let id = v["id"].as_str().unwrap();
        let got = db.nvd_severity(id).unwrap();
        match v
            .pointer("/metrics/cvssMetricV31")
            .and_then(|m| m.as_array())
        {
            Some(list) => {
                with += 1;
                some_with.get_or_insert(id.to_owned());
                let primary = list
                    .iter()
                    .find(|m| m["type"] == "Primary")
                    .unwrap_or(&list[0]);
                let v3 = got.iter().find(|s| s.kind == "CVSS_V3").unwrap();
                assert_eq!(
                    v3.score,
                    primary["cvssData"]["vectorString"].as_str().unwrap(),
                    "{id}"
                );
            }
            None if v.pointer("/metrics/cvssMetricV30").is_none()
                && v.pointer("/metrics/cvssMetricV2").is_none() =>
            {
                without += 1;
                assert!(got.is_empty(), "{id}");
            }
            None => assert!(!got.is_empty(), "{id}"),
        }
    }
    assert!(with > 0 && without > 0);
    assert!(db.nvd_severity("CVE-1999-0001").unwrap().is_empty());
    assert!(
        db.advisories_for(Ecosystem::PyPI, "django")
            .unwrap()
            .is_empty(),
        "NVD adds no advisories"
    );
    // The remembered lookups give what the queries give, and the second time the same data.
    let id = some_with.expect("a record with CVSS 3.1");
    let scores = db.alias_scores(&id).unwrap();
    assert!(!scores.is_empty());
    assert_eq!(&scores[..], &db.nvd_severity(&id).unwrap()[..]);
    assert!(std::sync::Arc::ptr_eq(
        &scores,
        &db.alias_scores(&id).unwrap()
    ));
}

/// NVD's yearly feeds (`nvdcve-2.0-YYYY.json.zip`, one JSON of hundreds of MB) are read
/// record by record: the same vectors as the single records give, from a zip entry, from a
/// plain file found by its header, and a truncated feed fails naming entry and position.
#[test]
fn nvd_yearly_feeds_stream_to_the_same_vectors() {
    let Some(adv) = advisories() else { return };
    let (records, feed) = nvd_year_feed(&adv.join("nvd"));
    let tmp = tempfile::tempdir().unwrap();
    let plain = tmp.path().join("nvdcve-2.0-2018.json");
    std::fs::write(&plain, serde_json::to_vec(&feed).unwrap()).unwrap();
    let zip = tmp.path().join("nvd-2018.zip");
    write_zip(&zip, "feeds", std::slice::from_ref(&plain));

    let (_t, singles, _) = import_one(&adv, "nvd");
    let singles = Db::open(&singles).unwrap();
    for (source, format) in [
        (&zip, None),
        (&plain, None),
        (&zip, Some(SourceFormat::Nvd)),
    ] {
        let db_path = tmp.path().join("vuln.db");
        let report = Db::import(&db_path, std::slice::from_ref(source), format).unwrap();
        assert_eq!(report.sources[0].1, records.len(), "{}", source.display());
        let db = Db::open(&db_path).unwrap();
        let mut enriched = 0;
        for r in &records {
            let id = r["id"].as_str().unwrap();
            let got = db.nvd_severity(id).unwrap();
            assert_eq!(got, singles.nvd_severity(id).unwrap(), "{id}");
            enriched += usize::from(!got.is_empty());
        }
        assert!(enriched > 0);
        std::fs::remove_file(&db_path).unwrap();
    }

    // Cut in the middle of a record: the whole import fails, naming the entry and where.
    let text = serde_json::to_string(&feed).unwrap();
    let cut = tmp.path().join("nvdcve-2.0-2019.json");
    std::fs::write(&cut, &text[..text.len() / 2]).unwrap();
    let bad = tmp.path().join("nvd-2019.zip");
    write_zip(&bad, "feeds", std::slice::from_ref(&cut));
    let db_path = tmp.path().join("cut.db");
    let err = Db::import(&db_path, &[bad], None).unwrap_err().to_string();
    assert!(
        err.contains("nvd-2019.zip!feeds/nvdcve-2.0-2019.json: invalid NVD document")
            && err.contains("line 1 column"),
        "{err}"
    );
    assert!(!db_path.exists());
}

#[test]
fn import_all_then_reimport_one_keeps_the_others() {
    let Some(adv) = advisories() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let db_path = tmp.path().join("vuln.db");
    let mut all: Vec<PathBuf> = std::fs::read_dir(&adv)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    all.sort();
    let first = Db::import(&db_path, &all, None).unwrap();
    assert_eq!(first.sources.len(), all.len());
    let v1 = Db::open(&db_path).unwrap().status().unwrap();

    // A reader opened before the re-import keeps its view while the file is replaced.
    let reader = Db::open(&db_path).unwrap();
    let before = reader
        .advisories_for(Ecosystem::Go, "stdlib")
        .unwrap()
        .len();
    let again = Db::import(&db_path, &[adv.join("pypi")], None).unwrap();
    assert_eq!(again.sources.len(), 1);
    assert_eq!(
        reader
            .advisories_for(Ecosystem::Go, "stdlib")
            .unwrap()
            .len(),
        before
    );
    assert_eq!(reader.info().version, v1.content_version);

    let v2 = Db::open(&db_path).unwrap().status().unwrap();
    assert_eq!(
        v1.content_version, v2.content_version,
        "the same data, so the same version: nothing to match again"
    );
    assert_eq!(
        v2.advisories, v1.advisories,
        "same data re-imported: nothing lost, nothing doubled"
    );
    let names: Vec<_> = v2.sources.iter().map(|s| s.name.as_str()).collect();
    let expected: Vec<_> = all
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap())
        .collect();
    assert_eq!(names, expected);
    assert_eq!(dir_names(tmp.path()), ["vuln.db"], "no temporary file left");
}

#[test]
fn malformed_records_are_warnings_naming_file_and_record() {
    let Some(adv) = advisories() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("feed");
    std::fs::create_dir(&src).unwrap();
    let good = files(&adv.join("go/data/osv"), &ext_is("json"))
        .into_iter()
        .take(3)
        .collect::<Vec<_>>();
    for p in &good {
        std::fs::copy(p, src.join(p.file_name().unwrap())).unwrap();
    }
    std::fs::write(
        src.join("no-id.json"),
        r#"{"modified": "2024-01-01T00:00:00Z", "affected": []}"#,
    )
    .unwrap();
    std::fs::write(
        src.join("bad-shape.json"),
        r#"{"id": "BAD-1", "affected": "not a list"}"#,
    )
    .unwrap();
    std::fs::write(
        src.join("broken.json"),
        "{\"id\": \"BROKEN-1\",\n \"affected\": [",
    )
    .unwrap();
    std::fs::write(
        src.join("mixed.json"),
        r#"{"id": "MIX-1", "affected": [
            {"package": {"ecosystem": "Hackage", "name": "aeson"}, "ranges": []},
            {"package": {"ecosystem": "PyPI", "name": "Some_Pkg"}, "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0"}]}]}]}"#,
    )
    .unwrap();
    std::fs::write(
        src.join("unknown-only.json"),
        r#"{"id": "HSEC-1", "affected": [{"package": {"ecosystem": "Hackage", "name": "x"}}]}"#,
    )
    .unwrap();
    std::fs::write(src.join("bad.yaml"), "id: YAML-1\naffected: [unclosed\n").unwrap();
    std::fs::write(src.join("README.md"), "not a record").unwrap();

    let db_path = tmp.path().join("vuln.db");
    let report = Db::import(
        &db_path,
        std::slice::from_ref(&src),
        Some(SourceFormat::Osv),
    )
    .unwrap();
    assert_eq!(
        report.sources,
        [("feed".to_string(), good.len() + 1)],
        "{:#?}",
        report.warnings
    );
    let w = &report.warnings;
    let has = |file: &str, what: &str| w.iter().any(|x| x.contains(file) && x.contains(what));
    assert!(has("no-id.json", "missing `id`"), "{w:#?}");
    assert!(has("bad-shape.json", "BAD-1: record skipped"), "{w:#?}");
    assert!(
        has(
            "broken.json",
            "BROKEN-1: record skipped: invalid JSON: EOF while parsing a list at line 2"
        ),
        "{w:#?}"
    );
    assert!(
        has("mixed.json", "MIX-1: unknown ecosystem 'Hackage'"),
        "{w:#?}"
    );
    assert!(
        has(
            "unknown-only.json",
            "HSEC-1: record skipped: no affected package in a known ecosystem (unknown ecosystem 'Hackage'"
        ),
        "{w:#?}"
    );
    assert!(has("bad.yaml", "YAML-1: record skipped"), "{w:#?}");
    assert_eq!(w.len(), 6, "{w:#?}");
    let db = Db::open(&db_path).unwrap();
    let mix = db.advisories_for(Ecosystem::PyPI, "some-pkg").unwrap();
    assert_eq!(mix.len(), 1);
    assert_eq!(mix[0].affected.len(), 1, "only the known ecosystem is kept");
}

#[test]
fn failed_imports_leave_the_previous_database_unchanged() {
    let Some(adv) = advisories() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let go = files(&adv.join("go/data/osv"), &ext_is("json"))
        .into_iter()
        .take(40)
        .collect::<Vec<_>>();
    let zip_dir = tmp.path().join("Go");
    std::fs::create_dir(&zip_dir).unwrap();
    let zip = zip_dir.join("all.zip");
    write_zip(&zip, "", &go);
    let db_dir = tmp.path().join("db");
    let db_path = db_dir.join("vuln.db");
    let report = Db::import(&db_path, std::slice::from_ref(&zip), None).unwrap();
    assert_eq!(
        report.sources,
        [("Go/all.zip".to_string(), go.len())],
        "{:#?}",
        report.warnings
    );
    let before = sha256_file(&db_path);

    // A truncated archive is a hard error naming it.
    let bytes = std::fs::read(&zip).unwrap();
    let cut = tmp.path().join("cut.zip");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let err = Db::import(
        &db_path,
        &[adv.join("ubuntu-osv-sample"), cut.clone()],
        None,
    )
    .unwrap_err();
    assert!(matches!(err, Error::Ingest(_)), "{err}");
    assert!(
        err.to_string().contains("cut.zip") && err.to_string().contains("damaged zip"),
        "{err}"
    );
    assert_eq!(sha256_file(&db_path), before);

    // A damaged entry (corrupted compressed data) is a hard error naming the entry.
    let mut bad = bytes.clone();
    let mid = bad.len() / 3;
    for b in &mut bad[mid..mid + 64] {
        *b ^= 0x5a;
    }
    let corrupt = tmp.path().join("corrupt.zip");
    std::fs::write(&corrupt, &bad).unwrap();
    let err = Db::import(&db_path, &[corrupt], None).unwrap_err();
    assert!(err.to_string().contains("corrupt.zip"), "{err}");
    assert_eq!(sha256_file(&db_path), before);

    // A missing source: IO error, nothing written.
    let err = Db::import(&db_path, &[adv.join("pypi"), tmp.path().join("nope")], None).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
    assert_eq!(sha256_file(&db_path), before);
    assert_eq!(dir_names(&db_dir), ["vuln.db"], "no temporary file left");
    assert_eq!(
        Db::open(&db_path)
            .unwrap()
            .advisories_for(Ecosystem::Go, "stdlib")
            .unwrap()
            .len(),
        {
            go.iter()
                .filter(|p| {
                    std::fs::read_to_string(p)
                        .unwrap()
                        .contains("\"name\": \"stdlib\"")
                })
                .filter(|p| {
                    !std::fs::read_to_string(p)
                        .unwrap()
                        .contains("\"withdrawn\"")
                })
                .count()
        }
    );
}

#[test]
fn newer_schema_is_refused_with_a_clear_error() {
    let Some(adv) = advisories() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let db_path = tmp.path().join("vuln.db");
    Db::import(&db_path, &[adv.join("ubuntu-osv-sample")], None).unwrap();
    {
        let c = rusqlite::Connection::open(&db_path).unwrap();
        c.execute(
            "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
    }
    let expected = format!(
        "database schema 99 is newer than this portcullis ({}); update portcullis",
        portcullis_vulndb::SCHEMA_VERSION
    );
    assert_eq!(Db::open(&db_path).unwrap_err().to_string(), expected);
    let before = sha256_file(&db_path);
    assert_eq!(
        Db::import(&db_path, &[adv.join("nvd")], None)
            .unwrap_err()
            .to_string(),
        expected
    );
    assert_eq!(sha256_file(&db_path), before);
}

#[test]
fn missing_and_foreign_files_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("none.db");
    assert!(matches!(Db::open(&missing), Err(Error::Missing { .. })));
    let foreign = tmp.path().join("foreign.db");
    std::fs::write(
        &foreign,
        b"this is not sqlite at all, just text long enough to look like a header",
    )
    .unwrap();
    let err = Db::open(&foreign).unwrap_err();
    assert!(matches!(err, Error::NotADatabase { .. }), "{err}");
    let other_sqlite = tmp.path().join("other.db");
    rusqlite::Connection::open(&other_sqlite)
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    assert!(matches!(
        Db::open(&other_sqlite),
        Err(Error::NotADatabase { .. })
    ));
}

#[test]
fn two_sources_with_one_name_are_refused() {
    let Some(adv) = advisories() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let err = Db::import(
        &tmp.path().join("v.db"),
        &[adv.join("nvd"), adv.join("nvd")],
        None,
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::DuplicateSource(ref n) if n == "nvd"),
        "{err}"
    );
}

/// CISA's KEV catalog holds no advisories (no packages, no ranges): its import says it was not
/// read, and never stops the import (it once failed it whole, taken for an NVD collection).
#[test]
fn a_kev_catalog_is_reported_not_read_and_stops_nothing() {
    let Some(adv) = advisories() else { return };
    // Alone it holds nothing to match: the import fails, saying why, and writes nothing.
    let tmp = tempfile::tempdir().unwrap();
    let alone = tmp.path().join("kev.db");
    let e = Db::import(&alone, &[adv.join("kev")], None).unwrap_err();
    assert!(
        e.to_string().contains("no advisory found") && e.to_string().contains("Known Exploited"),
        "{e}"
    );
    assert!(!alone.exists());
    // Beside a feed it is reported and stops nothing.
    let db = tmp.path().join("both.db");
    let report = Db::import(&db, &[adv.join("kev"), adv.join("go")], None).unwrap();
    assert!(report.sources.iter().any(|(_, n)| *n > 0));
    let kev = report
        .warnings
        .iter()
        .find(|w| w.contains("known_exploited_vulnerabilities.json"))
        .unwrap_or_else(|| panic!("no warning names the catalog: {:#?}", report.warnings));
    assert!(
        kev.contains("Known Exploited Vulnerabilities") && kev.contains("1404 entries"),
        "{kev}"
    );
}

/// The content version says what the DB holds, not when or where it was built: two imports of
/// the same sources (two replicas updating on their own) agree, in whatever order the sources
/// were given; a source with other records changes it.
#[test]
fn the_content_version_is_the_same_for_the_same_data() {
    let Some(adv) = advisories() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let version = |name: &str, sources: &[PathBuf]| {
        let db = tmp.path().join(name);
        Db::import(&db, sources, None).unwrap();
        Db::open(&db).unwrap().status().unwrap().content_version
    };
    let (go, pypi) = (adv.join("go"), adv.join("pypi"));
    let a = version("a.db", &[go.clone(), pypi.clone()]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let b = version("b.db", &[pypi.clone(), go.clone()]);
    assert_eq!(a, b, "same data imported at another time, in another order");
    // Fewer sources, or one record fewer: another version.
    assert_ne!(version("c.db", std::slice::from_ref(&go)), a);
    let some = tmp.path().join("pypi-part");
    std::fs::create_dir(&some).unwrap();
    let mut files = files(&pypi, &ext_is("json"));
    files.sort();
    for f in files.iter().skip(1) {
        std::fs::copy(f, some.join(f.file_name().unwrap())).unwrap();
    }
    let renamed = tmp.path().join("pypi");
    std::fs::rename(&some, &renamed).unwrap();
    assert_ne!(version("d.db", &[go, renamed]), a, "one record fewer");
}
