//! Python package versions (PEP 440), parsed, normalised and ordered as `packaging` does.
//!
//! `[N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local]`, with the spellings PEP 440 accepts and
//! normalises (`alpha`, `c`, `pre`, `preview`, `rev`, `r`, `-N` as an implicit post release,
//! `_`/`-`/`.` separators, any case, a leading `v`, missing numbers meaning 0). Ordering: epoch,
//! release (trailing zeros do not count), then a `.devN` without pre or post release sorts before
//! every pre-release, pre-releases before the final release, post releases after it, a dev
//! release before its non-dev counterpart, and a local version after the public one (local
//! segments: strings before numbers).
//!
//! Strings outside PEP 440 are rejected by [`Version::parse`]. Older `packaging` (before 22) and
//! the tools built on it accepted them as "legacy versions" that sort before every PEP 440
//! version; [`LegacyVersion`], [`AnyVersion`] and [`compare_with_legacy`] reproduce that for
//! callers that must order such versions the way OSV data was generated.

use std::cmp::Ordering;
use std::fmt;

use crate::num::Num;
use crate::{Result, VersionError};

const ECO: &str = "pypi";

/// The kind of a pre-release, in sort order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PreKind {
    /// `aN` (also spelled `alpha`).
    Alpha,
    /// `bN` (also spelled `beta`).
    Beta,
    /// `rcN` (also spelled `c`, `pre`, `preview`).
    Rc,
}

impl PreKind {
    /// The normalised spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PreKind::Alpha => "a",
            PreKind::Beta => "b",
            PreKind::Rc => "rc",
        }
    }
}

/// One dot-separated part of a local version label.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LocalSegment {
    /// All digits: compares as a number, after every string.
    Number(Num),
    /// Anything else, lowercased: compares as a string.
    Text(String),
}

impl Ord for LocalSegment {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (LocalSegment::Number(a), LocalSegment::Number(b)) => a.cmp(b),
            (LocalSegment::Text(a), LocalSegment::Text(b)) => a.cmp(b),
            (LocalSegment::Text(_), LocalSegment::Number(_)) => Ordering::Less,
            (LocalSegment::Number(_), LocalSegment::Text(_)) => Ordering::Greater,
        }
    }
}

impl PartialOrd for LocalSegment {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for LocalSegment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocalSegment::Number(n) => write!(f, "{n}"),
            LocalSegment::Text(s) => f.write_str(s),
        }
    }
}

/// A PEP 440 version.
#[derive(Clone, Debug)]
pub struct Version {
    epoch: Num,
    release: Vec<Num>,
    pre: Option<(PreKind, Num)>,
    post: Option<Num>,
    dev: Option<Num>,
    local: Option<Vec<LocalSegment>>,
}

/// A cursor over the lowercased version string.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }
    fn eat(&mut self, prefix: &str) -> bool {
        if self.rest().starts_with(prefix) {
            self.pos += prefix.len();
            true
        } else {
            false
        }
    }
    fn eat_separator(&mut self) -> bool {
        if matches!(self.peek(), Some(b'-' | b'_' | b'.')) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn digits(&mut self) -> Option<Num> {
        let n = self.rest().bytes().take_while(u8::is_ascii_digit).count();
        let num = Num::parse(&self.rest()[..n]);
        self.pos += n;
        num
    }
    /// The first of `labels` found here (the order gives the preference, as in PEP 440's regex).
    fn label<T: Copy>(&mut self, labels: &[(&str, T)]) -> Option<T> {
        labels
            .iter()
            .find(|(name, _)| self.rest().starts_with(name))
            .map(|&(name, value)| {
                self.pos += name.len();
                value
            })
    }
}

const PRE_LABELS: [(&str, PreKind); 8] = [
    ("alpha", PreKind::Alpha),
    ("a", PreKind::Alpha),
    ("beta", PreKind::Beta),
    ("b", PreKind::Beta),
    ("preview", PreKind::Rc),
    ("pre", PreKind::Rc),
    ("c", PreKind::Rc),
    ("rc", PreKind::Rc),
];

