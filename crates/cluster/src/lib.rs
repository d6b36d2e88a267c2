//! Inside a cluster, through kube-rs: what the webhook reads from files outside one.
//!
//! - [`watch_policies`] and [`watch_exceptions`] follow the `ContainerAdmissionPolicy` and
//!   `ContainerVulnerabilityException` custom resources, and hand the whole current set to the
//!   webhook on every change, so a `kubectl apply` takes effect without a restart.
//! - [`NamespaceWatch`] mirrors namespace labels in memory: `namespaceSelector`s and the ignore
//!   label are answered without an API call on the admission path.
//! - [`ApiPullSecrets`] reads the pod's `imagePullSecrets` and its service account's, so an
//!   inline scan resolves and pulls the image as the kubelet would.
//! - [`watch_runtime`] keeps the runtime inventory: which images run where (by workload, with
//!   the digests the kubelet reports), in the result store; running images without a result
//!   are scanned in the background.
//! - [`EventRecorder`] turns rejections (and audit-mode would-be rejections) into Kubernetes
//!   Events on the object, so `kubectl describe` and `kubectl get events` explain them.
//! - [`watch_alert_rules`] follows `ImageAssuranceAlert` resources (alert rules beside the
//!   API's), and [`AlertEvents`] delivers fired alerts as Kubernetes Events.
//! - [`remove_webhooks`] unregisters the webhooks first when the chart is uninstalled.
//!
//! Watches retry with kube-rs' default backoff and keep the last state they saw: if the API
//! server goes away, decisions continue from the last good policies, exceptions and labels.

mod events;
mod pull_secrets;
mod runtime;
mod uninstall;
mod watch;

pub use events::{AlertEvents, EventRecorder};
/// The Kubernetes client every function here takes.
pub use kube::Client;
pub use pull_secrets::ApiPullSecrets;
pub use runtime::{
    OwnerLookup, ScanHint, digest_of_image_id, running_images, watch_runtime, workload_of,
};
pub use uninstall::{UninstallError, remove_webhooks};
pub use watch::{
    NamespaceWatch, Synced, WatchHealth, watch_alert_rules, watch_exceptions, watch_policies,
};

/// Errors of the cluster integration.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Neither a kubeconfig nor the in-cluster service account was found or usable.
    #[error(
        "cannot find the Kubernetes API (no KUBECONFIG, ~/.kube/config or in-cluster service account): {0}"
    )]
    Config(#[source] kube::config::InferConfigError),
    /// The client could not be built from the configuration (TLS, proxy, auth).
    #[error("cannot build a Kubernetes client: {0}")]
    Client(#[source] kube::Error),
    /// The initial list of a watched resource did not arrive in time.
    #[error("the {what} watch did not finish its initial list within {seconds} s{}", last_error.as_deref().map(|e| format!(": {e}")).unwrap_or_default())]
    NotReady {
        /// The resource watched.
        what: &'static str,
        /// How long was waited.
        seconds: u64,
        /// The watch's last error, with a hint for the usual causes (missing CRDs, RBAC).
        last_error: Option<String>,
    },
}

/// Result of this crate.
pub type Result<T, E = ClusterError> = std::result::Result<T, E>;

/// A client from the environment: `KUBECONFIG` or `~/.kube/config` when present, else the
/// in-cluster service account (what a Deployment of the chart uses).
pub async fn client() -> Result<kube::Client> {
    let config = kube::Config::infer().await.map_err(ClusterError::Config)?;
    kube::Client::try_from(config).map_err(ClusterError::Client)
}
