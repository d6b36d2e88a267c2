//! The seams of the result store: what the scanner, the webhook and the coming service keep, as
//! traits over the core types. Backends (SQLite in `portcullis-scanner`; PostgreSQL next)
//! implement them; nothing of a backend's own types crosses them.
//!
//! Writes come in two phases where volume matters: a report is encoded on any thread
//! ([`ReportStore::encode_report`]) and many are written in one transaction
//! ([`ReportStore::put_encoded_reports`]), because for a rematch of every stored image the
//! commit, not the insert, is what costs, and encoding spreads over the CPUs.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{Digest, Inventory, ScanReport, Status, Thresholds};

/// A store could not do what was asked. `location` names the store (its file, or its database
/// without credentials), `what` what failed when it is more than the store itself.
#[derive(Debug, thiserror::Error)]
#[error("result store {location}{}", what.as_deref().map(|w| format!(": {w}")).unwrap_or_default())]
pub struct StoreError {
    /// The store.
    pub location: String,
    /// What failed, e.g. `stored report for sha256:... could not be (de)compressed`.
    pub what: Option<String>,
    /// Why.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// What the last rematch of the stored lists matched under, and a counter of rematches: one
/// number to read tells a replica that another rematched, and the version whether its own DB
/// is as new.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RematchMark {
    /// 0 before any rematch, then one more per [`ReportStore::mark_rematch`].
    pub generation: u64,
    /// The DB version of the last rematch.
    pub db_version: Option<String>,
}

/// An inventory as stored, not yet decoded: decoding is left to the caller's threads.
#[derive(Clone, Debug)]
pub struct StoredInventory {
    /// The image digest.
    pub digest: Digest,
    /// The stored form, as the backend wrote it.
    pub data: Vec<u8>,
}

/// A report encoded for [`ReportStore::put_encoded_reports`].
#[derive(Clone, Debug)]
pub struct EncodedReport {
    /// The image digest.
    pub digest: Digest,
    /// The stored form, as the backend writes it.
    pub data: Vec<u8>,
}

/// Package lists by image digest. An inventory depends on the image and on the extractors
/// that made it; a store only hands out those the running extractors made.
pub trait InventoryStore: Send + Sync {
    /// The inventory of an image digest.
    fn inventory(&self, digest: &Digest) -> Result<Option<Inventory>, StoreError>;

    /// Stores an inventory, replacing any earlier one of the digest.
    fn put_inventory(&self, digest: &Digest, inventory: &Inventory) -> Result<(), StoreError>;

    /// A page of the stored inventories (of the running extractors), still encoded: in digest
    /// order after `after`, at most `limit`; with `without_report`, only those that have no
    /// report under that DB version by the running matchers yet (what a rematch after a DB
    /// update still has to do, so a replica that comes second finds the work done). A rematch
    /// reads page by page, so a cluster's lists are never all in memory at once.
    fn inventories_page(
        &self,
        without_report: Option<&str>,
        after: Option<&Digest>,
        limit: usize,
    ) -> Result<Vec<StoredInventory>, StoreError>;

    /// Every stored inventory, in digest order, still encoded.
    fn stored_inventories(&self) -> Result<Vec<StoredInventory>, StoreError> {
        self.inventories_page(None, None, usize::MAX)
    }

    /// Decodes what [`InventoryStore::stored_inventories`] returned.
    fn decode_inventory(&self, stored: &StoredInventory) -> Result<Inventory, StoreError>;
}

/// Reports by image digest and vulnerability-DB version. A report depends on the image, the
/// database, and the extractors and matchers that made it.
pub trait ReportStore: Send + Sync {
    /// The report of a digest under a DB version.
    fn report(&self, digest: &Digest, db_version: &str) -> Result<Option<ScanReport>, StoreError>;

    /// [`ReportStore::report`] for a digest whose inventory the caller holds already, so a
    /// backend that stores reports without their packages need not read them again.
    fn report_for(
        &self,
        digest: &Digest,
        db_version: &str,
        inventory: &Inventory,
    ) -> Result<Option<ScanReport>, StoreError> {
        let _ = inventory;
        self.report(digest, db_version)
    }

