//! `node_modules/<name>/package.json` and `node_modules/@scope/<name>/package.json`.

use portcullis_core::Package;
use serde_json::Value;

use super::npm_package;
use crate::extractor::{ExtractInput, Extractor, Result};
use crate::util::json;

/// Installed npm packages, one per package directory directly under a `node_modules`
/// (deeper `package.json` files are a package's own internals, such as `lib/package.json`
/// markers). A manifest without a name or version is not an installed registry package and
/// yields nothing.
#[derive(Debug, Default)]
pub struct NpmPackageJson;

impl Extractor for NpmPackageJson {
    fn name(&self) -> &'static str {
        "javascript/package-json"
    }

    fn version(&self) -> u32 {
        1
    }

    fn required(&self, path: &str) -> bool {
        let mut it = path.rsplit('/');
        if it.next() != Some("package.json") {
            return false;
        }
        let (Some(name), Some(parent)) = (it.next(), it.next()) else {
            return false;
        };
        if name.is_empty() || name.starts_with('.') {
            return false;
        }
        parent == "node_modules" || (parent.starts_with('@') && it.next() == Some("node_modules"))
    }

    fn extract(&self, input: &ExtractInput<'_>) -> Result<Vec<Package>> {
        let doc: Value = json(input)?;
        let Some(obj) = doc.as_object() else {
            return Err(input.malformed(None, "package.json is not a JSON object"));
        };
        let (Some(name), Some(version)) = (
            obj.get("name")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty()),
            obj.get("version")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty()),
        ) else {
            return Ok(Vec::new());
        };
        let mut p = npm_package(input, self.name(), name, version);
        p.licenses = licenses(obj);
        Ok(vec![p])
    }
}

/// `"license": "MIT"`, `"license": {"type": "MIT"}` or the old `"licenses": [{"type": ...}]`.
fn licenses(obj: &serde_json::Map<String, Value>) -> Vec<String> {
    let one = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("type").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    };
    if let Some(l) = obj.get("license").and_then(one) {
        return vec![l];
    }
    obj.get("licenses")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(one).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_paths() {
        let e = NpmPackageJson;
        assert!(e.required("/app/node_modules/lodash/package.json"));
        assert!(e.required("/app/node_modules/@babel/core/package.json"));
        assert!(e.required("/app/node_modules/a/node_modules/b/package.json"));
        assert!(!e.required("/app/package.json"));
        assert!(!e.required("/app/node_modules/lodash/lib/package.json"));
        assert!(!e.required("/app/node_modules/@babel/core/lib/package.json"));
        assert!(!e.required("/app/node_modules/.bin/package.json"));
    }

    #[test]
    fn scoped_and_license_forms() {
        let content = br#"{"name":"@babel/core","version":"7.0.0","license":{"type":"MIT"}}"#;
        let input = ExtractInput {
            path: "/app/node_modules/@babel/core/package.json",
            layer: None,
            content,
            distro: None,
        };
        let p = NpmPackageJson.extract(&input).unwrap();
        assert_eq!(p[0].purl, "pkg:npm/%40babel/core@7.0.0");
        assert_eq!(p[0].licenses, vec!["MIT".to_owned()]);
        let input = ExtractInput {
            content: br#"{"name":"x"}"#,
            ..input
        };
        assert!(NpmPackageJson.extract(&input).unwrap().is_empty());
        let input = ExtractInput {
            content: b"[1]",
            ..input
        };
        assert!(NpmPackageJson.extract(&input).is_err());
    }
}
