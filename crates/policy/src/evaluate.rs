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

use serde::{Deserialize as _, Serialize};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime};

use portcullis_core::{ScanReport, Status};

use crate::crd::{
    Action, AgeOperator, ContainerAdmissionPolicy, Mode, ScoreOperator, SetOperator, TimeOperator,
};
use crate::index::SelectorIndex;
use crate::policy::{
    CompiledRule, CompiledSignature, Policy, PolicyError, ScanPoint, attestation_key,
};
use portcullis_core::{Attached, ImageConfig};
use portcullis_trust::{AttestationCheck, KeySet, SignatureCheck};

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
    /// Signature checks by key set ([`KeySet::id`]). A rule whose keys have no check here
    /// does not match: what was not examined is never taken as signed.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub signatures: BTreeMap<String, SignatureCheck>,
    /// Attestation checks by key set and predicate type.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub attestations: BTreeMap<String, AttestationFacts>,
    /// Why what is attached to the image could not be fetched (the registry was unreachable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachments_error: Option<String>,
    /// The image config as the workload runs it ([`ImageFacts::run_as`]: the caller knows
    /// the containers); `None` when unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<ConfigFacts>,
    /// The oldest vulnerability data the scan used: the source (`osv-pypi`, or `database`
    /// for the DB's build time) and when it was imported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feed: Option<(String, OffsetDateTime)>,
}

/// An attestation check, with the scan it attests when its predicate holds one (a
/// vulnerability scan whose `scanner.result` is a Portcullis report or Trivy's JSON).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AttestationFacts {
    /// The check, newest verified attestation first.
    pub check: AttestationCheck,
    /// The newest verified attestation's scan, as facts.
    pub scan: Option<Box<ImageFacts>>,
}

impl AttestationFacts {
    /// The SBOM (a CycloneDX or SPDX predicate) of the newest verified attestation, as JSON
    /// bytes, when no scan stands in for it yet: the caller matches it against its DB and
    /// gives the result to [`AttestationFacts::set_sbom_report`].
    pub fn unmatched_sbom(&self) -> Option<Vec<u8>> {
        if self.scan.is_some() {
            return None;
        }
        let newest = self.check.verified.first()?;
        let sbom = newest.predicate_type == portcullis_trust::CYCLONEDX_PREDICATE
            || newest.predicate_type == portcullis_trust::SPDX_PREDICATE;
        sbom.then(|| serde_json::to_vec(&newest.predicate).ok())
            .flatten()
    }

    /// The scan of the attested SBOM (its packages matched here), as made when the SBOM was.
    pub fn set_sbom_report(&mut self, image: &str, report: &ScanReport) {
        let time = self.check.verified.first().and_then(|a| a.time);
        self.scan = Some(Box::new(ImageFacts::from_report(image, report, time)));
    }

    /// The facts of `check` for `image`.
    pub fn new(image: &str, check: AttestationCheck) -> AttestationFacts {
        let scan = check
            .verified
            .first()
            .and_then(|a| attested_scan(image, a.predicate.pointer("/scanner/result")?, a.time))
            .map(Box::new);
        AttestationFacts { check, scan }
    }
}

/// The scan an attestation's `scanner.result` holds: a Portcullis report (`scan --format
/// json`), or Trivy's JSON report (`Results[].Vulnerabilities[]`, status from the default
/// thresholds on the highest CVSS score).
fn attested_scan(
    image: &str,
    result: &serde_json::Value,
    time: Option<OffsetDateTime>,
) -> Option<ImageFacts> {
    if let Ok(report) = ScanReport::deserialize(result) {
        return Some(ImageFacts::from_report(image, &report, time));
    }
    let results = result.get("Results")?.as_array()?;
    let mut facts = ImageFacts::unscanned(image);
    facts.last_scan = time;
    let mut ids = BTreeSet::new();
    for v in results
        .iter()
        .filter_map(|r| r.get("Vulnerabilities")?.as_array())
        .flatten()
    {
        let text = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or_default();
        let id = text("VulnerabilityID");
        if id.is_empty() {
            continue;
        }
        let score = v
            .get("CVSS")
            .and_then(|c| c.as_object())
            .into_iter()
            .flat_map(|c| c.values())
            .filter_map(|c| c.get("V3Score").and_then(|s| s.as_f64()))
            .fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.max(s))));
        ids.insert(id.to_string());
        if let Some(s) = score {
            facts.max_cvss = Some(facts.max_cvss.map_or(s, |m| m.max(s)));
        }
        facts.top.push(TopVuln {
            id: id.to_string(),
            cvss: score,
            package: text("PkgName").to_string(),
            version: text("InstalledVersion").to_string(),
            fixed: match text("FixedVersion") {
                "" => vec![],
                f => vec![f.to_string()],
            },
            location: String::new(),
        });
    }
    let thresholds = portcullis_core::Thresholds::default();
    facts.status = Some(match facts.max_cvss {
        Some(s) if s >= thresholds.fail => Status::Fail,
        Some(s) if s >= thresholds.warn => Status::Warn,
        None if !ids.is_empty() => thresholds.unknown,
        _ => Status::Pass,
    });
    facts.vulnerability_ids = ids.into_iter().collect();
    Some(facts)
}

