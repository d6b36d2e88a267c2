//! The ignore files of the scanners users come from, read as they document them:
//!
//! - Trivy's `.trivyignore`: one vulnerability id a line, `#` comments, and an optional
//!   `exp:YYYY-MM-DD` after the id, from which date the line no longer applies.
//! - Grype's `.grype.yaml`: `ignore:` rules, each any of `vulnerability`, `fix-state`
//!   (`fixed`, `not-fixed`, `wont-fix`, `unknown`) and `package` (`name`, `version`, `type`),
//!   plus a free `reason`; a match is ignored when every field a rule gives matches it.
//!
//! Both become [`IgnoreRule`]s, which [`apply_ignore_rules`] applies to a finished report's
//! matches like exceptions: the match stays, marked with the rule that silenced it.

use portcullis_core::{Ecosystem, IgnoredBy, Match, TrackerState};
use serde::Deserialize;
use time::{Date, OffsetDateTime};

use super::{ExceptionError, Result};

/// One rule of an ignore file: every field it gives must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IgnoreRule {
    /// Where it comes from (`.trivyignore:3`), shown as the match's exception.
    pub origin: String,
    /// Vulnerability id or alias.
    pub vulnerability: Option<String>,
    /// Package name.
    pub package: Option<String>,
    /// Package version.
    pub version: Option<String>,
    /// Package ecosystem.
    pub ecosystem: Option<Ecosystem>,
    /// Grype's fix state: `fixed`, `not-fixed`, `wont-fix`, `unknown`.
    pub fix_state: Option<String>,
    /// The day from which the rule no longer applies.
    pub expires: Option<Date>,
    /// Why.
    pub reason: Option<String>,
}

impl IgnoreRule {
    /// Whether the rule silences `m` on `today`.
    pub fn applies_to(&self, m: &Match, today: Date) -> bool {
        if self.expires.is_some_and(|d| today >= d) {
            return false;
        }
        let id_ok = self.vulnerability.as_ref().is_none_or(|v| {
            m.id.eq_ignore_ascii_case(v) || m.aliases.iter().any(|a| a.eq_ignore_ascii_case(v))
        });
        let eco = m.package.ecosystem;
        let name_ok = self
            .package
            .as_ref()
            .is_none_or(|n| eco.normalize_name(n) == eco.normalize_name(&m.package.name));
        let version_ok = self
            .version
            .as_ref()
            .is_none_or(|v| *v == m.package.version);
        let eco_ok = self
            .ecosystem
            .is_none_or(|e| e == eco || e.purl_type() == eco.purl_type());
        let fix_ok = self.fix_state.as_deref().is_none_or(|s| match s {
            "fixed" => !m.fixed_versions.is_empty(),
            "wont-fix" => matches!(
                m.state,
                TrackerState::NoDsa | TrackerState::EndOfLife | TrackerState::Unimportant
            ),
            // `not-fixed` and `unknown`: no fix known.
            _ => m.fixed_versions.is_empty(),
        });
        id_ok && name_ok && version_ok && eco_ok && fix_ok
    }
}

/// Reads an ignore file: Grype's YAML when `name` ends in `.yaml`/`.yml` or the text has an
/// `ignore:` key, else Trivy's id list.
pub fn ignore_rules(text: &str, name: &str) -> Result<Vec<IgnoreRule>> {
    let yaml = name.ends_with(".yaml")
        || name.ends_with(".yml")
        || text.lines().any(|l| l.trim_end() == "ignore:");
    if yaml {
        grype_rules(text, name)
    } else {
        trivy_rules(text, name)
    }
}

fn invalid(origin: &str, position: String, id: &str, reason: impl Into<String>) -> ExceptionError {
    ExceptionError::Invalid {
        origin: origin.to_string(),
        position,
        id: id.to_string(),
        reason: reason.into(),
    }
}

fn trivy_rules(text: &str, name: &str) -> Result<Vec<IgnoreRule>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut words = line.split_whitespace();
        let Some(id) = words.next() else { continue };
        let mut rule = IgnoreRule {
            origin: format!("{name}:{}", i + 1),
            vulnerability: Some(id.to_string()),
            ..IgnoreRule::default()
        };
        for w in words {
            let Some(date) = w.strip_prefix("exp:") else {
                return Err(invalid(
                    name,
                    format!("line {}", i + 1),
                    id,
                    format!("unexpected `{w}` (an id, then optionally exp:YYYY-MM-DD)"),
                ));
            };
            rule.expires = Some(parse_date(date).ok_or_else(|| {
                invalid(
                    name,
                    format!("line {}", i + 1),
                    id,
                    format!("`{date}` is not a YYYY-MM-DD date"),
                )
            })?);
        }
        out.push(rule);
    }
    Ok(out)
}

