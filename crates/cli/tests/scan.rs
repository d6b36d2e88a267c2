//! `portcullis scan`, `db`, `version compare` and `policy test` end to end on the real images and advisories.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::*;
use portcullis_core::Ecosystem;

/// Imports `sources` into a fresh DB in `dir`.
fn import(dir: &Path, sources: &[&Path]) -> String {
    let db = dir.join("vuln.db");
    let mut args = vec![
        "db".to_string(),
        "import".into(),
        "--db".into(),
        db.display().to_string(),
    ];
    args.extend(sources.iter().map(|p| p.display().to_string()));
    let out = bin().args(&args).output().expect("run");
    assert!(
        out.status.success(),
        "import: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    db.display().to_string()
}

/// Writes a root filesystem at `root` (`etc/os-release` and each `(path, text)` of `files`) and
/// scans it against `db`: the JSON report.
fn scan_rootfs(
    root: &Path,
    os_release: &str,
    files: &[(&str, &str)],
    db: &str,
) -> serde_json::Value {
    for (path, text) in std::iter::once(&("etc/os-release", os_release)).chain(files) {
        let file = root.join(path);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        std::fs::write(file, text).expect("write");
    }
    scan_json(root, db)
}

/// `scan dir:ROOT --db DB --format json`: the report.
fn scan_json(root: &Path, db: &str) -> serde_json::Value {
    let target = format!("dir:{}", root.display());
    let out = run(&[
        "scan", &target, "--db", db, "--store", "none", "--format", "json",
    ]);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn pypa_versions_lists_are_an_oracle_for_the_lang_image() {
    let (Some(td), Some(_fx), Some(reg)) = (testdata(), fixtures(), registry()) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let db = import(dir.path(), &[&td.join("advisories/pypi")]);
    let installed: BTreeMap<&str, &str> = [
        ("django", "3.2"),
        ("requests", "2.19.0"),
        ("urllib3", "1.24.1"),
        ("jinja2", "2.10"),
        ("flask", "0.12"),
        ("werkzeug", "0.15.0"),
        ("sqlparse", "0.4.1"),
        ("pygments", "2.5.1"),
    ]
    .into();
    // The oracle, from the advisories themselves: every advisory whose explicit `versions` list holds the
    // installed version applies.
    let mut want: Vec<BTreeSet<String>> = Vec::new();
    for entry in std::fs::read_dir(td.join("advisories/pypi/vulns")).expect("vulns") {
        let entry = entry.expect("entry");
        let pkg = Ecosystem::PyPI.normalize_name(&entry.file_name().to_string_lossy());
        let Some(version) = installed.get(pkg.as_str()) else {
            continue;
        };
        for f in std::fs::read_dir(entry.path()).expect("pkg dir") {
            let text = std::fs::read_to_string(f.expect("file").path()).expect("read");
            let a: serde_json::Value = serde_saphyr::from_str(&text).expect("yaml");
            if a.get("withdrawn").is_some_and(|w| !w.is_null()) {
                continue;
            }
            let hit = a["affected"].as_array().into_iter().flatten().any(|af| {
                Ecosystem::PyPI.normalize_name(af["package"]["name"].as_str().unwrap_or("")) == pkg
                    && af["versions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|v| v.as_str() == Some(version))
            });
            if hit {
                let mut ids: BTreeSet<String> = [a["id"].as_str().expect("id").to_string()].into();
                ids.extend(
                    a["aliases"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|x| x.as_str().map(String::from)),
                );
                want.push(ids);
            }
        }
    }
    assert!(
        want.len() > 20,
        "the oracle finds the known advisories ({})",
        want.len()
    );
    let out = run(&[
        "scan",
        &format!("{reg}/portcullis/debian:lang"),
        "--insecure-registry",
        &reg,
        "--db",
        &db,
        "--format",
        "json",
        "--store",
        "none",
        "--cache-dir",
        dir.path().join("cache").to_str().expect("utf8"),
    ]);
    let report = json(&out);
    for field in ["target", "image", "packages", "vulnerabilities", "summary"] {
        assert!(report.get(field).is_some(), "report has {field}");
    }
    assert!(
        report["image"]["digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:"))
    );
    assert_eq!(report["image"]["os"]["codename"], "bookworm");
    assert_eq!(report["summary"]["status"], "Fail");
    let got: Vec<BTreeSet<String>> = report["vulnerabilities"]
        .as_array()
        .expect("vulnerabilities")
        .iter()
        .filter(|v| {
            v["package"]["purl"]
                .as_str()
                .is_some_and(|p| p.starts_with("pkg:pypi/"))
        })
        .map(|v| {
            let mut ids: BTreeSet<String> = [v["id"].as_str().expect("id").to_string()].into();
            ids.extend(
                v["aliases"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|x| x.as_str().map(String::from)),
            );
            ids
        })
        .collect();
    let missing: Vec<_> = want
        .iter()
        .filter(|w| !got.iter().any(|g| !g.is_disjoint(w)))
        .collect();
    let extra: Vec<_> = got
        .iter()
        .filter(|g| !want.iter().any(|w| !w.is_disjoint(g)))
        .collect();
    assert!(missing.is_empty(), "advisories not reported: {missing:?}");
    assert!(
        extra.is_empty(),
        "advisories reported outside the listed versions: {extra:?}"
    );
    for v in report["vulnerabilities"].as_array().expect("v") {
        for k in [
            "id",
            "aliases",
            "package",
            "fixed_versions",
            "severity",
            "state",
            "matched_by",
        ] {
            assert!(v.get(k).is_some(), "vulnerability has {k}: {v}");
        }
    }
}

#[test]
fn exceptions_fail_on_and_formats() {
    let (Some(td), Some(fx)) = (testdata(), fixtures()) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let db = import(
        dir.path(),
        &[&td.join("advisories/pypi"), &td.join("advisories/nvd")],
    );
    let target = format!("oci:{}:lang", fx.join("oci").display());
    let base = [
        "scan",
        target.as_str(),
        "--db",
        db.as_str(),
        "--store",
        "none",
    ];
    let out = bin()
        .args(base)
        .args(["--format", "json", "--fail-on", "fail"])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(1),
        "--fail-on fail exits 1 on a failing image"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let first = report["vulnerabilities"][0]["id"]
        .as_str()
        .expect("an id")
        .to_string();
    let counted = |r: &serde_json::Value| {
        r["summary"]["counts"]
            .as_object()
            .map(|c| c.values().filter_map(|v| v.as_u64()).sum::<u64>())
            .unwrap_or(0)
    };

    // An exception for one id marks it ignored and takes it out of the counts.
    let exc = dir.path().join("exceptions.yaml");
    std::fs::write(
        &exc,
        format!("- id: {first}\n  scope: any\n  justification: not reachable\n"),
    )
    .expect("write");
    let out = bin()
        .args(base)
        .args([
            "--format",
            "json",
            "--exceptions",
            exc.to_str().expect("utf8"),
        ])
        .output()
        .expect("run");
    let r2: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let ignored: Vec<_> = r2["vulnerabilities"]
        .as_array()
        .expect("v")
        .iter()
        .filter(|v| v["ignored"].is_object())
        .collect();
    assert!(
        !ignored.is_empty() && ignored.iter().all(|v| v["id"] == first.as_str()),
        "{ignored:?}"
    );
    assert_eq!(counted(&r2) + ignored.len() as u64, counted(&report));

    // SARIF 2.1.0: one result per match, rules for every id.
    let out = bin()
        .args(base)
        .args(["--format", "sarif"])
        .output()
        .expect("run");
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).expect("sarif json");
    assert_eq!(sarif["version"], "2.1.0");
    validate_sarif(&out.stdout);
    assert_eq!(
        sarif["runs"][0]["results"].as_array().map(|r| r.len()),
        report["vulnerabilities"].as_array().map(|v| v.len())
    );
    // CSV: a header, one row per match, then one per namespace not examined.
    let out = bin()
        .args(base)
        .args(["--format", "csv"])
        .output()
        .expect("run");
    let csv = String::from_utf8(out.stdout).expect("utf8");
    let not_examined = csv
        .lines()
        .filter(|l| l.ends_with(",not-examined,"))
        .count();
    assert_eq!(
        csv.lines().count() - 1 - not_examined,
        report["vulnerabilities"]
            .as_array()
            .map(|v| v.len())
            .unwrap_or(0)
    );
    assert_eq!(
        not_examined,
        report["coverage"]
            .as_array()
            .expect("coverage")
            .iter()
            .filter(|c| c["sources"] == serde_json::json!([]))
            .count()
    );
    // CycloneDX with vulnerabilities.
    let out = bin()
        .args(base)
        .args(["--format", "cyclonedx-json"])
        .output()
        .expect("run");
    let cdx: serde_json::Value = serde_json::from_slice(&out.stdout).expect("cdx");
    assert_eq!(cdx["specVersion"], "1.6");
    assert!(
        cdx["vulnerabilities"]
            .as_array()
            .is_some_and(|v| !v.is_empty())
    );
}

#[test]
fn db_status_and_bad_inputs() {
    let Some(td) = testdata() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let db = import(dir.path(), &[&td.join("advisories/rustsec")]);
    let out = run(&["db", "status", "--db", &db, "--json"]);
    let st = json(&out);
    assert_eq!(st["sources"][0]["name"], "rustsec");
    assert!(st["sources"][0]["records"].as_u64().unwrap_or(0) > 1000);
    // A DB that is not there is a clear error, not a panic.
    let out = run(&[
        "scan",
        "sbom:/nonexistent.json",
        "--db",
        "/nonexistent/vuln.db",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nonexistent") && !err.contains("panicked"),
        "{err}"
    );
}

#[test]
fn version_compare_filter() {
    let out = bin()
        .args(["version", "compare", "debian"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .expect("stdin")
                .write_all(b"1.0~rc1 1.0\n1:1.0 2.0\n1.0 1.0\n")?;
            c.wait_with_output()
        })
        .expect("run");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "<\n>\n=\n");
    let out = bin()
        .args(["version", "compare", "PyPI"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .expect("stdin")
                .write_all(b"1.0.dev1 1.0a1\nnot-a-version 1.0\n")?;
            c.wait_with_output()
        })
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "<");
    assert!(lines[1].starts_with("invalid: "), "{text}");
}

