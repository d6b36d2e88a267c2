//! What the handlers share: configuration, the scanner, the current policies, metrics.
//!
//! Policies sit behind an `RwLock<Arc<..>>`: a request clones the `Arc` once and decides
//! with that set even if a reload swaps it meanwhile.

use parking_lot::RwLock;
use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use futures_util::FutureExt as _;
use portcullis_policy::{ContainerAdmissionPolicy, ImageFacts, PolicySet};
use time::OffsetDateTime;

pub use portcullis_core::DecisionEvent;

use crate::admission::{self, ImageOutcome, Pending, Prepared, Verdict};
use crate::config::{FailureAction, WebhookConfig};
use crate::metrics::{DecisionLabels, Metrics};
use crate::namespaces::{NameOnlyLabels, NamespaceLabels};
use crate::review::{self, AdmissionResponse, AdmissionReview, Operation};
use crate::scan::{ImageScanner, PullSecret, PullSecretSource, Scans};

/// Receives every evaluated, non-dry-run decision (the `serve` command stores them).
pub trait DecisionSink: Send + Sync + 'static {
    /// Whether it would take a decision now. When no sink would, the decision is not even
    /// built, so a sink that is full or over its allowance costs the request path nothing.
    fn wants(&self) -> bool {
        true
    }

    /// Records one decision; must not block for long (it runs on the request path).
    fn record(&self, event: &DecisionEvent);
}

/// Something besides the scanner whose trouble `/readyz` reports (in a cluster: the API
/// watches). Degraded sources do not make the webhook unready: decisions continue from the
/// last good state they delivered.
pub trait HealthSource: Send + Sync + 'static {
    /// What is wrong now, one line each; empty when healthy.
    fn degraded(&self) -> Vec<String>;
}

/// What the last policy load found, for `/readyz`.
#[derive(Clone, Debug, Default)]
pub struct PolicyStatus {
    /// Directory the policies were read from, if any.
    pub source: Option<PathBuf>,
    /// Number of policies in use.
    pub loaded: usize,
    /// Problems of the last load (invalid files and policies), each naming where.
    pub errors: Vec<String>,
    /// Names of policies whose files became invalid, kept in their last good version.
    pub kept_last_good: Vec<String>,
    /// When the last load happened.
    pub loaded_at: Option<OffsetDateTime>,
    /// When a load last succeeded whole (no file or object failed): the set it installed is
    /// the last good one, which later failing loads fall back on. `None` until then.
    pub last_good_at: Option<OffsetDateTime>,
    /// The last load failed in part and there is no last good set to fall back on (the
    /// policy set failed at start): what the failed files or objects held is unknown, so
    /// decisions follow [`WebhookConfig::on_policy_error`] and `/readyz` is unready until a
    /// load succeeds whole.
    pub broken: bool,
}

/// The outcome of reloading a policy directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyReload {
    /// Policies now in use.
    pub loaded: usize,
    /// Problems found, each naming the file and policy.
    pub errors: Vec<String>,
    /// Policies kept in their last good version because their new version is invalid.
    pub kept_last_good: Vec<String>,
}

/// Whether the webhook can answer well, and what is wrong otherwise.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Readiness {
    /// False when decisions cannot be made as configured: the scanner is unavailable, or the
    /// policy set is broken ([`PolicyStatus::broken`]).
    pub ready: bool,
    /// Everything degraded, including what does not make the webhook unready.
    pub degraded: Vec<String>,
    /// Policies in use.
    pub policies: usize,
    /// Scans running now.
    pub scans_in_flight: usize,
    /// Age of the vulnerability database in use, in seconds, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db_age_seconds: Option<u64>,
}

/// Which endpoint a review came through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Validate,
    Mutate,
}

impl Endpoint {
    /// Both endpoints, in the order of [`Endpoint::index`].
    pub(crate) const ALL: [Endpoint; 2] = [Endpoint::Validate, Endpoint::Mutate];

    /// The position in [`Endpoint::ALL`] (for per-endpoint arrays).
    pub(crate) fn index(self) -> usize {
        match self {
            Endpoint::Validate => 0,
            Endpoint::Mutate => 1,
        }
    }

    /// The name in metrics labels.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Endpoint::Validate => "validate",
            Endpoint::Mutate => "mutate",
        }
    }
}

