//! The routes under `/api/v1`, apart from how they are served ([`crate::serve`]).
//!
//! Every route but none needs a token: each group of routes is wrapped by the check of the
//! scope it needs ([`crate::auth`]). Handlers reach the store in `spawn_blocking` (both store
//! backends block), and the service itself (matching a pushed inventory with the DB in force)
//! through the [`Assurance`] seam, which `serve` implements with its scanner.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use portcullis_core::{Digest, Inventory, ResultStore, ScanReport, Status, StoreError, TokenScope};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::auth::{self, Failures};
use crate::snapshot::{Snapshot, VulnIndex};
use crate::{csv, settings, views};

/// Largest request body: a pushed inventory of a big image is a few MB.
pub const MAX_BODY: usize = 32 << 20;

/// What the API needs of the service beyond the store. Blocking methods are called from
/// `spawn_blocking`.
pub trait Assurance: Send + Sync + 'static {
    /// Matches a pushed inventory of `target` with the DB in force, keeps it (inventory,
    /// report, status history) as seen at `source`, and returns the report.
    fn accept_push(
        &self,
        target: &str,
        inventory: Inventory,
        source: &str,
    ) -> Result<ScanReport, String>;

    /// The whole report of `digest` under the DB in force (packages and every match's
    /// evidence), as the store keeps it; `None` when there is none.
    fn report(&self, digest: &Digest) -> Result<Option<ScanReport>, String>;

    /// The thresholds in force (stored ones, else the service's own).
    fn thresholds(&self) -> portcullis_core::Thresholds;

    /// The reports the service holds in memory (every image it decides on): searched by
    /// vulnerability without reading the store. Matches keep ids, aliases, package, fixes,
    /// severity and where the package was found.
    fn held(&self) -> Vec<Arc<ScanReport>>;

    /// How the service is: what `/readyz` says, and the DB in force.
    fn status(&self) -> ServiceStatus;
}

/// How the service is (the dashboard's header).
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct ServiceStatus {
    /// Whether decisions are made as configured.
    pub ready: bool,
    /// Everything degraded (the `/readyz` facts).
    pub degraded: Vec<String>,
    /// Policies in use.
    pub policies: usize,
    /// The vulnerability DB's version, when there is one.
    pub db_version: Option<String>,
    /// Its age in seconds.
    pub db_age_seconds: Option<u64>,
    /// The sources it was built from.
    pub sources: Vec<DbSource>,
}

/// One source of the vulnerability DB in force.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DbSource {
    /// Its name (`osv-pypi`, `debian-dsa`, `nvd-2024`, ...).
    pub name: String,
    /// The formats found in it.
    pub kind: String,
    /// Records it gave.
    pub records: usize,
    /// When it was imported (RFC 3339).
    pub imported_at: String,
}

/// Shared by every handler.
pub struct ApiState {
    /// The result store (tokens, images, results, exceptions).
    pub store: Arc<dyn ResultStore>,
    /// The service, for pushes.
    pub assurance: Arc<dyn Assurance>,
    /// Failed authentications per source address.
    pub(crate) failures: Failures,
    /// Every image seen, with its latest status, in list order.
    pub(crate) images: Arc<Snapshot<Vec<ImageRow>>>,
    /// The held reports by vulnerability.
    pub(crate) vulns: Arc<Snapshot<VulnIndex>>,
    /// The runtime inventory.
    pub(crate) running: Arc<Snapshot<Vec<portcullis_core::RuntimeImage>>>,
    /// The alerts delivered.
    pub(crate) fired: crate::notify::Fired,
    /// The alert rules of the cluster's `ImageAssuranceAlert` resources.
    cluster_rules: parking_lot::RwLock<Vec<crate::alerts::Rule>>,
    /// The latest status change the images snapshot was checked against.
    status_mark: std::sync::atomic::AtomicI64,
}

