//! Portcullis's own image (scripts/image): how it is made, what it holds, and its scan.

mod common;

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The directory scripts/image writes (`PORTCULLIS_IMAGE_DIR`, set by scripts/test): the OCI
/// layout in `oci/` and the SBOM beside it.
fn image_dir() -> Option<PathBuf> {
    portcullis_test_support::tool_from_env(
        "PORTCULLIS_IMAGE_DIR",
        "Portcullis's own image (scripts/image)",
    )
}

fn blob(layout: &Path, digest: &str) -> Value {
    let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
    serde_json::from_slice(&std::fs::read(layout.join("blobs/sha256").join(hex)).expect("blob"))
        .expect("json blob")
}

/// The layout's one image: its tag, manifest and config.
fn image(layout: &Path) -> (String, Value, Value) {
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index.json"))
            .expect("index");
    let entries = index["manifests"].as_array().expect("manifests");
    assert_eq!(entries.len(), 1, "one image: {index}");
    let tag = entries[0]["annotations"]["org.opencontainers.image.ref.name"]
        .as_str()
        .expect("tag")
        .to_string();
    let manifest = blob(layout, entries[0]["digest"].as_str().expect("digest"));
    let config = blob(
        layout,
        manifest["config"]["digest"].as_str().expect("config"),
    );
    (tag, manifest, config)
}

#[test]
fn the_image_is_nonroot_labelled_and_keeps_its_state_under_cache() {
    let Some(dir) = image_dir() else { return };
    let (tag, manifest, config) = image(&dir.join("oci"));
    let c = &config["config"];
    assert_eq!(c["User"], "65532:65532", "{c}");
    assert_eq!(c["Entrypoint"][0], "/usr/bin/portcullis", "{c}");
    assert_eq!(c["WorkingDir"], "/cache", "{c}");
    let env: Vec<&str> = c["Env"]
        .as_array()
        .expect("Env")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        env.contains(&"PORTCULLIS_CACHE_DIR=/cache") && env.contains(&"TMPDIR=/cache"),
        "{env:?}"
    );
    assert!(c["Volumes"].get("/cache").is_some(), "{c}");
    let labels = &c["Labels"];
    assert_eq!(labels["org.opencontainers.image.version"], tag.as_str());
    for key in [
        "org.opencontainers.image.title",
        "org.opencontainers.image.revision",
        "org.opencontainers.image.source",
        "org.opencontainers.image.licenses",
        "org.opencontainers.image.created",
    ] {
        assert!(
            labels[key].as_str().is_some_and(|v| !v.is_empty()),
            "{key}: {labels}"
        );
    }
    assert_eq!(config["os"], "linux");
    assert!(
        manifest["layers"].as_array().is_some_and(|l| !l.is_empty()),
        "{manifest}"
    );
    // Its SBOM beside it names the Debian packages and the crates inside the binary.
    let sbom: Value = serde_json::from_slice(
        &std::fs::read(dir.join(format!("portcullis-{tag}.cdx.json"))).expect("SBOM beside"),
    )
    .expect("SBOM json");
    let names: Vec<&str> = sbom["components"]
        .as_array()
        .expect("components")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    for want in [
        "libc6",
        "libgcc-s1",
        "ca-certificates",
        "tokio",
        "rustls",
        "rusqlite",
    ] {
        assert!(names.contains(&want), "{want} not in the SBOM: {names:?}");
    }
}

/// The CI gate on Portcullis's own image: no known vulnerability at Fail. The shared data has
/// RustSec for the crates inside the binary; it has no Debian 12 records, so the Debian
/// libraries are reported not examined (status Warn), never Pass.
#[test]
fn scanning_the_own_image_finds_nothing_at_fail() {
    let (Some(dir), Some(td)) = (image_dir(), common::testdata()) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = tmp.path().join("vuln.db");
    let adv = td.join("advisories");
    let import = common::run(&[
        "db",
        "import",
        "--db",
        &db.display().to_string(),
        &adv.join("rustsec").display().to_string(),
        &adv.join("debian-security-tracker/data/DSA/list")
            .display()
            .to_string(),
    ]);
    assert!(import.status.success());
    let (tag, _, _) = image(&dir.join("oci"));
    let target = format!("oci:{}:{tag}", dir.join("oci").display());
    let out = common::bin()
        .args([
            "scan",
            &target,
            "--db",
            &db.display().to_string(),
            "--store",
            "none",
            "--format",
            "json",
            "--fail-on",
            "fail",
        ])
        .output()
        .expect("run");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    assert!(out.status.success(), "{}", report["summary"]);
    assert_ne!(report["summary"]["status"], "Fail", "{}", report["summary"]);
    let coverage = report["coverage"].to_string();
    assert!(
        coverage.contains("crates.io") && coverage.contains("rustsec"),
        "the binary's crates are examined against RustSec: {coverage}"
    );
    let crates = report["packages"].as_array().map_or(0, |p| {
        p.iter().filter(|p| p["ecosystem"] == "cargo").count()
    });
    assert!(crates > 200, "{crates} crates found in the binary");
}

/// The trimmed base holds everything the binary loads: unpacked with umoci and run with
/// `chroot` as the image's user, it starts and reads its (empty) cache.
#[test]
fn the_binary_runs_in_its_own_root_filesystem_as_nonroot() {
    let Some(dir) = image_dir() else { return };
    let (tag, _, _) = image(&dir.join("oci"));
    let tmp = tempfile::tempdir().expect("tempdir");
    let bundle = tmp.path().join("bundle");
    let unpack = std::process::Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:{tag}", dir.join("oci").display()))
        .arg(&bundle)
        .output()
        .expect("umoci");
    assert!(
        unpack.status.success(),
        "{}",
        String::from_utf8_lossy(&unpack.stderr)
    );
    let rootfs = bundle.join("rootfs");
    let run = |args: &[&str]| {
        std::process::Command::new("/usr/sbin/chroot")
            .arg("--userspec=65532:65532")
            .arg(&rootfs)
            .arg("/usr/bin/portcullis")
            .args(args)
            .env_clear()
            .env("PORTCULLIS_CACHE_DIR", "/cache")
            .env("TMPDIR", "/cache")
            .output()
            .expect("chroot")
    };
    let version = run(&["--version"]);
    assert!(
        version.status.success(),
        "{}",
        String::from_utf8_lossy(&version.stderr)
    );
    assert!(String::from_utf8_lossy(&version.stdout).contains(&tag));
    // No DB yet: a clear error naming the path, from a process that loaded and ran.
    let status = run(&["db", "status", "--db", "/cache/vuln.db"]);
    assert!(!status.status.success());
    assert!(
        String::from_utf8_lossy(&status.stderr).contains("/cache/vuln.db"),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
}
