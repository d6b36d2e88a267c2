//! Maven artifact versions, ordered as Maven's `ComparableVersion` (maven-artifact 3.9).
//!
//! The lowercased string is cut into items at `.`, at `-` and at every switch between digits and
//! other characters; a `-`, a digit/letter switch or a qualifier after `.` (since Maven 3.9,
//! MNG-7644: `2.0.abc = 2-abc`) opens a nested list, so `1.0-beta-2` is `[1, 0, [beta, [2]]]`. Numbers compare as integers; qualifiers by the well-known order
//! `alpha < beta < milestone < rc = cr < snapshot < "" = ga = final = release < sp`, then any other
//! qualifier alphabetically; `a`, `b` and `m` directly followed by a digit mean alpha, beta,
//! milestone. "Null" items (0, the release qualifiers, empty lists) at the end of each list are
//! dropped, and a shorter list is padded with nulls, so `1 = 1.0 = 1-ga = 1.0.0-0`. Across kinds:
//! a number beats a list, which beats a qualifier.

use std::cmp::Ordering;

use crate::num::Num;
use crate::{Result, VersionError};

const ECO: &str = "maven";

/// The qualifiers with a fixed place, in order; anything else sorts after them.
const QUALIFIERS: [&str; 7] = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];
/// The place of the release qualifier (`""`).
const RELEASE_INDEX: usize = 5;

/// One item of a parsed version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// A number.
    Int(Num),
    /// A qualifier, after aliases (`ga`, `final`, `release` are `""`; `cr` is `rc`).
    Str(String),
    /// A nested list, opened by `-` or a digit/letter switch.
    List(Vec<Item>),
}

/// The sort key of a qualifier: its place among the known ones, or after them by name.
fn qualifier_key(q: &str) -> (usize, &str) {
    match QUALIFIERS.iter().position(|k| *k == q) {
        Some(i) => (i, ""),
        None => (QUALIFIERS.len(), q),
    }
}

impl Item {
    fn string(value: &str, followed_by_digit: bool) -> Item {
        let value = match (followed_by_digit, value) {
            (true, "a") => "alpha",
            (true, "b") => "beta",
            (true, "m") => "milestone",
            (_, v) => v,
        };
        let value = match value {
            "ga" | "final" | "release" => "",
            "cr" => "rc",
            v => v,
        };
        Item::Str(value.to_string())
    }

    fn parse(is_digit: bool, buf: &str) -> Item {
        if is_digit {
            Item::Int(Num::parse(buf).unwrap_or_else(Num::zero))
        } else {
            Item::string(buf, false)
        }
    }

    fn is_null(&self) -> bool {
        match self {
            Item::Int(n) => n.is_zero(),
            Item::Str(s) => qualifier_key(s).0 == RELEASE_INDEX,
            Item::List(l) => l.is_empty(),
        }
    }

    /// `compareTo(null)`: this item against padding.
    fn cmp_null(&self) -> Ordering {
        match self {
            Item::Int(n) => {
                if n.is_zero() {
                    Ordering::Equal
                } else {
                    Ordering::Greater
                }
            }
            Item::Str(s) => qualifier_key(s).0.cmp(&RELEASE_INDEX),
            Item::List(l) => l
                .iter()
                .map(Item::cmp_null)
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal),
        }
    }

    fn cmp_item(&self, other: &Item) -> Ordering {
        match (self, other) {
            (Item::Int(a), Item::Int(b)) => a.cmp(b),
            (Item::Int(_), _) => Ordering::Greater,
            (Item::Str(a), Item::Str(b)) => qualifier_key(a).cmp(&qualifier_key(b)),
            (Item::Str(_), _) => Ordering::Less,
            (Item::List(_), Item::Int(_)) => Ordering::Less,
            (Item::List(_), Item::Str(_)) => Ordering::Greater,
            (Item::List(a), Item::List(b)) => cmp_lists(a, b),
        }
    }
}

fn cmp_lists(a: &[Item], b: &[Item]) -> Ordering {
    for i in 0..a.len().max(b.len()) {
        let ord = match (a.get(i), b.get(i)) {
            (Some(l), Some(r)) => l.cmp_item(r),
            (Some(l), None) => l.cmp_null(),
            (None, Some(r)) => r.cmp_null().reverse(),
            (None, None) => Ordering::Equal,
        };
        if ord.is_ne() {
            return ord;
        }
    }
    Ordering::Equal
}

/// Drops null items from the end of a list, looking past nested lists that are not null.
fn normalize(list: &mut Vec<Item>) {
    let mut i = list.len();
    while i > 0 {
        i -= 1;
        if list[i].is_null() {
            list.remove(i);
        } else if !matches!(list[i], Item::List(_)) {
            break;
        }
    }
}

