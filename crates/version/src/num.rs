//! Unbounded decimal numbers for version components.
//!
//! Version strings in the wild carry numbers far past `u64` (dates with times, build counters,
//! the `999999999999999999999999999991` of the OSV fixtures). Every ecosystem here compares them
//! as mathematical integers, so they are kept as their digit strings without leading zeros and
//! ordered by length first, then digit by digit, which needs no arithmetic at all.

use std::cmp::Ordering;
use std::fmt;

/// A non-negative integer of any size, stored as its canonical decimal digits.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Num(String);

impl Num {
    /// Zero.
    pub fn zero() -> Self {
        Num("0".to_string())
    }

    /// Builds a number from ASCII digits; `None` when `digits` is empty or has another character.
    pub fn parse(digits: &str) -> Option<Self> {
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let trimmed = digits.trim_start_matches('0');
        Some(Num(if trimmed.is_empty() {
            "0".to_string()
        } else {
            trimmed.to_string()
        }))
    }

    /// True for zero.
    pub fn is_zero(&self) -> bool {
        self.0 == "0"
    }

    /// The canonical digits (no leading zeros, `"0"` for zero).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value as `u64`, if it fits.
    pub fn to_u64(&self) -> Option<u64> {
        self.0.parse().ok()
    }
}

impl From<u64> for Num {
    fn from(n: u64) -> Self {
        Num(n.to_string())
    }
}

impl Ord for Num {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.cmp(&other.0))
    }
}

impl PartialOrd for Num {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Compares two runs of ASCII digits as integers, whatever their leading zeros.
pub(crate) fn cmp_digits(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_value_not_text() {
        let n = |s| Num::parse(s).unwrap_or_else(Num::zero);
        assert!(n("9") < n("10"));
        assert_eq!(n("007"), n("7"));
        assert_eq!(n("000").as_str(), "0");
        assert!(n("999999999999999999999999999991") < n("999999999999999999999999999999"));
        assert!(Num::parse("").is_none());
        assert!(Num::parse("1a").is_none());
        assert_eq!(cmp_digits("010", "9"), Ordering::Greater);
    }
}
