//! The Debian security tracker: `data/DSA/list`, `data/DLA/list`, `data/CVE/list` and the
//! tracker's JSON export.
//!
//! Every package line becomes an [`Affected`] for the *source* package:
//! `[bookworm] - openssl 3.0.11-1~deb12u1` is `Debian:bookworm`, `openssl`, ECOSYSTEM
//! `introduced 0, fixed 3.0.11-1~deb12u1`. Markers become a [`TrackerState`] without a
//! fixed event (`<unfixed>`, `<no-dsa>`, `<ignored>` → no-DSA, `<postponed>`,
//! `<end-of-life>`); `<not-affected>`, `<removed>` and `<itp>` lines are dropped. A
//! `(unimportant)` note sets [`TrackerState::Unimportant`] and keeps the fixed event when
//! there is one. `CVE/list` lines without a release (`- pkg ...`) are the unstable
//! distribution; they are stored with the bare ecosystem `Debian`, meaning "every release
//! that has no line of its own for this package in this advisory".

use std::collections::BTreeMap;

use portcullis_core::{Advisory, AdvisoryKind, Affected, Event, Range, RangeKind, TrackerState};
use serde::Deserialize;
use time::OffsetDateTime;

use super::lenient::opt_string;
use super::{Error, Out, Result};

/// Feed name stored in [`Advisory::source`].
pub(crate) const FEED: &str = "debian-tracker";

/// Which tracker list a text file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ListKind {
    /// `DSA/list` or `DLA/list`: one entry per advisory.
    Advisories,
    /// `CVE/list`: one entry per CVE.
    Cve,
}

/// Recognises a tracker list from its first entry.
pub(crate) fn sniff(text: &str) -> Option<ListKind> {
    let first = text.lines().find(|l| !l.trim().is_empty())?;
    if first.starts_with('[') && header_id(first).is_some() {
        Some(ListKind::Advisories)
    } else if first.starts_with("CVE-") {
        Some(ListKind::Cve)
    } else {
        None
    }
}

