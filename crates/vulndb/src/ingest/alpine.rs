//! Alpine secdb (`secfixes`), as YAML (the old `alpine-secdb` repository) or JSON
//! (`secdb.alpinelinux.org/v3.x/main.json`).
//!
//! One advisory per identifier (usually a CVE), with one [`Affected`] per (branch,
//! origin package, fixed version): `Alpine:v3.18`, `openssl`, ECOSYSTEM
//! `introduced 0, fixed 3.1.4-r1`. A fixed version of `0` means "never affected in this
//! branch" and is skipped. Items such as `CVE-2017-8904 XSA-214` give the first token as
//! the id and the others as aliases.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use portcullis_core::{Advisory, AdvisoryKind, Affected, Event, Range, RangeKind, TrackerState};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, de};

use super::lenient::opt_vec;
use super::{Error, Out, Result};

/// Feed name stored in [`Advisory::source`].
pub(crate) const FEED: &str = "alpine-secdb";

#[derive(Deserialize)]
struct SecDb {
    #[serde(default)]
    distroversion: Option<String>,
    #[serde(default, deserialize_with = "opt_vec")]
    packages: Vec<PackageEntry>,
}

#[derive(Deserialize)]
struct PackageEntry {
    pkg: Package,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    #[serde(default)]
    secfixes: Option<SecFixes>,
}

/// `secfixes` in file order, keeping repeated version keys (YAML forbids them, secdb has
/// them) instead of silently keeping one.
struct SecFixes(Vec<(String, Vec<Option<String>>)>);

impl<'de> Deserialize<'de> for SecFixes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SecFixes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of fixed version to identifiers")
            }
            fn visit_unit<E: de::Error>(self) -> Result<SecFixes, E> {
                Ok(SecFixes(Vec::new()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SecFixes, A::Error> {
                let mut v = Vec::new();
                while let Some((k, ids)) =
                    map.next_entry::<String, Option<Vec<Option<String>>>>()?
                {
                    v.push((k, ids.unwrap_or_default()));
                }
                Ok(SecFixes(v))
            }
        }
        d.deserialize_map(V)
    }
}

/// Parses a secdb YAML file. A file that does not parse is a hard error: it holds a whole
/// branch's fixes.
pub(crate) fn from_yaml(label: &str, path: &Path, text: &str, out: &mut Out) -> Result<()> {
    let mut options = serde_saphyr::Options::default();
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
    let db: SecDb =
        serde_saphyr::from_str_with_options(text, options).map_err(|e| Error::Container {
            label: label.to_string(),
            why: format!("invalid Alpine secdb: {}", first_line(&e.to_string())),
        })?;
    convert(label, path, db, out)
}

