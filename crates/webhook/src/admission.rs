//! From an admission request to an answer: the steps `/validate`, `/mutate` and the
//! offline `policy test` share.
//!
//! [`prepare`] answers what needs no evaluation (deletes, exempt namespaces, owned
//! objects, unchanged updates) and lists the images otherwise; the caller then finds an
//! [`ImageOutcome`] for each image (the server from the scanner, `policy test` from files);
//! [`evaluate`] turns those into a response with the policies. Only the middle step differs
//! between the server and the offline path.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use portcullis_core::ScanReport;
use portcullis_policy::{
    Decision, ImageDecision, ImageFacts, Mode, PolicySet, RunAs, TrustNeeds, Workload,
};
use serde_json::Value;
use time::OffsetDateTime;

use crate::config::{FailureAction, WebhookConfig};
use crate::namespaces::{self, NamespaceLabels};
use crate::review::{AdmissionRequest, AdmissionResponse, Operation, PatchOp};
use crate::scan::ScanFailure;
use crate::workload::{self, ContainerImage};

/// The audit annotation of an admission decided on signatures or attestations (the API server
/// prefixes it with the webhook's name).
pub(crate) const SUPPLY_CHAIN_ANNOTATION: &str = "supply-chain";

/// A request that needs evaluation.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    pub(crate) uid: String,
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) namespace: String,
    /// False for cluster-scoped objects (decides `global()` in selectors).
    pub(crate) namespaced: bool,
    pub(crate) operation: Operation,
    pub(crate) user: String,
    pub(crate) dry_run: bool,
    pub(crate) containers: Vec<ContainerImage>,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) namespace_labels: BTreeMap<String, String>,
    pub(crate) pull_secret_names: Vec<String>,
    /// The pod's service account (`default` when unset): its pull secrets count too.
    pub(crate) service_account: String,
}

impl Pending {
    /// The distinct images, in spec order.
    pub(crate) fn distinct_images(&self) -> Vec<String> {
        let mut seen = Vec::new();
        for c in &self.containers {
            if !seen.contains(&c.image) {
                seen.push(c.image.clone());
            }
        }
        seen
    }
}

/// The first step's result.
#[derive(Clone, Debug)]
pub(crate) enum Prepared {
    /// Answered without evaluation, with the reason for logs and metrics.
    Done(AdmissionResponse, &'static str),
    /// Needs the images' scan results.
    Evaluate(Box<Pending>),
}

/// Decides what needs no evaluation, and gathers what evaluation needs.
pub(crate) fn prepare(
    req: &AdmissionRequest,
    cfg: &WebhookConfig,
    ns_provider: &dyn NamespaceLabels,
) -> Prepared {
    let uid = req.uid.clone();
    if matches!(req.operation, Operation::Delete | Operation::Connect) {
        return Prepared::Done(AdmissionResponse::allow(uid), "operation");
    }
    let Some(object) = req.object.as_ref() else {
        return Prepared::Done(
            AdmissionResponse::invalid(
                uid,
                format!("{} request has no object", req.operation.as_str()),
            ),
            "invalid",
        );
    };
    let kind = req.kind.kind.clone();
    let pod = object.pod(&kind);
    let containers = workload::object_images(pod.as_ref());
    if containers.is_empty() {
        return Prepared::Done(AdmissionResponse::allow(uid), "no_images");
    }
    let namespace = req
        .namespace
        .clone()
        .or_else(|| object.metadata.namespace.clone())
        .unwrap_or_default();
    if !namespace.is_empty() && cfg.is_exempt_namespace(&namespace) {
        return Prepared::Done(AdmissionResponse::allow(uid), "exempt_namespace");
    }
    let namespace_labels = if namespace.is_empty() {
        BTreeMap::new()
    } else {
        namespaces::resolve(ns_provider, &namespace)
    };
    if namespaces::is_ignored(&namespace_labels) {
        return Prepared::Done(AdmissionResponse::allow(uid), "ignored_namespace");
    }
    if !cfg.evaluate_owned && object.has_controller() {
        return Prepared::Done(AdmissionResponse::allow(uid), "owned");
    }
    if req.operation == Operation::Update
        && let Some(old) = req.old_object.as_ref()
        && workload::image_set(&kind, old) == workload::image_set(&kind, object)
    {
        return Prepared::Done(AdmissionResponse::allow(uid), "images_unchanged");
    }
    Prepared::Evaluate(Box::new(Pending {
        uid,
        name: req
            .name
            .clone()
            .or_else(|| object.metadata.name.clone())
            .unwrap_or_default(),
        labels: workload::labels(object, pod.as_ref()),
        pull_secret_names: workload::pull_secret_names(pod.as_ref()),
        service_account: workload::service_account(pod.as_ref()),
        namespaced: !namespace.is_empty() || workload::is_namespaced_kind(&kind),
        kind,
        namespace,
        operation: req.operation,
        user: req.user_info.username.clone(),
        dry_run: req.dry_run.unwrap_or(false),
        containers,
        namespace_labels,
    }))
}

/// What is known of one image's scan when evaluation starts.
#[derive(Clone, Debug)]
pub(crate) enum ImageOutcome {
    /// A report, with the time it was made and an optional note for the user (a stale
    /// report used because the fresh scan failed).
    Report {
        report: Arc<ScanReport>,
        scanned_at: OffsetDateTime,
        note: Option<String>,
    },
    /// The scan was still running when the budget ran out.
    TimedOut,
    /// The scan failed.
    Failed(ScanFailure),
    /// No scan result could change the decision ([`portcullis_policy::scan_matters`]): the
    /// image is decided as unscanned, and never scanned for it.
    NotNeeded,
}

impl Pending {
    /// The workload as policies select it.
    pub(crate) fn workload(&self) -> Workload<'_> {
        Workload {
            labels: &self.labels,
            namespace_labels: &self.namespace_labels,
            namespaced: self.namespaced,
        }
    }

