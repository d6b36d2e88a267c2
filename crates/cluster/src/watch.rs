//! Watches that mirror cluster state into the webhook.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{Stream, StreamExt as _};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DynamicObject, GroupVersionKind};
use kube::discovery::ApiResource;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt as _, reflector::store::Writer};
use portcullis_api::alerts::{ALERT_KIND, Rule};
use portcullis_core::Exception;
use portcullis_policy::{ContainerAdmissionPolicy, EXCEPTION_KIND, GROUP, KIND, PolicyError};
use portcullis_webhook::{AppState, HealthSource, NamespaceLabels};
use tokio::sync::oneshot;

use crate::{ClusterError, Result};

/// The state of every watch, for `/readyz`: a watch that cannot reach the API server is
/// reported (with its error and since when) until it succeeds again. Decisions meanwhile use
/// the last state the watch delivered.
#[derive(Default)]
pub struct WatchHealth {
    failing: Mutex<BTreeMap<&'static str, (String, Instant)>>,
}

impl WatchHealth {
    fn failed(&self, what: &'static str, error: String) {
        let mut f = self.failing.lock();
        let since = f.get(what).map_or_else(Instant::now, |(_, t)| *t);
        f.insert(what, (error, since));
    }

    /// The last error of a failing watch, with a hint for the usual causes.
    fn explain(&self, what: &'static str) -> Option<String> {
        let f = self.failing.lock();
        let (error, _) = f.get(what)?;
        let hint = if error.contains("404") || error.contains("NotFound") {
            " (are the CRDs installed? `portcullis policy crd | kubectl apply -f -`)"
        } else if error.contains("403") || error.contains("Forbidden") {
            " (the service account lacks list/watch on it: see the chart's ClusterRole)"
        } else {
            ""
        };
        Some(format!("{error}{hint}"))
    }

    fn succeeded(&self, what: &'static str) {
        self.failing.lock().remove(what);
    }
}

impl HealthSource for WatchHealth {
    fn degraded(&self) -> Vec<String> {
        self.failing
            .lock()
            .iter()
            .map(|(what, (error, since))| {
                format!(
                    "{what} watch failing for {} s (decisions use its last state): {error}",
                    since.elapsed().as_secs()
                )
            })
            .collect()
    }
}

/// Namespace labels mirrored by a watch.
pub struct NamespaceWatch {
    store: Store<Namespace>,
    health: Arc<WatchHealth>,
}

impl NamespaceWatch {
    /// Starts the watch on the current runtime; the returned value answers from memory.
    pub fn start(client: kube::Client, health: Arc<WatchHealth>) -> Arc<NamespaceWatch> {
        let writer: Writer<Namespace> = Writer::default();
        let store = writer.as_reader();
        let stream = reflector::reflector(
            writer,
            watcher::watcher(Api::<Namespace>::all(client), watcher::Config::default())
                .default_backoff(),
        );
        tokio::spawn(drive("namespace", stream, health.clone()));
        Arc::new(NamespaceWatch { store, health })
    }

    /// Waits for the initial list, so no request is decided on missing labels at startup.
    pub async fn ready(&self, within: Duration) -> Result<()> {
        match tokio::time::timeout(within, self.store.wait_until_ready()).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(ClusterError::NotReady {
                what: "namespace",
                seconds: within.as_secs(),
                last_error: self.health.explain("namespace"),
            }),
        }
    }
}

impl NamespaceLabels for NamespaceWatch {
    fn labels(&self, namespace: &str) -> Option<BTreeMap<String, String>> {
        self.store
            .get(&ObjectRef::new(namespace))
            .map(|ns| ns.metadata.labels.clone().unwrap_or_default())
    }
}

/// Runs a watch stream for ever, logging its errors (the stream itself backs off and retries).
pub(crate) async fn drive<T, E: std::fmt::Display>(
    what: &'static str,
    stream: impl Stream<Item = Result<T, E>>,
    health: Arc<WatchHealth>,
) {
    let mut stream = std::pin::pin!(stream);
    while let Some(item) = stream.next().await {
        match item {
            Ok(_) => health.succeeded(what),
            Err(e) => {
                tracing::warn!(watch = what, "watch error (retrying): {e}");
                health.failed(what, e.to_string());
            }
        }
    }
}

fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, "v1", kind), plural)
}

