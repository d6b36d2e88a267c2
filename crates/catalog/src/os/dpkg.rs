//! dpkg: `/var/lib/dpkg/status` and distroless' `/var/lib/dpkg/status.d/*`.

use portcullis_core::{Ecosystem, Package, SourcePackage};

use crate::extractor::{ExtractInput, Extractor, Result};
use crate::util::{distro_qualifier, paragraphs, purl};

const STATUS: &str = "/var/lib/dpkg/status";
const STATUS_D: &str = "/var/lib/dpkg/status.d/";

/// Installed Debian packages from the dpkg database.
///
/// Only packages whose `Status` says the files are on disk and configured are reported
/// (`installed`, plus `triggers-pending`/`triggers-awaited` and `half-configured`, which are
/// installed packages waiting on a trigger or a finished configure); `config-files`,
/// `unpacked` and `half-installed` are not. Distroless writes one file per package under
/// `status.d` without a `Status` field; there a missing status means installed, in the main
/// status file it means the paragraph is skipped.
#[derive(Debug, Default)]
pub struct Dpkg;

impl Extractor for Dpkg {
    fn name(&self) -> &'static str {
        "os/dpkg"
    }

    fn version(&self) -> u32 {
        1
    }

    fn required(&self, path: &str) -> bool {
        path == STATUS
            || path
                .strip_prefix(STATUS_D)
                .is_some_and(|f| !f.is_empty() && !f.contains('/') && !f.ends_with(".md5sums"))
    }

    fn needs_distro(&self) -> bool {
        true
    }

    fn extract(&self, input: &ExtractInput<'_>) -> Result<Vec<Package>> {
        let text = input.text();
        let missing_status_means_installed = input.path.starts_with(STATUS_D);
        let (ecosystem, namespace) = match input.distro {
            Some(d) if d.id == "ubuntu" => (Ecosystem::Ubuntu, d.id.as_str()),
            Some(d) => (Ecosystem::Debian, d.id.as_str()),
            None => (Ecosystem::Debian, "debian"),
        };
        let distro = distro_qualifier(input.distro);
        let mut out = Vec::new();
        for para in paragraphs(input, &text, false)? {
            let installed = match para.get("Status") {
                Some(s) => is_installed(s),
                None => missing_status_means_installed,
            };
            // A paragraph without a name or version cannot be matched; dpkg itself never
            // writes one, so skip it rather than lose the rest of the database.
            let (Some(name), Some(version)) = (para.get("Package"), para.get("Version")) else {
                tracing::debug!(
                    path = input.path,
                    line = para.line,
                    "dpkg paragraph without Package or Version"
                );
                continue;
            };
            if !installed || name.is_empty() || version.is_empty() {
                continue;
            }
            let arch = para
                .get("Architecture")
                .filter(|a| !a.is_empty())
                .map(str::to_owned);
            let source = para
                .get("Source")
                .filter(|s| !s.is_empty())
                .map(|s| parse_source(s, version));
            out.push(Package {
                module: None,
                name: name.to_owned(),
                version: version.to_owned(),
                ecosystem,
                purl: purl(
                    "deb",
                    &[namespace],
                    name,
                    version,
                    &[("arch", arch.clone()), ("distro", distro.clone())],
                ),
                source,
                found_by: self.name().to_owned(),
                locations: vec![input.location()],
                arch,
                licenses: Vec::new(),
            });
        }
        Ok(out)
    }
}

/// `Status: want flag status`; the third word is the state of the files.
fn is_installed(status: &str) -> bool {
    matches!(
        status.split_whitespace().nth(2),
        Some("installed" | "triggers-pending" | "triggers-awaited" | "half-configured")
    )
}

/// `Source: name` or `Source: name (version)`; without a version the source version is the
/// binary's (they differ only for binNMUs and renamed sources).
fn parse_source(s: &str, binary_version: &str) -> SourcePackage {
    match s.split_once('(') {
        Some((name, rest)) => SourcePackage {
            name: name.trim().to_owned(),
            version: rest.trim_end().trim_end_matches(')').trim().to_owned(),
        },
        None => SourcePackage {
            name: s.trim().to_owned(),
            version: binary_version.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_paths() {
        let d = Dpkg;
        assert!(d.required("/var/lib/dpkg/status"));
        assert!(d.required("/var/lib/dpkg/status.d/base-files"));
        assert!(!d.required("/var/lib/dpkg/status.d/base-files.md5sums"));
        assert!(!d.required("/var/lib/dpkg/status-old"));
        assert!(!d.required("/var/lib/dpkg/status.d/"));
    }

    #[test]
    fn status_words() {
        assert!(is_installed("install ok installed"));
        assert!(is_installed("deinstall reinstreq installed"));
        assert!(!is_installed("deinstall ok config-files"));
        assert!(!is_installed("install ok unpacked"));
        assert!(!is_installed("install ok"));
    }

    #[test]
    fn source_field() {
        assert_eq!(
            parse_source("util-linux (2.38.1-5)", "2.38.1-5+b1").version,
            "2.38.1-5"
        );
        let s = parse_source("acl", "2.3.1-3");
        assert_eq!((s.name.as_str(), s.version.as_str()), ("acl", "2.3.1-3"));
    }
}
