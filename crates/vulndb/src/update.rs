//! `db update`: download the configured feeds and import them in one atomic replace.
//!
//! Downloads go to a cache directory next to the database (`<db file>.cache/<source>/`).
//! Requests carry `If-None-Match` / `If-Modified-Since` from the validators stored with
//! the previous import, so an unchanged feed costs a 304 and its cached copy is reused.
//! New downloads are staged in `incoming/` and only replace the cached copy after the import
//! succeeded, so the cache always matches the validators in the database. Any failed
//! download fails the update and leaves the database as it was.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::SourceFormat;
use crate::db::{self, ImportReport, SourceSpec};
use crate::ingest::BoxError;

/// Errors of `db update`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config file could not be read.
    #[error("cannot read update config {}", path.display())]
    ConfigIo {
        /// The file.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not valid.
    #[error("invalid update config {}: {why}", path.display())]
    Config {
        /// The file (empty when the config was built in code).
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// A request failed before a response arrived (DNS, connect, TLS, timeout).
    #[error("download of {url} failed")]
    Http {
        /// The URL after mirror substitution.
        url: String,
        /// The HTTP client's error.
        #[source]
        source: BoxError,
    },
    /// The server answered with an error status.
    #[error("download of {url} failed: HTTP {status}")]
    Status {
        /// The URL after mirror substitution.
        url: String,
        /// The status code.
        status: u16,
    },
    /// A download does not match its published SHA-256.
    #[error("download of {url}: sha256 {actual} does not match the published {expected}")]
    Checksum {
        /// The URL after mirror substitution.
        url: String,
        /// Published digest.
        expected: String,
        /// Digest of what arrived.
        actual: String,
    },
    /// The cache could not be written.
    #[error("cache {}", path.display())]
    Cache {
        /// The file or directory.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// Opening or importing the database failed.
    #[error(transparent)]
    Db(#[from] db::Error),
    /// The import task did not finish (the runtime shut down or it panicked).
    #[error("import task failed: {0}")]
    Task(String),
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What to download. Read from YAML with [`UpdateConfig::load`]; a missing `sources` key
/// means the public upstreams ([`UpdateConfig::default`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateConfig {
    /// The feeds, each imported as one source under its name.
    #[serde(default = "default_sources")]
    pub sources: Vec<UpdateSource>,
    /// Replaces the `scheme://host[:port]` of every URL (e.g. `https://mirror.corp/osv`),
    /// for air-gapped installs that mirror the upstream paths.
    #[serde(default)]
    pub mirror: Option<String>,
}

/// One feed to download.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateSource {
    /// Source name in the database and cache directory name: `[A-Za-z0-9._-]+`.
    pub name: String,
    /// Where to download it.
    pub url: String,
    /// Its format (no detection for downloads).
    pub format: SourceFormat,
    /// URL of a `sha256sum`-style file for the download, where upstream publishes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256_url: Option<String>,
}

const OSV: &str = "https://osv-vulnerabilities.storage.googleapis.com";
const DEBIAN: &str =
    "https://salsa.debian.org/security-tracker-team/security-tracker/-/raw/master/data";
const ALPINE: &str = "https://secdb.alpinelinux.org";
/// Alpine branches in security support when this list was written; extend in the config.
const ALPINE_BRANCHES: [&str; 3] = ["v3.20", "v3.21", "v3.22"];
const NVD: &str = "https://nvd.nist.gov/feeds/json/cve/2.0";
/// NVD's first yearly feed (it holds the CVEs of 1999 to 2002).
const NVD_FIRST_YEAR: i32 = 2002;

fn default_sources() -> Vec<UpdateSource> {
    let src = |name: String, url: String, format| UpdateSource {
        name,
        url,
        format,
        sha256_url: None,
    };
    let mut v: Vec<UpdateSource> = [
        ("osv-pypi", "PyPI"),
        ("osv-crates-io", "crates.io"),
        ("osv-go", "Go"),
        ("osv-npm", "npm"),
        ("osv-maven", "Maven"),
        ("osv-rubygems", "RubyGems"),
        ("osv-nuget", "NuGet"),
        ("osv-packagist", "Packagist"),
        ("osv-wolfi", "Wolfi"),
        ("osv-chainguard", "Chainguard"),
        ("osv-ubuntu", "Ubuntu"),
        ("osv-almalinux", "AlmaLinux"),
        ("osv-rocky-linux", "Rocky%20Linux"),
        ("osv-red-hat", "Red%20Hat"),
        ("osv-suse", "SUSE"),
        ("osv-opensuse", "openSUSE"),
        // Debian and Alpine as OSV too: the CVE-level records (`DEBIAN-CVE-*`, `ALPINE-CVE-*`)
        // hold fixes no DSA, DLA or secdb entry announces; a record both name is one match
        // (matches are merged by id and alias).
        ("osv-debian", "Debian"),
        ("osv-alpine", "Alpine"),
    ]
    .into_iter()
    .map(|(name, eco)| {
        src(
            name.into(),
            format!("{OSV}/{eco}/all.zip"),
            SourceFormat::Osv,
        )
    })
    .collect();
    v.push(src(
        "debian-dsa".into(),
        format!("{DEBIAN}/DSA/list"),
        SourceFormat::DebianTracker,
    ));
    v.push(src(
        "debian-dla".into(),
        format!("{DEBIAN}/DLA/list"),
        SourceFormat::DebianTracker,
    ));
    // CVSS for advisories that state none (a record's own severity comes first). One source
    // a year, up to this one: NVD regenerates them daily, and the validators make an
    // unchanged year a 304. No `sha256_url`: NVD's `.meta` digests the JSON inside, not the zip.
    for year in NVD_FIRST_YEAR..=time::OffsetDateTime::now_utc().year() {
        v.push(src(
            format!("nvd-{year}"),
            format!("{NVD}/nvdcve-2.0-{year}.json.zip"),
            SourceFormat::Nvd,
        ));
    }
    for branch in ALPINE_BRANCHES {
        for repo in ["main", "community"] {
            v.push(src(
                format!("alpine-{branch}-{repo}"),
                format!("{ALPINE}/{branch}/{repo}.json"),
                SourceFormat::AlpineSecdb,
            ));
        }
    }
    v
}

impl Default for UpdateConfig {
    /// The public upstreams: OSV `all.zip` for PyPI, crates.io, Go, npm, Maven, RubyGems, NuGet,
    /// Packagist, Wolfi, Chainguard, Ubuntu, AlmaLinux, Rocky Linux, Red Hat, SUSE, openSUSE,
    /// Debian and Alpine; the Debian tracker's DSA and DLA lists; Alpine secdb for the
    /// supported branches; NVD's yearly CVE feeds for CVSS enrichment.
    fn default() -> Self {
        UpdateConfig {
            sources: default_sources(),
            mirror: None,
        }
    }
}

impl UpdateConfig {
    /// Reads a YAML config file and checks it.
    pub fn load(path: &Path) -> Result<UpdateConfig> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ConfigIo {
            path: path.to_path_buf(),
            source,
        })?;
        let config: UpdateConfig = serde_saphyr::from_str(&text).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
        config.validate().map_err(|why| Error::Config {
            path: path.to_path_buf(),
            why,
        })?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        let mut names = HashSet::new();
        for s in &self.sources {
            let safe = !s.name.is_empty()
                && !s.name.starts_with('.')
                && s.name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
            if !safe {
                return Err(format!(
                    "source name '{}' must be non-empty [A-Za-z0-9._-], not starting with '.'",
                    s.name
                ));
            }
            if !names.insert(s.name.as_str()) {
                return Err(format!("two sources are named '{}'", s.name));
            }
            if !s.url.contains("://") {
                return Err(format!(
                    "source '{}': url '{}' has no scheme",
                    s.name, s.url
                ));
            }
        }
        Ok(())
    }

    /// `url` with the mirror's prefix in place of its scheme and host.
    pub fn resolve(&self, url: &str) -> String {
        let Some(mirror) = self.mirror.as_deref().filter(|m| !m.is_empty()) else {
            return url.to_string();
        };
        let path = url
            .split_once("://")
            .map(|(_, rest)| rest.find('/').map_or("", |i| &rest[i..]))
            .unwrap_or(url);
        format!("{}{path}", mirror.trim_end_matches('/'))
    }
}