impl ApiState {
    /// State over `store` and `assurance`.
    pub fn new(store: Arc<dyn ResultStore>, assurance: Arc<dyn Assurance>) -> Arc<ApiState> {
        Arc::new(ApiState {
            store,
            assurance,
            failures: Failures::default(),
            images: Arc::default(),
            vulns: Arc::default(),
            running: Arc::default(),
            fired: crate::notify::Fired::default(),
            cluster_rules: parking_lot::RwLock::default(),
            status_mark: std::sync::atomic::AtomicI64::new(-1),
        })
    }

    /// Puts the cluster's alert rules in force (beside the API's), replacing the earlier set.
    pub fn set_cluster_rules(&self, rules: Vec<crate::alerts::Rule>) {
        *self.cluster_rules.write() = rules;
    }

    /// The cluster's alert rules.
    pub(crate) fn cluster_rules(&self) -> Vec<crate::alerts::Rule> {
        self.cluster_rules.read().clone()
    }

    /// Every image seen, with its latest status: a snapshot at most seconds old, and made anew
    /// whenever a status changed since (a relabel after a change of thresholds or exceptions is
    /// seen on the next request, not seconds later).
    pub(crate) async fn image_rows(&self) -> Result<Arc<Vec<ImageRow>>, ApiError> {
        let store = self.store.clone();
        let mark = blocking(move || store.last_status_change().map_err(ApiError::store)).await?;
        if self
            .status_mark
            .swap(mark, std::sync::atomic::Ordering::AcqRel)
            != mark
        {
            self.images.drop_it();
        }
        let store = self.store.clone();
        self.images.get(move || image_rows(store.as_ref())).await
    }

    /// The held reports by vulnerability (a snapshot at most seconds old).
    pub(crate) async fn vuln_index(&self) -> Result<Arc<VulnIndex>, ApiError> {
        let assurance = self.assurance.clone();
        self.vulns
            .get(move || Ok(VulnIndex::of(assurance.held())))
            .await
    }

    /// The runtime inventory (a snapshot at most seconds old).
    pub(crate) async fn runtime(
        &self,
    ) -> Result<Arc<Vec<portcullis_core::RuntimeImage>>, ApiError> {
        let store = self.store.clone();
        self.running
            .get(move || store.runtime_images().map_err(ApiError::store))
            .await
    }
}

/// An API error: its status, and a JSON body naming what is wrong (and the field, when one is).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiError {
    /// HTTP status.
    #[serde(skip)]
    pub status: StatusCode,
    /// What is wrong.
    pub error: String,
    /// The request field it is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, error: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error: error.into(),
            field: None,
        }
    }

    pub(crate) fn field(status: StatusCode, field: &str, error: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error: error.into(),
            field: Some(field.to_string()),
        }
    }

    pub(crate) fn store(e: StoreError) -> ApiError {
        tracing::warn!(error = %portcullis_core::ErrorChain(&e), "API: store error");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the result store cannot be read",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(&self)).into_response()
    }
}

/// A JSON body; a malformed one is a 400 naming the field serde names.
pub(crate) struct Body<T>(pub(crate) T);

/// Query parameters; unknown or malformed ones are a 400 naming the parameter.
pub(crate) struct Params<T>(pub(crate) T);

impl<S, T> axum::extract::FromRequestParts<S> for Params<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(Params(v)),
            Err(e) => {
                let why = std::error::Error::source(&e).map_or(e.body_text(), |s| s.to_string());
                // serde names the parameter in backquotes: "unknown field `colour`, expected ...".
                let field = why.split('`').nth(1).map(str::to_string);
                Err(ApiError {
                    status: StatusCode::BAD_REQUEST,
                    error: why,
                    field,
                })
            }
        }
    }
}

/// Whether `format` asks for CSV (`json` and `csv` are known).
pub(crate) fn wants_csv(format: Option<&str>) -> Result<bool, ApiError> {
    match format {
        None | Some("json") => Ok(false),
        Some("csv") => Ok(true),
        Some(_) => Err(ApiError::field(
            StatusCode::BAD_REQUEST,
            "format",
            "json or csv",
        )),
    }
}

