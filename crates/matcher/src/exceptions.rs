//! Exceptions: decisions to accept a vulnerability, with a reason and an expiry.
//!
//! Three inputs (and the ignore files of Trivy and Grype, [`ignore_rules`]), one effect: a YAML list of [`Exception`]s, the Calico image-assurance CSV
//! ([`exceptions_from_csv`]), and OpenVEX `not_affected` statements ([`vex_from_json`]).
//! [`apply_exceptions`] marks matching matches as ignored (they stay in the report, with the
//! exception that silenced them, and no longer count toward the status).

mod csv;
mod ignorefile;
mod vex;

use std::collections::HashSet;
use std::path::Path;

use portcullis_core::{Exception, ExceptionScope, IgnoredBy, ImageRef, Match};
use serde::Deserialize;
use time::OffsetDateTime;

pub use csv::{exceptions_from_csv, exceptions_to_csv};
pub use ignorefile::{IgnoreRule, apply_ignore_rules, ignore_rules};
pub use vex::{VexProduct, VexStatement, VexStatus, vex_from_json};

/// Errors of reading exceptions.
#[derive(Debug, thiserror::Error)]
pub enum ExceptionError {
    /// The file could not be read.
    #[error("cannot read exceptions file {path}")]
    Read {
        /// The file.
        path: String,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The YAML is malformed or has unknown fields (the message has line and column).
    #[error("invalid exceptions YAML in {origin}: {message}")]
    Yaml {
        /// File name or `<input>`.
        origin: String,
        /// The parser's message.
        message: String,
    },
    /// An exception is well-formed but inconsistent (scope without repository, bad expiry...).
    #[error("invalid exception {position} ('{id}') in {origin}: {reason}")]
    Invalid {
        /// File name or `<input>`.
        origin: String,
        /// Which one: `#3` (YAML list position) or `line 7` (CSV).
        position: String,
        /// Its vulnerability id.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// The CSV is malformed.
    #[error("invalid exceptions CSV at line {line}: {reason}")]
    Csv {
        /// 1-based line of the record.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The OpenVEX document is malformed.
    #[error("invalid OpenVEX document: {reason}")]
    Vex {
        /// What is wrong.
        reason: String,
    },
}

/// Result type of this module.
pub type Result<T, E = ExceptionError> = std::result::Result<T, E>;

/// The two shapes an exceptions file may have.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wrapped {
    exceptions: Vec<Exception>,
}

/// Reads a YAML exceptions file: a list of exceptions, or a mapping `{exceptions: [...]}`.
/// Every exception is validated (scope fields, expiry) and errors name the file and position.
pub fn load_exceptions(path: &Path) -> Result<Vec<Exception>> {
    let text = std::fs::read_to_string(path).map_err(|source| ExceptionError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse_exceptions(&text, &path.display().to_string())
}

/// [`load_exceptions`] on text; `origin` names it in errors.
pub fn parse_exceptions(text: &str, origin: &str) -> Result<Vec<Exception>> {
    let yaml_err = |e: serde_saphyr::Error| ExceptionError::Yaml {
        origin: origin.to_string(),
        message: e.to_string(),
    };
    let list: Vec<Exception> = match first_significant_line(text) {
        None => Vec::new(),
        Some(l) if l.starts_with('-') || l.starts_with('[') => {
            serde_saphyr::from_str(text).map_err(yaml_err)?
        }
        Some(_) => {
            serde_saphyr::from_str::<Wrapped>(text)
                .map_err(yaml_err)?
                .exceptions
        }
    };
    for (i, e) in list.iter().enumerate() {
        validate(e).map_err(|reason| ExceptionError::Invalid {
            origin: origin.to_string(),
            position: format!("#{}", i + 1),
            id: e.id.clone(),
            reason,
        })?;
    }
    Ok(list)
}

/// The first line that is not blank, a comment or a document marker: it tells a list from a
/// mapping, so that the error reported is the one for the shape the author meant.
fn first_significant_line(text: &str) -> Option<&str> {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#') && *l != "---")
}

/// Checks that an exception says what its scope needs and that its expiry can be read.
pub(crate) fn validate(e: &Exception) -> Result<(), String> {
    if e.id.trim().is_empty() {
        return Err("empty vulnerability id".to_string());
    }
    match e.scope {
        // Fields an `any` exception ignores would make it silence more than its author meant.
        ExceptionScope::Any
            if e.registry.is_some() || e.repository.is_some() || !e.tags.is_empty() =>
        {
            return Err("scope 'any' applies to every image: remove registry, repository and tags, or use scope 'repository' or 'image'".to_string());
        }
        ExceptionScope::Repository
            if e.repository.as_deref().is_none_or(|r| r.trim().is_empty()) =>
        {
            return Err("scope 'repository' needs a repository".to_string());
        }
        ExceptionScope::Repository if !e.tags.is_empty() => {
            return Err(
                "scope 'repository' applies to every tag: remove the tags or use scope 'image'"
                    .to_string(),
            );
        }
        ExceptionScope::Image
            if e.repository.as_deref().is_none_or(|r| r.trim().is_empty()) || e.tags.is_empty() =>
        {
            return Err("scope 'image' needs a repository and at least one tag".to_string());
        }
        _ => {}
    }
    Ok(())
}

fn expired(e: &Exception, now: OffsetDateTime) -> bool {
    e.expires.is_some_and(|x| x.passed(now))
}

/// Whether `id` names the match (its id or any alias), case-insensitively.
pub(crate) fn names_match(m: &Match, id: &str) -> bool {
    let id = id.trim();
    m.id.eq_ignore_ascii_case(id) || m.aliases.iter().any(|a| a.eq_ignore_ascii_case(id))
}

fn in_scope(e: &Exception, image: &ImageRef) -> bool {
    match e.scope {
        ExceptionScope::Any => true,
        ExceptionScope::Repository => e
            .repository
            .as_deref()
            .is_some_and(|r| image.same_repository(e.registry.as_deref(), r)),
        ExceptionScope::Image => {
            e.repository
                .as_deref()
                .is_some_and(|r| image.same_repository(e.registry.as_deref(), r))
                && e.tags.iter().any(|t| {
                    let t = t.trim();
                    image.tag.as_deref() == Some(t)
                        || image.digest.as_ref().is_some_and(|d| d.as_str() == t)
                })
        }
    }
}

/// `CVE-2023-1 (repository docker.io/library/nginx, expires 2025-06-30)`
fn describe(e: &Exception) -> String {
    let place = |e: &Exception| match &e.registry {
        Some(r) => format!("{r}/{}", e.repository.as_deref().unwrap_or_default()),
        None => e.repository.clone().unwrap_or_default(),
    };
    let mut scope = match e.scope {
        ExceptionScope::Any => "any image".to_string(),
        ExceptionScope::Repository => format!("repository {}", place(e)),
        ExceptionScope::Image => format!("image {}:{}", place(e), e.tags.join(",")),
    };
    if let Some(x) = &e.expires {
        scope.push_str(&format!(", expires {x}"));
    }
    format!("{} ({scope})", e.id)
}

/// Marks as ignored every match that an unexpired exception or a VEX `not_affected` statement
/// covers. The first one that applies is recorded; matches already ignored are left alone.
/// Expired exceptions that would have applied are reported once each with a warning.
pub fn apply_exceptions(
    matches: &mut [Match],
    exceptions: &[Exception],
    vex: &[VexStatement],
    image: &ImageRef,
    now: OffsetDateTime,
) {
    let mut warned: HashSet<usize> = HashSet::new();
    for m in matches.iter_mut().filter(|m| m.ignored.is_none()) {
        for (i, e) in exceptions.iter().enumerate() {
            if !names_match(m, &e.id) || !in_scope(e, image) {
                continue;
            }
            if expired(e, now) {
                if warned.insert(i) {
                    tracing::warn!(
                        exception = %describe(e),
                        "exception has expired (or its expiry is unreadable) and no longer applies"
                    );
                }
                continue;
            }
            m.ignored = Some(Box::new(IgnoredBy {
                exception: describe(e),
                justification: e.justification.clone(),
            }));
            break;
        }
        if m.ignored.is_some() {
            continue;
        }
        if let Some(s) = vex.iter().find(|s| s.applies_to(m, image)) {
            m.ignored = Some(Box::new(IgnoredBy {
                exception: s.describe_for(m),
                justification: s.reason(),
            }));
        }
    }
}

#[cfg(test)]
mod tests;
