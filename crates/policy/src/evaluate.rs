//! Pure evaluation of policies against the images of a workload.
//!
//! Policies are tried lowest `order` first (ties by name; no order sorts last). A policy
//! applies when its `selector` matches the workload's labels and its `namespaceSelector`
//! the namespace's labels. Within a policy the first rule whose criteria all match decides
//! the image; a policy with no matching rule passes the image on to the next policy; when no
//! policy decides, the caller's default applies.
//!
//! A policy in `Audit` mode never changes what is enforced: it is evaluated as if it were
//! enforcing, and if it would reject an image before any enforcing policy decided, that
//! rejection is reported (audit record and warning) while enforcement carries on as if the
//! policy were absent.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime};

use portcullis_core::{ScanReport, Status};

use crate::crd::{
    Action, ContainerAdmissionPolicy, Mode, ScoreOperator, SetOperator, TimeOperator,
};
use crate::policy::{CompiledRule, Policy, PolicyError, ScanPoint};

/// How many vulnerabilities a rejection message lists.
const TOP_IN_MESSAGE: usize = 5;

/// One vulnerability of an image, as a rejection message shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TopVuln {
    /// Vulnerability id.
    pub id: String,
    /// CVSS base score, when known.
    pub cvss: Option<f64>,
    /// Affected package name.
    pub package: String,
    /// Installed version.
    pub version: String,
    /// Versions that fix it (empty when none).
    pub fixed: Vec<String>,
    /// Where the package was found: its path, and the layer that wrote it when known
    /// (`/usr/lib/python3/dist-packages/jinja2 (layer sha256:0123456789ab)`); empty when
    /// the report does not say.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub location: String,
}

/// What is known about one image of a workload: the input of evaluation.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ImageFacts {
    /// The image reference as written in the pod spec; `imagePath` regexes search this.
    pub image: String,
    /// Scan status, `None` when the image has no scan result.
    pub status: Option<Status>,
    /// Highest CVSS base score among counted vulnerabilities.
    pub max_cvss: Option<f64>,
    /// When the scan result was produced.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_scan: Option<OffsetDateTime>,
    /// Ids and aliases of the counted (not ignored, not informational) vulnerabilities.
    pub vulnerability_ids: Vec<String>,
    /// Counted vulnerabilities for messages (any order: messages sort by CVSS).
    pub top: Vec<TopVuln>,
    /// What the scan could not examine: `N PACKAGES in ECOSYSTEM` for each ecosystem no
    /// source in the DB covers.
    pub not_examined: Vec<String>,
}

impl ImageFacts {
    /// An image without a scan result.
    pub fn unscanned(image: impl Into<String>) -> ImageFacts {
        ImageFacts {
            image: image.into(),
            ..ImageFacts::default()
        }
    }

    /// The facts of a scanned image. `image` is the reference as the pod spec writes it;
    /// `last_scan` is when the report was made (reports do not carry it).
    pub fn from_report(
        image: impl Into<String>,
        report: &ScanReport,
        last_scan: Option<OffsetDateTime>,
    ) -> ImageFacts {
        let counted = report
            .vulnerabilities
            .iter()
            .filter(|m| m.ignored.is_none() && m.informational.is_none());
        let mut ids = BTreeSet::new();
        let mut top: Vec<TopVuln> = Vec::new();
        let mut seen = BTreeSet::new();
        for m in counted {
            ids.insert(m.id.clone());
            ids.extend(m.aliases.iter().cloned());
            if seen.insert((
                m.id.clone(),
                m.package.name.clone(),
                m.package.version.clone(),
            )) {
                // People and tickets know vulnerabilities by CVE: show it beside a feed's own id.
                let id = match m.aliases.iter().find(|a| a.starts_with("CVE-")) {
                    Some(cve) if !m.id.starts_with("CVE-") => format!("{} ({cve})", m.id),
                    _ => m.id.clone(),
                };
                let location = match (&m.matched_by.location, &m.matched_by.layer) {
                    (path, _) if path.is_empty() => String::new(),
                    (path, Some(layer)) => format!(
                        "{path} (layer {}:{})",
                        layer.algorithm(),
                        &layer.encoded()[..layer.encoded().len().min(12)]
                    ),
                    (path, None) => path.clone(),
                };
                top.push(TopVuln {
                    id,
                    cvss: m.cvss.as_ref().map(|c| c.score),
                    package: m.package.name.clone(),
                    version: m.package.version.clone(),
                    fixed: m.fixed_versions.clone(),
                    location,
                });
            }
        }
        top.sort_by(by_severity);
        let not_examined = report
            .coverage
            .iter()
            .filter(|c| !c.examined())
            .map(|c| format!("{} {} packages", c.packages, c.ecosystem))
            .collect();
        ImageFacts {
            image: image.into(),
            status: Some(report.summary.status),
            max_cvss: report.summary.max_cvss,
            last_scan,
            vulnerability_ids: ids.into_iter().collect(),
            top,
            not_examined,
        }
    }

