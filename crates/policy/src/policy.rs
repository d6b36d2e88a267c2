//! Checked policies: every regex compiled, every selector parsed, every number in range.
//!
//! A policy is checked whole before it is used, and one that fails any check is rejected
//! whole, so a typo in rule 3 can never leave rules 1 and 2 applied without rule 3.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::PathBuf;

use regex::Regex;
use time::OffsetDateTime;

use portcullis_core::{Status, parse_time};

use crate::crd::{
    API_VERSION, Action, AgeOperator, CALICO_API_VERSION, ContainerAdmissionPolicy, KIND, Mode,
    Rule, ScanAge, ScoreOperator, SetOperator, StringMatch, TimeMatch, TimeOperator,
};
use crate::selector::Selector;
use portcullis_trust::{KeySet, PublicKey, TrustRoots};

/// Why a policy (or a file of policies) could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A field of a rule holds a value that cannot be used (bad regex, negative duration,
    /// score out of range ...). `rule` is the 0-based index in `spec.rules`, like the
    /// indices of `values[i]`.
    #[error("policy {policy:?} rule {rule} {field}: {message}")]
    Rule {
        /// Policy name.
        policy: String,
        /// Index in `spec.rules` (0-based).
        rule: usize,
        /// The field, as a path inside the rule (`imagePath.values[0]`).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A field outside the rules (name, order, selectors, apiVersion) holds a value that
    /// cannot be used; for a selector the message says the column.
    #[error("policy {policy:?} {field}: {message}")]
    Spec {
        /// Policy name.
        policy: String,
        /// The field (`selector`, `namespaceSelector`, `order` ...).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The document does not have the shape of its kind: an unknown field, an unknown
    /// operator, a value of the wrong type. `path` is where, from the document root
    /// (`spec.rules[2].imagePath.operator`).
    #[error("{} {}: {message}", kind_and_name(kind, name), if path.is_empty() { "." } else { path.as_str() })]
    Shape {
        /// The document's kind.
        kind: String,
        /// The document's name, when it has one.
        name: Option<String>,
        /// Path of the offending field.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The text is not valid YAML or JSON (the message says where).
    #[error("{message}")]
    Syntax {
        /// Parser message, with line and column.
        message: String,
    },
    /// A file or directory could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The path.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// Another policy of the same name was already loaded (names are unique in a cluster);
    /// the first one is kept.
    #[error("policy {name:?} is defined again (first in {first})")]
    Duplicate {
        /// The policy name.
        name: String,
        /// Where the kept definition came from.
        first: String,
    },
    /// An error in one document of a file: where it was, and the error. The message of
    /// `error` is part of this one's, so it is not also given as the source.
    #[error("{origin}: {error}")]
    InDocument {
        /// File and document (`policies.yaml document 2`).
        origin: String,
        /// The error.
        error: Box<PolicyError>,
    },
    /// A file goes over a limit of [`crate::load_dir`] or [`crate::parse_text`]; nothing of it
    /// is loaded.
    #[error("{what}, over the limit of {limit}; split it into several files")]
    TooLarge {
        /// What was counted (`30000 documents`, `70000000 bytes`).
        what: String,
        /// The limit, with its unit.
        limit: String,
    },
    /// Not an error but a note: a document of a kind this crate does not load was skipped.
    #[error("skipped a document of kind {kind:?} (not a {KIND})")]
    IgnoredKind {
        /// The document's kind (empty when it had none).
        kind: String,
    },
}

fn kind_and_name(kind: &str, name: &Option<String>) -> String {
    let kind = if kind == KIND { "policy" } else { kind };
    match name {
        Some(n) => format!("{kind} {n:?}"),
        None => format!("{kind} (unnamed)"),
    }
}

impl PolicyError {
    /// True for notes (skipped documents of other kinds), which callers may log and go on.
    pub fn is_note(&self) -> bool {
        match self {
            PolicyError::IgnoredKind { .. } => true,
            PolicyError::InDocument { error, .. } => error.is_note(),
            _ => false,
        }
    }

    pub(crate) fn in_document(self, origin: &str) -> PolicyError {
        PolicyError::InDocument {
            origin: origin.to_string(),
            error: Box::new(self),
        }
    }
}

/// A point in the past a last-scan time is compared with.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ScanPoint {
    /// A calendar duration before now.
    Ago { days: i64, months: i64, years: i64 },
    /// A fixed time.
    At(OffsetDateTime),
}

/// A rule with its criteria checked and compiled.
#[derive(Clone, Debug)]
pub(crate) struct CompiledRule {
    pub(crate) name: Option<String>,
    pub(crate) action: Action,
    pub(crate) image_path: Option<(SetOperator, Vec<Regex>)>,
    pub(crate) scan_status: Option<(SetOperator, Vec<Status>)>,
    pub(crate) last_scan: Option<(TimeOperator, ScanPoint)>,
    pub(crate) max_cvss: Option<(ScoreOperator, f64)>,
    /// Upper-cased ids, so comparison ignores case.
    pub(crate) vulnerability_ids: Option<(SetOperator, BTreeSet<String>)>,
    pub(crate) signature: Option<CompiledSignature>,
    pub(crate) attestation: Option<CompiledAttestation>,
    pub(crate) image_config: Option<CompiledConfig>,
    pub(crate) feed_age: Option<(AgeOperator, std::time::Duration)>,
}

/// A signature criterion, checked.
#[derive(Clone, Debug)]
pub(crate) struct CompiledSignature {
    pub(crate) keys: Option<KeySet>,
    pub(crate) certificates: Option<CompiledCertificates>,
    /// How many distinct signers must have signed.
    pub(crate) count: usize,
}

/// Who may sign by certificate, checked.
#[derive(Clone, Debug)]
pub(crate) struct CompiledCertificates {
    pub(crate) roots: TrustRoots,
    pub(crate) subjects: Vec<Regex>,
    pub(crate) issuers: Vec<String>,
}

/// An attestation criterion, checked.
#[derive(Clone, Debug)]
pub(crate) struct CompiledAttestation {
    pub(crate) keys: KeySet,
    /// The full predicate type URI.
    pub(crate) predicate_type: String,
    pub(crate) max_age: Option<std::time::Duration>,
}

impl CompiledAttestation {
    /// How image facts key this attestation's check: key set and predicate type.
    pub(crate) fn key(&self) -> String {
        attestation_key(&self.keys, &self.predicate_type)
    }
}

/// How [`crate::ImageFacts::attestations`] keys the check of `keys` for `predicate_type`.
pub(crate) fn attestation_key(keys: &KeySet, predicate_type: &str) -> String {
    format!("{} {predicate_type}", keys.id())
}

/// Image-config criteria, checked.
#[derive(Clone, Debug, Default)]
pub(crate) struct CompiledConfig {
    pub(crate) run_as_root: Option<bool>,
    pub(crate) exposed_ports: Option<(SetOperator, BTreeSet<String>)>,
    pub(crate) env_names: Option<(SetOperator, Vec<Regex>)>,
    pub(crate) older_than: Option<std::time::Duration>,
}

impl CompiledRule {
    /// True when the rule has a criterion on the scan made at admission: results (status,
    /// time, scores, ids) unless an attestation supplies them, the image config, the feeds.
    pub(crate) fn reads_scan(&self) -> bool {
        (self.reads_results() && self.attestation.is_none()) || self.reads_config()
    }

    /// True when the rule has a criterion on the image config or the feeds' age.
    pub(crate) fn reads_config(&self) -> bool {
        self.image_config.is_some() || self.feed_age.is_some()
    }

    /// True when the rule has a criterion on scan results (status, time, scores, ids).
    pub(crate) fn reads_results(&self) -> bool {
        self.scan_status.is_some()
            || self.last_scan.is_some()
            || self.max_cvss.is_some()
            || self.vulnerability_ids.is_some()
    }

    /// True when the rule needs what is attached to the image in its registry.
    pub(crate) fn reads_attachments(&self) -> bool {
        self.signature.is_some() || self.attestation.is_some()
    }
}

/// A checked policy, ready to evaluate. Built by [`ContainerAdmissionPolicy::validate`] or
/// `Policy::try_from`.
#[derive(Clone, Debug)]
pub struct Policy {
    pub(crate) name: String,
    pub(crate) order: Option<f64>,
    pub(crate) mode: Mode,
    pub(crate) selector: Selector,
    pub(crate) namespace_selector: Selector,
    pub(crate) rules: Vec<CompiledRule>,
}

impl Policy {
    /// The policy name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The order, if set (lowest first; none sorts last).
    pub fn order(&self) -> Option<f64> {
        self.order
    }

    /// Enforce or audit.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The workload selector.
    pub fn selector(&self) -> &Selector {
        &self.selector
    }

    /// The namespace selector.
    pub fn namespace_selector(&self) -> &Selector {
        &self.namespace_selector
    }

    /// Number of rules.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "policy {:?}", self.name)
    }
}

