//! `serve` holding a cluster's images (not a timed test): 10,000 distinct images, each with its
//! package list, report and sighting in the store (made from the lang fixture's list with varied
//! versions), are held in memory by a started `serve`; then its DB update source gains the PyPA
//! advisories. Reported per store backend: the time to hold them, the resident memory holding
//! them and its peak through the update (target ≤ 200 MiB), the rematch's end (from the log), and
//! when the answers of sampled images changed, against that end.
//!
//! Run with `scripts/bench-serve` (which builds the release binary, starts the fixtures and
//! PostgreSQL first).

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use portcullis_core::Inventory;
use portcullis_scanner::StoreUrl;
use portcullis_test_support::bench::{fail, memory, wait_for};
use portcullis_test_support::feeds::Feeds;

/// Images held.
const IMAGES: usize = 10_000;
/// Versions each package takes across the images.
const VARIANTS: usize = 40;
/// Images whose answers are watched through the update.
const SAMPLED: usize = 20;

const REJECT_FAILED: &str = "apiVersion: containersecurity.portcullis.dev/v1\nkind: ContainerAdmissionPolicy\nmetadata: {name: reject-failed}\nspec:\n  rules:\n  - action: Reject\n    imageScanStatus: {operator: IsOneOf, values: [Fail]}\n  - action: Allow\n";

/// The name image `i` is admitted under (a registry that does not exist: only memory answers).
fn name(i: usize) -> String {
    format!("bench.invalid/app-{i}:1")
}