    /// [`ImageOutcome::NotNeeded`] when no scan result could change the decision on `image`
    /// (its facts before scanning in `attachments`).
    pub(crate) fn scan_not_needed(
        &self,
        policies: &PolicySet,
        attachments: &Attachments,
        image: &str,
        now: OffsetDateTime,
    ) -> Option<ImageOutcome> {
        let base = base_facts(attachments, image);
        (!portcullis_policy::scan_matters(policies, &self.workload(), &base, now))
            .then_some(ImageOutcome::NotNeeded)
    }

    /// What the containers running `image` say of their user.
    pub(crate) fn run_as_of(&self, image: &str) -> Vec<RunAs> {
        self.containers
            .iter()
            .filter(|c| c.image == image)
            .map(|c| c.run_as)
            .collect()
    }

    /// What attached to its images the policies selecting this workload need checked.
    pub(crate) fn trust_needs(&self, policies: &PolicySet) -> TrustNeeds {
        policies.trust_needs(&self.workload())
    }
}

/// Each image's facts before any scan: its reference and the checks of what is attached to it
/// (signatures, attestations) that the policies selecting the workload need. An image not in
/// the map needs none.
pub(crate) type Attachments = HashMap<String, ImageFacts>;

/// The facts of `image` before scanning.
pub(crate) fn base_facts(attachments: &Attachments, image: &str) -> ImageFacts {
    attachments
        .get(image)
        .cloned()
        .unwrap_or_else(|| ImageFacts::unscanned(image))
}

/// The facts before scanning of an image whose attachments are `attached` (or could not be
/// fetched), checked for `needs`.
pub(crate) fn attached_facts(
    image: &str,
    attached: Result<&portcullis_core::Attached, String>,
    needs: &TrustNeeds,
) -> ImageFacts {
    let mut facts = ImageFacts::unscanned(image);
    match attached {
        Ok(a) => facts.check_attached(a, needs),
        Err(e) => facts.attachments_error = Some(e),
    }
    facts
}

/// The result of evaluation, with what metrics and the audit record need.
#[derive(Clone, Debug)]
pub(crate) struct Verdict {
    pub(crate) response: AdmissionResponse,
    /// `allowed`, `rejected` or `audit_rejected`.
    pub(crate) result: &'static str,
    /// The deciding policy and rule, empty when none decided.
    pub(crate) policy: String,
    pub(crate) rule: String,
    /// What would have been rejected in enforce mode (audit mode).
    pub(crate) audit_rejections: Vec<String>,
}