/// The `DSA-NNNN-N` / `DLA-NNNN-N` of an entry header `[DD Mon YYYY] DSA-NNNN-N pkg - summary`,
/// and the rest of the line.
fn header_id(line: &str) -> Option<(&str, &str, &str)> {
    let (date, rest) = line.strip_prefix('[')?.split_once(']')?;
    let rest = rest.trim_start();
    let (id, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    (id.starts_with("DSA-") || id.starts_with("DLA-")).then_some((date, id, tail.trim()))
}

/// Parses a tracker list; bad lines are warnings naming file and line.
pub(crate) fn from_list(label: &str, kind: ListKind, text: &str, out: &mut Out) {
    let mut current: Option<Advisory> = None;
    let flush = |a: Option<Advisory>, out: &mut Out| {
        if let Some(a) = a.filter(|a| !a.affected.is_empty()) {
            out.advisories.push(a);
        }
    };
    for (n, line) in text.lines().enumerate() {
        let lineno = n + 1;
        if line.trim().is_empty() {
            continue;
        }
        let starts_entry = !line.starts_with(char::is_whitespace);
        if starts_entry {
            flush(current.take(), out);
            current = match kind {
                ListKind::Advisories => match header_id(line) {
                    Some((date, id, tail)) => Some(new_advisory(id, tail, iso_date(date))),
                    None => {
                        out.warn(format!("{label}:{lineno}: unrecognised entry header"));
                        None
                    }
                },
                ListKind::Cve => cve_header(line).map(|(id, desc)| new_advisory(id, desc, None)),
            };
            continue;
        }
        let Some(adv) = current.as_mut() else {
            continue;
        };
        let body = line.trim();
        if let Some(list) = body.strip_prefix('{') {
            let list = list.trim_end_matches('}');
            adv.aliases
                .extend(list.split_whitespace().map(str::to_string));
        } else if body.starts_with('[') || body.starts_with("- ") || body == "-" {
            match package_line(body) {
                Some(p) => {
                    if let Some(a) = p.affected() {
                        adv.affected.push(a);
                    } else if p.unknown_marker() {
                        out.warn(format!(
                            "{label}:{lineno}: unknown marker '{}'",
                            p.token.unwrap_or("")
                        ));
                    }
                }
                None => out.warn(format!("{label}:{lineno}: unrecognised package line")),
            }
        }
        // NOTE:, TODO:, RESERVED, NOT-FOR-US: and other annotations carry no package state.
    }
    flush(current.take(), out);
}

fn new_advisory(id: &str, summary: &str, date: Option<OffsetDateTime>) -> Advisory {
    Advisory {
        id: id.to_string(),
        aliases: Vec::new(),
        summary: (!summary.is_empty()).then(|| summary.to_string()),
        modified: date,
        withdrawn: None,
        severity: Vec::new(),
        affected: Vec::new(),
        kind: AdvisoryKind::Vulnerability,
        source: FEED.to_string(),
    }
}

/// `CVE-2023-1234 (description...)` → id and description without the brackets.
fn cve_header(line: &str) -> Option<(&str, &str)> {
    let (id, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    if !id.starts_with("CVE-") {
        return None;
    }
    let rest = rest.trim();
    let desc = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .or_else(|| rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')))
        .unwrap_or(rest);
    Some((id, desc.trim()))
}

/// `29 Mar 2023` → 2023-03-29 00:00 UTC.
fn iso_date(date: &str) -> Option<OffsetDateTime> {
    let mut parts = date.split_whitespace();
    let day: u8 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i32 = parts.next()?.parse().ok()?;
    let month = time::Month::try_from(month).ok()?;
    Some(
        time::Date::from_calendar_date(year, month, day)
            .ok()?
            .midnight()
            .assume_utc(),
    )
}

/// One package line: `[release] - pkg token (notes)` or `- pkg token (notes)`.
struct PackageLine<'a> {
    release: Option<&'a str>,
    package: &'a str,
    token: Option<&'a str>,
    notes: &'a str,
}

fn package_line(body: &str) -> Option<PackageLine<'_>> {
    let (release, rest) = match body.strip_prefix('[') {
        Some(r) => {
            let (rel, rest) = r.split_once(']')?;
            (Some(rel.trim()), rest.trim_start())
        }
        None => (None, body),
    };
    let rest = rest.strip_prefix('-')?.trim_start();
    let (package, rest) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    if package.is_empty() {
        return None;
    }
    let rest = rest.trim_start();
    let (token, notes) = if rest.is_empty() || rest.starts_with('(') {
        (None, rest)
    } else {
        let (t, n) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        (Some(t), n.trim())
    };
    Some(PackageLine {
        release,
        package,
        token,
        notes,
    })
}

/// What a `<marker>` means; `None` for "this package is not affected here".
fn marker_state(marker: &str) -> Option<Option<TrackerState>> {
    Some(match marker {
        "<unfixed>" | "<undetermined>" => Some(TrackerState::Unfixed),
        "<no-dsa>" | "<ignored>" => Some(TrackerState::NoDsa),
        "<postponed>" => Some(TrackerState::Postponed),
        "<end-of-life>" => Some(TrackerState::EndOfLife),
        "<not-affected>" | "<removed>" | "<itp>" => None,
        _ => return None,
    })
}

impl PackageLine<'_> {
    fn unknown_marker(&self) -> bool {
        self.token
            .is_some_and(|t| t.starts_with('<') && marker_state(t).is_none())
    }

    fn affected(&self) -> Option<Affected> {
        let unimportant = self.notes.to_ascii_lowercase().contains("unimportant");
        let ecosystem = match self.release {
            Some(r) => format!("Debian:{r}"),
            None => "Debian".to_string(),
        };
        let (state, fixed) = match self.token? {
            t if t.starts_with('<') => (marker_state(t)??, None),
            // Fixed in version 0: never affected.
            "0" => return None,
            v => (TrackerState::Fixed, Some(v)),
        };
        Some(debian_affected(
            ecosystem,
            self.package,
            fixed,
            if unimportant {
                TrackerState::Unimportant
            } else {
                state
            },
        ))
    }
}