/// Follows every object of a cluster-scoped custom resource and calls `on_change` with the
/// complete current set after the initial list and after every change. A restarted watch
/// (after an outage) delivers its set only once the relist is complete, so a half-listed set
/// never replaces a whole one.
async fn follow(
    client: kube::Client,
    api_resource: ApiResource,
    what: &'static str,
    synced: oneshot::Sender<()>,
    health: Arc<WatchHealth>,
    mut on_change: impl FnMut(Vec<DynamicObject>) -> futures_util::future::BoxFuture<'static, ()> + Send,
) {
    let mut synced = Some(synced);
    let api = Api::<DynamicObject>::all_with(client, &api_resource);
    let stream = watcher::watcher(api, watcher::Config::default()).default_backoff();
    let mut stream = std::pin::pin!(stream);
    let mut current: BTreeMap<String, DynamicObject> = BTreeMap::new();
    let mut relist: Option<BTreeMap<String, DynamicObject>> = None;
    while let Some(event) = stream.next().await {
        let event = match event {
            Ok(e) => {
                health.succeeded(what);
                e
            }
            Err(e) => {
                tracing::warn!(watch = what, "watch error (retrying): {e}");
                health.failed(what, e.to_string());
                continue;
            }
        };
        let key = |o: &DynamicObject| o.metadata.name.clone().unwrap_or_default();
        match event {
            Event::Init => relist = Some(BTreeMap::new()),
            Event::InitApply(o) => {
                relist.get_or_insert_with(BTreeMap::new).insert(key(&o), o);
            }
            Event::InitDone => {
                current = relist.take().unwrap_or_default();
                on_change(current.values().cloned().collect()).await;
                if let Some(tx) = synced.take() {
                    let _ = tx.send(());
                }
            }
            Event::Apply(o) => {
                current.insert(key(&o), o);
                on_change(current.values().cloned().collect()).await;
            }
            Event::Delete(o) => {
                current.remove(&key(&o));
                on_change(current.values().cloned().collect()).await;
            }
        }
    }
}

/// Decodes custom resources with `read` (the same checks as policy files get); one that fails
/// is reported by kind, name and field, and left out.
fn decode<T>(
    kind: &str,
    objects: Vec<DynamicObject>,
    read: impl Fn(&serde_json::Value) -> Result<T, PolicyError>,
) -> (Vec<T>, Vec<String>) {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for o in objects {
        let name = o.metadata.name.clone().unwrap_or_default();
        match serde_json::to_value(&o) {
            Ok(v) => match read(&v) {
                Ok(t) => ok.push(t),
                Err(e) => errors.push(format!("{kind} {name}: {e}")),
            },
            Err(e) => errors.push(format!("{kind} {name}: {e}")),
        }
    }
    (ok, errors)
}

/// Fires once a watch has delivered its first complete list.
pub struct Synced {
    what: &'static str,
    rx: oneshot::Receiver<()>,
    health: Arc<WatchHealth>,
}

impl Synced {
    /// Waits for the first complete list: serving before it would decide with no policies
    /// (default allow) or without the exceptions users rely on.
    pub async fn wait(self, within: Duration) -> Result<()> {
        match tokio::time::timeout(within, self.rx).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(ClusterError::NotReady {
                what: self.what,
                seconds: within.as_secs(),
                last_error: self.health.explain(self.what),
            }),
        }
    }
}

/// Keeps the webhook's policies equal to the cluster's `ContainerAdmissionPolicy` objects, from
/// a task on the current runtime.
pub fn watch_policies(
    client: kube::Client,
    state: Arc<AppState>,
    health: Arc<WatchHealth>,
) -> Synced {
    let (tx, rx) = oneshot::channel();
    tokio::spawn(follow(
        client.clone(),
        resource(KIND, "containeradmissionpolicies"),
        "policy",
        tx,
        health.clone(),
        move |objects| {
            let (client, state) = (client.clone(), state.clone());
            Box::pin(async move {
                // Shapes first: keys named as Secrets are read in, then the state checks each
                // policy whole.
                let (mut policies, mut errors) =
                    decode(KIND, objects, portcullis_policy::policy_shape_from_value);
                resolve_key_secrets(&client, &mut policies, &mut errors).await;
                // The state logs what failed and keeps the last good set in force.
                let reload = state.set_cluster_policies(policies, errors);
                tracing::info!(loaded = reload.loaded, "policies updated from the cluster");
            })
        },
    ));
    Synced {
        what: "policy",
        rx,
        health,
    }
}

/// Replaces the keys that name Secrets (`k8s://NAMESPACE/NAME`) with the Secrets' `cosign.pub`,
/// read when the policies change. A policy whose Secret cannot be read is an error (the state
/// keeps its last good version), never a policy with fewer keys.
async fn resolve_key_secrets(
    client: &kube::Client,
    policies: &mut Vec<ContainerAdmissionPolicy>,
    errors: &mut Vec<String>,
) {
    let mut wanted: Vec<(String, String)> = Vec::new();
    for p in policies.iter() {
        for r in p.key_secrets() {
            if !wanted.contains(&r) {
                wanted.push(r);
            }
        }
    }
    if wanted.is_empty() {
        return;
    }
    let mut read: BTreeMap<(String, String), std::result::Result<String, String>> = BTreeMap::new();
    for (ns, name) in wanted {
        let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
        let got = match secrets.get_opt(&name).await {
            Ok(Some(s)) => s
                .data
                .as_ref()
                .and_then(|d| d.get(portcullis_policy::SECRET_KEY_ENTRY))
                .map(|b| String::from_utf8_lossy(&b.0).into_owned())
                .ok_or_else(|| {
                    format!(
                        "Secret {ns}/{name} has no {} entry",
                        portcullis_policy::SECRET_KEY_ENTRY
                    )
                }),
            Ok(None) => Err(format!("Secret {ns}/{name} does not exist")),
            Err(e) => Err(format!("Secret {ns}/{name} cannot be read: {e}")),
        };
        read.insert((ns, name), got);
    }
    let lookup = |ns: &str, name: &str| {
        read.get(&(ns.to_string(), name.to_string()))
            .cloned()
            .unwrap_or_else(|| Err("not read".into()))
    };
    policies.retain_mut(|p| match p.resolve_key_secrets(&lookup) {
        Ok(()) => true,
        Err(e) => {
            errors.push(format!("{KIND} {}: {e}", p.metadata.name));
            false
        }
    });
}