impl<S, T> axum::extract::FromRequest<S> for Body<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(JsonRejection::JsonDataError(e)) => {
                let why = std::error::Error::source(&e).map_or(e.body_text(), |s| s.to_string());
                let field = why
                    .split_once(':')
                    .map(|(path, _)| path.trim().to_string())
                    .filter(|p| !p.contains(' '));
                Err(ApiError {
                    status: StatusCode::BAD_REQUEST,
                    error: why,
                    field,
                })
            }
            Err(e) => Err(ApiError::new(e.status(), e.body_text())),
        }
    }
}

/// Runs blocking store work off the runtime.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the request failed"))?
}

/// One image in lists: where it was seen, under which tags, and its latest status.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ImageRow {
    /// Registry host.
    pub registry: String,
    /// Repository path.
    pub repository: String,
    /// Manifest digest.
    pub digest: String,
    /// Tags seen pointing at it.
    pub tags: Vec<String>,
    /// Where it was seen (`admission`, `runtime`, `scan`, `ci`, ...).
    pub sources: Vec<String>,
    /// Latest status (Pass, Warn, Fail), when it was scanned.
    pub status: Option<String>,
    /// First sighting (RFC 3339).
    pub first_seen: String,
    /// Last sighting (RFC 3339).
    pub last_seen: String,
    /// Highest CVSS counted, when scanned.
    pub max_cvss: Option<f64>,
    /// Counted vulnerabilities by severity.
    pub counts: BTreeMap<String, usize>,
    /// When its packages were last matched (RFC 3339).
    pub scanned_at: Option<String>,
    /// Whether it runs now.
    pub running: bool,
    /// Containers running it now.
    pub instances: u32,
    /// Clusters running it.
    pub clusters: Vec<String>,
    /// Namespaces running it.
    pub namespaces: Vec<String>,
    /// Workloads running it (`namespace/Kind/name`).
    pub workloads: Vec<String>,
}

/// A page of images.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImagePage {
    /// The images, by registry, repository and digest.
    pub items: Vec<ImageRow>,
    /// Cursor of the next page (`?after=`), when there is one.
    pub next: Option<String>,
    /// Images matching the filters, on every page.
    pub total: usize,
}

/// Filters, order and page of `GET /images`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ImageQuery {
    /// Only images whose latest status is this (Pass, Warn, Fail).
    pub status: Option<String>,
    /// Only this registry host.
    pub registry: Option<String>,
    /// Only repositories containing this text.
    pub repository: Option<String>,
    /// Only images running now (`true`) or not running (`false`).
    pub running: Option<bool>,
    /// Only images running in this namespace.
    pub namespace: Option<String>,
    /// Only images with this vulnerability (id or alias), not silenced by an exception.
    pub cve: Option<String>,
    /// Only images with (`true`) or without (`false`) a vulnerability that has a fix.
    pub fixable: Option<bool>,
    /// Only images with a vulnerable package of this name (any case).
    pub package: Option<String>,
    /// Order: `name` (registry, repository, digest; the default), `status` (Fail first),
    /// `last_seen` (newest first), `max_cvss` (highest first) or `instances` (most first).
    pub sort: Option<String>,
    /// `asc` or `desc`: turns the order's own direction.
    pub order: Option<String>,
    /// Page size (1 to 1000; default 100).
    pub limit: Option<usize>,
    /// Cursor from the previous page's `next`.
    pub after: Option<String>,
    /// `json` (default) or `csv` (every matching image, no paging).
    pub format: Option<String>,
}

const MAX_PAGE: usize = 1000;

