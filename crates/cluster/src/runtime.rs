//! What runs in the cluster: a Pod watch, with ReplicaSets and Jobs to name the owning workload,
//! kept in the result store as the runtime inventory; images running without a result are
//! scanned in the background, by digest, a few at a time, with the pods' pull secrets.
//!
//! The inventory is written every few seconds from the watches' memory, not per event: a
//! rollout changes hundreds of pods at once, and the store wants one transaction for them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::reflector::{self, ObjectRef, Store, store::Writer};
use kube::runtime::watcher;
use parking_lot::Mutex;
use portcullis_core::{Digest, ErrorChain, ImageRef, ImageSighting, RuntimeImage};
use portcullis_webhook::{ImageScanner as _, PipelineScanner, PullSecretSource};
use time::OffsetDateTime;

use crate::watch::{WatchHealth, drive};

/// How often what runs is looked at (and written when it changed), and unscanned images
/// looked for.
const EVERY: Duration = Duration::from_secs(5);
/// How often what runs is written when nothing changed, to move `last_seen` on.
const REFRESH: Duration = Duration::from_secs(60);
/// Background scans at once: the webhook's inline scans come first.
const SCANS_AT_ONCE: usize = 2;
/// How long a failed background scan waits before it is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(300);
/// A running image and what a scan of it needs: the image pinned to its digest, and one pod's
/// namespace, service account and pull secret names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanHint {
    /// `REGISTRY/REPOSITORY@DIGEST`.
    pub pinned: String,
    /// The digest.
    pub digest: Digest,
    /// A pod's namespace.
    pub namespace: String,
    /// Its service account.
    pub service_account: String,
    /// Its `imagePullSecrets`.
    pub pull_secrets: Vec<String>,
}

/// Starts the runtime inventory of `cluster` on the current runtime: Pod, ReplicaSet and Job
/// watches, the inventory written to the scanner's store, and background scans of running
/// images without a result.
pub fn watch_runtime(
    client: kube::Client,
    cluster: String,
    scanner: Arc<PipelineScanner>,
    pull_secrets: Arc<dyn PullSecretSource>,
    health: Arc<WatchHealth>,
) {
    let pods = reflect::<Pod>("pod", Api::all(client.clone()), health.clone());
    let replicasets = reflect::<ReplicaSet>("replicaset", Api::all(client.clone()), health.clone());
    let jobs = reflect::<Job>("job", Api::all(client), health);
    tokio::spawn(async move {
        let _ = pods.wait_until_ready().await;
        let scans = Arc::new(tokio::sync::Semaphore::new(SCANS_AT_ONCE));
        let tried: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        // What was last written, and when.
        let mut written: Option<(Instant, Vec<RuntimeImage>)> = None;
        loop {
            let owners = Owners {
                replicasets: &replicasets,
                jobs: &jobs,
            };
            let (images, hints) = running_images(&cluster, &pods.state(), &owners);
            // Written when what runs changed, else once a minute to move `last_seen` on.
            let unchanged = written.as_ref().is_some_and(|(at, before)| {
                at.elapsed() < REFRESH && same_running(before, &images)
            });
            if !unchanged {
                let outcome = tokio::task::spawn_blocking({
                    let (scanner, cluster, images) =
                        (scanner.clone(), cluster.clone(), images.clone());
                    move || match scanner.scanner().store() {
                        Some(store) => {
                            let now = OffsetDateTime::now_utc();
                            store.put_running(&cluster, &images, now)?;
                            store.record_sightings(&sightings(&cluster, &images), now)
                        }
                        None => Ok(()),
                    }
                })
                .await;
                match outcome {
                    Ok(Ok(())) => written = Some((Instant::now(), images)),
                    Ok(Err(e)) => tracing::warn!("runtime inventory: {}", ErrorChain(&e)),
                    Err(e) => tracing::warn!("runtime inventory task failed: {e}"),
                }
            }
            for hint in hints {
                if scanner.cached(&hint.pinned).is_some() {
                    continue;
                }
                {
                    let mut tried = tried.lock();
                    if tried
                        .get(&hint.pinned)
                        .is_some_and(|t| t.elapsed() < RETRY_AFTER)
                    {
                        continue;
                    }
                    tried.insert(hint.pinned.clone(), Instant::now());
                }
                let Ok(permit) = scans.clone().acquire_owned().await else {
                    break;
                };
                let (scanner, secrets, tried) =
                    (scanner.clone(), pull_secrets.clone(), tried.clone());
                tokio::spawn(async move {
                    let _permit = permit;
                    // Replicas sharing the store make each package list once: the scanner
                    // leases the digest, and the others wait for its list.
                    let found = secrets
                        .pull_secrets(&hint.namespace, &hint.service_account, &hint.pull_secrets)
                        .await;
                    match scanner.scan_image(&hint.pinned, &found).await {
                        Ok(r) => {
                            tracing::info!(image = %hint.pinned, status = %r.summary.status, "running image scanned");
                            tried.lock().remove(&hint.pinned);
                        }
                        Err(e) => tracing::warn!(
                            image = %hint.pinned,
                            "running image could not be scanned (tried again in {} s): {}",
                            RETRY_AFTER.as_secs(),
                            ErrorChain(&e)
                        ),
                    }
                });
            }
            tokio::time::sleep(EVERY).await;
        }
    });
}