/// Decides a pending request from the images' outcomes and the policies.
pub(crate) fn evaluate(
    p: &Pending,
    outcomes: &HashMap<String, ImageOutcome>,
    attachments: &Attachments,
    policies: &PolicySet,
    cfg: &WebhookConfig,
    now: OffsetDateTime,
    mutate: bool,
) -> Verdict {
    let audit = cfg.mode == Mode::Audit;
    let mut facts = Vec::new();
    let mut scan_rejections = Vec::new();
    let mut warnings = Vec::new();
    // The config facts cost copies: made only when some policy reads them.
    let reads_config = policies.reads_any_config();
    for image in p.distinct_images() {
        let base = attachments.get(&image);
        let problem = match outcomes.get(&image) {
            // Signatures a rule needs and that could not be fetched: as a scan error.
            _ if let Some(error) = base.and_then(|b| b.attachments_error.as_deref()) => (
                cfg.on_scan_error,
                format!("image {image}: its signatures could not be fetched: {error}"),
            ),
            Some(ImageOutcome::Report {
                report,
                scanned_at,
                note,
            }) => {
                if let Some(n) = note {
                    warnings.push(n.clone());
                }
                let mut f = ImageFacts::from_report(image.clone(), report, Some(*scanned_at));
                if let Some(base) = base {
                    f.take_attached_from(base);
                }
                if reads_config {
                    f.run_as(report.image.config.as_ref(), &p.run_as_of(&image));
                }
                facts.push(f);
                continue;
            }
            Some(ImageOutcome::NotNeeded) => {
                facts.push(base_facts(attachments, &image));
                continue;
            }
            Some(ImageOutcome::TimedOut) => (
                cfg.on_scan_timeout,
                format!(
                    "image {image}: the scan is still running (scan budget of {:.1}s spent); it continues in the \
                     background and a retry will be decided from its result",
                    cfg.scan_budget.as_secs_f64()
                ),
            ),
            Some(ImageOutcome::Failed(e)) => (
                cfg.on_scan_error,
                format!("image {image} could not be scanned: {e}"),
            ),
            None => (
                cfg.on_scan_error,
                format!("image {image} could not be scanned: no result"),
            ),
        };
        match problem {
            (FailureAction::Reject, msg) if !audit => scan_rejections.push(msg),
            (_, msg) => warnings.push(msg),
        }
    }
    let workload = p.workload();
    let decision = portcullis_policy::decide(
        policies,
        &workload,
        &facts,
        now,
        cfg.mode,
        cfg.default_allow,
    );
    let (policy, rule) = deciding_rule(&decision);
    warnings.extend(decision.warnings.iter().cloned());
    let audit_rejections = decision.audit_rejections.clone();
    let mut messages: Vec<String> = scan_rejections;
    if !decision.allowed {
        messages.push(
            decision
                .message
                .clone()
                .unwrap_or_else(|| "rejected by policy".to_string()),
        );
    }
    if !messages.is_empty() {
        let mut response = AdmissionResponse::deny(&p.uid, messages.join("; "));
        response.warnings = warnings;
        return Verdict {
            response,
            result: "rejected",
            policy,
            rule,
            audit_rejections,
        };
    }
    let mut response = AdmissionResponse::allow(&p.uid);
    response.warnings = warnings;
    if mutate {
        response = response.with_patch(&pin_patches(p, outcomes));
    }
    // What admitted an image on signatures or attestations goes to the API server's audit log
    // (and `policy test`'s output): which key verified which signature where.
    if !attachments.is_empty() {
        let evidence: Vec<String> = decision
            .images
            .iter()
            .filter_map(|(image, d)| match d {
                ImageDecision::Allowed { by: Some(by) } if !by.matched.is_empty() => Some(format!(
                    "image {image:?} allowed by {by} ({})",
                    by.matched.join("; ")
                )),
                _ => None,
            })
            .collect();
        if !evidence.is_empty() {
            response
                .audit_annotations
                .insert(SUPPLY_CHAIN_ANNOTATION.into(), evidence.join("\n"));
        }
    }
    let result = if audit_rejections.is_empty() {
        "allowed"
    } else {
        "audit_rejected"
    };
    Verdict {
        response,
        result,
        policy,
        rule,
        audit_rejections,
    }
}

/// A rejection of the whole request that no policy made (the policy set is broken): denied in
/// enforce mode; audit mode allows and records it as what enforce would have rejected.
pub(crate) fn refusal(p: &Pending, message: String, cfg: &WebhookConfig) -> Verdict {
    if cfg.mode == Mode::Audit {
        let mut response = AdmissionResponse::allow(&p.uid);
        response.warnings.push(message.clone());
        return Verdict {
            response,
            result: "audit_rejected",
            policy: String::new(),
            rule: String::new(),
            audit_rejections: vec![message],
        };
    }
    Verdict {
        response: AdmissionResponse::deny(&p.uid, message),
        result: "rejected",
        policy: String::new(),
        rule: String::new(),
        audit_rejections: Vec::new(),
    }
}

