//! Ruby gem versions, ordered as `Gem::Version` does.
//!
//! A version is digits followed by dot-separated alphanumeric parts, optionally `-` and more
//! parts (`-` is read as `.pre.`). It is cut into segments, runs of digits (numbers) and runs of
//! letters (strings); any letter makes it a pre-release. Trailing zeros are dropped from the
//! numeric head and from the part after the first string, then segments compare in turn, a
//! missing segment counting as 0, a string sorting before any number, strings by bytes.

use std::cmp::Ordering;

use crate::num::Num;
use crate::{Result, VersionError};

const ECO: &str = "rubygems";

/// One segment of a gem version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// A run of digits.
    Num(Num),
    /// A run of letters (case kept).
    Str(String),
}

/// A parsed gem version.
#[derive(Clone, Debug)]
pub struct Version {
    original: String,
    canonical: Vec<Segment>,
    prerelease: bool,
    /// Why `Gem::Version` itself would refuse the string, if it would.
    grammar_error: Option<String>,
}

fn valid(s: &str) -> std::result::Result<(), String> {
    let (main, pre) = match s.split_once('-') {
        Some((m, p)) => (m, Some(p)),
        None => (s, None),
    };
    let mut parts = main.split('.');
    let first = parts.next().unwrap_or("");
    if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) {
        return Err("must start with a number".to_string());
    }
    for part in parts {
        if part.is_empty() {
            return Err("empty part between dots".to_string());
        }
        if let Some(c) = part.chars().find(|c| !c.is_ascii_alphanumeric()) {
            return Err(format!("invalid character {c:?}"));
        }
    }
    if let Some(pre) = pre {
        for part in pre.split('.') {
            if part.is_empty() {
                return Err("empty part in the pre-release".to_string());
            }
            if let Some(c) = part
                .chars()
                .find(|c| !c.is_ascii_alphanumeric() && *c != '-')
            {
                return Err(format!("invalid character {c:?} in the pre-release"));
            }
        }
    }
    Ok(())
}

impl Version {
    /// Parses a version for ordering. Besides what `Gem::Version` accepts, strings that start
    /// with a digit and hold only letters, digits, `.` and `-` are cut into segments the same way
    /// (`1beta` orders as `1.beta`), as OSV tooling does for the odd versions in advisories;
    /// [`Version::check_grammar`] says whether `Gem::Version` itself would accept the string.
    pub fn parse(input: &str) -> Result<Self> {
        let s = input.trim();
        if s.is_empty() {
            return Err(VersionError::invalid(ECO, input, "version string is empty"));
        }
        if !s.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(VersionError::invalid(
                ECO,
                input,
                "must start with a number",
            ));
        }
        if let Some(c) = s
            .chars()
            .find(|c| !c.is_ascii_alphanumeric() && *c != '.' && *c != '-')
        {
            return Err(VersionError::invalid(
                ECO,
                input,
                format!("invalid character {c:?}"),
            ));
        }
        let grammar_error = valid(s).err();
        let normalized = s.replace('-', ".pre.");
        let mut segments = Vec::new();
        let bytes = normalized.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let start = i;
            if bytes[i].is_ascii_digit() {
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                segments.push(Segment::Num(
                    Num::parse(&normalized[start..i]).unwrap_or_else(Num::zero),
                ));
            } else if bytes[i].is_ascii_alphabetic() {
                while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                    i += 1;
                }
                segments.push(Segment::Str(normalized[start..i].to_string()));
            } else {
                i += 1;
            }
        }
        let prerelease = normalized.bytes().any(|b| b.is_ascii_alphabetic());
        let split = segments
            .iter()
            .position(|s| matches!(s, Segment::Str(_)))
            .unwrap_or(segments.len());
        let tail = segments.split_off(split);
        let mut canonical = Vec::new();
        for mut part in [segments, tail] {
            while part
                .last()
                .is_some_and(|s| matches!(s, Segment::Num(n) if n.is_zero()))
            {
                part.pop();
            }
            canonical.extend(part);
        }
        Ok(Version {
            original: s.to_string(),
            canonical,
            prerelease,
            grammar_error,
        })
    }

    /// Checks the string against `Gem::Version`'s own pattern.
    pub fn check_grammar(&self) -> Result<()> {
        match &self.grammar_error {
            Some(reason) => Err(VersionError::invalid(ECO, &self.original, reason.clone())),
            None => Ok(()),
        }
    }

    /// True when the version has a letter.
    pub fn is_prerelease(&self) -> bool {
        self.prerelease
    }

    /// The canonical segments used for ordering.
    pub fn canonical_segments(&self) -> &[Segment] {
        &self.canonical
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let zero = Segment::Num(Num::zero());
        for i in 0..self.canonical.len().max(other.canonical.len()) {
            let l = self.canonical.get(i).unwrap_or(&zero);
            let r = other.canonical.get(i).unwrap_or(&zero);
            let ord = match (l, r) {
                (Segment::Num(a), Segment::Num(b)) => a.cmp(b),
                (Segment::Str(a), Segment::Str(b)) => a.as_bytes().cmp(b.as_bytes()),
                (Segment::Str(_), Segment::Num(_)) => Ordering::Less,
                (Segment::Num(_), Segment::Str(_)) => Ordering::Greater,
            };
            if ord.is_ne() {
                return ord;
            }
        }
        Ordering::Equal
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
    fn gem_version_rules() {
        assert_eq!(cmp("1.0.a10", "1.0.a9"), Ordering::Greater);
        assert_eq!(cmp("1.0.a2", "1.0.a.2"), Ordering::Equal);
        assert_eq!(cmp("1.2.4.beta", "1.2.4"), Ordering::Less);
        assert_eq!(cmp("1.0-1", "1.0.pre.1"), Ordering::Equal);
        assert_eq!(cmp("1.0.0", "1"), Ordering::Equal);
        assert!(Version::parse("1.0-1").unwrap().is_prerelease());
        for bad in ["", "a", "1.0 beta", "1.0+x"] {
            assert!(Version::parse(bad).is_err(), "{bad}");
        }
        for odd in ["1beta", "1..2", "1.-2"] {
            assert!(
                Version::parse(odd).unwrap().check_grammar().is_err(),
                "{odd}"
            );
        }
        assert_eq!(cmp("1beta", "1"), Ordering::Less);
    }
}
