//! Debian (and Ubuntu) package versions, ordered as `dpkg --compare-versions` does.
//!
//! A version is `[epoch:]upstream_version[-debian_revision]` (deb-version(7)). The epoch is
//! compared as a number; upstream and revision are compared by dpkg's `verrevcmp`: alternating
//! runs of non-digits and digits, where in the non-digit runs `~` sorts before everything (even
//! the end of the string), then the end, then letters, then all other characters; digit runs
//! compare as integers. A missing revision compares like `0`.

use std::cmp::Ordering;
use std::fmt;

use crate::num::Num;
use crate::{Result, VersionError};

const ECO: &str = "debian";

/// A parsed dpkg version.
#[derive(Clone, Debug)]
pub struct Version {
    epoch: Num,
    upstream: String,
    revision: String,
}

impl Version {
    /// Parses a version the way dpkg's `parseversion` does, rejecting what dpkg reports as
    /// bad syntax (empty parts, an upstream that does not start with a digit, characters
    /// outside `[A-Za-z0-9.+~-:]`).
    pub fn parse(input: &str) -> Result<Self> {
        let err = |reason: &str| VersionError::invalid(ECO, input, reason);
        let s = input.trim();
        if s.is_empty() {
            return Err(err("version string is empty"));
        }
        if s.chars().any(char::is_whitespace) {
            return Err(err("version string has embedded spaces"));
        }
        let (epoch, rest) = match s.split_once(':') {
            Some((e, rest)) => {
                if e.is_empty() {
                    return Err(err("epoch in version is empty"));
                }
                let epoch = Num::parse(e).ok_or_else(|| err("epoch in version is not number"))?;
                // dpkg keeps the epoch in an int.
                if epoch.to_u64().is_none_or(|n| n > i32::MAX as u64) {
                    return Err(err("epoch in version is too big"));
                }
                (epoch, rest)
            }
            None => (Num::zero(), s),
        };
        let (upstream, revision) = match rest.rsplit_once('-') {
            Some((u, r)) => {
                if r.is_empty() {
                    return Err(err("revision number is empty"));
                }
                (u, r)
            }
            None => (rest, ""),
        };
        if upstream.is_empty() {
            return Err(err("version number is empty"));
        }
        if !upstream.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(err("version number does not start with digit"));
        }
        if let Some(c) = upstream
            .chars()
            .find(|&c| !c.is_ascii_alphanumeric() && !".-+~:".contains(c))
        {
            return Err(err(&format!("invalid character {c:?} in version number")));
        }
        if let Some(c) = revision
            .chars()
            .find(|&c| !c.is_ascii_alphanumeric() && !".+~".contains(c))
        {
            return Err(err(&format!("invalid character {c:?} in revision number")));
        }
        Ok(Version {
            epoch,
            upstream: upstream.to_string(),
            revision: revision.to_string(),
        })
    }

    /// The epoch (0 when absent).
    pub fn epoch(&self) -> &Num {
        &self.epoch
    }

    /// The upstream version.
    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    /// The Debian revision (empty when absent).
    pub fn revision(&self) -> &str {
        &self.revision
    }
}

/// The weight of one character in a non-digit run; `None` is the end of the run.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp` on one part (upstream or revision).
pub fn compare_part(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let non_digit = |s: &[u8], k: usize| k < s.len() && !s[k].is_ascii_digit();
    while i < a.len() || j < b.len() {
        while non_digit(a, i) || non_digit(b, j) {
            let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        let start_a = i;
        while i < a.len() && a[i].is_ascii_digit() {
            i += 1;
        }
        let start_b = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let (da, db) = (&a[start_a..i], &b[start_b..j]);
        // Both runs are ASCII digits, so the conversions cannot fail.
        let ord = crate::num::cmp_digits(
            std::str::from_utf8(da).unwrap_or("0"),
            std::str::from_utf8(db).unwrap_or("0"),
        );
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| compare_part(&self.upstream, &other.upstream))
            .then_with(|| compare_part(&self.revision, &other.revision))
    }
}

ordered_by_cmp!(Version, parse);

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.epoch.is_zero() {
            write!(f, "{}:", self.epoch)?;
        }
        f.write_str(&self.upstream)?;
        if !self.revision.is_empty() {
            write!(f, "-{}", self.revision)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        Version::parse(a).unwrap().cmp(&Version::parse(b).unwrap())
    }

    #[test]
    fn tilde_sorts_before_end_and_letters_before_symbols() {
        assert_eq!(cmp("1.0~rc1", "1.0"), Ordering::Less);
        assert_eq!(cmp("1.0~~", "1.0~"), Ordering::Less);
        assert_eq!(cmp("1.0a", "1.0+"), Ordering::Less);
        assert_eq!(cmp("1.0", "1.0a"), Ordering::Less);
        assert_eq!(cmp("1:0.1", "9.9"), Ordering::Greater);
        assert_eq!(cmp("1.0", "1.0-0"), Ordering::Equal);
    }

    #[test]
    fn rejects_dpkg_bad_syntax() {
        for bad in [
            "",
            "a1",
            "1:",
            ":1",
            "x:1",
            "1.0-",
            "1.0 1",
            "1_0",
            "1.0-a_b",
            "99999999999:1",
        ] {
            assert!(Version::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert_eq!(Version::parse("1:2.3-4").unwrap().to_string(), "1:2.3-4");
    }
}
