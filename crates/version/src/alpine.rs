//! Alpine (apk) package versions, ordered as apk-tools does.
//!
//! The grammar (apk-package(5)) is `number{.number}...{letter}{_suffix{number}}...{~hash}{-rN}`:
//! dot-separated numbers, at most one lowercase letter, any number of suffixes among
//! `_alpha < _beta < _pre < _rc < (none) < _cvs < _svn < _git < _hg < _p`, an optional commit
//! hash `~HEX` and the package revision `-rN`. A hash counts after the suffixes and before the
//! revision: two hashes compare as text, and a version with one is newer than the same version
//! without (`1.0~abc > 1.0-r5`), as apk-tools orders its token classes.
//!
//! Numbers compare as integers, except that a component after the first one with a leading zero
//! compares as a string (apk reads `1.02` as a decimal fraction, so `1.02 < 1.1`). A missing
//! letter sorts before any letter, a missing suffix sits between `_rc` and `_cvs`.
//!
//! `apk version -t` also orders strings outside the grammar, and real databases contain some: a
//! version with trailing text that is not a revision is kept as "invalid", the parts that could
//! be read are compared, and the unread rest makes a version older (two invalid versions that
//! read the same compare as written). apk-tools compares two invalid versions as whole strings instead, which is not an
//! order: `1l < 10.b0 < 1c03a8 < 1l` (a cycle `fuzz/` found). Sorting by such a comparison may
//! panic and makes range evaluation depend on the order events were written in, so here the
//! readable parts decide first for every pair. [`Version::check_grammar`] tells whether a
//! version follows the grammar.

use std::cmp::Ordering;

use crate::num::Num;
use crate::{Result, VersionError};

const ECO: &str = "alpine";

/// The known suffixes, in their sort order; `None` (no suffix) goes between `Rc` and `Cvs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Suffix {
    /// `_alpha`
    Alpha,
    /// `_beta`
    Beta,
    /// `_pre`
    Pre,
    /// `_rc`
    Rc,
    /// No suffix at this position.
    None,
    /// `_cvs`
    Cvs,
    /// `_svn`
    Svn,
    /// `_git`
    Git,
    /// `_hg`
    Hg,
    /// `_p` (patch level)
    P,
}

/// The suffix names, longest first where one is a prefix of another (`pre` before `p`).
const SUFFIXES: [(&str, Suffix); 9] = [
    ("alpha", Suffix::Alpha),
    ("beta", Suffix::Beta),
    ("pre", Suffix::Pre),
    ("rc", Suffix::Rc),
    ("cvs", Suffix::Cvs),
    ("svn", Suffix::Svn),
    ("git", Suffix::Git),
    ("hg", Suffix::Hg),
    ("p", Suffix::P),
];

#[derive(Clone, Debug)]
struct Number {
    digits: String,
    value: Num,
    first: bool,
}

/// A parsed apk version.
#[derive(Clone, Debug)]
pub struct Version {
    original: String,
    numbers: Vec<Number>,
    trailing_dot: bool,
    letter: Option<u8>,
    suffixes: Vec<(Suffix, Num)>,
    hash: Option<String>,
    revision: Option<Num>,
    empty_revision: bool,
    rest: String,
    invalid: bool,
}

fn take_digits(s: &str) -> (&str, &str) {
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    s.split_at(n)
}