/// Before a qualifier: opens a nested list unless the innermost one is empty (just opened by
/// `-`), so `.X` reads as `-X` (Maven 3.9, MNG-7644: `1.0.X = 1-X = 1.0.0.X`, `1.0.0.X1 <
/// 1.0.0-X2`).
fn open_qualifier(stack: &mut Vec<Vec<Item>>) {
    if stack.last().is_some_and(|top| !top.is_empty()) {
        stack.push(Vec::new());
    }
}

/// A parsed Maven version.
#[derive(Clone, Debug)]
pub struct Version {
    original: String,
    items: Vec<Item>,
}

impl Version {
    /// Parses any version string the way `new ComparableVersion(s)` does. Only empty strings and
    /// strings with whitespace are rejected: Maven coordinates cannot carry them.
    pub fn parse(input: &str) -> Result<Self> {
        if input.is_empty() {
            return Err(VersionError::invalid(ECO, input, "version string is empty"));
        }
        if let Some(c) = input.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(VersionError::invalid(ECO, input, format!("contains {c:?}")));
        }
        let lower = input.to_lowercase();
        // The innermost open list is the last one; each is the last item of the one below.
        let mut stack: Vec<Vec<Item>> = vec![Vec::new()];
        let mut is_digit = false;
        let mut start = 0;
        let push = |stack: &mut Vec<Vec<Item>>, item: Item| {
            if let Some(top) = stack.last_mut() {
                top.push(item);
            }
        };
        for (i, c) in lower.char_indices() {
            if c == '.' || c == '-' {
                let item = if i == start {
                    Item::Int(Num::zero())
                } else {
                    Item::parse(is_digit, &lower[start..i])
                };
                push(&mut stack, item);
                start = i + 1;
                if c == '-' {
                    stack.push(Vec::new());
                }
            } else if c.is_ascii_digit() {
                if !is_digit && i > start {
                    // A qualifier after `.` opens a list as after `-` (1.0.X1 = 1-X1).
                    open_qualifier(&mut stack);
                    push(&mut stack, Item::string(&lower[start..i], true));
                    start = i;
                    stack.push(Vec::new());
                }
                is_digit = true;
            } else {
                if is_digit && i > start {
                    push(&mut stack, Item::parse(true, &lower[start..i]));
                    start = i;
                    stack.push(Vec::new());
                }
                is_digit = false;
            }
        }
        if lower.len() > start {
            if !is_digit {
                open_qualifier(&mut stack);
            }
            push(&mut stack, Item::parse(is_digit, &lower[start..]));
        }
        let mut items = Vec::new();
        while let Some(mut list) = stack.pop() {
            normalize(&mut list);
            match stack.last_mut() {
                Some(parent) => {
                    parent.push(Item::List(list));
                    normalize(parent);
                }
                None => items = list,
            }
        }
        Ok(Version {
            original: input.to_string(),
            items,
        })
    }

    /// The parsed items (for diagnostics).
    pub fn items(&self) -> &[Item] {
        &self.items
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_lists(&self.items, &other.items)
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
    fn qualifier_order() {
        let chain = [
            "1-alpha",
            "1-beta",
            "1-milestone",
            "1-rc",
            "1-snapshot",
            "1",
            "1-sp",
            "1-abc",
            "1-1",
            "1.1",
        ];
        for w in chain.windows(2) {
            assert_eq!(cmp(w[0], w[1]), Ordering::Less, "{} < {}", w[0], w[1]);
        }
    }

    /// A qualifier after `.` nests as after `-`, as maven-artifact 3.9.9 orders them
    /// (MNG-7644); each line checked with its `ComparableVersion`.
    #[test]
    fn a_dotted_qualifier_reads_as_a_hyphenated_one() {
        for (a, b, want) in [
            ("2-abc", "2.0.abc", Ordering::Equal),
            ("1.0.x", "1-x", Ordering::Equal),
            ("1-x", "1.0.0.x", Ordering::Equal),
            ("1.0.0.x1", "1.0.0-x2", Ordering::Less),
            ("1.5.9.rc1", "1.5.9-rc0", Ordering::Greater),
            ("4.a", "4.a.m", Ordering::Greater),
            ("4.a.m", "4.a-alpha", Ordering::Greater),
            ("4.a-alpha", "4.a", Ordering::Less),
        ] {
            assert_eq!(cmp(a, b), want, "{a} {want:?} {b}");
        }
    }

    #[test]
    fn null_items_and_aliases() {
        for (a, b) in [
            ("1", "1.0.0"),
            ("1", "1-ga"),
            ("1cr", "1rc"),
            ("1a1", "1-alpha-1"),
            ("1.0-x", "1x"),
        ] {
            assert_eq!(cmp(a, b), Ordering::Equal, "{a} = {b}");
        }
        assert!(Version::parse("").is_err());
    }
}