/// Parses a secdb JSON document.
pub(crate) fn from_json(
    label: &str,
    path: &Path,
    value: serde_json::Value,
    out: &mut Out,
) -> Result<()> {
    let db: SecDb = serde_json::from_value(value).map_err(|e| Error::Container {
        label: label.to_string(),
        why: format!("invalid Alpine secdb: {e}"),
    })?;
    convert(label, path, db, out)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// The branch from the path (`.../v3.9/main.yaml`) when the file does not name it.
fn branch_from_path(path: &Path) -> Option<String> {
    path.components()
        .rev()
        .filter_map(|c| c.as_os_str().to_str())
        .find_map(|c| {
            let is_branch = c == "edge"
                || c.strip_prefix('v').is_some_and(|r| {
                    r.split('.')
                        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                });
            is_branch.then(|| c.to_string())
        })
}

fn convert(label: &str, path: &Path, db: SecDb, out: &mut Out) -> Result<()> {
    let branch = db
        .distroversion
        .filter(|d| !d.trim().is_empty())
        .or_else(|| branch_from_path(path))
        .ok_or_else(|| Error::Container {
            label: label.to_string(),
            why: "no `distroversion` and no vX.Y directory in the path: cannot tell the Alpine branch".into(),
        })?;
    out.formats.insert(crate::SourceFormat::AlpineSecdb);
    let ecosystem = format!("Alpine:{}", branch.trim());
    let mut by_id: BTreeMap<String, Advisory> = BTreeMap::new();
    for entry in db.packages {
        let pkg = entry.pkg;
        for (fixed, items) in pkg.secfixes.map(|s| s.0).unwrap_or_default() {
            let fixed = fixed.trim();
            if fixed == "0" {
                continue;
            }
            for item in items.into_iter().flatten() {
                let Some((id, aliases)) = identifiers(&item) else {
                    out.warn(format!(
                        "{label}: {}: {fixed}: unrecognised identifier '{item}' skipped",
                        pkg.name
                    ));
                    continue;
                };
                let adv = by_id.entry(id.clone()).or_insert_with(|| Advisory {
                    id,
                    aliases: Vec::new(),
                    summary: None,
                    modified: None,
                    withdrawn: None,
                    severity: Vec::new(),
                    affected: Vec::new(),
                    kind: AdvisoryKind::Vulnerability,
                    source: FEED.to_string(),
                });
                for a in aliases {
                    if !adv.aliases.contains(&a) {
                        adv.aliases.push(a);
                    }
                }
                adv.affected.push(Affected {
                    ecosystem: ecosystem.clone(),
                    package: pkg.name.clone(),
                    ranges: vec![Range {
                        kind: RangeKind::Ecosystem,
                        events: vec![
                            Event::Introduced("0".into()),
                            Event::Fixed(fixed.to_string()),
                        ],
                    }],
                    versions: Vec::new(),
                    state: TrackerState::Fixed,
                });
            }
        }
    }
    out.advisories.extend(by_id.into_values());
    Ok(())
}

/// `CVE-2017-8904 XSA-214` → (`CVE-2017-8904`, [`XSA-214`]). Repairs the `CVE 2018-16859`
/// and `CVE_2019-2426` typos found in the feed. `None` for text that names no identifier.
fn identifiers(item: &str) -> Option<(String, Vec<String>)> {
    let mut tokens: Vec<String> = item.split_whitespace().map(str::to_string).collect();
    if let Some(rest) = tokens.first().and_then(|t| t.strip_prefix("CVE_")) {
        tokens[0] = format!("CVE-{rest}");
    }
    if tokens.len() >= 2
        && tokens[0] == "CVE"
        && tokens[1].bytes().next().is_some_and(|b| b.is_ascii_digit())
    {
        let year = tokens.remove(1);
        tokens[0] = format!("CVE-{year}");
    }
    // Placeholders such as `CVE-????-?????  XSA-295` name no CVE yet: the next token is the id.
    let looks_like_id = |t: &str| {
        t.contains('-')
            && t.bytes().any(|b| b.is_ascii_digit())
            && t.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
    };
    let mut it = tokens.into_iter().filter(|t| looks_like_id(t));
    let id = it.next()?;
    Some((id, it.collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_split_and_repair() {
        assert_eq!(
            identifiers("CVE-2017-8904 XSA-214"),
            Some(("CVE-2017-8904".into(), vec!["XSA-214".into()]))
        );
        assert_eq!(
            identifiers("CVE 2018-16859"),
            Some(("CVE-2018-16859".into(), vec![]))
        );
        assert_eq!(
            identifiers("CVE_2019-2426"),
            Some(("CVE-2019-2426".into(), vec![]))
        );
        assert_eq!(identifiers("XSA-207"), Some(("XSA-207".into(), vec![])));
        assert_eq!(identifiers("whitelisted"), None);
        assert_eq!(
            identifiers("CVE-????-?????  XSA-295"),
            Some(("XSA-295".into(), vec![]))
        );
    }

    #[test]
    fn yaml_with_zero_fix_duplicate_keys_and_path_branch() {
        let text = "\
packages:
  - pkg:
      name: db
      secfixes:
        \"0\":
        - CVE-2016-0682
        5.3.28-r1:
        - CVE-2019-1
  - pkg:
      name: xen
      secfixes:
        4.9.1-r0:
          - CVE-2017-8904 XSA-214
        4.9.1-r0:
          - CVE-2017-8905
  - pkg:
      name: nofix
";
        let mut out = Out::default();
        from_yaml("x.yaml", Path::new("/data/v3.7/main.yaml"), text, &mut out).unwrap();
        let ids: Vec<_> = out.advisories.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(
            ids,
            ["CVE-2017-8904", "CVE-2017-8905", "CVE-2019-1"],
            "fixed 0 is never affected"
        );
        assert_eq!(out.advisories[0].aliases, ["XSA-214"]);
        assert_eq!(out.advisories[1].affected[0].ecosystem, "Alpine:v3.7");
    }

    #[test]
    fn unknown_branch_is_a_hard_error() {
        let mut out = Out::default();
        let err = from_yaml(
            "x.yaml",
            Path::new("/data/main.yaml"),
            "packages: []\n",
            &mut out,
        );
        assert!(matches!(err, Err(Error::Container { .. })));
    }
}
