//! NuGet package versions, ordered as NuGet.Versioning's default comparer.
//!
//! `Major.Minor[.Patch[.Revision]][-Release][+Metadata]`: one to four numbers (missing ones are
//! 0, leading zeros allowed), release labels compared one by one (numeric labels as numbers and
//! before text labels, text labels case-insensitively), a release after its pre-releases, and
//! metadata ignored.

use std::cmp::Ordering;

use crate::num::Num;
use crate::{Result, VersionError};

const ECO: &str = "nuget";

/// A parsed NuGet version.
#[derive(Clone, Debug)]
pub struct Version {
    original: String,
    numbers: [Num; 4],
    release: Vec<String>,
    metadata: Option<String>,
}

fn check_labels(input: &str, what: &str, labels: &str) -> Result<()> {
    for label in labels.split('.') {
        if label.is_empty() {
            return Err(VersionError::invalid(
                ECO,
                input,
                format!("empty {what} label"),
            ));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !c.is_ascii_alphanumeric() && *c != '-')
        {
            return Err(VersionError::invalid(
                ECO,
                input,
                format!("invalid character {c:?} in {what}"),
            ));
        }
    }
    Ok(())
}

impl Version {
    /// Parses a NuGet version (surrounding whitespace allowed).
    pub fn parse(input: &str) -> Result<Self> {
        let err = |reason: String| VersionError::invalid(ECO, input, reason);
        let s = input.trim();
        if s.is_empty() {
            return Err(err("version string is empty".to_string()));
        }
        let (rest, metadata) = match s.split_once('+') {
            Some((r, m)) => (r, Some(m)),
            None => (s, None),
        };
        let (core, release) = match rest.split_once('-') {
            Some((c, r)) => (c, Some(r)),
            None => (rest, None),
        };
        let parts: Vec<&str> = core.split('.').collect();
        if parts.len() > 4 {
            return Err(err("more than four numbers".to_string()));
        }
        let mut numbers: [Num; 4] = [Num::zero(), Num::zero(), Num::zero(), Num::zero()];
        for (slot, part) in numbers.iter_mut().zip(&parts) {
            *slot = Num::parse(part).ok_or_else(|| err(format!("{part:?} is not a number")))?;
        }
        let release = match release {
            Some(r) => {
                check_labels(input, "release", r)?;
                r.split('.').map(str::to_string).collect()
            }
            None => Vec::new(),
        };
        if let Some(m) = metadata {
            check_labels(input, "metadata", m)?;
        }
        Ok(Version {
            original: s.to_string(),
            numbers,
            release,
            metadata: metadata.map(str::to_string),
        })
    }

    /// NuGet keeps each number in an Int32 and refuses larger ones; [`Version::parse`] orders
    /// them anyway (as OSV tooling does), this says whether NuGet itself would accept the version.
    pub fn check_grammar(&self) -> Result<()> {
        match self
            .numbers
            .iter()
            .find(|n| n.to_u64().is_none_or(|v| v > i32::MAX as u64))
        {
            Some(n) => Err(VersionError::invalid(
                ECO,
                &self.original,
                format!("{n} is larger than {}", i32::MAX),
            )),
            None => Ok(()),
        }
    }

    /// Major, minor, patch, revision.
    pub fn numbers(&self) -> &[Num; 4] {
        &self.numbers
    }

    /// The release labels (empty for a stable version).
    pub fn release_labels(&self) -> &[String] {
        &self.release
    }

    /// The metadata, if any.
    pub fn metadata(&self) -> Option<&str> {
        self.metadata.as_deref()
    }
}

fn cmp_label(a: &str, b: &str) -> Ordering {
    match (Num::parse(a), Num::parse(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a
            .bytes()
            .map(|c| c.to_ascii_uppercase())
            .cmp(b.bytes().map(|c| c.to_ascii_uppercase())),
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.numbers.cmp(&other.numbers).then_with(|| {
            match (self.release.is_empty(), other.release.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => {
                    for (a, b) in self.release.iter().zip(&other.release) {
                        let ord = cmp_label(a, b);
                        if ord.is_ne() {
                            return ord;
                        }
                    }
                    self.release.len().cmp(&other.release.len())
                }
            }
        })
    }
}

ordered_by_cmp!(Version, parse, shown as written);

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        crate::cmp_as::<Version>(a, b)
    }

    #[test]
    fn four_parts_and_labels() {
        assert_eq!(cmp("1.0", "1.0.0.0"), Ordering::Equal);
        assert_eq!(cmp("1.0.01", "1.0.1.0"), Ordering::Equal);
        assert_eq!(cmp("1.0.0-BETA", "1.0.0-beta+meta"), Ordering::Equal);
        assert_eq!(cmp("1.0.0-beta.2", "1.0.0-beta.10"), Ordering::Less);
        assert_eq!(cmp("1.0.0-rc", "1.0.0"), Ordering::Less);
        for bad in ["", "1.2.3.4.5", "1.a", "1.0-", "1.0-a..b"] {
            assert!(Version::parse(bad).is_err(), "{bad}");
        }
        assert!(
            Version::parse("3000000000.0")
                .unwrap()
                .check_grammar()
                .is_err()
        );
        assert_eq!(cmp("3000000000.0", "3000000001"), Ordering::Less);
    }
}
