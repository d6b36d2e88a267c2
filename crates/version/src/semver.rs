//! Semantic Versioning 2.0.0: `MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]` and its precedence.
//!
//! Precedence (semver.org §11): major, minor, patch numerically; a version with a pre-release
//! sorts before the same version without; pre-release identifiers compare one by one, numeric
//! ones as numbers and before alphanumeric ones, alphanumeric ones in ASCII order, and a shorter
//! list of equal identifiers first. Build metadata never counts, so `Eq` here means "same
//! precedence".
//!
//! [`Version::parse`] is the strict grammar of the specification (what Cargo writes).
//! [`Version::parse_lenient`] is what OSV SEMVER ranges need in practice; see there.

use std::cmp::Ordering;
use std::fmt;

use crate::num::Num;
use crate::{Result, VersionError};

/// One pre-release identifier.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Identifier {
    /// Digits only: compared numerically, before any alphanumeric identifier.
    Numeric(Num),
    /// Anything with a letter or hyphen: compared in ASCII order.
    AlphaNumeric(String),
}

impl Ord for Identifier {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Identifier::Numeric(a), Identifier::Numeric(b)) => a.cmp(b),
            (Identifier::AlphaNumeric(a), Identifier::AlphaNumeric(b)) => {
                a.as_bytes().cmp(b.as_bytes())
            }
            (Identifier::Numeric(_), Identifier::AlphaNumeric(_)) => Ordering::Less,
            (Identifier::AlphaNumeric(_), Identifier::Numeric(_)) => Ordering::Greater,
        }
    }
}

impl PartialOrd for Identifier {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identifier::Numeric(n) => write!(f, "{n}"),
            Identifier::AlphaNumeric(s) => f.write_str(s),
        }
    }
}

/// Compares pre-release lists: an empty list (a release) sorts after any pre-release.
pub fn cmp_prerelease(a: &[Identifier], b: &[Identifier]) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.cmp(b),
    }
}

/// A semantic version.
#[derive(Clone, Debug)]
pub struct Version {
    /// Major version.
    pub major: Num,
    /// Minor version.
    pub minor: Num,
    /// Patch version.
    pub patch: Num,
    /// Numeric components past the third, only from [`Version::parse_lenient`].
    pub extra: Vec<Num>,
    /// Pre-release identifiers (empty for a release).
    pub pre: Vec<Identifier>,
    /// Build metadata identifiers (never part of the order).
    pub build: Vec<String>,
}

/// What a parse tolerates beyond the strict grammar.
#[derive(Clone, Copy, Default)]
pub(crate) struct Grammar {
    /// The ecosystem name for errors.
    pub(crate) eco: &'static str,
    /// A leading `v` (or `V`).
    pub(crate) leading_v: bool,
    /// Fewer than three numeric components (`1`, `1.2`).
    pub(crate) shorthand: bool,
    /// Shorthand also with a pre-release or build (`1.2-beta`).
    pub(crate) shorthand_with_suffix: bool,
    /// More than three numeric components.
    pub(crate) extra: bool,
    /// Leading zeros in numbers.
    pub(crate) leading_zeros: bool,
    /// Surrounding whitespace.
    pub(crate) trim: bool,
}

fn check_ident(
    eco: &'static str,
    input: &str,
    what: &str,
    ident: &str,
    no_leading_zero: bool,
) -> Result<()> {
    if ident.is_empty() {
        return Err(VersionError::invalid(
            eco,
            input,
            format!("empty {what} identifier"),
        ));
    }
    if let Some(c) = ident
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && *c != '-')
    {
        return Err(VersionError::invalid(
            eco,
            input,
            format!("invalid character {c:?} in {what}"),
        ));
    }
    if no_leading_zero
        && ident.len() > 1
        && ident.starts_with('0')
        && ident.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(VersionError::invalid(
            eco,
            input,
            format!("numeric {what} identifier {ident:?} has a leading zero"),
        ));
    }
    Ok(())
}

impl Version {
    /// Parses the strict SemVer 2.0 grammar (no `v`, no leading zeros, exactly three numbers).
    pub fn parse(input: &str) -> Result<Self> {
        Self::parse_with(
            input,
            Grammar {
                eco: "semver",
                ..Grammar::default()
            },
        )
    }

    /// Parses a SemVer-like version as found in OSV SEMVER ranges: surrounding whitespace, a
    /// leading `v`, leading zeros, missing minor or patch (`1` and `1.2` are `1.0.0` and `1.2.0`)
    /// and numeric components past the patch (compared after it, as further numbers) are all
    /// accepted. Pre-release and build identifiers must still be `[0-9A-Za-z-]+`.
    pub fn parse_lenient(input: &str) -> Result<Self> {
        Self::parse_with(
            input,
            Grammar {
                eco: "semver",
                leading_v: true,
                shorthand: true,
                shorthand_with_suffix: true,
                extra: true,
                leading_zeros: true,
                trim: true,
            },
        )
    }