impl ContainerAdmissionPolicy {
    /// Checks the whole policy and compiles it. The first problem found is returned, naming
    /// the policy, the rule index and the field.
    pub fn validate(&self) -> Result<Policy, PolicyError> {
        let name = self.metadata.name.clone();
        let spec_err = |field: &str, message: String| PolicyError::Spec {
            policy: name.clone(),
            field: field.to_string(),
            message,
        };
        if name.trim().is_empty() {
            return Err(spec_err("metadata.name", "must not be empty".into()));
        }
        if self.kind != KIND {
            return Err(spec_err(
                "kind",
                format!("must be {KIND}, not {:?}", self.kind),
            ));
        }
        if self.api_version != API_VERSION && self.api_version != CALICO_API_VERSION {
            return Err(spec_err(
                "apiVersion",
                format!(
                    "must be {API_VERSION} (or Calico's {CALICO_API_VERSION}), not {:?}",
                    self.api_version
                ),
            ));
        }
        let spec = &self.spec;
        if let Some(order) = spec.order.filter(|o| !o.is_finite()) {
            return Err(spec_err(
                "order",
                format!("must be a finite number, not {order}"),
            ));
        }
        let selector =
            Selector::parse(&spec.selector).map_err(|e| spec_err("selector", e.to_string()))?;
        let namespace_selector = Selector::parse(&spec.namespace_selector)
            .map_err(|e| spec_err("namespaceSelector", e.to_string()))?;
        let rules = spec
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                compile_rule(r).map_err(|(field, message)| PolicyError::Rule {
                    policy: name.clone(),
                    rule: i,
                    field,
                    message,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Policy {
            name,
            order: spec.order,
            mode: spec.mode.unwrap_or_default(),
            selector,
            namespace_selector,
            rules,
        })
    }
}

impl TryFrom<ContainerAdmissionPolicy> for Policy {
    type Error = PolicyError;