/// What a container's `securityContext` (over its pod's) says of the user it runs as.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunAs {
    /// `runAsNonRoot`.
    pub non_root: Option<bool>,
    /// `runAsUser`.
    pub user: Option<i64>,
}

/// The image config as a workload runs it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ConfigFacts {
    /// The config's `User`.
    pub user: String,
    /// True when some container of the image runs as root.
    pub runs_as_root: bool,
    /// Why `runs_as_root` is what it is, for people.
    pub root_reason: String,
    /// Exposed ports (`22/tcp`).
    pub exposed_ports: Vec<String>,
    /// Environment variable names.
    pub env_names: Vec<String>,
    /// When the image was created.
    #[serde(with = "time::serde::rfc3339::option")]
    pub created: Option<OffsetDateTime>,
}

impl ConfigFacts {
    /// The facts of `config` run by containers with `run_as` settings (none: the config
    /// alone decides). A container runs as root when its `runAsUser` is 0, or when it has no
    /// `runAsUser`, no `runAsNonRoot: true` (the kubelet refuses to start such a container as
    /// root) and the config's user is root.
    pub fn new(config: &ImageConfig, run_as: &[RunAs]) -> ConfigFacts {
        let config_root = config.user_is_root();
        let judge = |r: &RunAs| -> (bool, String) {
            match (r.user, r.non_root) {
                (Some(0), _) => (true, "securityContext runAsUser 0".into()),
                (Some(u), _) => (false, format!("securityContext runAsUser {u}")),
                (None, Some(true)) => (false, "securityContext runAsNonRoot".into()),
                _ if config_root => (true, format!("config User {:?}", config.user)),
                _ => (false, format!("config User {:?}", config.user)),
            }
        };
        let judged: Vec<(bool, String)> = if run_as.is_empty() {
            vec![judge(&RunAs::default())]
        } else {
            run_as.iter().map(judge).collect()
        };
        let (runs_as_root, root_reason) = judged
            .iter()
            .find(|(root, _)| *root)
            .or(judged.first())
            .cloned()
            .unwrap_or_default();
        ConfigFacts {
            user: config.user.clone(),
            runs_as_root,
            root_reason,
            exposed_ports: config.exposed_ports.clone(),
            env_names: config.env_names.clone(),
            created: config.created,
        }
    }
}

/// What is attached to an image that the policies selecting a workload need checked.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrustNeeds {
    /// Key sets of signature criteria.
    pub signatures: Vec<KeySet>,
    /// Root certificates of signature criteria by certificate.
    pub certificates: Vec<portcullis_trust::TrustRoots>,
    /// Key sets and predicate types of attestation criteria.
    pub attestations: Vec<(KeySet, String)>,
}

impl TrustNeeds {
    /// True when nothing attached needs checking.
    pub fn is_empty(&self) -> bool {
        self.signatures.is_empty() && self.certificates.is_empty() && self.attestations.is_empty()
    }

