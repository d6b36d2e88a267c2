//! Matching scenarios against an in-memory advisory source.

use portcullis_core::{
    AdvisoryKind, AdvisorySource, Ecosystem, Location, Package, RangeKind, Severity, SeverityScore,
    SourceError, Thresholds, TrackerState,
};
use portcullis_matcher::{
    Finding, MatchContext, MatchError, MatchOptions, Matcher, MemorySource, match_inventory,
    match_inventory_with, report,
};

use crate::support::*;

fn bookworm() -> Option<portcullis_core::Distro> {
    Some(distro("debian", "12", Some("bookworm")))
}

/// A binNMU (libssl3 3.0.9-1+b1, a rebuild of source openssl 3.0.9-1) is matched by its
/// source name and compared with the *source* version: the advisory says source versions up
/// to 3.0.9-1 are affected, which the rebuild still is although its binary version is higher.
/// And a binary whose version has nothing to do with its source's (gcc 4:12.2.0-3 from
/// gcc-defaults 1.203) is compared by the source version too.
#[test]
fn debian_source_indirection_and_binnmu() {
    let src = MemorySource::new(vec![
        advisory(
            "DSA-9001-1",
            &["CVE-2023-0001"],
            vec![affected(
                "Debian:bookworm",
                "openssl",
                RangeKind::Ecosystem,
                "i=0 la=3.0.9-1",
            )],
        ),
        advisory(
            "DSA-9002-1",
            &["CVE-2023-0002"],
            vec![affected(
                "Debian:12",
                "gcc-defaults",
                RangeKind::Ecosystem,
                "i=0 f=1.204",
            )],
        ),
    ]);
    let libssl = with_source(
        pkg(Ecosystem::Debian, "libssl3", "3.0.9-1+b1"),
        "openssl",
        "3.0.9-1",
    );
    let gcc = with_source(
        pkg(Ecosystem::Debian, "gcc", "4:12.2.0-3"),
        "gcc-defaults",
        "1.203",
    );
    let inv = inventory(bookworm(), vec![libssl, gcc]);
    let ms = match_inventory(&src, &inv, &MatchOptions::default()).unwrap();
    assert_eq!(ms.len(), 2, "{ms:#?}");
    let ssl = ms.iter().find(|m| m.id == "DSA-9001-1").unwrap();
    assert_eq!(ssl.package.name, "libssl3");
    assert_eq!(ssl.package.version, "3.0.9-1+b1");
    assert_eq!(ssl.matched_by.matcher, "dpkg-source");
    assert_eq!(
        ssl.matched_by.searched,
        "Debian:bookworm openssl 3.0.9-1 (source of libssl3 3.0.9-1+b1)"
    );
    assert_eq!(
        ssl.matched_by.range,
        "Debian:bookworm openssl: introduced 0, last_affected 3.0.9-1"
    );
    assert_eq!(ssl.matched_by.location, "/test/libssl3");
    assert!(ssl.fixed_versions.is_empty());
    let gcc = ms.iter().find(|m| m.id == "DSA-9002-1").unwrap();
    assert_eq!(gcc.fixed_versions, vec!["1.204"]);
    assert_eq!(gcc.state, TrackerState::Fixed);

    // Installed source at the fix: not affected, whatever the binary version.
    let fixed = with_source(
        pkg(Ecosystem::Debian, "gcc", "4:12.2.0-3"),
        "gcc-defaults",
        "1.204",
    );
    let ms = match_inventory(
        &src,
        &inventory(bookworm(), vec![fixed]),
        &MatchOptions::default(),
    )
    .unwrap();
    assert!(ms.is_empty(), "{ms:#?}");
}

