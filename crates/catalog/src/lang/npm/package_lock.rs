//! `package-lock.json` / `npm-shrinkwrap.json`, lockfile versions 1 to 3.

use portcullis_core::Package;
use serde_json::{Map, Value};

use super::{is_non_registry_version, is_project_lockfile, npm_package};
use crate::extractor::{ExtractInput, Extractor, Result};
use crate::util::json;

/// npm lockfiles. Versions 2 and 3 list installed paths under `packages`
/// (`node_modules/a/node_modules/b`); version 1 nests `dependencies`. Aliases (`"name"` in v2,
/// `npm:real@1.0.0` in v1) report the real package. Development dependencies, links, local
/// folders and git dependencies are left out (see the module docs of [`super`]).
#[derive(Debug, Default)]
pub struct NpmPackageLock;

impl Extractor for NpmPackageLock {
    fn name(&self) -> &'static str {
        "javascript/package-lock"
    }

    fn version(&self) -> u32 {
        1
    }

    fn required(&self, path: &str) -> bool {
        is_project_lockfile(path, "package-lock.json")
            || is_project_lockfile(path, "npm-shrinkwrap.json")
    }

    fn extract(&self, input: &ExtractInput<'_>) -> Result<Vec<Package>> {
        let doc: Value = json(input)?;
        let Some(obj) = doc.as_object() else {
            return Err(input.malformed(None, "lockfile is not a JSON object"));
        };
        let mut out = Vec::new();
        if let Some(packages) = obj.get("packages").and_then(Value::as_object) {
            for (key, entry) in packages {
                // "" is the project itself; keys without node_modules are workspace folders.
                let Some(idx) = key.rfind("node_modules/") else {
                    continue;
                };
                let Some(entry) = entry.as_object() else {
                    continue;
                };
                if flag(entry, "dev") || flag(entry, "link") {
                    continue;
                }
                let name = entry
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or(&key[idx + "node_modules/".len()..]);
                let Some(version) = entry.get("version").and_then(Value::as_str) else {
                    continue;
                };
                if name.is_empty() || is_non_registry_version(version) {
                    continue;
                }
                out.push(npm_package(input, self.name(), name, version));
            }
        } else if let Some(deps) = obj.get("dependencies").and_then(Value::as_object) {
            self.v1(input, deps, &mut out);
        }
        Ok(out)
    }
}

impl NpmPackageLock {
    fn v1(&self, input: &ExtractInput<'_>, deps: &Map<String, Value>, out: &mut Vec<Package>) {
        for (name, entry) in deps {
            let Some(entry) = entry.as_object() else {
                continue;
            };
            if let Some(nested) = entry.get("dependencies").and_then(Value::as_object) {
                self.v1(input, nested, out);
            }
            if flag(entry, "dev") {
                continue;
            }
            let Some(version) = entry.get("version").and_then(Value::as_str) else {
                continue;
            };
            // `npm:@babel/code-frame@7.0.0`: an alias for another package.
            let (name, version) = match version
                .strip_prefix("npm:")
                .and_then(|a| a.rsplit_once('@'))
            {
                Some((real, v)) if !real.is_empty() => (real, v),
                _ => (name.as_str(), version),
            };
            if is_non_registry_version(version) {
                continue;
            }
            out.push(npm_package(input, self.name(), name, version));
        }
    }
}

fn flag(entry: &Map<String, Value>, key: &str) -> bool {
    entry.get(key).and_then(Value::as_bool).unwrap_or(false)
}