/// Whether two readings of what runs hold the same groups, counts and nodes (their times,
/// always "now", aside).
fn same_running(a: &[RuntimeImage], b: &[RuntimeImage]) -> bool {
    type Key<'a> = (
        &'a str,
        &'a str,
        &'a str,
        &'a str,
        Option<&'a Digest>,
        u32,
        &'a [String],
    );
    fn key(r: &RuntimeImage) -> Key<'_> {
        (
            &r.namespace,
            &r.workload_kind,
            &r.workload_name,
            &r.image,
            r.digest.as_ref(),
            r.instances,
            &r.nodes,
        )
    }
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| key(x) == key(y))
}

/// The running images with a digest, as sightings in `cluster` (`cluster:NAME`).
fn sightings(cluster: &str, images: &[RuntimeImage]) -> Vec<ImageSighting> {
    images
        .iter()
        .filter_map(|r| {
            let digest = r.digest.clone()?;
            let image = ImageRef::loose(&r.image);
            Some(ImageSighting {
                registry: image.registry,
                repository: image.repository,
                tag: image.tag,
                digest,
                source: format!("cluster:{cluster}"),
            })
        })
        .collect()
}

fn reflect<K>(what: &'static str, api: Api<K>, health: Arc<WatchHealth>) -> Store<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let writer: Writer<K> = Writer::default();
    let store = writer.as_reader();
    let stream = reflector::reflector(
        writer,
        watcher::watcher(api, watcher::Config::default()).default_backoff(),
    );
    tokio::spawn(drive(what, stream, health));
    store
}

/// Who owns what, from the ReplicaSet and Job watches.
pub trait OwnerLookup {
    /// The controller (kind, name) of the ReplicaSet or Job `kind`/`name` in `namespace`.
    fn controller_of(&self, namespace: &str, kind: &str, name: &str) -> Option<(String, String)>;
}

struct Owners<'a> {
    replicasets: &'a Store<ReplicaSet>,
    jobs: &'a Store<Job>,
}

impl OwnerLookup for Owners<'_> {
    fn controller_of(&self, namespace: &str, kind: &str, name: &str) -> Option<(String, String)> {
        let refs = match kind {
            "ReplicaSet" => self
                .replicasets
                .get(&ObjectRef::new(name).within(namespace))?
                .metadata
                .owner_references
                .clone(),
            "Job" => self
                .jobs
                .get(&ObjectRef::new(name).within(namespace))?
                .metadata
                .owner_references
                .clone(),
            _ => None,
        };
        refs?
            .into_iter()
            .find(|o| o.controller == Some(true))
            .map(|o| (o.kind, o.name))
    }
}