#[test]
fn debian_release_must_match() {
    let src = MemorySource::new(vec![advisory(
        "DSA-1-1",
        &[],
        vec![
            affected(
                "Debian:bullseye",
                "curl",
                RangeKind::Ecosystem,
                "i=0 f=7.74.0-1.3+deb11u7",
            ),
            affected(
                "Debian:11",
                "curl",
                RangeKind::Ecosystem,
                "i=0 f=7.74.0-1.3+deb11u7",
            ),
        ],
    )]);
    let curl = pkg(Ecosystem::Debian, "curl", "7.74.0-1.3+deb11u1");
    let on_bookworm = match_inventory(
        &src,
        &inventory(bookworm(), vec![curl.clone()]),
        &MatchOptions::default(),
    );
    assert!(on_bookworm.unwrap().is_empty());
    let bullseye = Some(distro("debian", "11", Some("bullseye")));
    let on_bullseye = match_inventory(
        &src,
        &inventory(bullseye, vec![curl.clone()]),
        &MatchOptions::default(),
    )
    .unwrap();
    assert_eq!(on_bullseye.len(), 1);
    // Both spellings of the release matched: one finding, both entries as evidence.
    assert!(
        on_bullseye[0].matched_by.range.contains("Debian:bullseye")
            && on_bullseye[0].matched_by.range.contains("Debian:11")
    );
    assert_eq!(on_bullseye[0].fixed_versions, vec!["7.74.0-1.3+deb11u7"]);
    // Ubuntu advisories never apply to Debian packages.
    let ubuntu_src = MemorySource::new(vec![advisory(
        "USN-1",
        &[],
        vec![affected(
            "Ubuntu:22.04:LTS",
            "curl",
            RangeKind::Ecosystem,
            "i=0 f=99",
        )],
    )]);
    assert!(
        match_inventory(
            &ubuntu_src,
            &inventory(bookworm(), vec![curl]),
            &MatchOptions::default()
        )
        .unwrap()
        .is_empty()
    );
}

#[test]
fn ubuntu_releases_including_pro() {
    let src = MemorySource::new(vec![advisory(
        "CVE-2022-0530",
        &[],
        vec![
            affected(
                "Ubuntu:Pro:16.04:LTS",
                "unzip",
                RangeKind::Ecosystem,
                "i=0 f=6.0-20ubuntu1.1+esm1",
            ),
            affected(
                "Ubuntu:22.04:LTS",
                "unzip",
                RangeKind::Ecosystem,
                "i=0 f=6.0-26ubuntu3.1",
            ),
        ],
    )]);
    let jammy = Some(distro("ubuntu", "22.04", Some("jammy")));
    let unzip = pkg(Ecosystem::Ubuntu, "unzip", "6.0-26ubuntu3");
    let ms = match_inventory(
        &src,
        &inventory(jammy.clone(), vec![unzip]),
        &MatchOptions::default(),
    )
    .unwrap();
    assert_eq!(ms.len(), 1);
    assert_eq!(ms[0].fixed_versions, vec!["6.0-26ubuntu3.1"]);
    assert!(
        ms[0].matched_by.searched.starts_with("Ubuntu:22.04 unzip"),
        "{}",
        ms[0].matched_by.searched
    );
    let patched = pkg(Ecosystem::Ubuntu, "unzip", "6.0-26ubuntu3.1");
    assert!(
        match_inventory(
            &src,
            &inventory(jammy, vec![patched]),
            &MatchOptions::default()
        )
        .unwrap()
        .is_empty()
    );
    let xenial = Some(distro("ubuntu", "16.04", Some("xenial")));
    let old = pkg(Ecosystem::Ubuntu, "unzip", "6.0-20ubuntu1");
    let ms = match_inventory(
        &src,
        &inventory(xenial, vec![old]),
        &MatchOptions::default(),
    )
    .unwrap();
    assert_eq!(ms[0].fixed_versions, vec!["6.0-20ubuntu1.1+esm1"]);
}