    /// Encodes a report for [`ReportStore::put_encoded_reports`]; any thread may call it. The
    /// report may be changed while encoding but is as it was when this returns.
    fn encode_report(
        &self,
        digest: &Digest,
        report: &mut ScanReport,
    ) -> Result<EncodedReport, StoreError>;

    /// Runs `work` while no other thread or process sharing this store runs work under `name`
    /// (waiting for it first): the rematch after a DB update runs once for all replicas.
    fn exclusively(&self, name: &str, work: &mut dyn FnMut()) -> Result<(), StoreError>;

    /// Stores reports made under `db_version`, each replacing the reports of its digest made
    /// under other versions, and the status changes they make, in one transaction: all or
    /// none, so a crash never leaves a report without its recorded change or the reverse.
    fn put_encoded_reports(
        &self,
        db_version: &str,
        reports: &[EncodedReport],
        changes: &[StatusChange],
    ) -> Result<(), StoreError>;

    /// The mark the last rematch left (by any process on this store): replicas poll it to
    /// follow a rematch another made.
    fn rematch_mark(&self) -> Result<RematchMark, StoreError>;

    /// Marks that a rematch under `db_version` stored its reports; returns the new mark.
    fn mark_rematch(&self, db_version: &str) -> Result<RematchMark, StoreError>;

    /// Stores one report (see [`ReportStore::put_encoded_reports`]).
    fn put_report(
        &self,
        digest: &Digest,
        db_version: &str,
        report: &ScanReport,
    ) -> Result<(), StoreError> {
        let encoded = self.encode_report(digest, &mut report.clone())?;
        self.put_encoded_reports(db_version, std::slice::from_ref(&encoded), &[])
    }
}

/// One admission decision, for an audit trail (not sent for dry runs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecisionEvent {
    /// When it was decided.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// The request uid.
    pub uid: String,
    /// Kind of the object.
    pub kind: String,
    /// Namespace (empty for cluster-scoped objects).
    pub namespace: String,
    /// Object name (empty when generated by the server).
    pub name: String,
    /// `CREATE` or `UPDATE`.
    pub operation: String,
    /// Who asked.
    pub user: String,
    /// The images evaluated.
    pub images: Vec<String>,
    /// The answer.
    pub allowed: bool,
    /// The denial message, if denied.
    pub message: Option<String>,
    /// Warnings returned with the answer.
    pub warnings: Vec<String>,
    /// What policies would have rejected, had they been enforced (audit mode).
    pub audit_rejections: Vec<String>,
    /// The deciding policy and rule, empty when none decided.
    pub policy: String,
    /// The deciding rule.
    pub rule: String,
}

/// Admission decisions, newest last.
pub trait DecisionStore: Send + Sync {
    /// Records a decision.
    fn record_decision(&self, decision: &DecisionEvent) -> Result<(), StoreError> {
        self.record_decisions(std::slice::from_ref(decision))
    }

    /// Records decisions, all or none (a batch from the webhook's queue).
    fn record_decisions(&self, decisions: &[DecisionEvent]) -> Result<(), StoreError>;

    /// The latest `limit` decisions, newest first.
    fn recent_decisions(&self, limit: usize) -> Result<Vec<DecisionEvent>, StoreError>;
}

/// Settings changed at run time (`portcullis settings set`), shared by every process on the
/// store. Each change bumps a generation, so a process sees that something changed by reading
/// one number.
pub trait SettingsStore: Send + Sync {
    /// The stored thresholds, if any were set.
    fn thresholds(&self) -> Result<Option<Thresholds>, StoreError>;

    /// Stores the thresholds and bumps the generation; returns the new generation.
    fn put_thresholds(&self, thresholds: &Thresholds) -> Result<u64, StoreError>;

    /// The settings generation: 0 before any change, then one more per change.
    fn settings_generation(&self) -> Result<u64, StoreError>;