/// Shared state of the webhook.
pub struct AppState {
    config: WebhookConfig,
    scanner: Arc<dyn ImageScanner>,
    namespaces: Arc<dyn NamespaceLabels>,
    pull_secrets: Option<Arc<dyn PullSecretSource>>,
    decisions: Option<Arc<dyn DecisionSink>>,
    health: Vec<Arc<dyn HealthSource>>,
    policies: RwLock<Arc<PolicySet>>,
    policy_list: RwLock<Vec<ContainerAdmissionPolicy>>,
    policy_status: RwLock<PolicyStatus>,
    /// [`PolicyStatus::broken`], read on every review without cloning the status.
    policy_broken: AtomicBool,
    scans: Arc<Scans>,
    /// Checks of what is attached to images (signatures, attestations), by image and the
    /// needs checked, with when they were made: verified once, reused for [`ATTACHED_TTL`].
    attached: parking_lot::Mutex<HashMap<(String, String), (std::time::Instant, ImageFacts)>>,
    pub(crate) metrics: Arc<Metrics>,
}

/// How long a check of an image's signatures is reused. A tag can move and a signature can be
/// removed, so checks are not kept forever; a minute keeps the registry out of the hot path.
const ATTACHED_TTL: std::time::Duration = std::time::Duration::from_secs(60);
/// Most checks of attached artifacts held.
const MAX_ATTACHED: usize = 4096;

impl AppState {
    /// State with `policies` in use, namespaces known by name only, no pull secrets and no
    /// decision sink (see the `with_*` methods). An empty list is no load: the first load from
    /// a directory or the cluster then has no last good set to fall back on.
    pub fn new(
        config: WebhookConfig,
        scanner: Arc<dyn ImageScanner>,
        policies: Vec<ContainerAdmissionPolicy>,
    ) -> Self {
        let state = AppState {
            config,
            scanner,
            namespaces: Arc::new(NameOnlyLabels),
            pull_secrets: None,
            decisions: None,
            health: Vec::new(),
            policies: RwLock::new(Arc::new(PolicySet::default())),
            policy_list: RwLock::new(Vec::new()),
            policy_status: RwLock::new(PolicyStatus::default()),
            policy_broken: AtomicBool::new(false),
            // Inline scans run on the runtime that builds the state (serve's multi-threaded
            // one), whichever connection thread asks for them.
            scans: Arc::new(Scans::new(tokio::runtime::Handle::try_current().ok())),
            attached: parking_lot::Mutex::new(HashMap::new()),
            metrics: Arc::new(Metrics::new()),
        };
        if !policies.is_empty() {
            state.set_policies(policies);
        }
        state
    }

    /// Uses `provider` for namespace labels.
    pub fn with_namespace_labels(mut self, provider: Arc<dyn NamespaceLabels>) -> Self {
        self.namespaces = provider;
        self
    }

    /// Uses `source` to find the pull secrets pods name.
    pub fn with_pull_secrets(mut self, source: Arc<dyn PullSecretSource>) -> Self {
        self.pull_secrets = Some(source);
        self
    }

    /// Adds a source of degradation reports for `/readyz`.
    pub fn with_health_source(mut self, source: Arc<dyn HealthSource>) -> Self {
        self.health.push(source);
        self
    }

    /// Sends every evaluated, non-dry-run decision to `sink`.
    pub fn with_decision_sink(mut self, sink: Arc<dyn DecisionSink>) -> Self {
        self.decisions = Some(sink);
        self
    }

    /// The decision settings.
    pub fn config(&self) -> &WebhookConfig {
        &self.config
    }

    /// The policies in use now.
    pub fn policies(&self) -> Arc<PolicySet> {
        self.policies.read().clone()
    }

    /// What the last policy load found.
    pub fn policy_status(&self) -> PolicyStatus {
        self.policy_status.read().clone()
    }

    /// Replaces the policies (no source directory). Invalid ones are left out and reported,
    /// as a failing load from a directory is.
    pub fn set_policies(&self, policies: Vec<ContainerAdmissionPolicy>) -> PolicyReload {
        self.load(policies, Vec::new(), None)
    }