    pub(crate) fn parse_with(input: &str, g: Grammar) -> Result<Self> {
        let err = |reason: String| VersionError::invalid(g.eco, input, reason);
        let mut s = if g.trim { input.trim() } else { input };
        if s.is_empty() {
            return Err(err("version string is empty".to_string()));
        }
        if g.leading_v {
            s = s.strip_prefix(['v', 'V']).unwrap_or(s);
        }
        let (rest, build) = match s.split_once('+') {
            Some((r, b)) => (r, Some(b)),
            None => (s, None),
        };
        let (core, pre) = match rest.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (rest, None),
        };
        let mut numbers = Vec::new();
        for part in core.split('.') {
            if part.is_empty() {
                return Err(err(format!("empty number in {core:?}")));
            }
            if let Some(c) = part.chars().find(|c| !c.is_ascii_digit()) {
                return Err(err(format!(
                    "invalid character {c:?} in version number {core:?}"
                )));
            }
            if !g.leading_zeros && part.len() > 1 && part.starts_with('0') {
                return Err(err(format!("number {part:?} has a leading zero")));
            }
            numbers.push(Num::parse(part).unwrap_or_else(Num::zero));
        }
        let has_suffix = pre.is_some() || build.is_some();
        if numbers.len() < 3 && !(g.shorthand && (!has_suffix || g.shorthand_with_suffix)) {
            return Err(err("expected MAJOR.MINOR.PATCH".to_string()));
        }
        if numbers.len() > 3 && !g.extra {
            return Err(err(
                "more than three numbers in MAJOR.MINOR.PATCH".to_string()
            ));
        }
        let mut pre_ids = Vec::new();
        if let Some(pre) = pre {
            for ident in pre.split('.') {
                check_ident(g.eco, input, "pre-release", ident, !g.leading_zeros)?;
                pre_ids.push(match Num::parse(ident) {
                    Some(n) => Identifier::Numeric(n),
                    None => Identifier::AlphaNumeric(ident.to_string()),
                });
            }
        }
        let mut build_ids = Vec::new();
        if let Some(build) = build {
            for ident in build.split('.') {
                check_ident(g.eco, input, "build metadata", ident, false)?;
                build_ids.push(ident.to_string());
            }
        }
        let mut numbers = numbers.into_iter();
        let mut next = || numbers.next().unwrap_or_else(Num::zero);
        let (major, minor, patch) = (next(), next(), next());
        Ok(Version {
            major,
            minor,
            patch,
            extra: numbers.collect(),
            pre: pre_ids,
            build: build_ids,
        })
    }

    /// True when the version has a pre-release part.
    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let zero = Num::zero();
        self.major
            .cmp(&other.major)
            .then_with(|| self.minor.cmp(&other.minor))
            .then_with(|| self.patch.cmp(&other.patch))
            .then_with(|| {
                (0..self.extra.len().max(other.extra.len()))
                    .map(|i| {
                        self.extra
                            .get(i)
                            .unwrap_or(&zero)
                            .cmp(other.extra.get(i).unwrap_or(&zero))
                    })
                    .find(|o| *o != Ordering::Equal)
                    .unwrap_or(Ordering::Equal)
            })
            .then_with(|| cmp_prerelease(&self.pre, &other.pre))
    }
}

ordered_by_cmp!(Version, parse);

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        for n in &self.extra {
            write!(f, ".{n}")?;
        }
        if !self.pre.is_empty() {
            let pre: Vec<String> = self.pre.iter().map(ToString::to_string).collect();
            write!(f, "-{}", pre.join("."))?;
        }
        if !self.build.is_empty() {
            write!(f, "+{}", self.build.join("."))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_from_the_spec() {
        let chain = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
        ];
        for w in chain.windows(2) {
            assert!(
                Version::parse(w[0]).unwrap() < Version::parse(w[1]).unwrap(),
                "{} < {}",
                w[0],
                w[1]
            );
        }
        assert_eq!(
            Version::parse("1.0.0+a").unwrap(),
            Version::parse("1.0.0+b").unwrap()
        );
    }

    #[test]
    fn strict_and_lenient() {
        for bad in [
            "v1.0.0",
            "1.0",
            "01.0.0",
            "1.0.0-01",
            "1.0.0-",
            "1.0.0+",
            "1.0.0-a..b",
            "1.0.0-a$",
        ] {
            assert!(Version::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Version::parse_lenient("v1").unwrap().to_string(), "1.0.0");
        assert_eq!(
            Version::parse_lenient(" 01.2.3.4 ").unwrap().to_string(),
            "1.2.3.4"
        );
        assert!(Version::parse_lenient("1.x").is_err());
    }
}