/// The cache directory for a database file: `<dir>/<file name>.cache`.
pub fn cache_dir(db_path: &Path) -> PathBuf {
    let name = db_path
        .file_name()
        .map_or_else(|| "vulndb".into(), |n| n.to_string_lossy().into_owned());
    db_path.with_file_name(format!("{name}.cache"))
}

/// Directory in a source's cache directory where downloads wait for the import.
const STAGING: &str = "incoming";

/// A staged download: removed on drop unless promoted into the cache.
struct Staged {
    new: PathBuf,
    cached: PathBuf,
    promoted: bool,
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.promoted {
            let _ = std::fs::remove_file(&self.new);
        }
        if let Some(dir) = self.new.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Downloads every configured feed (conditionally) and imports them all into the database
/// at `path` in one atomic replace. When every feed answered 304 and the database exists,
/// nothing is rebuilt (the content version stays) and the report lists the stored counts.
pub async fn update(path: &Path, config: &UpdateConfig) -> Result<ImportReport> {
    config.validate().map_err(|why| Error::Config {
        path: PathBuf::new(),
        why,
    })?;
    let previous = db::validators(path)?;
    let cache = cache_dir(path);
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(120))
        .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Http {
            url: String::new(),
            source: Box::new(e),
        })?;

    let mut specs = Vec::with_capacity(config.sources.len());
    let mut staged = Vec::new();
    for source in &config.sources {
        let url = config.resolve(&source.url);
        let dir = cache.join(&source.name);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| Error::Cache {
                path: dir.clone(),
                source: e,
            })?;
        let file_name = url
            .rsplit('/')
            .next()
            .map(|s| s.split(['?', '#']).next().unwrap_or(s))
            .filter(|s| !s.is_empty() && !s.starts_with('.'))
            .unwrap_or("download")
            .to_string();
        let cached = dir.join(&file_name);
        let (etag, last_modified) = match previous.get(&source.name) {
            Some(v) if cached.is_file() => v.clone(),
            _ => (None, None),
        };
        let mut request = client.get(&url);
        if let Some(e) = &etag {
            request = request.header(IF_NONE_MATCH, e);
        }
        if let Some(lm) = &last_modified {
            request = request.header(IF_MODIFIED_SINCE, lm);
        }
        let mut response = request.send().await.map_err(|e| Error::Http {
            url: url.clone(),
            source: Box::new(e),
        })?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED && (etag.is_some() || last_modified.is_some()) {
            tracing::info!(source = %source.name, "not modified; using the cached copy");
            specs.push(spec(source, &url, cached, etag, last_modified));
            continue;
        }
        if !status.is_success() {
            return Err(Error::Status {
                url,
                status: status.as_u16(),
            });
        }
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        let (new_etag, new_lm) = (header(ETAG), header(LAST_MODIFIED));
        // Staged under its own name (format detection and Alpine branch inference read it).
        let incoming = dir.join(STAGING);
        tokio::fs::create_dir_all(&incoming)
            .await
            .map_err(|e| Error::Cache {
                path: incoming.clone(),
                source: e,
            })?;
        let new = incoming.join(&file_name);
        let stage = Staged {
            new: new.clone(),
            cached: cached.clone(),
            promoted: false,
        };
        let mut file = tokio::fs::File::create(&new)
            .await
            .map_err(|e| Error::Cache {
                path: new.clone(),
                source: e,
            })?;
        let mut hasher = Sha256::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| Error::Http {
            url: url.clone(),
            source: Box::new(e),
        })? {
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(|e| Error::Cache {
                path: new.clone(),
                source: e,
            })?;
        }
        file.flush().await.map_err(|e| Error::Cache {
            path: new.clone(),
            source: e,
        })?;
        drop(file);
        if let Some(sum_url) = &source.sha256_url {
            let actual = hex::encode(hasher.finalize());
            let expected = fetch_sha256(&client, &config.resolve(sum_url)).await?;
            if !expected.eq_ignore_ascii_case(&actual) {
                return Err(Error::Checksum {
                    url,
                    expected,
                    actual,
                });
            }
        }
        tracing::info!(source = %source.name, "downloaded");
        specs.push(spec(source, &url, new, new_etag, new_lm));
        staged.push(stage);
    }

    if staged.is_empty() && path.exists() {
        let status = crate::Db::open(path)?.status()?;
        let sources = config
            .sources
            .iter()
            .map(|s| {
                let records = status
                    .sources
                    .iter()
                    .find(|x| x.name == s.name)
                    .map_or(0, |x| x.records);
                (s.name.clone(), records)
            })
            .collect();
        return Ok(ImportReport {
            sources,
            warnings: Vec::new(),
        });
    }

    let db_path = path.to_path_buf();
    let report = tokio::task::spawn_blocking(move || db::import_specs(&db_path, specs, false))
        .await
        .map_err(|e| Error::Task(e.to_string()))??;
    for mut s in staged {
        std::fs::rename(&s.new, &s.cached).map_err(|e| Error::Cache {
            path: s.cached.clone(),
            source: e,
        })?;
        s.promoted = true;
    }
    Ok(report)
}

