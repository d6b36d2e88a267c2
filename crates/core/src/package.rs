//! Packages found in an image, with the evidence that found them.

use serde::{Deserialize, Serialize};

use crate::{Digest, Ecosystem};

/// Where a package was found: the layer that last wrote the file and the file's path in
/// the image's final filesystem view.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Location {
    /// Digest of the layer (as in the manifest) that last wrote the file; `None` for a
    /// root filesystem or an SBOM input, which have no layers.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub layer: Option<Digest>,
    /// Absolute path inside the image, `/`-separated.
    pub path: String,
}

/// The source package an OS binary package was built from. Debian and Alpine advisories
/// name source packages, so matching goes through this (grype's "source indirection").
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SourcePackage {
    /// Source package name (dpkg `Source:`, apk `o:` origin, rpm source RPM name).
    pub name: String,
    /// Source version, which for dpkg can differ from the binary version (binNMUs).
    pub version: String,
}

/// One installed package, with the evidence that found it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Package {
    /// Name as the ecosystem spells it (PyPI names normalised per PEP 503; Maven `group:artifact`).
    pub name: String,
    /// Version exactly as installed.
    pub version: String,
    /// The ecosystem, which decides version semantics.
    pub ecosystem: Ecosystem,
    /// Package URL.
    pub purl: String,
    /// For OS packages: the source package, when it differs or is known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source: Option<SourcePackage>,
    /// Name of the extractor that found it, e.g. `os/dpkg`.
    pub found_by: String,
    /// Every file that is evidence for this package (the first is the primary one).
    pub locations: Vec<Location>,
    /// Architecture, where the package database says it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub arch: Option<String>,
    /// Declared licenses (free text or SPDX expressions, as found).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub licenses: Vec<String>,
    /// For rpm packages built in a module stream: the modularity label
    /// (`NAME:STREAM:VERSION:CONTEXT`, e.g. `nodejs:20:8100020240214:a75119d5`). A module
    /// build is fixed by advisories for its stream only, never by those of the base package
    /// of the same name, nor the other way round.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub module: Option<String>,
}

impl Package {
    /// The name and version advisories for OS packages refer to: the source package when
    /// known, else the binary package itself.
    pub fn source_or_self(&self) -> (&str, &str) {
        match &self.source {
            Some(s) => (&s.name, &s.version),
            None => (&self.name, &self.version),
        }
    }
}

/// Percent-encodes a purl component (name, version, qualifier value) as the purl spec says:
/// everything outside the unreserved set, except that `:` stays as is in versions.
pub fn purl_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The operating system of an image, from `/etc/os-release` and friends.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Distro {
    /// `ID` (debian, alpine, ubuntu, rhel ...).
    pub id: String,
    /// `VERSION_ID` (12, 3.18.4 ...).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub version_id: Option<String>,
    /// `VERSION_CODENAME` (bookworm ...), which Debian advisories are keyed by.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub codename: Option<String>,
    /// `PRETTY_NAME`, for people.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pretty_name: Option<String>,
}

/// What is known of the image itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInfo {
    /// The target as the user gave it.
    pub reference: String,
    /// Digest of the resolved manifest (`sha256:...`), when the source has one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub digest: Option<Digest>,
    /// Digest of the image config, when the source has one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub config_digest: Option<Digest>,
    /// Operating system, when it could be told.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub os: Option<Distro>,
    /// Platform as `os/arch[/variant]`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub platform: Option<String>,
    /// Layer digests in order, bottom first.
    #[serde(default)]
    pub layers: Vec<Digest>,
    /// How the image's containers run, from its config; `None` when the source has no
    /// config (a root filesystem, an SBOM) or the result predates it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub config: Option<ImageConfig>,
}

/// The parts of an image config that policies read. Environment values are never kept (they
/// may be secrets): only the names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// `config.User` as written (`""`: root).
    #[serde(default)]
    pub user: String,
    /// `config.ExposedPorts` keys (`22/tcp`), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exposed_ports: Vec<String>,
    /// Names of `config.Env` entries, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_names: Vec<String>,
    /// `created`, when the config says.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub created: Option<time::OffsetDateTime>,
}

impl ImageConfig {
    /// True when `user` makes the process root: empty, `0`, `root`, or either with a group
    /// (`0:1000`, `root:root`).
    pub fn user_is_root(&self) -> bool {
        let user = self.user.split(':').next().unwrap_or_default().trim();
        user.is_empty() || user == "0" || user == "root"
    }
}

/// The output of cataloguing an image: what it is and what is in it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// The image.
    pub image: ImageInfo,
    /// Packages, sorted by (ecosystem, name, version, first location).
    pub packages: Vec<Package>,
    /// Files that were skipped with the reason, so a partial result says where it is partial.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purl_encoding_escapes_reserved() {
        assert_eq!(purl_encode("1:2.3+dfsg-1"), "1:2.3%2Bdfsg-1");
        assert_eq!(purl_encode("@scope/pkg"), "%40scope%2Fpkg");
    }
}