fn debian_affected(
    ecosystem: String,
    package: &str,
    fixed: Option<&str>,
    state: TrackerState,
) -> Affected {
    let mut events = vec![Event::Introduced("0".to_string())];
    if let Some(v) = fixed {
        events.push(Event::Fixed(v.to_string()));
    }
    Affected {
        ecosystem,
        package: package.to_string(),
        ranges: vec![Range {
            kind: RangeKind::Ecosystem,
            events,
        }],
        versions: Vec::new(),
        state,
    }
}

/// `{package: {CVE: {description, releases: {bookworm: {...}}}}}`.
type TrackerJson = BTreeMap<String, BTreeMap<String, TrackerCve>>;

#[derive(Deserialize)]
struct TrackerCve {
    #[serde(default, deserialize_with = "opt_string")]
    description: Option<String>,
    #[serde(default)]
    releases: BTreeMap<String, TrackerRelease>,
}

#[derive(Deserialize)]
struct TrackerRelease {
    #[serde(default, deserialize_with = "opt_string")]
    status: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    fixed_version: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    urgency: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    nodsa: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    nodsa_reason: Option<String>,
}

/// Parses the tracker's JSON export: one advisory per CVE, one affected entry per
/// (package, release).
pub(crate) fn from_tracker_json(
    label: &str,
    value: serde_json::Value,
    out: &mut Out,
) -> Result<()> {
    let data: TrackerJson = serde_json::from_value(value).map_err(|e| Error::Container {
        label: label.to_string(),
        why: format!("not a Debian security tracker JSON export: {e}"),
    })?;
    let mut by_cve: BTreeMap<String, Advisory> = BTreeMap::new();
    for (package, cves) in data {
        for (cve, entry) in cves {
            for (release, r) in entry.releases {
                let urgency = r.urgency.as_deref().unwrap_or("");
                let (state, fixed) = match r.status.as_deref() {
                    Some("resolved") => match r.fixed_version.as_deref() {
                        None | Some("" | "0") => continue,
                        Some(v) => (TrackerState::Fixed, Some(v)),
                    },
                    Some("open" | "undetermined") => {
                        let state = if urgency == "end-of-life" {
                            TrackerState::EndOfLife
                        } else if r.nodsa.is_some() {
                            match r.nodsa_reason.as_deref() {
                                Some("postponed") => TrackerState::Postponed,
                                _ => TrackerState::NoDsa,
                            }
                        } else {
                            TrackerState::Unfixed
                        };
                        (state, None)
                    }
                    other => {
                        out.warn(format!(
                            "{label}: {cve}: {package} in {release}: unknown status {other:?}; entry dropped"
                        ));
                        continue;
                    }
                };
                let state = if urgency == "unimportant" {
                    TrackerState::Unimportant
                } else {
                    state
                };
                let adv = by_cve.entry(cve.clone()).or_insert_with(|| {
                    let summary = entry
                        .description
                        .as_deref()
                        .and_then(super::summary_from_details);
                    new_advisory(&cve, summary.as_deref().unwrap_or(""), None)
                });
                adv.affected.push(debian_affected(
                    format!("Debian:{release}"),
                    &package,
                    fixed,
                    state,
                ));
            }
        }
    }
    out.advisories.extend(by_cve.into_values());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed_of(a: &Affected) -> Option<&str> {
        a.ranges[0].events.iter().find_map(|e| match e {
            Event::Fixed(v) => Some(v.as_str()),
            _ => None,
        })
    }

    const CVE_LIST: &str = "\
CVE-2023-0464 (A security vulnerability has been identified in all supported versions ...)
\t{DSA-5417-1 DLA-3449-1}
\t- openssl 3.0.8-1 (bug #1034720)
\t[bullseye] - openssl 1.1.1n-0+deb11u5
\t[buster] - openssl <postponed> (Minor issue)
\tNOTE: https://www.openssl.org/news/secadv/20230322.txt
CVE-2023-0465 (Applications that use a non-default option when verifying ...)
\t- openssl 3.0.8-1 (unimportant)
\t[bullseye] - openssl <no-dsa> (Minor issue)
\t[buster] - openssl <ignored> (Minor issue)
\t- libssl-compat <not-affected> (Vulnerable code not present)
CVE-2023-0466 (The function X509_VERIFY_PARAM_add0_policy() is documented ...)
\t- openssl <unfixed> (unimportant)
\t[bookworm] - openssl <end-of-life>
\t- oldpkg <removed>
CVE-2023-0467
\tRESERVED
CVE-2023-0468
\tNOT-FOR-US: Foo
CVE-2023-0469 (bad line)
\t[bullseye] - openssl <weird-marker>
\t- curl 7.88.1-1
";

    #[test]
    fn cve_list_states_and_unstable_lines() {
        let mut out = Out::default();
        assert_eq!(sniff(CVE_LIST), Some(ListKind::Cve));
        from_list("CVE/list", ListKind::Cve, CVE_LIST, &mut out);
        let ids: Vec<_> = out.advisories.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "CVE-2023-0464",
                "CVE-2023-0465",
                "CVE-2023-0466",
                "CVE-2023-0469"
            ]
        );

        let a = &out.advisories[0];
        assert_eq!(a.aliases, ["DSA-5417-1", "DLA-3449-1"]);
        assert!(
            a.summary
                .as_deref()
                .is_some_and(|s| s.starts_with("A security vulnerability"))
        );
        let got: Vec<_> = a
            .affected
            .iter()
            .map(|f| (f.ecosystem.as_str(), f.state, fixed_of(f)))
            .collect();
        assert_eq!(
            got,
            [
                ("Debian", TrackerState::Fixed, Some("3.0.8-1")),
                (
                    "Debian:bullseye",
                    TrackerState::Fixed,
                    Some("1.1.1n-0+deb11u5")
                ),
                ("Debian:buster", TrackerState::Postponed, None),
            ]
        );

        let b = &out.advisories[1];
        let got: Vec<_> = b
            .affected
            .iter()
            .map(|f| {
                (
                    f.ecosystem.as_str(),
                    f.package.as_str(),
                    f.state,
                    fixed_of(f),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "Debian",
                    "openssl",
                    TrackerState::Unimportant,
                    Some("3.0.8-1")
                ),
                ("Debian:bullseye", "openssl", TrackerState::NoDsa, None),
                ("Debian:buster", "openssl", TrackerState::NoDsa, None),
            ],
            "not-affected line dropped"
        );

        let c = &out.advisories[2];
        let got: Vec<_> = c
            .affected
            .iter()
            .map(|f| (f.ecosystem.as_str(), f.state, fixed_of(f)))
            .collect();
        assert_eq!(
            got,
            [
                ("Debian", TrackerState::Unimportant, None),
                ("Debian:bookworm", TrackerState::EndOfLife, None)
            ]
        );

        assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
        assert!(
            out.warnings[0].starts_with("CVE/list:21: unknown marker '<weird-marker>'"),
            "{:?}",
            out.warnings
        );
        assert_eq!(out.advisories[3].affected.len(), 1);
    }

    #[test]
    fn dsa_list_markers_and_notes() {
        let text = "\
[29 Mar 2023] DSA-5380-1 xorg-server - security update
\t{CVE-2023-1393}
\t[bullseye] - xorg-server 2:1.20.11-1+deb11u6
\t[buster] - xorg-server <not-affected> (Vulnerable code not present)
\t[stretch] - xorg-server <end-of-life>
 \t[jessie] - xorg-server 2:1.16.4-1+deb8u9 (bug #123; medium)
[27 Aug 2010] DSA-2100-1 announcement
\tNOTE: nothing here
";
        assert_eq!(sniff(text), Some(ListKind::Advisories));
        let mut out = Out::default();
        from_list("DSA/list", ListKind::Advisories, text, &mut out);
        assert_eq!(
            out.advisories.len(),
            1,
            "an entry without package lines is no advisory"
        );
        let a = &out.advisories[0];
        assert_eq!(a.id, "DSA-5380-1");
        assert_eq!(a.aliases, ["CVE-2023-1393"]);
        assert_eq!(
            a.modified,
            Some(time::macros::datetime!(2023-03-29 00:00 UTC))
        );
        let got: Vec<_> = a
            .affected
            .iter()
            .map(|f| (f.ecosystem.as_str(), f.state, fixed_of(f)))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "Debian:bullseye",
                    TrackerState::Fixed,
                    Some("2:1.20.11-1+deb11u6")
                ),
                ("Debian:stretch", TrackerState::EndOfLife, None),
                (
                    "Debian:jessie",
                    TrackerState::Fixed,
                    Some("2:1.16.4-1+deb8u9")
                ),
            ]
        );
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    }

    #[test]
    fn tracker_json_statuses() {
        let json = serde_json::json!({
            "openssl": {
                "CVE-2023-0464": {
                    "description": "A security vulnerability has been identified ...",
                    "scope": "remote",
                    "releases": {
                        "bookworm": {"status": "resolved", "fixed_version": "3.0.8-1", "urgency": "not yet assigned",
                                     "repositories": {"bookworm": "3.0.9-1"}},
                        "bullseye": {"status": "open", "urgency": "not yet assigned", "nodsa": "Minor issue",
                                     "nodsa_reason": "postponed", "repositories": {"bullseye": "1.1.1n-0+deb11u4"}},
                        "buster": {"status": "open", "urgency": "end-of-life"},
                        "trixie": {"status": "resolved", "fixed_version": "0", "urgency": "unimportant"}
                    }
                },
                "CVE-2023-0465": {
                    "releases": {
                        "bookworm": {"status": "resolved", "fixed_version": "3.0.8-1", "urgency": "unimportant"},
                        "bullseye": {"status": "open", "urgency": "low", "nodsa": "Minor issue", "nodsa_reason": ""},
                        "sid": {"status": "undetermined"},
                        "experimental": {"status": "bogus"}
                    }
                }
            },
            "curl": {
                "CVE-2023-0464": {"releases": {"bookworm": {"status": "open", "urgency": "medium"}}}
            }
        });
        let mut out = Out::default();
        from_tracker_json("tracker.json", json, &mut out).unwrap();
        assert_eq!(out.advisories.len(), 2);
        let a = out
            .advisories
            .iter()
            .find(|a| a.id == "CVE-2023-0464")
            .unwrap();
        let mut got: Vec<_> = a
            .affected
            .iter()
            .map(|f| {
                (
                    f.ecosystem.as_str(),
                    f.package.as_str(),
                    f.state,
                    fixed_of(f),
                )
            })
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("Debian:bookworm", "curl", TrackerState::Unfixed, None),
                (
                    "Debian:bookworm",
                    "openssl",
                    TrackerState::Fixed,
                    Some("3.0.8-1")
                ),
                ("Debian:bullseye", "openssl", TrackerState::Postponed, None),
                ("Debian:buster", "openssl", TrackerState::EndOfLife, None),
            ],
            "fixed_version 0 means not affected"
        );
        let b = out
            .advisories
            .iter()
            .find(|a| a.id == "CVE-2023-0465")
            .unwrap();
        let mut got: Vec<_> = b
            .affected
            .iter()
            .map(|f| (f.ecosystem.as_str(), f.state, fixed_of(f)))
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                (
                    "Debian:bookworm",
                    TrackerState::Unimportant,
                    Some("3.0.8-1")
                ),
                ("Debian:bullseye", TrackerState::NoDsa, None),
                ("Debian:sid", TrackerState::Unfixed, None),
            ]
        );
        assert_eq!(out.warnings.len(), 1);
        assert!(
            out.warnings[0].contains("CVE-2023-0465: openssl in experimental"),
            "{:?}",
            out.warnings
        );
    }

    #[test]
    fn tracker_json_of_wrong_shape_is_a_hard_error() {
        let mut out = Out::default();
        let err = from_tracker_json(
            "t.json",
            serde_json::json!({"openssl": {"CVE-1": {"releases": 3}}}),
            &mut out,
        );
        assert!(
            matches!(err, Err(Error::Container { ref label, .. }) if label == "t.json"),
            "{err:?}"
        );
    }
}
