//! Where test inputs live, and the one skip rule.
//!
//! Every lookup returns `Option`: `Some` when the input is there, `None` after printing what was
//! skipped and why. Under `CI=true` a missing input panics instead: CI installs and builds
//! everything the tests need (`scripts/test`), so a missing input there is a broken setup, not
//! a reason to pass.

use std::fmt::Display;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

/// True under `CI=true`, where missing inputs fail.
pub fn ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// The skip rule: `what` the test needs is missing. Prints `skipping: {what}`; panics under
/// `CI=true`. The test returns right after.
#[track_caller]
pub fn skip(what: impl Display) {
    if ci() {
        panic!("{what} is missing (required under CI=true; scripts/test installs and builds it)");
    }
    eprintln!("skipping: {what} is missing");
}

/// [`skip`] for lookups: `None` after saying what is missing.
#[track_caller]
pub fn missing<T>(what: impl Display) -> Option<T> {
    skip(what);
    None
}

/// The third-party test data folder: `PORTCULLIS_TESTDATA`, or `shared/testdata` beside the
/// workspace. Not checked; see [`testdata`].
pub fn testdata_root() -> PathBuf {
    std::env::var_os("PORTCULLIS_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/testdata"
            ))
        })
}

/// `sub` (a file or folder, `""` for the root) of the third-party test data, if it exists.
#[track_caller]
pub fn testdata(sub: &str) -> Option<PathBuf> {
    let path = testdata_root().join(sub);
    if path.exists() {
        Some(path)
    } else {
        missing(format_args!(
            "test data {} (set PORTCULLIS_TESTDATA)",
            path.display()
        ))
    }
}

/// Every feed of the test data's advisories (the folders under `advisories/`), sorted: what the
/// benchmarks import as a whole DB.
#[track_caller]
pub fn advisory_feeds() -> Option<Vec<PathBuf>> {
    let root = testdata("advisories")?;
    let mut feeds: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    feeds.sort();
    Some(feeds)
}

/// The fixture images built by `scripts/fixtures` (`PORTCULLIS_FIXTURES`, default
/// `~/.cache/portcullis/fixtures`), if its OCI layout is there.
#[track_caller]
pub fn fixtures() -> Option<PathBuf> {
    let dir = std::env::var_os("PORTCULLIS_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/portcullis/fixtures")
        });
    if dir.join("oci/index.json").is_file() {
        Some(dir)
    } else {
        missing(format_args!(
            "fixtures at {} (run scripts/fixtures)",
            dir.display()
        ))
    }
}

/// The plain-HTTP registry started by `scripts/fixtures` (`PORTCULLIS_TEST_REGISTRY`, default
/// `127.0.0.1:5077`), as `HOST:PORT`, if it accepts connections.
#[track_caller]
pub fn registry() -> Option<String> {
    answering("PORTCULLIS_TEST_REGISTRY", "127.0.0.1:5077", "registry")
}

/// The htpasswd-protected registry started by `scripts/fixtures`
/// (`PORTCULLIS_TEST_AUTH_REGISTRY`, default `127.0.0.1:5078`; user `puller`, password
/// `s3cret`), if it accepts connections.
#[track_caller]
pub fn auth_registry() -> Option<String> {
    answering(
        "PORTCULLIS_TEST_AUTH_REGISTRY",
        "127.0.0.1:5078",
        "authenticating registry",
    )
}

#[track_caller]
fn answering(var: &str, default: &str, what: &str) -> Option<String> {
    let addr = std::env::var(var).unwrap_or_else(|_| default.to_string());
    let up = addr
        .parse::<SocketAddr>()
        .is_ok_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok());
    if up {
        Some(addr)
    } else {
        missing(format_args!(
            "{what} at {addr} (${var}; run scripts/fixtures)"
        ))
    }
}

/// A file named by the environment variable `var` (a peer tool or schema that `scripts/test`
/// provides, e.g. `PORTCULLIS_HELM`), if it is set and exists.
#[track_caller]
pub fn tool_from_env(var: &str, what: &str) -> Option<PathBuf> {
    match std::env::var_os(var).map(PathBuf::from) {
        Some(p) if p.exists() => Some(p),
        Some(p) => missing(format_args!(
            "{what} at {} (${var}) is missing",
            p.display()
        )),
        None => missing(format_args!(
            "{what}: ${var} is not set (scripts/test sets it)"
        )),
    }
}
