//! Rust crate versions: strict SemVer 2.0, as Cargo writes them in manifests and `Cargo.lock`.
//!
//! Ordering is SemVer precedence (build metadata ignored), which is what decides whether a
//! version is inside an advisory's range.

use std::fmt;

use crate::semver::{self, Grammar};
use crate::{Result, VersionError};

/// A crate version.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(semver::Version);

impl Version {
    /// Parses the strict SemVer grammar (`1.2.3`, `1.2.3-alpha.1+build`).
    pub fn parse(input: &str) -> Result<Self> {
        semver::Version::parse_with(
            input,
            Grammar {
                eco: "cargo",
                ..Grammar::default()
            },
        )
        .map(Version)
    }

    /// The version as SemVer.
    pub fn semver(&self) -> &semver::Version {
        &self.0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for Version {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self> {
        Version::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict() {
        assert!(Version::parse("1.2.3-alpha.1+build.5").is_ok());
        for bad in ["v1.2.3", "1.2", "1.02.3"] {
            let e = Version::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("invalid cargo version"), "{e}");
        }
    }
}
