//! dpkg, apk and rpm over osv-scalibr's fixtures. Expected values were read off the fixtures.

use portcullis_catalog::os::{Apk, Dpkg, Rpm};
use portcullis_core::{Distro, Ecosystem, Location, SourcePackage};

use crate::common::{debian12, extract, layer, nv, scalibr};

const STATUS: &str = "/var/lib/dpkg/status";

#[test]
fn dpkg_valid_lists_every_installed_package() {
    let Some(content) = scalibr("os/dpkg/testdata/dpkg/valid") else {
        return;
    };
    let pkgs = extract(&Dpkg, STATUS, &content, Some(&debian12())).unwrap();
    assert_eq!(
        nv(&pkgs),
        [
            "accountsservice 22.08.8-6",
            "acl 2.3.1-3",
            "adduser 3.131",
            "admin-session 2023.06.26.c543406313-00",
            "attr 1:2.5.1-4",
            "libacl1 2.3.1-3",
            "util-linux-extra 2.38.1-5+b1",
        ]
    );
    let by_name = |n: &str| pkgs.iter().find(|p| p.name == n).unwrap();
    // `Source: acl` without a version: the binary's version.
    assert_eq!(
        by_name("libacl1").source,
        Some(SourcePackage {
            name: "acl".into(),
            version: "2.3.1-3".into()
        })
    );
    // `Source: util-linux (2.38.1-5)`: a binNMU, the source version differs.
    let ule = by_name("util-linux-extra");
    assert_eq!(
        ule.source,
        Some(SourcePackage {
            name: "util-linux".into(),
            version: "2.38.1-5".into()
        })
    );
    assert_eq!(
        ule.purl,
        "pkg:deb/debian/util-linux-extra@2.38.1-5%2Bb1?arch=amd64&distro=debian-12"
    );
    assert_eq!(ule.ecosystem, Ecosystem::Debian);
    assert_eq!(ule.found_by, "os/dpkg");
    assert_eq!(
        ule.locations,
        vec![Location {
            layer: Some(layer()),
            path: STATUS.into()
        }]
    );
    assert_eq!(by_name("acl").source, None);
    assert_eq!(by_name("adduser").arch.as_deref(), Some("all"));
}

#[test]
fn dpkg_snapshot() {
    let Some(content) = scalibr("os/dpkg/testdata/dpkg/valid") else {
        return;
    };
    let pkgs = extract(&Dpkg, STATUS, &content, Some(&debian12())).unwrap();
    insta::assert_yaml_snapshot!(pkgs);
}

#[test]
fn dpkg_only_installed_status() {
    let Some(content) = scalibr("os/dpkg/testdata/dpkg/statusfield") else {
        return;
    };
    let pkgs = extract(&Dpkg, STATUS, &content, None).unwrap();
    assert_eq!(
        nv(&pkgs),
        [
            "wantdeinstall_installed 1.0",
            "wantinstall_installed 1.0",
            "wantpurge_installed 1.0"
        ],
        "config-files, unpacked, half-installed and status-less paragraphs are not installed"
    );
}

#[test]
fn dpkg_status_d_without_status_is_installed() {
    let Some(content) = scalibr("os/dpkg/testdata/dpkg/status.d/foo") else {
        return;
    };
    let pkgs = extract(&Dpkg, "/var/lib/dpkg/status.d/foo", &content, None).unwrap();
    assert_eq!(nv(&pkgs), ["foo 1.2.3"]);
    // Without a distro the namespace defaults to debian and there is no distro qualifier.
    assert_eq!(pkgs[0].purl, "pkg:deb/debian/foo@1.2.3?arch=amd64");
}

#[test]
fn dpkg_skips_paragraphs_without_name_or_version() {
    let Some(content) = scalibr("os/dpkg/testdata/dpkg/nopackage") else {
        return;
    };
    assert_eq!(
        nv(&extract(&Dpkg, STATUS, &content, None).unwrap()),
        ["bar 2.0", "foo 1.0"]
    );
    let Some(content) = scalibr("os/dpkg/testdata/dpkg/noversion") else {
        return;
    };
    assert_eq!(
        nv(&extract(&Dpkg, STATUS, &content, None).unwrap()),
        ["bar 2.0", "foo 1.0"]
    );
}

#[test]
fn dpkg_edge_files() {
    let Some(empty) = scalibr("os/dpkg/testdata/dpkg/empty") else {
        return;
    };
    assert!(extract(&Dpkg, STATUS, &empty, None).unwrap().is_empty());
    let Some(trailing) = scalibr("os/dpkg/testdata/dpkg/trailingnewlines") else {
        return;
    };
    assert_eq!(
        nv(&extract(&Dpkg, STATUS, &trailing, None).unwrap()),
        ["acl 2.3.1-3"]
    );
    let Some(invalid) = scalibr("os/dpkg/testdata/dpkg/invalid") else {
        return;
    };
    let err = extract(&Dpkg, STATUS, &invalid, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/var/lib/dpkg/status:1: expected 'Key: value', found \"asdf\""
    );
    let Some(t) = scalibr("os/dpkg/testdata/dpkg/transitional") else {
        return;
    };
    let p = extract(&Dpkg, STATUS, &t, None).unwrap();
    assert_eq!(
        p[0].source_or_self(),
        ("firefox-esr", "78.13.0esr-1~deb10u1")
    );
}

