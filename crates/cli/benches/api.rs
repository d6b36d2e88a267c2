//! The assurance API over a cluster's worth of results (not a timed test): 10,000 distinct
//! images, each with its package list, a report of 100 matches (1,000,000 in all, over 2,000
//! vulnerability ids) and a sighting, are held by a started `serve`. Reported per store backend:
//! list and vulnerability-search latency (p50/p99 over 200 requests each; target p99 ≤ 50 ms),
//! the full CSV export's time and serve's peak RSS, and push-to-visible latency (a `scan --push`
//! of the lang fixture until the image is listed).
//!
//! Run with `scripts/bench-api` (which builds the release binary, starts the fixtures and
//! PostgreSQL first).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use portcullis_core::{Inventory, ScanReport};
use portcullis_scanner::StoreUrl;
use portcullis_test_support::bench::{fail, memory, percentile_ms, wait_for};

const IMAGES: usize = 10_000;
const VARIANTS: usize = 40;
/// Matches per image, and the vulnerability ids they are spread over.
const MATCHES: usize = 100;
const IDS: usize = 2_000;
const REQUESTS: usize = 200;

/// The report of image `i`: the real report's shape, with `MATCHES` matches whose ids spread
/// over `IDS` (each real match repeated under new ids).
fn report_of(template: &ScanReport, inv: &Inventory, i: usize) -> ScanReport {
    let mut r = template.clone();
    r.image = inv.image.clone();
    r.packages = inv.packages.clone();
    let seeds = template.vulnerabilities.clone();
    r.vulnerabilities = (0..MATCHES)
        .map(|j| {
            let mut m = seeds[j % seeds.len()].clone();
            m.id = format!("CVE-2099-{:05}", (i * 7 + j * 13) % IDS);
            m.aliases.clear();
            m
        })
        .collect();
    r
}

/// Fills `store` with the images, their lists, reports (under `db`'s version) and sightings.
fn seed(url: &StoreUrl, db: &Path, cache: &Path, base: &Inventory) {
    let s = common::scanner(url.clone(), db, cache);
    let store = s.store().unwrap_or_else(|| fail("store", "none"));
    let version = s.db_version().unwrap_or_else(|| fail("db", "no version"));
    let template = s
        .rematch(base.clone())
        .unwrap_or_else(|e| fail("rematch", e));
    if template.vulnerabilities.is_empty() {
        fail("template", "the lang image matched nothing");
    }
    common::seed_images(store, base, IMAGES, VARIANTS, |i, digest, inv| {
        store
            .put_report(digest, &version, &report_of(&template, inv, i))
            .unwrap_or_else(|e| fail("put report", e));
    });
}

fn token(bin: &str, store: &str, scope: &str) -> String {
    let out = Command::new(bin)
        .args(["token", "create", "--scope", scope, "--store", store])
        .output()
        .unwrap_or_else(|e| fail("token", e));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_else(|| fail("token", "none printed"))
        .trim()
        .to_string()
}