    fn try_from(p: ContainerAdmissionPolicy) -> Result<Self, Self::Error> {
        p.validate()
    }
}

impl TryFrom<&ContainerAdmissionPolicy> for Policy {
    type Error = PolicyError;

    fn try_from(p: &ContainerAdmissionPolicy) -> Result<Self, Self::Error> {
        p.validate()
    }
}

/// A field path and a message, for the caller to wrap with the policy name and rule index.
type FieldError = (String, String);

fn compile_rule(r: &Rule) -> Result<CompiledRule, FieldError> {
    if let Some(name) = &r.name
        && name.trim().is_empty()
    {
        return Err(("name".into(), "must not be empty when given".into()));
    }
    let image_path = r
        .image_path
        .as_ref()
        .map(|m| regexes("imagePath", m))
        .transpose()?;
    let scan_status = match &r.image_scan_status {
        None => None,
        Some(m) => {
            non_empty("imageScanStatus", &m.values)?;
            Some((m.operator, m.values.clone()))
        }
    };
    let last_scan = match &r.image_last_scan {
        None => None,
        Some(m) => Some((m.operator, scan_point(m)?)),
    };
    let max_cvss = match &r.max_cvss_score {
        None => None,
        Some(m) => {
            if !(0.0..=10.0).contains(&m.value) {
                return Err((
                    "maxCVSSScore.value".into(),
                    format!("must be between 0 and 10, not {}", m.value),
                ));
            }
            Some((m.operator, m.value))
        }
    };
    let vulnerability_ids = match &r.vulnerability_ids {
        None => None,
        Some(StringMatch { operator, values }) => {
            non_empty("vulnerabilityIds", values)?;
            if let Some(i) = values.iter().position(|v| v.trim().is_empty()) {
                return Err((
                    format!("vulnerabilityIds.values[{i}]"),
                    "must not be empty".into(),
                ));
            }
            Some((
                *operator,
                values
                    .iter()
                    .map(|v| v.trim().to_ascii_uppercase())
                    .collect(),
            ))
        }
    };
    let signature = match &r.signature {
        None => None,
        Some(m) => {
            let keys = (!m.keys.is_empty())
                .then(|| compile_keys("signature", &m.keys))
                .transpose()?;
            let certificates = match &m.certificates {
                None => None,
                Some(c) => {
                    let rekor = c
                        .rekor_keys
                        .iter()
                        .enumerate()
                        .map(|(i, k)| {
                            PublicKey::from_pem(k).map_err(|e| {
                                (
                                    format!("signature.certificates.rekorKeys[{i}]"),
                                    e.to_string(),
                                )
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    let roots = TrustRoots::from_pem(&c.roots)
                        .map_err(|(i, e)| {
                            (format!("signature.certificates.roots[{i}]"), e.to_string())
                        })?
                        .with_rekor_keys(rekor);
                    if c.roots.is_empty() {
                        return Err((
                            "signature.certificates.roots".into(),
                            "must list at least one root certificate".into(),
                        ));
                    }
                    let subjects = regexes(
                        "signature.certificates.subjects",
                        &StringMatch {
                            operator: SetOperator::IsOneOf,
                            values: c.subjects.clone(),
                        },
                    )?
                    .1;
                    Some(CompiledCertificates {
                        roots,
                        subjects,
                        issuers: c.issuers.clone(),
                    })
                }
            };
            if keys.is_none() && certificates.is_none() {
                return Err(("signature".into(), "give keys, certificates or both".into()));
            }
            let count = m.count.unwrap_or(1);
            let most = match (&keys, &certificates) {
                (Some(k), None) => k.keys().len(),
                _ => usize::MAX,
            };
            if count == 0 || count > most {
                return Err((
                    "signature.count".into(),
                    format!(
                        "must be between 1 and the number of distinct keys ({most}), not {count}"
                    ),
                ));
            }
            Some(CompiledSignature {
                keys,
                certificates,
                count,
            })
        }
    };
    let attestation = match &r.attestation {
        None => None,
        Some(m) => {
            if m.predicate_type.trim().is_empty() {
                return Err((
                    "attestation.predicateType".into(),
                    "must not be empty".into(),
                ));
            }
            Some(CompiledAttestation {
                keys: compile_keys("attestation", &m.keys)?,
                predicate_type: portcullis_trust::predicate_type(m.predicate_type.trim()),
                max_age: m
                    .max_age
                    .as_deref()
                    .map(|d| duration("attestation.maxAge", d))
                    .transpose()?,
            })
        }
    };
    let image_config = match &r.image_config {
        None => None,
        Some(m) => {
            let exposed_ports = match &m.exposed_ports {
                None => None,
                Some(StringMatch { operator, values }) => {
                    non_empty("imageConfig.exposedPorts", values)?;
                    // `22` means `22/tcp`, as Docker reads it.
                    let ports = values
                        .iter()
                        .map(|v| {
                            let v = v.trim().to_ascii_lowercase();
                            if v.contains('/') {
                                v
                            } else {
                                format!("{v}/tcp")
                            }
                        })
                        .collect();
                    Some((*operator, ports))
                }
            };
            let env_names = m
                .env_names
                .as_ref()
                .map(|m| regexes("imageConfig.envNames", m))
                .transpose()?;
            let c = CompiledConfig {
                run_as_root: m.run_as_root,
                exposed_ports,
                env_names,
                older_than: m
                    .older_than
                    .as_deref()
                    .map(|d| duration("imageConfig.olderThan", d))
                    .transpose()?,
            };
            if c.run_as_root.is_none()
                && c.exposed_ports.is_none()
                && c.env_names.is_none()
                && c.older_than.is_none()
            {
                return Err((
                    "imageConfig".into(),
                    "give at least one of runAsRoot, exposedPorts, envNames, olderThan".into(),
                ));
            }
            Some(c)
        }
    };
    let feed_age = match &r.feed_age {
        None => None,
        Some(m) => Some((m.operator, duration("feedAge.duration", &m.duration)?)),
    };
    Ok(CompiledRule {
        name: r.name.clone(),
        action: r.action,
        image_path,
        scan_status,
        last_scan,
        max_cvss,
        vulnerability_ids,
        signature,
        attestation,
        image_config,
        feed_age,
    })
}

/// How many distinct patterns [`compile`] keeps before starting afresh.
const INTERNED_PATTERNS: usize = 16_384;

/// Compiles a pattern once per process: policies that write the same pattern share one
/// compiled program (a clone shares it), since each holds some 17 KiB and 10,000 team policies
/// repeating an organisation's registry pattern would otherwise hold 170 MiB. Past
/// [`INTERNED_PATTERNS`] the cache starts afresh, so patterns of policies long deleted do not
/// pile up.
fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    static CACHE: std::sync::LazyLock<parking_lot::Mutex<HashMap<String, Regex>>> =
        std::sync::LazyLock::new(Default::default);
    let mut cache = CACHE.lock();
    if let Some(r) = cache.get(pattern) {
        return Ok(r.clone());
    }
    let r = Regex::new(pattern)?;
    if cache.len() >= INTERNED_PATTERNS {
        cache.clear();
    }
    cache.insert(pattern.to_string(), r.clone());
    Ok(r)
}

/// A string criterion's values compiled as regular expressions; a bad one names its index.
fn regexes(field: &str, m: &StringMatch) -> Result<(SetOperator, Vec<Regex>), FieldError> {
    non_empty(field, &m.values)?;
    let compiled = m
        .values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            compile(v).map_err(|e| {
                (
                    format!("{field}.values[{i}]"),
                    format!("invalid regex {v:?}: {}", regex_message(&e)),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((m.operator, compiled))
}

/// A list of PEM public keys, each checked: a key that cannot be read is an error naming
/// its index, never a key silently left out (which could lower what `count` demands).
fn compile_keys(field: &str, keys: &[String]) -> Result<KeySet, FieldError> {
    if keys.is_empty() {
        return Err((format!("{field}.keys"), "must list at least one key".into()));
    }
    let parsed = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            if k.trim().starts_with(SECRET_KEY_PREFIX) {
                return Err((
                    format!("{field}.keys[{i}]"),
                    format!(
                        "{} names a Secret, which is read only in a cluster (serve --watch-cluster); give the PEM key here",
                        k.trim()
                    ),
                ));
            }
            PublicKey::from_pem(k).map_err(|e| (format!("{field}.keys[{i}]"), e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(KeySet::new(parsed))
}

/// How a key names a Kubernetes Secret instead of being given: `k8s://NAMESPACE/NAME`, as
/// cosign writes and reads them; the key is the Secret's [`SECRET_KEY_ENTRY`] entry.
pub const SECRET_KEY_PREFIX: &str = "k8s://";
/// The Secret entry holding the public key (`cosign generate-key-pair k8s://…` writes it).
pub const SECRET_KEY_ENTRY: &str = "cosign.pub";

impl ContainerAdmissionPolicy {
    /// The Secrets (namespace, name) its signature and attestation keys name.
    pub fn key_secrets(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for key in self.keys() {
            if let Some(r) = secret_ref(key)
                && !out.contains(&r)
            {
                out.push(r);
            }
        }
        out
    }

    /// Replaces each key naming a Secret with the PEM `read(namespace, name)` gives; a Secret
    /// that cannot be read fails the policy, naming the rule and key (a policy is never used
    /// with fewer keys than it names).
    pub fn resolve_key_secrets(
        &mut self,
        read: &dyn Fn(&str, &str) -> Result<String, String>,
    ) -> Result<(), PolicyError> {
        let name = self.metadata.name.clone();
        for (i, rule) in self.spec.rules.iter_mut().enumerate() {
            let lists = [
                ("signature", rule.signature.as_mut().map(|s| &mut s.keys)),
                (
                    "attestation",
                    rule.attestation.as_mut().map(|a| &mut a.keys),
                ),
            ];
            for (field, keys) in lists {
                for (k, key) in keys.into_iter().flatten().enumerate() {
                    let Some((ns, secret)) = secret_ref(key) else {
                        continue;
                    };
                    *key = read(&ns, &secret).map_err(|message| PolicyError::Rule {
                        policy: name.clone(),
                        rule: i,
                        field: format!("{field}.keys[{k}]"),
                        message: format!("{}: {message}", key.trim()),
                    })?;
                }
            }
        }
        Ok(())
    }

    fn keys(&self) -> impl Iterator<Item = &String> {
        self.spec.rules.iter().flat_map(|r| {
            r.signature
                .iter()
                .flat_map(|s| &s.keys)
                .chain(r.attestation.iter().flat_map(|a| &a.keys))
        })
    }
}

/// The (namespace, name) of a `k8s://NAMESPACE/NAME` key.
fn secret_ref(key: &str) -> Option<(String, String)> {
    let (ns, name) = key
        .trim()
        .strip_prefix(SECRET_KEY_PREFIX)?
        .split_once('/')?;
    (!ns.is_empty() && !name.is_empty() && !name.contains('/'))
        .then(|| (ns.to_string(), name.to_string()))
}

fn duration(field: &str, text: &str) -> Result<std::time::Duration, FieldError> {
    portcullis_core::parse_duration(text).map_err(|e| (field.to_string(), e))
}

/// An empty list is almost surely a mistake (`IsNoneOf: []` would match everything), so it
/// is refused rather than guessed at.
fn non_empty<T>(field: &str, values: &[T]) -> Result<(), FieldError> {
    if values.is_empty() {
        Err((
            format!("{field}.values"),
            "must list at least one value".into(),
        ))
    } else {
        Ok(())
    }
}

fn scan_point(m: &TimeMatch) -> Result<ScanPoint, FieldError> {
    match (&m.duration, &m.time) {
        (Some(_), Some(_)) => Err((
            "imageLastScan".into(),
            "give either duration or time, not both".into(),
        )),
        (None, None) => Err(("imageLastScan".into(), "give a duration or a time".into())),
        (
            Some(ScanAge {
                days,
                months,
                years,
            }),
            None,
        ) => {
            // Bounds keep the date arithmetic inside the representable range.
            let check = |field: &str, v: Option<i64>, max: i64| match v {
                Some(n) if n < 0 => Err((
                    format!("imageLastScan.duration.{field}"),
                    format!("must not be negative, not {n}"),
                )),
                Some(n) if n > max => Err((
                    format!("imageLastScan.duration.{field}"),
                    format!("must be at most {max}, not {n}"),
                )),
                _ => Ok(v.unwrap_or(0)),
            };
            Ok(ScanPoint::Ago {
                days: check("days", *days, 365_000)?,
                months: check("months", *months, 12_000)?,
                years: check("years", *years, 1_000)?,
            })
        }
        (None, Some(t)) => parse_time(t).map(ScanPoint::At).ok_or_else(|| {
            (
                "imageLastScan.time".into(),
                format!("invalid RFC 3339 time {t:?}"),
            )
        }),
    }
}

/// The last line of a regex syntax error (`unclosed group`), without the diagram.
fn regex_message(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(s) => s
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("error: "))
            .unwrap_or(s.as_str())
            .trim()
            .to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_message_is_one_line() {
        let pattern = String::from("(");
        let e = Regex::new(&pattern).unwrap_err();
        assert_eq!(regex_message(&e), "unclosed group");
    }
}
