//! npm package versions, parsed and ordered as node-semver does.
//!
//! node-semver is SemVer 2.0 with its own edges, reproduced here because npm advisories and
//! lockfiles are written against it: surrounding whitespace is ignored; the strict form allows a
//! leading `v`; the loose form (what npm uses for installed versions) also allows any mix of
//! leading `v`, `=` and spaces, leading zeros, and a pre-release without its `-` (`1.2.3beta`);
//! numbers must not exceed 2^53 - 1 and the string must not exceed 256 characters. Pre-release
//! identifiers made of digits compare as numbers; build metadata is ignored.
//!
//! The grammar is node-semver's own regular expressions, rebuilt in [`patterns`] from the same
//! pieces, so that ranges ([`crate::npm_range`]) cut and rewrite strings exactly as npm does.

use std::cmp::Ordering;
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

use crate::{Result, VersionError};

const ECO: &str = "npm";

/// JavaScript's `Number.MAX_SAFE_INTEGER`: node-semver's limit for a version number.
pub const MAX_SAFE_INTEGER: u64 = 9_007_199_254_740_991;
/// node-semver's limit on the length of a version string.
pub const MAX_LENGTH: usize = 256;

/// One pre-release identifier as node-semver stores it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PreId {
    /// All digits and below 2^53 - 1: a number.
    Num(u64),
    /// Anything else, kept as written.
    Str(String),
}

impl PreId {
    fn from_str(id: &str) -> Self {
        match id.parse::<u64>() {
            Ok(n) if id.bytes().all(|b| b.is_ascii_digit()) && n < MAX_SAFE_INTEGER => {
                PreId::Num(n)
            }
            _ => PreId::Str(id.to_string()),
        }
    }

    fn numeric(&self) -> Option<f64> {
        match self {
            // Exact: every value kept as a number is below 2^53.
            PreId::Num(n) => Some(*n as f64),
            PreId::Str(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                s.parse().ok()
            }
            PreId::Str(_) => None,
        }
    }
}

/// node-semver's `compareIdentifiers`.
fn cmp_ids(a: &PreId, b: &PreId) -> Ordering {
    match (a.numeric(), b.numeric()) {
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => match (a, b) {
            (PreId::Str(x), PreId::Str(y)) => x.encode_utf16().cmp(y.encode_utf16()),
            _ => Ordering::Equal,
        },
    }
}

impl fmt::Display for PreId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PreId::Num(n) => write!(f, "{n}"),
            PreId::Str(s) => f.write_str(s),
        }
    }
}

/// An npm version.
#[derive(Clone, Debug)]
pub struct Version {
    /// Major version.
    pub major: u64,
    /// Minor version.
    pub minor: u64,
    /// Patch version.
    pub patch: u64,
    /// Pre-release identifiers.
    pub prerelease: Vec<PreId>,
    /// Build metadata identifiers (ignored by the order).
    pub build: Vec<String>,
}

impl Version {
    /// Parses the strict form (`[v]1.2.3[-pre][+build]`, surrounding whitespace ignored).
    pub fn parse(input: &str) -> Result<Self> {
        Self::parse_opt(input, false)
    }

    /// Parses the loose form, as npm does for installed versions.
    pub fn parse_loose(input: &str) -> Result<Self> {
        Self::parse_opt(input, true)
    }

    /// Parses strict or loose, as node-semver's `new SemVer(v, {loose})`.
    pub fn parse_opt(input: &str, loose: bool) -> Result<Self> {
        let err = |reason: String| VersionError::invalid(ECO, input, reason);
        if input.len() > MAX_LENGTH {
            return Err(err(format!(
                "version is longer than {MAX_LENGTH} characters"
            )));
        }
        let p = patterns();
        let re = if loose { &p.loose } else { &p.full };
        let Some(caps) = re.captures(input.trim()) else {
            let hint = if loose {
                ""
            } else {
                " (not strict SemVer; the loose form may accept it)"
            };
            return Err(err(format!("not a version{hint}")));
        };
        let number = |i: usize, what: &str| -> Result<u64> {
            let digits = caps.get(i).map_or("", |m| m.as_str());
            match digits.parse::<u64>() {
                Ok(n) if n <= MAX_SAFE_INTEGER => Ok(n),
                _ => Err(err(format!(
                    "{what} version {digits} is larger than {MAX_SAFE_INTEGER}"
                ))),
            }
        };
        let (major, minor, patch) = (
            number(1, "major")?,
            number(2, "minor")?,
            number(3, "patch")?,
        );
        let prerelease = caps.get(4).map_or_else(Vec::new, |m| {
            m.as_str().split('.').map(PreId::from_str).collect()
        });
        let build = caps.get(5).map_or_else(Vec::new, |m| {
            m.as_str().split('.').map(str::to_string).collect()
        });
        Ok(Version {
            major,
            minor,
            patch,
            prerelease,
            build,
        })
    }