/// Latencies of `n` sequential GETs of `path`.
async fn latencies(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    token: &str,
    n: usize,
) -> Vec<Duration> {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let resp = client
            .get(format!("{base}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap_or_else(|e| fail(path, e));
        if !resp.status().is_success() {
            fail(path, resp.status());
        }
        let _ = resp.bytes().await;
        v.push(t.elapsed());
    }
    v
}

/// The dashboard's load figures (benches/dashboard_paint.py in Debian's chromium), when
/// `PORTCULLIS_CHROMIUM` names the browser.
fn dashboard_figures(base_url: &str, read: &str) -> Option<String> {
    let chromium = std::env::var_os("PORTCULLIS_CHROMIUM")?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/dashboard_paint.py");
    let out = Command::new("python3")
        .arg(script)
        .env("BASE", base_url)
        .env("READ", read)
        .env("CHROMIUM", chromium)
        .output()
        .unwrap_or_else(|e| fail("python3", e));
    if !out.status.success() {
        fail("dashboard figures", String::from_utf8_lossy(&out.stderr));
    }
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let (Some(td), Some(fx), Some(reg)) = (
        portcullis_test_support::testdata("advisories"),
        portcullis_test_support::fixtures(),
        portcullis_test_support::registry(),
    ) else {
        return;
    };
    let bin = common::bin();
    let tmp = tempfile::tempdir().unwrap_or_else(|e| fail("tempdir", e));
    let rt = common::runtime();
    let base = common::lang_inventory(&rt, &fx);
    println!(
        "the API over {IMAGES} images x {MATCHES} matches ({} in all, {IDS} ids); binary {bin}",
        IMAGES * MATCHES
    );
    let backends = common::backends(tmp.path(), "bench_api");
    for (backend, url) in backends {
        let dir = tmp.path().join(backend);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| fail("mkdir", e));
        let db = dir.join("vuln.db");
        let made = Command::new(&bin)
            .args(["db", "import", "--db"])
            .arg(&db)
            .arg(td.join("pypi"))
            .output()
            .unwrap_or_else(|e| fail("db import", e));
        if !made.status.success() {
            fail("db import", String::from_utf8_lossy(&made.stderr));
        }
        let store: StoreUrl = url.parse().unwrap_or_else(|e| fail("store url", e));
        let t = Instant::now();
        seed(&store, &db, &dir.join("cache-seed"), &base);
        let seeded = t.elapsed();
        let (hook, api) = (common::free_port(), common::free_port());
        let log = dir.join("serve.log");
        let mut serve = Command::new(&bin)
            .args(["serve", "--webhook-listen", &format!("127.0.0.1:{hook}")])
            .args(["--api-listen", &format!("127.0.0.1:{api}")])
            .arg("--db")
            .arg(&db)
            .args([
                "--store",
                &url,
                "--db-update-interval",
                "off",
                "--rescan-interval",
                "off",
            ])
            .args(["--insecure-registry", &reg])
            .arg("--cache-dir")
            .arg(dir.join("cache"))
            .env("PORTCULLIS_LOG", "info")
            .stderr(std::fs::File::create(&log).unwrap_or_else(|e| fail("log", e)))
            .spawn()
            .unwrap_or_else(|e| fail("serve", e));
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
        let (rss, _, _) = memory(serve.id());
        let read = token(&bin, &url, "read");
        let push = token(&bin, &url, "push");
        let ca = dir.join("cache/tls/ca.crt");
        let pem = std::fs::read(&ca).unwrap_or_else(|e| fail("ca", e));
        let client = reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(&pem).unwrap_or_else(|e| fail("ca", e)),
            )
            .build()
            .unwrap_or_else(|e| fail("client", e));
        let base_url = format!("https://127.0.0.1:{api}");
        let (mut list, mut search, mut top) = rt.block_on(async {
            (
                latencies(
                    &client,
                    &base_url,
                    "/api/v1/images?limit=100",
                    &read,
                    REQUESTS,
                )
                .await,
                latencies(
                    &client,
                    &base_url,
                    "/api/v1/vulnerabilities/CVE-2099-00123",
                    &read,
                    REQUESTS,
                )
                .await,
                latencies(
                    &client,
                    &base_url,
                    "/api/v1/vulnerabilities?top=20",
                    &read,
                    20,
                )
                .await,
            )
        });
        let t = Instant::now();
        let csv = rt.block_on(async {
            client
                .get(format!("{base_url}/api/v1/export?format=csv"))
                .bearer_auth(&read)
                .send()
                .await
                .unwrap_or_else(|e| fail("export", e))
                .bytes()
                .await
                .unwrap_or_else(|e| fail("export", e))
        });
        let export = t.elapsed();
        let (_, peak, _) = memory(serve.id());
        // Push to visible: a CI scan of the lang fixture until the API lists it.
        let target = format!("{reg}/portcullis/debian:lang");
        let t = Instant::now();
        let pushed = Command::new(&bin)
            .args(["scan", &target, "--insecure-registry", &reg, "--db"])
            .arg(&db)
            .args([
                "--store", "none", "--format", "json", "--push", &base_url, "--token", &push,
            ])
            .arg("--push-ca")
            .arg(&ca)
            .output()
            .unwrap_or_else(|e| fail("scan --push", e));
        let scanned_and_pushed = t.elapsed();
        if !pushed.status.success() {
            fail("scan --push", String::from_utf8_lossy(&pushed.stderr));
        }
        let visible = rt.block_on(async {
            loop {
                let body = client
                    .get(format!(
                        "{base_url}/api/v1/images?repository=portcullis/debian"
                    ))
                    .bearer_auth(&read)
                    .send()
                    .await
                    .unwrap_or_else(|e| fail("list", e))
                    .text()
                    .await
                    .unwrap_or_default();
                if body.contains("portcullis/debian") {
                    break t.elapsed();
                }
                if t.elapsed() > Duration::from_secs(60) {
                    fail("push", "not visible within 60 s");
                }
            }
        });
        let paint = dashboard_figures(&base_url, &read);
        let _ = serve.kill();
        let _ = serve.wait();
        if let Some(line) = paint {
            println!("{backend:<8} {line}");
        }
        println!(
            "{backend:<8} seeded in {:.0} s; serve RSS holding them {rss:.0} MiB",
            seeded.as_secs_f64()
        );
        println!(
            "{backend:<8} list (100 a page): p50 {:.1} ms, p99 {:.1} ms; search by CVE: p50 {:.1} ms, p99 {:.1} ms; top 20: p50 {:.1} ms (target p99 <= 50 ms)",
            percentile_ms(&mut list, 50.0),
            percentile_ms(&mut list, 99.0),
            percentile_ms(&mut search, 50.0),
            percentile_ms(&mut search, 99.0),
            percentile_ms(&mut top, 50.0),
        );
        println!(
            "{backend:<8} full CSV export: {:.2} s, {:.0} MiB, {} rows; serve peak RSS {peak:.0} MiB",
            export.as_secs_f64(),
            csv.len() as f64 / (1024.0 * 1024.0),
            csv.iter()
                .filter(|b| **b == b'\n')
                .count()
                .saturating_sub(1)
        );
        println!(
            "{backend:<8} push to visible: {:.2} s (scan and push {:.2} s of it)",
            visible.as_secs_f64(),
            scanned_and_pushed.as_secs_f64()
        );
    }
}
