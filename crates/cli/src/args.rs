//! Raw command-line flags (validation only; construction of components happens in `cmd/`).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use portcullis_core::parse_duration;

/// Image assurance for Kubernetes: scan images, produce SBOMs, and admit only what passes policy.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version, about)]
pub(crate) struct Cli {
    /// More log output on stderr (-v info, -vv debug). `PORTCULLIS_LOG` overrides it.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Nothing on stderr but errors (no warnings, no progress).
    #[arg(short, long, global = true, env = "PORTCULLIS_QUIET")]
    pub(crate) quiet: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Scan an image (or SBOM) for known vulnerabilities.
    Scan(Box<ScanArgs>),
    /// List the packages in an image as an SBOM.
    Sbom(SbomArgs),
    /// Manage the vulnerability database.
    Db(DbArgs),
    /// Run the admission webhook.
    Serve(Box<ServeArgs>),
    /// Evaluate policies offline.
    Policy(PolicyArgs),
    /// Version utilities.
    Version(VersionArgs),
    /// Generate a CA and a serving certificate for the webhook Service.
    Certs(CertsArgs),
    /// Show or change the settings kept in the result store (thresholds); every `serve`
    /// sharing the store follows within seconds.
    Settings(SettingsArgs),
    /// List the images running in the clusters (`serve --watch-cluster` keeps the list), with
    /// their workloads, digests and status.
    Runtime(RuntimeArgs),
    /// List the latest admission decisions `serve` recorded in the result store (the audit
    /// trail: object, namespace, images, policy, rule, answer, message, time).
    Decisions(DecisionsArgs),
    /// List the images the store has seen (admitted, scanned, running), by digest, with every
    /// tag and place they were seen under.
    Images(ImagesArgs),
    /// Cluster housekeeping the chart's hooks run.
    Cluster(ClusterArgs),
    /// Manage the API's tokens (kept in the result store as hashes only).
    Token(TokenArgs),
}