    /// Installs the policies read from the cluster's custom resources; `errors` names those
    /// that could not be read (they are shown on `/readyz`, and the last good set stays in
    /// force as for a directory).
    pub fn set_cluster_policies(
        &self,
        policies: Vec<ContainerAdmissionPolicy>,
        errors: Vec<String>,
    ) -> PolicyReload {
        self.load(policies, errors, None)
    }

    /// Re-reads every policy in `dir` (see [`AppState::set_cluster_policies`] for what a
    /// failing file does).
    pub fn reload_policies_from_dir(&self, dir: &Path) -> PolicyReload {
        let (policies, errors) = portcullis_policy::load_dir(dir);
        let errors: Vec<String> = errors
            .iter()
            .filter(|e| !e.is_note())
            .map(ToString::to_string)
            .collect();
        let reload = self.load(policies, errors, Some(dir.to_path_buf()));
        tracing::info!(dir = %dir.display(), loaded = reload.loaded, errors = reload.errors.len(), "policies loaded");
        reload
    }

    /// Puts a load in force. `errors` names the files or objects that failed; policies that
    /// fail their checks here join them. A failing load never opens the gate:
    /// - with a last good set (an earlier load succeeded whole), every policy of that set
    ///   missing now is kept in its last good version: it may be in the broken file, and
    ///   dropping a rejecting policy because of a typo would weaken admission;
    /// - without one (the set failed at start), nobody knows what the broken files held: the
    ///   set is [`PolicyStatus::broken`] until a load succeeds whole.
    fn load(
        &self,
        policies: Vec<ContainerAdmissionPolicy>,
        mut errors: Vec<String>,
        source: Option<PathBuf>,
    ) -> PolicyReload {
        // The objects as given (what a later failing load keeps) and their checked forms.
        let mut valid = Vec::with_capacity(policies.len());
        let mut checked = Vec::with_capacity(policies.len());
        for p in policies {
            match p.validate() {
                Ok(c) => {
                    checked.push(c);
                    valid.push(p);
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        let previous = self.policy_status();
        let now = OffsetDateTime::now_utc();
        let complete = errors.is_empty();
        let mut kept_last_good = Vec::new();
        if !complete && previous.last_good_at.is_some() {
            let in_force = self.policies();
            for old in self.policy_list.read().clone() {
                if !valid.iter().any(|p| p.metadata.name == old.metadata.name) {
                    kept_last_good.push(old.metadata.name.clone());
                    checked.extend(
                        in_force
                            .policies()
                            .iter()
                            .find(|c| c.name() == old.metadata.name)
                            .cloned(),
                    );
                    valid.push(old);
                }
            }
        }
        let broken = !complete && previous.last_good_at.is_none();
        for e in &errors {
            tracing::warn!(error = %e, "invalid policy skipped");
        }
        if !kept_last_good.is_empty() {
            tracing::warn!(policies = ?kept_last_good, "kept the last good version of policies that no longer load");
        }
        if broken {
            tracing::error!(
                on_policy_error = ?self.config.on_policy_error,
                "policies failed to load and no earlier set is in force; see /readyz"
            );
        }
        let set = PolicySet::from_policies(checked);
        let loaded = set.len();
        *self.policy_list.write() = valid;
        *self.policies.write() = Arc::new(set);
        self.policy_broken.store(broken, Ordering::Release);
        *self.policy_status.write() = PolicyStatus {
            source,
            loaded,
            errors: errors.clone(),
            kept_last_good: kept_last_good.clone(),
            loaded_at: Some(now),
            last_good_at: if complete {
                Some(now)
            } else {
                previous.last_good_at
            },
            broken,
        };
        PolicyReload {
            loaded,
            errors,
            kept_last_good,
        }
    }

    /// Reloads `dir` whenever a file in it changes (checked every `interval`).
    pub fn spawn_policy_watcher(
        self: &Arc<Self>,
        dir: PathBuf,
        interval: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let state = Arc::clone(self);
        // Taken before spawning: a change between now and the task's first run must count.
        let mut seen = dir_fingerprint(&dir);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let now = dir_fingerprint(&dir);
                if now != seen {
                    seen = now;
                    state.reload_policies_from_dir(&dir);
                }
            }
        })
    }

