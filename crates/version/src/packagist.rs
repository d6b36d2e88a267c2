//! PHP Composer (Packagist) versions, ordered like PHP's `version_compare` after the
//! normalisation OSV tooling applies.
//!
//! A leading `v` is dropped, every other character that is not a letter or digit (`-`, `_`, `+`
//! ...) becomes `.`, and a `.` is inserted wherever digits
//! meet other characters (`1.0rc1` is `1.0.rc.1`). Parts then compare in turn: numbers as
//! numbers; words by their special meaning `dev < alpha = a < beta = b < RC = rc < (number) <
//! pl = p` (matched by prefix; any other word ranks with `dev`); a number against a word as the
//! number marker `#`. When one version has more parts, a further number makes it newer and a
//! further word is weighed against `#` (so `1.0-dev < 1.0 < 1.0pl1`).

use std::cmp::Ordering;

use crate::num::Num;
use crate::{Result, VersionError};

const ECO: &str = "packagist";

/// A parsed Composer version.
#[derive(Clone, Debug)]
pub struct Version {
    original: String,
    parts: Vec<String>,
}

fn canonicalize(v: &str) -> String {
    let v = v.strip_prefix('v').unwrap_or(v);
    let v = v.strip_prefix('V').unwrap_or(v);
    let mut out = String::with_capacity(v.len() + 4);
    let mut prev: Option<char> = None;
    for c in v.chars() {
        // As PHP's canonicalisation: every character that is neither a letter nor a digit
        // separates parts. Kept as a part, `#` would be the number marker itself and equal
        // every number (`#0 = 01.0 < 05 < #0`, a cycle `fuzz/` found).
        let c = if c.is_ascii_alphanumeric() { c } else { '.' };
        if let Some(p) = prev {
            let boundary = (p.is_ascii_digit() && c != '.' && !c.is_ascii_digit())
                || (c.is_ascii_digit() && p != '.' && !p.is_ascii_digit());
            if boundary {
                out.push('.');
            }
        }
        out.push(c);
        prev = Some(c);
    }
    out
}

fn special_weight(s: &str) -> u8 {
    if s.starts_with("RC") {
        return 3;
    }
    const SPECIALS: [(&str, u8); 6] = [
        ("dev", 0),
        ("a", 1),
        ("b", 2),
        ("rc", 3),
        ("#", 4),
        ("p", 5),
    ];
    SPECIALS
        .iter()
        .find(|(p, _)| s.starts_with(p))
        .map_or(0, |&(_, w)| w)
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn cmp_parts(a: &[&str], b: &[&str]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let ord = match (is_number(x), is_number(y)) {
            (true, true) => Num::parse(x).cmp(&Num::parse(y)),
            (false, false) => special_weight(x).cmp(&special_weight(y)),
            (true, false) => special_weight("#").cmp(&special_weight(y)),
            (false, true) => special_weight(x).cmp(&special_weight("#")),
        };
        if ord.is_ne() {
            return ord;
        }
    }
    match a.len().cmp(&b.len()) {
        Ordering::Greater => {
            if is_number(a[b.len()]) {
                Ordering::Greater
            } else {
                cmp_parts(&a[b.len()..], &["#"])
            }
        }
        Ordering::Less => {
            if is_number(b[a.len()]) {
                Ordering::Less
            } else {
                cmp_parts(&["#"], &b[a.len()..])
            }
        }
        Ordering::Equal => Ordering::Equal,
    }
}

impl Version {
    /// Normalises a version; only empty strings and whitespace are rejected.
    pub fn parse(input: &str) -> Result<Self> {
        if input.is_empty() {
            return Err(VersionError::invalid(ECO, input, "version string is empty"));
        }
        if let Some(c) = input.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(VersionError::invalid(ECO, input, format!("contains {c:?}")));
        }
        // Separators in a row, or at either end, make no empty part.
        let parts = canonicalize(input)
            .split('.')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        Ok(Version {
            original: input.to_string(),
            parts,
        })
    }

    /// The normalised parts.
    pub fn parts(&self) -> &[String] {
        &self.parts
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let a: Vec<&str> = self.parts.iter().map(String::as_str).collect();
        let b: Vec<&str> = other.parts.iter().map(String::as_str).collect();
        cmp_parts(&a, &b)
    }
}

ordered_by_cmp!(Version, parse, shown as written);

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        crate::cmp_as::<Version>(a, b)
    }

    /// Found by `fuzz/` (target `version`): a `#` kept as a part made a cycle.
    #[test]
    fn punctuation_separates_parts_and_the_order_is_transitive() {
        assert_eq!(cmp("#0", "0"), Ordering::Equal);
        assert_eq!(cmp("01.0", "05"), Ordering::Less);
        assert_eq!(cmp("#0", "05"), Ordering::Less);
        assert_eq!(cmp("1.0~1", "1.0.1"), Ordering::Equal);
    }

    #[test]
    fn special_forms() {
        let chain = ["1.0-dev", "1.0a1", "1.0b1", "1.0RC1", "1.0", "1.0pl1"];
        for w in chain.windows(2) {
            assert_eq!(cmp(w[0], w[1]), Ordering::Less, "{} < {}", w[0], w[1]);
        }
        assert_eq!(cmp("v1.0.0", "1.0.0"), Ordering::Equal);
        assert_eq!(canonicalize("1.0rc1-beta_2"), "1.0.rc.1.beta.2");
    }
}