/// Every image seen with its latest status, by registry, repository and digest.
fn image_rows(store: &dyn ResultStore) -> Result<Vec<ImageRow>, ApiError> {
    let statuses: HashMap<Digest, Status> = store
        .latest_statuses()
        .map_err(ApiError::store)?
        .into_iter()
        .collect();
    Ok(store
        .seen_images()
        .map_err(ApiError::store)?
        .into_iter()
        .map(|i| ImageRow {
            status: statuses.get(&i.digest).map(|s| s.as_str().to_string()),
            digest: i.digest.to_string(),
            first_seen: portcullis_core::format_time(i.first_seen),
            last_seen: portcullis_core::format_time(i.last_seen),
            registry: i.registry,
            repository: i.repository,
            tags: i.tags,
            sources: i.sources,
            max_cvss: None,
            counts: BTreeMap::new(),
            scanned_at: None,
            running: false,
            instances: 0,
            clusters: Vec::new(),
            namespaces: Vec::new(),
            workloads: Vec::new(),
        })
        .collect())
}

/// The rows `q` selects.
fn select<'a>(rows: &'a [ImageRow], q: &ImageQuery) -> Result<Vec<&'a ImageRow>, ApiError> {
    let wanted = q
        .status
        .as_deref()
        .map(|s| {
            [Status::Pass, Status::Warn, Status::Fail]
                .into_iter()
                .find(|st| st.as_str().eq_ignore_ascii_case(s))
                .map(Status::as_str)
                .ok_or_else(|| {
                    ApiError::field(StatusCode::BAD_REQUEST, "status", "not Pass, Warn or Fail")
                })
        })
        .transpose()?;
    Ok(rows
        .iter()
        .filter(|i| q.registry.as_ref().is_none_or(|r| &i.registry == r))
        .filter(|i| {
            q.repository
                .as_ref()
                .is_none_or(|r| i.repository.contains(r.as_str()))
        })
        .filter(|i| wanted.is_none_or(|w| i.status.as_deref() == Some(w)))
        .collect())
}

/// The cursor of an image row: its place in the list's order.
fn cursor(row: &ImageRow) -> String {
    format!("{}/{}@{}", row.registry, row.repository, row.digest)
}