/// Calls `apply` with the cluster's `ContainerVulnerabilityException` objects (as exceptions)
/// whenever they change, from a task on the current runtime.
pub fn watch_exceptions(
    client: kube::Client,
    health: Arc<WatchHealth>,
    mut apply: impl FnMut(Vec<Exception>) + Send + 'static,
) -> Synced {
    let (tx, rx) = oneshot::channel();
    tokio::spawn(follow(
        client,
        resource(EXCEPTION_KIND, "containervulnerabilityexceptions"),
        "exception",
        tx,
        health.clone(),
        move |objects| {
            let (named, errors) = decode(
                EXCEPTION_KIND,
                objects,
                portcullis_policy::exception_from_value,
            );
            for e in &errors {
                tracing::warn!("exception skipped: {e}");
            }
            let exceptions: Vec<Exception> = named.into_iter().map(|(_, e)| e).collect();
            tracing::info!(
                count = exceptions.len(),
                "vulnerability exceptions updated from the cluster"
            );
            apply(exceptions);
            Box::pin(std::future::ready(()))
        },
    ));
    Synced {
        what: "exception",
        rx,
        health,
    }
}

/// Calls `apply` with the cluster's `ImageAssuranceAlert` objects (as alert rules) whenever
/// they change, from a task on the current runtime. An object whose spec does not check is
/// left out, said in the log with its name and what is wrong.
pub fn watch_alert_rules(
    client: kube::Client,
    health: Arc<WatchHealth>,
    mut apply: impl FnMut(Vec<Rule>) + Send + 'static,
) -> Synced {
    let (tx, rx) = oneshot::channel();
    tokio::spawn(follow(
        client,
        resource(ALERT_KIND, "imageassurancealerts"),
        "alert",
        tx,
        health.clone(),
        move |objects| {
            let mut rules = Vec::new();
            for o in objects {
                let name = o.metadata.name.clone().unwrap_or_default();
                match Rule::from_resource(&name, &o.data["spec"]) {
                    Ok(r) => rules.push(r),
                    Err(e) => tracing::warn!("{ALERT_KIND} {name} skipped: {e}"),
                }
            }
            tracing::info!(count = rules.len(), "alert rules updated from the cluster");
            apply(rules);
            Box::pin(std::future::ready(()))
        },
    ));
    Synced {
        what: "alert",
        rx,
        health,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_watches_are_reported_until_they_recover() {
        let h = WatchHealth::default();
        assert!(h.degraded().is_empty());
        h.failed("policy", "connection refused".into());
        h.failed("policy", "still refused".into());
        h.failed("namespace", "403 Forbidden".into());
        let d = h.degraded();
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(
            d[0].starts_with("namespace watch failing") && d[0].contains("403"),
            "{d:?}"
        );
        assert!(
            d[1].contains("still refused"),
            "the latest error is shown: {d:?}"
        );
        h.succeeded("policy");
        assert_eq!(h.degraded().len(), 1);
    }

    #[tokio::test]
    async fn a_watch_that_never_lists_says_why() {
        let health = Arc::new(WatchHealth::default());
        health.failed("policy", "ApiError: 404 page not found: NotFound".into());
        let (_tx, rx) = oneshot::channel();
        let synced = Synced {
            what: "policy",
            rx,
            health,
        };
        let err = synced
            .wait(Duration::from_millis(20))
            .await
            .expect_err("never synced")
            .to_string();
        assert!(err.contains("policy watch did not finish"), "{err}");
        assert!(
            err.contains("404") && err.contains("CRDs installed"),
            "{err}"
        );
    }

    fn object(json: serde_json::Value) -> DynamicObject {
        serde_json::from_value(json).expect("dynamic object")
    }

    #[test]
    fn custom_resources_decode_and_bad_ones_are_named() {
        let good = object(serde_json::json!({
            "apiVersion": "containersecurity.portcullis.dev/v1",
            "kind": "ContainerAdmissionPolicy",
            "metadata": {"name": "good"},
            "spec": {"order": 1, "rules": [{"action": "Reject"}]}
        }));
        let bad = object(serde_json::json!({
            "apiVersion": "containersecurity.portcullis.dev/v1",
            "kind": "ContainerAdmissionPolicy",
            "metadata": {"name": "bad"},
            "spec": {"rules": [{"action": "Maybe"}]}
        }));
        let (ok, errors) = decode(KIND, vec![good, bad], portcullis_policy::policy_from_value);
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].metadata.name, "good");
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].contains("ContainerAdmissionPolicy bad"),
            "{errors:?}"
        );
    }
}