impl Version {
    /// Reads as much of the apk grammar as the string follows. Only empty strings and
    /// whitespace are rejected, since `apk version -t` orders anything else.
    pub fn parse(input: &str) -> Result<Self> {
        if input.is_empty() {
            return Err(VersionError::invalid(ECO, input, "version string is empty"));
        }
        if let Some(c) = input.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(VersionError::invalid(ECO, input, format!("contains {c:?}")));
        }
        let mut v = Version {
            original: input.to_string(),
            numbers: Vec::new(),
            trailing_dot: false,
            letter: None,
            suffixes: Vec::new(),
            hash: None,
            revision: None,
            empty_revision: false,
            rest: String::new(),
            invalid: false,
        };
        let mut s = input;
        loop {
            let (digits, after) = take_digits(s);
            if digits.is_empty() {
                break;
            }
            v.numbers.push(Number {
                digits: digits.to_string(),
                value: Num::parse(digits).unwrap_or_else(Num::zero),
                first: v.numbers.is_empty(),
            });
            s = after;
            v.trailing_dot = false;
            match s.strip_prefix('.') {
                Some(after_dot) => {
                    s = after_dot;
                    v.trailing_dot = true;
                }
                None => break,
            }
        }
        if let Some(&c) = s.as_bytes().first().filter(|c| c.is_ascii_lowercase()) {
            v.letter = Some(c);
            s = &s[1..];
        }
        'suffixes: while let Some(after) = s.strip_prefix('_') {
            for (name, kind) in SUFFIXES {
                if let Some(after_name) = after.strip_prefix(name) {
                    let (digits, after_num) = take_digits(after_name);
                    v.suffixes
                        .push((kind, Num::parse(digits).unwrap_or_else(Num::zero)));
                    s = after_num;
                    continue 'suffixes;
                }
            }
            break;
        }
        if let Some(after) = s.strip_prefix('~') {
            let n = after
                .bytes()
                .take_while(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
                .count();
            if n > 0 {
                v.hash = Some(after[..n].to_string());
                s = &after[n..];
            }
        }
        if !s.is_empty() {
            match s.strip_prefix("-r") {
                Some(after) => {
                    let (digits, after_num) = take_digits(after);
                    v.revision = Some(Num::parse(digits).unwrap_or_else(Num::zero));
                    v.empty_revision = digits.is_empty();
                    s = after_num;
                }
                None => v.invalid = true,
            }
        }
        v.rest = s.to_string();
        Ok(v)
    }

    /// Checks the version against apk's grammar, saying where it departs from it.
    pub fn check_grammar(&self) -> Result<()> {
        let err = |reason: String| Err(VersionError::invalid(ECO, &self.original, reason));
        if self.numbers.is_empty() {
            return err("does not start with a number".to_string());
        }
        if self.trailing_dot {
            return err("a '.' is not followed by a number".to_string());
        }
        if self.empty_revision {
            return err("revision '-r' has no number".to_string());
        }
        if !self.rest.is_empty() {
            return err(format!(
                "unexpected {:?} (expected a letter, _suffix, ~hash or -rN)",
                self.rest
            ));
        }
        Ok(())
    }

    /// The package revision (`-rN`), if given.
    pub fn revision(&self) -> Option<&Num> {
        self.revision.as_ref()
    }

    /// The commit hash (`~hash`), if given; it plays no part in the order.
    pub fn hash(&self) -> Option<&str> {
        self.hash.as_deref()
    }
}

