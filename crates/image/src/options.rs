//! How to resolve and walk an image: platform, registry access, cache, limits.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// A platform `os/arch[/variant]`, used to pick one manifest out of a multi-platform index.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Platform {
    /// Operating system, e.g. `linux`.
    pub os: String,
    /// CPU architecture in Go's spelling, e.g. `amd64`, `arm64`.
    pub arch: String,
    /// Architecture variant, e.g. `v8` for arm64, `v7` for arm.
    pub variant: Option<String>,
}

impl Default for Platform {
    fn default() -> Self {
        Platform {
            os: "linux".into(),
            arch: "amd64".into(),
            variant: None,
        }
    }
}

impl Platform {
    /// Builds a platform from the fields of an OCI index entry or image config, normalising
    /// architecture aliases (`x86_64` → `amd64`, `aarch64` → `arm64`).
    pub fn new(os: &str, arch: &str, variant: Option<&str>) -> Self {
        let arch = match arch {
            "x86_64" | "x86-64" => "amd64",
            "aarch64" => "arm64",
            "armhf" | "armel" => "arm",
            "i386" | "i686" => "386",
            a => a,
        };
        Platform {
            os: os.to_owned(),
            arch: arch.to_owned(),
            variant: variant.filter(|v| !v.is_empty()).map(str::to_owned),
        }
    }

    /// Whether an index entry with platform `other` satisfies this requested platform. An
    /// unrequested variant matches any (people say `linux/arm64` and mean `linux/arm64/v8`).
    pub fn matches(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.arch == other.arch
            && match (&self.variant, &other.variant) {
                (None, _) => true,
                (Some(want), Some(have)) => want == have,
                // arm64 manifests often omit their only variant.
                (Some(want), None) => self.arch == "arm64" && want == "v8",
            }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// A platform string that is not `os/arch[/variant]`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid platform `{0}`: expected os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8")]
pub struct BadPlatform(pub String);

impl FromStr for Platform {
    type Err = BadPlatform;

    fn from_str(s: &str) -> Result<Self, BadPlatform> {
        let parts: Vec<&str> = s.trim().split('/').collect();
        let ok = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Ok(Platform::new(os, arch, None)),
            [os, arch, variant] if ok(os) && ok(arch) && ok(variant) => {
                Ok(Platform::new(os, arch, Some(variant)))
            }
            _ => Err(BadPlatform(s.to_owned())),
        }
    }
}

/// Limits of the walk, so that a hostile layer (a decompression bomb, a billion empty files)
/// ends with a clear error instead of running for hours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most tar entries one layer may hold.
    pub max_entries_per_layer: u64,
    /// Most uncompressed bytes the whole walk may read, summed over all layers (for a `dir:`
    /// source: the bytes the callback read).
    pub max_total_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries_per_layer: 1_000_000,
            max_total_bytes: 64 << 30,
        }
    }
}

/// Options of [`crate::resolve`].
#[derive(Clone, Debug)]
pub struct Options {
    /// Platform picked out of a multi-platform index (default `linux/amd64`).
    pub platform: Platform,
    /// Registries (`HOST:PORT`, exactly as in the reference) reached over plain HTTP; every
    /// other registry is HTTPS only.
    pub insecure_registries: Vec<String>,
    /// Explicit `(username, password)`, used for every registry; wins over the files below.
    pub creds: Option<(String, String)>,
    /// A `kubernetes.io/dockerconfigjson` Secret (JSON or YAML manifest, `data[.dockerconfigjson]`
    /// base64) or a raw `.dockerconfigjson`; wins over `docker_config`.
    pub registry_auth: Option<PathBuf>,
    /// Logins for this pull only, by registry host (a pod's pull secrets, parsed with
    /// [`crate::parse_pull_secret`]); they win over `registry_auth` and the Docker config,
    /// and lose to `creds`. The webhook scans as the pod would pull.
    pub logins: std::collections::BTreeMap<String, crate::Login>,
    /// A Docker `config.json`; `None` means `$DOCKER_CONFIG/config.json`, else
    /// `~/.docker/config.json`, each only if it exists.
    pub docker_config: Option<PathBuf>,
    /// Where pulled blobs are cached (`<cache_dir>/blobs/sha256/<hex>`; default
    /// [`default_cache_dir`]). Decompressed `docker save | gzip` archives go to `<cache_dir>/tmp`.
    pub cache_dir: PathBuf,
    /// Draw a download progress bar on stderr.
    pub progress: bool,
    /// Limits of the walk, copied into the [`crate::ResolvedImage`].
    pub limits: Limits,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            platform: Platform::default(),
            insecure_registries: Vec::new(),
            creds: None,
            registry_auth: None,
            logins: std::collections::BTreeMap::new(),
            docker_config: None,
            cache_dir: default_cache_dir(),
            progress: false,
            limits: Limits::default(),
        }
    }
}

/// The one cache-directory rule of every command: `$XDG_CACHE_HOME/portcullis`, else
/// `~/.cache/portcullis` (an empty variable counts as unset, as the XDG spec says; `$HOME`
/// unset too: a relative `.cache/portcullis`).
pub fn default_cache_dir() -> PathBuf {
    match std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        Some(x) => PathBuf::from(x).join("portcullis"),
        None => home_dir()
            .unwrap_or_default()
            .join(".cache")
            .join("portcullis"),
    }
}

pub(crate) fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_parse_display_and_match() {
        let p: Platform = "linux/arm64/v8".parse().expect("valid");
        assert_eq!(p.to_string(), "linux/arm64/v8");
        assert_eq!(
            "linux/x86_64"
                .parse::<Platform>()
                .expect("valid")
                .to_string(),
            "linux/amd64"
        );
        assert!("linux".parse::<Platform>().is_err());
        assert!("linux/amd64/v1/x".parse::<Platform>().is_err());
        assert!("linux//v7".parse::<Platform>().is_err());

        let want: Platform = "linux/arm64".parse().expect("valid");
        assert!(want.matches(&Platform::new("linux", "arm64", Some("v8"))));
        assert!(!want.matches(&Platform::new("linux", "amd64", None)));
        let v7: Platform = "linux/arm/v7".parse().expect("valid");
        assert!(!v7.matches(&Platform::new("linux", "arm", Some("v6"))));
        assert!(v7.matches(&Platform::new("linux", "arm", Some("v7"))));
        let v8: Platform = "linux/arm64/v8".parse().expect("valid");
        assert!(v8.matches(&Platform::new("linux", "arm64", None)));
    }
}