    /// The exceptions in force when last stored (from files and the cluster together).
    fn exceptions(&self) -> Result<Vec<crate::Exception>, StoreError>;

    /// Stores the exceptions in force, replacing the earlier set; returns whether they changed
    /// (replicas that watch the same sources write the same set, and only the first counts).
    fn put_exceptions(&self, exceptions: &[crate::Exception]) -> Result<bool, StoreError>;

    /// The exceptions made through the API (one part of those in force, beside the files' and
    /// the cluster's).
    fn api_exceptions(&self) -> Result<Vec<crate::Exception>, StoreError>;

    /// Replaces the exceptions made through the API; true when they changed.
    fn put_api_exceptions(&self, exceptions: &[crate::Exception]) -> Result<bool, StoreError>;

    /// A list the API keeps (alert rules, VEX documents): the JSON array the API wrote (it
    /// checks the contents; the store keeps the document), `None` before any.
    fn documents(&self, which: Documents) -> Result<Option<String>, StoreError>;

    /// Replaces list `which` with `json` (a JSON array); true when it changed.
    fn put_documents(&self, which: Documents, json: &str) -> Result<bool, StoreError>;

    /// Records a change of the settings (the audit trail: who changed what, when).
    fn record_setting_change(&self, change: &SettingChange) -> Result<(), StoreError>;

    /// The latest `limit` setting changes, newest first.
    fn setting_changes(&self, limit: usize) -> Result<Vec<SettingChange>, StoreError>;
}

/// The lists of documents the API keeps in the store, each a JSON array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Documents {
    /// Alert rules.
    AlertRules,
    /// OpenVEX documents.
    Vex,
}

impl Documents {
    /// The settings row it is kept in.
    pub fn key(self) -> &'static str {
        match self {
            Documents::AlertRules => "alert_rules",
            Documents::Vex => "vex_documents",
        }
    }
}

/// One change of the service's settings (thresholds, exceptions, alert rules) as recorded:
/// users of an assurance service are asked who loosened a gate, and when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SettingChange {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// Who: the API token's name (`token:<name>`), or the command that made it.
    pub actor: String,
    /// Which setting (`thresholds`, `exceptions`, `alert-rules`).
    pub setting: String,
    /// What was done (`set`, `create`, `update`, `delete`, `import`).
    pub action: String,
    /// The value before, as JSON (`None` when there was none).
    pub before: Option<String>,
    /// The value after, as JSON (`None` when removed).
    pub after: Option<String>,
}

/// Why an image's status changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChangeCause {
    /// The image was scanned for the first time.
    FirstScan,
    /// The vulnerability database changed and the image's list was matched again.
    DbUpdate,
    /// The exceptions in force changed.
    Exceptions,
    /// The warn/fail thresholds changed.
    Thresholds,
    /// The image was scanned again (new extractors, or a scheduled rescan).
    Rescan,
}

impl ChangeCause {
    /// The name on the wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeCause::FirstScan => "first-scan",
            ChangeCause::DbUpdate => "db-update",
            ChangeCause::Exceptions => "exceptions",
            ChangeCause::Thresholds => "thresholds",
            ChangeCause::Rescan => "rescan",
        }
    }
}

/// A name that is no [`ChangeCause`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown change cause `{0}`")]
pub struct UnknownCause(pub String);

impl std::str::FromStr for ChangeCause {
    type Err = UnknownCause;

    fn from_str(s: &str) -> Result<Self, UnknownCause> {
        [
            ChangeCause::FirstScan,
            ChangeCause::DbUpdate,
            ChangeCause::Exceptions,
            ChangeCause::Thresholds,
            ChangeCause::Rescan,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
        .ok_or_else(|| UnknownCause(s.to_string()))
    }
}

crate::named_by_str!(ChangeCause);

/// One change of an image's status, with its cause: the history that explains why an image that
/// passed yesterday fails today.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusChange {
    /// The image.
    pub digest: Digest,
    /// When it changed.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// The status before (`None` for a first scan).
    pub from: Option<Status>,
    /// The status after.
    pub to: Status,
    /// Why.
    pub cause: ChangeCause,
    /// The vulnerability DB version the new status was made under.
    pub db_version: String,
}

