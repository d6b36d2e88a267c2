//! OSV affected-range evaluation, exactly as the OSV schema's "Evaluation" pseudo-code says:
//! a version is affected if it is listed in `versions` or lies in any range; within a range the
//! events are sorted by version (`introduced: "0"` first), then walked so that `introduced`
//! turns "vulnerable" on, `fixed` (at or above) and `last_affected` (strictly above) turn it
//! off; and a range with `limit` events only speaks of versions below one of its limits
//! (`"*"` meaning infinity).
//!
//! A record with versions the comparator cannot read is a data problem, not a reason to stop
//! a scan: that range is skipped with a warning that names the advisory.

use std::cmp::Ordering;

use portcullis_core::{Affected, Ecosystem, Event, Range, TrackerState};

// The npm security WG convention: a range whose only event is `introduced:
// "npm-range:<node-semver range>"` means "affected iff the version satisfies that range" (the
// WG's legacy records carry node-semver ranges that OSV events cannot express).
use portcullis_core::NPM_RANGE_PREFIX;

use crate::cmp::{Order, npm_satisfies};

/// Why an affected entry matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Hit {
    /// Readable evidence, e.g. `PyPI django: introduced 0, fixed 1.1`.
    pub(crate) text: String,
    /// Fixed versions above the installed one, from the matched range(s).
    pub(crate) fixed: Vec<String>,
}

/// Evaluates an affected entry of a distro tracker: a non-`fixed` state with no ranges and no
/// versions means every version (the tracker knows of no fix), anything else is plain OSV.
pub(crate) fn evaluate_tracked(
    advisory_id: &str,
    eco: Ecosystem,
    aff: &Affected,
    version: &str,
) -> Option<Hit> {
    if aff.state != TrackerState::Fixed && aff.ranges.is_empty() && aff.versions.is_empty() {
        return Some(Hit {
            text: format!(
                "{} {}: {} (no fixed version)",
                aff.ecosystem,
                aff.package,
                state_name(aff.state)
            ),
            fixed: Vec::new(),
        });
    }
    evaluate(advisory_id, eco, aff, version)
}

/// Evaluates one affected entry against an installed version of ecosystem `eco`.
pub(crate) fn evaluate(
    advisory_id: &str,
    eco: Ecosystem,
    aff: &Affected,
    version: &str,
) -> Option<Hit> {
    let mut texts = Vec::new();
    let mut fixed = Vec::new();
    for range in &aff.ranges {
        if let Some((text, mut f)) = range_hit(advisory_id, eco, aff, range, version) {
            texts.push(text);
            fixed.append(&mut f);
        }
    }
    // The installed version parsed once for the whole list (PyPA lists run to hundreds).
    let mut installed = None;
    let listed = aff
        .versions
        .iter()
        .any(|v| listed_equal(eco, v, version, &mut installed));
    if listed {
        if texts.is_empty() {
            // Matched by the list only: the ranges' fixes above the installed version are
            // still the best advice on what to upgrade to.
            for range in &aff.ranges {
                if let Some(order) = Order::of(range.kind, eco) {
                    fixed.extend(fixed_above(order, &range.events, version));
                }
            }
        }
        texts.push(format!(
            "{} {}: {version} listed in versions",
            aff.ecosystem, aff.package
        ));
    }
    if texts.is_empty() {
        return None;
    }
    let mut seen = Vec::new();
    fixed.retain(|f| {
        let new = !seen.contains(f);
        seen.push(f.clone());
        new
    });
    Some(Hit {
        text: texts.join("; "),
        fixed,
    })
}

/// OSV compares listed versions as strings; PEP 440 also has equal spellings (`1.0` and
/// `1.0.0`), so PyPI additionally compares by version.
fn listed_equal(
    eco: Ecosystem,
    listed: &str,
    version: &str,
    installed: &mut Option<Option<portcullis_version::Parsed>>,
) -> bool {
    if listed == version {
        return true;
    }
    if eco != Ecosystem::PyPI {
        return false;
    }
    // PyPA records list hundreds of versions; most differ in their first release number,
    // which settles inequality without parsing either side.
    if let (Some(a), Some(b)) = (pep440_major(listed), pep440_major(version))
        && a != b
    {
        return false;
    }
    let order = Order::Ecosystem(eco);
    let Some(installed) = installed.get_or_insert_with(|| order.parse(version).ok()) else {
        return false;
    };
    order
        .parse(listed)
        .is_ok_and(|l| l.cmp(installed) == Ordering::Equal)
}