    /// An identity of these needs, for caching checks made for them.
    pub fn id(&self) -> String {
        let mut parts: Vec<String> = self.signatures.iter().map(|k| k.id().to_string()).collect();
        parts.extend(self.certificates.iter().map(|r| r.id().to_string()));
        parts.extend(self.attestations.iter().map(|(k, t)| attestation_key(k, t)));
        parts.join("|")
    }
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
        let feed = report
            .coverage
            .iter()
            .flat_map(|c| &c.sources)
            .filter_map(|s| Some((&s.source, s.imported?)))
            .min_by_key(|(_, t)| *t)
            .map(|(source, t)| (source.clone(), t))
            .or_else(|| {
                (report.db.built != OffsetDateTime::UNIX_EPOCH)
                    .then(|| ("database".to_string(), report.db.built))
            });
        ImageFacts {
            image: image.into(),
            status: Some(report.summary.status),
            max_cvss: report.summary.max_cvss,
            last_scan,
            vulnerability_ids: ids.into_iter().collect(),
            top,
            not_examined,
            feed,
            ..ImageFacts::default()
        }
    }

    /// Checks what is attached to the image (fetched once) against what the policies need,
    /// keeping each check with its evidence.
    pub fn check_attached(&mut self, attached: &Attached, needs: &TrustNeeds) {
        for keys in &needs.signatures {
            self.signatures.insert(
                keys.id().to_string(),
                portcullis_trust::check_signatures(attached, keys),
            );
        }
        for roots in &needs.certificates {
            self.signatures.insert(
                roots.id().to_string(),
                portcullis_trust::check_certificate_signatures(
                    attached,
                    roots,
                    std::time::SystemTime::now(),
                ),
            );
        }
        for (keys, predicate_type) in &needs.attestations {
            let check = portcullis_trust::check_attestations(attached, keys, predicate_type);
            self.attestations.insert(
                attestation_key(keys, predicate_type),
                AttestationFacts::new(&self.image, check),
            );
        }
    }

    /// Copies the checks of what is attached from `other` (the same image's).
    pub fn take_attached_from(&mut self, other: &ImageFacts) {
        self.signatures = other.signatures.clone();
        self.attestations = other.attestations.clone();
        self.attachments_error = other.attachments_error.clone();
    }

    /// The config facts as `run_as` (the containers running the image) run it.
    pub fn run_as(&mut self, config: Option<&ImageConfig>, run_as: &[RunAs]) {
        if let Some(c) = config {
            self.config = Some(ConfigFacts::new(c, run_as));
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
    /// Some rule reads what is attached to images (signatures, attestations).
    attachments: bool,
    /// Some rule reads the image config or the feeds' age.
    config: bool,
    /// The policies filed by the labels their selectors need.
    index: SelectorIndex,
}

impl PolicySet {
    /// True when some rule reads scan results: without one, no decision needs a scan (nor the
    /// vulnerability DB).
    pub fn reads_scans(&self) -> bool {
        self.policies
            .iter()
            .any(|p| p.rules.iter().any(|r| r.reads_scan()))
    }

    /// True when some rule needs what is attached to images (signatures, attestations).
    pub fn reads_attachments(&self) -> bool {
        self.attachments
    }

    /// True when some rule reads the image config or the feeds' age (whatever it selects).
    pub fn reads_any_config(&self) -> bool {
        self.config
    }

    /// True when a policy selecting `w` has a criterion on the image config or the feeds'
    /// age, which no stand-in scan result can play for every value.
    pub fn reads_config(&self, w: &Workload<'_>) -> bool {
        self.config
            && self
                .selecting(w)
                .flat_map(|p| &p.rules)
                .any(CompiledRule::reads_config)
    }

    /// What attached to the images of `w` the policies selecting it need checked.
    pub fn trust_needs(&self, w: &Workload<'_>) -> TrustNeeds {
        let mut needs = TrustNeeds::default();
        if !self.attachments {
            return needs;
        }
        for r in self
            .selecting(w)
            .flat_map(|p| &p.rules)
            .filter(|r| r.reads_attachments())
        {
            if let Some(keys) = r.signature.as_ref().and_then(|s| s.keys.as_ref())
                && !needs.signatures.iter().any(|k| k.id() == keys.id())
            {
                needs.signatures.push(keys.clone());
            }
            if let Some(c) = r.signature.as_ref().and_then(|s| s.certificates.as_ref())
                && !needs.certificates.iter().any(|k| k.id() == c.roots.id())
            {
                needs.certificates.push(c.roots.clone());
            }
            if let Some(a) = &r.attestation
                && !needs
                    .attestations
                    .iter()
                    .any(|(k, t)| k.id() == a.keys.id() && *t == a.predicate_type)
            {
                needs
                    .attestations
                    .push((a.keys.clone(), a.predicate_type.clone()));
            }
        }
        needs
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
        // Known once per set, so admissions with no such rule pay nothing for them.
        let rules = || policies.iter().flat_map(|p| &p.rules);
        let attachments = rules().any(CompiledRule::reads_attachments);
        let config = rules().any(CompiledRule::reads_config);
        let index = SelectorIndex::new(&policies);
        PolicySet {
            policies,
            attachments,
            config,
            index,
        }
    }

    /// The policies whose selectors match `w`, in evaluation order. Only those the index
    /// finds by the workload's labels are evaluated, so a decision costs what the policies
    /// that can select it cost, however many others there are.
    fn selecting<'s>(&'s self, w: &Workload<'_>) -> impl Iterator<Item = &'s Policy> {
        let w = *w;
        let candidates = self.index.candidates(&w);
        (0..candidates.len())
            .map(move |i| &self.policies[candidates[i] as usize])
            .filter(move |p| p.selects(&w))
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
    for p in policies.selecting(w) {
        let audit = p.mode == Mode::Audit;
        if audit && !include_audit {
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

/// True when a scan result could change the decision for an image in workload `w`: walking the
/// policies that select the workload in order, a rule that reads scan results (status, last
/// scan, CVSS, vulnerability ids, config, feeds) comes before any rule that decides without
/// them (on the image path, signatures, attestations: what `unscanned` holds).
/// When false, the decision made with no scan result is exact, so the image need not be
/// scanned (Calico admits what no policy selects without scanning it). A path-only match in an
/// audit policy does not end the walk: enforcing policies after it still decide.
pub fn scan_matters(
    policies: &PolicySet,
    w: &Workload<'_>,
    unscanned: &ImageFacts,
    now: OffsetDateTime,
) -> bool {
    for p in policies.selecting(w) {
        for r in &p.rules {
            if r.reads_scan() {
                return true;
            }
            if rule_matches(r, unscanned, now) {
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
    if let Some(sig) = &r.signature
        && signers(sig, img).len() < sig.count
    {
        return false;
    }
    if !config_matches(r, img, now) || !feed_matches(r, img, now) {
        return false;
    }
    // With an attestation, the scan criteria read the attested scan.
    let img = match &r.attestation {
        None => img,
        Some(a) => {
            let Some(facts) = img.attestations.get(&a.key()) else {
                return false;
            };
            let Some(newest) = facts.check.verified.first() else {
                return false;
            };
            if let Some(max) = a.max_age {
                match newest.time {
                    Some(t) if now - t <= max => {}
                    _ => return false,
                }
            }
            match &facts.scan {
                Some(scan) => scan,
                None if !r.reads_results() => img,
                None => return false,
            }
        }
    };
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

/// The distinct signers of `img` a signature criterion accepts: keys that verified a
/// signature, and identities of certificates chained to its roots that match its subjects
/// (and issuers).
fn signers(sig: &CompiledSignature, img: &ImageFacts) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if let Some(check) = sig.keys.as_ref().and_then(|k| img.signatures.get(k.id())) {
        out.extend(check.keys().into_iter().map(str::to_string));
    }
    if let Some(c) = &sig.certificates
        && let Some(check) = img.signatures.get(c.roots.id())
    {
        for v in &check.verified {
            let Some(identity) = &v.identity else {
                continue;
            };
            let issuer_ok =
                c.issuers.is_empty() || v.issuer.as_ref().is_some_and(|i| c.issuers.contains(i));
            if issuer_ok && c.subjects.iter().any(|re| re.is_match(identity)) {
                out.insert(identity.clone());
            }
        }
    }
    out
}

fn config_matches(r: &CompiledRule, img: &ImageFacts, now: OffsetDateTime) -> bool {
    let Some(want) = &r.image_config else {
        return true;
    };
    let Some(c) = &img.config else {
        return false;
    };
    if want.run_as_root.is_some_and(|root| root != c.runs_as_root) {
        return false;
    }
    if let Some((op, ports)) = &want.exposed_ports
        && !set_match(
            *op,
            c.exposed_ports
                .iter()
                .any(|p| ports.contains(&p.to_ascii_lowercase())),
        )
    {
        return false;
    }
    if let Some((op, regexes)) = &want.env_names
        && !set_match(
            *op,
            c.env_names
                .iter()
                .any(|n| regexes.iter().any(|re| re.is_match(n))),
        )
    {
        return false;
    }
    if let Some(age) = want.older_than {
        match c.created {
            Some(t) if now - t > age => {}
            _ => return false,
        }
    }
    true
}

fn feed_matches(r: &CompiledRule, img: &ImageFacts, now: OffsetDateTime) -> bool {
    let Some((op, d)) = &r.feed_age else {
        return true;
    };
    let Some((_, t)) = &img.feed else {
        return false;
    };
    match op {
        AgeOperator::Gt => now - *t > *d,
        AgeOperator::Lt => now - *t < *d,
    }
}

/// How long ago `t` was, as people say it.
fn ago(now: OffsetDateTime, t: OffsetDateTime) -> String {
    let d = now - t;
    match d.whole_days() {
        0 if d.whole_hours() > 0 => format!("{} hours ago", d.whole_hours()),
        0 => "today".to_string(),
        1 => "1 day ago".to_string(),
        n => format!("{n} days ago"),
    }
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
    out.extend(explain_supply_chain(r, img, now));
    out
}

/// The signature, attestation, config and feed criteria of `r` with what matched them.
fn explain_supply_chain(r: &CompiledRule, img: &ImageFacts, now: OffsetDateTime) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(sig) = &r.signature {
        let checks: Vec<String> = sig
            .keys
            .iter()
            .map(|k| k.id())
            .chain(sig.certificates.iter().map(|c| c.roots.id()))
            .filter_map(|id| img.signatures.get(id))
            .map(SignatureCheck::describe)
            .collect();
        let signers: Vec<String> = signers(sig, img).into_iter().collect();
        out.push(format!(
            "signature count {}: {} ({})",
            sig.count,
            signers.join(", "),
            checks.join("; ")
        ));
    }
    if let Some(a) = &r.attestation
        && let Some(facts) = img.attestations.get(&a.key())
    {
        out.push(format!(
            "attestation {}{}: {}",
            a.predicate_type,
            a.max_age
                .map(|d| format!(" maxAge {}", portcullis_core::format_duration(d)))
                .unwrap_or_default(),
            facts.check.describe()
        ));
    }
    if let (Some(want), Some(c)) = (&r.image_config, &img.config) {
        if let Some(root) = want.run_as_root {
            out.push(format!(
                "imageConfig runAsRoot {root}: {} ({})",
                if c.runs_as_root {
                    "runs as root"
                } else {
                    "does not run as root"
                },
                c.root_reason
            ));
        }
        if let Some((op, ports)) = &want.exposed_ports {
            out.push(format!(
                "imageConfig exposedPorts {op:?} [{}]: exposes [{}]",
                ports.iter().cloned().collect::<Vec<_>>().join(", "),
                c.exposed_ports.join(", ")
            ));
        }
        if let Some((op, regexes)) = &want.env_names {
            let hits: Vec<&str> = c
                .env_names
                .iter()
                .filter(|n| regexes.iter().any(|re| re.is_match(n)))
                .map(String::as_str)
                .collect();
            out.push(format!(
                "imageConfig envNames {op:?}: {}",
                if hits.is_empty() {
                    "none match".to_string()
                } else {
                    hits.join(", ")
                }
            ));
        }
        if let (Some(age), Some(created)) = (want.older_than, c.created) {
            out.push(format!(
                "imageConfig olderThan {}: created {}, {}",
                portcullis_core::format_duration(age),
                portcullis_core::format_time(created),
                ago(now, created)
            ));
        }
    }
    if let (Some((op, d)), Some((source, t))) = (&r.feed_age, &img.feed) {
        out.push(format!(
            "feedAge {} {}: {source} imported {}, {}",
            match op {
                AgeOperator::Gt => "gt",
                AgeOperator::Lt => "lt",
            },
            portcullis_core::format_duration(*d),
            portcullis_core::format_time(*t),
            ago(now, *t)
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
        None if !img.signatures.is_empty() || !img.attestations.is_empty() => {
            line.push_str(": not scanned at admission")
        }
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
    if let Some(e) = &img.attachments_error {
        line.push_str(&format!("; signatures could not be fetched: {e}"));
    }
    for (keys, check) in &img.signatures {
        let what = if keys.starts_with("roots:") {
            "certificates"
        } else {
            "keys"
        };
        line.push_str(&format!(
            "; signatures ({what} {keys}): {}",
            check.describe()
        ));
    }
    for (key, facts) in &img.attestations {
        let predicate = key.rsplit(' ').next().unwrap_or_default();
        line.push_str(&format!(
            "; attestations ({predicate}): {}",
            facts.check.describe()
        ));
        if let Some(scan) = &facts.scan {
            line.push_str(&format!(
                "; attested scan: status {}, max CVSS {}",
                scan.status.map_or("unknown", |s| s.as_str()),
                fmt_score(scan.max_cvss)
            ));
            let mut top: Vec<&TopVuln> = scan.top.iter().collect();
            top.sort_by(|a, b| by_severity(a, b));
            if let Some(worst) = top.first() {
                line.push_str(&format!(", worst {}", describe(worst)));
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