impl Version {
    /// Parses and normalises a PEP 440 version; anything else is an error saying what is wrong.
    pub fn parse(input: &str) -> Result<Self> {
        let err = |reason: String| VersionError::invalid(ECO, input, reason);
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(err("version string is empty".to_string()));
        }
        if let Some(c) = trimmed.chars().find(|c| !c.is_ascii()) {
            return Err(err(format!("non-ASCII character {c:?}")));
        }
        let lower = trimmed.to_ascii_lowercase();
        let mut c = Cursor { s: &lower, pos: 0 };
        c.eat("v");
        let start = c.pos;
        let mut epoch = Num::zero();
        if let Some(e) = c.digits() {
            if c.eat("!") {
                epoch = e;
            } else {
                c.pos = start;
            }
        }
        let mut release = Vec::new();
        match c.digits() {
            Some(n) => release.push(n),
            None => {
                return Err(err(
                    "the release segment must start with a number".to_string()
                ));
            }
        }
        while c.rest().starts_with('.')
            && c.rest().as_bytes().get(1).is_some_and(u8::is_ascii_digit)
        {
            c.pos += 1;
            if let Some(n) = c.digits() {
                release.push(n);
            }
        }

        let save = c.pos;
        c.eat_separator();
        let pre = match c.label(&PRE_LABELS) {
            Some(kind) => {
                c.eat_separator();
                Some((kind, c.digits().unwrap_or_else(Num::zero)))
            }
            None => {
                c.pos = save;
                None
            }
        };

        let save = c.pos;
        let post = if c.rest().starts_with('-')
            && c.rest().as_bytes().get(1).is_some_and(u8::is_ascii_digit)
        {
            c.pos += 1;
            c.digits()
        } else {
            c.eat_separator();
            match c.label(&[("post", ()), ("rev", ()), ("r", ())]) {
                Some(()) => {
                    c.eat_separator();
                    Some(c.digits().unwrap_or_else(Num::zero))
                }
                None => {
                    c.pos = save;
                    None
                }
            }
        };

        let save = c.pos;
        c.eat_separator();
        let dev = if c.eat("dev") {
            c.eat_separator();
            Some(c.digits().unwrap_or_else(Num::zero))
        } else {
            c.pos = save;
            None
        };

        let local = if c.eat("+") {
            let label = c.rest();
            if label.is_empty() {
                return Err(err("local segment is empty".to_string()));
            }
            let mut segments = Vec::new();
            for part in label.split(['.', '-', '_']) {
                if part.is_empty() {
                    return Err(err(format!("local segment {label:?} has an empty part")));
                }
                if let Some(bad) = part.chars().find(|ch| !ch.is_ascii_alphanumeric()) {
                    return Err(err(format!(
                        "invalid character {bad:?} in local segment {label:?}"
                    )));
                }
                segments.push(match Num::parse(part) {
                    Some(n) => LocalSegment::Number(n),
                    None => LocalSegment::Text(part.to_string()),
                });
            }
            c.pos = c.s.len();
            Some(segments)
        } else {
            None
        };