    /// The score `maxCVSSScore` compares: the highest counted score; 0 for a scanned image
    /// with no counted vulnerability; none for an unscanned image or one whose
    /// vulnerabilities have no score (so no comparison can match it).
    pub fn effective_max_cvss(&self) -> Option<f64> {
        self.status?;
        match self.max_cvss {
            Some(s) => Some(s),
            None if self.vulnerability_ids.is_empty() && self.top.is_empty() => Some(0.0),
            None => None,
        }
    }
}

/// Highest CVSS first, unscored last, then by id.
fn by_severity(a: &TopVuln, b: &TopVuln) -> Ordering {
    let score = |v: &TopVuln| v.cvss.unwrap_or(-1.0);
    score(b)
        .total_cmp(&score(a))
        .then_with(|| a.id.cmp(&b.id))
        .then_with(|| a.package.cmp(&b.package))
}

/// The object whose images are evaluated.
#[derive(Clone, Copy, Debug)]
pub struct Workload<'a> {
    /// Labels of the pods it creates (the pod template's labels).
    pub labels: &'a BTreeMap<String, String>,
    /// Labels of its namespace (empty for a cluster-scoped object).
    pub namespace_labels: &'a BTreeMap<String, String>,
    /// False for a cluster-scoped object; decides `global()`.
    pub namespaced: bool,
}

/// The rule that decided an image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleRef {
    /// Policy name.
    pub policy: String,
    /// Index in the policy's `spec.rules` (0-based).
    pub rule: usize,
    /// The rule's `name`, if it has one.
    pub name: Option<String>,
    /// Each criterion of the rule with the value it matched
    /// (`imagePath IsNoneOf ["^gcr\.io/"]: docker.io/library/nginx`); empty for a rule
    /// without criteria, which matches every image.
    pub matched: Vec<String>,
    /// The rule's action.
    pub action: Action,
    /// True when the decision is not enforced: the policy is in `Audit` mode, or (in
    /// [`decide`]'s output) the whole evaluation ran in audit mode.
    pub audit: bool,
}

impl RuleRef {
    /// How people know the rule: its `name`, else its position counted from 1.
    pub fn label(&self) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None => (self.rule + 1).to_string(),
        }
    }
}

impl std::fmt::Display for RuleRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(n) => write!(f, "policy {:?} rule {n:?}", self.policy),
            None => write!(f, "policy {:?} rule {}", self.policy, self.rule + 1),
        }
    }
}

/// The decision for one image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum ImageDecision {
    /// Allowed by a rule. `by` is `None` only when a caller allows an image without
    /// evaluating rules (this crate always names the rule).
    Allowed {
        /// The deciding rule.
        by: Option<RuleRef>,
    },
    /// Rejected by a rule.
    Rejected {
        /// The deciding rule.
        by: RuleRef,
    },
    /// No policy decided; the caller's default applies.
    NoPolicy,
}

