//! Reviews decided without a network: `portcullis policy test`.
//!
//! Same preparation and evaluation as `/validate`; only the scan results come from the
//! caller (report files) instead of the scanner, and an image without a report is treated
//! as a failed scan (so `on_scan_error` decides it, as it would in the cluster), unless no
//! scan result could change its decision (then, as in the cluster, it needs none).

use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use portcullis_core::ScanReport;
use portcullis_policy::PolicySet;
use time::OffsetDateTime;

use crate::admission::{self, ImageOutcome, Prepared};
use crate::config::WebhookConfig;
use crate::namespaces::StaticNamespaceLabels;
use crate::review::{self, AdmissionResponse, AdmissionReview};
use crate::scan::ScanFailure;

/// Settings of an offline review.
#[derive(Clone, Debug, Default)]
pub struct OfflineOptions {
    /// Decision settings (mode, failure actions, exemptions ...).
    pub config: WebhookConfig,
    /// Namespace labels by namespace (the name label is always added).
    pub namespace_labels: BTreeMap<String, BTreeMap<String, String>>,
    /// The time decisions are made at (scan ages are measured from it); now when `None`.
    pub now: Option<OffsetDateTime>,
    /// When reports carry no scan time (`scanned_at`), the scan time to assume; `now` when
    /// `None`.
    pub scanned_at: Option<OffsetDateTime>,
    /// Answer as `/mutate` would (with digest-pinning patches).
    pub mutate: bool,
    /// What each image's registry holds beside it (signatures, attestations), fetched by the
    /// caller, or why it could not be; an image missing here has none fetched, so no
    /// signature rule matches it.
    pub attached: HashMap<String, Result<portcullis_core::Attached, String>>,
    /// Matches an SBOM an attestation carries against the caller's DB (`None`: no DB, so an
    /// attested SBOM stands in for no scan).
    pub sbom_matcher: Option<SbomMatcher>,
}

/// What an [`SbomMatcher`] calls: `(image, sbom) -> report`, or why not.
pub type MatchSbom = dyn Fn(&str, &[u8]) -> Result<ScanReport, String> + Send + Sync;

/// Matches SBOM bytes (CycloneDX or SPDX) against a DB.
#[derive(Clone)]
pub struct SbomMatcher(pub Arc<MatchSbom>);

impl std::fmt::Debug for SbomMatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SbomMatcher")
    }
}

/// Decides one AdmissionReview as `/validate` (or `/mutate`) would, reading scan reports
/// through `reports` (image as written in the pod spec → report). Always returns a review
/// carrying the request's uid; an unreadable review gets a refusal with code 400.
pub fn review_offline(
    policies: &PolicySet,
    review_json: &[u8],
    reports: &dyn Fn(&str) -> Option<Arc<ScanReport>>,
    opts: &OfflineOptions,
) -> AdmissionReview {
    let (api_version, request) = match review::parse_review(review_json) {
        Ok(x) => x,
        Err(bad) => {
            return AdmissionResponse::invalid(bad.uid, bad.message).into_review(&bad.api_version);
        }
    };
    let now = opts.now.unwrap_or_else(OffsetDateTime::now_utc);
    let labels = StaticNamespaceLabels {
        namespaces: opts.namespace_labels.clone(),
    };
    let decided = std::panic::catch_unwind(AssertUnwindSafe(|| {
        match admission::prepare(&request, &opts.config, &labels) {
            Prepared::Done(response, _) => response,
            Prepared::Evaluate(p) => {
                let needs = p.trust_needs(policies);
                let attachments: admission::Attachments = if needs.is_empty() {
                    admission::Attachments::new()
                } else {
                    p.distinct_images()
                        .into_iter()
                        .map(|image| {
                            let attached = match opts.attached.get(&image) {
                                Some(Ok(a)) => Ok(a),
                                Some(Err(e)) => Err(e.clone()),
                                None => Err("not fetched".to_string()),
                            };
                            let mut facts = admission::attached_facts(&image, attached, &needs);
                            for a in facts.attestations.values_mut() {
                                let Some(sbom) = a.unmatched_sbom() else {
                                    continue;
                                };
                                match opts.sbom_matcher.as_ref().map(|m| (m.0)(&image, &sbom)) {
                                    Some(Ok(report)) => a.set_sbom_report(&image, &report),
                                    Some(Err(e)) => a.check.problems.push(format!(
                                        "the attested SBOM could not be matched: {e}"
                                    )),
                                    None => a.check.problems.push(
                                        "the attested SBOM is not matched: no vulnerability DB (--db)"
                                            .into(),
                                    ),
                                }
                            }
                            (image, facts)
                        })
                        .collect()
                };
                let outcomes: HashMap<String, ImageOutcome> = p
                    .distinct_images()
                    .into_iter()
                    .map(|image| {
                        let outcome = match reports(&image) {
                            // The report's own scan time first: scan-age rules are tested
                            // on what the results say.
                            Some(report) => ImageOutcome::Report {
                                scanned_at: report.scanned_at.or(opts.scanned_at).unwrap_or(now),
                                report,
                                note: None,
                            },
                            None => p
                                .scan_not_needed(policies, &attachments, &image, now)
                                .unwrap_or_else(|| {
                                    ImageOutcome::Failed(ScanFailure::NoReport {
                                        image: image.clone(),
                                    })
                                }),
                        };
                        (image, outcome)
                    })
                    .collect();
                admission::evaluate(
                    &p,
                    &outcomes,
                    &attachments,
                    policies,
                    &opts.config,
                    now,
                    opts.mutate,
                )
                .response
            }
        }
    }));
    let response = decided.unwrap_or_else(|_| {
        AdmissionResponse::refuse(
            &request.uid,
            500,
            "InternalError",
            "internal error while deciding (a bug: please report it)",
        )
    });
    response.into_review(&api_version)
}
