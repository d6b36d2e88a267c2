//! `portcullis serve`: the admission webhook over the real scanner.
//!
//! The webhook crate knows scans only through its `ImageScanner` seam; this module is where that seam meets the
//! pipeline, with an in-memory map of finished reports so that the admission hot path does no IO.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use portcullis_core::ScanReport;
use portcullis_scanner::{Scanner, ScannerConfig};
use portcullis_webhook::{
    AppState, FailureAction, ImageScanner, PullSecret, ScanFailure, ServeConfig, WebhookConfig,
};
use time::OffsetDateTime;

use crate::args::{ModeArg, OnFailure, ServeArgs};

/// The real scanner behind the webhook's seam.
pub(crate) struct PipelineScanner {
    scanner: Arc<Scanner>,
    /// Finished reports by image as written in pod specs, with when they were made.
    cache: RwLock<HashMap<String, (Arc<ScanReport>, OffsetDateTime)>>,
}

impl PipelineScanner {
    pub(crate) fn new(scanner: Scanner) -> Self {
        PipelineScanner {
            scanner: Arc::new(scanner),
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// Scans an image (with the pod's pull secrets, if any) and remembers the report.
    pub(crate) async fn scan_image(
        &self,
        image: &str,
        pull_secrets: &[PullSecret],
    ) -> Result<Arc<ScanReport>, portcullis_scanner::Error> {
        let logins = logins_of(pull_secrets);
        let report = Arc::new(self.scanner.scan_as(image, &logins).await?);
        self.cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                image.to_string(),
                (report.clone(), OffsetDateTime::now_utc()),
            );
        Ok(report)
    }
}

impl PipelineScanner {
    /// Puts new exceptions in force, for the reports held in memory too (no rescan).
    pub(crate) fn set_exceptions(&self, exceptions: Vec<portcullis_core::Exception>) {
        self.scanner.set_exceptions(exceptions);
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        for (report, _) in cache.values_mut() {
            let mut r = ScanReport::clone(report);
            self.scanner.apply_exceptions(&mut r);
            *report = Arc::new(r);
        }
    }
}

impl ImageScanner for PipelineScanner {
    fn scan(
        &self,
        image: &str,
        pull_secrets: &[PullSecret],
    ) -> Pin<Box<dyn Future<Output = Result<Arc<ScanReport>, ScanFailure>> + Send + '_>> {
        let image = image.to_string();
        let pull_secrets = pull_secrets.to_vec();
        Box::pin(async move {
            self.scan_image(&image, &pull_secrets).await.map_err(|e| {
                let reason = portcullis_core::ErrorChain(&e).to_string();
                match e {
                    portcullis_scanner::Error::Image(_)
                    | portcullis_scanner::Error::Target { .. } => ScanFailure::Pull {
                        image: image.clone(),
                        reason,
                    },
                    portcullis_scanner::Error::NoDb | portcullis_scanner::Error::Db(_) => {
                        ScanFailure::Unavailable(reason)
                    }
                    _ => ScanFailure::Scan {
                        image: image.clone(),
                        reason,
                    },
                }
            })
        })
    }

    fn cached(&self, image: &str) -> Option<Arc<ScanReport>> {
        self.cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(image)
            .map(|(r, _)| r.clone())
    }

    fn scanned_at(&self, image: &str, report: &ScanReport) -> Option<OffsetDateTime> {
        // The report's own time first: one restored from the store is as old as its match.
        if let Some(t) = report.scanned_at.as_deref().and_then(|t| {
            OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        }) {
            return Some(t);
        }
        self.cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(image)
            .map(|(_, t)| *t)
    }

    fn unavailable(&self) -> Vec<String> {
        match &self.scanner.config().db {
            Some(p) if !p.is_file() => vec![format!(
                "vulnerability database {} is missing: run `portcullis db import --db {} SOURCE...` or `portcullis db update`",
                p.display(),
                p.display()
            )],
            _ => vec![],
        }
    }
}

/// The registry logins in a pod's pull secrets; for a host named by several, the first secret
/// wins (the pod's own before its service account's, in list order). A secret that does not
/// parse is skipped with a warning: the pull may still work anonymously, and the scan error
/// then says what failed.
fn logins_of(secrets: &[PullSecret]) -> BTreeMap<String, portcullis_image::Login> {
    let mut logins = BTreeMap::new();
    for s in secrets.iter().rev() {
        let text = String::from_utf8_lossy(&s.dockerconfigjson);
        match portcullis_image::parse_pull_secret(&text, Path::new(&format!("secret/{}", s.name))) {
            Ok(found) => logins.extend(found),
            Err(e) => {
                tracing::warn!(secret = %s.name, "pull secret ignored: {}", portcullis_core::ErrorChain(&e))
            }
        }
    }
    logins
}

fn action(a: OnFailure) -> FailureAction {
    match a {
        OnFailure::Reject => FailureAction::Reject,
        OnFailure::Allow => FailureAction::Allow,
    }
}