/// The first release number of a PEP 440 version without an epoch, leading zeros removed
/// (`v03.1` → `3`); `None` when there is an epoch or no leading number, which leaves the
/// question to the full comparison.
fn pep440_major(v: &str) -> Option<&str> {
    let v = v.trim();
    let v = v.strip_prefix(['v', 'V']).unwrap_or(v);
    if v.contains('!') {
        return None;
    }
    let end = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    if end == 0 {
        return None;
    }
    let digits = v[..end].trim_start_matches('0');
    Some(if digits.is_empty() { "0" } else { digits })
}

/// The matched range's evidence text and fixed versions, or `None` when the version is
/// outside it, the range is a Git range, or the range cannot be evaluated (warned).
fn range_hit(
    advisory_id: &str,
    eco: Ecosystem,
    aff: &Affected,
    range: &Range,
    version: &str,
) -> Option<(String, Vec<String>)> {
    if let Some((npm_range, patched)) = npm_convention(range) {
        return match npm_satisfies(npm_range, version) {
            Ok(true) => Some((
                format!("{} {}: npm range {npm_range}", aff.ecosystem, aff.package),
                patched.map_or_else(Vec::new, |p| npm_fixes(p, version)),
            )),
            Ok(false) => None,
            Err(e) => {
                tracing::warn!(advisory = advisory_id, package = %aff.package, "skipping npm range '{npm_range}': {e}");
                None
            }
        };
    }
    let order = Order::of(range.kind, eco)?;
    match includes(order, &range.events, version) {
        Ok(true) => Some((
            format!(
                "{} {}: {}",
                aff.ecosystem,
                aff.package,
                describe(&range.events)
            ),
            fixed_above(order, &range.events, version),
        )),
        Ok(false) => None,
        Err(e) => {
            tracing::warn!(
                advisory = advisory_id,
                package = %aff.package,
                "skipping range [{}] for version {version}: {e}",
                describe(&range.events)
            );
            None
        }
    }
}

/// The node-semver ranges (affected, and patched when known) of a range that follows the npm
/// WG convention.
fn npm_convention(range: &Range) -> Option<(&str, Option<&str>)> {
    match range.events.as_slice() {
        [Event::Introduced(s)] => Some((s.strip_prefix(NPM_RANGE_PREFIX)?, None)),
        [Event::Introduced(s), Event::Fixed(p)] => Some((
            s.strip_prefix(NPM_RANGE_PREFIX)?,
            Some(p.strip_prefix(NPM_RANGE_PREFIX)?),
        )),
        _ => None,
    }
}

/// The versions that fix `installed` by a patched range (`>=4.17.5`,
/// `^3.10.2 || >=4.17.11`): the lowest version of each alternative that is above the installed
/// one and in the range, in the range's order.
fn npm_fixes(patched: &str, installed: &str) -> Vec<String> {
    let mut out = Vec::new();
    for alternative in patched.split("||") {
        // Operators may stand apart from their version (`>= 1.2.3`).
        let joined = alternative
            .split_whitespace()
            .fold(Vec::<String>::new(), |mut acc, t| {
                match acc.last_mut() {
                    Some(last) if last.chars().all(|c| "<>=^~".contains(c)) => last.push_str(t),
                    _ => acc.push(t.to_string()),
                }
                acc
            });
        // A lower bound that is in the range: `>=X`, `^X`, `~X`, `=X` or a bare `X` (not `>X`,
        // whose bound is not in it, nor an upper bound).
        let lowest = joined.iter().find_map(|c| {
            let v = c.trim_start_matches(['>', '=', '^', '~', 'v']);
            let bound = c.starts_with(">=") || !c.starts_with(['<', '>']);
            (bound && !v.is_empty()).then_some(v)
        });
        let Some(v) = lowest else { continue };
        let above = npm_satisfies(&format!(">{installed}"), v).unwrap_or(false);
        let fixes = npm_satisfies(patched, v).unwrap_or(false);
        if above && fixes && !out.iter().any(|o| o == v) {
            out.push(v.to_string());
        }
    }
    out
}

