//! `db update` against a real local HTTP server serving real feed files.

use std::path::Path;

use portcullis_core::Ecosystem;
use portcullis_vulndb::{
    Db, SourceFormat, UpdateConfig, UpdateError, UpdateSource, cache_dir, update,
};

use portcullis_test_support::http::HttpServer;

use crate::common::{advisories, dir_names, ext_is, files, nvd_year_feed, sha256_file, write_zip};

/// Serves a Go OSV zip, the DSA list and one Alpine secdb file under upstream-like paths.
fn server_root(adv: &Path, root: &Path) {
    let go = files(&adv.join("go/data/osv"), &ext_is("json"))
        .into_iter()
        .take(60)
        .collect::<Vec<_>>();
    std::fs::create_dir_all(root.join("osv/Go")).unwrap();
    write_zip(&root.join("osv/Go/all.zip"), "", &go);
    std::fs::create_dir_all(root.join("debian/DSA")).unwrap();
    std::fs::copy(
        adv.join("debian-security-tracker/data/DSA/list"),
        root.join("debian/DSA/list"),
    )
    .unwrap();
    std::fs::create_dir_all(root.join("alpine/v3.9")).unwrap();
    std::fs::copy(
        adv.join("alpine-secdb/v3.9/main.yaml"),
        root.join("alpine/v3.9/main.yaml"),
    )
    .unwrap();
}

fn source(name: &str, path: &str, format: SourceFormat) -> UpdateSource {
    // The host is never contacted: the mirror replaces it with the local server.
    UpdateSource {
        name: name.into(),
        url: format!("https://upstream.invalid{path}"),
        format,
        sha256_url: None,
    }
}

fn config(base: &str) -> UpdateConfig {
    UpdateConfig {
        sources: vec![
            source("osv-go", "/osv/Go/all.zip", SourceFormat::Osv),
            source(
                "debian-dsa",
                "/debian/DSA/list",
                SourceFormat::DebianTracker,
            ),
            source(
                "alpine-v3.9-main",
                "/alpine/v3.9/main.yaml",
                SourceFormat::AlpineSecdb,
            ),
        ],
        mirror: Some(base.to_string()),
    }
}

/// The test feeds served by a local mirror, and a DB path of its own beside them.
struct Mirror {
    site: tempfile::TempDir,
    tmp: tempfile::TempDir,
    db_path: std::path::PathBuf,
    cfg: UpdateConfig,
    server: HttpServer,
}

