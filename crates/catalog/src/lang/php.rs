//! PHP Composer packages: `composer.lock` and what Composer installed
//! (`vendor/composer/installed.json`).

use portcullis_core::{Ecosystem, Package};
use serde::Deserialize;
use serde_json::Value;

use crate::extractor::{ExtractInput, Extractor, Result};
use crate::util::{file_name, has_dir_component, json, lang_package, purl};

#[derive(Deserialize)]
struct ComposerPackage {
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    license: Option<Value>,
}

fn composer_package(
    input: &ExtractInput<'_>,
    found_by: &str,
    p: &ComposerPackage,
) -> Option<Package> {
    if p.name.is_empty() || p.version.is_empty() {
        return None;
    }
    let purl = match p.name.split_once('/') {
        Some((vendor, name)) => purl("composer", &[vendor], name, &p.version, &[]),
        None => purl("composer", &[], &p.name, &p.version, &[]),
    };
    let mut pkg = lang_package(
        input,
        found_by,
        Ecosystem::Packagist,
        p.name.clone(),
        p.version.clone(),
        purl,
    );
    pkg.licenses = match &p.license {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    Some(pkg)
}

/// `composer.lock`: the `packages` list. `packages-dev` is left out (production images are
/// built with `--no-dev`; what was really installed is in `installed.json`), and so are lock
/// files inside `vendor/` (a dependency's own).
#[derive(Debug, Default)]
pub struct ComposerLock;

#[derive(Deserialize)]
struct Lock {
    #[serde(default)]
    packages: Vec<ComposerPackage>,
}

impl Extractor for ComposerLock {
    fn name(&self) -> &'static str {
        "php/composer-lock"
    }

    fn version(&self) -> u32 {
        1
    }

    fn required(&self, path: &str) -> bool {
        file_name(path) == "composer.lock" && !has_dir_component(path, "vendor")
    }

    fn extract(&self, input: &ExtractInput<'_>) -> Result<Vec<Package>> {
        let lock: Lock = json(input)?;
        Ok(lock
            .packages
            .iter()
            .filter_map(|p| composer_package(input, self.name(), p))
            .collect())
    }
}

/// `vendor/composer/installed.json`: Composer 1 writes a bare array, Composer 2 an object
/// with `packages`. Everything listed is on disk, development packages included.
#[derive(Debug, Default)]
pub struct ComposerInstalled;

#[derive(Deserialize)]
#[serde(untagged)]
enum Installed {
    V2 { packages: Vec<ComposerPackage> },
    V1(Vec<ComposerPackage>),
}

impl Extractor for ComposerInstalled {
    fn name(&self) -> &'static str {
        "php/installed-json"
    }

    fn version(&self) -> u32 {
        1
    }

    fn required(&self, path: &str) -> bool {
        path.ends_with("/vendor/composer/installed.json")
    }

    fn extract(&self, input: &ExtractInput<'_>) -> Result<Vec<Package>> {
        let installed: Installed = json(input)?;
        let (Installed::V1(packages) | Installed::V2 { packages }) = installed;
        Ok(packages
            .iter()
            .filter_map(|p| composer_package(input, self.name(), p))
            .collect())
    }
}
