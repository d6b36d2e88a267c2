//! Installed Python distributions: `*.dist-info/METADATA` (wheels, modern pip) and
//! `*.egg-info/PKG-INFO` or a bare `*.egg-info` file (setuptools, distro packages).

use portcullis_core::{Ecosystem, Package};

use crate::extractor::{ExtractInput, Extractor, Result};
use crate::util::{lang_package, paragraphs, purl};

/// Python packages from their installed metadata. The name is normalised per PEP 503
/// (lowercase, runs of `-`, `_`, `.` become one `-`), which is how PyPI advisories name them;
/// the version is kept exactly as written.
#[derive(Debug, Default)]
pub struct PythonDistInfo;

impl Extractor for PythonDistInfo {
    fn name(&self) -> &'static str {
        "python/dist-info"
    }

    fn version(&self) -> u32 {
        1
    }

    fn required(&self, path: &str) -> bool {
        let Some((dir, file)) = path.rsplit_once('/') else {
            return false;
        };
        (file == "METADATA" && dir.ends_with(".dist-info"))
            || (file == "PKG-INFO" && dir.ends_with(".egg-info"))
            || file.ends_with(".egg-info")
    }

    fn extract(&self, input: &ExtractInput<'_>) -> Result<Vec<Package>> {
        let text = input.text();
        // Core metadata is an email message: headers, a blank line, then the description.
        let headers = paragraphs(input, &text, true)?;
        let Some(h) = headers.first() else {
            return Err(input.malformed(None, "no metadata headers"));
        };
        let name = h
            .get("Name")
            .filter(|n| !n.is_empty())
            .ok_or_else(|| input.malformed(Some(h.line), "no Name header"))?;
        let version = h
            .get("Version")
            .filter(|v| !v.is_empty())
            .ok_or_else(|| input.malformed(Some(h.line), "no Version header"))?;
        let name = Ecosystem::PyPI.normalize_name(name);
        let mut p = lang_package(
            input,
            self.name(),
            Ecosystem::PyPI,
            name.clone(),
            version.to_owned(),
            purl("pypi", &[], &name, version, &[]),
        );
        p.licenses = license(h);
        Ok(vec![p])
    }
}

/// `License-Expression` (metadata 2.4) when present, else a short `License` (long ones are
/// the whole license text, which is not worth carrying).
fn license(h: &crate::util::Paragraph<'_>) -> Vec<String> {
    if let Some(e) = h.get("License-Expression").filter(|e| !e.is_empty()) {
        return vec![e.to_owned()];
    }
    h.get("License")
        .filter(|l| !l.is_empty() && !l.contains('\n') && l.len() <= 100 && *l != "UNKNOWN")
        .map(|l| vec![l.to_owned()])
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_paths() {
        let p = PythonDistInfo;
        assert!(p.required("/usr/lib/python3/dist-packages/Django-3.2.dist-info/METADATA"));
        assert!(p.required("/usr/lib/python3/dist-packages/six-1.16.0.egg-info/PKG-INFO"));
        assert!(p.required("/usr/lib/python3/dist-packages/six-1.16.0.egg-info"));
        assert!(!p.required("/src/proj/PKG-INFO"));
        assert!(!p.required("/x/Django-3.2.dist-info/RECORD"));
    }
}