#[test]
fn tracker_states_kept_or_dropped() {
    let mut unfixed = affected("Debian:bookworm", "tiff", RangeKind::Ecosystem, "i=0");
    unfixed.state = TrackerState::Unfixed;
    let mut no_dsa = affected("Debian:bookworm", "tiff", RangeKind::Ecosystem, "");
    no_dsa.state = TrackerState::NoDsa;
    let src = MemorySource::new(vec![
        advisory("CVE-2023-1", &[], vec![unfixed]),
        advisory("CVE-2023-2", &[], vec![no_dsa]),
        advisory(
            "CVE-2023-3",
            &[],
            vec![affected(
                "Debian:bookworm",
                "tiff",
                RangeKind::Ecosystem,
                "i=0 f=4.5.0-6+deb12u1",
            )],
        ),
    ]);
    let inv = inventory(
        bookworm(),
        vec![with_source(
            pkg(Ecosystem::Debian, "libtiff6", "4.5.0-6"),
            "tiff",
            "4.5.0-6",
        )],
    );
    let all = match_inventory(&src, &inv, &MatchOptions::default()).unwrap();
    let states: Vec<(&str, TrackerState)> = all.iter().map(|m| (m.id.as_str(), m.state)).collect();
    assert_eq!(
        states,
        vec![
            ("CVE-2023-1", TrackerState::Unfixed),
            ("CVE-2023-2", TrackerState::NoDsa),
            ("CVE-2023-3", TrackerState::Fixed),
        ]
    );
    let actionable = match_inventory(
        &src,
        &inv,
        &MatchOptions {
            include_unfixed_states: false,
        },
    )
    .unwrap();
    assert_eq!(
        actionable.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        vec!["CVE-2023-3"]
    );
}

#[test]
fn alpine_origin_and_branch() {
    let src = MemorySource::new(vec![
        advisory(
            "CVE-2023-5678",
            &[],
            vec![affected(
                "Alpine:v3.18",
                "openssl",
                RangeKind::Ecosystem,
                "i=0 f=3.1.4-r1",
            )],
        ),
        advisory(
            "CVE-2023-9999",
            &[],
            vec![affected(
                "Alpine:v3.17",
                "openssl",
                RangeKind::Ecosystem,
                "i=0 f=3.0.12-r1",
            )],
        ),
    ]);
    let alpine = Some(distro("alpine", "3.18.4", None));
    let libcrypto = with_source(
        pkg(Ecosystem::Alpine, "libcrypto3", "3.1.4-r0"),
        "openssl",
        "3.1.4-r0",
    );
    let ms = match_inventory(
        &src,
        &inventory(alpine.clone(), vec![libcrypto]),
        &MatchOptions::default(),
    )
    .unwrap();
    assert_eq!(
        ms.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        vec!["CVE-2023-5678"]
    );
    assert_eq!(ms[0].matched_by.matcher, "apk-origin");
    assert_eq!(
        ms[0].matched_by.searched,
        "Alpine:v3.18 openssl 3.1.4-r0 (source of libcrypto3)"
    );
    let patched = with_source(
        pkg(Ecosystem::Alpine, "libcrypto3", "3.1.4-r1"),
        "openssl",
        "3.1.4-r1",
    );
    assert!(
        match_inventory(
            &src,
            &inventory(alpine, vec![patched]),
            &MatchOptions::default()
        )
        .unwrap()
        .is_empty()
    );
}

#[test]
fn npm_wg_range_convention() {
    let src = MemorySource::new(vec![advisory(
        "NPM-WG-1",
        &["CVE-2014-7205"],
        vec![affected(
            "npm",
            "bassmaster",
            RangeKind::Ecosystem,
            "i=npm-range:<=1.5.1",
        )],
    )]);
    let hit = match_inventory(
        &src,
        &inventory(None, vec![pkg(Ecosystem::Npm, "bassmaster", "1.5.1")]),
        &MatchOptions::default(),
    );
    let hit = hit.unwrap();
    assert_eq!(hit.len(), 1);
    assert_eq!(hit[0].matched_by.range, "npm bassmaster: npm range <=1.5.1");
    let miss = match_inventory(
        &src,
        &inventory(None, vec![pkg(Ecosystem::Npm, "bassmaster", "1.5.2")]),
        &MatchOptions::default(),
    );
    assert!(miss.unwrap().is_empty());
}