/// The status history of every image.
pub trait HistoryStore: Send + Sync {
    /// Records changes, all or none.
    fn record_status_changes(&self, changes: &[StatusChange]) -> Result<(), StoreError>;

    /// The latest recorded status of every image that has one (what the next change is
    /// measured against).
    fn latest_statuses(&self) -> Result<Vec<(Digest, Status)>, StoreError>;

    /// An image's changes, oldest first.
    fn status_history(&self, digest: &Digest) -> Result<Vec<StatusChange>, StoreError>;

    /// Every image's changes recorded after the change numbered `after` (0: from the first),
    /// oldest first, at most `limit`, each with its number: how a follower (the alerts) reads
    /// what any replica recorded, once.
    fn status_changes_after(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, StatusChange)>, StoreError>;

    /// The number of the latest change recorded (0 before any).
    fn last_status_change(&self) -> Result<i64, StoreError>;
}

/// An image running in a cluster, grouped as people ask about it: which image (as written in the
/// pod spec, and the digest the kubelet reports it ran), in which workload of which namespace,
/// on how many containers and nodes, since when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuntimeImage {
    /// The cluster (`serve --cluster-name`).
    pub cluster: String,
    /// Namespace.
    pub namespace: String,
    /// The owning workload's kind (`Deployment`, `StatefulSet`, `DaemonSet`, `CronJob`, `Job`,
    /// `ReplicaSet`), or `Pod` for a bare pod.
    pub workload_kind: String,
    /// The owning workload's name.
    pub workload_name: String,
    /// The image as written in the pod spec.
    pub image: String,
    /// The digest the kubelet reports (`status.containerStatuses[].imageID`), once known.
    pub digest: Option<Digest>,
    /// Containers running it now (0 once it stopped).
    pub instances: u32,
    /// Nodes it runs on, sorted.
    pub nodes: Vec<String>,
    /// When first seen.
    #[serde(with = "time::serde::rfc3339")]
    pub first_seen: OffsetDateTime,
    /// When last seen running.
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen: OffsetDateTime,
    /// Whether it runs now.
    pub running: bool,
}

/// What runs in the clusters: kept by the Pod watch, read by rescans and the API.
pub trait RuntimeStore: Send + Sync {
    /// Replaces what runs in `cluster` with `running` (as of `now`): groups seen again keep
    /// their first sighting; groups no longer seen are kept, marked not running.
    fn put_running(
        &self,
        cluster: &str,
        running: &[RuntimeImage],
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Every image ever seen running, running or not, ordered by cluster, namespace, workload
    /// and image.
    fn runtime_images(&self) -> Result<Vec<RuntimeImage>, StoreError>;
}

/// One sighting of an image: where it was seen (`admission`, `scan`, `cluster:NAME`), under
/// which tag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSighting {
    /// Registry host, `docker.io` for Docker Hub.
    pub registry: String,
    /// Repository path.
    pub repository: String,
    /// The tag it was named by, if any.
    pub tag: Option<String>,
    /// The manifest digest.
    pub digest: Digest,
    /// Where it was seen.
    pub source: String,
}

/// An image as the store knows it: every tag and place it was seen under, since when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeenImage {
    /// Registry host.
    pub registry: String,
    /// Repository path.
    pub repository: String,
    /// The manifest digest.
    pub digest: Digest,
    /// Tags seen pointing at it, sorted.
    pub tags: Vec<String>,
    /// Where it was seen, sorted.
    pub sources: Vec<String>,
    /// First sighting.
    #[serde(with = "time::serde::rfc3339")]
    pub first_seen: OffsetDateTime,
    /// Last sighting.
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen: OffsetDateTime,
}