/// The OSV `IncludedInRanges` step for one range: `BeforeLimits`, then the walk over sorted
/// events.
pub(crate) fn includes(order: Order, events: &[Event], version: &str) -> Result<bool, String> {
    // Each version is parsed once (the installed one only if some event needs comparing, as
    // `introduced: 0` alone affects every version, even one the comparator cannot read).
    let needs_installed = events.iter().any(|e| match e {
        Event::Limit(l) => !l.contains('*'),
        Event::Introduced(v) => !is_zero(v),
        _ => true,
    });
    let installed = if needs_installed {
        Some(order.parse(version)?)
    } else {
        None
    };
    let limits: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Event::Limit(l) => Some(l.as_str()),
            _ => None,
        })
        .collect();
    if !limits.is_empty() {
        let mut before = false;
        for l in limits {
            if l.contains('*') {
                before = true;
                break;
            }
            if let Some(i) = &installed
                && *i < order.parse(l)?
            {
                before = true;
                break;
            }
        }
        if !before {
            return Ok(false);
        }
    }
    if !events.iter().any(|e| matches!(e, Event::Introduced(_))) {
        return Err("range has no 'introduced' event".to_string());
    }
    // Sorted by version, `introduced: "0"` (no key) before everything; ties keep the record's
    // order (a stable sort).
    let mut sorted = events
        .iter()
        .filter(|e| !matches!(e, Event::Limit(_)))
        .map(|e| {
            let key = if is_zero_intro(e) {
                None
            } else {
                Some(order.parse(event_version(e))?)
            };
            Ok((key, e))
        })
        .collect::<Result<Vec<_>, String>>()?;
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut vulnerable = false;
    for (key, e) in &sorted {
        let vs = installed.as_ref().zip(key.as_ref()).map(|(i, k)| i.cmp(k));
        match e {
            Event::Introduced(_) if key.is_none() || vs != Some(Ordering::Less) => {
                vulnerable = true
            }
            Event::Fixed(_) if vs != Some(Ordering::Less) => vulnerable = false,
            Event::LastAffected(_) if vs == Some(Ordering::Greater) => vulnerable = false,
            _ => {}
        }
    }
    Ok(vulnerable)
}

/// Fixed versions of a range above the installed version (all of them when the comparison
/// fails: more advice rather than none).
fn fixed_above(order: Order, events: &[Event], version: &str) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Fixed(f) if matches!(order.compare(version, f), Ok(Ordering::Less) | Err(_)) => {
                Some(f.clone())
            }
            _ => None,
        })
        .collect()
}

fn event_version(e: &Event) -> &str {
    match e {
        Event::Introduced(v) | Event::Fixed(v) | Event::LastAffected(v) | Event::Limit(v) => v,
    }
}

fn is_zero(v: &str) -> bool {
    v == "0"
}

fn is_zero_intro(e: &Event) -> bool {
    matches!(e, Event::Introduced(v) if is_zero(v))
}