#[utoipa::path(get, path = "/api/v1/images", params(ImageQuery),
    responses((status = 200, body = ImagePage), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
async fn list_images(
    State(state): State<Arc<ApiState>>,
    Params(q): Params<ImageQuery>,
) -> Result<Response, ApiError> {
    let csv_out = wants_csv(q.format.as_deref())?;
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::field(
            StatusCode::BAD_REQUEST,
            "limit",
            format!("between 1 and {MAX_PAGE}"),
        ));
    }
    let descending = match q.order.as_deref() {
        None => None,
        Some("asc") => Some(false),
        Some("desc") => Some(true),
        Some(_) => {
            return Err(ApiError::field(
                StatusCode::BAD_REQUEST,
                "order",
                "asc or desc",
            ));
        }
    };
    let all = state.image_rows().await?;
    let index = state.vuln_index().await?;
    let runtime = state.runtime().await?;
    let running = views::workloads_by_digest_text(&runtime);
    let mut rows = select(&all, &q)?;
    if q.running.is_some() || q.namespace.is_some() {
        let want = q.running.unwrap_or(true);
        rows.retain(|r| {
            let here = running.get(&r.digest).is_some_and(|ws| {
                q.namespace
                    .as_ref()
                    .is_none_or(|n| ws.iter().any(|w| &w.namespace == n))
            });
            here == want
        });
    }
    if let Some(id) = &q.cve {
        let with: HashSet<String> = index
            .by_id
            .get(&id.trim().to_ascii_uppercase())
            .into_iter()
            .flatten()
            .filter(|(r, idxs)| {
                idxs.iter().any(|i| {
                    r.vulnerabilities
                        .get(*i as usize)
                        .is_some_and(|m| m.ignored.is_none())
                })
            })
            .filter_map(|(r, _)| r.image.digest.as_ref().map(ToString::to_string))
            .collect();
        rows.retain(|r| with.contains(&r.digest));
    }
    if let Some(name) = &q.package {
        let with: HashSet<&String> = index
            .by_package
            .get(&name.trim().to_ascii_lowercase())
            .into_iter()
            .flatten()
            .collect();
        rows.retain(|r| with.contains(&r.digest));
    }
    if let Some(want) = q.fixable {
        rows.retain(|r| index.fixable.contains(&r.digest) == want);
    }
    let cvss = |r: &ImageRow| {
        index
            .by_digest
            .get(&r.digest)
            .and_then(|x| x.summary.max_cvss)
            .unwrap_or(-1.0)
    };
    let instances = |r: &ImageRow| {
        running
            .get(&r.digest)
            .map_or(0, |ws| ws.iter().map(|w| w.pods).sum::<u32>())
    };
    // Each order has its natural direction (worst, newest, most first); `order` turns it.
    let (by_offset, natural_desc) = match q.sort.as_deref() {
        None | Some("name") => (false, false),
        Some("status") => {
            let rank = |r: &ImageRow| match r.status.as_deref() {
                Some("Fail") => 0,
                Some("Warn") => 1,
                Some("Pass") => 2,
                _ => 3,
            };
            rows.sort_by_key(|r| rank(r));
            (true, false)
        }
        Some("last_seen") => {
            rows.sort_by(|a, b| b.last_seen.cmp(&a.last_seen));
            (true, true)
        }
        Some("max_cvss") => {
            rows.sort_by(|a, b| cvss(b).total_cmp(&cvss(a)));
            (true, true)
        }
        Some("instances") => {
            rows.sort_by_key(|r| std::cmp::Reverse(instances(r)));
            (true, true)
        }
        Some(_) => {
            return Err(ApiError::field(
                StatusCode::BAD_REQUEST,
                "sort",
                "name, status, last_seen, max_cvss or instances",
            ));
        }
    };
    let by_offset = by_offset || descending.is_some();
    if descending.is_some_and(|d| d != natural_desc) {
        rows.reverse();
    }
    if csv_out {
        // CSV is every matching image, unpaged.
        let full: Vec<ImageRow> = rows.iter().map(|r| enrich(r, &index, &running)).collect();
        return Ok(csv_response(&csv::images(&full)));
    }
    // In name order a page starts after the last image seen (stable as images come and go);
    // in other orders, at a position (`@N`).
    let start = match q.after {
        None => 0,
        Some(a) if by_offset => a
            .strip_prefix('@')
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| {
                ApiError::field(
                    StatusCode::BAD_REQUEST,
                    "after",
                    "not a cursor of this order",
                )
            })?
            .min(rows.len()),
        Some(a) => rows
            .iter()
            .position(|r| cursor(r) > a)
            .unwrap_or(rows.len()),
    };
    let items: Vec<ImageRow> = rows[start..]
        .iter()
        .take(limit)
        .map(|r| enrich(r, &index, &running))
        .collect();
    let next = (start + items.len() < rows.len())
        .then(|| {
            if by_offset {
                Some(format!("@{}", start + items.len()))
            } else {
                items.last().map(cursor)
            }
        })
        .flatten();
    Ok(Json(ImagePage {
        items,
        next,
        total: rows.len(),
    })
    .into_response())
}