/// The images seen, by digest: what was admitted, scanned or found running, under which tags.
pub trait ImageStore: Send + Sync {
    /// Records sightings at `now`.
    fn record_sightings(
        &self,
        sightings: &[ImageSighting],
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Every image seen, by registry, repository and digest.
    fn seen_images(&self) -> Result<Vec<SeenImage>, StoreError>;
}

/// Who scans what, among replicas sharing a store: a lease per image digest, so each digest is
/// pulled and walked once, and a replica that dies mid-scan has its job taken over once the
/// lease expires.
pub trait LeaseStore: Send + Sync {
    /// Takes (or renews) the lease on scanning `digest` for `holder` for `ttl`, unless another
    /// holder has one that has not expired. True when `holder` now holds it.
    fn try_lease(
        &self,
        digest: &Digest,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError>;

    /// Gives the lease back (nothing happens when another holds it now).
    fn release_lease(&self, digest: &Digest, holder: &str) -> Result<(), StoreError>;
}

/// What an API token lets its holder do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenScope {
    /// Read everything the API shows.
    Read,
    /// Read, and change exceptions and settings.
    Write,
    /// Push CI scan results and nothing else: what a pipeline holds, so a leaked CI secret
    /// reads nothing.
    Push,
}

impl TokenScope {
    /// The scope's name, as on the command line and in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::Write => "write",
            TokenScope::Push => "push",
        }
    }

    /// Whether a token of this scope may do what needs `needed`: `write` includes `read`;
    /// `push` is only `push`.
    pub fn grants(self, needed: TokenScope) -> bool {
        self == needed || (self == TokenScope::Write && needed == TokenScope::Read)
    }
}

/// A token scope that does not exist.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown token scope '{0}' (known: read, write, push)")]
pub struct UnknownScope(pub String);

impl std::str::FromStr for TokenScope {
    type Err = UnknownScope;

    fn from_str(s: &str) -> Result<Self, UnknownScope> {
        match s {
            "read" => Ok(TokenScope::Read),
            "write" => Ok(TokenScope::Write),
            "push" => Ok(TokenScope::Push),
            other => Err(UnknownScope(other.to_string())),
        }
    }
}

/// An API token as the store keeps it: its public id and what it may do. The secret is never
/// stored, only its SHA-256 beside it ([`TokenStore::put_token`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    /// The public part of the token (`pcl_<id>_<secret>`), naming it in lists and logs.
    pub id: String,
    /// A label given at creation (`--name`), empty when none was.
    pub name: String,
    /// What it may do.
    pub scope: TokenScope,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// When it stops working, if ever.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires: Option<OffsetDateTime>,
    /// Revoked tokens are kept (so lists show them) and refused.
    pub revoked: bool,
}

/// API tokens: kept by id with the SHA-256 of their secret, so a copy of the store holds no
/// usable token.
pub trait TokenStore: Send + Sync {
    /// Stores a new token; its id must be new.
    fn put_token(&self, token: &ApiToken, secret_sha256: &[u8; 32]) -> Result<(), StoreError>;

    /// The token `id` and the SHA-256 of its secret, revoked or not (the caller refuses and
    /// says why).
    fn token(&self, id: &str) -> Result<Option<(ApiToken, [u8; 32])>, StoreError>;

    /// Every token, newest first.
    fn tokens(&self) -> Result<Vec<ApiToken>, StoreError>;

    /// Revokes `id`; false when there is no such token.
    fn revoke_token(&self, id: &str) -> Result<bool, StoreError>;
}

/// Everything a result store keeps.
pub trait ResultStore:
    InventoryStore
    + ReportStore
    + DecisionStore
    + SettingsStore
    + HistoryStore
    + RuntimeStore
    + LeaseStore
    + ImageStore
    + TokenStore
{
}

impl<T> ResultStore for T where
    T: InventoryStore
        + ReportStore
        + DecisionStore
        + SettingsStore
        + HistoryStore
        + RuntimeStore
        + LeaseStore
        + ImageStore
        + TokenStore
{
}