impl ImageDecision {
    fn rule(&self) -> Option<&RuleRef> {
        match self {
            ImageDecision::Allowed { by } => by.as_ref(),
            ImageDecision::Rejected { by } => Some(by),
            ImageDecision::NoPolicy => None,
        }
    }
}

/// Checked policies in evaluation order.
#[derive(Clone, Debug, Default)]
pub struct PolicySet {
    policies: Vec<Policy>,
}

impl PolicySet {
    /// True when some rule reads scan results: without one, no decision needs a scan (nor the
    /// vulnerability DB).
    pub fn reads_scans(&self) -> bool {
        self.policies
            .iter()
            .any(|p| p.rules.iter().any(|r| r.reads_scan()))
    }

    /// Checks each policy and keeps the valid ones, returning the errors of the others
    /// (which are left out whole).
    pub fn new(policies: Vec<ContainerAdmissionPolicy>) -> (PolicySet, Vec<PolicyError>) {
        let mut valid = Vec::new();
        let mut errors = Vec::new();
        for p in &policies {
            match p.validate() {
                Ok(v) => valid.push(v),
                Err(e) => errors.push(e),
            }
        }
        (PolicySet::from_policies(valid), errors)
    }

    /// A set of already checked policies.
    pub fn from_policies(mut policies: Vec<Policy>) -> PolicySet {
        policies.sort_by(|a, b| {
            let order = match (a.order, b.order) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            };
            order.then_with(|| a.name.cmp(&b.name))
        });
        PolicySet { policies }
    }

    /// The policies, in evaluation order.
    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    /// Number of policies.
    pub fn len(&self) -> usize {
        self.policies.len()
    }

    /// True when there is no policy.
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }
}

/// Decides one image: the first rule, in policy order, whose criteria all match. Audit-mode
/// policies take part (their [`RuleRef::audit`] is set), so this is what would happen if
/// every policy enforced; [`decide`] separates what is enforced.
pub fn evaluate_image(
    policies: &PolicySet,
    w: &Workload<'_>,
    img: &ImageFacts,
    now: OffsetDateTime,
) -> ImageDecision {
    evaluate_filtered(policies, w, img, now, true)
}

fn evaluate_filtered(
    policies: &PolicySet,
    w: &Workload<'_>,
    img: &ImageFacts,
    now: OffsetDateTime,
    include_audit: bool,
) -> ImageDecision {
    for p in &policies.policies {
        let audit = p.mode == Mode::Audit;
        if audit && !include_audit {
            continue;
        }
        if !p.selects(w) {
            continue;
        }
        if let Some((i, r)) = p
            .rules
            .iter()
            .enumerate()
            .find(|(_, r)| rule_matches(r, img, now))
        {
            let by = RuleRef {
                policy: p.name.clone(),
                rule: i,
                name: r.name.clone(),
                matched: explain(r, img, now),
                action: r.action,
                audit,
            };
            return match r.action {
                Action::Allow => ImageDecision::Allowed { by: Some(by) },
                Action::Reject => ImageDecision::Rejected { by },
            };
        }
    }
    ImageDecision::NoPolicy
}

/// True when a scan result could change the decision for `image` in workload `w`: walking the
/// policies that select the workload in order, a rule that reads scan results (status, last
/// scan, CVSS, vulnerability ids) comes before any rule that decides on the image path alone.
/// When false, the decision made with no scan result is exact, so the image need not be
/// scanned (Calico admits what no policy selects without scanning it). A path-only match in an
/// audit policy does not end the walk: enforcing policies after it still decide.
pub fn scan_matters(policies: &PolicySet, w: &Workload<'_>, image: &str) -> bool {
    let unscanned = ImageFacts::unscanned(image);
    let epoch = OffsetDateTime::UNIX_EPOCH;
    for p in &policies.policies {
        if !p.selects(w) {
            continue;
        }
        for r in &p.rules {
            if r.reads_scan() {
                return true;
            }
            if rule_matches(r, &unscanned, epoch) {
                if p.mode == Mode::Audit {
                    break;
                }
                return false;
            }
        }
    }
    false
}

