//! The dashboard in a real browser: Debian's chromium, driven by Python Playwright
//! (`tests/dashboard.py`), against a `serve` holding real results of the fixture images:
//! `portcullis/debian:lang` (Fail) pushed from a CI scan and reported running in a workload, and
//! `portcullis/debian:bookworm` (Pass). The script logs in, sorts, filters, searches, opens the
//! image, adds exceptions and sees its result change, changes a threshold and sees the results
//! relabel, exports CSV, makes and revokes a CI token, and checks that a read token changes
//! nothing. Screenshots of each page are kept under `CARGO_TARGET_TMPDIR/dashboard`.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

#[test]
fn dashboard_in_a_real_browser() {
    let Some(chromium) =
        portcullis_test_support::tool_from_env("PORTCULLIS_CHROMIUM", "Debian's chromium")
    else {
        return;
    };
    let playwright = std::process::Command::new("python3")
        .args(["-c", "import playwright"])
        .status()
        .is_ok_and(|s| s.success());
    if !playwright {
        portcullis_test_support::skip("Python Playwright (pip install playwright)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    // PyPA advisories and the Debian DSA list; packages no source covers pass, so the Debian
    // image is the Pass one.
    let Some((db, reg)) = db_and_registry(
        dir,
        &[
            "advisories/pypi",
            "advisories/debian-security-tracker/data/DSA/list",
        ],
    ) else {
        return;
    };
    let store = format!("sqlite:{}", dir.join("store.db").display());
    let (_serve, port) = start(dir, &db, &store, &reg, &["--uncovered-as", "pass"]);
    let (push, write, read) = (
        token(&store, "push"),
        token(&store, "write"),
        token(&store, "read"),
    );
    let ca = dir.join("cache/tls/ca.crt");
    let mut digests = Vec::new();
    for tag in ["lang", "bookworm"] {
        let pushed = scan_pushing(&reg, tag, &db, port, &push, &ca, &[]);
        assert!(
            pushed.status.success(),
            "{}",
            String::from_utf8_lossy(&pushed.stderr)
        );
        let report: Value = serde_json::from_slice(&pushed.stdout).expect("report");
        digests.push(
            report["image"]["digest"]
                .as_str()
                .expect("digest")
                .to_string(),
        );
    }
    running_in_a_workload(
        &store,
        &format!("{reg}/portcullis/debian:lang"),
        &digests[0],
    );
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dashboard.py");
    let result = std::process::Command::new("python3")
        .arg(&script)
        .env("BASE", format!("https://127.0.0.1:{port}"))
        .env("WRITE", &write)
        .env("READ", &read)
        .env("CHROMIUM", &chromium)
        .env("OUT", &out)
        .env("FAIL_DIGEST", &digests[0])
        .env("PASS_DIGEST", &digests[1])
        .output()
        .expect("python3");
    let said = String::from_utf8_lossy(&result.stdout);
    eprintln!("{said}\nscreenshots: {}", out.display());
    assert!(
        result.status.success(),
        "{said}\n{}\nserve: {}",
        String::from_utf8_lossy(&result.stderr),
        std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default()
    );
    for check in [
        "logged in: the token is in a Secure, HttpOnly, SameSite=Strict cookie",
        "sorting by a column",
        "filtering by result",
        "searching a CVE",
        "the current view exports as CSV",
        "Running images shows",
        "an image shows its vulnerabilities",
        "exceptions added from the image change its result",
        "a threshold change is previewed, saved, and relabels the results",
        "a CI token is made and shown once",
        "a change without the CSRF header is refused",
        "the list reads at 390 px wide",
        "a read token sees the pages, is offered no change",
        "no script error on any page",
    ] {
        assert!(
            said.contains(&format!("ok {check}")),
            "missing: {check}\n{said}"
        );
    }
    let log = std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default();
    for t in [&write, &read] {
        assert!(!log.contains(t.as_str()), "a token in the log");
    }
}