/// Events in the record's order, as `introduced 0, fixed 1.1`.
pub(crate) fn describe(events: &[Event]) -> String {
    events
        .iter()
        .map(|e| match e {
            Event::Introduced(v) => format!("introduced {v}"),
            Event::Fixed(v) => format!("fixed {v}"),
            Event::LastAffected(v) => format!("last_affected {v}"),
            Event::Limit(v) => format!("limit {v}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The tracker state as feeds spell it (the serde name).
pub(crate) fn state_name(s: TrackerState) -> &'static str {
    match s {
        TrackerState::Fixed => "fixed",
        TrackerState::Unfixed => "unfixed",
        TrackerState::NoDsa => "no-dsa",
        TrackerState::Unimportant => "unimportant",
        TrackerState::EndOfLife => "end-of-life",
        TrackerState::Postponed => "postponed",
    }
}

#[cfg(test)]
mod tests {
    use portcullis_core::RangeKind;

    use super::*;

    #[test]
    fn npm_patched_ranges_give_the_fixes_above_the_installed_version() {
        assert_eq!(npm_fixes(">=4.17.5", "4.17.4"), ["4.17.5"]);
        assert_eq!(npm_fixes(">= 4.17.11", "4.17.4"), ["4.17.11"]);
        // Each alternative's lowest version, when it is above the installed one.
        assert_eq!(npm_fixes("^3.10.2 || >=4.17.11", "4.17.4"), ["4.17.11"]);
        assert_eq!(
            npm_fixes("~1.2.4 || ^2.0.1 || >=3.0.0", "1.2.3"),
            ["1.2.4", "2.0.1", "3.0.0"]
        );
        // Nothing to offer: a range with no lower bound, or everything below the installed.
        assert!(npm_fixes("<0.0.0", "1.0.0").is_empty());
        assert!(npm_fixes(">=1.0.0", "2.0.0").is_empty());
        assert!(npm_fixes("not a range", "1.0.0").is_empty());
    }

    #[test]
    fn the_npm_convention_carries_its_patched_range() {
        let range = |events: Vec<Event>| Range {
            kind: RangeKind::Ecosystem,
            events,
        };
        let vulnerable = Event::Introduced(format!("{NPM_RANGE_PREFIX}<4.17.5"));
        let patched = Event::Fixed(format!("{NPM_RANGE_PREFIX}>=4.17.5"));
        assert_eq!(
            npm_convention(&range(vec![vulnerable.clone()])),
            Some(("<4.17.5", None))
        );
        assert_eq!(
            npm_convention(&range(vec![vulnerable, patched])),
            Some(("<4.17.5", Some(">=4.17.5")))
        );
        assert_eq!(npm_convention(&range(ev("i=0 f=1.0.0"))), None);
    }

    fn ev(spec: &str) -> Vec<Event> {
        spec.split_whitespace()
            .map(|t| {
                let (k, v) = t.split_once('=').unwrap();
                match k {
                    "i" => Event::Introduced(v.into()),
                    "f" => Event::Fixed(v.into()),
                    "la" => Event::LastAffected(v.into()),
                    "l" => Event::Limit(v.into()),
                    _ => unreachable!("bad event kind {k}"),
                }
            })
            .collect()
    }

    /// (events, version, affected) under SemVer ordering; the first cases are the OSV schema's
    /// own examples.
    #[test]
    fn semver_range_table() {
        let table: &[(&str, &str, bool)] = &[
            ("i=0", "0.0.1", true),
            ("i=0", "99.0.0", true),
            ("i=0 f=1.0.2", "1.0.1", true),
            ("i=0 f=1.0.2", "1.0.2", false),
            ("i=0 f=1.0.2", "1.0.3", false),
            ("i=1.0.0 f=1.0.2 i=3.0.0 f=3.2.5", "0.9.0", false),
            ("i=1.0.0 f=1.0.2 i=3.0.0 f=3.2.5", "1.0.0", true),
            ("i=1.0.0 f=1.0.2 i=3.0.0 f=3.2.5", "1.0.2", false),
            ("i=1.0.0 f=1.0.2 i=3.0.0 f=3.2.5", "2.0.0", false),
            ("i=1.0.0 f=1.0.2 i=3.0.0 f=3.2.5", "3.1.0", true),
            ("i=1.0.0 f=1.0.2 i=3.0.0 f=3.2.5", "3.2.5", false),
            // the same, unsorted: events are sorted before the walk
            ("f=3.2.5 i=3.0.0 f=1.0.2 i=1.0.0", "3.1.0", true),
            ("f=3.2.5 i=3.0.0 f=1.0.2 i=1.0.0", "2.0.0", false),
            ("f=3.2.5 i=3.0.0 f=1.0.2 i=1.0.0", "1.0.1", true),
            ("f=1.0.2 i=0", "1.0.1", true),
            ("i=0 la=2.1.214", "2.1.214", true),
            ("i=0 la=2.1.214", "2.1.215", false),
            ("i=1.0.0 la=1.4.0 i=2.0.0 la=2.1.0", "1.5.0", false),
            ("i=1.0.0 la=1.4.0 i=2.0.0 la=2.1.0", "2.1.0", true),
            ("i=1.0.0 l=2.0.0", "1.5.0", true),
            ("i=1.0.0 l=2.0.0", "2.0.0", false),
            ("i=1.0.0 l=2.0.0", "0.5.0", false),
            ("i=1.0.0 l=*", "50.0.0", true),
            ("i=1.0.0 l=1.5.0 l=3.0.0", "2.0.0", true),
            ("i=1.0.0 l=1.5.0 l=3.0.0", "3.0.0", false),
            ("i=1.0.0 f=1.2.0 l=1.1.0", "1.1.5", false),
            // pre-releases sort before their release
            ("i=1.18.0-0 f=1.18.4", "1.18.0", true),
            ("i=1.18.0-0 f=1.18.4", "1.17.9", false),
            ("i=0 f=2.0.0", "2.0.0-rc.1", true),
        ];
        for (events, version, expected) in table {
            let got = includes(Order::Semver, &ev(events), version);
            assert_eq!(got, Ok(*expected), "[{events}] {version}");
        }
    }

    /// ECOSYSTEM ranges use the ecosystem's order: PEP 440 puts `1.1rc1` before `1.1`, and
    /// dpkg puts `~` before everything.
    #[test]
    fn ecosystem_orders() {
        let pypi = Order::Ecosystem(Ecosystem::PyPI);
        assert_eq!(includes(pypi, &ev("i=0 f=1.1"), "1.1rc1"), Ok(true));
        assert_eq!(includes(pypi, &ev("i=0 f=1.1"), "1.1.post1"), Ok(false));
        assert_eq!(includes(pypi, &ev("i=1.0 f=1.1"), "1.0.dev1"), Ok(false));
        let deb = Order::Ecosystem(Ecosystem::Debian);
        assert_eq!(
            includes(deb, &ev("i=0 f=3.0.11-1~deb12u1"), "3.0.11-1~deb12u0"),
            Ok(true)
        );
        assert_eq!(
            includes(deb, &ev("i=0 f=3.0.11-1~deb12u1"), "3.0.11-1"),
            Ok(false)
        );
        assert_eq!(
            includes(deb, &ev("i=0 f=1:1.0-1"), "2.0-1"),
            Ok(true),
            "epoch wins"
        );
    }

    #[test]
    fn unusable_ranges_are_errors() {
        assert!(includes(Order::Semver, &ev("i=0 f=not.a.version!"), "1.0.0").is_err());
        assert!(
            includes(Order::Semver, &ev("f=1.0.0"), "0.5.0").is_err(),
            "no introduced"
        );
        assert!(includes(Order::Semver, &ev("i=1.0.0 f=2.0.0"), "garbage version").is_err());
    }

    fn aff(ranges: Vec<Range>, versions: &[&str]) -> Affected {
        Affected {
            ecosystem: "PyPI".into(),
            package: "demo".into(),
            ranges,
            versions: versions.iter().map(|s| s.to_string()).collect(),
            state: TrackerState::Fixed,
        }
    }

    fn r(kind: RangeKind, events: &str) -> Range {
        Range {
            kind,
            events: ev(events),
        }
    }

    #[test]
    fn pep440_major_prefilter_never_hides_equal_spellings() {
        for (a, b) in [
            ("3.2", "3.2.0"),
            ("v3.2", "03.2"),
            ("0!1.0", "1.0"),
            ("1.0", "1.0.0.0"),
            (" 2.0 ", "2.0"),
            ("0.0.1", "00.0.1"),
        ] {
            assert!(listed_equal(Ecosystem::PyPI, a, b, &mut None), "{a} == {b}");
        }
        assert!(!listed_equal(Ecosystem::PyPI, "3.2", "4.2", &mut None));
        assert!(!listed_equal(Ecosystem::PyPI, "1!3.2", "3.2", &mut None));
        assert_eq!(pep440_major("v012.1"), Some("12"));
        assert_eq!(pep440_major("1!2"), None);
        assert_eq!(pep440_major("dev"), None);
    }

    #[test]
    fn versions_list_or_any_range() {
        // Listed but outside the (incomplete) range: still affected, and the range's later fix
        // is the advice.
        let a = aff(
            vec![r(RangeKind::Ecosystem, "i=2.0 f=2.2")],
            &["1.5", "2.0"],
        );
        let hit = evaluate("X", Ecosystem::PyPI, &a, "1.5").unwrap();
        assert!(hit.text.contains("listed"), "{}", hit.text);
        assert_eq!(hit.fixed, vec!["2.2"]);
        // PEP 440 spellings of one version are one version.
        assert!(evaluate("X", Ecosystem::PyPI, &a, "1.5.0").is_some());
        assert!(evaluate("X", Ecosystem::PyPI, &a, "1.6").is_none());
        // In the second of two ranges: its fix only.
        let a = aff(
            vec![
                r(RangeKind::Ecosystem, "i=0 f=1.0"),
                r(RangeKind::Ecosystem, "i=2.0 f=2.3"),
            ],
            &[],
        );
        let hit = evaluate("X", Ecosystem::PyPI, &a, "2.1").unwrap();
        assert_eq!(hit.fixed, vec!["2.3"]);
        assert_eq!(hit.text, "PyPI demo: introduced 2.0, fixed 2.3");
        // One range with two intervals: only the fixes above the installed version.
        let a = aff(vec![r(RangeKind::Ecosystem, "i=0 f=1.0 i=2.0 f=2.3")], &[]);
        assert_eq!(
            evaluate("X", Ecosystem::PyPI, &a, "2.1").unwrap().fixed,
            vec!["2.3"]
        );
        assert_eq!(
            evaluate("X", Ecosystem::PyPI, &a, "0.5").unwrap().fixed,
            vec!["1.0", "2.3"]
        );
    }

    #[test]
    fn git_ranges_are_ignored_and_bad_ranges_skipped() {
        let a = aff(vec![r(RangeKind::Git, "i=0")], &[]);
        assert!(evaluate("X", Ecosystem::PyPI, &a, "1.0").is_none());
        let a = aff(
            vec![
                r(RangeKind::Ecosystem, "i=0 f=@@@"),
                r(RangeKind::Ecosystem, "i=1.0 f=1.2"),
            ],
            &[],
        );
        assert!(
            evaluate("X", Ecosystem::PyPI, &a, "1.1").is_some(),
            "a bad range does not hide a good one"
        );
        assert!(evaluate("X", Ecosystem::PyPI, &a, "0.5").is_none());
    }

    #[test]
    fn npm_wg_convention() {
        let a = Affected {
            ecosystem: "npm".into(),
            package: "lodash".into(),
            ranges: vec![Range {
                kind: RangeKind::Ecosystem,
                events: vec![Event::Introduced(
                    "npm-range:<4.17.12 || >=5.0.0 <5.0.3".into(),
                )],
            }],
            versions: vec![],
            state: TrackerState::Fixed,
        };
        assert!(evaluate("npm-1", Ecosystem::Npm, &a, "4.17.11").is_some());
        assert!(evaluate("npm-1", Ecosystem::Npm, &a, "4.17.12").is_none());
        assert!(evaluate("npm-1", Ecosystem::Npm, &a, "5.0.2").is_some());
        let hit = evaluate("npm-1", Ecosystem::Npm, &a, "1.0.0").unwrap();
        assert_eq!(hit.text, "npm lodash: npm range <4.17.12 || >=5.0.0 <5.0.3");
        let bad = Affected {
            ranges: vec![Range {
                kind: RangeKind::Ecosystem,
                events: vec![Event::Introduced("npm-range:>=>=".into())],
            }],
            ..a
        };
        assert!(evaluate("npm-2", Ecosystem::Npm, &bad, "1.0.0").is_none());
    }

    #[test]
    fn tracker_states_without_ranges() {
        let mut a = aff(vec![], &[]);
        a.ecosystem = "Debian:bookworm".into();
        assert!(
            evaluate_tracked("X", Ecosystem::Debian, &a, "1.0-1").is_none(),
            "fixed state, nothing listed"
        );
        a.state = TrackerState::NoDsa;
        let hit = evaluate_tracked("X", Ecosystem::Debian, &a, "1.0-1").unwrap();
        assert!(hit.text.contains("no-dsa"), "{}", hit.text);
    }
}
