//! Settings of the admission decisions and of the HTTPS server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use portcullis_policy::Mode;

/// What to answer when something other than a policy decides: a scan that is too slow,
/// a scan that failed, or an internal failure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailureAction {
    /// Deny the request, saying why (the safe default).
    #[default]
    Reject,
    /// Allow the request with a warning saying why.
    Allow,
}

impl FromStr for FailureAction {
    type Err = String;

    /// Accepts `reject`/`deny` and `allow`, case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "reject" | "deny" => Ok(FailureAction::Reject),
            "allow" => Ok(FailureAction::Allow),
            _ => Err(format!(
                "unknown failure action '{s}' (expected reject or allow)"
            )),
        }
    }
}

/// How admission requests are decided.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// `Enforce` denies what policies reject; `Audit` only records and warns.
    pub mode: Mode,
    /// Evaluate objects that have a controller owner (Pods of a ReplicaSet ...). Off by
    /// default: the owner was admitted already, and evaluating twice only doubles the work.
    pub evaluate_owned: bool,
    /// How long a request waits for inline scans before `on_scan_timeout` applies.
    pub scan_budget: Duration,
    /// The API server's timeout for this webhook (the `timeoutSeconds` of the
    /// registration); the scan budget must stay below it.
    pub webhook_timeout: Duration,
    /// What to answer when a scan is still running once the budget is spent.
    pub on_scan_timeout: FailureAction,
    /// What to answer when a scan failed.
    pub on_scan_error: FailureAction,
    /// What to answer when the webhook itself failed (a panic during evaluation).
    pub on_internal_error: FailureAction,
    /// What to answer while the policy set is broken: some policy file or object failed to
    /// load and no complete set has loaded since start, so there is no last good set to fall
    /// back on. `Reject` denies every evaluated workload (a typo must not open the gate);
    /// `Allow` lets the policies that did load decide and warns on every answer.
    pub on_policy_error: FailureAction,
    /// The decision when no policy selects the workload.
    pub default_allow: bool,
    /// Namespaces never evaluated (besides those labelled `portcullis.dev/ignore=true`).
    pub exempt_namespaces: Vec<String>,
    /// The webhook's own namespace, always exempt so the webhook can always be restarted.
    pub own_namespace: Option<String>,
}

/// The default webhook timeout, the API server's default too.
pub const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

impl WebhookConfig {
    /// Sets the webhook timeout and the scan budget to two thirds of it, which leaves time
    /// for evaluation and the network within the API server's deadline.
    pub fn with_webhook_timeout(mut self, timeout: Duration) -> Self {
        self.webhook_timeout = timeout;
        self.scan_budget = timeout * 2 / 3;
        self
    }

    /// True when requests in `namespace` are not evaluated by configuration (the label
    /// check is separate, because labels come from a provider).
    pub fn is_exempt_namespace(&self, namespace: &str) -> bool {
        self.own_namespace.as_deref() == Some(namespace)
            || self.exempt_namespaces.iter().any(|n| n == namespace)
    }
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            mode: Mode::Enforce,
            evaluate_owned: false,
            scan_budget: DEFAULT_WEBHOOK_TIMEOUT * 2 / 3,
            webhook_timeout: DEFAULT_WEBHOOK_TIMEOUT,
            on_scan_timeout: FailureAction::Reject,
            on_scan_error: FailureAction::Reject,
            on_internal_error: FailureAction::Reject,
            on_policy_error: FailureAction::Reject,
            default_allow: true,
            exempt_namespaces: vec!["kube-system".into()],
            own_namespace: None,
        }
    }
}

/// How the HTTPS server listens and where its certificate comes from.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Address to listen on (port 0 picks a free port; [`crate::Server::local_addr`] tells which).
    pub listen: SocketAddr,
    /// PEM certificate chain; reloaded when the file changes. With `tls_key`.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key; reloaded when the file changes. With `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Where a generated certificate is written (`ca.crt`, `tls.crt`, `tls.key`) when no
    /// certificate is given, and reused from on the next start.
    pub generated_cert_dir: PathBuf,
    /// Extra DNS names for a generated certificate (the Service's
    /// `name.namespace.svc` ...), besides `localhost` and `127.0.0.1`.
    pub service_names: Vec<String>,
    /// How often certificate files are checked for changes.
    pub cert_poll_interval: Duration,
    /// Policy directory to watch (reloaded on change), if any.
    pub policies_dir: Option<PathBuf>,
    /// How often the policy directory is checked for changes.
    pub policy_poll_interval: Duration,
    /// PEM CA certificates that sign the clients allowed to connect (the API server's client
    /// certificate, from its `--admission-control-config-file` kubeconfig); when set, a client
    /// without a certificate one of them signed is refused at the handshake. Other listeners
    /// of the process (the API) do not ask for one.
    pub client_ca: Option<PathBuf>,
    /// How long a TLS handshake may take before the connection is dropped.
    pub handshake_timeout: Duration,
    /// Threads serving connections, each running its own single-threaded runtime; 0 means one
    /// per CPU the process may use.
    pub connection_threads: usize,
}

impl ServeConfig {
    /// Listens on `listen` with a generated certificate under `generated_cert_dir`.
    pub fn new(listen: SocketAddr, generated_cert_dir: PathBuf) -> Self {
        ServeConfig {
            listen,
            tls_cert: None,
            tls_key: None,
            generated_cert_dir,
            service_names: Vec::new(),
            cert_poll_interval: Duration::from_secs(5),
            policies_dir: None,
            policy_poll_interval: Duration::from_secs(5),
            client_ca: None,
            handshake_timeout: Duration::from_secs(10),
            connection_threads: 0,
        }
    }
}