    /// node-semver's `compareMain`: major, minor, patch only.
    pub fn compare_main(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch).cmp(&(other.major, other.minor, other.patch))
    }

    /// node-semver's `comparePre`: a release sorts after its pre-releases.
    pub fn compare_pre(&self, other: &Self) -> Ordering {
        match (self.prerelease.is_empty(), other.prerelease.is_empty()) {
            (true, true) => return Ordering::Equal,
            (false, true) => return Ordering::Less,
            (true, false) => return Ordering::Greater,
            (false, false) => {}
        }
        for i in 0.. {
            match (self.prerelease.get(i), other.prerelease.get(i)) {
                (None, None) => return Ordering::Equal,
                (Some(_), None) => return Ordering::Greater,
                (None, Some(_)) => return Ordering::Less,
                (Some(a), Some(b)) => {
                    let ord = cmp_ids(a, b);
                    if ord != Ordering::Equal {
                        return ord;
                    }
                }
            }
        }
        Ordering::Equal
    }

    /// node-semver's `version` string: `M.m.p[-pre]`, without build metadata.
    pub fn version_string(&self) -> String {
        self.to_string()
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.compare_main(other)
            .then_with(|| self.compare_pre(other))
    }
}

ordered_by_cmp!(Version);

impl fmt::Display for Version {
    /// node-semver's normalised `version` (no build metadata).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.prerelease.is_empty() {
            let ids: Vec<String> = self.prerelease.iter().map(ToString::to_string).collect();
            write!(f, "-{}", ids.join("."))?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Version {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self> {
        Version::parse_loose(s)
    }
}

/// node-semver's regular expressions, compiled once.
pub(crate) struct Patterns {
    /// `FULL`, unbounded.
    pub(crate) full: Regex,
    /// `LOOSE`, unbounded.
    pub(crate) loose: Regex,
    /// Bounded ("safe") forms used by ranges, indexed by loose.
    pub(crate) hyphen_range: [Regex; 2],
    pub(crate) comparator_trim: Regex,
    pub(crate) tilde_trim: Regex,
    pub(crate) caret_trim: Regex,
    pub(crate) tilde: [Regex; 2],
    pub(crate) caret: [Regex; 2],
    pub(crate) xrange: [Regex; 2],
    pub(crate) comparator: [Regex; 2],
    pub(crate) build: Regex,
    pub(crate) star: Regex,
    pub(crate) gte0: Regex,
    pub(crate) gte0_pre: Regex,
}

/// node-semver's "safe" regular expressions bound `\s*` and `\s+` to one character (the range
/// was already reduced to single spaces, so nothing changes) and bound digit and identifier runs
/// to fight JavaScript's backtracking. Rust's engine runs in linear time, so only the whitespace
/// bound is kept: current node-semver accepts build identifiers past those bounds too.
fn safe(src: &str) -> String {
    ascii_digits(&src.replace(r"\s*", r"\s{0,1}").replace(r"\s+", r"\s{1,1}"))
}

fn ascii_digits(src: &str) -> String {
    src.replace(r"\d", "[0-9]")
}

fn compile(src: &str) -> Regex {
    match regex::RegexBuilder::new(src).size_limit(64 << 20).build() {
        Ok(re) => re,
        // The sources are constants of this module; the unit test `patterns_compile` proves
        // they compile, so this cannot be reached with any input.
        Err(e) => unreachable!("node-semver pattern does not compile: {e}"),
    }
}

/// The compiled patterns.
pub(crate) fn patterns() -> &'static Patterns {
    static P: LazyLock<Patterns> = LazyLock::new(build_patterns);
    &P
}

