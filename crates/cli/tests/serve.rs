//! `portcullis serve` over real HTTPS with the real scanner: decisions on the fixture images from the registry.

mod common;

use portcullis_test_support::feeds::Feeds;

use std::process::Stdio;

use common::*;

fn post(port: u16, path: &str, body: &str) -> (u16, serde_json::Value) {
    let out = std::process::Command::new("curl")
        .args([
            "-ks",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            "@-",
        ])
        .arg(format!("https://127.0.0.1:{port}{path}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().expect("stdin").write_all(body.as_bytes())?;
            c.wait_with_output()
        })
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (json, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (
        code.trim().parse().unwrap_or(0),
        serde_json::from_str(json).unwrap_or(serde_json::Value::Null),
    )
}

fn deployment(uid: &str, image: &str, owner: bool) -> String {
    let owner = if owner {
        r#","ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"x","uid":"u","controller":true}]"#
    } else {
        ""
    };
    format!(
        r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"{uid}",
        "kind":{{"group":"apps","version":"v1","kind":"Deployment"}},"resource":{{"group":"apps","version":"v1","resource":"deployments"}},
        "namespace":"default","operation":"CREATE","userInfo":{{"username":"t"}},
        "object":{{"apiVersion":"apps/v1","kind":"Deployment","metadata":{{"name":"a","namespace":"default"{owner}}},
        "spec":{{"template":{{"metadata":{{"labels":{{"app":"a"}}}},"spec":{{"containers":[{{"name":"c","image":"{image}"}}]}}}}}}}}}}}}"#
    )
}