/// `row` with what the held report and the runtime inventory say of it.
fn enrich(
    row: &ImageRow,
    index: &VulnIndex,
    running: &HashMap<String, Vec<views::Workload>>,
) -> ImageRow {
    let mut out = row.clone();
    if let Some(r) = index.by_digest.get(&row.digest) {
        out.max_cvss = r.summary.max_cvss;
        out.counts = r
            .summary
            .counts
            .iter()
            .map(|(s, n)| (s.to_string(), *n))
            .collect();
        out.scanned_at = r.scanned_at.map(portcullis_core::format_time);
    }
    if let Some(ws) = running.get(&row.digest) {
        let distinct = |of: &dyn Fn(&views::Workload) -> String| {
            let mut v: Vec<String> = Vec::new();
            for w in ws {
                let x = of(w);
                if !v.contains(&x) {
                    v.push(x);
                }
            }
            v
        };
        out.running = true;
        out.instances = ws.iter().map(|w| w.pods).sum();
        out.clusters = distinct(&|w| w.cluster.clone());
        out.namespaces = distinct(&|w| w.namespace.clone());
        out.workloads = distinct(&|w| format!("{}/{}/{}", w.namespace, w.kind, w.name));
    }
    out
}

/// A list as JSON, or as CSV ([`csv::records`]) when `as_csv`.
pub(crate) fn list<T: Serialize>(items: &[T], as_csv: bool) -> Response {
    if !as_csv {
        return Json(items).into_response();
    }
    let values: Vec<serde_json::Value> = items
        .iter()
        .filter_map(|i| serde_json::to_value(i).ok())
        .collect();
    csv_response(&csv::records(&values))
}

/// `?format=` of the list routes that take nothing else.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListFormat {
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

pub(crate) fn csv_response(text: &str) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        )],
        text.to_string(),
    )
        .into_response()
}

/// A pushed scan: the image as named in CI and its package list, matched by the service.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Push {
    /// The image as the pipeline named it (`registry/repository:tag`).
    pub target: String,
    /// The inventory `portcullis scan` made (packages with their evidence).
    #[schema(value_type = Object)]
    pub inventory: Inventory,
    /// The pipeline's labels (`--push-label k=v`), kept as the source's qualifier.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// What the service made of a push.
#[derive(Debug, Serialize, ToSchema)]
pub struct PushResult {
    /// The image's digest.
    pub digest: Option<String>,
    /// Its status under the service's DB and thresholds.
    pub status: String,
    /// Highest CVSS counted.
    pub max_cvss: Option<f64>,
    /// Vulnerabilities counted (not ignored).
    pub vulnerabilities: usize,
    /// The service's DB version it was matched with.
    pub db_version: String,
}

