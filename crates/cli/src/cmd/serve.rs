//! `portcullis serve`: the admission webhook over the real scanner (`PipelineScanner`), configured from flags.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use portcullis_core::{ChangeCause, Documents, ErrorChain, Thresholds};
use portcullis_scanner::Scanner;
use portcullis_webhook::{AppState, PipelineScanner, ServeConfig, WebhookConfig};

use super::action;
use crate::args::{ModeArg, ServeArgs};

pub(crate) async fn run(a: ServeArgs) -> anyhow::Result<ExitCode> {
    let cache = super::cache_dir(&a.image);
    let store = super::store_url(a.store.as_deref(), &cache)?;
    let mut cfg = super::scanner_config(&a.image, a.db.clone(), store, &a.verdict)?;
    cfg.image.progress = false;
    cfg.seen_at = Some("admission".into());
    // Exceptions from --exceptions stay in force next to the cluster's and the API's.
    let parts = Arc::new(parking_lot::Mutex::new(ExceptionParts {
        files: cfg.exceptions.clone(),
        ..ExceptionParts::default()
    }));
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
    sc.client_ca = a.tls_client_ca.clone();
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
    let update_health = Arc::new(UpdateHealth::default());
    let mut state =
        AppState::new(wh, scanner.clone(), Vec::new()).with_health_source(update_health.clone());
    // Every decision goes to the store's audit trail, and in a cluster to Events too.
    let mut sinks: Vec<Arc<dyn portcullis_webhook::DecisionSink>> = Vec::new();
    if let Some(store) = scanner.scanner().shared_store() {
        sinks.push(portcullis_webhook::StoredDecisions::start(store));
    }
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
    let api_client = client.clone();
    let health = Arc::new(portcullis_cluster::WatchHealth::default());
    if let Some(client) = &client {
        let ns = portcullis_cluster::NamespaceWatch::start(client.clone(), health.clone());
        namespaces = Some(ns.clone());
        let instance = portcullis_scanner::replica_name();
        state = state
            .with_health_source(health.clone())
            .with_namespace_labels(ns)
            .with_pull_secrets(Arc::new(portcullis_cluster::ApiPullSecrets::new(
                client.clone(),
            )));
        sinks.push(Arc::new(portcullis_cluster::EventRecorder::start(
            client.clone(),
            instance,
        )));
    }
    if !sinks.is_empty() {
        state = state.with_decision_sink(Arc::new(portcullis_webhook::DecisionSinks(sinks)));
    }
    let state = Arc::new(state);
    if let (Some(client), Some(ns)) = (client, namespaces) {
        // Serve only once the cluster's policies, exceptions and namespaces are known: before,
        // every image would meet no policy (default allow).
        let within = Duration::from_secs(60);
        let policies =
            portcullis_cluster::watch_policies(client.clone(), state.clone(), health.clone());
        let exceptions = portcullis_cluster::watch_exceptions(client.clone(), health.clone(), {
            let scanner = scanner.clone();
            let parts = parts.clone();
            move |ex| {
                let all = ExceptionParts::replace(&parts, |p| p.cluster = ex);
                scanner.set_exceptions(all.clone());
                keep_exceptions(scanner.clone(), all);
            }
        });
        policies.wait(within).await?;
        exceptions.wait(within).await?;
        ns.ready(within).await?;
        // What runs: kept in the store, and scanned in the background when unscanned.
        portcullis_cluster::watch_runtime(
            client.clone(),
            a.cluster_name.clone(),
            scanner.clone(),
            Arc::new(portcullis_cluster::ApiPullSecrets::new(client)),
            health.clone(),
        );
        eprintln!("portcullis: following policies, exceptions and namespaces in the cluster");
    }
    if !a.watch_cluster {
        let all = ExceptionParts::replace(&parts, |_| {});
        keep_exceptions(scanner.clone(), all);
    }
    follow_api_exceptions(scanner.clone(), parts);
    eprintln!(
        "portcullis: admission webhook on https://{listen} (/validate, /mutate, /healthz, /readyz, /metrics)"
    );
    let update_now = match DbUpdates::from_args(&a, update_health) {
        Some(updates) => Some(updates.start(scanner.clone()).await),
        None => None,
    };
    follow_settings(scanner.clone()).await;
    warm_from_store(scanner.clone());
    follow_rematches(scanner.clone(), update_now);
    if !a.rescan_interval.is_zero() {
        rescan_every(a.rescan_interval, scanner.clone());
    }
    let server = portcullis_webhook::bind(sc, state.clone()).await?;
    if let Some(ca) = server.generated_ca() {
        eprintln!(
            "portcullis: self-signed certificate; its CA is {} (the caBundle, and `scan --push-ca`)",
            ca.display()
        );
    }
    start_api(
        &a,
        &scanner,
        &state,
        server.tls_acceptor(),
        api_client,
        health,
    )
    .await?;
    server
        .run_until(portcullis_webhook::shutdown_signal())
        .await?;
    Ok(ExitCode::SUCCESS)
}