fn spec(
    source: &UpdateSource,
    url: &str,
    path: PathBuf,
    etag: Option<String>,
    last_modified: Option<String>,
) -> SourceSpec {
    SourceSpec {
        name: source.name.clone(),
        path,
        format: Some(source.format),
        location: url.to_string(),
        etag,
        last_modified,
    }
}

/// The first hex token of a `sha256sum`-style file.
async fn fetch_sha256(client: &reqwest::Client, url: &str) -> Result<String> {
    let response = client.get(url).send().await.map_err(|e| Error::Http {
        url: url.to_string(),
        source: Box::new(e),
    })?;
    if !response.status().is_success() {
        return Err(Error::Status {
            url: url.to_string(),
            status: response.status().as_u16(),
        });
    }
    let text = response.text().await.map_err(|e| Error::Http {
        url: url.to_string(),
        source: Box::new(e),
    })?;
    let token = text.split_whitespace().next().unwrap_or("");
    if token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(token.to_ascii_lowercase())
    } else {
        Err(Error::Checksum {
            url: url.to_string(),
            expected: format!("(unreadable: {token:?})"),
            actual: String::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_replaces_scheme_and_host() {
        let c = UpdateConfig {
            sources: vec![],
            mirror: Some("http://127.0.0.1:8080/m/".into()),
        };
        assert_eq!(
            c.resolve("https://osv.example:443/PyPI/all.zip"),
            "http://127.0.0.1:8080/m/PyPI/all.zip"
        );
        assert_eq!(c.resolve("https://host"), "http://127.0.0.1:8080/m");
        let none = UpdateConfig {
            sources: vec![],
            mirror: None,
        };
        assert_eq!(none.resolve("https://h/x"), "https://h/x");
    }

    #[test]
    fn config_defaults_and_validation() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("u.yaml");
        std::fs::write(&p, "mirror: http://m.local\n").unwrap();
        let c = UpdateConfig::load(&p).unwrap();
        assert_eq!(c.sources, UpdateConfig::default().sources);
        assert_eq!(c.mirror.as_deref(), Some("http://m.local"));

        std::fs::write(&p, "sources:\n  - {name: a, url: 'http://x/a', format: osv}\n  - {name: a, url: 'http://x/b', format: nvd}\n").unwrap();
        assert!(
            matches!(UpdateConfig::load(&p), Err(Error::Config { why, .. }) if why.contains("two sources"))
        );
        std::fs::write(
            &p,
            "sources:\n  - {name: ../a, url: 'http://x/a', format: osv}\n",
        )
        .unwrap();
        assert!(matches!(UpdateConfig::load(&p), Err(Error::Config { .. })));
        std::fs::write(&p, "sources: []\nmirorr: x\n").unwrap();
        assert!(
            matches!(UpdateConfig::load(&p), Err(Error::Config { .. })),
            "unknown keys are refused"
        );
        std::fs::write(
            &p,
            "sources:\n  - {name: a, url: 'http://x/a', format: deb}\n",
        )
        .unwrap();
        assert!(matches!(UpdateConfig::load(&p), Err(Error::Config { .. })));
    }
}