fn cmp_numbers(a: Option<&Number>, b: Option<&Number>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => {
            if !a.first && !b.first && (a.digits.starts_with('0') || b.digits.starts_with('0')) {
                a.digits.cmp(&b.digits)
            } else {
                a.value.cmp(&b.value)
            }
        }
        (Some(a), None) => a.value.cmp(&Num::zero()),
        (None, Some(b)) => Num::zero().cmp(&b.value),
        (None, None) => Ordering::Equal,
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        for i in 0..self.numbers.len().max(other.numbers.len()) {
            let ord = cmp_numbers(self.numbers.get(i), other.numbers.get(i));
            if ord != Ordering::Equal {
                return ord;
            }
        }
        let ord = self.letter.cmp(&other.letter);
        if ord != Ordering::Equal {
            return ord;
        }
        let none = (Suffix::None, Num::zero());
        for i in 0..self.suffixes.len().max(other.suffixes.len()) {
            let ord = self
                .suffixes
                .get(i)
                .unwrap_or(&none)
                .cmp(other.suffixes.get(i).unwrap_or(&none));
            if ord != Ordering::Equal {
                return ord;
            }
        }
        let ord = match (&self.hash, &other.hash) {
            (Some(a), Some(b)) => a.cmp(b),
            (a, b) => a.is_some().cmp(&b.is_some()),
        };
        if ord != Ordering::Equal {
            return ord;
        }
        let zero = Num::zero();
        let ord = self
            .revision
            .as_ref()
            .unwrap_or(&zero)
            .cmp(other.revision.as_ref().unwrap_or(&zero));
        if ord != Ordering::Equal {
            return ord;
        }
        // Unreadable trailing text makes a version older, text that stopped the reading before
        // any revision more so; two such versions compare as written (`5.7.1p1-r0 <
        // 5.7.1p1-r1`), and text after a revision is ignored (`1-r0-1 = 1-r-2`), as apk orders
        // them.
        fn written(v: &Version) -> &str {
            if v.invalid { &v.original } else { "" }
        }
        self.rest
            .is_empty()
            .cmp(&other.rest.is_empty())
            .then_with(|| other.invalid.cmp(&self.invalid))
            .then_with(|| written(self).cmp(written(other)))
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
    fn suffix_order() {
        assert_eq!(cmp("1.2_rc1", "1.2"), Ordering::Less);
        assert_eq!(cmp("1.2_p1", "1.2"), Ordering::Greater);
        assert_eq!(cmp("1.2_cvs", "1.2"), Ordering::Greater);
        assert_eq!(cmp("1.2_svn2", "1.2_git1"), Ordering::Less);
        assert_eq!(cmp("1.2_pre1", "1.2_rc1"), Ordering::Less);
        assert_eq!(cmp("1.2-r1", "1.2"), Ordering::Greater);
        assert_eq!(cmp("1.02", "1.1"), Ordering::Less);
        assert_eq!(cmp("1.2a", "1.2"), Ordering::Greater);
    }

    /// The commit hash after `~`, as apk-tools orders it (checked against libsolv's apk
    /// comparison, which follows apk-tools' token classes).
    #[test]
    fn commit_hashes() {
        for (a, b, want) in [
            ("1.0~abc", "1.0", Ordering::Greater),
            ("1.0~abc", "1.0-r5", Ordering::Greater),
            ("1.0~abc-r0", "1.0~abc-r1", Ordering::Less),
            ("1.0~abc", "1.0~abd", Ordering::Less),
            ("1.0~abc", "1.0~abc", Ordering::Equal),
            ("1.0_p1", "1.0~abc", Ordering::Greater),
            ("1.0_rc1", "1.0~abc", Ordering::Less),
            ("1.0~abc", "1.0.1", Ordering::Less),
            // Not a hash: the rest is unreadable, so older.
            ("1.0~rc1", "1.0", Ordering::Less),
        ] {
            assert_eq!(cmp(a, b), want, "{a} {want:?} {b}");
        }
    }

    /// Found by `fuzz/` (target `version`): apk's rule for two invalid versions made a cycle.
    #[test]
    fn invalid_versions_are_ordered_transitively() {
        let (a, b, c) = ("1l", "10.b0", "1c03a8");
        assert_eq!(cmp(a, b), Ordering::Less);
        assert_eq!(cmp(c, b), Ordering::Less);
        assert_eq!(cmp(c, a), Ordering::Less);
        // Invalid is older than valid text after a revision; invalid ones compare as written.
        assert_eq!(cmp("1--ruff1", "1-ruff2"), Ordering::Less);
        assert_eq!(cmp("1--ruff1", "1--ruff3"), Ordering::Less);
        assert_eq!(cmp("1-ruff1", "1-ruff3"), Ordering::Equal);
    }

    #[test]
    fn grammar() {
        assert!(
            Version::parse("1.2.3_rc1~abc12-r3")
                .unwrap()
                .check_grammar()
                .is_ok()
        );
        for bad in ["a", "1.", "1.2A", "1-foo", "1.2_blah"] {
            assert!(
                Version::parse(bad).unwrap().check_grammar().is_err(),
                "{bad}"
            );
        }
        assert!(Version::parse("").is_err());
    }
}
