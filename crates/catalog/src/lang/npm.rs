//! JavaScript packages: installed `node_modules/**/package.json`, and the lockfiles of npm,
//! yarn (v1 and berry) and pnpm.
//!
//! Lockfiles found inside `node_modules` are ignored: a published package's own lockfile
//! lists its development tree, not what is installed. Where a lockfile marks development
//! dependencies (`dev: true` in package-lock and pnpm before v9) they are left out, since
//! images are normally built without them; what is really installed is still found through
//! `node_modules/**/package.json`.

mod package_json;
mod package_lock;
mod pnpm;
mod yarn;

pub use package_json::NpmPackageJson;
pub use package_lock::NpmPackageLock;
pub use pnpm::PnpmLock;
pub use yarn::YarnLock;

use portcullis_core::{Ecosystem, Package};

use crate::extractor::ExtractInput;
use crate::util::{lang_package, purl};

/// An npm package; `@scope/name` becomes the purl namespace `%40scope`.
fn npm_package(input: &ExtractInput<'_>, found_by: &str, name: &str, version: &str) -> Package {
    let purl = match name.strip_prefix('@').and_then(|n| n.split_once('/')) {
        Some((scope, rest)) => purl("npm", &[&format!("@{scope}")], rest, version, &[]),
        None => purl("npm", &[], name, version, &[]),
    };
    lang_package(
        input,
        found_by,
        Ecosystem::Npm,
        name.to_owned(),
        version.to_owned(),
        purl,
    )
}

/// Whether a lockfile named `file_name` sits at `path`, outside any `node_modules`.
fn is_project_lockfile(path: &str, file_name: &str) -> bool {
    crate::util::file_name(path) == file_name
        && !crate::util::has_dir_component(path, "node_modules")
}

/// Versions that name a location rather than a registry release (`file:`, `link:`, git
/// URLs ...): there is nothing to match them against.
fn is_non_registry_version(v: &str) -> bool {
    v.is_empty() || v.contains(':') || v.contains('/') || v.contains('#')
}
