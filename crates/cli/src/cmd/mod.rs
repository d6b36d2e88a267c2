//! One module per subcommand.

pub(crate) mod certs;
pub(crate) mod cluster;
pub(crate) mod db;
pub(crate) mod decisions;
pub(crate) mod images;
pub(crate) mod policy;
pub(crate) mod runtime;
pub(crate) mod sbom;
pub(crate) mod scan;
pub(crate) mod serve;
pub(crate) mod settings;
pub(crate) mod token;
pub(crate) mod version;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use portcullis_core::{Exception, Status, Thresholds};
use portcullis_matcher::VexStatement;
use portcullis_scanner::StoreUrl;

use crate::args::{ImageArgs, StatusArg, StoreArgs, VerdictArgs};

/// Image options from flags.
pub(crate) fn image_options(a: &ImageArgs) -> anyhow::Result<portcullis_image::Options> {
    let creds = match &a.creds {
        Some(c) => {
            let Some((u, p)) = c.split_once(':') else {
                bail!("--creds must be USER:PASS")
            };
            Some((u.to_string(), p.to_string()))
        }
        None => None,
    };
    let o = portcullis_image::Options {
        platform: a
            .platform
            .parse()
            .with_context(|| format!("--platform {}", a.platform))?,
        insecure_registries: a.insecure_registry.clone(),
        creds,
        registry_auth: a.registry_auth.clone(),
        cache_dir: cache_dir(a),
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()) && !crate::quiet(),
        ..Default::default()
    };
    Ok(o)
}

/// The cache directory from flags or the default.
pub(crate) fn cache_dir(a: &ImageArgs) -> PathBuf {
    a.cache_dir
        .clone()
        .unwrap_or_else(portcullis_image::default_cache_dir)
}

/// The database path from flags or the default under the cache directory.
pub(crate) fn db_path(db: Option<PathBuf>) -> PathBuf {
    db.unwrap_or_else(|| portcullis_image::default_cache_dir().join("vuln.db"))
}

/// The result store from `--store`: `sqlite:PATH` (or a bare path), `postgres://...`, or `none`
/// for no store; by default `results.db` in the cache directory.
pub(crate) fn store_url(store: Option<&str>, cache: &Path) -> anyhow::Result<Option<StoreUrl>> {
    match store {
        None => Ok(Some(StoreUrl::Sqlite(cache.join("results.db")))),
        Some("none") => Ok(None),
        Some(s) => Ok(Some(s.parse().context("--store")?)),
    }
}

/// Says each warning once on stderr (`warning: ...`), unless `-q`.
pub(crate) fn say_warnings(warnings: &[String]) {
    if crate::quiet() {
        return;
    }
    for w in warnings {
        eprintln!("warning: {w}");
    }
}

/// A failure action from its flag (`--on-scan-error`, `--on-scan-timeout`, ...).
pub(crate) fn action(a: crate::args::OnFailure) -> portcullis_webhook::FailureAction {
    match a {
        crate::args::OnFailure::Reject => portcullis_webhook::FailureAction::Reject,
        crate::args::OnFailure::Allow => portcullis_webhook::FailureAction::Allow,
    }
}

pub(crate) fn status(s: StatusArg) -> Status {
    match s {
        StatusArg::Pass => Status::Pass,
        StatusArg::Warn => Status::Warn,
        StatusArg::Fail => Status::Fail,
    }
}

/// The scanner the image, DB and verdict flags describe: `scan`, `serve` and `policy test`
/// read them alike.
pub(crate) fn scanner_config(
    image: &ImageArgs,
    db: Option<PathBuf>,
    store: Option<StoreUrl>,
    v: &VerdictArgs,
) -> anyhow::Result<portcullis_scanner::ScannerConfig> {
    let (thresholds, exceptions, vex) = verdict(v)?;
    Ok(portcullis_scanner::ScannerConfig {
        image: image_options(image)?,
        db: Some(db_path(db)),
        store,
        thresholds,
        exceptions,
        vex,
        matching: portcullis_matcher::MatchOptions {
            include_unfixed_states: !v.only_fixed,
        },
        seen_at: None,
    })
}

/// Runs `f` on the result store the flags name, on a blocking thread (the store's calls block:
/// SQLite IO, or waiting on the PostgreSQL client thread).
pub(crate) async fn with_store<T: Send + 'static>(
    a: &StoreArgs,
    f: impl FnOnce(&dyn portcullis_core::ResultStore) -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let cache = a
        .cache_dir
        .clone()
        .unwrap_or_else(portcullis_image::default_cache_dir);
    let url = store_url(a.store.as_deref(), &cache)?
        .context("--store none: this lives in a result store")?;
    tokio::task::spawn_blocking(move || {
        let store = portcullis_store::open(&url, portcullis_scanner::code_versions())
            .with_context(|| format!("opening {url}"))?;
        f(store.as_ref())
    })
    .await?
}

/// Checked thresholds: scores 0-10, warn at most fail.
pub(crate) fn thresholds(
    warn: f64,
    fail: f64,
    unknown: Status,
    uncovered: Status,
) -> anyhow::Result<Thresholds> {
    if !(0.0..=10.0).contains(&warn) || !(0.0..=10.0).contains(&fail) {
        bail!("thresholds must be between 0 and 10");
    }
    if warn > fail {
        bail!("--warn-threshold {warn} is above --fail-threshold {fail}");
    }
    Ok(Thresholds {
        warn,
        fail,
        unknown,
        uncovered,
    })
}

/// Thresholds, exceptions and VEX from flags.
pub(crate) fn verdict(
    a: &VerdictArgs,
) -> anyhow::Result<(Thresholds, Vec<Exception>, Vec<VexStatement>)> {
    let t = thresholds(
        a.warn_threshold,
        a.fail_threshold,
        status(a.unknown_as),
        status(a.uncovered_as),
    )?;
    let mut exceptions = Vec::new();
    let mut vex = Vec::new();
    for p in &a.exceptions {
        let text = std::fs::read_to_string(p)
            .with_context(|| format!("reading exceptions {}", p.display()))?;
        match p.extension().and_then(|e| e.to_str()).unwrap_or("") {
            "csv" => exceptions.extend(
                portcullis_matcher::exceptions_from_csv(&text)
                    .with_context(|| format!("{}", p.display()))?,
            ),
            "json" => vex.extend(
                portcullis_matcher::vex_from_json(&text)
                    .with_context(|| format!("{}", p.display()))?,
            ),
            _ => exceptions.extend(portcullis_matcher::load_exceptions(p)?),
        }
    }
    Ok((t, exceptions, vex))
}

/// Writes `bytes` to `path` atomically (temp file in the same directory, then rename), or to stdout.
pub(crate) fn write_output(path: Option<&Path>, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    match path {
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes)?;
            out.flush()?;
        }
        Some(p) => {
            let dir = p
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let mut tmp = tempfile::NamedTempFile::new_in(dir)
                .with_context(|| format!("creating a file in {}", dir.display()))?;
            tmp.write_all(bytes)?;
            tmp.persist(p)
                .with_context(|| format!("writing {}", p.display()))?;
        }
    }
    Ok(())
}
