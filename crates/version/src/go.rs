//! Go module versions, ordered as `golang.org/x/mod/semver` does.
//!
//! Go uses SemVer 2.0 with a `v` prefix and accepts the shorthands `v1` and `v1.2` (meaning
//! `v1.0.0` and `v1.2.0`) when there is no pre-release or build suffix. Pseudo-versions
//! (`v0.0.0-20210101000000-abcdef123456`) are ordinary pre-releases and need nothing special.
//! OSV records for Go write versions without the `v`, so it is optional here.

use std::cmp::Ordering;
use std::fmt;

use crate::semver::{self, Grammar};
use crate::{Result, VersionError};

/// A Go module version.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(semver::Version);

impl Version {
    /// Parses `[v]MAJOR[.MINOR[.PATCH[-PRE][+BUILD]]]` with Go's rules (no leading zeros).
    pub fn parse(input: &str) -> Result<Self> {
        semver::Version::parse_with(
            input,
            Grammar {
                eco: "go",
                leading_v: true,
                shorthand: true,
                ..Grammar::default()
            },
        )
        .map(Version)
    }

    /// The version as SemVer.
    pub fn semver(&self) -> &semver::Version {
        &self.0
    }

    /// True for pseudo-versions (`vX.Y.Z-[0.]yyyymmddhhmmss-abcdefabcdef` and the like).
    pub fn is_pseudo(&self) -> bool {
        let pre: Vec<String> = self.0.pre.iter().map(ToString::to_string).collect();
        let last = pre.join(".");
        let parts: Vec<&str> = last.rsplitn(3, '-').collect();
        parts.len() >= 2
            && parts[0].len() == 12
            && parts[0].bytes().all(|b| b.is_ascii_hexdigit())
            && parts[1].len() >= 14
            && parts[1][parts[1].len() - 14..]
                .bytes()
                .all(|b| b.is_ascii_digit())
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

impl std::str::FromStr for Version {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self> {
        Version::parse(s)
    }
}

/// Compares two Go versions.
pub fn compare(a: &str, b: &str) -> Result<Ordering> {
    Ok(Version::parse(a)?.cmp(&Version::parse(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorthand_and_pseudo_versions() {
        assert_eq!(compare("v1", "v1.0.0"), Ok(Ordering::Equal));
        assert_eq!(compare("v1.2", "1.2.0"), Ok(Ordering::Equal));
        assert!(Version::parse("v1.2-pre").is_err());
        assert!(Version::parse("v01.2.3").is_err());
        let pseudo = Version::parse("v0.0.0-20210101000000-abcdef123456").unwrap();
        assert!(pseudo.is_pseudo());
        assert!(pseudo < Version::parse("v0.0.1").unwrap());
        assert_eq!(
            compare("v2.0.0+incompatible", "v2.0.0"),
            Ok(Ordering::Equal)
        );
    }
}