fn parse_date(s: &str) -> Option<Date> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s, fmt).ok()
}

#[derive(Deserialize)]
struct GrypeConfig {
    #[serde(default)]
    ignore: Vec<GrypeRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrypeRule {
    #[serde(default)]
    vulnerability: Option<String>,
    #[serde(default, rename = "fix-state")]
    fix_state: Option<String>,
    #[serde(default)]
    package: Option<GrypePackage>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default, rename = "vex-status")]
    vex_status: Option<String>,
    #[serde(default, rename = "vex-justification")]
    vex_justification: Option<String>,
    #[serde(default, rename = "match-type")]
    match_type: Option<String>,
    #[serde(default, rename = "include-aliases")]
    include_aliases: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrypePackage {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    location: Option<String>,
    #[serde(default, rename = "upstream-name")]
    upstream_name: Option<String>,
}

/// Grype's package types as Portcullis' ecosystems.
fn grype_type(t: &str) -> Option<Ecosystem> {
    Some(match t {
        "deb" => Ecosystem::Debian,
        "apk" => Ecosystem::Alpine,
        "rpm" => Ecosystem::Rpm,
        "python" => Ecosystem::PyPI,
        "npm" => Ecosystem::Npm,
        "go-module" => Ecosystem::Go,
        "rust-crate" => Ecosystem::Cargo,
        "java-archive" | "jenkins-plugin" => Ecosystem::Maven,
        "gem" => Ecosystem::RubyGems,
        "php-composer" => Ecosystem::Packagist,
        "dotnet" => Ecosystem::NuGet,
        _ => return None,
    })
}

fn grype_rules(text: &str, name: &str) -> Result<Vec<IgnoreRule>> {
    let config: GrypeConfig = serde_saphyr::from_str(text).map_err(|e| ExceptionError::Yaml {
        origin: name.to_string(),
        message: e.to_string(),
    })?;
    let mut out = Vec::new();
    for (i, r) in config.ignore.into_iter().enumerate() {
        let position = format!("#{}", i + 1);
        let id = r.vulnerability.clone().unwrap_or_default();
        // What would change what a rule means is refused, not half-read.
        for (field, given) in [
            ("vex-status", r.vex_status.is_some()),
            ("vex-justification", r.vex_justification.is_some()),
            ("match-type", r.match_type.is_some()),
        ] {
            if given {
                return Err(invalid(
                    name,
                    position,
                    &id,
                    format!("`{field}` is not supported"),
                ));
            }
        }
        let _ = r.include_aliases; // Aliases always match here.
        if let Some(s) = &r.fix_state
            && !["fixed", "not-fixed", "wont-fix", "unknown"].contains(&s.as_str())
        {
            return Err(invalid(
                name,
                position,
                &id,
                format!("fix-state `{s}` is not fixed, not-fixed, wont-fix or unknown"),
            ));
        }
        let mut rule = IgnoreRule {
            origin: format!("{name} rule {}", i + 1),
            vulnerability: r.vulnerability,
            fix_state: r.fix_state,
            reason: r.reason,
            ..IgnoreRule::default()
        };
        if let Some(p) = r.package {
            if p.location.is_some() || p.upstream_name.is_some() {
                return Err(invalid(
                    name,
                    position,
                    &id,
                    "package `location` and `upstream-name` are not supported",
                ));
            }
            rule.package = p.name;
            rule.version = p.version;
            if let Some(t) = p.kind {
                rule.ecosystem = Some(grype_type(&t).ok_or_else(|| {
                    invalid(
                        name,
                        position.clone(),
                        &id,
                        format!("unknown package type `{t}`"),
                    )
                })?);
            }
        }
        if rule.vulnerability.is_none()
            && rule.package.is_none()
            && rule.version.is_none()
            && rule.ecosystem.is_none()
            && rule.fix_state.is_none()
        {
            return Err(invalid(name, position, &id, "the rule matches everything"));
        }
        out.push(rule);
    }
    Ok(out)
}

/// Marks the matches `rules` silence (on the current day), keeping any mark already there.
/// Returns how many it marked.
pub fn apply_ignore_rules(
    matches: &mut [Match],
    rules: &[IgnoreRule],
    now: OffsetDateTime,
) -> usize {
    let today = now.date();
    let mut marked = 0;
    for m in matches.iter_mut().filter(|m| m.ignored.is_none()) {
        if let Some(r) = rules.iter().find(|r| r.applies_to(m, today)) {
            m.ignored = Some(Box::new(IgnoredBy {
                exception: r.origin.clone(),
                justification: r.reason.clone(),
            }));
            marked += 1;
        }
    }
    marked
}