/// The service as the API sees it.
struct ServeAssurance(Arc<PipelineScanner>, Arc<AppState>);

impl portcullis_api::Assurance for ServeAssurance {
    fn accept_push(
        &self,
        target: &str,
        inventory: portcullis_core::Inventory,
        source: &str,
    ) -> Result<portcullis_core::ScanReport, String> {
        let report = self
            .0
            .scanner()
            .accept_inventory(target, inventory, source)
            .map_err(|e| ErrorChain(&e).to_string())?;
        self.0.hold(target, report.clone());
        Ok(report)
    }

    fn report(
        &self,
        digest: &portcullis_core::Digest,
    ) -> Result<Option<portcullis_core::ScanReport>, String> {
        let scanner = self.0.scanner();
        let (Some(store), Some(version)) = (scanner.store(), scanner.db_version()) else {
            return Ok(None);
        };
        let text = |e: portcullis_core::StoreError| ErrorChain(&e).to_string();
        let Some(inventory) = store.inventory(digest).map_err(text)? else {
            return Ok(None);
        };
        let mut report = store
            .report_for(digest, &version, &inventory)
            .map_err(text)?;
        if let Some(r) = &mut report {
            // Stored under the exceptions of its time; these may have changed since.
            scanner.apply_exceptions(r);
        }
        Ok(report)
    }

    fn thresholds(&self) -> Thresholds {
        self.0.scanner().thresholds()
    }

    fn held(&self) -> Vec<Arc<portcullis_core::ScanReport>> {
        self.0.held_reports()
    }

