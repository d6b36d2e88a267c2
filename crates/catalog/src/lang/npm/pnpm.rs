//! `pnpm-lock.yaml`, lockfile versions 5 to 9.
//!
//! Package keys changed shape across versions: `/name/1.0.0_peer@2` (v5, optionally behind a
//! registry host), `/name@1.0.0(peer@2)` (v6) and `name@1.0.0` (v9). Entries for tarballs
//! and git repositories carry explicit `name`/`version` fields, which win over the key.

use std::collections::BTreeMap;

use portcullis_core::Package;
use serde::Deserialize;

use super::{is_project_lockfile, npm_package};
use crate::extractor::{ExtractInput, Extractor, Result};

/// pnpm lockfiles. `dev: true` entries (written up to v6) are left out; v9 no longer marks
/// them, so there every package is reported.
#[derive(Debug, Default)]
pub struct PnpmLock;

#[derive(Deserialize)]
struct Lock {
    #[serde(rename = "lockfileVersion", default)]
    lockfile_version: Option<LockVersion>,
    #[serde(default)]
    packages: Option<BTreeMap<String, Option<Entry>>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum LockVersion {
    Number(f64),
    Text(String),
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    dev: Option<bool>,
}

impl Extractor for PnpmLock {
    fn name(&self) -> &'static str {
        "javascript/pnpm-lock"
    }

    fn version(&self) -> u32 {
        1
    }

    fn required(&self, path: &str) -> bool {
        is_project_lockfile(path, "pnpm-lock.yaml")
    }

    fn extract(&self, input: &ExtractInput<'_>) -> Result<Vec<Package>> {
        let text = input.text();
        if text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            return Ok(Vec::new());
        }
        let lock: Lock = serde_saphyr::from_str(&text).map_err(|e| input.parse_error("YAML", e))?;
        let major = match &lock.lockfile_version {
            Some(LockVersion::Number(n)) => *n as u32,
            Some(LockVersion::Text(s)) => s
                .split('.')
                .next()
                .and_then(|m| m.parse().ok())
                .unwrap_or(0),
            None => 0,
        };
        let mut out = Vec::new();
        for (key, entry) in lock.packages.unwrap_or_default() {
            if entry.as_ref().and_then(|e| e.dev).unwrap_or(false) {
                continue;
            }
            let (name, version) = match entry
                .as_ref()
                .and_then(|e| e.name.clone().zip(e.version.clone()))
            {
                Some(nv) => nv,
                None => {
                    let Some((name, mut version)) = parse_key(&key, major) else {
                        tracing::debug!(
                            path = input.path,
                            key,
                            "pnpm package key without name and version"
                        );
                        continue;
                    };
                    // Git and tarball entries say their version in the entry.
                    if let Some(v) = entry.as_ref().and_then(|e| e.version.clone()) {
                        version = v;
                    }
                    (name, version)
                }
            };
            if name.is_empty() || !version.starts_with(|c: char| c.is_ascii_digit()) {
                continue;
            }
            out.push(npm_package(input, self.name(), &name, &version));
        }
        Ok(out)
    }
}

/// Name and version from a package key (see the module docs), `None` when the key has no
/// version part. The "version" may still be a URL or a repository name
/// (`github.com/user/repo`); the caller checks it once the entry had its say.
fn parse_key(key: &str, major: u32) -> Option<(String, String)> {
    let key = key.strip_prefix('/').unwrap_or(key);
    let (name, version) = if major >= 6 {
        let at = key.get(1..)?.find('@')? + 1;
        let version = &key[at + 1..];
        (&key[..at], version.split('(').next().unwrap_or(version))
    } else {
        let mut segs: Vec<&str> = key.split('/').collect();
        // `registry.npmjs.org/foo/1.0.0`: a leading host.
        if segs.len() > 2 && segs[0].contains('.') {
            segs.remove(0);
        }
        let (name, version) = if segs.first()?.starts_with('@') {
            (format!("{}/{}", segs.first()?, segs.get(1)?), *segs.get(2)?)
        } else {
            ((*segs.first()?).to_owned(), *segs.get(1)?)
        };
        return Some((
            name,
            version.split('_').next().unwrap_or(version).to_owned(),
        ));
    };
    Some((name.to_owned(), version.to_owned())).filter(|(n, _)| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let kv = |k, m| parse_key(k, m).map(|(n, v)| format!("{n} {v}"));
        assert_eq!(kv("/acorn/8.7.0", 5).as_deref(), Some("acorn 8.7.0"));
        assert_eq!(
            kv("/@typescript-eslint/types/5.13.0", 5).as_deref(),
            Some("@typescript-eslint/types 5.13.0")
        );
        assert_eq!(
            kv("/acorn-jsx/5.3.2_acorn@8.7.0", 5).as_deref(),
            Some("acorn-jsx 5.3.2")
        );
        assert_eq!(
            kv("registry.npmjs.org/@foo/bar/1.1.0", 5).as_deref(),
            Some("@foo/bar 1.1.0")
        );
        assert_eq!(
            kv("github.com/kevva/is-positive", 5).as_deref(),
            Some("kevva is-positive")
        );
        assert_eq!(kv("/acorn@8.7.0", 6).as_deref(), Some("acorn 8.7.0"));
        assert_eq!(
            kv("acorn-jsx@5.3.2(acorn@8.11.3)", 9).as_deref(),
            Some("acorn-jsx 5.3.2")
        );
        assert_eq!(kv("@scope/x@1.0.0", 9).as_deref(), Some("@scope/x 1.0.0"));
        assert_eq!(kv("invalidpath", 5), None);
        assert_eq!(
            kv(
                "ansi-regex@https://codeload.github.com/chalk/ansi-regex/tar.gz/02fa",
                9
            )
            .as_deref(),
            Some("ansi-regex https://codeload.github.com/chalk/ansi-regex/tar.gz/02fa")
        );
    }
}