    /// Readiness as `/readyz` reports it.
    pub fn readiness(&self) -> Readiness {
        let status = self.policy_status();
        let mut degraded = Vec::new();
        let scanner = self.scanner.unavailable();
        for s in &scanner {
            degraded.push(format!("scanner unavailable: {s}"));
        }
        if status.broken {
            degraded.push(policy_failure(&status, self.config.on_policy_error));
        }
        if status.loaded == 0 && !status.broken {
            let default = if self.config.default_allow {
                "allowed"
            } else {
                "rejected"
            };
            degraded.push(format!(
                "no policies loaded: every workload is {default} by default"
            ));
        }
        for e in &status.errors {
            degraded.push(format!("invalid policy: {e}"));
        }
        for k in &status.kept_last_good {
            degraded.push(format!(
                "policy {k:?} no longer loads; its last good version is in use"
            ));
        }
        for h in &self.health {
            degraded.extend(h.degraded());
        }
        Readiness {
            // A scanner that cannot scan (no DB yet) stops no decision while no policy reads
            // scan results: it is reported, and the webhook stays in the Service.
            ready: (scanner.is_empty() || !self.policies().reads_scans()) && !status.broken,
            degraded,
            policies: status.loaded,
            scans_in_flight: self.scans.inflight_count(),
            db_age_seconds: self.scanner.db_age().map(|a| a.as_secs()),
        }
    }

    /// The metrics in the Prometheus text format.
    pub fn metrics_text(&self) -> String {
        if let Some(age) = self.scanner.db_age() {
            self.metrics.db_age(age);
        }
        self.metrics.encode()
    }

    /// Answers one review body: the HTTP status (400 for unreadable reviews, 200
    /// otherwise) and the review to send. Never panics: a panic in evaluation becomes an
    /// answer per `on_internal_error`.
    pub(crate) async fn admit(&self, body: &[u8], endpoint: Endpoint) -> (u16, AdmissionReview) {
        let started = Instant::now();
        let (api_version, request) = match review::parse_review(body) {
            Ok(x) => x,
            Err(bad) => {
                tracing::info!(uid = %bad.uid, error = %bad.message, "unreadable admission review");
                self.metrics
                    .decision(labels(endpoint, "invalid", "", "", "", ""));
                return (
                    400,
                    AdmissionResponse::invalid(bad.uid, bad.message).into_review(&bad.api_version),
                );
            }
        };
        let uid = request.uid.clone();
        let kind = request.kind.kind.clone();
        let namespace = request.namespace.clone().unwrap_or_default();
        let prepared = std::panic::catch_unwind(AssertUnwindSafe(|| {
            admission::prepare(&request, &self.config, self.namespaces.as_ref())
        }));
        let response = match prepared {
            Ok(Prepared::Done(response, reason)) => {
                tracing::debug!(uid = %uid, kind = %kind, namespace = %namespace, reason, "admitted without evaluation");
                let result = if response.allowed {
                    "skipped"
                } else {
                    "invalid"
                };
                self.metrics
                    .decision(labels(endpoint, result, "", "", &kind, &namespace));
                response
            }
            Ok(Prepared::Evaluate(pending)) => {
                match AssertUnwindSafe(self.evaluate(&pending, endpoint))
                    .catch_unwind()
                    .await
                {
                    Ok(verdict) => {
                        self.after_decision(&pending, &verdict, endpoint);
                        verdict.response
                    }
                    Err(_) => self.internal_error(&uid),
                }
            }
            Err(_) => self.internal_error(&uid),
        };
        self.metrics.latency(endpoint, started.elapsed());
        (200, response.into_review(&api_version))
    }

    fn internal_error(&self, uid: &str) -> AdmissionResponse {
        tracing::error!(uid = %uid, "internal error while deciding an admission request");
        let msg = "the image admission webhook failed internally while deciding; see its log";
        match self.config.on_internal_error {
            FailureAction::Reject => AdmissionResponse::refuse(uid, 500, "InternalError", msg),
            FailureAction::Allow => {
                let mut r = AdmissionResponse::allow(uid);
                r.warnings.push(msg.to_string());
                r
            }
        }
    }