/// PYSEC and GHSA records of one CVE: one match, the GHSA id (it has a vector), the others as
/// aliases, fixed versions merged. The same package at another location is its own match.
#[test]
fn aliases_are_merged_per_package_and_location() {
    let mut ghsa = advisory(
        "GHSA-wh4h-v3f2-r2pp",
        &["CVE-2021-33203"],
        vec![
            affected("PyPI", "django", RangeKind::Ecosystem, "i=2.2 f=2.2.24"),
            affected("PyPI", "django", RangeKind::Ecosystem, "i=3.2 f=3.2.4"),
        ],
    );
    ghsa.severity = vec![cvss("CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:N/A:N")];
    let pysec = advisory(
        "PYSEC-2021-108",
        &["CVE-2021-33203", "GHSA-wh4h-v3f2-r2pp"],
        vec![affected(
            "PyPI",
            "django",
            RangeKind::Ecosystem,
            "i=3.2 f=3.2.4 i=3.1 f=3.1.12",
        )],
    );
    let unrelated = advisory(
        "PYSEC-2021-9",
        &["CVE-2021-9"],
        vec![affected(
            "PyPI",
            "django",
            RangeKind::Ecosystem,
            "i=0 f=3.2.4",
        )],
    );
    let src = MemorySource::new(vec![pysec, ghsa, unrelated]);
    let a = pkg(Ecosystem::PyPI, "Django", "3.2");
    let mut b = a.clone();
    b.locations = vec![Location {
        layer: None,
        path: "/venv2/django".into(),
    }];
    let ms = match_inventory(&src, &inventory(None, vec![a, b]), &MatchOptions::default()).unwrap();
    assert_eq!(ms.len(), 4, "{ms:#?}");
    for loc in ["/test/Django", "/venv2/django"] {
        let here: Vec<_> = ms.iter().filter(|m| m.matched_by.location == loc).collect();
        assert_eq!(here.len(), 2, "{loc}");
        let merged = here
            .iter()
            .find(|m| m.id == "GHSA-wh4h-v3f2-r2pp")
            .expect("GHSA id preferred: it has a vector");
        assert_eq!(merged.aliases, vec!["CVE-2021-33203", "PYSEC-2021-108"]);
        assert_eq!(merged.fixed_versions, vec!["3.2.4"]);
        assert_eq!(merged.cvss.as_ref().map(|c| c.score), Some(4.9));
        assert_eq!(merged.severity, Severity::Medium);
        assert!(here.iter().any(|m| m.id == "PYSEC-2021-9"));
    }
}

#[test]
fn merged_fixed_versions_and_stable_primary_without_vectors() {
    let a = advisory(
        "PYSEC-1",
        &["CVE-1"],
        vec![affected("PyPI", "demo", RangeKind::Ecosystem, "i=0 f=1.5")],
    );
    let b = advisory(
        "GHSA-1",
        &["CVE-1"],
        vec![affected(
            "PyPI",
            "demo",
            RangeKind::Ecosystem,
            "i=0 f=1.4.2",
        )],
    );
    let src = MemorySource::new(vec![a, b]).with_alias_severity(
        "CVE-1",
        vec![cvss("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")],
    );
    let ms = match_inventory(
        &src,
        &inventory(None, vec![pkg(Ecosystem::PyPI, "demo", "1.0")]),
        &MatchOptions::default(),
    )
    .unwrap();
    assert_eq!(ms.len(), 1);
    assert_eq!(
        ms[0].id, "GHSA-1",
        "no record has its own vector: smallest id"
    );
    assert_eq!(ms[0].aliases, vec!["CVE-1", "PYSEC-1"]);
    assert_eq!(ms[0].fixed_versions, vec!["1.4.2", "1.5"]);
    let c = ms[0].cvss.as_ref().unwrap();
    assert_eq!((c.score, c.source.as_deref()), (9.8, Some("CVE-1")));
    assert_eq!(ms[0].severity, Severity::Critical);
}

