//! `portcullis sbom` end to end on the real fixture images: the same image from every place it can live gives
//! the same packages, and those are the packages the image's own databases list.

mod common;

use std::collections::BTreeSet;

use common::*;

fn deb_components(doc: &serde_json::Value) -> BTreeSet<(String, String)> {
    doc["components"]
        .as_array()
        .expect("components")
        .iter()
        .filter(|c| {
            c["purl"]
                .as_str()
                .is_some_and(|p| p.starts_with("pkg:deb/"))
        })
        .map(|c| {
            (
                c["name"].as_str().unwrap_or("").to_string(),
                c["version"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn debian_image_same_packages_from_every_source() {
    let (Some(fx), Some(reg)) = (fixtures(), registry()) else {
        return;
    };
    let want: BTreeSet<_> = dpkg_installed(&fx.join("rootfs/var/lib/dpkg/status"))
        .into_iter()
        .collect();
    assert!(want.len() > 50, "the Debian fixture has its packages");
    let targets = [
        format!("{reg}/portcullis/debian:bookworm"),
        format!("oci:{}:bookworm", fx.join("oci").display()),
        format!("docker-archive:{}", fx.join("bookworm.tar").display()),
        format!("dir:{}", fx.join("rootfs").display()),
    ];
    let cache = tempfile::tempdir().expect("tempdir");
    for t in &targets {
        let out = run(&[
            "sbom",
            t,
            "--format",
            "cyclonedx-json",
            "--insecure-registry",
            &reg,
            "--cache-dir",
            cache.path().to_str().expect("utf8"),
        ]);
        let got = deb_components(&json(&out));
        assert_eq!(got, want, "deb packages from {t}");
    }
}

#[test]
fn language_packages_found_with_exact_versions() {
    let (Some(_fx), Some(reg)) = (fixtures(), registry()) else {
        return;
    };
    let cache = tempfile::tempdir().expect("tempdir");
    let out = run(&[
        "sbom",
        &format!("{reg}/portcullis/debian:lang"),
        "--format",
        "cyclonedx-json",
        "--insecure-registry",
        &reg,
        "--cache-dir",
        cache.path().to_str().expect("utf8"),
    ]);
    let doc = json(&out);
    let purls: BTreeSet<String> = doc["components"]
        .as_array()
        .expect("components")
        .iter()
        .filter_map(|c| {
            c["purl"]
                .as_str()
                .map(|p| p.split('?').next().unwrap_or(p).to_lowercase())
        })
        .collect();
    for want in [
        "pkg:pypi/django@3.2",
        "pkg:pypi/requests@2.19.0",
        "pkg:pypi/urllib3@1.24.1",
        "pkg:pypi/jinja2@2.10",
        "pkg:pypi/flask@0.12",
        "pkg:pypi/werkzeug@0.15.0",
        "pkg:pypi/sqlparse@0.4.1",
        "pkg:pypi/pygments@2.5.1",
        "pkg:npm/lodash@4.17.4",
        "pkg:npm/minimist@0.0.8",
        "pkg:golang/golang.org/x/text@v0.3.6",
        // From the `cargo auditable` section of /usr/local/bin/fixture-rust.
        "pkg:cargo/smallvec@1.6.0",
    ] {
        assert!(purls.contains(want), "{want} missing from {purls:?}");
    }
}

#[test]
fn spdx_output_names_the_image() {
    let Some(fx) = fixtures() else { return };
    let out = run(&[
        "sbom",
        &format!("oci:{}:bookworm", fx.join("oci").display()),
        "--format",
        "spdx-json",
    ]);
    let doc = json(&out);
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    let n = doc["packages"].as_array().map(|p| p.len()).unwrap_or(0);
    assert!(n > 50, "one SPDX package per package, got {n}");
}

#[test]
fn bad_targets_get_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope");
    for (target, needle) in [
        (format!("oci:{}", missing.display()), "nope"),
        (format!("docker-archive:{}", missing.display()), "nope"),
        ("UPPER/Case:tag".to_string(), "UPPER/Case"),
    ] {
        let out = run(&["sbom", &target]);
        assert!(!out.status.success(), "{target} should fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "error for {target} names it: {err}");
        assert!(!err.contains("panicked"), "no panic: {err}");
    }
}