pub(crate) async fn run(a: ServeArgs) -> anyhow::Result<ExitCode> {
    let (thresholds, exceptions, vex) = super::verdict(&a.verdict)?;
    // Exceptions from --exceptions stay in force next to the cluster's.
    let file_exceptions = exceptions.clone();
    let cache = super::cache_dir(&a.image);
    let cfg = ScannerConfig {
        image: {
            let mut o = super::image_options(&a.image)?;
            o.progress = false;
            o
        },
        db: Some(super::db_path(a.db.clone())),
        store: super::store_path(a.store.as_deref(), &cache)?,
        thresholds,
        exceptions,
        vex,
        matching: portcullis_matcher::MatchOptions {
            include_unfixed_states: !a.verdict.only_fixed,
        },
    };
    let scanner = Arc::new(PipelineScanner::new(Scanner::new(cfg)?));
    if !(0.5..=30.0).contains(&a.webhook_timeout) {
        anyhow::bail!(
            "--webhook-timeout must be between 0.5 and 30 seconds (Kubernetes allows 1-30)"
        );
    }
    let mut wh =
        WebhookConfig::default().with_webhook_timeout(Duration::from_secs_f64(a.webhook_timeout));
    if let Some(b) = a.scan_budget {
        anyhow::ensure!(
            b > 0.0 && b <= a.webhook_timeout,
            "--scan-budget must be positive and within --webhook-timeout"
        );
        wh.scan_budget = Duration::from_secs_f64(b);
    }
    wh.mode = match a.mode {
        ModeArg::Enforce => portcullis_policy::Mode::Enforce,
        ModeArg::Audit => portcullis_policy::Mode::Audit,
    };
    wh.evaluate_owned = a.evaluate_owned;
    wh.on_scan_timeout = action(a.on_scan_timeout);
    wh.on_scan_error = action(a.on_scan_error);
    wh.on_policy_error = action(a.on_policy_error);
    wh.own_namespace = a.namespace.clone();
    let listen = a
        .webhook_listen
        .parse()
        .with_context(|| format!("--webhook-listen {}", a.webhook_listen))?;
    let mut sc = ServeConfig::new(listen, cache.join("tls"));
    sc.tls_cert = a.tls_cert.clone();
    sc.tls_key = a.tls_key.clone();
    sc.policies_dir = a.policies.clone();
    sc.policy_poll_interval = Duration::from_secs(2);
    sc.connection_threads = usize::from(a.connection_threads);
    if let Some(ns) = &a.namespace {
        sc.service_names = vec![
            format!("portcullis.{ns}.svc"),
            format!("portcullis.{ns}.svc.cluster.local"),
        ];
    }
    if a.policies.is_none() && !a.watch_cluster {
        tracing::warn!(
            "no --policies given: every image is admitted (default allow) until policies are configured"
        );
    }
    let mut state = AppState::new(wh, scanner.clone(), Vec::new());
    let client = if a.watch_cluster {
        Some(
            portcullis_cluster::client()
                .await
                .context("--watch-cluster")?,
        )
    } else {
        None
    };
    let mut namespaces = None;
    let health = Arc::new(portcullis_cluster::WatchHealth::default());
    if let Some(client) = &client {
        let ns = portcullis_cluster::NamespaceWatch::start(client.clone(), health.clone());
        namespaces = Some(ns.clone());
        // This replica, as Events name it: the pod name in a cluster.
        let instance = std::env::var("POD_NAME")
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| "portcullis".into());
        state = state
            .with_health_source(health.clone())
            .with_namespace_labels(ns)
            .with_pull_secrets(Arc::new(portcullis_cluster::ApiPullSecrets::new(
                client.clone(),
            )))
            .with_decision_sink(Arc::new(portcullis_cluster::EventRecorder::start(
                client.clone(),
                instance,
            )));
    }
    let state = Arc::new(state);
    if let (Some(client), Some(ns)) = (client, namespaces) {
        // Serve only once the cluster's policies, exceptions and namespaces are known: before,
        // every image would meet no policy (default allow).
        let within = Duration::from_secs(60);
        let policies =
            portcullis_cluster::watch_policies(client.clone(), state.clone(), health.clone());
        let exceptions = portcullis_cluster::watch_exceptions(client, health, {
            let scanner = scanner.clone();
            move |ex| {
                scanner.set_exceptions(file_exceptions.iter().cloned().chain(ex).collect());
            }
        });
        policies.wait(within).await?;
        exceptions.wait(within).await?;
        ns.ready(within).await?;
        eprintln!("portcullis: following policies, exceptions and namespaces in the cluster");
    }
    eprintln!(
        "portcullis: admission webhook on https://{listen} (/validate, /mutate, /healthz, /readyz, /metrics)"
    );
    portcullis_webhook::serve(sc, state).await?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reports_own_scan_time_wins_over_when_it_was_cached() {
        let dir = tempfile::tempdir().expect("tempdir");
        let scanner = PipelineScanner::new(
            Scanner::new(ScannerConfig {
                store: Some(dir.path().join("r.db")),
                ..Default::default()
            })
            .expect("scanner"),
        );
        let mut report = portcullis_matcher::report(
            "r/app:1",
            portcullis_core::ImageInfo::default(),
            Vec::new(),
            Vec::new(),
            portcullis_core::DbInfo::default(),
            &portcullis_core::Thresholds::default(),
        );
        assert_eq!(scanner.scanned_at("r/app:1", &report), None);
        report.scanned_at = Some("2020-01-02T03:04:05Z".into());
        assert_eq!(
            scanner.scanned_at("r/app:1", &report),
            Some(time::macros::datetime!(2020-01-02 03:04:05 UTC))
        );
    }
}