fn get(port: u16, path: &str) -> (u16, String) {
    let out = std::process::Command::new("curl")
        .args(["-ks", "-o", "-", "-w", "\n%{http_code}"])
        .arg(format!("https://127.0.0.1:{port}{path}"))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// Starts `serve` on a free port with `args` and waits until it answers /healthz.
fn start_serve(args: &[std::ffi::OsString]) -> (Server, u16) {
    start_serve_logging(args, Stdio::null())
}

/// [`start_serve`] with its standard error going to `stderr`.
fn start_serve_logging(args: &[std::ffi::OsString], stderr: Stdio) -> (Server, u16) {
    let port = free_port();
    let server = Server(
        bin()
            .arg("serve")
            .arg("--webhook-listen")
            .arg(format!("127.0.0.1:{port}"))
            .args(args)
            .stderr(stderr)
            .spawn()
            .expect("serve"),
    );
    for _ in 0..100 {
        if get(port, "/healthz").0 == 200 {
            return (server, port);
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    panic!("serve did not answer /healthz");
}

/// Rejects what scans Fail, allows the rest.
const REJECT_FAILED: &str = "apiVersion: containersecurity.portcullis.dev/v1\nkind: ContainerAdmissionPolicy\nmetadata: {name: reject-failed}\nspec:\n  order: 1\n  rules:\n  - action: Reject\n    imageScanStatus: {operator: IsOneOf, values: [Fail]}\n  - action: Allow\n";

/// `serve` with the "reject Fail" policy, an SQLite store under `dir` and a rescan every
/// second, scanning images of registry `reg`.
fn serve_rescanning_every_second(
    dir: &std::path::Path,
    db: &std::path::Path,
    reg: &str,
) -> (Server, u16) {
    let pol = policies_dir(dir, REJECT_FAILED);
    let mut args = scanning_args(
        &pol,
        db,
        &format!("sqlite:{}", dir.join("store.db").display()),
        &dir.join("cache"),
        reg,
    );
    args.extend(["--rescan-interval".into(), "1s".into()]);
    start_serve(&args)
}

/// The PyPI advisories' DB under `dir`, a relay to the fixtures' registry (which a test can cut
/// or slow), and the fixture `lang` image named through it; `None` without the inputs.
fn lang_through_a_relay(
    dir: &std::path::Path,
) -> Option<(
    std::path::PathBuf,
    portcullis_test_support::relay::Relay,
    String,
)> {
    let (Some(td), Some(_fx), Some(reg)) = (testdata(), fixtures(), registry()) else {
        return None;
    };
    let db = dir.join("vuln.db");
    import(&td, &db, &["advisories/pypi"]);
    let relay = portcullis_test_support::relay::Relay::start(&reg);
    let image = format!("{}/portcullis/debian:lang", relay.address());
    Some((db, relay, image))
}

/// Builds the DB at `db` from the test data folders `sources` (under `td`).
fn import(td: &std::path::Path, db: &std::path::Path, sources: &[&str]) {
    let out = bin()
        .args(["db", "import", "--db"])
        .arg(db)
        .args(sources.iter().map(|s| td.join(s)))
        .output()
        .expect("import");
    assert!(out.status.success(), "{out:?}");
}

/// A policies directory under `dir` holding `policy`.
fn policies_dir(dir: &std::path::Path, policy: &str) -> std::path::PathBuf {
    let pol = dir.join("policies");
    std::fs::create_dir_all(&pol).expect("mkdir");
    std::fs::write(pol.join("p.yaml"), policy).expect("write policy");
    pol
}

/// `serve` flags for a real scan of the registry's images: policies, DB, store and cache under
/// the test's directory.
fn scanning_args(
    policies: &std::path::Path,
    db: &std::path::Path,
    store: &str,
    cache: &std::path::Path,
    reg: &str,
) -> Vec<std::ffi::OsString> {
    vec![
        "--policies".into(),
        policies.into(),
        "--db".into(),
        db.into(),
        "--store".into(),
        store.into(),
        "--cache-dir".into(),
        cache.into(),
        "--insecure-registry".into(),
        reg.into(),
        "--webhook-timeout".into(),
        "30".into(),
    ]
}

const GATE: &str = "apiVersion: containersecurity.portcullis.dev/v1\nkind: ContainerAdmissionPolicy\nmetadata: {name: gate}\nspec:\n  rules:\n  - action: Reject\n    imagePath: {operator: IsNoneOf, values: ['^127\\.0\\.0\\.1:']}\n";

/// Asks `serve` on `port` whether a Deployment of `image` is allowed.
fn allowed(port: u16, uid: &str, image: &str) -> Option<bool> {
    let (_, review) = post(port, "/validate", &deployment(uid, image, false));
    review["response"]["allowed"].as_bool()
}

/// Asks until the answer is `want` or `tries` half-seconds passed; returns the last answer.
fn until_allowed(port: u16, image: &str, want: bool, tries: u32) -> Option<bool> {
    let mut now = None;
    for i in 0..tries {
        now = allowed(port, &format!("until-{i}"), image);
        if now == Some(want) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    now
}

/// Needs no DB, fixtures or registry: nothing here is scanned.
#[test]
fn a_broken_policy_set_at_start_never_opens_the_gate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pol = dir.path().join("policies");
    std::fs::create_dir_all(&pol).expect("mkdir");
    std::fs::write(pol.join("gate.yaml"), GATE).expect("write");
    // A typo: the selector does not parse. What else this file held is unknown.
    std::fs::write(
        pol.join("typo.yaml"),
        GATE.replace("{name: gate}", "{name: typo}")
            .replace("spec:\n", "spec:\n  selector: all(\n"),
    )
    .expect("write");
    let common = |cache: &str| -> Vec<std::ffi::OsString> {
        vec![
            "--policies".into(),
            pol.clone().into(),
            "--db".into(),
            dir.path().join("vuln.db").into(),
            "--cache-dir".into(),
            dir.path().join(cache).into(),
        ]
    };
    let (_server, port) = start_serve(&common("cache"));
    let (code, ready) = get(port, "/readyz");
    assert_eq!(code, 503, "{ready}");
    assert!(
        ready.contains("typo.yaml") && ready.contains("rejected until they load"),
        "{ready}"
    );
    // An image the gate policy admits: rejected while the set is broken, without a scan.
    let (_, review) = post(
        port,
        "/validate",
        &deployment("t1", "127.0.0.1:1/app:1", false),
    );
    assert_eq!(review["response"]["allowed"], false, "{review}");
    let msg = review["response"]["status"]["message"]
        .as_str()
        .unwrap_or("");
    assert!(
        msg.contains("typo.yaml") && msg.contains("policies failed to load"),
        "{msg}"
    );

    // --on-policy-error allow: the policies that loaded decide, with a warning.
    let mut allow = common("cache-allow");
    allow.extend(["--on-policy-error".into(), "allow".into()]);
    let (_allowing, port2) = start_serve(&allow);
    let (_, review) = post(
        port2,
        "/validate",
        &deployment("t2", "docker.io/library/nginx:1", false),
    );
    assert_eq!(review["response"]["allowed"], false, "{review}");
    let msg = review["response"]["status"]["message"]
        .as_str()
        .unwrap_or("");
    assert!(msg.contains("gate"), "the gate policy decided: {msg}");
    assert!(
        review["response"]["warnings"]
            .to_string()
            .contains("typo.yaml"),
        "{review}"
    );

    // Fixed on disk: the first server picks the set up and the gate policy decides.
    std::fs::write(
        pol.join("typo.yaml"),
        GATE.replace("{name: gate}", "{name: typo}"),
    )
    .expect("write");
    let mut decided = String::new();
    for _ in 0..100 {
        let (_, review) = post(
            port,
            "/validate",
            &deployment("t3", "docker.io/library/nginx:1", false),
        );
        decided = review["response"]["status"]["message"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if decided.contains("gate") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        decided.contains("gate") && !decided.contains("policies failed"),
        "{decided}"
    );
    let (_, ready) = get(port, "/readyz");
    assert!(!ready.contains("policies failed to load"), "{ready}");
}

#[test]
fn webhook_decides_real_images_over_https() {
    let (Some(td), Some(_fx), Some(reg)) = (testdata(), fixtures(), registry()) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("vuln.db");
    import(&td, &db, &["advisories/pypi"]);
    let pol = dir.path().join("policies");
    std::fs::create_dir_all(&pol).expect("mkdir");
    std::fs::write(
        pol.join("p.yaml"),
        "apiVersion: containersecurity.portcullis.dev/v1\nkind: ContainerAdmissionPolicy\nmetadata: {name: gate}\nspec:\n  order: 10\n  rules:\n  - action: Reject\n    imagePath: {operator: IsNoneOf, values: ['^127\\.0\\.0\\.1:[0-9]+/']}\n  - action: Allow\n    imageScanStatus: {operator: IsOneOf, values: [Pass, Warn]}\n  - action: Reject\n",
    )
    .expect("write");
    let port = free_port();
    let server = Server(
        bin()
            .args([
                "serve",
                "--webhook-listen",
                &format!("127.0.0.1:{port}"),
                "--policies",
            ])
            .arg(&pol)
            .args([
                "--db",
                db.to_str().expect("utf8"),
                "--insecure-registry",
                &reg,
                "--webhook-timeout",
                "30",
                "--connection-threads",
                "3",
            ])
            .arg("--store")
            .arg(format!(
                "sqlite:{}",
                dir.path().join("results.db").display()
            ))
            .arg("--cache-dir")
            .arg(dir.path().join("cache"))
            .stderr(Stdio::null())
            .spawn()
            .expect("serve"),
    );
    let mut up = false;
    for _ in 0..100 {
        if std::process::Command::new("curl")
            .args(["-ksf", &format!("https://127.0.0.1:{port}/healthz")])
            .output()
            .is_ok_and(|o| o.status.success())
        {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(up, "server answers /healthz");
    // --connection-threads sets how many threads serve connections (named portcullis-conn-N;
    // the kernel keeps 15 characters of a thread's name).
    let tasks = std::path::PathBuf::from(format!("/proc/{}/task", server.0.id()));
    let connection_threads = std::fs::read_dir(&tasks)
        .expect("the server's threads")
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|c| c.starts_with("portcullis-conn"))
        })
        .count();
    assert_eq!(connection_threads, 3, "threads serving connections");
    // The DB's age, from the real database.
    let (_, ready) = get(port, "/readyz");
    assert!(ready.contains("\"db_age_seconds\""), "{ready}");
    let (_, metrics) = get(port, "/metrics");
    assert!(metrics.contains("portcullis_db_age_seconds "), "{metrics}");
    let cases = [
        (
            "vulnerable",
            format!("{reg}/portcullis/debian:lang"),
            false,
            false,
        ),
        (
            "clean",
            format!("{reg}/portcullis/debian:bookworm"),
            false,
            true,
        ),
        (
            "untrusted",
            "docker.io/library/nginx:1.0.0".to_string(),
            false,
            false,
        ),
        ("owned", format!("{reg}/portcullis/debian:lang"), true, true),
    ];
    for (uid, image, owned, allowed) in cases {
        let (code, review) = post(port, "/validate", &deployment(uid, &image, owned));
        assert_eq!(code, 200, "{uid}");
        assert_eq!(review["response"]["uid"], uid);
        assert_eq!(review["response"]["allowed"], allowed, "{uid}: {review}");
        if !allowed {
            let msg = review["response"]["status"]["message"]
                .as_str()
                .unwrap_or("");
            assert!(
                msg.contains("gate"),
                "{uid}: message names the policy: {msg}"
            );
        }
        if uid == "vulnerable" {
            let msg = review["response"]["status"]["message"]
                .as_str()
                .unwrap_or("");
            assert!(
                msg.contains("CVE-") || msg.contains("PYSEC-") || msg.contains("GHSA-"),
                "{msg}"
            );
        }
    }
    let (code, review) = post(port, "/validate", "{not json");
    assert_eq!(code, 400);
    assert_eq!(review["kind"], "AdmissionReview");
    assert_eq!(review["response"]["allowed"], false);
    // Digest pinning: /mutate patches the image to the digest that was scanned.
    let (_, review) = post(
        port,
        "/mutate",
        &deployment("m", &format!("{reg}/portcullis/debian:bookworm"), false),
    );
    assert_eq!(review["response"]["patchType"], "JSONPatch", "{review}");
    // A 50 MB review, refused with a 413 AdmissionReview that curl gets to read: uploaded in
    // full and drained, or, when curl asks first (Expect: 100-continue), never uploaded.
    let big = dir.path().join("big.json");
    let mut body = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"big","x":""#.to_vec();
    body.resize(50 * 1024 * 1024, b'a');
    body.extend_from_slice(br#""}}"#);
    std::fs::write(&big, &body).expect("write");
    for (protocol, expect, uploads_all) in [
        ("--http1.1", "Expect: 100-continue", false),
        ("--http1.1", "Expect:", true),
        ("--http2", "Expect:", true),
    ] {
        let out = std::process::Command::new("curl")
            .args([
                "-ks",
                protocol,
                "-o",
                "-",
                "-w",
                "\n%{http_code} %{size_upload}",
            ])
            .args(["-H", "Content-Type: application/json", "-H", expect])
            .arg("--data-binary")
            .arg(format!("@{}", big.display()))
            .arg(format!("https://127.0.0.1:{port}/validate"))
            .output()
            .expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (json, last) = text.rsplit_once('\n').unwrap_or(("", ""));
        let what = format!("{protocol} {expect}: {last}");
        let (code, uploaded) = last.split_once(' ').unwrap_or(("", ""));
        assert_eq!(code, "413", "{what}");
        let review: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        assert_eq!(review["response"]["status"]["code"], 413, "{what}: {json}");
        let uploaded: usize = uploaded.parse().unwrap_or(usize::MAX);
        if uploads_all {
            assert_eq!(uploaded, body.len(), "{what}");
        } else {
            assert!(
                uploaded < 1024 * 1024,
                "{what}: asked first, uploaded anyway"
            );
        }
    }
}

/// `serve --db-config` keeps the DB current: it starts with the Debian data only (the lang image
/// passes a "reject Fail" policy), then the source list gains the PyPA advisories (as an OSV
/// zip): the same process rejects the same Deployment once its update and rematch ran.
#[test]
fn decisions_follow_a_db_update_without_a_restart() {
    let (Some(td), Some(_fx), Some(reg)) = (testdata(), fixtures(), registry()) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let feeds = Feeds::new(&td, dir.path());
    let pol = policies_dir(dir.path(), REJECT_FAILED);
    let mut args = scanning_args(
        &pol,
        &dir.path().join("vuln.db"),
        &format!("sqlite:{}", dir.path().join("store.db").display()),
        &dir.path().join("cache"),
        &reg,
    );
    args.extend(feeds.args("2s"));
    let (_serve, port) = start_serve(&args);
    let image = format!("{reg}/portcullis/debian:lang");
    assert_eq!(
        allowed(port, "before", &image),
        Some(true),
        "the DB was made before serving: Debian data only"
    );
    feeds.add_pypi();
    assert_eq!(
        until_allowed(port, &image, false, 120),
        Some(false),
        "the PyPA advisories reached /validate within a minute"
    );
}

/// The image's digest and status history, as `portcullis images` and `settings history` read
/// them from `store`.
fn history(store: &str, repository: &str) -> (String, Vec<serde_json::Value>) {
    let out = bin()
        .args(["images", "--store", store, "--json"])
        .output()
        .expect("images");
    let images = json(&out);
    let digest = images
        .as_array()
        .and_then(|a| a.iter().find(|i| i["repository"] == repository))
        .and_then(|i| i["digest"].as_str())
        .unwrap_or_else(|| panic!("{repository} is not recorded: {images}"))
        .to_string();
    let out = bin()
        .args(["settings", "--store", store, "history", &digest, "--json"])
        .output()
        .expect("history");
    let changes = json(&out).as_array().cloned().unwrap_or_default();
    (digest, changes)
}

/// Files in a `serve` cache's blob store: what it pulled.
fn pulled(cache: &std::path::Path) -> usize {
    std::fs::read_dir(cache.join("blobs/sha256")).map_or(0, Iterator::count)
}

/// Two `serve` processes on one PostgreSQL: asked about the same image at once, one makes its
/// package list (the scan lease) and the other waits for it; after a DB update that only one of
/// them makes on schedule (the other updates every hour), both decide by the new DB within
/// seconds, the stored results were matched once, and each status change is recorded once.
#[test]
fn two_replicas_share_one_postgres_store() {
    let (Some(td), Some(_fx), Some(reg)) = (testdata(), fixtures(), registry()) else {
        return;
    };
    let Some(store) = portcullis_test_support::postgres::fresh_database("serve_replicas") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let feeds = Feeds::new(&td, dir.path());
    let pol = policies_dir(dir.path(), REJECT_FAILED);
    let replica = |name: &str, interval: &str| {
        let own = dir.path().join(name);
        let mut args = scanning_args(&pol, &own.join("vuln.db"), &store, &own.join("cache"), &reg);
        args.extend(feeds.args(interval));
        start_serve(&args)
    };
    let (_a, a) = replica("a", "2s");
    let (_b, b) = replica("b", "1h");
    let image = format!("{reg}/portcullis/debian:lang");
    let (first_a, first_b) = std::thread::scope(|s| {
        let ask_a = s.spawn(|| allowed(a, "a", &image));
        let ask_b = s.spawn(|| allowed(b, "b", &image));
        (ask_a.join().expect("a"), ask_b.join().expect("b"))
    });
    assert_eq!(
        (first_a, first_b),
        (Some(true), Some(true)),
        "Debian data only"
    );
    let (pulled_a, pulled_b) = (
        pulled(&dir.path().join("a/cache")),
        pulled(&dir.path().join("b/cache")),
    );
    assert!(
        (pulled_a == 0) != (pulled_b == 0),
        "one replica pulled the layers, the other used its list: a {pulled_a}, b {pulled_b}"
    );
    let (digest, changes) = history(&store, "portcullis/debian");
    assert_eq!(changes.len(), 1, "{digest}: one first scan: {changes:?}");
    assert_eq!(changes[0]["cause"], "first-scan", "{changes:?}");

    feeds.add_pypi();
    assert_eq!(
        until_allowed(a, &image, false, 60),
        Some(false),
        "a updated on schedule"
    );
    assert_eq!(
        until_allowed(b, &image, false, 40),
        Some(false),
        "b followed a's rematch without waiting for its own schedule"
    );
    let (_, changes) = history(&store, "portcullis/debian");
    let causes: Vec<&str> = changes.iter().filter_map(|c| c["cause"].as_str()).collect();
    assert_eq!(causes, ["first-scan", "db-update"], "{changes:?}");
    assert_eq!(changes[1]["to"], "Fail", "{changes:?}");
}

/// PostgreSQL goes away under a running `serve`: /validate keeps deciding from memory, a DB
/// update meanwhile cannot rematch the results (their lists are in the store) and says so, and
/// once the server is back the rematch owed is made with the next update, without a restart:
/// the decisions follow the new DB and each change is recorded once.
#[test]
fn serve_rides_out_postgres_going_away() {
    let (Some(td), Some(_fx), Some(reg)) = (testdata(), fixtures(), registry()) else {
        return;
    };
    let Some(server) = portcullis_test_support::postgres::PrivateServer::start("serve") else {
        return;
    };
    portcullis_test_support::postgres::sql(&server.url, "CREATE DATABASE served");
    let store = portcullis_test_support::postgres::database_url(&server.url, "served");
    let dir = tempfile::tempdir().expect("tempdir");
    let feeds = Feeds::new(&td, dir.path());
    let pol = policies_dir(dir.path(), REJECT_FAILED);
    let mut args = scanning_args(
        &pol,
        &dir.path().join("vuln.db"),
        &store,
        &dir.path().join("cache"),
        &reg,
    );
    args.extend(feeds.args("2s"));
    let log = dir.path().join("serve.log");
    let (_serve, port) =
        start_serve_logging(&args, std::fs::File::create(&log).expect("log").into());
    let image = format!("{reg}/portcullis/debian:lang");
    assert_eq!(allowed(port, "up", &image), Some(true));
    server.kill();
    feeds.add_pypi();
    let mut owed = false;
    for i in 0..60 {
        assert_eq!(
            allowed(port, &format!("down-{i}"), &image),
            Some(true),
            "decided from memory while the store is down"
        );
        owed =
            std::fs::read_to_string(&log).is_ok_and(|l| l.contains("could not be matched again"));
        if owed {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert!(owed, "the update came while the store was down");
    server.restart();
    // The rematch owed to the store is made with the next update.
    let mut causes = Vec::new();
    for _ in 0..40 {
        let (_, changes) = history(&store, "portcullis/debian");
        causes = changes
            .iter()
            .filter_map(|c| c["cause"].as_str().map(str::to_string))
            .collect();
        if causes.len() > 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert_eq!(causes, ["first-scan", "db-update"]);
    assert_eq!(
        until_allowed(port, &image, false, 20),
        Some(false),
        "the decisions follow the new DB"
    );
}

/// Thresholds are stored settings: `portcullis settings set` against the store changes what a
/// running `serve` decides within seconds, on SQLite and on PostgreSQL; a bad value is refused
/// and changes nothing.
#[test]
fn decisions_follow_stored_thresholds() {
    let (Some(td), Some(_fx), Some(reg)) = (testdata(), fixtures(), registry()) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("vuln.db");
    import(&td, &db, &["advisories/pypi"]);
    let pol = policies_dir(dir.path(), REJECT_FAILED);
    let mut stores = vec![format!("sqlite:{}", dir.path().join("store.db").display())];
    if let Some(url) = portcullis_test_support::postgres::fresh_database("serve_settings") {
        stores.push(url);
    }
    for store in stores {
        let settings = |args: &[&str]| {
            bin()
                .args(["settings", "--store", &store])
                .args(args)
                .output()
                .expect("settings")
        };
        let shown = json(&settings(&["show", "--json"]));
        assert_eq!(shown["stored"], false, "{store}: {shown}");
        let exceptions = dir.path().join("exceptions.yaml");
        std::fs::write(
            &exceptions,
            "- {id: CVE-2099-0001, scope: any, justification: not reachable}\n",
        )
        .expect("write exceptions");
        let mut args = scanning_args(&pol, &db, &store, &dir.path().join("cache"), &reg);
        args.extend(["--exceptions".into(), exceptions.into()]);
        let (_serve, port) = start_serve(&args);
        // The exceptions in force are kept in the store.
        let mut kept = serde_json::Value::Null;
        for _ in 0..20 {
            kept = json(&settings(&["exceptions", "--json"]));
            if kept.as_array().is_some_and(|a| !a.is_empty()) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        assert_eq!(
            kept,
            serde_json::json!([{"id": "CVE-2099-0001", "scope": "any", "justification": "not reachable"}]),
            "{store}"
        );
        let text = String::from_utf8_lossy(&settings(&["exceptions"]).stdout).to_string();
        assert!(
            text.contains("CVE-2099-0001")
                && text.contains("any")
                && text.contains("not reachable"),
            "{text}"
        );
        let image = format!("{reg}/portcullis/debian:lang");
        let ask = |uid: &str| {
            let (_, review) = post(port, "/validate", &deployment(uid, &image, false));
            review["response"]["allowed"].as_bool()
        };
        assert_eq!(ask("strict"), Some(false), "{store}: the lang image fails");

        let refused = settings(&["set", "--warn-threshold", "9", "--fail-threshold", "5"]);
        assert_eq!(refused.status.code(), Some(2), "{store}: {refused:?}");
        let message = String::from_utf8_lossy(&refused.stderr);
        assert!(message.contains("above --fail-threshold"), "{message}");
        assert_eq!(json(&settings(&["show", "--json"]))["stored"], false);

        let set = settings(&[
            "set",
            "--warn-threshold",
            "10",
            "--fail-threshold",
            "10",
            "--unknown-as",
            "pass",
        ]);
        assert!(set.status.success(), "{store}: {set:?}");
        let shown = json(&settings(&["show", "--json"]));
        assert_eq!(shown["generation"], 1, "{store}: {shown}");
        assert_eq!(shown["thresholds"]["fail"], 10.0, "{store}: {shown}");
        let mut now = Some(false);
        for i in 0..20 {
            now = ask(&format!("relaxed-{i}"));
            if now == Some(true) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        assert_eq!(
            now,
            Some(true),
            "{store}: serve followed the stored thresholds"
        );

        // Every decision is in the store's audit trail, newest first.
        let mut trail = serde_json::Value::Null;
        for _ in 0..20 {
            let out = bin()
                .args(["decisions", "--store", &store, "--limit", "100", "--json"])
                .output()
                .expect("decisions");
            trail = json(&out);
            if trail
                .as_array()
                .is_some_and(|a| a.iter().any(|d| d["uid"] == "strict"))
            {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        let strict = trail
            .as_array()
            .and_then(|a| a.iter().find(|d| d["uid"] == "strict"))
            .unwrap_or_else(|| panic!("{store}: no decision 'strict' recorded: {trail}"));
        assert_eq!(strict["allowed"], false, "{strict}");
        assert_eq!(strict["policy"], "reject-failed", "{strict}");
        assert_eq!(strict["kind"], "Deployment", "{strict}");
        assert_eq!(strict["images"][0], image.as_str(), "{strict}");
        assert_eq!(trail[0]["allowed"], true, "the newest first: {trail}");

        // The image admitted is in the store's record of images, under its tag, as admitted.
        let out = bin()
            .args(["images", "--store", &store, "--json"])
            .output()
            .expect("images");
        let images = json(&out);
        let lang = images
            .as_array()
            .and_then(|a| a.iter().find(|i| i["repository"] == "portcullis/debian"))
            .unwrap_or_else(|| panic!("{store}: the lang image is not recorded: {images}"));
        assert_eq!(lang["tags"], serde_json::json!(["lang"]), "{lang}");
        assert_eq!(lang["sources"], serde_json::json!(["admission"]), "{lang}");
        assert_eq!(lang["registry"], reg.as_str(), "{lang}");
    }
}

/// A store that cannot be reached at start stops `serve` with a clear error naming it (never its
/// password), before anything listens.
#[test]
fn an_unreachable_store_at_start_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let not_a_dir = dir.path().join("file");
    std::fs::write(&not_a_dir, "x").expect("write");
    for (store, named) in [
        (
            "postgres://app:s3cret@127.0.0.1:1/portcullis".to_string(),
            "postgres://app@127.0.0.1:1/portcullis".to_string(),
        ),
        (
            format!("sqlite:{}", not_a_dir.join("store.db").display()),
            not_a_dir.join("store.db").display().to_string(),
        ),
    ] {
        let out = bin()
            .args([
                "serve",
                "--webhook-listen",
                "127.0.0.1:1",
                "--store",
                &store,
            ])
            .arg("--cache-dir")
            .arg(dir.path().join("cache"))
            .output()
            .expect("serve");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{store}: {err}");
        assert!(err.contains(&named), "{store}: {err}");
        assert!(!err.contains("s3cret"), "{err}");
    }
}

/// A DB file replaced by another process (a `db update` job) is picked up by the next rescan:
/// every held result is evaluated again and the decisions follow, with no update configured in
/// `serve` and no restart.
#[test]
fn rescans_follow_a_db_replaced_from_outside() {
    let (Some(td), Some(_fx), Some(reg)) = (testdata(), fixtures(), registry()) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let import = |db: &std::path::Path, sources: &[&str]| import(&td, db, sources);
    let db = dir.path().join("vuln.db");
    import(&db, &["advisories/nvd"]);
    let (_serve, port) = serve_rescanning_every_second(dir.path(), &db, &reg);
    let image = format!("{reg}/portcullis/debian:lang");
    let ask = |uid: &str| {
        let (_, review) = post(port, "/validate", &deployment(uid, &image, false));
        review["response"]["allowed"].as_bool()
    };
    assert_eq!(ask("before"), Some(true), "no package advisories yet");
    // Another process builds a new DB and renames it over the old one, as `db update` does.
    let next = dir.path().join("next.db");
    import(&next, &["advisories/nvd", "advisories/pypi"]);
    std::fs::rename(&next, &db).expect("replace the DB");
    let mut now = Some(true);
    for i in 0..30 {
        now = ask(&format!("after-{i}"));
        if now == Some(false) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert_eq!(now, Some(false), "the next rescan used the new DB");
}

/// A fresh `serve` whose DB source cannot be reached says so once, clearly, and keeps trying;
/// meanwhile it stays ready and decides whatever needs no scan (the missing DB is reported, not
/// a reason to reject), is unready only once a policy reads scan results, and takes the DB in
/// as soon as the source serves it.
#[test]
fn a_missing_db_stops_no_decision_that_needs_no_scan() {
    let Some(td) = testdata() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mirror = dir.path().join("mirror");
    std::fs::create_dir_all(&mirror).expect("mkdir");
    let server = portcullis_test_support::http::HttpServer::files(&mirror);
    let sources = dir.path().join("sources.yaml");
    std::fs::write(
        &sources,
        format!(
            "sources:\n- {{name: debian-dsa, url: '{}/DSA-list', format: debian-tracker}}\n",
            server.base_url()
        ),
    )
    .expect("write sources");
    let pol = dir.path().join("policies");
    std::fs::create_dir_all(&pol).expect("mkdir");
    std::fs::write(pol.join("gate.yaml"), GATE).expect("write policy");
    let log = dir.path().join("serve.log");
    let args: Vec<std::ffi::OsString> = vec![
        "--policies".into(),
        pol.clone().into(),
        "--db".into(),
        dir.path().join("vuln.db").into(),
        "--cache-dir".into(),
        dir.path().join("cache").into(),
        "--db-config".into(),
        sources.into(),
        "--db-update-interval".into(),
        "1s".into(),
    ];
    let (_serve, port) =
        start_serve_logging(&args, std::fs::File::create(&log).expect("log").into());
    let (code, ready) = get(port, "/readyz");
    assert_eq!(code, 200, "no policy reads scans: {ready}");
    assert!(ready.contains("vulnerability database"), "{ready}");
    let (_, review) = post(
        port,
        "/validate",
        &deployment("gate", "127.0.0.1:1/app:1", false),
    );
    assert_eq!(review["response"]["allowed"], true, "{review}");
    let (_, review) = post(
        port,
        "/validate",
        &deployment("gate-2", "docker.io/library/nginx:1", false),
    );
    assert_eq!(review["response"]["allowed"], false, "{review}");
    // A policy that reads scan results: without a DB the service cannot answer it.
    std::fs::write(pol.join("scan.yaml"), REJECT_FAILED).expect("write policy");
    let unready = (0..50).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(200));
        get(port, "/readyz").0 == 503
    });
    assert!(unready, "a policy reads scans and there is no DB");
    let said = |what: &str| {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .matches(what)
            .count()
    };
    assert_eq!(
        said("could not be updated from the sources in"),
        1,
        "said once, though tried every second: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert_eq!(said("retried every 1s"), 1);
    let (_, ready) = get(port, "/readyz");
    assert!(
        ready.contains("vulnerability DB updates failing"),
        "the failing updates are degraded: {ready}"
    );
    std::fs::copy(
        td.join("advisories/debian-security-tracker/data/DSA/list"),
        mirror.join("DSA-list"),
    )
    .expect("copy DSA list");
    let ready = (0..50).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(200));
        get(port, "/readyz").0 == 200
    });
    assert!(ready, "the DB came in: {}", get(port, "/readyz").1);
    let (_, ready) = get(port, "/readyz");
    assert!(ready.contains("db_age_seconds"));
    assert!(!ready.contains("updates failing"), "cleared: {ready}");
    assert_eq!(said("vulnerability DB updated again"), 1);
}

/// The registry goes away between rescans: an image written with a tag keeps its last good
/// result (the decision is the same), and the answer says the result may be stale and why;
/// once the registry is back, the next rescan clears the mark.
#[test]
fn a_registry_down_at_a_rescan_leaves_the_last_good_result_marked_stale() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((db, relay, image)) = lang_through_a_relay(dir.path()) else {
        return;
    };
    let (_serve, port) = serve_rescanning_every_second(dir.path(), &db, &relay.address());
    let ask = |uid: &str| {
        let (_, review) = post(port, "/validate", &deployment(uid, &image, false));
        let warnings = review["response"]["warnings"].to_string();
        (review["response"]["allowed"].as_bool(), warnings)
    };
    let (first, warnings) = ask("up");
    assert_eq!(first, Some(false), "the lang image fails");
    assert!(!warnings.contains("stale"), "{warnings}");
    relay.cut();
    let mut now = (None, String::new());
    for i in 0..20 {
        std::thread::sleep(std::time::Duration::from_millis(500));
        now = ask(&format!("down-{i}"));
        if now.1.contains("stale") {
            break;
        }
    }
    assert_eq!(now.0, Some(false), "the last good result decides: {now:?}");
    assert!(
        now.1.contains("may be stale") && now.1.contains("could not reach"),
        "{now:?}"
    );
    relay.restore();
    let mut now = (None, String::new());
    for i in 0..20 {
        std::thread::sleep(std::time::Duration::from_millis(500));
        now = ask(&format!("back-{i}"));
        if !now.1.contains("stale") {
            break;
        }
    }
    assert_eq!(now.0, Some(false));
    assert!(!now.1.contains("stale"), "the mark is cleared: {now:?}");
}

/// A tag held in memory that moves to another image is scanned as the new image at the next
/// rescan, and decisions follow, with no new pod spec and no restart.
#[test]
fn a_moved_tag_is_scanned_anew_at_the_next_rescan() {
    let (Some(td), Some(fx), Some(reg)) = (testdata(), fixtures(), registry()) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("vuln.db");
    import(&td, &db, &["advisories/pypi"]);
    // A repository of this test's own, whose tag is pushed twice.
    let image = format!("{reg}/moving-{}/app:current", std::process::id());
    let push = |tag: &str| {
        let out = std::process::Command::new("skopeo")
            .args(["copy", "-q", "--dest-tls-verify=false"])
            .arg(format!("oci:{}:{tag}", fx.join("oci").display()))
            .arg(format!("docker://{image}"))
            .output()
            .expect("skopeo");
        assert!(out.status.success(), "{out:?}");
    };
    push("bookworm");
    let (_serve, port) = serve_rescanning_every_second(dir.path(), &db, &reg);
    assert_eq!(
        allowed(port, "before", &image),
        Some(true),
        "bookworm is clean"
    );
    push("lang");
    assert_eq!(
        until_allowed(port, &image, false, 30),
        Some(false),
        "the tag now names the lang image, which fails"
    );
}

/// A restarted `serve` holds the stored results of the images seen before: with their registry
/// gone, it decides on them from the store (the vulnerabilities named), not by a scan that
/// cannot pull; `nginx`-style short names find their canonical entries too.
#[test]
fn a_restarted_serve_decides_from_the_store_without_the_registry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((db, relay, image)) = lang_through_a_relay(dir.path()) else {
        return;
    };
    let message = |port: u16, uid: &str| {
        let (_, review) = post(port, "/validate", &deployment(uid, &image, false));
        (
            review["response"]["allowed"].as_bool(),
            review["response"]["status"]["message"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        )
    };
    let first = {
        let (_serve, port) = serve_rescanning_every_second(dir.path(), &db, &relay.address());
        message(port, "first")
    };
    assert_eq!(first.0, Some(false), "{first:?}");
    // Each vulnerability shown says where its package was found: path and layer.
    assert!(
        first.1.contains(" at /") && first.1.contains("(layer sha256:"),
        "{first:?}"
    );
    assert!(
        first.1.contains("CVE-") || first.1.contains("PYSEC-") || first.1.contains("GHSA-"),
        "{first:?}"
    );
    relay.cut();
    let (_serve, port) = serve_rescanning_every_second(dir.path(), &db, &relay.address());
    let mut again = (None, String::new());
    for i in 0..20 {
        again = message(port, &format!("again-{i}"));
        if again.0 == Some(false) && !again.1.contains("scan") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert_eq!(again.0, Some(false), "{again:?}");
    assert_eq!(
        again.1, first.1,
        "the same decision, from the stored result"
    );
}

/// A registry that answers, but later than the webhook's deadline (each piece of its answers
/// held 4 s, a scan budget of 2 s): the review is answered in time with the `--on-scan-timeout`
/// decision and says the scan goes on; once the registry is quick again, the background scan
/// ends and the image is decided by its result.
#[test]
fn a_registry_slower_than_the_deadline_gets_the_timeout_decision() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((db, relay, image)) = lang_through_a_relay(dir.path()) else {
        return;
    };
    for (mode, allowed) in [("reject", false), ("allow", true)] {
        relay.slow(std::time::Duration::from_secs(4));
        let sub = dir.path().join(mode);
        let pol = policies_dir(&sub, REJECT_FAILED);
        let store = format!("sqlite:{}", sub.join("store.db").display());
        let mut args = scanning_args(&pol, &db, &store, &sub.join("cache"), &relay.address());
        let at = args
            .iter()
            .position(|a| a == "--webhook-timeout")
            .expect("flag");
        args[at + 1] = "3".into();
        args.extend(["--on-scan-timeout".into(), mode.into()]);
        let (_serve, port) = start_serve(&args);
        let (status, review) = post(port, "/validate", &deployment(mode, &image, false));
        assert_eq!(status, 200, "{review}");
        assert_eq!(
            review["response"]["allowed"].as_bool(),
            Some(allowed),
            "{review}"
        );
        assert!(
            review.to_string().contains("the scan is still running"),
            "{review}"
        );
        // Quick again: the scan finishes and the image (Fail) is rejected by the policy.
        relay.slow(std::time::Duration::ZERO);
        let by_policy = (0..120).any(|i| {
            std::thread::sleep(std::time::Duration::from_millis(500));
            let (_, r) = post(
                port,
                "/validate",
                &deployment(&format!("{mode}-{i}"), &image, false),
            );
            r["response"]["allowed"] == false && r.to_string().contains("reject-failed")
        });
        assert!(by_policy, "not decided by the scan's result");
    }
}
