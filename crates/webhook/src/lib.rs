//! Admission webhook: `router()`, TLS `serve()`, decisions from policies and scan results.
//!
//! A request goes through three steps shared by the server and `policy test`
//! ([`review_offline`]): preparation (what needs no evaluation: deletes, exempt
//! namespaces, owned objects, unchanged updates), scan results for each image (cached, or
//! an inline scan bounded by the scan budget), and evaluation by the policies. Every
//! answer is an AdmissionReview carrying the request's uid; failures become an explicit
//! deny or allow per the configured failure actions, never a bare 500.

mod admission;
mod config;
mod decisions;
mod http;
mod metrics;
mod namespaces;
mod offline;
mod pipeline;
mod review;
mod scan;
mod server;
mod state;
mod tls;
mod workload;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use config::{DEFAULT_WEBHOOK_TIMEOUT, FailureAction, ServeConfig, WebhookConfig};
pub use decisions::{DecisionSinks, StoredDecisions};
pub use http::{MAX_BODY, router};
pub use namespaces::{
    IGNORE_LABEL, NAME_LABEL, NameOnlyLabels, NamespaceLabels, StaticNamespaceLabels,
};
pub use offline::{MatchSbom, OfflineOptions, SbomMatcher, review_offline};
pub use pipeline::{DEFAULT_REPORT_CAPACITY, PipelineScanner, TagRefresh};
pub use review::{
    API_V1, API_V1BETA1, AdmissionRequest, AdmissionResponse, AdmissionReview, GroupVersionKind,
    GroupVersionResource, Operation, PatchOp, ResponseStatus, UserInfo,
};
pub use scan::{ImageScanner, PullSecret, PullSecretSource, ScanFailure};
pub use server::{
    Server, accept, bind, handshake, http_builder, install_crypto_provider, serve, shutdown_signal,
};
pub use state::{
    AppState, DecisionEvent, DecisionSink, HealthSource, PolicyReload, PolicyStatus, Readiness,
};
pub use tls::{
    GENERATED_CA, GENERATED_CERT, GENERATED_KEY, GeneratedCert, ensure_generated,
    load_certified_key,
};
pub use workload::{
    Container, ContainerImage, ContainerKind, Metadata, Object, OwnerReference, SecretReference,
    SecurityContext, Spec, images,
};

/// Errors of starting the server (requests never fail: they get an AdmissionReview).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// A certificate or key file holds nothing usable.
    #[error("{}: {reason}", path.display())]
    Certificate {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A certificate could not be generated.
    #[error("cannot generate a TLS certificate: {0}")]
    Generate(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The threads serving connections could not be started.
    #[error("cannot start the connection threads")]
    Threads {
        /// What the OS or the runtime said.
        #[source]
        source: std::io::Error,
    },
    /// The server configuration is contradictory.
    #[error("invalid server configuration: {0}")]
    Config(String),
}

/// Result of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