    fn status(&self) -> portcullis_api::ServiceStatus {
        let r = self.1.readiness();
        portcullis_api::ServiceStatus {
            ready: r.ready,
            degraded: r.degraded,
            policies: r.policies,
            db_version: self.0.scanner().db_version(),
            db_age_seconds: r.db_age_seconds,
            sources: self
                .0
                .scanner()
                .db()
                .ok()
                .and_then(|db| db.status().ok())
                .map(|s| {
                    s.sources
                        .into_iter()
                        .map(|x| portcullis_api::DbSource {
                            name: x.name,
                            kind: x.kind,
                            records: x.records,
                            imported_at: portcullis_core::format_time(x.imported_at),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// Starts the assurance API on `listen` (unless `off`) with the webhook's TLS acceptor; in a
/// cluster (`client`), with the `ImageAssuranceAlert` rules and alerts as Events too.
async fn start_api(
    a: &ServeArgs,
    scanner: &Arc<PipelineScanner>,
    app: &Arc<AppState>,
    tls: tokio_rustls::TlsAcceptor,
    client: Option<portcullis_cluster::Client>,
    health: Arc<portcullis_cluster::WatchHealth>,
) -> anyhow::Result<()> {
    let listen = a.api_listen.as_str();
    if listen == "off" {
        return Ok(());
    }
    let addr: std::net::SocketAddr = listen
        .parse()
        .with_context(|| format!("--api-listen {listen}"))?;
    let Some(store) = scanner.scanner().shared_store() else {
        tracing::warn!("--store none: the API is off (it serves what the result store keeps)");
        return Ok(());
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("--api-listen {listen}: cannot listen"))?;
    let bound = listener.local_addr()?;
    let state = portcullis_api::ApiState::new(
        store,
        Arc::new(ServeAssurance(scanner.clone(), app.clone())),
    );
    let mut sinks: Vec<Arc<dyn portcullis_api::notify::AlertSink>> = Vec::new();
    if let Some(client) = client {
        let rules = state.clone();
        // Not waited for: admission does not depend on alert rules.
        let _ = portcullis_cluster::watch_alert_rules(client.clone(), health, move |r| {
            rules.set_cluster_rules(r);
        });
        sinks.push(Arc::new(portcullis_cluster::AlertEvents::new(
            client,
            portcullis_scanner::replica_name(),
        )));
    }
    if !a.alert_interval.is_zero() {
        let secret = match &a.alert_webhook_secret_file {
            Some(p) => Some(
                std::fs::read(p)
                    .with_context(|| format!("--alert-webhook-secret-file {}", p.display()))?
                    .trim_ascii()
                    .to_vec(),
            ),
            None => None,
        };
        portcullis_api::notify::start(
            state.clone(),
            portcullis_api::notify::Receivers {
                webhook: a.alert_webhook.clone(),
                webhook_secret: secret,
                slack: a.alert_slack.clone(),
                sinks,
            },
            a.alert_interval,
            a.alert_cooldown,
        );
    }
    tokio::spawn(portcullis_api::serve(
        listener,
        tls,
        portcullis_api::router(state),
        portcullis_webhook::shutdown_signal(),
    ));
    eprintln!(
        "portcullis: assurance API on https://{bound}/api/v1 (tokens: portcullis token create)"
    );
    Ok(())
}

/// How often the stored settings are looked at (one number read; the rest only on a change).
const SETTINGS_POLL: Duration = Duration::from_secs(2);

/// Puts the stored thresholds in force (`portcullis settings set`, by this or any replica
/// sharing the store) at start and whenever they change: the decisions follow at once, and every
/// stored result is relabelled, each changed status recorded with its cause.
async fn follow_settings(scanner: Arc<PipelineScanner>) {
    let read = {
        let scanner = scanner.clone();
        move || -> Option<(u64, Option<Thresholds>)> {
            let store = scanner.scanner().store()?;
            let step = || {
                Ok::<_, portcullis_core::StoreError>((
                    store.settings_generation()?,
                    store.thresholds()?,
                ))
            };
            step()
                .map_err(|e| tracing::warn!("reading the stored settings: {}", ErrorChain(&e)))
                .ok()
        }
    };
    let Ok(Some((mut seen, thresholds))) = tokio::task::spawn_blocking(read.clone()).await else {
        return;
    };
    if let Some(t) = thresholds {
        eprintln!(
            "portcullis: stored thresholds in force (warn {}, fail {}, unknown {})",
            t.warn, t.fail, t.unknown
        );
        scanner.set_thresholds(t);
    }
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(SETTINGS_POLL).await;
            let Ok(Some((generation, Some(t)))) = tokio::task::spawn_blocking(read.clone()).await
            else {
                continue;
            };
            if generation == seen {
                continue;
            }
            seen = generation;
            tracing::info!(warn = t.warn, fail = t.fail, unknown = %t.unknown, "thresholds changed");
            scanner.set_thresholds(t);
            relabel_stored(scanner.clone(), ChangeCause::Thresholds);
        }
    });
}

/// Holds the stored results of the images seen before (by this process before a restart, or
/// by other replicas), in the background: decisions on them need no scan.
fn warm_from_store(scanner: Arc<PipelineScanner>) {
    tokio::task::spawn_blocking(move || {
        if scanner.scanner().store().is_none() || scanner.scanner().db().is_err() {
            return;
        }
        let started = std::time::Instant::now();
        match scanner.warm_from_store() {
            Ok(held) => tracing::info!(
                held,
                seconds = started.elapsed().as_secs_f64(),
                "stored results held in memory"
            ),
            Err(e) => tracing::warn!("reading stored results at start: {}", ErrorChain(&e)),
        }
    });
}

/// Follows the rematches other replicas sharing the store make: when the store's rematch mark
/// moves past this process's own, the results it holds are read again from the store if its DB
/// is the version the mark names, so its decisions follow within [`SETTINGS_POLL`] of the
/// other's rematch; else its own DB is older, and is updated at once (the sources being the
/// same, to the same version, whose results the other stored already: nothing is matched twice).
fn follow_rematches(scanner: Arc<PipelineScanner>, update_now: Option<Arc<tokio::sync::Notify>>) {
    if scanner.scanner().store().is_none() {
        return;
    }
    tokio::spawn(async move {
        let mut seen = None;
        loop {
            tokio::time::sleep(SETTINGS_POLL).await;
            let s = scanner.clone();
            let read = tokio::task::spawn_blocking(move || {
                let store = s.scanner().store()?;
                let mark = store
                    .rematch_mark()
                    .map_err(|e| tracing::warn!("reading the rematch mark: {}", ErrorChain(&e)))
                    .ok()?;
                let ours = s.scanner().db_version();
                Some((mark, ours, s.scanner().own_rematch_generation()))
            })
            .await;
            let Ok(Some((mark, ours, own))) = read else {
                continue;
            };
            // The first reading only sets where we stand; our own rematches need no following.
            let first = seen.is_none();
            if seen.replace(mark.generation) == Some(mark.generation)
                || first
                || mark.generation == own
            {
                continue;
            }
            if mark.db_version.is_some() && mark.db_version == ours {
                let s = scanner.clone();
                let held = tokio::task::spawn_blocking(move || s.rematch_cached()).await;
                tracing::info!(generation = mark.generation, held = ?held.ok(), "followed another replica's rematch");
            } else if let Some(now) = &update_now {
                tracing::info!(theirs = ?mark.db_version, ours = ?ours, "another replica rematched under another DB: updating now");
                now.notify_one();
            }
        }
    });
}

/// Evaluates every stored and held result again every `interval` under the DB in force. The
/// package lists are kept, so nothing is pulled; a new list is made only for a new digest (a
/// held tag that moved, asked first) or new extractors, when the image is next scanned. A status that changes is recorded as a DB
/// update when the DB changed since the last round (another process replaced the file), as a
/// rescan otherwise.
fn rescan_every(interval: Duration, scanner: Arc<PipelineScanner>) {
    tokio::spawn(async move {
        let version = |s: &PipelineScanner| s.scanner().db_version();
        let mut last = version(&scanner);
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let now = version(&scanner);
            let cause = if now != last {
                ChangeCause::DbUpdate
            } else {
                ChangeCause::Rescan
            };
            last = now;
            // Tags first: one that moved is scanned as the new image it is; one whose registry
            // is down keeps its last good result, marked stale.
            let tags = scanner.refresh_tags().await;
            tracing::info!(
                checked = tags.checked,
                moved = tags.moved,
                stale = tags.stale,
                "tags asked about"
            );
            let s = scanner.clone();
            let done = tokio::task::spawn_blocking(move || {
                (
                    s.scanner().rematch_stored_because(cause),
                    s.rematch_cached(),
                )
            })
            .await;
            match done {
                Ok((Ok(stored), held)) => tracing::info!(%cause, stored, held, "rescan done"),
                Ok((Err(e), held)) => tracing::warn!(
                    %cause,
                    held,
                    "rescan of stored results failed; they stay as they were: {}",
                    ErrorChain(&e)
                ),
                Err(e) => tracing::warn!("rescan task failed: {e}"),
            }
        }
    });
}

/// Where the exceptions in force come from: `--exceptions` files, the cluster's
/// ContainerVulnerabilityExceptions, and the API. Each source replaces its own part; the union
/// is in force.
#[derive(Default)]
struct ExceptionParts {
    files: Vec<portcullis_core::Exception>,
    cluster: Vec<portcullis_core::Exception>,
    api: Vec<portcullis_core::Exception>,
}

impl ExceptionParts {
    /// Changes one part with `change`; the union in force after it.
    fn replace(
        parts: &parking_lot::Mutex<ExceptionParts>,
        change: impl FnOnce(&mut ExceptionParts),
    ) -> Vec<portcullis_core::Exception> {
        let mut p = parts.lock();
        change(&mut p);
        let mut all: Vec<_> = p.files.iter().chain(&p.cluster).cloned().collect();
        for e in &p.api {
            if !all.contains(e) {
                all.push(e.clone());
            }
        }
        all
    }
}

/// Puts the exceptions made through the API (by this or any replica sharing the store) in force
/// whenever they change, within [`SETTINGS_POLL`]: decisions follow at once, stored results are
/// relabelled.
fn follow_api_exceptions(
    scanner: Arc<PipelineScanner>,
    parts: Arc<parking_lot::Mutex<ExceptionParts>>,
) {
    if scanner.scanner().store().is_none() {
        return;
    }
    tokio::spawn(async move {
        let mut seen: Option<Vec<portcullis_core::Exception>> = None;
        let mut seen_vex: Option<Option<String>> = None;
        loop {
            let s = scanner.clone();
            let read = tokio::task::spawn_blocking(move || {
                let store = s.scanner().store()?;
                let step = || Ok((store.api_exceptions()?, store.documents(Documents::Vex)?));
                step()
                    .map_err(|e: portcullis_core::StoreError| {
                        tracing::warn!("reading the API's exceptions: {}", ErrorChain(&e));
                    })
                    .ok()
            })
            .await;
            let Ok(Some((api, vex))) = read else {
                tokio::time::sleep(SETTINGS_POLL).await;
                continue;
            };
            if seen.as_ref() != Some(&api) {
                seen = Some(api.clone());
                let all = ExceptionParts::replace(&parts, |p| p.api = api);
                scanner.set_exceptions(all.clone());
                keep_exceptions(scanner.clone(), all);
            }
            if seen_vex.as_ref() != Some(&vex) {
                let first = seen_vex.is_none();
                seen_vex = Some(vex.clone());
                scanner.set_vex(vex_statements(vex.as_deref()));
                // The stored results were made under the VEX of their time.
                if !first || vex.is_some() {
                    relabel_stored(scanner.clone(), ChangeCause::Exceptions);
                }
            }
            tokio::time::sleep(SETTINGS_POLL).await;
        }
    });
}

/// The statements of the OpenVEX documents the API stored (a JSON array of documents); one
/// that cannot be read is skipped, said in the log (the API checked each before storing it).
fn vex_statements(json: Option<&str>) -> Vec<portcullis_matcher::VexStatement> {
    let docs: Vec<serde_json::Value> = json
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_default();
    let mut out = Vec::new();
    for d in docs {
        match portcullis_matcher::vex_from_json(&d.to_string()) {
            Ok(s) => out.extend(s),
            Err(e) => {
                tracing::warn!(id = %d["@id"], "stored OpenVEX document skipped: {}", ErrorChain(&e))
            }
        }
    }
    out
}

/// Stores the exceptions in force and, when they differ from the stored set, relabels every
/// stored result with them (in memory they apply already). Replicas watching the same
/// exceptions store the same set: the first relabels, the others find nothing changed.
fn keep_exceptions(scanner: Arc<PipelineScanner>, exceptions: Vec<portcullis_core::Exception>) {
    use std::sync::atomic::{AtomicU64, Ordering};
    // A watch delivers a burst of sets (one per object applied); the writes run on blocking
    // threads in any order, so each carries its number and one older than the latest is
    // skipped: the set stored last is always the latest.
    static LATEST: AtomicU64 = AtomicU64::new(0);
    static WRITING: parking_lot::Mutex<()> = parking_lot::Mutex::new(());
    let mine = LATEST.fetch_add(1, Ordering::AcqRel) + 1;
    tokio::task::spawn_blocking(move || {
        let Some(store) = scanner.scanner().store() else {
            return;
        };
        let _one_at_a_time = WRITING.lock();
        if LATEST.load(Ordering::Acquire) != mine {
            return;
        }
        match store.put_exceptions(&exceptions) {
            Ok(true) => relabel_stored(scanner.clone(), ChangeCause::Exceptions),
            Ok(false) => {}
            Err(e) => tracing::warn!("storing the exceptions in force: {}", ErrorChain(&e)),
        }
    });
}

/// Matches every stored result again in the background after what decides a status changed
/// (`cause`), recording each status that changes. Memory is relabelled by the caller already,
/// so decisions do not wait for this.
fn relabel_stored(scanner: Arc<PipelineScanner>, cause: ChangeCause) {
    tokio::task::spawn_blocking(move || {
        if scanner.scanner().store().is_none() {
            return;
        }
        match scanner.scanner().rematch_stored_because(cause) {
            Ok(n) => tracing::info!(%cause, "{n} stored results relabelled"),
            Err(e) => tracing::warn!(%cause, "relabelling stored results: {}", ErrorChain(&e)),
        }
    });
}

/// How long serving waits for a first DB from configured sources when there is none.
const FIRST_UPDATE_PATIENCE: Duration = Duration::from_secs(10);

/// Keeps the vulnerability DB current while serving: at start, then every interval, from
/// `--db-config` (read again on every update, so a changed source list applies without a
/// restart), `--db-mirror`, or else the public upstreams.
struct DbUpdates {
    config: Option<std::path::PathBuf>,
    mirror: Option<String>,
    interval: Duration,
    health: Arc<UpdateHealth>,
}

/// Whether the DB updates work: a failing one is degraded (`/readyz`, the dashboard's header)
/// until an update succeeds again.
#[derive(Default)]
struct UpdateHealth(parking_lot::Mutex<Option<String>>);

impl UpdateHealth {
    fn set(&self, failing: Option<&String>) {
        *self.0.lock() = failing.cloned();
    }
}

impl portcullis_webhook::HealthSource for UpdateHealth {
    fn degraded(&self) -> Vec<String> {
        self.0
            .lock()
            .iter()
            .map(|why| format!("vulnerability DB updates failing: {why}"))
            .collect()
    }
}

impl DbUpdates {
    /// `None` with `--db-update-interval off`.
    fn from_args(a: &ServeArgs, health: Arc<UpdateHealth>) -> Option<Self> {
        (!a.db_update_interval.is_zero()).then(|| DbUpdates {
            config: a.db_config.clone(),
            mirror: a.db_mirror.clone(),
            interval: a.db_update_interval,
            health,
        })
    }

    /// Where updates come from, as messages name it.
    fn origin(&self) -> String {
        match (&self.config, &self.mirror) {
            (Some(c), _) => format!("the sources in {}", c.display()),
            (None, Some(m)) => format!("the mirror {m}"),
            (None, None) => "the public upstreams".into(),
        }
    }

    /// Starts updating. With configured sources (`--db-config`, `--db-mirror`) and no DB yet,
    /// the first update comes before serving (serving without one would fail every scan a
    /// policy needs; a source that is not up yet, such as a mirror starting beside us, gets
    /// tries for up to [`FIRST_UPDATE_PATIENCE`]). The public upstreams are tried in the
    /// background instead: a first download takes minutes, and offline it cannot succeed.
    /// Returns a handle that asks for an update at once (a replica that sees another's newer
    /// DB in the shared store).
    async fn start(self, scanner: Arc<PipelineScanner>) -> Arc<tokio::sync::Notify> {
        let now = Arc::new(tokio::sync::Notify::new());
        let Some(db) = scanner.scanner().config().db.clone() else {
            return now;
        };
        let configured = self.config.is_some() || self.mirror.is_some();
        let mut done_at_start = false;
        let mut failing = None;
        // A rematch of the stored results that failed (the store was down), done with the next
        // update whatever it brings.
        let mut owed = false;
        if configured && !db.is_file() {
            let deadline = tokio::time::Instant::now() + FIRST_UPDATE_PATIENCE;
            loop {
                match self.update(&db, &scanner).await {
                    Ok(changed) => {
                        failing = None;
                        owed = changed && !rematch_after_update(&scanner).await;
                        break;
                    }
                    Err(why) => failing = Some(why),
                }
                if tokio::time::Instant::now() >= deadline {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            done_at_start = true;
            self.health.set(failing.as_ref());
            if let Some(why) = &failing {
                eprintln!("portcullis: {}", self.failure(why, &db));
            }
        }
        let asked = now.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(self.interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            if done_at_start {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = asked.notified() => {}
                }
            }
            loop {
                let result = self.update(&db, &scanner).await;
                self.health.set(result.as_ref().err());
                match result {
                    Ok(changed) => {
                        if failing.take().is_some() {
                            eprintln!(
                                "portcullis: vulnerability DB updated again from {}",
                                self.origin()
                            );
                        }
                        if changed || owed {
                            owed = !rematch_after_update(&scanner).await;
                        }
                    }
                    // Said once, clearly; the same failure again is no news.
                    Err(why) if failing.is_some() => {
                        tracing::debug!("DB update failed again: {why}");
                    }
                    Err(why) => {
                        eprintln!("portcullis: {}", self.failure(&why, &db));
                        failing = Some(why);
                    }
                }
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = asked.notified() => {}
                }
            }
        });
        now
    }

    /// What a failed update means for the service, said once until updates work again.
    fn failure(&self, why: &str, db: &std::path::Path) -> String {
        let consequence = if db.is_file() {
            "the last DB stays in force (/readyz and portcullis_db_age_seconds say how old it is)"
                .to_string()
        } else {
            format!(
                "serving without one: no workload is rejected for it unless a policy needs a scan, which then fails (--on-scan-error); air-gapped sites use --db-mirror, or `portcullis db import --db {}`",
                db.display()
            )
        };
        format!(
            "the vulnerability DB could not be updated from {} ({why}); {consequence}; retried every {}",
            self.origin(),
            portcullis_core::format_duration(self.interval)
        )
    }

    /// One update: true when the DB changed (the caller then matches the results again). A
    /// failed update leaves the last DB in force and says why.
    async fn update(
        &self,
        db: &std::path::Path,
        scanner: &Arc<PipelineScanner>,
    ) -> Result<bool, String> {
        let mut cfg = match &self.config {
            Some(p) => {
                portcullis_vulndb::UpdateConfig::load(p).map_err(|e| ErrorChain(&e).to_string())?
            }
            None => portcullis_vulndb::UpdateConfig::default(),
        };
        if self.mirror.is_some() {
            cfg.mirror = self.mirror.clone();
        }
        let version = || scanner.scanner().db_version();
        let before = version();
        let report = portcullis_vulndb::update(db, &cfg)
            .await
            .map_err(|e| ErrorChain(&e).to_string())?;
        for w in &report.warnings {
            tracing::warn!("DB update: {w}");
        }
        let after = version();
        if after.is_none() || after == before {
            tracing::info!(version = ?after, "vulnerability DB checked: unchanged");
            return Ok(false);
        }
        tracing::info!(from = ?before, to = ?after, "vulnerability DB updated");
        Ok(true)
    }
}

/// Matches every stored and held result again under the DB in force, after an update: the
/// stored lists without a report under it (another replica may have done them), then what this
/// process holds. False when the stored ones could not be done (the store is down): the caller
/// owes the rematch and tries again, while the held results follow the new DB already.
async fn rematch_after_update(scanner: &Arc<PipelineScanner>) -> bool {
    let scanner = scanner.clone();
    let rematched = tokio::task::spawn_blocking(move || {
        let stored = scanner.scanner().rematch_stored();
        (stored, scanner.rematch_cached())
    })
    .await;
    match rematched {
        Ok((Ok(stored), held)) => {
            tracing::info!(stored, held, "results matched again under the new DB");
            true
        }
        Ok((Err(e), held)) => {
            tracing::warn!(
                held,
                "stored results could not be matched again (tried again with the next update): {}",
                ErrorChain(&e)
            );
            false
        }
        Err(e) => {
            tracing::warn!("rematch task failed: {e}");
            false
        }
    }
}