impl Policy {
    /// True when the policy's selectors match the workload and its namespace.
    fn selects(&self, w: &Workload<'_>) -> bool {
        let cluster_scoped = !w.namespaced;
        self.selector.matches_scoped(w.labels, cluster_scoped)
            && self
                .namespace_selector
                .matches_scoped(w.namespace_labels, cluster_scoped)
    }
}

fn set_match(op: SetOperator, any: bool) -> bool {
    match op {
        SetOperator::IsOneOf => any,
        SetOperator::IsNoneOf => !any,
    }
}

/// True when every criterion of the rule holds for the image (vacuously for none).
pub(crate) fn rule_matches(r: &CompiledRule, img: &ImageFacts, now: OffsetDateTime) -> bool {
    if let Some((op, regexes)) = &r.image_path
        && !set_match(*op, regexes.iter().any(|re| re.is_match(&img.image)))
    {
        return false;
    }
    if let Some((op, values)) = &r.scan_status {
        let ok = match img.status {
            None => *op == SetOperator::IsNoneOf,
            Some(s) => set_match(*op, values.contains(&s)),
        };
        if !ok {
            return false;
        }
    }
    if let Some((op, point)) = &r.last_scan {
        let Some(scanned) = img.last_scan else {
            return false;
        };
        let cutoff = resolve(point, now);
        let ok = match op {
            TimeOperator::Gt => scanned > cutoff,
            TimeOperator::Lt => scanned < cutoff,
        };
        if !ok {
            return false;
        }
    }
    if let Some((op, value)) = &r.max_cvss {
        let Some(score) = img.effective_max_cvss() else {
            return false;
        };
        let ok = match op {
            ScoreOperator::Gt => score > *value,
            ScoreOperator::Gte => score >= *value,
            ScoreOperator::Lt => score < *value,
            ScoreOperator::Lte => score <= *value,
        };
        if !ok {
            return false;
        }
    }
    if let Some((op, ids)) = &r.vulnerability_ids {
        if img.status.is_none() {
            return false;
        }
        let any = img
            .vulnerability_ids
            .iter()
            .any(|id| ids.contains(&id.trim().to_ascii_uppercase()));
        if !set_match(*op, any) {
            return false;
        }
    }
    true
}