#[derive(Debug, Args)]
pub(crate) struct TokenArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    #[command(subcommand)]
    pub(crate) cmd: TokenCmd,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCmd {
    /// Make a token and print it on the last line of stdout: it is shown this once, only its
    /// hash is kept.
    Create {
        /// What it may do: `read` (every GET), `write` (read, and change exceptions and
        /// settings), `push` (CI scan results only).
        #[arg(long)]
        scope: portcullis_core::TokenScope,
        /// It stops working after this long (`30d`, `12h`); never, without.
        #[arg(long, value_parser = parse_duration)]
        expires: Option<Duration>,
        /// A label for lists (who or what holds it).
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List the tokens: id, name, scope, created, expires, revoked (never a secret).
    List {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by its id: it is refused from now on.
    Revoke {
        /// The token's id (the part after `pcl_`, before the next `_`).
        id: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct ClusterArgs {
    #[command(subcommand)]
    pub(crate) cmd: ClusterCmd,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ClusterCmd {
    /// Delete the validating and mutating webhook configurations called NAME (the chart's
    /// pre-delete hook: a removed Portcullis must never block a cluster). Ones already gone are
    /// not an error.
    RemoveWebhooks {
        /// The configurations' name (the chart's `RELEASE-portcullis`).
        name: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct ImagesArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DecisionsArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// How many, newest first.
    #[arg(long, default_value_t = 20)]
    pub(crate) limit: usize,
    /// JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Which result store a command reads.
#[derive(Debug, Clone, Args)]
pub(crate) struct StoreArgs {
    /// Result store: `sqlite:PATH` (default: the cache directory's results.db) or
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE`.
    #[arg(long, env = "PORTCULLIS_STORE", global = true)]
    pub(crate) store: Option<String>,
    /// Cache directory (where the default store lives).
    #[arg(long = "cache-dir", env = "PORTCULLIS_CACHE_DIR", global = true)]
    pub(crate) cache_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct SettingsArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    #[command(subcommand)]
    pub(crate) command: SettingsCommand,
}

#[derive(Debug, Args)]
pub(crate) struct RuntimeArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
    /// Only images running now (not those seen before).
    #[arg(long)]
    pub(crate) running: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SettingsCommand {
    /// Print the settings in force (JSON with --json).
    Show {
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Change thresholds; what is not given keeps its stored (or default) value.
    Set {
        /// CVSS score at or above which an image warns.
        #[arg(long = "warn-threshold")]
        warn_threshold: Option<f64>,
        /// CVSS score at or above which an image fails.
        #[arg(long = "fail-threshold")]
        fail_threshold: Option<f64>,
        /// Status of a match without any score.
        #[arg(long = "unknown-as", value_enum)]
        unknown_as: Option<StatusArg>,
        /// The least status of an image with packages no source covers.
        #[arg(long = "uncovered-as", value_enum)]
        uncovered_as: Option<StatusArg>,
    },
    /// Print the exceptions `serve` last had in force, from its files and the cluster together
    /// (JSON with --json).
    Exceptions {
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print an image's status history with the cause of each change (JSON with --json).
    History {
        /// The image digest (`sha256:...`).
        digest: String,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// How to reach images: shared by every command that reads one.
#[derive(Debug, Clone, Args)]
pub(crate) struct ImageArgs {
    /// Registry HOST:PORT that may be reached over plain HTTP (repeatable).
    #[arg(
        long = "insecure-registry",
        env = "PORTCULLIS_INSECURE_REGISTRY",
        value_delimiter = ','
    )]
    pub(crate) insecure_registry: Vec<String>,
    /// Platform to pick from an image index.
    #[arg(long, env = "PORTCULLIS_PLATFORM", default_value = "linux/amd64")]
    pub(crate) platform: String,
    /// Registry credentials USER:PASS.
    #[arg(long, env = "PORTCULLIS_CREDS", hide_env_values = true)]
    pub(crate) creds: Option<String>,
    /// A kubernetes.io/dockerconfigjson Secret (or a raw config.json) with registry credentials.
    #[arg(long = "registry-auth", env = "PORTCULLIS_REGISTRY_AUTH")]
    pub(crate) registry_auth: Option<PathBuf>,
    /// Blob and result cache directory (default ~/.cache/portcullis).
    #[arg(long = "cache-dir", env = "PORTCULLIS_CACHE_DIR")]
    pub(crate) cache_dir: Option<PathBuf>,
}

/// Scan thresholds and exceptions.
#[derive(Debug, Clone, Args)]
pub(crate) struct VerdictArgs {
    /// CVSS score at or above which the image warns.
    #[arg(
        long = "warn-threshold",
        env = "PORTCULLIS_WARN_THRESHOLD",
        default_value_t = 4.0
    )]
    pub(crate) warn_threshold: f64,
    /// CVSS score at or above which the image fails.
    #[arg(
        long = "fail-threshold",
        env = "PORTCULLIS_FAIL_THRESHOLD",
        default_value_t = 7.0
    )]
    pub(crate) fail_threshold: f64,
    /// Status for a vulnerability with no score and no severity.
    #[arg(long = "unknown-as", env = "PORTCULLIS_UNKNOWN_AS", value_enum, default_value_t = StatusArg::Warn)]
    pub(crate) unknown_as: StatusArg,
    /// The least status of an image with packages that no source in the DB covers (they are
    /// listed as not examined): nothing reports Pass for what it did not examine.
    #[arg(long = "uncovered-as", env = "PORTCULLIS_UNCOVERED_AS", value_enum, default_value_t = StatusArg::Warn)]
    pub(crate) uncovered_as: StatusArg,
    /// Exceptions: YAML list, Calico CSV (.csv) or OpenVEX JSON (.json); repeatable.
    #[arg(
        long = "exceptions",
        env = "PORTCULLIS_EXCEPTIONS",
        value_delimiter = ','
    )]
    pub(crate) exceptions: Vec<PathBuf>,
    /// Leave out distro tracker states that have no fix (unfixed, no-dsa, unimportant, postponed, end-of-life).
    #[arg(long = "only-fixed", env = "PORTCULLIS_ONLY_FIXED")]
    pub(crate) only_fixed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum StatusArg {
    Pass,
    Warn,
    Fail,
}

#[derive(Debug, Args)]
pub(crate) struct ScanArgs {
    /// Image or SBOM: HOST/REPO[:TAG|@DIGEST], oci:DIR[:TAG], docker-archive:FILE, dir:PATH, sbom:FILE.
    pub(crate) target: String,
    /// Vulnerability database file.
    #[arg(long, env = "PORTCULLIS_DB")]
    pub(crate) db: Option<PathBuf>,
    /// Report format.
    #[arg(long, short = 'f', env = "PORTCULLIS_FORMAT", value_enum, default_value_t = ScanFormat::Table)]
    pub(crate) format: ScanFormat,
    /// Write the report here instead of stdout.
    #[arg(long, short = 'o')]
    pub(crate) output: Option<PathBuf>,
    /// Exit with `--exit-code` (1) when the image's status is at least `warn` or `fail`, or when
    /// a counted vulnerability is at least this severity (`low`, `medium`, `high`, `critical`).
    #[arg(long = "fail-on", env = "PORTCULLIS_FAIL_ON", value_enum)]
    pub(crate) fail_on: Option<FailOn>,
    /// The exit code when `--fail-on` fails (Trivy's `--exit-code`).
    #[arg(long = "exit-code", env = "PORTCULLIS_EXIT_CODE", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..))]
    pub(crate) exit_code: u8,
    /// Show and count only vulnerabilities of these severities (`critical,high`); the status is
    /// made of what is left.
    #[arg(long, env = "PORTCULLIS_SEVERITY", value_enum, value_delimiter = ',')]
    pub(crate) severity: Vec<SeverityArg>,
    /// Leave out vulnerabilities that have no fixed version.
    #[arg(long = "ignore-unfixed", env = "PORTCULLIS_IGNORE_UNFIXED")]
    pub(crate) ignore_unfixed: bool,
    /// Ids to ignore: a `.trivyignore` (one id a line, `#` comments, `exp:YYYY-MM-DD`) or a
    /// `.grype.yaml` (`ignore:` rules by vulnerability, package and fix state); repeatable.
    #[arg(
        long = "ignorefile",
        env = "PORTCULLIS_IGNOREFILE",
        value_delimiter = ','
    )]
    pub(crate) ignorefile: Vec<PathBuf>,
    /// Give up after this long (`90s`, `10m`): exit 2 saying so.
    #[arg(long, env = "PORTCULLIS_TIMEOUT", value_parser = parse_duration)]
    pub(crate) timeout: Option<Duration>,

    /// Result store: `sqlite:PATH` (default: the cache directory's results.db), or
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE` to share results; `none` disables it.
    #[arg(long, env = "PORTCULLIS_STORE")]
    pub(crate) store: Option<String>,
    /// Also send the inventory to a Portcullis service (`https://HOST:PORT`, its `--api-listen`),
    /// which matches it with its own DB and lists the image beside the cluster's. A failed push
    /// exits 3 (1 still wins when `--fail-on` fails), after the report is written.
    #[arg(long, env = "PORTCULLIS_PUSH", requires = "token")]
    pub(crate) push: Option<String>,
    /// The API token for `--push` (scope `push`).
    #[arg(long, env = "PORTCULLIS_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// CA certificate (PEM) to verify the service with, besides the system's roots: `serve`'s
    /// self-signed CA is `<its cache dir>/tls/ca.crt`. Verification is never skipped.
    #[arg(long = "push-ca", env = "PORTCULLIS_PUSH_CA")]
    pub(crate) push_ca: Option<PathBuf>,
    /// A label for the pushed result (`pipeline=build-42`); repeatable.
    #[arg(long = "push-label", value_parser = parse_label)]
    pub(crate) push_label: Vec<(String, String)>,
    #[command(flatten)]
    pub(crate) image: ImageArgs,
    #[command(flatten)]
    pub(crate) verdict: VerdictArgs,
}

/// `KEY=VALUE`.
fn parse_label(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("label '{s}' is not KEY=VALUE")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ScanFormat {
    Table,
    Json,
    Sarif,
    Csv,
    CyclonedxJson,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FailOn {
    Warn,
    Fail,
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SeverityArg {
    Unknown,
    Low,
    Medium,
    High,
    Critical,
}

impl SeverityArg {
    pub(crate) fn severity(self) -> portcullis_core::Severity {
        use portcullis_core::Severity;
        match self {
            SeverityArg::Unknown => Severity::Unknown,
            SeverityArg::Low => Severity::Low,
            SeverityArg::Medium => Severity::Medium,
            SeverityArg::High => Severity::High,
            SeverityArg::Critical => Severity::Critical,
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct SbomArgs {
    /// Image: HOST/REPO[:TAG|@DIGEST], oci:DIR[:TAG], docker-archive:FILE, dir:PATH, sbom:FILE.
    pub(crate) target: String,
    /// Output format.
    #[arg(long, short = 'f', env = "PORTCULLIS_SBOM_FORMAT", value_enum, default_value_t = SbomFormat::CyclonedxJson)]
    pub(crate) format: SbomFormat,
    /// Write the SBOM here (atomically) instead of stdout.
    #[arg(long, short = 'o')]
    pub(crate) output: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) image: ImageArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SbomFormat {
    CyclonedxJson,
    SpdxJson,
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct DbArgs {
    #[command(subcommand)]
    pub(crate) command: DbCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum DbCommand {
    /// Import advisory sources (directories, files or zips; format detected) into the database.
    Import {
        /// Database file (created when absent).
        #[arg(long, env = "PORTCULLIS_DB")]
        db: Option<PathBuf>,
        /// Force a source format: osv, debian-tracker, alpine-secdb, npm-wg, nvd.
        #[arg(long)]
        format: Option<String>,
        /// Sources.
        #[arg(required = true)]
        sources: Vec<PathBuf>,
    },
    /// Download the configured sources and rebuild the database atomically.
    Update {
        /// Database file.
        #[arg(long, env = "PORTCULLIS_DB")]
        db: Option<PathBuf>,
        /// Source list (YAML); defaults to the public upstreams.
        #[arg(long, env = "PORTCULLIS_DB_CONFIG")]
        config: Option<PathBuf>,
        /// Mirror base URL replacing every upstream's scheme and host (air-gapped sites).
        #[arg(long, env = "PORTCULLIS_DB_MIRROR")]
        mirror: Option<String>,
    },
    /// Schema version, sources with record counts and times, build time.
    Status {
        /// Database file.
        #[arg(long, env = "PORTCULLIS_DB")]
        db: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address of the HTTPS admission endpoint.
    #[arg(
        long = "webhook-listen",
        env = "PORTCULLIS_WEBHOOK_LISTEN",
        default_value = "127.0.0.1:8443"
    )]
    pub(crate) webhook_listen: String,
    /// Where the assurance API listens (HTTPS with the webhook's certificate; routes under
    /// `/api/v1`, tokens from `portcullis token create`), or `off`. Needs a result store.
    #[arg(
        long = "api-listen",
        env = "PORTCULLIS_API_LISTEN",
        default_value = "127.0.0.1:9443"
    )]
    pub(crate) api_listen: String,
    /// Serving certificate (PEM); reloaded when the file changes.
    #[arg(long = "tls-cert", env = "PORTCULLIS_TLS_CERT", requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// Serving key (PEM); reloaded when the file changes.
    #[arg(long = "tls-key", env = "PORTCULLIS_TLS_KEY", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
    /// CA certificates (PEM) of the clients the webhook accepts: a client (the API server)
    /// must present a certificate one of them signed, with the clientAuth usage. The API
    /// listener does not ask for one.
    #[arg(long = "tls-client-ca", env = "PORTCULLIS_TLS_CLIENT_CA")]
    pub(crate) tls_client_ca: Option<PathBuf>,
    /// Directory of ContainerAdmissionPolicy YAML files (outside a cluster); re-read on change.
    #[arg(long, env = "PORTCULLIS_POLICIES")]
    pub(crate) policies: Option<PathBuf>,
    /// Vulnerability database file.
    #[arg(long, env = "PORTCULLIS_DB")]
    pub(crate) db: Option<PathBuf>,
    /// This cluster's name in the runtime inventory (with --watch-cluster).
    #[arg(
        long = "cluster-name",
        env = "PORTCULLIS_CLUSTER_NAME",
        default_value = "default"
    )]
    pub(crate) cluster_name: String,
    /// Result store: `sqlite:PATH` (default: the cache directory's results.db), or
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE`, which replicas share; `none` disables it.
    #[arg(long, env = "PORTCULLIS_STORE")]
    pub(crate) store: Option<String>,
    /// `enforce` rejects; `audit` allows and records what enforce would have rejected.
    #[arg(long, env = "PORTCULLIS_MODE", value_enum, default_value_t = ModeArg::Enforce)]
    pub(crate) mode: ModeArg,
    /// Re-evaluate objects that have a controller owner (off: a new CVE never stalls a running rollout).
    #[arg(long = "evaluate-owned", env = "PORTCULLIS_EVALUATE_OWNED")]
    pub(crate) evaluate_owned: bool,
    /// The API server's webhook timeout, in seconds.
    #[arg(
        long = "webhook-timeout",
        env = "PORTCULLIS_WEBHOOK_TIMEOUT",
        default_value_t = 10.0
    )]
    pub(crate) webhook_timeout: f64,
    /// Time allowed for an inline scan, in seconds (default 2/3 of the webhook timeout).
    #[arg(long = "scan-budget", env = "PORTCULLIS_SCAN_BUDGET")]
    pub(crate) scan_budget: Option<f64>,
    /// What to answer when the inline scan does not finish within the budget.
    #[arg(long = "on-scan-timeout", env = "PORTCULLIS_ON_SCAN_TIMEOUT", value_enum, default_value_t = OnFailure::Reject)]
    pub(crate) on_scan_timeout: OnFailure,
    /// What to answer when the scan fails.
    #[arg(long = "on-scan-error", env = "PORTCULLIS_ON_SCAN_ERROR", value_enum, default_value_t = OnFailure::Reject)]
    pub(crate) on_scan_error: OnFailure,
    /// Keep the vulnerability DB current from the sources in this file (the format `db update
    /// --config` reads) instead of the public upstreams: updated before serving when the DB is
    /// missing, then every `--db-update-interval`; after each change every held result is
    /// matched again.
    #[arg(long = "db-config", env = "PORTCULLIS_DB_CONFIG")]
    pub(crate) db_config: Option<PathBuf>,
    /// Keep the vulnerability DB current from this mirror of the default sources (as `db
    /// update --mirror`); with `--db-config`, replaces the host of its URLs.
    #[arg(long = "db-mirror", env = "PORTCULLIS_DB_MIRROR")]
    pub(crate) db_mirror: Option<String>,
    /// How often to update the DB (`3s`, `10m`, `6h`, `1d`), at start too: from `--db-config`,
    /// `--db-mirror`, or else the public upstreams; `off` never updates (the DB at `--db` is
    /// kept as it is, e.g. when another process replaces it).
    #[arg(
        long = "db-update-interval",
        env = "PORTCULLIS_DB_UPDATE_INTERVAL",
        default_value = "6h",
        value_parser = parse_duration_or_off
    )]
    pub(crate) db_update_interval: Duration,
    /// How often every stored and held result is evaluated again under the DB in force (`3s`,
    /// `10m`, `24h`; `off` never): a DB file replaced by another process is picked up, and a
    /// changed status is recorded.
    #[arg(
        long = "rescan-interval",
        env = "PORTCULLIS_RESCAN_INTERVAL",
        default_value = "24h",
        value_parser = parse_duration_or_off
    )]
    pub(crate) rescan_interval: Duration,
    /// How often the alert rules (`POST /api/v1/alert-rules`) are evaluated, or `off`.
    #[arg(
        long = "alert-interval",
        env = "PORTCULLIS_ALERT_INTERVAL",
        default_value = "1m",
        value_parser = parse_duration_or_off
    )]
    pub(crate) alert_interval: Duration,
    /// A rule and group that fired is delivered again only after this long.
    #[arg(
        long = "alert-cooldown",
        env = "PORTCULLIS_ALERT_COOLDOWN",
        default_value = "1h",
        value_parser = parse_duration
    )]
    pub(crate) alert_cooldown: Duration,
    /// Deliver fired alerts to this webhook (JSON; signed when `--alert-webhook-secret-file`).
    #[arg(long = "alert-webhook", env = "PORTCULLIS_ALERT_WEBHOOK")]
    pub(crate) alert_webhook: Option<String>,
    /// A file holding the webhook's HMAC-SHA256 signing secret.
    #[arg(
        long = "alert-webhook-secret-file",
        env = "PORTCULLIS_ALERT_WEBHOOK_SECRET_FILE"
    )]
    pub(crate) alert_webhook_secret_file: Option<PathBuf>,
    /// Deliver fired alerts to this Slack-compatible incoming webhook.
    #[arg(
        long = "alert-slack",
        env = "PORTCULLIS_ALERT_SLACK",
        hide_env_values = true
    )]
    pub(crate) alert_slack: Option<String>,
    /// What to answer while the policies fail to load and no earlier set is in force (a file
    /// or ContainerAdmissionPolicy the loader refuses at start): `reject` denies every
    /// evaluated workload; `allow` lets the policies that loaded decide. Either way /readyz
    /// is unready until all load; a failure at run time keeps the last good set instead.
    #[arg(long = "on-policy-error", env = "PORTCULLIS_ON_POLICY_ERROR", value_enum, default_value_t = OnFailure::Reject)]
    pub(crate) on_policy_error: OnFailure,
    /// Threads serving connections, each with one event loop (0: one per usable CPU, which
    /// follows the container's CPU limit).
    #[arg(
        long = "connection-threads",
        env = "PORTCULLIS_CONNECTION_THREADS",
        default_value_t = 0,
        value_parser = clap::value_parser!(u16).range(0..=1024)
    )]
    pub(crate) connection_threads: u16,
    /// The webhook's own namespace (always exempt).
    #[arg(long, env = "PORTCULLIS_NAMESPACE")]
    pub(crate) namespace: Option<String>,
    /// Read policies, exceptions, namespace labels and pull secrets from the Kubernetes API
    /// (watches; KUBECONFIG or the in-cluster service account) and record Events on rejections.
    #[arg(
        long = "watch-cluster",
        env = "PORTCULLIS_WATCH_CLUSTER",
        conflicts_with = "policies"
    )]
    pub(crate) watch_cluster: bool,
    #[command(flatten)]
    pub(crate) image: ImageArgs,
    #[command(flatten)]
    pub(crate) verdict: VerdictArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ModeArg {
    Enforce,
    Audit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OnFailure {
    Reject,
    Allow,
}

#[derive(Debug, Args)]
pub(crate) struct PolicyArgs {
    #[command(subcommand)]
    pub(crate) command: PolicyCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// Decide an AdmissionReview or a manifest offline and print the AdmissionReview response.
    Test {
        /// Directory of ContainerAdmissionPolicy YAML files.
        #[arg(long, env = "PORTCULLIS_POLICIES")]
        policies: PathBuf,
        /// An AdmissionReview (or a bare AdmissionRequest) JSON file.
        #[arg(
            long,
            conflicts_with = "manifest",
            required_unless_present = "manifest"
        )]
        review: Option<PathBuf>,
        /// A Kubernetes manifest (YAML or JSON; several documents allowed).
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// Scan reports (JSON, one report or an array) to decide from, instead of scanning.
        #[arg(long, conflicts_with = "db")]
        results: Option<PathBuf>,
        /// Vulnerability database: images are scanned to decide.
        #[arg(long, env = "PORTCULLIS_DB")]
        db: Option<PathBuf>,
        /// Namespace labels as k=v (repeatable) for namespaceSelector.
        #[arg(long = "namespace-label", value_delimiter = ',')]
        namespace_labels: Vec<String>,
        /// Decide as at this time (RFC 3339): scan-age rules measure from it.
        #[arg(long)]
        now: Option<String>,
        /// What an image that could not be scanned gets, as `serve --on-scan-error`.
        #[arg(long = "on-scan-error", value_enum, default_value_t = OnFailure::Reject)]
        on_scan_error: OnFailure,
        /// What an image whose scan timed out gets, as `serve --on-scan-timeout`.
        #[arg(long = "on-scan-timeout", value_enum, default_value_t = OnFailure::Reject)]
        on_scan_timeout: OnFailure,
        #[command(flatten)]
        image: Box<ImageArgs>,
        #[command(flatten)]
        verdict: Box<VerdictArgs>,
    },
    /// Print the CustomResourceDefinitions as YAML.
    Crd,
}