/// The policy and rule that decided, for metrics.
/// The first rejecting rule if any, else the first allowing one.
fn deciding_rule(d: &Decision) -> (String, String) {
    let rejected = d.images.iter().find_map(|(_, i)| match i {
        ImageDecision::Rejected { by } => Some(by),
        _ => None,
    });
    let allowed = || {
        d.images.iter().find_map(|(_, i)| match i {
            ImageDecision::Allowed { by } => by.as_ref(),
            _ => None,
        })
    };
    rejected
        .or_else(allowed)
        .map(|r| (r.policy.clone(), r.label()))
        .unwrap_or_default()
}

/// `replace` operations pinning every image whose report has a digest to `repo@digest`.
fn pin_patches(p: &Pending, outcomes: &HashMap<String, ImageOutcome>) -> Vec<PatchOp> {
    let mut ops = Vec::new();
    for c in &p.containers {
        let Some(ImageOutcome::Report { report, .. }) = outcomes.get(&c.image) else {
            continue;
        };
        let Some(digest) = &report.image.digest else {
            continue;
        };
        let pinned = format!(
            "{}@{digest}",
            portcullis_core::ImageRef::written_repository(&c.image)
        );
        if pinned != c.image {
            ops.push(PatchOp {
                op: "replace".into(),
                path: c.pointer.clone(),
                value: Value::String(pinned),
            });
        }
    }
    ops
}

/// A rejection that no scan result could change: each image is evaluated as unscanned and as
/// scanned with the best and the worst results; an image rejected by the same rule in every case
/// is rejected without pulling it (an untrusted registry needs no scan, and may not be reachable).
/// Only in enforce mode: audit mode records what scans say.
pub(crate) fn scan_independent_rejection(
    p: &Pending,
    policies: &PolicySet,
    attachments: &Attachments,
    cfg: &WebhookConfig,
    now: OffsetDateTime,
) -> Option<Verdict> {
    let workload = p.workload();
    // Config and feed criteria take values no stand-in result covers: those need the scan.
    if cfg.mode == Mode::Audit || policies.reads_config(&workload) {
        return None;
    }
    let variants = |image: &str| {
        let unscanned = base_facts(attachments, image);
        let mut best = unscanned.clone();
        best.status = Some(portcullis_core::Status::Pass);
        best.max_cvss = Some(0.0);
        best.last_scan = Some(now);
        let mut worst = best.clone();
        worst.status = Some(portcullis_core::Status::Fail);
        worst.max_cvss = Some(10.0);
        worst.last_scan = Some(OffsetDateTime::UNIX_EPOCH);
        worst.vulnerability_ids = vec!["*".into()];
        let mut warn = best.clone();
        warn.status = Some(portcullis_core::Status::Warn);
        warn.max_cvss = Some(5.0);
        [unscanned, best, warn, worst]
    };
    let mut rejected = Vec::new();
    for image in p.distinct_images() {
        let mut by = None;
        let all_rejected =
            variants(&image).iter().all(|f| {
                match portcullis_policy::evaluate_image(policies, &workload, f, now) {
                    ImageDecision::Rejected { by: r } if !r.audit => {
                        let key = (r.policy.clone(), r.rule);
                        by.get_or_insert(key.clone()) == &key
                    }
                    _ => false,
                }
            });
        if all_rejected {
            rejected.push(base_facts(attachments, &image));
        }
    }
    if rejected.is_empty() {
        return None;
    }
    let decision = portcullis_policy::decide(
        policies,
        &workload,
        &rejected,
        now,
        cfg.mode,
        cfg.default_allow,
    );
    if decision.allowed {
        return None;
    }
    let (policy, rule) = deciding_rule(&decision);
    let mut response = AdmissionResponse::deny(
        &p.uid,
        decision
            .message
            .clone()
            .unwrap_or_else(|| "rejected by policy".to_string()),
    );
    response.warnings = decision.warnings.clone();
    Some(Verdict {
        response,
        result: "rejected",
        policy,
        rule,
        audit_rejections: vec![],
    })
}