    async fn evaluate(&self, p: &Pending, endpoint: Endpoint) -> Verdict {
        if self.policy_broken.load(Ordering::Acquire) {
            let why = policy_failure(&self.policy_status(), self.config.on_policy_error);
            if self.config.on_policy_error == FailureAction::Reject {
                return admission::refusal(p, why, &self.config);
            }
            let mut v = self.decide(p, endpoint).await;
            v.response.warnings.push(why);
            return v;
        }
        self.decide(p, endpoint).await
    }

    /// Decides `p` with the policies in use.
    async fn decide(&self, p: &Pending, endpoint: Endpoint) -> Verdict {
        let policies = self.policies();
        let images = p.distinct_images();
        let now = OffsetDateTime::now_utc();
        let attachments = self.attachments(p, &policies, &images).await;
        let mut cached = self.cached_outcomes(&images);
        // An image no scan result could matter for is decided as unscanned, never pulled: what
        // no policy selects is admitted even while the scanner is unavailable.
        for image in &images {
            if !cached.contains_key(image)
                && let Some(outcome) = p.scan_not_needed(&policies, &attachments, image, now)
            {
                cached.insert(image.clone(), outcome);
            }
        }
        // Only an image without a report would cost a pull: then it is worth asking whether any
        // scan result could change a rejection. Images with reports are decided on them, which
        // is also more exact (their real CVEs, not the extremes a scan could have).
        if cached.len() < images.len()
            && let Some(v) =
                admission::scan_independent_rejection(p, &policies, &attachments, &self.config, now)
        {
            return v;
        }
        let outcomes = self.outcomes(p, images, cached).await;
        admission::evaluate(
            p,
            &outcomes,
            &attachments,
            &policies,
            &self.config,
            OffsetDateTime::now_utc(),
            endpoint == Endpoint::Mutate,
        )
    }

    /// The checks of what is attached to each image that the policies selecting `p` need
    /// (none: an empty map, no IO): from the cache, else fetched within the scan budget as
    /// the pod would pull and verified. A fetch that fails or outlasts the budget is kept as
    /// the image's `attachments_error`, decided as a scan error.
    async fn attachments(
        &self,
        p: &Pending,
        policies: &PolicySet,
        images: &[String],
    ) -> admission::Attachments {
        let needs = p.trust_needs(policies);
        let mut out = admission::Attachments::new();
        if needs.is_empty() {
            return out;
        }
        let id = needs.id();
        let mut missing = Vec::new();
        {
            let held = self.attached.lock();
            for image in images {
                match held.get(&(image.clone(), id.clone())) {
                    Some((at, facts)) if at.elapsed() < ATTACHED_TTL => {
                        out.insert(image.clone(), facts.clone());
                    }
                    _ => missing.push(image.clone()),
                }
            }
        }
        if missing.is_empty() {
            return out;
        }
        let deadline = tokio::time::Instant::now() + self.config.scan_budget;
        let secrets = self.pull_secrets_of(p, deadline).await;
        let fetched = futures_util::future::join_all(missing.into_iter().map(|image| {
            let (secrets, needs) = (&secrets, &needs);
            async move {
                let started = std::time::Instant::now();
                let fetched =
                    tokio::time::timeout_at(deadline, self.scanner.attached(&image, secrets)).await;
                let mut facts = match &fetched {
                    Ok(Ok(a)) => admission::attached_facts(&image, Ok(a), needs),
                    Ok(Err(e)) => admission::attached_facts(&image, Err(e.to_string()), needs),
                    Err(_) => admission::attached_facts(
                        &image,
                        Err(format!(
                            "the registry did not answer within the scan budget of {:.1}s",
                            self.config.scan_budget.as_secs_f64()
                        )),
                        needs,
                    ),
                };
                for a in facts.attestations.values_mut() {
                    let Some(sbom) = a.unmatched_sbom() else {
                        continue;
                    };
                    match tokio::time::timeout_at(deadline, self.scanner.match_sbom(&image, sbom))
                        .await
                    {
                        Ok(Ok(report)) => a.set_sbom_report(&image, &report),
                        Ok(Err(e)) => a
                            .check
                            .problems
                            .push(format!("the attested SBOM could not be matched: {e}")),
                        Err(_) => a
                            .check
                            .problems
                            .push("matching the attested SBOM outlasted the scan budget".into()),
                    }
                }
                tracing::debug!(%image, elapsed = ?started.elapsed(), "attached artifacts checked");
                (image, facts, matches!(fetched, Ok(Ok(_))))
            }
        }))
        .await;
        let mut held = self.attached.lock();
        if held.len() >= MAX_ATTACHED {
            held.retain(|_, (at, _)| at.elapsed() < ATTACHED_TTL);
            if held.len() >= MAX_ATTACHED {
                held.clear();
            }
        }
        for (image, facts, ok) in fetched {
            // Only what was fetched is kept: a registry that failed is asked again next time.
            if ok {
                held.insert(
                    (image.clone(), id.clone()),
                    (std::time::Instant::now(), facts.clone()),
                );
            }
            out.insert(image, facts);
        }
        out
    }