#[derive(Debug, Args)]
pub(crate) struct VersionArgs {
    #[command(subcommand)]
    pub(crate) command: VersionCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum VersionCommand {
    /// Read lines `A B` on stdin; print `<`, `=`, `>` or `invalid: REASON` for each.
    Compare {
        /// debian, alpine, rpm, pypi, npm, semver, maven, go, cargo, rubygems, nuget, packagist (OSV names too).
        ecosystem: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct CertsArgs {
    /// Service name.
    #[arg(long, default_value = "portcullis")]
    pub(crate) service: String,
    /// Namespace of the Service.
    #[arg(long, default_value = "portcullis")]
    pub(crate) namespace: String,
    /// Output directory (ca.crt, tls.crt, tls.key).
    #[arg(long)]
    pub(crate) out: PathBuf,
}

/// [`parse_duration`], or `off` (zero: never).
pub(crate) fn parse_duration_or_off(s: &str) -> Result<Duration, String> {
    if s.trim() == "off" {
        return Ok(Duration::ZERO);
    }
    parse_duration(s).map_err(|e| format!("{e} (or off)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_is_a_duration_too() {
        assert_eq!(parse_duration_or_off("off"), Ok(Duration::ZERO));
        assert_eq!(parse_duration_or_off("2s"), Ok(Duration::from_secs(2)));
        assert!(parse_duration_or_off("0s").unwrap_err().contains("or off"));
    }
}