#[test]
fn informational_and_withdrawn() {
    let mut unmaintained = advisory(
        "RUSTSEC-2020-0016",
        &[],
        vec![affected("crates.io", "net2", RangeKind::Semver, "i=0")],
    );
    unmaintained.kind = AdvisoryKind::Informational("unmaintained".into());
    let mut withdrawn = advisory(
        "RUSTSEC-2020-0001",
        &[],
        vec![affected("crates.io", "net2", RangeKind::Semver, "i=0")],
    );
    withdrawn.withdrawn = Some("2021-01-01T00:00:00Z".into());
    let src = MemorySource::new(vec![unmaintained, withdrawn]);
    let ms = match_inventory(
        &src,
        &inventory(None, vec![pkg(Ecosystem::Cargo, "net2", "0.2.39")]),
        &MatchOptions::default(),
    )
    .unwrap();
    assert_eq!(ms.len(), 1);
    assert_eq!(ms[0].informational.as_deref(), Some("unmaintained"));
    let r = report(
        "net2-app",
        Default::default(),
        vec![],
        ms,
        Default::default(),
        &Thresholds::default(),
    );
    assert_eq!(r.summary.informational, 1);
    assert_eq!(r.summary.status, portcullis_core::Status::Pass);
}

/// A withdrawn advisory is never matched even when the source hands it over.
#[test]
fn withdrawn_is_skipped_by_matchers() {
    struct Leaky(Vec<portcullis_core::Advisory>);
    impl AdvisorySource for Leaky {
        fn covering(
            &self,
            _: Ecosystem,
            _: &[String],
        ) -> Result<Vec<portcullis_core::Covering>, SourceError> {
            Ok(Vec::new())
        }
        fn advisories_for(
            &self,
            _: Ecosystem,
            _: &str,
        ) -> Result<std::sync::Arc<[portcullis_core::Advisory]>, SourceError> {
            Ok(self.0.clone().into())
        }
        fn alias_severity(&self, _: &str) -> Result<std::sync::Arc<[SeverityScore]>, SourceError> {
            Ok(Vec::new().into())
        }
    }
    let mut w = advisory(
        "GHSA-w",
        &[],
        vec![affected("npm", "x", RangeKind::Semver, "i=0")],
    );
    w.withdrawn = Some("2022-01-01".into());
    let ms = match_inventory(
        &Leaky(vec![w]),
        &inventory(None, vec![pkg(Ecosystem::Npm, "x", "1.0.0")]),
        &MatchOptions::default(),
    );
    assert!(ms.unwrap().is_empty());
}