        if !c.rest().is_empty() {
            return Err(err(format!(
                "unexpected {:?} after {:?}",
                c.rest(),
                &lower[..c.pos]
            )));
        }
        Ok(Version {
            epoch,
            release,
            pre,
            post,
            dev,
            local,
        })
    }

    /// The epoch (0 when absent).
    pub fn epoch(&self) -> &Num {
        &self.epoch
    }
    /// The release numbers as written (trailing zeros kept).
    pub fn release(&self) -> &[Num] {
        &self.release
    }
    /// The pre-release, if any.
    pub fn pre(&self) -> Option<(PreKind, &Num)> {
        self.pre.as_ref().map(|(k, n)| (*k, n))
    }
    /// The post-release number, if any.
    pub fn post(&self) -> Option<&Num> {
        self.post.as_ref()
    }
    /// The dev-release number, if any.
    pub fn dev(&self) -> Option<&Num> {
        self.dev.as_ref()
    }
    /// The normalised local label, if any.
    pub fn local(&self) -> Option<String> {
        self.local.as_ref().map(|segs| {
            segs.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(".")
        })
    }
    /// True for pre-releases and dev releases.
    pub fn is_prerelease(&self) -> bool {
        self.pre.is_some() || self.dev.is_some()
    }
    /// True for post releases.
    pub fn is_postrelease(&self) -> bool {
        self.post.is_some()
    }
    /// True for dev releases.
    pub fn is_devrelease(&self) -> bool {
        self.dev.is_some()
    }
    /// The normalised version without its local label.
    pub fn public(&self) -> String {
        let s = self.to_string();
        match s.split_once('+') {
            Some((public, _)) => public.to_string(),
            None => s,
        }
    }
    /// Epoch and release only, normalised (`1!2.0` for `1!2.0rc1.post3+x`).
    pub fn base_version(&self) -> String {
        let mut s = String::new();
        if !self.epoch.is_zero() {
            s.push_str(&format!("{}!", self.epoch));
        }
        s.push_str(
            &self
                .release
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("."),
        );
        s
    }

    fn release_cmp(&self, other: &Self) -> Ordering {
        let zero = Num::zero();
        for i in 0..self.release.len().max(other.release.len()) {
            let ord = self
                .release
                .get(i)
                .unwrap_or(&zero)
                .cmp(other.release.get(i).unwrap_or(&zero));
            if ord != Ordering::Equal {
                return ord;
            }
        }
        Ordering::Equal
    }

    /// Pre-release key: a bare dev release sorts before all pre-releases, no pre-release after.
    fn pre_key(&self) -> (u8, Option<&(PreKind, Num)>) {
        match (&self.pre, &self.post, &self.dev) {
            (None, None, Some(_)) => (0, None),
            (None, _, _) => (2, None),
            (Some(p), _, _) => (1, Some(p)),
        }
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| self.release_cmp(other))
            .then_with(|| self.pre_key().cmp(&other.pre_key()))
            .then_with(|| self.post.cmp(&other.post))
            // No dev release sorts after any dev release.
            .then_with(|| match (&self.dev, &other.dev) {
                (Some(a), Some(b)) => a.cmp(b),
                (a, b) => b.is_some().cmp(&a.is_some()),
            })
            .then_with(|| self.local.cmp(&other.local))
    }
}

ordered_by_cmp!(Version, parse);

impl fmt::Display for Version {
    /// The normalised form (`1.0-A.1` is `1.0a1`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base_version())?;
        if let Some((kind, n)) = &self.pre {
            write!(f, "{}{n}", kind.as_str())?;
        }
        if let Some(n) = &self.post {
            write!(f, ".post{n}")?;
        }
        if let Some(n) = &self.dev {
            write!(f, ".dev{n}")?;
        }
        if let Some(local) = self.local() {
            write!(f, "+{local}")?;
        }
        Ok(())
    }
}

/// A version string that is not PEP 440, ordered as `packaging`'s `LegacyVersion` (before 22.0)
/// did, after setuptools' old `parse_version`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LegacyVersion {
    key: Vec<String>,
}

impl LegacyVersion {
    /// Builds the legacy sort key; any string is accepted.
    pub fn new(input: &str) -> Self {
        let lower = input.to_lowercase();
        let mut parts: Vec<String> = Vec::new();
        for raw in legacy_split(&lower) {
            let part = match raw {
                "pre" | "preview" | "rc" => "c",
                "-" => "final-",
                "dev" => "@",
                other => other,
            };
            if part.is_empty() || part == "." {
                continue;
            }
            let part = if part.starts_with(|c: char| c.is_ascii_digit()) {
                format!("{part:0>8}")
            } else {
                format!("*{part}")
            };
            if part.starts_with('*') {
                if part.as_str() < "*final" {
                    while parts.last().is_some_and(|p| p == "*final-") {
                        parts.pop();
                    }
                }
                while parts.last().is_some_and(|p| p == "00000000") {
                    parts.pop();
                }
            }
            parts.push(part);
        }
        while parts.last().is_some_and(|p| p == "00000000") {
            parts.pop();
        }
        parts.push("*final".to_string());
        LegacyVersion { key: parts }
    }