    /// The outcomes of the images whose report is cached (no IO): the whole answer on the
    /// hot path.
    fn cached_outcomes(&self, images: &[String]) -> HashMap<String, ImageOutcome> {
        let mut out = HashMap::with_capacity(images.len());
        for image in images {
            if let Some(report) = self.scanner.cached(image) {
                self.metrics.cache(true);
                let note = self.scanner.stale(image).map(|why| {
                    format!(
                        "image {image}: decided on its last good scan, which may be stale: {why}"
                    )
                });
                out.insert(image.clone(), self.report_outcome(image, report, note));
            }
        }
        out
    }

    fn report_outcome(
        &self,
        image: &str,
        report: Arc<portcullis_core::ScanReport>,
        note: Option<String>,
    ) -> ImageOutcome {
        ImageOutcome::Report {
            scanned_at: self
                .scanner
                .scanned_at(image, &report)
                .unwrap_or_else(OffsetDateTime::now_utc),
            report,
            note,
        }
    }

    fn after_decision(&self, p: &Pending, v: &Verdict, endpoint: Endpoint) {
        self.metrics.decision(labels(
            endpoint,
            v.result,
            &v.policy,
            &v.rule,
            &p.kind,
            &p.namespace,
        ));
        tracing::info!(
            uid = %p.uid, kind = %p.kind, namespace = %p.namespace, name = %p.name,
            allowed = v.response.allowed, policy = %v.policy, rule = %v.rule, dry_run = p.dry_run,
            message = v.response.message().unwrap_or(""), "admission decided"
        );
        // Dry runs have no side effects, and /mutate decisions are repeated by /validate.
        if p.dry_run || endpoint != Endpoint::Validate {
            return;
        }
        for a in &v.audit_rejections {
            tracing::warn!(target: "portcullis::audit", uid = %p.uid, namespace = %p.namespace, name = %p.name, "{a}");
        }
        if let Some(sink) = self.decisions.as_ref().filter(|s| s.wants()) {
            sink.record(&DecisionEvent {
                time: OffsetDateTime::now_utc(),
                uid: p.uid.clone(),
                kind: p.kind.clone(),
                namespace: p.namespace.clone(),
                name: p.name.clone(),
                operation: match p.operation {
                    Operation::Update => "UPDATE",
                    _ => "CREATE",
                }
                .into(),
                user: p.user.clone(),
                images: p.distinct_images(),
                allowed: v.response.allowed,
                // An admission on signatures keeps its evidence as its message.
                message: v
                    .response
                    .message()
                    .or_else(|| {
                        v.response
                            .audit_annotations
                            .get(admission::SUPPLY_CHAIN_ANNOTATION)
                            .map(String::as_str)
                    })
                    .map(String::from),
                warnings: v.response.warnings.clone(),
                audit_rejections: v.audit_rejections.clone(),
                policy: v.policy.clone(),
                rule: v.rule.clone(),
            });
        }
    }

    /// The outcome of every image: the `cached` ones as they are, the others scanned inline
    /// and awaited until the scan budget is spent (all images share one deadline).
    async fn outcomes(
        &self,
        p: &Pending,
        images: Vec<String>,
        mut cached: HashMap<String, ImageOutcome>,
    ) -> HashMap<String, ImageOutcome> {
        if cached.len() == images.len() {
            return cached;
        }
        let deadline = tokio::time::Instant::now() + self.config.scan_budget;
        // Pull secrets are looked up by the first image that has to be scanned, once for all
        // of them: the cached path never waits on the API server.
        let secrets = tokio::sync::OnceCell::new();
        let futures = images
            .into_iter()
            .filter(|image| !cached.contains_key(image))
            .map(|image| {
                let secrets = &secrets;
                async move {
                    let outcome = self.outcome(&image, p, secrets, deadline).await;
                    (image, outcome)
                }
            });
        cached.extend(futures_util::future::join_all(futures).await);
        cached
    }

