//! Shared helpers for the end-to-end tests: the binary, the fixtures and the third-party data.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// The `portcullis` binary built by cargo for this test run.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
}

/// Runs the binary, returning its output; panics with stderr if it could not start.
pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("start portcullis")
}

/// Skips (None) outside CI, fails under `CI=true`: what a missing test prerequisite does.
pub fn required(what: &str) -> Option<()> {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{what} is missing (required under CI=true); run scripts/test");
    }
    eprintln!("skipping: {what} is missing; run scripts/fixtures (or scripts/test)");
    None
}

/// The third-party test data folder, or None (skip) outside CI.
pub fn testdata() -> Option<PathBuf> {
    let p = std::env::var_os("PORTCULLIS_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/testdata"
            ))
        });
    if p.is_dir() {
        Some(p)
    } else {
        required(&format!("test data at {}", p.display())).map(|_| p)
    }
}

/// The fixture folder built by scripts/fixtures, or None (skip) outside CI.
pub fn fixtures() -> Option<PathBuf> {
    let p = std::env::var_os("PORTCULLIS_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/portcullis/fixtures")
        });
    if p.join("oci/index.json").is_file() {
        Some(p)
    } else {
        required(&format!("fixtures at {}", p.display())).map(|_| p)
    }
}

/// The registry started by scripts/fixtures (HOST:PORT), if it answers.
pub fn registry() -> Option<String> {
    let r = std::env::var("PORTCULLIS_TEST_REGISTRY").unwrap_or_else(|_| "127.0.0.1:5077".into());
    let ok = std::net::TcpStream::connect_timeout(
        &r.parse()
            .unwrap_or_else(|_| "127.0.0.1:5077".parse().expect("addr")),
        std::time::Duration::from_secs(2),
    )
    .is_ok();
    if ok {
        Some(r)
    } else {
        required(&format!("registry at {r}")).map(|_| r)
    }
}

/// Parses stdout as JSON, with stderr in the panic message.
pub fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "portcullis failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// The installed packages of a dpkg status file: (name, version) of every installed stanza.
pub fn dpkg_installed(status: &std::path::Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(status).expect("read dpkg status");
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let field = |k: &str| {
            stanza.lines().find_map(|l| {
                l.strip_prefix(k)
                    .and_then(|r| r.strip_prefix(':'))
                    .map(|v| v.trim().to_string())
            })
        };
        if let (Some(n), Some(v), Some(s)) = (field("Package"), field("Version"), field("Status"))
            && s.ends_with(" installed")
        {
            out.push((n, v));
        }
    }
    out.sort();
    out
}
