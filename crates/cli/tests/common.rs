//! Shared helpers for the end-to-end tests: the binary, the fixtures and the third-party data.
#![allow(dead_code, unreachable_pub, unused_imports)]

use std::path::{Path, PathBuf};
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

// The assurance API (`serve --api-listen`), for the API and dashboard tests.

/// `curl` against the API: (status, body). `token` goes in the Authorization header.
pub fn call(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-ks", "-X", method, "-w", "\n%{http_code}"]);
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    if let Some(b) = body {
        cmd.args(["-H", "Content-Type: application/json", "--data-binary", b]);
    }
    let out = cmd
        .arg(format!("https://127.0.0.1:{port}{path}"))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// Whether `f` holds within ten seconds (asked every 200 ms): what `serve` follows from the
/// store comes into force within seconds.
pub fn eventually(mut f: impl FnMut() -> bool) -> bool {
    (0..50).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(200));
        f()
    })
}

/// A new API token of `scope` (named after it) in `store`.
pub fn token(store: &str, scope: &str) -> String {
    let out = run(&[
        "token", "create", "--scope", scope, "--name", scope, "--store", store,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let token = text.lines().last().expect("token line").trim().to_string();
    assert!(token.starts_with("pcl_"), "{text}");
    token
}

/// `serve` with the API on a free port over `store`, and the webhook's own port.
pub fn start(dir: &Path, db: &Path, store: &str, reg: &str, extra: &[&str]) -> (Server, u16) {
    let (hook, api) = (free_port(), free_port());
    let server = Server(
        bin()
            .args(["serve", "--webhook-listen", &format!("127.0.0.1:{hook}")])
            .args(extra)
            .args(["--api-listen", &format!("127.0.0.1:{api}")])
            .arg("--db")
            .arg(db)
            .args(["--store", store, "--insecure-registry", reg])
            .arg("--cache-dir")
            .arg(dir.join("cache"))
            .stderr(std::fs::File::create(dir.join("serve.log")).expect("log"))
            .spawn()
            .expect("serve"),
    );
    for _ in 0..150 {
        if call(api, "GET", "/api/v1/images", None, None).0 == 401 {
            return (server, api);
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    panic!(
        "the API did not answer: {}",
        std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default()
    );
}

/// A DB of the PyPI advisories under `dir`, and the fixtures' registry (`None`, having said so,
/// when the test data, fixtures or registry are missing).
pub fn pypi_db_and_registry(dir: &Path) -> Option<(std::path::PathBuf, String)> {
    db_and_registry(dir, &["advisories/pypi"])
}

/// A DB under `dir` of the advisories at `sources` (paths in the test data), and the fixtures'
/// registry (`None`, having said so, when the test data, fixtures or registry are missing).
pub fn db_and_registry(dir: &Path, sources: &[&str]) -> Option<(std::path::PathBuf, String)> {
    let (Some(td), Some(_fx), Some(reg)) = (testdata(), fixtures(), registry()) else {
        return None;
    };
    let db = dir.join("vuln.db");
    let paths: Vec<String> = sources
        .iter()
        .map(|s| td.join(s).to_string_lossy().into_owned())
        .collect();
    let mut args = vec!["db", "import", "--db", db.to_str().expect("utf-8")];
    args.extend(paths.iter().map(String::as_str));
    let imported = run(&args);
    assert!(imported.status.success(), "{imported:?}");
    Some((db, reg))
}

/// `scan` of the fixture image `portcullis/debian:<tag>` from `reg` with `db`, pushed to the API on `port` with
/// `token`, verified with `ca`; `extra` arguments after.
pub fn scan_pushing(
    reg: &str,
    tag: &str,
    db: &Path,
    port: u16,
    token: &str,
    ca: &Path,
    extra: &[&str],
) -> std::process::Output {
    let target = format!("{reg}/portcullis/debian:{tag}");
    let push_to = format!("https://127.0.0.1:{port}");
    let mut args = vec![
        "scan",
        &target,
        "--insecure-registry",
        reg,
        "--db",
        db.to_str().expect("utf-8"),
        "--store",
        "none",
        "--format",
        "json",
        "--push",
        &push_to,
        "--token",
        token,
        "--push-ca",
        ca.to_str().expect("utf-8"),
    ];
    args.extend(extra);
    run(&args)
}

/// Records `digest` (pulled as `image`) as running in workload `shop/Deployment/web` of cluster
/// `prod` (two instances), as the runtime watch would.
pub fn running_in_a_workload(store: &str, image: &str, digest: &str) {
    let url: portcullis_store::StoreUrl = store.parse().expect("store url");
    let results =
        portcullis_store::open(&url, portcullis_scanner::code_versions()).expect("open store");
    let now = time::OffsetDateTime::now_utc();
    results
        .put_running(
            "prod",
            &[portcullis_core::RuntimeImage {
                cluster: "prod".into(),
                namespace: "shop".into(),
                workload_kind: "Deployment".into(),
                workload_name: "web".into(),
                image: image.into(),
                digest: Some(portcullis_core::Digest::parse(digest).expect("digest")),
                instances: 2,
                nodes: vec!["node-1".into()],
                first_seen: now,
                last_seen: now,
                running: true,
            }],
            now,
        )
        .expect("runtime");
}
