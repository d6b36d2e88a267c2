//! RPM package versions (`[epoch:]version[-release]`), ordered as rpm does.
//!
//! The epoch is the run of digits before a `:` (a `:` after anything else is part of the
//! version, as in rpm's own EVR parser), the release is what follows the last `-`. Epochs compare
//! as numbers; version and release by `rpmvercmp`: separators (anything but ASCII letters,
//! digits, `~` and `^`) only split segments, `~` sorts before everything, `^` sorts after the end
//! of the string but before anything else, digit segments beat letter segments and compare as
//! integers, letter segments compare as bytes, and the longer remainder wins.
//!
//! One deliberate difference from `rpm -q` style comparisons: a version without a release sorts
//! before the same version with any release (`1 < 1-0`), as OSV tooling does for Red Hat
//! advisories, rather than treating the missing release as "matches anything".

use std::cmp::Ordering;
use std::fmt;

use crate::num::{Num, cmp_digits};
use crate::{Result, VersionError};

const ECO: &str = "rpm";

/// A parsed RPM EVR.
#[derive(Clone, Debug)]
pub struct Version {
    epoch: Num,
    version: String,
    release: Option<String>,
}

impl Version {
    /// Splits an EVR string. rpm orders any string, so only empty input and whitespace (which
    /// cannot occur inside an RPM version) are rejected.
    pub fn parse(input: &str) -> Result<Self> {
        if input.is_empty() {
            return Err(VersionError::invalid(ECO, input, "version string is empty"));
        }
        if let Some(c) = input.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(VersionError::invalid(ECO, input, format!("contains {c:?}")));
        }
        let digits = input.bytes().take_while(u8::is_ascii_digit).count();
        let (epoch, rest) = if input[digits..].starts_with(':') {
            (
                Num::parse(&input[..digits]).unwrap_or_else(Num::zero),
                &input[digits + 1..],
            )
        } else {
            (Num::zero(), input)
        };
        let (version, release) = match rest.rsplit_once('-') {
            Some((v, r)) => (v, Some(r.to_string())),
            None => (rest, None),
        };
        Ok(Version {
            epoch,
            version: version.to_string(),
            release,
        })
    }

    /// The epoch (0 when absent).
    pub fn epoch(&self) -> &Num {
        &self.epoch
    }

    /// The version part.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The release part, if the string had a `-`.
    pub fn release(&self) -> Option<&str> {
        self.release.as_deref()
    }
}

/// `rpmvercmp`: compares one version or release string.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let is_sep = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    loop {
        while i < a.len() && is_sep(a[i]) {
            i += 1;
        }
        while j < b.len() && is_sep(b[j]) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        let (Some(first), Some(_)) = (ca, cb) else {
            break;
        };
        let numeric = first.is_ascii_digit();
        let class = |c: &u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let seg_a = &a[i..i + a[i..].iter().take_while(|c| class(c)).count()];
        let seg_b = &b[j..j + b[j..].iter().take_while(|c| class(c)).count()];
        i += seg_a.len();
        j += seg_b.len();
        if seg_b.is_empty() {
            // Segments of different kinds: numbers are newer than letters.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let ord = if numeric {
            // Digit runs are ASCII, so the conversion cannot fail.
            cmp_digits(
                std::str::from_utf8(seg_a).unwrap_or("0"),
                std::str::from_utf8(seg_b).unwrap_or("0"),
            )
        } else {
            seg_a.cmp(seg_b)
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| rpmvercmp(&self.version, &other.version))
            .then_with(|| match (&self.release, &other.release) {
                (Some(a), Some(b)) => rpmvercmp(a, b),
                (a, b) => a.is_some().cmp(&b.is_some()),
            })
    }
}

ordered_by_cmp!(Version, parse);

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.epoch.is_zero() {
            write!(f, "{}:", self.epoch)?;
        }
        f.write_str(&self.version)?;
        if let Some(r) = &self.release {
            write!(f, "-{r}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpmvercmp_rules() {
        assert_eq!(rpmvercmp("1.0~rc1", "1.0"), Ordering::Less);
        assert_eq!(rpmvercmp("1.0^git1", "1.0"), Ordering::Greater);
        assert_eq!(rpmvercmp("1.0^git1", "1.0.1"), Ordering::Less);
        assert_eq!(rpmvercmp("1.0a", "1.0.1"), Ordering::Less);
        assert_eq!(rpmvercmp("10.0001", "10.1"), Ordering::Equal);
        assert_eq!(rpmvercmp("2_0", "2.0"), Ordering::Equal);
        assert_eq!(rpmvercmp("1.0", "1.0a"), Ordering::Less);
    }

    #[test]
    fn epoch_only_when_digits_precede_colon() {
        let v = Version::parse("2:1.0-3.el9").unwrap();
        assert_eq!(
            (v.epoch().as_str(), v.version(), v.release()),
            ("2", "1.0", Some("3.el9"))
        );
        let v = Version::parse("a:1").unwrap();
        assert_eq!((v.epoch().as_str(), v.version()), ("0", "a:1"));
        assert!(Version::parse("1").unwrap() < Version::parse("1-0").unwrap());
        assert!(Version::parse("").is_err());
    }
}