/// Each criterion of `r` (which matched `img`) with the value it matched, as a person reads
/// it: `imagePath IsNoneOf ["^gcr\.io/"]: docker.io/library/nginx`, `imageLastScan lt 3
/// days: scanned 2026-11-20, 17 days ago`.
fn explain(r: &CompiledRule, img: &ImageFacts, now: OffsetDateTime) -> Vec<String> {
    let set = |op: SetOperator| match op {
        SetOperator::IsOneOf => "IsOneOf",
        SetOperator::IsNoneOf => "IsNoneOf",
    };
    let quoted = |values: Vec<String>| {
        let q: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
        format!("[{}]", q.join(", "))
    };
    let mut out = Vec::new();
    if let Some((op, regexes)) = &r.image_path {
        out.push(format!(
            "imagePath {} {}: {}",
            set(*op),
            quoted(regexes.iter().map(|re| re.as_str().to_string()).collect()),
            img.image
        ));
    }
    if let Some((op, values)) = &r.scan_status {
        out.push(format!(
            "imageScanStatus {} [{}]: {}",
            set(*op),
            values
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            img.status.map_or("not scanned", |s| s.as_str())
        ));
    }
    if let (Some((op, point)), Some(scanned)) = (&r.last_scan, img.last_scan) {
        let op = match op {
            TimeOperator::Gt => "gt",
            TimeOperator::Lt => "lt",
        };
        let days = (now - scanned).whole_days();
        out.push(format!(
            "imageLastScan {op} {}: scanned {}, {}",
            describe_point(point),
            portcullis_core::format_time(scanned),
            match days {
                0 => "today".to_string(),
                1 => "1 day ago".to_string(),
                d => format!("{d} days ago"),
            }
        ));
    }
    if let (Some((op, value)), Some(score)) = (&r.max_cvss, img.effective_max_cvss()) {
        let op = match op {
            ScoreOperator::Gt => "gt",
            ScoreOperator::Gte => "gte",
            ScoreOperator::Lt => "lt",
            ScoreOperator::Lte => "lte",
        };
        out.push(format!("maxCVSSScore {op} {value}: {score:.1}"));
    }
    if let Some((op, ids)) = &r.vulnerability_ids {
        let found: Vec<&String> = img
            .vulnerability_ids
            .iter()
            .filter(|id| ids.contains(&id.trim().to_ascii_uppercase()))
            .collect();
        let value = if found.is_empty() {
            "none of them".to_string()
        } else {
            found
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.push(format!(
            "vulnerabilityIds {} {}: {value}",
            set(*op),
            quoted(ids.iter().cloned().collect())
        ));
    }
    out
}

/// A last-scan point as a policy writes it: `3 days`, `1 month 2 days`, or a time.
fn describe_point(point: &ScanPoint) -> String {
    match point {
        ScanPoint::At(t) => portcullis_core::format_time(*t),
        ScanPoint::Ago {
            days,
            months,
            years,
        } => {
            let parts: Vec<String> = [(*years, "year"), (*months, "month"), (*days, "day")]
                .into_iter()
                .filter(|(n, _)| *n != 0)
                .map(|(n, unit)| format!("{n} {unit}{}", if n == 1 { "" } else { "s" }))
                .collect();
            if parts.is_empty() {
                "0 days".into()
            } else {
                parts.join(" ")
            }
        }
    }
}

/// The point in time a duration reaches back to from `now`: years and months first, on the
/// calendar (31 March minus one month is 28/29 February), then days.
fn resolve(point: &ScanPoint, now: OffsetDateTime) -> OffsetDateTime {
    let earliest = PrimitiveDateTime::MIN.assume_utc();
    match point {
        ScanPoint::At(t) => *t,
        ScanPoint::Ago {
            days,
            months,
            years,
        } => {
            let total_months = years * 12 + months;
            let index =
                i64::from(now.year()) * 12 + i64::from(u8::from(now.month())) - 1 - total_months;
            let (Ok(year), Ok(month)) = (
                i32::try_from(index.div_euclid(12)),
                u8::try_from(index.rem_euclid(12) + 1),
            ) else {
                return earliest;
            };
            let Ok(month) = Month::try_from(month) else {
                return earliest;
            };
            let day = now.day().min(month.length(year));
            let Ok(date) = Date::from_calendar_date(year, month, day) else {
                return earliest;
            };
            now.replace_date(date)
                .checked_sub(time::Duration::days(*days))
                .unwrap_or(earliest)
        }
    }
}

/// The outcome for a whole object.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decision {
    /// Whether the object is admitted.
    pub allowed: bool,
    /// Why not, when not: one line per rejected image.
    pub message: Option<String>,
    /// Warnings for the user (images with status Warn, audit rejections).
    pub warnings: Vec<String>,
    /// The enforced decision for each image, in input order.
    pub images: Vec<(String, ImageDecision)>,
    /// Rejections that were not enforced (audit mode, or audit-mode policies), one line each.
    pub audit_rejections: Vec<String>,
}