#[test]
fn go_modules_and_stdlib() {
    let src = MemorySource::new(vec![
        advisory(
            "GO-2022-0515",
            &["CVE-2022-1962"],
            vec![affected(
                "Go",
                "stdlib",
                RangeKind::Semver,
                "i=0 f=1.17.12 i=1.18.0-0 f=1.18.4",
            )],
        ),
        advisory(
            "GO-2023-2102",
            &["CVE-2023-39325"],
            vec![affected(
                "Go",
                "golang.org/x/net",
                RangeKind::Semver,
                "i=0 f=0.17.0",
            )],
        ),
    ]);
    let inv = inventory(
        None,
        vec![
            pkg(Ecosystem::Go, "stdlib", "go1.18.3"),
            pkg(Ecosystem::Go, "golang.org/x/net", "v0.16.0"),
        ],
    );
    let ms = match_inventory(&src, &inv, &MatchOptions::default()).unwrap();
    assert_eq!(ms.len(), 2, "{ms:#?}");
    let std = ms.iter().find(|m| m.id == "GO-2022-0515").unwrap();
    assert_eq!(std.fixed_versions, vec!["1.18.4"]);
    assert_eq!(std.matched_by.searched, "Go stdlib 1.18.3");
    let inv = inventory(
        None,
        vec![
            pkg(Ecosystem::Go, "stdlib", "go1.18.4"),
            pkg(Ecosystem::Go, "stdlib", "go1.17.12"),
            pkg(Ecosystem::Go, "golang.org/x/net", "v0.17.0"),
            pkg(Ecosystem::Go, "example.com/main", "(devel)"),
        ],
    );
    assert!(
        match_inventory(&src, &inv, &MatchOptions::default())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn pypi_names_are_pep503() {
    let src = MemorySource::new(vec![advisory(
        "PYSEC-X",
        &[],
        vec![affected(
            "PyPI",
            "zope-interface",
            RangeKind::Ecosystem,
            "i=0 f=5.0",
        )],
    )]);
    let inv = inventory(None, vec![pkg(Ecosystem::PyPI, "Zope.Interface", "4.7.1")]);
    let ms = match_inventory(&src, &inv, &MatchOptions::default()).unwrap();
    assert_eq!(ms.len(), 1);
    assert_eq!(ms[0].matched_by.searched, "PyPI zope-interface 4.7.1");
}

#[test]
fn panicking_matcher_is_named() {
    struct Boom;
    impl Matcher for Boom {
        fn name(&self) -> &'static str {
            "boom"
        }
        fn version(&self) -> u32 {
            1
        }
        fn handles(&self, _: Ecosystem) -> bool {
            true
        }
        fn find(
            &self,
            _: &dyn AdvisorySource,
            _: &MatchContext<'_>,
            _: &Package,
        ) -> Result<Vec<Finding>, MatchError> {
            panic!("kaboom")
        }
    }
    let inv = inventory(None, vec![pkg(Ecosystem::Npm, "x", "1.0.0")]);
    let matchers: Vec<Box<dyn Matcher>> = vec![Box::new(Boom)];
    let err = match_inventory_with(
        &matchers,
        &MemorySource::default(),
        &inv,
        &MatchOptions::default(),
    )
    .unwrap_err();
    match err {
        MatchError::MatcherPanicked {
            matcher,
            package,
            message,
        } => {
            assert_eq!(
                (matcher.as_str(), package.as_str(), message.as_str()),
                ("boom", "pkg:npm/x@1.0.0", "kaboom")
            );
        }
        other => panic!("unexpected {other}"),
    }
}

/// A bare `Debian` entry (the tracker's unstable line) applies only to releases without an
/// entry of their own in the same advisory.
#[test]
fn bare_debian_entry_fills_in_for_other_releases() {
    let src = MemorySource::new(vec![advisory(
        "CVE-2023-7",
        &[],
        vec![
            affected(
                "Debian:bullseye",
                "zlib",
                RangeKind::Ecosystem,
                "i=0 f=1:1.2.11.dfsg-2+deb11u2",
            ),
            affected(
                "Debian",
                "zlib",
                RangeKind::Ecosystem,
                "i=0 f=1:1.2.13.dfsg-1",
            ),
        ],
    )]);
    let zlib = |v: &str| with_source(pkg(Ecosystem::Debian, "zlib1g", v), "zlib", v);
    let bullseye = || Some(distro("debian", "11", Some("bullseye")));
    // 1.2.11.dfsg-2+deb11u2 is fixed per the bullseye line, though below the unstable fix.
    let ms = match_inventory(
        &src,
        &inventory(bullseye(), vec![zlib("1:1.2.11.dfsg-2+deb11u2")]),
        &MatchOptions::default(),
    );
    assert!(ms.unwrap().is_empty());
    let ms = match_inventory(
        &src,
        &inventory(bullseye(), vec![zlib("1:1.2.11.dfsg-2+deb11u1")]),
        &MatchOptions::default(),
    )
    .unwrap();
    assert_eq!(
        ms[0].matched_by.range,
        "Debian:bullseye zlib: introduced 0, fixed 1:1.2.11.dfsg-2+deb11u2"
    );
    // bookworm has no line of its own: the bare entry decides.
    let ms = match_inventory(
        &src,
        &inventory(bookworm(), vec![zlib("1:1.2.13.dfsg-0")]),
        &MatchOptions::default(),
    )
    .unwrap();
    assert_eq!(ms.len(), 1);
    assert_eq!(ms[0].fixed_versions, vec!["1:1.2.13.dfsg-1"]);
    assert!(
        match_inventory(
            &src,
            &inventory(bookworm(), vec![zlib("1:1.2.13.dfsg-1")]),
            &MatchOptions::default()
        )
        .unwrap()
        .is_empty()
    );
}