/// The workload a pod belongs to: its controller, followed through a ReplicaSet to its
/// Deployment and through a Job to its CronJob; the pod itself when it has none.
pub fn workload_of(pod: &Pod, owners: &dyn OwnerLookup) -> (String, String) {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    let controller = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true));
    match controller {
        None => (
            "Pod".to_string(),
            pod.metadata.name.clone().unwrap_or_default(),
        ),
        Some(o) if o.kind == "ReplicaSet" || o.kind == "Job" => owners
            .controller_of(namespace, &o.kind, &o.name)
            .unwrap_or_else(|| (o.kind.clone(), o.name.clone())),
        Some(o) => (o.kind.clone(), o.name.clone()),
    }
}

/// The digest a container status reports it ran: the part after `@` of its `imageID`
/// (`docker.io/library/nginx@sha256:...`, `docker-pullable://...@sha256:...`). An ID without
/// `@` names a local image, not a registry manifest, and gives none.
pub fn digest_of_image_id(image_id: &str) -> Option<Digest> {
    let (_, d) = image_id.rsplit_once('@')?;
    Digest::sha256(d)
}

/// What runs, grouped by namespace, workload, image and digest, and one scan hint per pinned
/// image. Pods that finished (Succeeded, Failed) run nothing.
pub fn running_images(
    cluster: &str,
    pods: &[Arc<Pod>],
    owners: &dyn OwnerLookup,
) -> (Vec<RuntimeImage>, Vec<ScanHint>) {
    type Key = (String, String, String, String, Option<Digest>);
    let mut groups: BTreeMap<Key, (u32, BTreeSet<String>)> = BTreeMap::new();
    let mut hints: BTreeMap<String, ScanHint> = BTreeMap::new();
    for pod in pods {
        let status = pod.status.as_ref();
        if status
            .and_then(|s| s.phase.as_deref())
            .is_some_and(|p| p == "Succeeded" || p == "Failed")
        {
            continue;
        }
        let Some(spec) = &pod.spec else { continue };
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let (kind, name) = workload_of(pod, owners);
        let statuses = status.and_then(|s| s.container_statuses.as_ref());
        for c in &spec.containers {
            let Some(image) = c.image.clone() else {
                continue;
            };
            let digest = statuses
                .and_then(|ss| ss.iter().find(|s| s.name == c.name))
                .and_then(|s| digest_of_image_id(&s.image_id));
            if let Some(d) = &digest {
                let pinned = format!("{}@{d}", ImageRef::split(&image).name);
                hints.entry(pinned.clone()).or_insert_with(|| ScanHint {
                    pinned,
                    digest: d.clone(),
                    namespace: namespace.clone(),
                    service_account: spec
                        .service_account_name
                        .clone()
                        .unwrap_or_else(|| "default".into()),
                    pull_secrets: spec
                        .image_pull_secrets
                        .iter()
                        .flatten()
                        .map(|s| s.name.clone())
                        .collect(),
                });
            }
            let entry = groups
                .entry((namespace.clone(), kind.clone(), name.clone(), image, digest))
                .or_default();
            entry.0 += 1;
            if let Some(node) = &spec.node_name {
                entry.1.insert(node.clone());
            }
        }
    }
    let now = OffsetDateTime::now_utc();
    let images = groups
        .into_iter()
        .map(
            |((namespace, workload_kind, workload_name, image, digest), (instances, nodes))| {
                RuntimeImage {
                    cluster: cluster.to_string(),
                    namespace,
                    workload_kind,
                    workload_name,
                    image,
                    digest,
                    instances,
                    nodes: nodes.into_iter().collect(),
                    first_seen: now,
                    last_seen: now,
                    running: true,
                }
            },
        )
        .collect();
    (images, hints.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `((namespace, kind, name), (controller kind, controller name))` rows.
    type Row = (
        (&'static str, &'static str, &'static str),
        (&'static str, &'static str),
    );

    struct Table(Vec<Row>);

    impl OwnerLookup for Table {
        fn controller_of(&self, ns: &str, kind: &str, name: &str) -> Option<(String, String)> {
            self.0
                .iter()
                .find(|((n, k, m), _)| *n == ns && *k == kind && *m == name)
                .map(|(_, (k, n))| (k.to_string(), n.to_string()))
        }
    }

    fn pod(
        name: &str,
        owner: Option<(&str, &str)>,
        phase: &str,
        images: &[(&str, &str)],
    ) -> Arc<Pod> {
        let owners = owner.map(|(kind, name)| {
            serde_json::json!([{"apiVersion": "v1", "kind": kind, "name": name, "uid": "u", "controller": true}])
        });
        let containers: Vec<_> = images
            .iter()
            .enumerate()
            .map(|(i, (image, _))| serde_json::json!({"name": format!("c{i}"), "image": image}))
            .collect();
        let statuses: Vec<_> = images
            .iter()
            .enumerate()
            .map(|(i, (image, id))| {
                serde_json::json!({"name": format!("c{i}"), "image": image, "imageID": id,
                "ready": true, "restartCount": 0})
            })
            .collect();
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": name, "namespace": "shop", "ownerReferences": owners},
                "spec": {"containers": containers, "nodeName": "node-a", "serviceAccountName": "web",
                         "imagePullSecrets": [{"name": "regcred"}]},
                "status": {"phase": phase, "containerStatuses": statuses},
            }))
            .expect("pod"),
        )
    }

    #[test]
    fn image_ids_give_registry_digests_only() {
        let d = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(
            digest_of_image_id(&format!("docker.io/library/nginx@{d}")).map(|d| d.to_string()),
            Some(d.clone())
        );
        assert!(digest_of_image_id(&format!("docker-pullable://nginx@{d}")).is_some());
        assert_eq!(digest_of_image_id(&d), None, "a local image ID");
        assert_eq!(digest_of_image_id(""), None);
    }

    #[test]
    fn pods_are_grouped_by_workload_through_their_owners() {
        let d = format!("sha256:{}", "cd".repeat(32));
        let id = format!("registry.local/web@{d}");
        let owners = Table(vec![
            (("shop", "ReplicaSet", "web-7f9"), ("Deployment", "web")),
            (("shop", "Job", "backup-2912"), ("CronJob", "backup")),
        ]);
        let pods = vec![
            pod(
                "web-7f9-a",
                Some(("ReplicaSet", "web-7f9")),
                "Running",
                &[("registry.local/web:1", &id)],
            ),
            pod(
                "web-7f9-b",
                Some(("ReplicaSet", "web-7f9")),
                "Running",
                &[("registry.local/web:1", &id)],
            ),
            pod(
                "backup-2912-x",
                Some(("Job", "backup-2912")),
                "Running",
                &[("registry.local/backup:2", "")],
            ),
            pod(
                "db-0",
                Some(("StatefulSet", "db")),
                "Pending",
                &[("registry.local/db:3", "")],
            ),
            pod("debug", None, "Running", &[("registry.local/tools:1", "")]),
            pod(
                "done",
                Some(("Job", "once")),
                "Succeeded",
                &[("registry.local/once:1", "")],
            ),
        ];
        let (images, hints) = running_images("east", &pods, &owners);
        let seen: Vec<(&str, &str, &str, u32, bool)> = images
            .iter()
            .map(|r| {
                (
                    r.workload_kind.as_str(),
                    r.workload_name.as_str(),
                    r.image.as_str(),
                    r.instances,
                    r.digest.is_some(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("CronJob", "backup", "registry.local/backup:2", 1, false),
                ("Deployment", "web", "registry.local/web:1", 2, true),
                ("Pod", "debug", "registry.local/tools:1", 1, false),
                ("StatefulSet", "db", "registry.local/db:3", 1, false),
            ]
        );
        assert!(
            images
                .iter()
                .all(|r| r.cluster == "east" && r.nodes == ["node-a"])
        );
        assert_eq!(
            hints,
            [ScanHint {
                pinned: format!("registry.local/web@{d}"),
                digest: Digest::sha256(&d).expect("digest"),
                namespace: "shop".into(),
                service_account: "web".into(),
                pull_secrets: vec!["regcred".into()],
            }]
        );
    }
}