    /// The pull secrets of `p`'s pod, looked up within the scan budget.
    async fn pull_secrets_of(
        &self,
        p: &Pending,
        deadline: tokio::time::Instant,
    ) -> Vec<PullSecret> {
        let Some(src) = &self.pull_secrets else {
            return Vec::new();
        };
        let lookup = src.pull_secrets(&p.namespace, &p.service_account, &p.pull_secret_names);
        match tokio::time::timeout_at(deadline, lookup).await {
            Ok(s) => s,
            Err(_) => {
                tracing::warn!(namespace = %p.namespace, "pull secret lookup ran out of the scan budget");
                Vec::new()
            }
        }
    }

    /// The outcome of an image without a cached report: its scan (shared with any request
    /// already waiting for it), or the last good report when the scan fails or outlasts the
    /// deadline.
    async fn outcome(
        &self,
        image: &str,
        p: &Pending,
        secrets: &tokio::sync::OnceCell<Vec<PullSecret>>,
        deadline: tokio::time::Instant,
    ) -> ImageOutcome {
        let report_outcome = |report, note| self.report_outcome(image, report, note);
        self.metrics.cache(false);
        let secrets = secrets
            .get_or_init(|| self.pull_secrets_of(p, deadline))
            .await
            .clone();
        let (scan, started) = self
            .scans
            .get_or_start(&self.scanner, image, secrets, &self.metrics);
        if started {
            self.metrics.inline_scan_started();
        }
        let fallback = |why: String| {
            self.scans.last_good(image).map(|r| {
                report_outcome(
                    r,
                    Some(format!(
                        "image {image}: decided on an earlier scan because {why}"
                    )),
                )
            })
        };
        match tokio::time::timeout_at(deadline, scan).await {
            Ok(Ok(report)) => report_outcome(report, None),
            Ok(Err(e)) => {
                fallback(format!("the new scan failed ({e})")).unwrap_or(ImageOutcome::Failed(e))
            }
            Err(_) => {
                self.metrics.scan_timeout();
                fallback("the new scan is still running".into()).unwrap_or(ImageOutcome::TimedOut)
            }
        }
    }
}

/// What a broken policy set means for decisions, naming the first failures.
fn policy_failure(status: &PolicyStatus, action: FailureAction) -> String {
    const SHOWN: usize = 3;
    let mut failures = status
        .errors
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if status.errors.len() > SHOWN {
        failures.push_str(&format!("; and {} more", status.errors.len() - SHOWN));
    }
    let effect = match action {
        FailureAction::Reject => {
            "every evaluated workload is rejected until they load (on-policy-error: reject)"
        }
        FailureAction::Allow => {
            "the policies that loaded decide alone until all load (on-policy-error: allow)"
        }
    };
    format!("policies failed to load and no earlier set is in force ({failures}): {effect}")
}

fn labels(
    endpoint: Endpoint,
    result: &str,
    policy: &str,
    rule: &str,
    kind: &str,
    namespace: &str,
) -> DecisionLabels {
    DecisionLabels {
        endpoint: endpoint.as_str().into(),
        result: result.into(),
        policy: policy.into(),
        rule: rule.into(),
        kind: kind.into(),
        namespace: namespace.into(),
    }
}

/// Names, sizes and modification times of the files in `dir` (sorted): changes whenever a
/// file is added, removed or rewritten.
fn dir_fingerprint(dir: &Path) -> BTreeMap<PathBuf, (u64, Option<SystemTime>)> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        // Follows symlinks: a mounted ConfigMap's files are symlinks through `..data`,
        // which is swapped on update while the links themselves stay the same.
        if let Ok(m) = std::fs::metadata(e.path()) {
            out.insert(e.path(), (m.len(), m.modified().ok()));
        }
    }
    out
}