#[test]
fn dpkg_on_ubuntu() {
    let Some(content) = scalibr("os/dpkg/testdata/dpkg/single") else {
        return;
    };
    let ubuntu = Distro {
        id: "ubuntu".into(),
        version_id: Some("22.04".into()),
        ..Distro::default()
    };
    let pkgs = extract(&Dpkg, STATUS, &content, Some(&ubuntu)).unwrap();
    assert_eq!(pkgs[0].ecosystem, Ecosystem::Ubuntu);
    assert_eq!(
        pkgs[0].purl,
        "pkg:deb/ubuntu/acl@2.3.1-3?arch=amd64&distro=ubuntu-22.04"
    );
}

const APK: &str = "/lib/apk/db/installed";

fn alpine() -> Distro {
    Distro {
        id: "alpine".into(),
        version_id: Some("3.18.0".into()),
        ..Distro::default()
    }
}

#[test]
fn apk_installed() {
    let Some(content) = scalibr("os/apk/testdata/installed") else {
        return;
    };
    let pkgs = extract(&Apk, APK, &content, Some(&alpine())).unwrap();
    assert_eq!(pkgs.len(), 15);
    let ssl = pkgs.iter().find(|p| p.name == "libssl3").unwrap();
    assert_eq!(ssl.version, "3.1.0-r4");
    assert_eq!(
        ssl.source,
        Some(SourcePackage {
            name: "openssl".into(),
            version: "3.1.0-r4".into()
        })
    );
    assert_eq!(
        ssl.purl,
        "pkg:apk/alpine/libssl3@3.1.0-r4?arch=x86_64&distro=alpine-3.18.0"
    );
    assert_eq!(ssl.ecosystem, Ecosystem::Alpine);
    let ca = pkgs
        .iter()
        .find(|p| p.name == "ca-certificates-bundle")
        .unwrap();
    assert_eq!(ca.licenses, vec!["MPL-2.0 AND MIT".to_owned()]);
    assert_eq!(ca.source.as_ref().unwrap().name, "ca-certificates");
}

#[test]
fn apk_variants() {
    let Some(single) = scalibr("os/apk/testdata/single") else {
        return;
    };
    assert_eq!(
        nv(&extract(&Apk, APK, &single, None).unwrap()),
        ["alpine-baselayout-data 3.4.3-r1"]
    );
    let Some(noarch) = scalibr("os/apk/testdata/different-arch") else {
        return;
    };
    assert_eq!(
        extract(&Apk, APK, &noarch, None).unwrap()[0]
            .arch
            .as_deref(),
        Some("noarch")
    );
    let Some(no_origin) = scalibr("os/apk/testdata/no-origin") else {
        return;
    };
    let p = extract(&Apk, APK, &no_origin, None).unwrap();
    assert_eq!(
        (p[0].name.as_str(), p[0].source.is_none()),
        ("pkgname", true)
    );
    let Some(empty) = scalibr("os/apk/testdata/empty") else {
        return;
    };
    assert!(extract(&Apk, APK, &empty, None).unwrap().is_empty());
    let Some(invalid) = scalibr("os/apk/testdata/invalid") else {
        return;
    };
    assert!(
        extract(&Apk, APK, &invalid, None)
            .unwrap_err()
            .to_string()
            .starts_with("/lib/apk/db/installed:1: ")
    );
}

#[test]
fn rpm_berkeley_db() {
    let Some(content) = scalibr("os/rpm/testdata/Packages_epoch") else {
        return;
    };
    let pkgs = extract(&Rpm, "/var/lib/rpm/Packages", &content, None).unwrap();
    // One live record (the file also holds a deleted "dive" header on a free page).
    assert_eq!(nv(&pkgs), ["hello 1:0.0.1-rls"]);
    let p = &pkgs[0];
    assert_eq!(
        p.source,
        Some(SourcePackage {
            name: "hello".into(),
            version: "1:0.0.1-rls".into()
        })
    );
    assert_eq!(p.arch.as_deref(), Some("x86_64"));
    assert_eq!(p.licenses, vec!["GPL".to_owned()]);
    assert_eq!(p.purl, "pkg:rpm/hello@0.0.1-rls?arch=x86_64&epoch=1");
    let rocky = Distro {
        id: "rocky".into(),
        version_id: Some("8.9".into()),
        ..Distro::default()
    };
    let pkgs = extract(&Rpm, "/var/lib/rpm/Packages", &content, Some(&rocky)).unwrap();
    assert_eq!(
        pkgs[0].purl,
        "pkg:rpm/rocky/hello@0.0.1-rls?arch=x86_64&distro=rocky-8.9&epoch=1"
    );
}

#[test]
fn rpm_empty_and_invalid() {
    let Some(empty) = scalibr("os/rpm/testdata/empty.sqlite") else {
        return;
    };
    assert!(
        extract(&Rpm, "/var/lib/rpm/rpmdb.sqlite", &empty, None)
            .unwrap()
            .is_empty()
    );
    let Some(invalid) = scalibr("os/rpm/testdata/invalid") else {
        return;
    };
    let err = extract(&Rpm, "/var/lib/rpm/Packages", &invalid, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/var/lib/rpm/Packages: invalid Berkeley DB"
    );
}