fn build_patterns() -> Patterns {
    let ldn = "[a-zA-Z0-9-]";
    let num_id = r"0|[1-9]\d*";
    let num_id_loose = r"\d+";
    let non_num_id = format!(r"\d*[a-zA-Z-]{ldn}*");
    let main = format!(r"({num_id})\.({num_id})\.({num_id})");
    let main_loose = format!(r"({num_id_loose})\.({num_id_loose})\.({num_id_loose})");
    let pre_id = format!("(?:{non_num_id}|{num_id})");
    let pre_id_loose = format!("(?:{non_num_id}|{num_id_loose})");
    let pre = format!(r"(?:-({pre_id}(?:\.{pre_id})*))");
    let pre_loose = format!(r"(?:-?({pre_id_loose}(?:\.{pre_id_loose})*))");
    let build_id = format!("{ldn}+");
    let build = format!(r"(?:\+({build_id}(?:\.{build_id})*))");
    let full_plain = format!("v?{main}{pre}?{build}?");
    let loose_plain = format!(r"[v=\s]*{main_loose}{pre_loose}?{build}?");
    let gtlt = "((?:<|>)?=?)";
    let xr_id_loose = format!(r"{num_id_loose}|x|X|\*");
    let xr_id = format!(r"{num_id}|x|X|\*");
    let xr_plain = format!(r"[v=\s]*({xr_id})(?:\.({xr_id})(?:\.({xr_id})(?:{pre})?{build}?)?)?");
    let xr_plain_loose = format!(
        r"[v=\s]*({xr_id_loose})(?:\.({xr_id_loose})(?:\.({xr_id_loose})(?:{pre_loose})?{build}?)?)?"
    );
    let lone_tilde = "(?:~>?)";
    let lone_caret = r"(?:\^)";
    let both = |f: &dyn Fn(&str) -> String| {
        [
            compile(&safe(&f(&xr_plain))),
            compile(&safe(&f(&xr_plain_loose))),
        ]
    };
    Patterns {
        full: compile(&ascii_digits(&format!("^{full_plain}$"))),
        loose: compile(&ascii_digits(&format!("^{loose_plain}$"))),
        hyphen_range: both(&|x| format!(r"^\s*({x})\s+-\s+({x})\s*$")),
        comparator_trim: compile(&safe(&format!(r"(\s*){gtlt}\s*({loose_plain}|{xr_plain})"))),
        tilde_trim: compile(&safe(&format!(r"(\s*){lone_tilde}\s+"))),
        caret_trim: compile(&safe(&format!(r"(\s*){lone_caret}\s+"))),
        tilde: both(&|x| format!("^{lone_tilde}{x}$")),
        caret: both(&|x| format!("^{lone_caret}{x}$")),
        xrange: both(&|x| format!(r"^{gtlt}\s*{x}$")),
        comparator: [
            compile(&safe(&format!(r"^{gtlt}\s*({full_plain})$|^$"))),
            compile(&safe(&format!(r"^{gtlt}\s*({loose_plain})$|^$"))),
        ],
        build: compile(&safe(&build)),
        star: compile(&safe(r"(<|>)?=?\s*\*")),
        gte0: compile(&safe(r"^\s*>=\s*0\.0\.0\s*$")),
        gte0_pre: compile(&safe(r"^\s*>=\s*0\.0\.0-0\s*$")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_compile() {
        let p = patterns();
        assert!(p.full.is_match("1.2.3-beta.1+build"));
        assert!(p.xrange[1].is_match(">=1.x"));
    }

    #[test]
    fn strict_and_loose() {
        assert!(Version::parse("v1.2.3").is_ok());
        assert!(Version::parse("=1.2.3").is_err());
        assert_eq!(
            Version::parse_loose("= v 01.2.3beta").unwrap().to_string(),
            "1.2.3-beta"
        );
        assert!(Version::parse("9007199254740992.0.0").is_err());
        assert!(Version::parse(&"1".repeat(300)).is_err());
    }

    #[test]
    fn order() {
        let v = |s| Version::parse(s).unwrap();
        assert!(v("1.2.3-a.10") > v("1.2.3-a.5"));
        assert!(v("1.2.3-a.b") > v("1.2.3-a.5"));
        assert!(v("1.2.3-5-foo") > v("1.2.3-5-Foo"));
        assert_eq!(v("1.2.3+a"), v("1.2.3+b"));
    }
}