#[test]
fn policy_test_decides_a_manifest_offline() {
    let (Some(td), Some(fx)) = (testdata(), fixtures()) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let db = import(dir.path(), &[&td.join("advisories/pypi")]);
    let pol = dir.path().join("policies");
    std::fs::create_dir_all(&pol).expect("mkdir");
    std::fs::write(
        pol.join("p.yaml"),
        "apiVersion: containersecurity.portcullis.dev/v1\nkind: ContainerAdmissionPolicy\nmetadata: {name: no-fail}\nspec:\n  rules:\n  - action: Reject\n    imageScanStatus: {operator: IsOneOf, values: [Fail]}\n",
    )
    .expect("write");
    let image = format!("oci:{}:lang", fx.join("oci").display());
    let manifest = dir.path().join("m.yaml");
    std::fs::write(
        &manifest,
        format!("apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app, namespace: default}}\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: {image}\n"),
    )
    .expect("write");
    let out = run(&[
        "policy",
        "test",
        "--policies",
        pol.to_str().expect("utf8"),
        "--manifest",
        manifest.to_str().expect("utf8"),
        "--db",
        &db,
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a rejection exits 1: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let review: serde_json::Value = serde_json::from_slice(&out.stdout).expect("review");
    assert_eq!(review["kind"], "AdmissionReview");
    assert_eq!(review["response"]["allowed"], false);
    assert_eq!(
        review["response"]["uid"], "Deployment/default/app",
        "each result names what it decides"
    );
    let msg = review["response"]["status"]["message"]
        .as_str()
        .unwrap_or("");
    assert!(
        msg.contains("no-fail") && msg.contains("PYSEC-") && msg.contains("fixed in"),
        "{msg}"
    );

    // The same decision from reports given with --results: as `scan --format json` writes
    // them, and as an older version wrote them (without the fields added since).
    let scanned = run(&[
        "scan", &image, "--db", &db, "--store", "none", "--format", "json",
    ]);
    let mut report: serde_json::Value = serde_json::from_slice(&scanned.stdout).expect("report");
    let decide = |report: &serde_json::Value| {
        let path = dir.path().join("results.json");
        std::fs::write(&path, report.to_string()).expect("write");
        run(&[
            "policy",
            "test",
            "--policies",
            pol.to_str().expect("utf8"),
            "--manifest",
            manifest.to_str().expect("utf8"),
            "--results",
            path.to_str().expect("utf8"),
        ])
    };
    let out = decide(&report);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let older = {
        let mut r = report.clone();
        let o = r.as_object_mut().expect("object");
        o.remove("scanned_at");
        o.remove("warnings");
        for v in o["vulnerabilities"]
            .as_array_mut()
            .expect("vulnerabilities")
        {
            let v = v.as_object_mut().expect("match");
            v.remove("summary");
            v.remove("informational");
        }
        r
    };
    let out = decide(&serde_json::json!([older]));
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A field that does not read is named by its path.
    report["vulnerabilities"][1]["severity"] = "Catastrophic".into();
    let out = decide(&report);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(
            "results.json: report 1: vulnerabilities[1].severity: unknown variant `Catastrophic`"
        ),
        "{err}"
    );
}

#[test]
fn binaries_in_the_lang_image_match_with_their_location() {
    let (Some(td), Some(fx)) = (testdata(), fixtures()) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let db = import(
        dir.path(),
        &[&td.join("advisories/rustsec"), &td.join("advisories/go")],
    );
    let target = format!("oci:{}:lang", fx.join("oci").display());
    let out = run(&[
        "scan", &target, "--db", &db, "--store", "none", "--format", "json",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let found: BTreeMap<String, (String, String)> = report["vulnerabilities"]
        .as_array()
        .expect("vulnerabilities")
        .iter()
        .map(|v| {
            (
                v["id"].as_str().unwrap_or_default().to_owned(),
                (
                    v["package"]["name"].as_str().unwrap_or_default().to_owned(),
                    v["matched_by"]["location"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                ),
            )
        })
        .collect();
    // smallvec 1.6.0 comes from the `cargo auditable` section of a Rust binary built by
    // scripts/fixtures; golang.org/x/text v0.3.6 from a Go binary's build info.
    assert_eq!(
        found.get("RUSTSEC-2021-0003"),
        Some(&(
            "smallvec".to_owned(),
            "/usr/local/bin/fixture-rust".to_owned()
        )),
        "{found:?}"
    );
    assert_eq!(
        found.get("GO-2021-0113"),
        Some(&(
            "golang.org/x/text".to_owned(),
            "/usr/local/bin/fixture-go".to_owned()
        )),
        "{found:?}"
    );
}

/// Status code of an HTTP request to the test registry (curl; no client of ours in the way).
fn http(method: &str, url: &str) -> String {
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            method,
            url,
        ])
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_stored_image_is_rematched_under_a_new_db_without_pulling_it() {
    let (Some(td), Some(fx), Some(reg)) = (testdata(), fixtures(), registry()) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = format!("portcullis/rematch-{}", std::process::id());
    let image = format!("{reg}/{repo}:t");
    let pushed = std::process::Command::new("skopeo")
        .args(["copy", "-q", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:lang", fx.join("oci").display()))
        .arg(format!("docker://{image}"))
        .status()
        .expect("skopeo");
    assert!(pushed.success(), "skopeo copy to {image}");
    let store = format!("sqlite:{}", dir.path().join("results.db").display());
    let scan = |db: &str, cache: &str| {
        let out = run(&[
            "scan",
            &image,
            "--insecure-registry",
            &reg,
            "--db",
            db,
            "--store",
            &store,
            "--cache-dir",
            cache,
            "--format",
            "json",
        ]);
        assert!(
            out.status.success(),
            "scan: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")
    };
    let db1 = import(&dir.path().join("a"), &[&td.join("advisories/pypi")]);
    let first = scan(&db1, &dir.path().join("cache1").display().to_string());
    let digest = first["image"]["digest"]
        .as_str()
        .expect("digest")
        .to_owned();

    // Take the layers and config out of the repository: from now on, a pull fails.
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::process::Command::new("curl")
            .args([
                "-s",
                "-H",
                "Accept: application/vnd.oci.image.manifest.v1+json",
            ])
            .arg(format!("http://{reg}/v2/{repo}/manifests/{digest}"))
            .output()
            .expect("curl")
            .stdout,
    )
    .expect("manifest");
    let mut blobs = vec![
        manifest["config"]["digest"]
            .as_str()
            .expect("config")
            .to_owned(),
    ];
    for l in manifest["layers"].as_array().expect("layers") {
        blobs.push(l["digest"].as_str().expect("layer").to_owned());
    }
    for b in &blobs {
        assert_eq!(
            http("DELETE", &format!("http://{reg}/v2/{repo}/blobs/{b}")),
            "202"
        );
    }
    let cold = run(&[
        "scan",
        &image,
        "--insecure-registry",
        &reg,
        "--db",
        &db1,
        "--store",
        "none",
        "--cache-dir",
        &dir.path().join("cache2").display().to_string(),
    ]);
    assert!(
        !cold.status.success(),
        "without the store the pull must fail now"
    );

    // A new DB (NVD added: a new version, CVSS from aliases) and an empty blob cache: the
    // stored package list is matched again; only the manifest is fetched.
    let db2 = import(
        &dir.path().join("b"),
        &[&td.join("advisories/pypi"), &td.join("advisories/nvd")],
    );
    let second = scan(&db2, &dir.path().join("cache3").display().to_string());
    assert_eq!(second["image"]["digest"], first["image"]["digest"]);
    assert_ne!(second["db"], first["db"], "matched under the new database");
    assert_eq!(second["packages"], first["packages"]);
    let ids = |r: &serde_json::Value| -> BTreeSet<String> {
        r["vulnerabilities"]
            .as_array()
            .expect("v")
            .iter()
            .filter_map(|v| v["id"].as_str().map(str::to_owned))
            .collect()
    };
    assert!(!ids(&second).is_empty());
    assert_eq!(ids(&second), ids(&first), "same records, same matches");
    assert!(
        !std::fs::exists(dir.path().join("cache3/blobs")).unwrap_or(false)
            || std::fs::read_dir(dir.path().join("cache3/blobs/sha256"))
                .map(|d| d.count() == 0)
                .unwrap_or(true),
        "nothing was downloaded"
    );
}

/// Validates a SARIF document against the official SARIF 2.1.0 JSON schema
/// (`$PORTCULLIS_SARIF_SCHEMA`, fetched by scripts/test) with Python's jsonschema.
fn validate_sarif(doc: &[u8]) {
    let Some(schema) =
        portcullis_test_support::tool_from_env("PORTCULLIS_SARIF_SCHEMA", "the SARIF 2.1.0 schema")
    else {
        return;
    };
    let has_jsonschema = std::process::Command::new("python3")
        .args(["-c", "import jsonschema"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_jsonschema {
        return portcullis_test_support::skip("python3 jsonschema (scripts/test installs it)");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("out.sarif");
    std::fs::write(&path, doc).expect("write");
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import json, sys, jsonschema\n\
             schema = json.load(open(sys.argv[1]))\n\
             doc = json.load(open(sys.argv[2]))\n\
             errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(doc), key=str)\n\
             [print(list(e.absolute_path), e.message) for e in errors[:10]]\n\
             sys.exit(1 if errors else 0)",
        ])
        .arg(&schema)
        .arg(&path)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "SARIF output is not valid against {}:\n{}{}",
        schema.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn db_update_downloads_from_a_local_http_server_and_keeps_the_db_when_it_fails() {
    let Some(td) = testdata() else { return };
    let adv = td.join("advisories");
    let server = portcullis_test_support::http::HttpServer::files(&adv);
    let base = server.base_url();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("vuln.db").display().to_string();
    let config = dir.path().join("sources.yaml");
    let write_config = |dsa: &str| {
        std::fs::write(
            &config,
            format!(
                "sources:\n\
                 - {{name: debian-dsa, url: '{base}/{dsa}', format: debian-tracker}}\n\
                 - {{name: alpine-v3.9, url: '{base}/alpine-secdb/v3.9/main.yaml', format: alpine-secdb}}\n"
            ),
        )
        .expect("write config");
    };
    write_config("debian-security-tracker/data/DSA/list");
    let update = || {
        run(&[
            "db",
            "update",
            "--db",
            &db,
            "--config",
            config.to_str().expect("utf8"),
        ])
    };
    let out = update();
    assert!(
        out.status.success(),
        "update: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = |db: &str| {
        let out = run(&["db", "status", "--db", db]);
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let before = status(&db);
    assert!(
        before.contains("debian-dsa") && before.contains("alpine-v3.9"),
        "{before}"
    );

    // A source that is gone (404): the update fails, names the URL, and the DB is unchanged.
    write_config("debian-security-tracker/data/DSA/nope");
    let out = update();
    assert!(!out.status.success(), "a 404 must fail the update");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("DSA/nope") && err.contains("404"), "{err}");
    assert_eq!(
        status(&db),
        before,
        "a failed update leaves the DB as it was"
    );
}

/// Wolfi and Chainguard images (apk) are matched against their own OSV records (the real ones
/// in `osv-more`), each against its own, and an Alpine image against none of them.
#[test]
fn wolfi_and_chainguard_images_match_their_own_records() {
    let Some(td) = testdata() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let more = td.join("advisories/osv-more");
    let db = import(dir.path(), &[&more.join("Wolfi"), &more.join("Chainguard")]);
    // A root filesystem with an os-release and an apk database: what the apk extractor reads.
    let found = |name: &str, os: &str, packages: &[(&str, &str, &str)]| -> Vec<(String, String)> {
        let installed: String = packages
            .iter()
            .map(|(p, v, o)| format!("P:{p}\nV:{v}\nA:x86_64\no:{o}\n\n"))
            .collect();
        let report = scan_rootfs(
            &dir.path().join(name),
            os,
            &[("lib/apk/db/installed", &installed)],
            &db,
        );
        let mut ids: Vec<(String, String)> = report["vulnerabilities"]
            .as_array()
            .expect("vulnerabilities")
            .iter()
            .map(|v| {
                (
                    v["id"].as_str().unwrap_or("").to_string(),
                    v["package"]["name"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        ids.sort();
        ids.dedup();
        ids
    };
    let packages = [
        ("openssl", "3.0.7-r0", "openssl"),
        ("libcrypto3", "3.0.7-r0", "openssl"),
        ("ko", "0.13.0-r3", "ko"),
        ("brotli", "1.0.8-r0", "brotli"),
    ];
    let wolfi = found(
        "wolfi",
        "ID=wolfi\nNAME=\"Wolfi\"\nPRETTY_NAME=\"Wolfi\"\nVERSION_ID=20230201\n",
        &packages,
    );
    // openssl before 3.0.8-r0 and 3.1.0-r2 (both packages of the origin); ko is fixed; brotli has
    // a Chainguard record only; CGA-mm7m is fixed in 0 (not affected).
    assert_eq!(
        wolfi,
        [
            ("CGA-6mjr-v678-c6gm", "libcrypto3"),
            ("CGA-6mjr-v678-c6gm", "openssl"),
            ("CGA-vj68-6p3f-8xmr", "libcrypto3"),
            ("CGA-vj68-6p3f-8xmr", "openssl"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let chainguard = found(
        "chainguard",
        "ID=chainguard\nNAME=\"Chainguard\"\n",
        &packages,
    );
    assert!(
        chainguard.contains(&("CGA-37qj-pjrf-fmrw".to_string(), "brotli".to_string())),
        "brotli's Chainguard record"
    );
    let alpine = found(
        "alpine",
        "ID=alpine\nNAME=\"Alpine Linux\"\nVERSION_ID=3.19.1\n",
        &packages,
    );
    assert!(alpine.is_empty(), "no Alpine record here");
}

/// Java, Ruby, PHP and .NET applications are matched against their ecosystems' real records
/// (GitHub's, in `osv-more`), each package by its own ecosystem's version order.
#[test]
fn java_ruby_php_and_dotnet_packages_match_their_records() {
    let Some(td) = testdata() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let more = td.join("advisories/osv-more");
    let db = import(
        dir.path(),
        &[
            &more.join("Maven"),
            &more.join("RubyGems"),
            &more.join("NuGet"),
            &more.join("Packagist"),
        ],
    );
    let app = dir.path().join("root/app");
    std::fs::create_dir_all(app.join("lib")).expect("mkdir");
    std::fs::write(
        app.join("Gemfile.lock"),
        "GEM\n  remote: https://rubygems.org/\n  specs:\n    activerecord (7.0.2)\n    nokogiri (1.13.4)\n    rack (2.1.2)\n\nPLATFORMS\n  ruby\n\nDEPENDENCIES\n  rack\n",
    )
    .expect("write");
    std::fs::write(
        app.join("composer.lock"),
        r#"{"packages": [{"name": "guzzlehttp/guzzle", "version": "7.4.2"}, {"name": "guzzlehttp/psr7", "version": "2.1.0"}], "packages-dev": []}"#,
    )
    .expect("write");
    std::fs::write(
        app.join("app.deps.json"),
        r#"{"libraries": {"Newtonsoft.Json/12.0.3": {"type": "package"}, "System.Text.Json/8.0.0": {"type": "package"}, "App/1.0.0": {"type": "project"}}}"#,
    )
    .expect("write");
    // Jars as Maven builds them: the artifact named in META-INF/maven/.../pom.properties.
    for (group, artifact, version) in [
        ("org.apache.logging.log4j", "log4j-core", "2.14.1"),
        ("org.yaml", "snakeyaml", "1.33"),
    ] {
        let made = std::process::Command::new("python3")
            .args([
                "-c",
                "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1], 'w')\nz.writestr(f'META-INF/maven/{sys.argv[2]}/{sys.argv[3]}/pom.properties', f'groupId={sys.argv[2]}\\nartifactId={sys.argv[3]}\\nversion={sys.argv[4]}\\n')\nz.close()",
            ])
            .arg(app.join(format!("lib/{artifact}-{version}.jar")))
            .args([group, artifact, version])
            .status()
            .expect("python3");
        assert!(made.success());
    }
    let target = format!("dir:{}", dir.path().join("root").display());
    let out = run(&[
        "scan", &target, "--db", &db, "--store", "none", "--format", "json",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let mut found: Vec<String> = report["vulnerabilities"]
        .as_array()
        .expect("vulnerabilities")
        .iter()
        .map(|v| {
            format!(
                "{} {} {}",
                v["id"].as_str().unwrap_or(""),
                v["package"]["name"].as_str().unwrap_or(""),
                v["package"]["version"].as_str().unwrap_or("")
            )
        })
        .collect();
    found.sort();
    found.dedup();
    assert_eq!(
        found,
        [
            "GHSA-3hhc-qp5v-9p2j activerecord 7.0.2",
            "GHSA-5crp-9r3c-p9vr Newtonsoft.Json 12.0.3",
            "GHSA-f2wf-25xc-69c9 guzzlehttp/guzzle 7.4.2",
            "GHSA-hh2w-p6rv-4g7w System.Text.Json 8.0.0",
            "GHSA-hxqx-xwvh-44m2 rack 2.1.2",
            "GHSA-jfh8-c2jp-5v3q org.apache.logging.log4j:log4j-core 2.14.1",
            "GHSA-mjmj-j48q-9wg2 org.yaml:snakeyaml 1.33",
            "GHSA-q7rv-6hp3-vh96 guzzlehttp/psr7 2.1.0",
            "GHSA-w248-ffj2-4v5q guzzlehttp/guzzle 7.4.2",
            "GHSA-wq4h-7r42-5hrr rack 2.1.2",
            "GHSA-wxmh-65f7-jcvw guzzlehttp/psr7 2.1.0",
            "GHSA-xh29-r2w5-wx8m nokogiri 1.13.4",
        ],
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Ubuntu images are matched through Ubuntu's own records (`Ubuntu:20.04:LTS`), by source
/// package, for their release only: the real USN-5355-1 (zlib) in `osv-more`.
#[test]
fn ubuntu_images_match_their_releases_records() {
    let Some(td) = testdata() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let db = import(dir.path(), &[&td.join("advisories/osv-more/Ubuntu")]);
    let scan = |name: &str, release: &str, codename: &str, version: &str| -> Vec<String> {
        let os = format!(
            "NAME=\"Ubuntu\"\nID=ubuntu\nVERSION_ID=\"{release}\"\nVERSION_CODENAME={codename}\n"
        );
        let status = format!(
            "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nSource: zlib\nVersion: {version}\nDescription: compression library - runtime\n\n"
        );
        let report = scan_rootfs(
            &dir.path().join(name),
            &os,
            &[("var/lib/dpkg/status", &status)],
            &db,
        );
        report["vulnerabilities"]
            .as_array()
            .expect("vulnerabilities")
            .iter()
            .map(|v| {
                format!(
                    "{} {} fixed in {}",
                    v["id"].as_str().unwrap_or(""),
                    v["package"]["name"].as_str().unwrap_or(""),
                    v["fixed_versions"][0].as_str().unwrap_or("-")
                )
            })
            .collect()
    };
    assert_eq!(
        scan("focal", "20.04", "focal", "1:1.2.11.dfsg-2ubuntu1.2"),
        ["USN-5355-1 zlib1g fixed in 1:1.2.11.dfsg-2ubuntu1.3"]
    );
    assert!(
        scan("focal-fixed", "20.04", "focal", "1:1.2.11.dfsg-2ubuntu1.3").is_empty(),
        "the fixed version"
    );
    assert!(
        scan("jammy", "22.04", "jammy", "1:1.2.11.dfsg-2ubuntu1.2").is_empty(),
        "the record has no 22.04 entry"
    );
}

/// Never a silent Pass: a report says per ecosystem how many packages and which sources covered
/// them; what no source covers is not examined and raises the status to `--uncovered-as`
/// (default warn), in JSON, the table, SARIF and a denial alike.
#[test]
fn what_no_source_covers_is_not_examined_and_never_passes() {
    let (Some(td), Some(fx)) = (testdata(), fixtures()) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    // Go advisories only: the bookworm image's Debian packages are covered by nothing.
    let db = import(dir.path(), &[&td.join("advisories/go")]);
    let target = format!("oci:{}:bookworm", fx.join("oci").display());
    let scan = |extra: &[&str]| {
        let out = bin()
            .args(["scan", &target, "--db", &db, "--store", "none"])
            .args(extra)
            .output()
            .expect("run");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let report: serde_json::Value =
        serde_json::from_str(&scan(&["--format", "json"])).expect("json");
    let coverage = report["coverage"].as_array().expect("coverage");
    let debian = coverage
        .iter()
        .find(|c| c["ecosystem"] == "Debian:bookworm")
        .unwrap_or_else(|| panic!("{coverage:?}"));
    assert_eq!(debian["sources"], serde_json::json!([]), "{debian}");
    let packages = debian["packages"].as_u64().expect("count");
    assert!(packages > 50, "{debian}");
    assert_eq!(report["vulnerabilities"], serde_json::json!([]));
    assert_eq!(report["summary"]["not_examined"].as_u64(), Some(packages));
    assert_eq!(
        report["summary"]["status"], "Warn",
        "no finding, yet not Pass"
    );
    for (flag, want) in [("pass", "Pass"), ("fail", "Fail")] {
        let r: serde_json::Value =
            serde_json::from_str(&scan(&["--format", "json", "--uncovered-as", flag]))
                .expect("json");
        assert_eq!(r["summary"]["status"], want, "--uncovered-as {flag}");
    }
    let table = scan(&[]);
    assert!(
        table.contains("Debian:bookworm")
            && table.contains("NOT EXAMINED")
            && table.contains(&format!("{packages} not examined")),
        "{table}"
    );
    let sarif: serde_json::Value =
        serde_json::from_str(&scan(&["--format", "sarif"])).expect("sarif");
    let notes = sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"].to_string();
    assert!(
        notes.contains("Debian:bookworm packages not examined"),
        "{notes}"
    );
    let csv = scan(&["--format", "csv"]);
    assert!(
        csv.lines()
            .any(|l| l == format!(",,{packages} packages,,Debian:bookworm,,,,,not-examined,")),
        "{csv}"
    );
    let vdr: serde_json::Value =
        serde_json::from_str(&scan(&["--format", "cyclonedx-json"])).expect("cyclonedx");
    let props = vdr["metadata"]["properties"].to_string();
    assert!(
        props.contains(&format!(
            "Debian:bookworm: {packages} packages, NOT EXAMINED: no source in the DB covers it"
        )),
        "{props}"
    );

    // A covered ecosystem names its source: the lang image's PyPI packages and the PyPA data.
    let db2 = import(&dir.path().join("pypi"), &[&td.join("advisories/pypi")]);
    let lang = format!("oci:{}:lang", fx.join("oci").display());
    let covered: serde_json::Value = serde_json::from_slice(
        &bin()
            .args([
                "scan", &lang, "--db", &db2, "--store", "none", "--format", "json",
            ])
            .output()
            .expect("run")
            .stdout,
    )
    .expect("json");
    let pypi = covered["coverage"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["ecosystem"] == "PyPI"))
        .cloned()
        .unwrap_or_else(|| panic!("{}", covered["coverage"]));
    assert_eq!(pypi["sources"][0]["source"], "pypi", "{pypi}");
    assert!(pypi["sources"][0]["imported"].is_string(), "{pypi}");

    // A denial says what was not examined.
    let pol = dir.path().join("policies");
    std::fs::create_dir_all(&pol).expect("mkdir");
    std::fs::write(
        pol.join("p.yaml"),
        "apiVersion: containersecurity.portcullis.dev/v1\nkind: ContainerAdmissionPolicy\nmetadata: {name: pass-only}\nspec:\n  rules:\n  - action: Allow\n    imageScanStatus: {operator: IsOneOf, values: [Pass]}\n  - action: Reject\n",
    )
    .expect("write");
    let manifest = dir.path().join("m.yaml");
    std::fs::write(
        &manifest,
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: p, namespace: default}}\nspec:\n  containers:\n  - name: c\n    image: {target}\n"),
    )
    .expect("write");
    let out = run(&[
        "policy",
        "test",
        "--policies",
        pol.to_str().expect("utf8"),
        "--manifest",
        manifest.to_str().expect("utf8"),
        "--db",
        &db,
    ]);
    let review: serde_json::Value = serde_json::from_slice(&out.stdout).expect("review");
    let msg = review["response"]["status"]["message"]
        .as_str()
        .unwrap_or("");
    assert!(
        msg.contains("scan status Warn")
            && msg.contains(&format!("not examined (no source in the DB covers them): {packages} Debian:bookworm packages")),
        "{msg}"
    );
}

/// rpm images (real rpm databases, made by Debian's `rpm` tool) are matched against their own
/// distribution's records for their major release (the real AlmaLinux ones in `osv-more`), in
/// rpm order with epochs, through subpackages' source RPM names; a module build only by its
/// stream's fixes and a base package never by a module's; another distribution's image is
/// matched by none of them and its packages are reported as not examined.
#[test]
fn rpm_images_match_their_distributions_records() {
    use portcullis_test_support::rpm::{RpmPackage, rootfs};
    let Some(td) = testdata() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let db = import(dir.path(), &[&td.join("advisories/osv-more/AlmaLinux")]);
    let scan = |name: &str, os: &str, packages: &[RpmPackage<'_>]| -> Option<serde_json::Value> {
        let root = dir.path().join(name);
        rootfs(&root, os, packages)?;
        Some(scan_json(&root, &db))
    };
    let found = |report: &serde_json::Value| -> Vec<String> {
        let mut v: Vec<String> = report["vulnerabilities"]
            .as_array()
            .expect("vulnerabilities")
            .iter()
            .map(|v| {
                format!(
                    "{} {} {} fixed in {}",
                    v["id"].as_str().unwrap_or(""),
                    v["package"]["name"].as_str().unwrap_or(""),
                    v["package"]["version"].as_str().unwrap_or(""),
                    v["fixed_versions"][0].as_str().unwrap_or("-")
                )
            })
            .collect();
        v.sort();
        v
    };
    let alma9 =
        "NAME=\"AlmaLinux\"\nID=\"almalinux\"\nVERSION_ID=\"9.4\"\nPRETTY_NAME=\"AlmaLinux 9.4\"\n";
    let el9 = [
        RpmPackage {
            subpackages: &["zlib-devel"],
            ..RpmPackage::new("zlib", "1.2.11", "31.el9")
        },
        RpmPackage {
            epoch: Some(1),
            subpackages: &["openssl-libs"],
            ..RpmPackage::new("openssl", "3.0.7", "27.el9")
        },
        RpmPackage {
            subpackages: &["libcurl"],
            ..RpmPackage::new("curl", "7.76.1", "29.el9_4.1")
        },
        // Exactly the fixed version.
        RpmPackage::new("sudo", "1.9.17p2", "3.el9_8"),
    ];
    let Some(report) = scan("alma9", alma9, &el9) else {
        return;
    };
    let report_of_alma9 = report.clone();
    assert_eq!(
        found(&report),
        [
            // curl 7.76.1-29.el9_4.1 is ALSA-2024:5529's fix, not ALSA-2026:55439's.
            "ALSA-2022:7314 zlib 1.2.11-31.el9 fixed in 1.2.11-32.el9_0",
            "ALSA-2022:7314 zlib-devel 1.2.11-31.el9 fixed in 1.2.11-32.el9_0",
            "ALSA-2026:25239 openssl 1:3.0.7-27.el9 fixed in 1:3.5.5-4.el9_8",
            "ALSA-2026:25239 openssl-libs 1:3.0.7-27.el9 fixed in 1:3.5.5-4.el9_8",
            "ALSA-2026:55439 curl 7.76.1-29.el9_4.1 fixed in 7.76.1-40.el9_8.5",
            "ALSA-2026:55439 libcurl 7.76.1-29.el9_4.1 fixed in 7.76.1-40.el9_8.5",
        ],
        "AlmaLinux 9 only (not the AlmaLinux 8 or 10 records of the same packages)"
    );
    let zlib = report["vulnerabilities"]
        .as_array()
        .and_then(|v| v.iter().find(|m| m["package"]["name"] == "zlib-devel"))
        .expect("zlib-devel");
    assert_eq!(
        zlib["matched_by"]["matcher"], "rpm-distro",
        "{}",
        zlib["matched_by"]
    );
    assert!(
        zlib["matched_by"]["searched"]
            .as_str()
            .is_some_and(|s| s.starts_with("AlmaLinux:9 zlib-devel ")),
        "{}",
        zlib["matched_by"]
    );
    let coverage = report["coverage"].to_string();
    assert!(
        coverage.contains("\"ecosystem\":\"AlmaLinux:9\"") && coverage.contains("\"packages\":7"),
        "{coverage}"
    );
    assert_eq!(
        report["summary"]["not_examined"].as_u64().unwrap_or(0),
        0,
        "{coverage}"
    );

    // Rocky Linux 9: AlmaLinux's records are not its own.
    let rocky = scan(
        "rocky9",
        "NAME=\"Rocky Linux\"\nID=\"rocky\"\nVERSION_ID=\"9.4\"\n",
        &el9,
    )
    .expect("rpmbuild");
    assert_eq!(found(&rocky), Vec::<String>::new());
    assert_eq!(rocky["summary"]["not_examined"], 7, "{}", rocky["coverage"]);
    assert_eq!(rocky["summary"]["status"], "Warn");

    // Rocky Linux, RHEL and SLES through their own namespaces. The shared data has no records
    // of theirs, so AlmaLinux 9's real records are re-homed, each under the namespace its
    // upstream publishes (`Rocky Linux:9`, `Red Hat:enterprise_linux:9::baseos`, `SUSE:Linux
    // Enterprise Server 15 SP5`) and an id of its own; one DB holds all three, so each image
    // must find its own six and none of the others'.
    let homes = dir.path().join("rehomed");
    for (prefix, namespace) in [
        ("RLSA", "Rocky Linux:9"),
        ("RHSA", "Red Hat:enterprise_linux:9::baseos"),
        ("SUSE-SU", "SUSE:Linux Enterprise Server 15 SP5"),
    ] {
        let to = homes.join(prefix);
        std::fs::create_dir_all(&to).expect("mkdir");
        for entry in std::fs::read_dir(td.join("advisories/osv-more/AlmaLinux")).expect("dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let mut rec: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
            let id = rec["id"].as_str().expect("id").replace("ALSA", prefix);
            rec["id"] = id.clone().into();
            let affected = rec["affected"].as_array_mut().expect("affected");
            affected.retain(|a| a["package"]["ecosystem"] == "AlmaLinux:9");
            for a in affected.iter_mut() {
                a["package"]["ecosystem"] = namespace.into();
            }
            std::fs::write(to.join(format!("{id}.json")), rec.to_string()).expect("write");
        }
    }
    let rehomed = import(&homes, &[&homes]);
    for (name, os, prefix) in [
        ("rocky9-own", "ID=\"rocky\"\nVERSION_ID=\"9.4\"\n", "RLSA"),
        ("rhel9", "ID=\"rhel\"\nVERSION_ID=\"9.4\"\n", "RHSA"),
        ("sles15", "ID=\"sles\"\nVERSION_ID=\"15.5\"\n", "SUSE-SU"),
    ] {
        let root = dir.path().join(name);
        rootfs(&root, os, &el9).expect("rpmbuild");
        let report = scan_json(&root, &rehomed);
        let want: Vec<String> = found(&report_of_alma9)
            .iter()
            .map(|f| f.replace("ALSA", prefix))
            .collect();
        assert_eq!(found(&report), want, "{name}");
        assert_eq!(
            report["summary"]["not_examined"].as_u64().unwrap_or(0),
            0,
            "{name}: {}",
            report["coverage"]
        );
    }

    // AlmaLinux 8 module streams: ALSA-2026:8339 fixes nodejs:20 module builds only.
    let alma8 = "NAME=\"AlmaLinux\"\nID=\"almalinux\"\nVERSION_ID=\"8.9\"\n";
    let nodejs = |stream: &'static str, version: &'static str, release: &'static str| RpmPackage {
        epoch: Some(1),
        subpackages: &["nodejs-devel"],
        module: (!stream.is_empty()).then_some(stream),
        ..RpmPackage::new("nodejs", version, release)
    };
    let m20 = scan(
        "alma8-nodejs20",
        alma8,
        &[nodejs(
            "nodejs:20:8090020231019152822:a75119d5",
            "20.10.0",
            "1.module_el8.9.0+3700+efebe9fd",
        )],
    )
    .expect("rpmbuild");
    assert_eq!(
        found(&m20),
        [
            "ALSA-2026:8339 nodejs 1:20.10.0-1.module_el8.9.0+3700+efebe9fd fixed in 1:20.20.2-1.module_el8.10.0+4165+3f200bda",
            "ALSA-2026:8339 nodejs-devel 1:20.10.0-1.module_el8.9.0+3700+efebe9fd fixed in 1:20.20.2-1.module_el8.10.0+4165+3f200bda",
        ]
    );
    assert!(
        m20["vulnerabilities"][0]["matched_by"]["searched"]
            .as_str()
            .is_some_and(|s| s.ends_with("(module nodejs:20)")),
        "{}",
        m20["vulnerabilities"][0]["matched_by"]
    );
    let m18 = scan(
        "alma8-nodejs18",
        alma8,
        &[nodejs(
            "nodejs:18:8090020231025170345:a75119d5",
            "18.18.2",
            "2.module_el8.9.0+3697+2da4d1b2",
        )],
    )
    .expect("rpmbuild");
    assert_eq!(found(&m18), Vec::<String>::new(), "another stream");
    let base = scan("alma8-base", alma8, &[nodejs("", "10.24.0", "1.el8")]).expect("rpmbuild");
    assert_eq!(
        found(&base),
        Vec::<String>::new(),
        "a base package, not a module build"
    );
}

/// Debian's and Alpine's OSV records beside their trackers (both in the default sources): a
/// vulnerability both announce is one match, with both records' ids; the OSV-only Alpine record
/// matches on its own.
#[test]
fn debian_and_alpine_osv_records_beside_their_trackers_are_one_match_each() {
    let Some(td) = testdata() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let adv = td.join("advisories");
    let db = import(
        dir.path(),
        &[
            &adv.join("debian-security-tracker/data/DSA/list"),
            &adv.join("osv-more/DebianOSV"),
            &adv.join("osv-more/AlpineOSV"),
        ],
    );
    let scan = |name: &str, os: &str, db_path: &str, db_text: &str| {
        scan_rootfs(&dir.path().join(name), os, &[(db_path, db_text)], &db)
    };
    let wheezy = scan(
        "wheezy",
        "ID=debian\nVERSION_ID=\"7\"\nVERSION_CODENAME=wheezy\n",
        "var/lib/dpkg/status",
        "Package: nginx\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.2.1-2.2+wheezy2\nDescription: web server\n\n",
    );
    // DSA-3029-1 is in both the tracker's list and Debian's OSV records; DSA-3473-1 in the list only.
    let vulns: Vec<&serde_json::Value> = wheezy["vulnerabilities"]
        .as_array()
        .expect("vulnerabilities")
        .iter()
        .filter(|v| v.to_string().contains("CVE-2014-3616"))
        .collect();
    assert_eq!(vulns.len(), 1, "{vulns:?}");
    assert_eq!(vulns[0]["id"], "DSA-3029-1");
    assert_eq!(vulns[0]["fixed_versions"][0], "1.2.1-2.2+wheezy3");
    let range = vulns[0]["matched_by"]["range"].as_str().unwrap_or("");
    assert!(
        range.contains("Debian:7 nginx") && range.contains("Debian:wheezy nginx"),
        "both records' ranges: {range}"
    );
    assert!(
        wheezy["vulnerabilities"].to_string().contains("DSA-3473-1"),
        "the tracker's later DSA"
    );
    let alpine = scan(
        "alpine312",
        "ID=alpine\nVERSION_ID=3.12.12\n",
        "lib/apk/db/installed",
        "P:mariadb\nV:10.4.24-r0\nA:x86_64\no:mariadb\n\n",
    );
    let ids: Vec<&str> = alpine["vulnerabilities"]
        .as_array()
        .expect("vulnerabilities")
        .iter()
        .filter_map(|v| v["id"].as_str())
        .collect();
    assert_eq!(ids, ["CVE-2022-27449"]);
}

/// Logs written to a pipe or file (CI, container logs) are plain text: no colour escapes.
#[test]
fn redirected_logs_carry_no_colour_escapes() {
    let Some(td) = testdata() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("var/lib/dpkg")).expect("mkdir");
    // OS packages but no os-release: the scan warns that only release-less advisories apply.
    std::fs::write(
        root.join("var/lib/dpkg/status"),
        "Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13.dfsg-1\n\n",
    )
    .expect("write");
    let db = import(dir.path(), &[&td.join("advisories/nvd")]);
    let target = format!("dir:{}", root.display());
    let scan = |extra: &[&str]| {
        let mut args = vec![
            "scan",
            target.as_str(),
            "--db",
            db.as_str(),
            "--store",
            "none",
        ];
        args.extend(extra);
        run(&args)
    };
    let out = scan(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: image has OS packages but no known distribution"),
        "{stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    // Each warning once, in the report too; sbom says the walk's warnings once.
    assert_eq!(
        stderr.matches("no known distribution").count(),
        1,
        "{stderr}"
    );
    let json = scan(&["--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert!(
        report["warnings"]
            .to_string()
            .contains("no known distribution")
    );
    std::fs::write(root.join("etc-broken"), [0xff, 0xfe]).expect("write");
    let sbom = run(&["sbom", &format!("dir:{}", root.display())]);
    let said = String::from_utf8_lossy(&sbom.stderr);
    for line in said.lines() {
        assert_eq!(said.matches(line).count(), 1, "said twice: {said}");
    }
}

/// A DB of the PyPA and npm working group advisories under `dir`, and the lang fixture image.
fn lang_with_pypi_and_npm(dir: &Path, td: &Path, fx: &Path) -> (String, String) {
    let db = import(
        dir,
        &[
            &td.join("advisories/pypi"),
            &td.join("advisories/npm-nodejs-security-wg"),
        ],
    );
    (db, format!("oci:{}:lang", fx.join("oci").display()))
}

/// What Trivy and Grype users reach for: `--severity`, `--ignore-unfixed`, `--fail-on` a
/// severity with `--exit-code`, `.trivyignore` and `.grype.yaml` through `--ignorefile`, `-q`,
/// `--timeout`; npm advisories' patched ranges give fixed versions.
#[test]
fn trivy_and_grype_habits() {
    let (Some(td), Some(fx)) = (testdata(), fixtures()) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, target) = lang_with_pypi_and_npm(dir.path(), &td, &fx);
    let scan = |extra: &[&str]| {
        bin()
            .args(["scan", &target, "--db", &db, "--store", "none"])
            .args(extra)
            .output()
            .expect("run")
    };
    let report = |out: &std::process::Output| -> serde_json::Value {
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
    };
    let all = report(&scan(&["--format", "json"]));
    let vulns = all["vulnerabilities"].as_array().expect("list");
    // lodash 4.17.4: the working group's patched ranges are the fixes.
    for (id, fix) in [("NSWG-ECO-368", "4.17.5"), ("NSWG-ECO-493", "4.17.11")] {
        let m = vulns
            .iter()
            .find(|m| m["id"] == id)
            .unwrap_or_else(|| panic!("{id} not found"));
        assert_eq!(m["fixed_versions"], serde_json::json!([fix]), "{m}");
        assert_eq!(m["state"], "fixed", "{m}");
    }
    let severities: BTreeSet<&str> = vulns
        .iter()
        .filter_map(|m| m["severity"].as_str())
        .collect();
    assert!(
        severities.contains("high") && severities.len() > 1,
        "{severities:?}"
    );

    // --severity: only those are shown and counted (this image has nothing critical).
    let high = report(&scan(&["--format", "json", "--severity", "high"]));
    let shown: BTreeSet<&str> = high["vulnerabilities"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|m| m["severity"].as_str())
        .collect();
    assert_eq!(shown, BTreeSet::from(["high"]));
    let counts = high["summary"]["counts"].as_object().expect("counts");
    assert!(counts.keys().all(|k| k == "high"), "{counts:?}");
    let critical = report(&scan(&["--format", "json", "--severity", "critical"]));
    assert_eq!(critical["vulnerabilities"], serde_json::json!([]));
    assert_ne!(critical["summary"]["status"], "Fail", "nothing left fails");

    // --ignore-unfixed: every match left has a fix.
    let fixed = report(&scan(&["--format", "json", "--ignore-unfixed"]));
    let left = fixed["vulnerabilities"].as_array().expect("list");
    let with_fix = vulns
        .iter()
        .filter(|m| {
            m["fixed_versions"]
                .as_array()
                .is_some_and(|f| !f.is_empty())
        })
        .count();
    assert!(!left.is_empty());
    assert_eq!(left.len(), with_fix);
    assert!(left.iter().all(|m| {
        m["fixed_versions"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
    }));

    // --fail-on a severity, with Trivy's --exit-code.
    assert_eq!(scan(&["--fail-on", "high"]).status.code(), Some(1));
    assert_eq!(
        scan(&["--fail-on", "medium", "--exit-code", "5"])
            .status
            .code(),
        Some(5)
    );
    assert_eq!(scan(&["--fail-on", "critical"]).status.code(), Some(0));
    assert_eq!(
        scan(&["--fail-on", "high", "--severity", "low"])
            .status
            .code(),
        Some(0),
        "what --severity leaves out does not fail"
    );

    // .trivyignore: every id listed, none counts; one expired line counts again.
    let ids: BTreeSet<&str> = vulns.iter().filter_map(|m| m["id"].as_str()).collect();
    let trivyignore = dir.path().join(".trivyignore");
    let listed: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    std::fs::write(
        &trivyignore,
        format!("# every one\n{}\n", listed.join("\n")),
    )
    .expect("write");
    let path = trivyignore.to_str().expect("utf-8");
    let out = scan(&["--format", "json", "--ignorefile", path, "--fail-on", "low"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ignored = report(&out);
    assert!(
        ignored["vulnerabilities"]
            .as_array()
            .expect("list")
            .iter()
            .all(|m| m["ignored"]["exception"]
                .as_str()
                .is_some_and(|e| e.contains(".trivyignore:"))),
        "{ignored}"
    );
    let lodash_expired = listed
        .iter()
        .map(|i| {
            if i == "NSWG-ECO-368" {
                format!("{i} exp:2000-01-01")
            } else {
                i.clone()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&trivyignore, lodash_expired).expect("write");
    let out = report(&scan(&["--format", "json", "--ignorefile", path]));
    let counted: Vec<&str> = out["vulnerabilities"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|m| m["ignored"].is_null())
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(
        counted,
        ["NSWG-ECO-368"],
        "an expired line no longer applies"
    );

    // .grype.yaml: a rule by package type silences that ecosystem only.
    let grype = dir.path().join(".grype.yaml");
    std::fs::write(
        &grype,
        "ignore:\n  - package:\n      type: npm\n    reason: front-end only\n",
    )
    .expect("write");
    let out = report(&scan(&[
        "--format",
        "json",
        "--ignorefile",
        grype.to_str().expect("utf-8"),
    ]));
    for m in out["vulnerabilities"].as_array().expect("list") {
        let npm = m["package"]["ecosystem"] == "npm";
        assert_eq!(m["ignored"].is_object(), npm, "{m}");
    }

    // -v: the pipeline's steps, with what each found and how long it took.
    let verbose = scan(&["-v", "--format", "json"]);
    let said = String::from_utf8_lossy(&verbose.stderr);
    assert!(
        said.contains("inventory made")
            && said.contains("\"python/dist-info\": 8")
            && said.contains("matched")
            && said.contains("\"npm-wg\": 2")
            && said.contains("ms="),
        "{said}"
    );

    // -q: nothing on stderr but errors; --timeout gives up saying so (exit 2).
    let quiet = scan(&["-q", "--format", "json"]);
    assert!(quiet.status.success());
    assert!(
        quiet.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&quiet.stderr)
    );
    let out = bin()
        .args([
            "scan",
            "127.0.0.1:1/never/answers:1",
            "--db",
            &db,
            "--store",
            "none",
        ])
        .args(["--timeout", "1s", "--insecure-registry", "127.0.0.1:1"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--timeout") || err.contains("127.0.0.1:1"),
        "{err}"
    );
}

/// A closed stdout ends quietly (no panic, no error), whatever the command; a missing DB is
/// said before any pull; `db import` of a file with no advisory fails and writes nothing.
#[test]
fn everyday_hygiene() {
    let Some(td) = testdata() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let db = import(dir.path(), &[&td.join("advisories/pypi")]);
    for args in [
        vec!["policy", "crd"],
        vec!["db", "status", "--json", "--db", &db],
        vec!["db", "status", "--db", &db],
    ] {
        let mut child = bin()
            .args(&args)
            .env("RUST_BACKTRACE", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        // The reader goes away at once.
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(
            matches!(out.status.code(), Some(0) | None) || out.status.code() == Some(141),
            "{args:?}: {:?} {err}",
            out.status
        );
    }

    // Long work shows progress on a terminal (a pty from util-linux's `script`), and nothing
    // of it on a pipe.
    let feed = td.join("advisories/pypi");
    let on_tty = std::process::Command::new("script")
        // A terminal that says what it is (with no TERM, or a dumb one, nothing is drawn).
        .env("TERM", "xterm")
        .args(["-qec"])
        .arg(format!(
            "{} db import --db {} {}",
            env!("CARGO_BIN_EXE_portcullis"),
            dir.path().join("tty.db").display(),
            feed.display()
        ))
        .arg("/dev/null")
        .output()
        .expect("script (util-linux)");
    assert!(
        String::from_utf8_lossy(&on_tty.stdout).contains("importing 1 source(s)"),
        "{}",
        String::from_utf8_lossy(&on_tty.stdout)
    );
    let piped = run(&[
        "db",
        "import",
        "--db",
        dir.path().join("pipe.db").to_str().expect("utf-8"),
        feed.to_str().expect("utf-8"),
    ]);
    let said = String::from_utf8_lossy(&piped.stderr);
    assert!(
        !said.contains("importing 1 source") && !said.contains('\r'),
        "{said}"
    );

    // A missing DB is said before anything is pulled.
    if let Some(reg) = portcullis_test_support::registry() {
        let cache = dir.path().join("cache");
        let out = run(&[
            "scan",
            &format!("{reg}/portcullis/debian:lang"),
            "--insecure-registry",
            &reg,
            "--db",
            dir.path().join("missing.db").to_str().expect("utf-8"),
            "--store",
            "none",
            "--cache-dir",
            cache.to_str().expect("utf-8"),
        ]);
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("no vulnerability database"));
        let blobs = std::fs::read_dir(cache.join("blobs")).map_or(0, |d| d.count());
        assert_eq!(blobs, 0, "nothing read before the DB was checked");
    }
    let empty = dir.path().join("empty.db");
    let script = dir.path().join("not-advisories.sh");
    std::fs::write(&script, "#!/bin/sh\necho hello\n").expect("write");
    let out = run(&[
        "db",
        "import",
        "--db",
        empty.to_str().expect("utf-8"),
        script.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no advisory found in"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!empty.exists(), "nothing written");
}

/// `policy test` decides as `serve` would, offline, on a bare AdmissionRequest: `--on-scan-error`
/// for an image with no result, `--now` against the results' own `scanned_at` for scan-age
/// rules; a review that is not JSON, or a policy that does not load, is an error (2) with no
/// decision printed.
#[test]
fn policy_test_mirrors_serve_offline() {
    let Some(td) = testdata() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let pol = dir.path().join("pol");
    std::fs::create_dir_all(&pol).expect("mkdir");
    std::fs::write(
        pol.join("fresh.yaml"),
        "apiVersion: containersecurity.portcullis.dev/v1\nkind: ContainerAdmissionPolicy\nmetadata: {name: fresh}\nspec:\n  rules:\n  - action: Reject\n    imageLastScan: {operator: lt, duration: {days: 1}}\n  - action: Allow\n    imageScanStatus: {operator: IsOneOf, values: [Pass, Warn]}\n  - action: Reject\n",
    )
    .expect("write");
    let request = td.join("admission/kubewarden-trusted-repos-policy/pod_creation.json");
    let garbage = dir.path().join("review.txt");
    std::fs::write(&garbage, "not json at all").expect("write");
    let decide_on = |review: &Path, extra: &[&str]| {
        let out = bin()
            .args(["policy", "test", "--policies"])
            .arg(&pol)
            .arg("--review")
            .arg(review)
            .args(extra)
            .output()
            .expect("run");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let decide = |extra: &[&str]| decide_on(&request, extra);
    let (code, text) = decide_on(&garbage, &[]);
    assert_eq!(code, Some(2));
    assert!(text.is_empty(), "no decision on an error: {text}");
    // No result for nginx:1.0.0: a scan error, rejected unless told otherwise.
    let (code, text) = decide(&[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("could not be scanned"), "{text}");
    assert_eq!(decide(&["--on-scan-error", "allow"]).0, Some(0));

    // A result scanned on 2026-01-01: fresh on the 1st at noon, too old a week later.
    let db = import(dir.path(), &[&td.join("advisories/pypi")]);
    let mut report = scan_rootfs(
        &dir.path().join("root"),
        "ID=debian\nVERSION_ID=\"12\"\n",
        &[],
        &db,
    );
    report["target"] = "nginx:1.0.0".into();
    report["image"]["reference"] = "nginx:1.0.0".into();
    report["scanned_at"] = "2026-01-01T00:00:00Z".into();
    report["summary"]["status"] = "Pass".into();
    let results = dir.path().join("results.json");
    std::fs::write(&results, report.to_string()).expect("write");
    let results = results.to_str().expect("utf-8");
    let (code, text) = decide(&["--results", results, "--now", "2026-01-01T12:00:00Z"]);
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = decide(&["--results", results, "--now", "2026-01-08T00:00:00Z"]);
    assert_eq!(code, Some(1), "a week-old scan: {text}");
    assert_eq!(decide(&["--now", "next tuesday"]).0, Some(2));

    // A policy that does not load: exit 2, no decision printed.
    std::fs::write(pol.join("broken.yaml"), "apiVersion: containersecurity.portcullis.dev/v1\nkind: ContainerAdmissionPolicy\nmetadata: {name: broken}\nspec:\n  rules:\n  - action: Sometimes\n").expect("write");
    let (code, text) = decide(&["--on-scan-error", "allow"]);
    assert_eq!(code, Some(2));
    assert!(text.is_empty(), "no decision on an error: {text}");
}

/// The table as Trivy's users read it, on the lang fixture at 80 and 200 columns: the verdict
/// and totals first, a table per target, the CVE first, no id or version cut, the title
/// wrapped. Digests, dates and paths are filtered out of the snapshots.
#[test]
fn the_table_reads_like_trivys_at_80_and_200_columns() {
    let (Some(td), Some(fx)) = (testdata(), fixtures()) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, target) = lang_with_pypi_and_npm(dir.path(), &td, &fx);
    let json = run(&[
        "scan", &target, "--db", &db, "--store", "none", "--format", "json",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    for columns in [80, 200] {
        let out = bin()
            .args(["scan", &target, "--db", &db, "--store", "none"])
            .env("COLUMNS", columns.to_string())
            .env("NO_COLOR", "1")
            .output()
            .expect("run");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(!text.contains('\u{1b}'), "no colour off a terminal");
        // Every id and version is whole on some line.
        for m in report["vulnerabilities"].as_array().expect("list") {
            let id = m["aliases"]
                .as_array()
                .and_then(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str())
                        .find(|x| x.starts_with("CVE-"))
                })
                .or_else(|| m["id"].as_str())
                .expect("id");
            assert!(text.contains(id), "{id} cut at {columns} columns");
            let version = m["package"]["version"].as_str().expect("version");
            assert!(text.contains(version), "{version} cut");
        }
        let first = text.lines().nth(1).unwrap_or_default();
        assert!(
            first.starts_with("Result: Fail") && first.contains("CRITICAL:"),
            "{first}"
        );
        insta::with_settings!({filters => vec![
            (r"sha256:[0-9a-f]{64}", "[digest]"),
            (r"imported \d{4}-\d{2}-\d{2}", "imported [date]"),
            (r"oci:\S+:lang", "oci:[fixtures]:lang"),
        ]}, {
            insta::assert_snapshot!(format!("table_{columns}"), text);
        });
    }
    // The machine formats: CSV whole; JSON and SARIF as what each finding says.
    let csv = run(&[
        "scan", &target, "--db", &db, "--store", "none", "--format", "csv",
    ]);
    insta::assert_snapshot!("csv", String::from_utf8_lossy(&csv.stdout));
    let findings: Vec<serde_json::Value> = report["vulnerabilities"]
        .as_array()
        .expect("list")
        .iter()
        .map(|m| {
            serde_json::json!({
                "id": m["id"], "aliases": m["aliases"], "severity": m["severity"],
                "cvss": m["cvss"]["score"], "fixed_versions": m["fixed_versions"],
                "state": m["state"],
                "package": format!("{}@{}", m["package"]["name"].as_str().unwrap_or(""),
                    m["package"]["version"].as_str().unwrap_or("")),
                "location": m["matched_by"]["location"],
            })
        })
        .collect();
    insta::assert_json_snapshot!(
        "json_findings",
        serde_json::json!({
            "summary": report["summary"], "findings": findings,
        })
    );
    let sarif = run(&[
        "scan", &target, "--db", &db, "--store", "none", "--format", "sarif",
    ]);
    let sarif: serde_json::Value = serde_json::from_slice(&sarif.stdout).expect("sarif");
    let results: Vec<serde_json::Value> = sarif["runs"][0]["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            serde_json::json!({
                "ruleId": r["ruleId"], "level": r["level"],
                "uri": r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            })
        })
        .collect();
    insta::assert_json_snapshot!("sarif_results", results);
}