/// Whether `serve` on `port` admits a Pod of `image`; `None` when it did not answer.
fn allowed(port: u16, image: &str) -> Option<bool> {
    let review = format!(
        r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"u","kind":{{"group":"","version":"v1","kind":"Pod"}},"resource":{{"group":"","version":"v1","resource":"pods"}},"namespace":"default","operation":"CREATE","userInfo":{{"username":"bench"}},"object":{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"p","namespace":"default"}},"spec":{{"containers":[{{"name":"c","image":"{image}"}}]}}}}}}}}"#
    );
    let mut curl = Command::new("curl")
        .args([
            "-ks",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            "@-",
        ])
        .arg(format!("https://127.0.0.1:{port}/validate"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    curl.stdin.take()?.write_all(review.as_bytes()).ok()?;
    let out = curl.wait_with_output().ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v["response"]["allowed"].as_bool()
}

/// Fills `store` as a cluster's worth of admissions would: lists, reports under `db`, sightings.
fn seed(url: &StoreUrl, db: &Path, cache: &Path, base: &Inventory) {
    let s = common::scanner(url.clone(), db, cache);
    let store = s.store().unwrap_or_else(|| fail("store", "none"));
    common::seed_images(store, base, IMAGES, VARIANTS, |_, _, _| {});
    s.rematch_stored().unwrap_or_else(|e| fail("rematch", e));
}

fn main() {
    let (Some(td), Some(fx)) = (
        portcullis_test_support::testdata("advisories")
            .map(|_| portcullis_test_support::testdata_root()),
        portcullis_test_support::fixtures(),
    ) else {
        return;
    };
    let bin = common::bin();
    let tmp = tempfile::tempdir().unwrap_or_else(|e| fail("tempdir", e));
    // PORTCULLIS_BENCH_KEEP=1 leaves the stores, DBs and logs behind for a closer look.
    let kept = std::env::var_os("PORTCULLIS_BENCH_KEEP").map(|_| tmp.path().to_path_buf());
    let rt = common::runtime();
    let base = common::lang_inventory(&rt, &fx);
    println!(
        "serve holding {IMAGES} distinct images of {} packages each (binary {bin})",
        base.packages.len()
    );
    let backends = common::backends(tmp.path(), "bench_serve");
    for (backend, url) in backends {
        let dir = tmp.path().join(backend);
        std::fs::create_dir_all(dir.join("policies")).unwrap_or_else(|e| fail("mkdir", e));
        std::fs::write(dir.join("policies/p.yaml"), REJECT_FAILED)
            .unwrap_or_else(|e| fail("policy", e));
        let feeds = Feeds::new(&td, &dir);
        let db = dir.join("vuln.db");
        let made = Command::new(&bin)
            .args(["db", "update", "--db"])
            .arg(&db)
            .arg("--config")
            .arg(feeds.sources())
            .output()
            .unwrap_or_else(|e| fail("db update", e));
        if !made.status.success() {
            fail("db update", String::from_utf8_lossy(&made.stderr));
        }
        let store: StoreUrl = url.parse().unwrap_or_else(|e| fail("store url", e));
        let t = Instant::now();
        seed(&store, &db, &dir.join("cache-seed"), &base);
        let seeded = t.elapsed();

        let port = common::free_port();
        let log = dir.join("serve.log");
        let mut serve = Command::new(&bin)
            .arg("serve")
            .args(["--webhook-listen", &format!("127.0.0.1:{port}")])
            .args(["--api-listen", "127.0.0.1:0"])
            .arg("--policies")
            .arg(dir.join("policies"))
            .arg("--db")
            .arg(&db)
            .args(["--store", &url])
            .arg("--cache-dir")
            .arg(dir.join("cache"))
            .args(feeds.args("2s"))
            .args(["--rescan-interval", "off"])
            .env("PORTCULLIS_LOG", "info")
            .stderr(std::fs::File::create(&log).unwrap_or_else(|e| fail("log", e)))
            .spawn()
            .unwrap_or_else(|e| fail("serve", e));
        let started = Instant::now();
        if wait_for(
            &log,
            "stored results held in memory",
            Duration::from_secs(300),
        )
        .is_none()
        {
            let _ = serve.kill();
            fail("serve", "did not hold the stored results within 5 minutes");
        }
        let held_after = started.elapsed();
        // Measured once the update made at start is done too: what holding them costs.
        if wait_for(&log, "vulnerability DB checked", Duration::from_secs(120)).is_none() {
            let _ = serve.kill();
            fail(
                "serve",
                "the DB update at start did not finish within 2 minutes",
            );
        }
        std::thread::sleep(Duration::from_secs(1));
        let sampled: Vec<String> = (0..SAMPLED).map(|k| name(k * (IMAGES / SAMPLED))).collect();
        let before: Vec<Option<bool>> = sampled.iter().map(|i| allowed(port, i)).collect();
        let (rss, _, split) = memory(serve.id());

        feeds.add_pypi();
        let changed_at = Instant::now();
        let mut flipped: Vec<Option<Instant>> = vec![None; SAMPLED];
        let mut rematch_end = None;
        while changed_at.elapsed() < Duration::from_secs(120)
            && (flipped.iter().any(Option::is_none) || rematch_end.is_none())
        {
            for (k, image) in sampled.iter().enumerate() {
                if flipped[k].is_none() && allowed(port, image) == Some(false) {
                    flipped[k] = Some(Instant::now());
                }
            }
            if rematch_end.is_none()
                && std::fs::read_to_string(&log).is_ok_and(|t| t.contains("results matched again"))
            {
                rematch_end = Some(Instant::now());
            }
        }
        std::thread::sleep(Duration::from_secs(2));
        let (after, peak, _) = memory(serve.id());
        let _ = serve.kill();
        let _ = serve.wait();
        let changed = flipped.iter().flatten().count();
        let last_flip = flipped.iter().flatten().max().copied();
        println!(
            "{backend:<8} seeded in {:.1} s; serve held them {:.1} s after start; RSS holding them {rss:.0} MiB ({split}), peak through the update {peak:.0} MiB (target <= 200 MiB), {after:.0} MiB after it",
            seeded.as_secs_f64(),
            held_after.as_secs_f64()
        );
        println!(
            "{backend:<8} sampled answers before the update: {} allowed of {SAMPLED}; changed to rejected: {changed} of {SAMPLED}",
            before.iter().filter(|a| **a == Some(true)).count()
        );
        match (rematch_end, last_flip) {
            (Some(end), Some(flip)) => {
                let after = flip.saturating_duration_since(end).as_secs_f64();
                let before_end = end.saturating_duration_since(flip).as_secs_f64();
                println!(
                    "{backend:<8} rematch ended {:.2} s after the source changed; the last sampled answer changed {}",
                    end.duration_since(changed_at).as_secs_f64(),
                    if after > 0.0 {
                        format!("{after:.2} s after the rematch's end")
                    } else {
                        format!(
                            "{before_end:.2} s before the rematch's end (held results are matched before it is logged)"
                        )
                    }
                );
            }
            _ => println!(
                "{backend:<8} the update did not finish within 120 s (see {})",
                log.display()
            ),
        }
    }
    if let Some(dir) = kept {
        let _ = tmp.keep();
        println!("kept {}", dir.display());
    }
}