#[utoipa::path(post, path = "/api/v1/push", request_body = Push,
    responses((status = 200, body = PushResult), (status = 400, body = ApiError),
        (status = 401, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
async fn push(
    State(state): State<Arc<ApiState>>,
    Body(p): Body<Push>,
) -> Result<Json<PushResult>, ApiError> {
    if p.target.trim().is_empty() {
        return Err(ApiError::field(StatusCode::BAD_REQUEST, "target", "empty"));
    }
    let source = if p.labels.is_empty() {
        "ci".to_string()
    } else {
        let labels: Vec<String> = p.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("ci:{}", labels.join(","))
    };
    let assurance = state.assurance.clone();
    let report = blocking(move || {
        assurance
            .accept_push(&p.target, p.inventory, &source)
            .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e))
    })
    .await?;
    // Listed and searchable from the next request on.
    state.images.drop_it();
    state.vulns.drop_it();
    Ok(Json(PushResult {
        digest: report.image.digest.as_ref().map(ToString::to_string),
        status: report.summary.status.as_str().to_string(),
        max_cvss: report.summary.max_cvss,
        vulnerabilities: report.summary.counts.values().sum(),
        db_version: report.db.version.clone(),
    }))
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Portcullis assurance API", description = "Images, results, exceptions and CI pushes of a Portcullis service. Every route needs a bearer token (`portcullis token create`)."),
    paths(list_images, push, openapi_json, settings::list_exceptions, settings::create_exception,
        settings::import_exceptions, settings::update_exception, settings::delete_exceptions,
        settings::list_vex, settings::import_vex, settings::delete_vex, settings::thresholds,
        settings::put_thresholds, settings::history, settings::list_tokens, settings::create_token,
        settings::revoke_token, settings::preview_thresholds, views::status, crate::dashboard::whoami,
        views::image,
        views::vulnerability, views::top_vulnerabilities, views::running, views::decisions,
        views::export, views::alert_rules, views::create_alert_rule, views::delete_alert_rule, views::alerts,
        views::fired),
    components(schemas(ImageRow, ImagePage, ApiError, Push, PushResult, views::Affected,
        views::AffectedImage, views::Workload, views::TopVulnerability, views::ExportRow,
        settings::ThresholdsChange, settings::ExceptionChange, settings::VexDocument,
        settings::SettingChangeView, settings::TokenView, settings::NewToken, settings::IssuedToken,
        settings::ThresholdsPreview, ServiceStatus, DbSource, crate::dashboard::Session, views::Alert,
        views::ListedRule, crate::notify::Delivery)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI 3.1 document of these routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

#[utoipa::path(get, path = "/api/v1/openapi.json",
    responses((status = 200, description = "This document"), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
async fn openapi_json() -> Response {
    Json(openapi()).into_response()
}

async fn unknown() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such route")
}

/// The API's routes, each group behind the scope it needs. Served by [`crate::serve`].
pub fn router(state: Arc<ApiState>) -> Router {
    let read = Router::new()
        .route("/api/v1/images", get(list_images))
        .route("/api/v1/images/{digest}", get(views::image))
        .route("/api/v1/vulnerabilities", get(views::top_vulnerabilities))
        .route("/api/v1/vulnerabilities/{id}", get(views::vulnerability))
        .route("/api/v1/running", get(views::running))
        .route("/api/v1/decisions", get(views::decisions))
        .route("/api/v1/settings/thresholds", get(settings::thresholds))
        .route(
            "/api/v1/settings/thresholds/preview",
            post(settings::preview_thresholds),
        )
        .route("/api/v1/status", get(views::status))
        .route("/api/v1/whoami", get(crate::dashboard::whoami))
        .route("/api/v1/settings/history", get(settings::history))
        .route("/api/v1/vex", get(settings::list_vex))
        .route("/api/v1/export", get(views::export))
        .route("/api/v1/alert-rules", get(views::alert_rules))
        .route("/api/v1/alerts", get(views::alerts))
        .route("/api/v1/alerts/fired", get(views::fired))
        .route("/api/v1/exceptions", get(settings::list_exceptions))
        .route("/api/v1/openapi.json", get(openapi_json))
        .route_layer(axum::middleware::from_fn_with_state(
            (state.clone(), TokenScope::Read),
            auth::check,
        ));
    let write = Router::new()
        .route(
            "/api/v1/exceptions",
            post(settings::create_exception)
                .patch(settings::update_exception)
                .delete(settings::delete_exceptions),
        )
        .route(
            "/api/v1/exceptions/import",
            post(settings::import_exceptions),
        )
        .route(
            "/api/v1/vex",
            post(settings::import_vex).delete(settings::delete_vex),
        )
        .route(
            "/api/v1/tokens",
            get(settings::list_tokens).post(settings::create_token),
        )
        .route(
            "/api/v1/tokens/{id}",
            axum::routing::delete(settings::revoke_token),
        )
        .route("/api/v1/alert-rules", post(views::create_alert_rule))
        .route(
            "/api/v1/alert-rules/{name}",
            axum::routing::delete(views::delete_alert_rule),
        )
        .route(
            "/api/v1/settings/thresholds",
            axum::routing::put(settings::put_thresholds),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            (state.clone(), TokenScope::Write),
            auth::check,
        ));
    let push_routes = Router::new().route("/api/v1/push", post(push)).route_layer(
        axum::middleware::from_fn_with_state((state.clone(), TokenScope::Push), auth::check),
    );
    Router::new()
        .merge(read)
        .merge(write)
        .merge(push_routes)
        .merge(crate::dashboard::router())
        .fallback(unknown)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}