/// Decides an object from the facts of all its images. In `Mode::Enforce` any image
/// rejected by an enforcing policy (or left undecided when `default_allow` is false)
/// rejects the object; in `Mode::Audit` the object is admitted and those rejections are
/// reported in `audit_rejections` and `warnings`.
pub fn decide(
    policies: &PolicySet,
    w: &Workload<'_>,
    images: &[ImageFacts],
    now: OffsetDateTime,
    mode: Mode,
    default_allow: bool,
) -> Decision {
    let mut rejections = Vec::new();
    let mut warnings = Vec::new();
    let mut audit_rejections = Vec::new();
    let mut decisions = Vec::new();
    for img in images {
        let first = evaluate_image(policies, w, img, now);
        let mut enforced = match first.rule() {
            Some(by) if by.audit => evaluate_filtered(policies, w, img, now, false),
            _ => first.clone(),
        };
        if let ImageDecision::Rejected { by } = &first
            && by.audit
        {
            audit_rejections.push(rejection_line(img, Some(by)));
        }
        let line = match &enforced {
            ImageDecision::Rejected { by } => Some(rejection_line(img, Some(by))),
            ImageDecision::NoPolicy if !default_allow => Some(rejection_line(img, None)),
            _ => None,
        };
        let mut blocked = false;
        if let Some(line) = line {
            if mode == Mode::Enforce {
                rejections.push(line);
                blocked = true;
            } else {
                audit_rejections.push(line);
                if let ImageDecision::Rejected { by } = &mut enforced {
                    by.audit = true;
                }
            }
        }
        if img.status == Some(Status::Warn) && !blocked {
            warnings.push(format!(
                "image {:?}: scan status Warn (max CVSS {})",
                img.image,
                fmt_score(img.max_cvss)
            ));
        }
        decisions.push((img.image.clone(), enforced));
    }
    warnings.extend(audit_rejections.iter().map(|l| format!("audit: {l}")));
    Decision {
        allowed: rejections.is_empty(),
        message: if rejections.is_empty() {
            None
        } else {
            Some(rejections.join("\n"))
        },
        warnings,
        images: decisions,
        audit_rejections,
    }
}

fn fmt_score(s: Option<f64>) -> String {
    s.map_or_else(|| "none".to_string(), |s| format!("{s:.1}"))
}

/// One line saying why an image is (or would be) rejected, with the evidence a person
/// needs to fix it: status, score, the worst vulnerabilities and their fixes.
fn rejection_line(img: &ImageFacts, by: Option<&RuleRef>) -> String {
    let why = |by: &RuleRef| {
        if by.matched.is_empty() {
            String::new()
        } else {
            format!(" ({})", by.matched.join("; "))
        }
    };
    let mut line = match by {
        Some(by) if by.audit => format!(
            "image {:?} would be rejected by {by}{} (audit mode)",
            img.image,
            why(by)
        ),
        Some(by) => format!("image {:?} rejected by {by}{}", img.image, why(by)),
        None => format!(
            "image {:?} rejected: no policy decided and the default is to reject",
            img.image
        ),
    };
    match img.status {
        None => line.push_str(": not scanned"),
        Some(s) => {
            line.push_str(&format!(
                ": scan status {s}, max CVSS {}",
                fmt_score(img.max_cvss)
            ));
            let mut top: Vec<&TopVuln> = img.top.iter().collect();
            top.sort_by(|a, b| by_severity(a, b));
            if !top.is_empty() {
                let shown: Vec<String> = top
                    .iter()
                    .take(TOP_IN_MESSAGE)
                    .map(|v| describe(v))
                    .collect();
                line.push_str("; top vulnerabilities: ");
                line.push_str(&shown.join("; "));
                if top.len() > TOP_IN_MESSAGE {
                    line.push_str(&format!("; and {} more", top.len() - TOP_IN_MESSAGE));
                }
            }
            if !img.not_examined.is_empty() {
                line.push_str(&format!(
                    "; not examined (no source in the DB covers them): {}",
                    img.not_examined.join(", ")
                ));
            }
        }
    }
    line
}

fn describe(v: &TopVuln) -> String {
    let score = v
        .cvss
        .map_or_else(|| "no CVSS score".to_string(), |s| format!("CVSS {s:.1}"));
    let fix = if v.fixed.is_empty() {
        "no fixed version".to_string()
    } else {
        format!("fixed in {}", v.fixed.join(", "))
    };
    let at = if v.location.is_empty() {
        String::new()
    } else {
        format!(" at {}", v.location)
    };
    format!(
        "{} ({score}) in {} {}{at}, {fix}",
        v.id, v.package, v.version
    )
}
