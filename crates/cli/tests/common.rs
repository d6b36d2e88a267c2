//! Shared helpers for the end-to-end tests: the binary, the fixtures and the third-party data.
#![allow(dead_code, unreachable_pub, unused_imports)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// The `portcullis` binary built by cargo for this test run.
/// The binary, with `serve`'s DB updates off unless a test asks for them with
/// `--db-update-interval` (which wins over the variable): no test reaches the public upstreams;
/// and its API on a free port unless a test names one.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    c.env("PORTCULLIS_DB_UPDATE_INTERVAL", "off");
    // Serves started at once must not meet on the API's default port.
    c.env("PORTCULLIS_API_LISTEN", "127.0.0.1:0");
    c
}

/// Runs the binary, returning its output; panics with stderr if it could not start.
pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("start portcullis")
}

pub use portcullis_test_support::{fixtures, registry};

/// The third-party test data folder (see [`portcullis_test_support::testdata`]).
pub fn testdata() -> Option<PathBuf> {
    portcullis_test_support::testdata("")
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

/// A child process (a `serve`) killed when the test ends, however it ends.
pub struct Server(pub std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port free on 127.0.0.1 now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}