    /// The sort key (for diagnostics).
    pub fn key(&self) -> &[String] {
        &self.key
    }
}

/// Splits like `re.split(r"(\d+|[a-z]+|\.|-)", s)`: the matched runs and the text between them.
fn legacy_split(s: &str) -> Vec<&str> {
    #[derive(PartialEq, Clone, Copy)]
    enum Class {
        Digit,
        Alpha,
        Single,
        Other,
    }
    let class = |c: char| match c {
        '0'..='9' => Class::Digit,
        'a'..='z' => Class::Alpha,
        '.' | '-' => Class::Single,
        _ => Class::Other,
    };
    let mut out = Vec::new();
    let mut start = 0;
    let mut prev: Option<Class> = None;
    for (i, ch) in s.char_indices() {
        let cl = class(ch);
        let boundary = match prev {
            None => false,
            Some(p) => p != cl || cl == Class::Single,
        };
        if boundary {
            out.push(&s[start..i]);
            start = i;
        }
        prev = Some(cl);
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// A PyPI version as pre-22 `packaging` saw it: PEP 440 when it parses, legacy otherwise.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AnyVersion {
    /// Not PEP 440: sorts before every PEP 440 version.
    Legacy(LegacyVersion),
    /// A PEP 440 version.
    Pep440(Version),
}

impl AnyVersion {
    /// Parses as PEP 440, falling back to a legacy version.
    pub fn parse(input: &str) -> Self {
        match Version::parse(input) {
            Ok(v) => AnyVersion::Pep440(v),
            Err(_) => AnyVersion::Legacy(LegacyVersion::new(input)),
        }
    }
}

/// Orders two PyPI versions accepting non-PEP 440 strings as legacy versions, as OSV's PyPI
/// data (generated with `packaging` before 22) does. Prefer [`crate::compare`], which rejects them.
pub fn compare_with_legacy(a: &str, b: &str) -> Ordering {
    AnyVersion::parse(a).cmp(&AnyVersion::parse(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn normalises() {
        assert_eq!(v("1.0-ALPHA.1").to_string(), "1.0a1");
        assert_eq!(v("v1!2.0.POST-3.dev").to_string(), "1!2.0.post3.dev0");
        assert_eq!(v("1.0-5").to_string(), "1.0.post5");
        assert_eq!(v("1.0+Ubuntu-007").to_string(), "1.0+ubuntu.7");
    }

    #[test]
    fn orders_dev_pre_final_post_local() {
        let order = [
            "1.0.dev1",
            "1.0a1.dev1",
            "1.0a1",
            "1.0rc1",
            "1.0",
            "1.0+a",
            "1.0+1",
            "1.0.post1.dev1",
            "1.0.post1",
        ];
        for w in order.windows(2) {
            assert!(v(w[0]) < v(w[1]), "{} < {}", w[0], w[1]);
        }
        assert_eq!(v("1.0"), v("1.0.0"));
    }

    #[test]
    fn rejects_with_reason() {
        let e = Version::parse("1.0+").unwrap_err().to_string();
        assert!(e.contains("local segment is empty"), "{e}");
        assert!(Version::parse("1.0+a..b").is_err());
        assert!(Version::parse("1..0").is_err());
        assert!(Version::parse("french toast").is_err());
    }

    #[test]
    fn legacy_sorts_before_pep440() {
        assert_eq!(
            compare_with_legacy("0.1-bulbasaur", "0.0.1"),
            Ordering::Less
        );
        assert_eq!(
            compare_with_legacy("0.1-bulbasaur", "0.1-charmander"),
            Ordering::Less
        );
        assert_eq!(legacy_split("1.0-a_b"), ["1", ".", "0", "-", "a", "_", "b"]);
    }
}