impl Mirror {
    fn start() -> Option<Mirror> {
        let adv = advisories()?;
        let site = tempfile::tempdir().unwrap();
        server_root(&adv, site.path());
        let server = HttpServer::files(site.path().to_path_buf());
        let tmp = tempfile::tempdir().unwrap();
        Some(Mirror {
            db_path: tmp.path().join("vuln.db"),
            cfg: config(&server.base_url()),
            site,
            tmp,
            server,
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_downloads_then_reuses_unchanged_feeds() {
    let Some(m) = Mirror::start() else { return };
    let Mirror {
        site,
        tmp: _tmp,
        db_path,
        cfg,
        server,
    } = m;

    let first = update(&db_path, &cfg).await.unwrap();
    assert_eq!(first.sources.len(), 3);
    assert!(first.sources.iter().all(|(_, n)| *n > 0), "{first:?}");
    assert!(server.take_log().iter().all(|(_, s)| *s == 200));
    let db = Db::open(&db_path).unwrap();
    let v1 = db.status().unwrap();
    assert!(
        v1.sources
            .iter()
            .all(|s| s.etag.is_some() && s.location.starts_with(&server.base_url())),
        "{v1:?}"
    );
    assert!(
        !db.advisories_for(Ecosystem::Debian, "xorg-server")
            .unwrap()
            .is_empty()
    );
    drop(db);

    // Nothing changed upstream: every request is answered 304 and the database is kept.
    let second = update(&db_path, &cfg).await.unwrap();
    assert_eq!(second.sources, first.sources);
    let log = server.take_log();
    assert_eq!(log.len(), 3);
    assert!(log.iter().all(|(_, s)| *s == 304), "{log:?}");
    assert_eq!(
        Db::open(&db_path).unwrap().info().version,
        v1.content_version
    );

    // One feed changes: it is downloaded, the others come from the cache.
    let list = site.path().join("debian/DSA/list");
    let text = std::fs::read_to_string(&list).unwrap();
    let cut = text.split_inclusive('\n').take(300).collect::<String>();
    std::fs::write(&list, cut).unwrap();
    let third = update(&db_path, &cfg).await.unwrap();
    let log = server.take_log();
    assert_eq!(log.iter().filter(|(_, s)| *s == 304).count(), 2, "{log:?}");
    assert_eq!(
        log.iter()
            .filter(|(p, s)| *s == 200 && p.ends_with("DSA/list"))
            .count(),
        1,
        "{log:?}"
    );
    let dsa = |r: &portcullis_vulndb::ImportReport| {
        r.sources.iter().find(|(n, _)| n == "debian-dsa").unwrap().1
    };
    assert!(dsa(&third) < dsa(&first));
    let go = |r: &portcullis_vulndb::ImportReport| {
        r.sources.iter().find(|(n, _)| n == "osv-go").unwrap().1
    };
    assert_eq!(
        go(&third),
        go(&first),
        "the cached Go archive was imported again"
    );
    let db = Db::open(&db_path).unwrap();
    assert_ne!(db.info().version, v1.content_version);
    let cache = cache_dir(&db_path);
    assert_eq!(dir_names(&cache.join("debian-dsa")), ["list"]);
    assert_eq!(
        std::fs::read_to_string(cache.join("debian-dsa/list"))
            .unwrap()
            .lines()
            .count(),
        300
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_download_leaves_the_database_intact() {
    let Some(m) = Mirror::start() else { return };
    let Mirror {
        site,
        tmp,
        db_path,
        mut cfg,
        server: _server,
    } = m;
    update(&db_path, &cfg).await.unwrap();
    let before = sha256_file(&db_path);

    // The DSA list changed (so it is downloaded and staged), then a feed is missing.
    let list = site.path().join("debian/DSA/list");
    let text = std::fs::read_to_string(&list).unwrap();
    std::fs::write(
        &list,
        text.split_inclusive('\n').take(100).collect::<String>(),
    )
    .unwrap();
    cfg.sources
        .push(source("missing", "/osv/npm/all.zip", SourceFormat::Osv));
    let err = update(&db_path, &cfg).await.unwrap_err();
    assert!(
        matches!(err, UpdateError::Status { status: 404, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("/osv/npm/all.zip"), "{err}");
    assert_eq!(sha256_file(&db_path), before);
    let cache = cache_dir(&db_path);
    assert_eq!(
        dir_names(&cache.join("debian-dsa")),
        ["list"],
        "the staged download was removed"
    );
    assert!(
        std::fs::read_to_string(cache.join("debian-dsa/list"))
            .unwrap()
            .lines()
            .count()
            > 100
    );
    assert_eq!(dir_names(tmp.path()), ["vuln.db", "vuln.db.cache"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_sha256_is_checked() {
    let Some(adv) = advisories() else { return };
    let site = tempfile::tempdir().unwrap();
    server_root(&adv, site.path());
    let zip = site.path().join("osv/Go/all.zip");
    std::fs::write(
        site.path().join("osv/Go/all.zip.sha256"),
        format!("{}  all.zip\n", sha256_file(&zip)),
    )
    .unwrap();
    std::fs::write(
        site.path().join("osv/Go/wrong.sha256"),
        format!("{}  all.zip\n", "0".repeat(64)),
    )
    .unwrap();
    let server = HttpServer::files(site.path().to_path_buf());
    let tmp = tempfile::tempdir().unwrap();
    let db_path = tmp.path().join("vuln.db");

    let mut src = source("osv-go", "/osv/Go/all.zip", SourceFormat::Osv);
    src.sha256_url = Some("https://upstream.invalid/osv/Go/wrong.sha256".into());
    let mut cfg = UpdateConfig {
        sources: vec![src],
        mirror: Some(server.base_url()),
    };
    let err = update(&db_path, &cfg).await.unwrap_err();
    assert!(matches!(err, UpdateError::Checksum { .. }), "{err}");
    assert!(!db_path.exists());

    cfg.sources[0].sha256_url = Some("https://upstream.invalid/osv/Go/all.zip.sha256".into());
    let report = update(&db_path, &cfg).await.unwrap();
    assert!(report.sources[0].1 > 0);
}

/// A source that serves garbage or a truncated file fails the update with an error naming it,
/// and the DB in force stays byte for byte as it was (a new one is only ever renamed over it
/// whole).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_or_truncated_sources_leave_the_database_in_force() {
    let Some(m) = Mirror::start() else { return };
    let Mirror {
        site,
        tmp,
        db_path,
        cfg,
        server: _server,
    } = m;
    update(&db_path, &cfg).await.unwrap();
    let before = sha256_file(&db_path);
    let zip = site.path().join("osv/Go/all.zip");
    let good = std::fs::read(&zip).unwrap();
    for (what, bytes) in [
        ("garbage", b"<html>503 Service Unavailable</html>".to_vec()),
        ("truncated", good[..good.len() / 2].to_vec()),
    ] {
        std::fs::write(&zip, &bytes).unwrap();
        let err = update(&db_path, &cfg).await.expect_err(what);
        let text = portcullis_core::ErrorChain(&err).to_string();
        assert!(text.contains("osv-go"), "{what}: {text}");
        assert_eq!(
            sha256_file(&db_path),
            before,
            "{what}: the DB in force changed"
        );
        assert_eq!(
            dir_names(tmp.path()),
            ["vuln.db", "vuln.db.cache"],
            "{what}: nothing left behind"
        );
    }
}

/// The default sources reach NVD's yearly feeds at NVD's own paths, so a mirror of
/// nvd.nist.gov serves them unchanged; the zip is read as a feed and enriches by CVE id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_nvd_year_feeds_come_through_a_mirror() {
    let Some(adv) = advisories() else { return };
    let defaults = UpdateConfig::default();
    let nvd: Vec<_> = defaults
        .sources
        .iter()
        .filter(|s| s.format == SourceFormat::Nvd)
        .collect();
    let this_year = time::OffsetDateTime::now_utc().year();
    assert_eq!(nvd.len(), usize::try_from(this_year - 2002 + 1).unwrap());
    let year_2018 = nvd.iter().find(|s| s.name == "nvd-2018").unwrap();

    let (records, feed) = nvd_year_feed(&adv.join("nvd"));
    let site = tempfile::tempdir().unwrap();
    let dir = site.path().join("feeds/json/cve/2.0");
    std::fs::create_dir_all(&dir).unwrap();
    let plain = site.path().join("nvdcve-2.0-2018.json");
    std::fs::write(&plain, serde_json::to_vec(&feed).unwrap()).unwrap();
    write_zip(&dir.join("nvdcve-2.0-2018.json.zip"), "", &[plain]);
    let server = HttpServer::files(site.path().to_path_buf());
    let cfg = UpdateConfig {
        sources: vec![(*year_2018).clone()],
        mirror: Some(server.base_url()),
    };
    let tmp = tempfile::tempdir().unwrap();
    let db_path = tmp.path().join("vuln.db");
    let report = update(&db_path, &cfg).await.unwrap();
    assert_eq!(report.sources, [("nvd-2018".to_string(), records.len())]);
    let db = Db::open(&db_path).unwrap();
    // CVE-2018-18074 (requests) has NVD CVSS 3.x vectors in the shared records.
    let v3 = db.nvd_severity("CVE-2018-18074").unwrap();
    assert!(v3.iter().any(|s| s.kind == "CVSS_V3"), "{v3:?}");
}
