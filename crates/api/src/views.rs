//! The read views beyond the images list: one image with its evidence and history, which
//! images and workloads have a vulnerability, the top vulnerabilities by running pods, the
//! running images, the admission decisions, and the Calico-style export of images with their
//! vulnerabilities and the workloads running them.
//!
//! Searches by vulnerability read the reports the service holds in memory
//! ([`crate::Assurance::held`]), never every stored report, so they answer in milliseconds over
//! 10,000 images; the runtime inventory and the sightings come from the store.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_core::{Digest, Documents, Match, ResultStore, RuntimeImage, ScanReport};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::csv;
use crate::routes::{ApiError, ApiState, Params, blocking, csv_response, wants_csv};
use crate::settings::{put_documents, stored_documents};
use crate::snapshot::VulnIndex;

/// Where to read about a vulnerability id: its own tracker, else OSV.
pub(crate) fn links(id: &str) -> Vec<String> {
    let mut v = Vec::new();
    if id.starts_with("CVE-") {
        v.push(format!("https://nvd.nist.gov/vuln/detail/{id}"));
    } else if id.starts_with("GHSA-") {
        v.push(format!("https://github.com/advisories/{id}"));
    } else if id.starts_with("DSA-") || id.starts_with("DLA-") {
        v.push(format!("https://security-tracker.debian.org/tracker/{id}"));
    }
    v.push(format!("https://osv.dev/vulnerability/{id}"));
    v
}

#[utoipa::path(get, path = "/api/v1/images/{digest}",
    params(("digest" = String, Path, description = "sha256:...")),
    responses((status = 200, description = "The image's latest report with every match's evidence and advisory links, and its status history"),
        (status = 404, body = ApiError), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn image(
    State(state): State<Arc<ApiState>>,
    Path(digest): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let digest = Digest::parse(&digest)
        .map_err(|e| ApiError::field(StatusCode::BAD_REQUEST, "digest", e.to_string()))?;
    let (store, assurance) = (state.store.clone(), state.assurance.clone());
    blocking(move || {
        let report = assurance
            .report(&digest)
            .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e))?
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no result for this digest"))?;
        let history = store.status_history(&digest).map_err(ApiError::store)?;
        let mut v = serde_json::to_value(&report)
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        if let Some(list) = v["vulnerabilities"].as_array_mut() {
            for (m, out) in report.vulnerabilities.iter().zip(list) {
                out["links"] = serde_json::json!(links(&m.id));
            }
        }
        v["history"] = serde_json::to_value(history)
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        Ok(Json(v))
    })
    .await
}

/// A workload running an image.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Workload {
    /// Cluster name.
    pub cluster: String,
    /// Namespace.
    pub namespace: String,
    /// Kind (Deployment, StatefulSet, ...).
    pub kind: String,
    /// Name.
    pub name: String,
    /// Pods running it now.
    pub pods: u32,
}

/// [`workloads_by_digest`] keyed by the digest's text, as image rows name it.
pub(crate) fn workloads_by_digest_text(running: &[RuntimeImage]) -> HashMap<String, Vec<Workload>> {
    workloads_by_digest(running)
        .into_iter()
        .map(|(d, w)| (d.to_string(), w))
        .collect()
}

fn workloads_by_digest(running: &[RuntimeImage]) -> HashMap<Digest, Vec<Workload>> {
    let mut map: HashMap<Digest, Vec<Workload>> = HashMap::new();
    for r in running.iter().filter(|r| r.running) {
        if let Some(d) = &r.digest {
            map.entry(d.clone()).or_default().push(Workload {
                cluster: r.cluster.clone(),
                namespace: r.namespace.clone(),
                kind: r.workload_kind.clone(),
                name: r.workload_name.clone(),
                pods: r.instances,
            });
        }
    }
    map
}

/// An image with a vulnerability: the packages it is in, and who runs it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AffectedImage {
    /// Manifest digest.
    pub digest: String,
    /// The image as last named.
    pub image: String,
    /// Status of the image.
    pub status: String,
    /// `name version` of each affected package, with its fixes.
    pub packages: Vec<String>,
    /// Whether a fixed version exists for every affected package.
    pub fixable: bool,
    /// Workloads running it now.
    pub workloads: Vec<Workload>,
}

/// Who has one vulnerability.
#[derive(Debug, Serialize, ToSchema)]
pub struct Affected {
    /// The id asked for.
    pub id: String,
    /// Where to read about it.
    pub links: Vec<String>,
    /// Images with it (not where an exception silences it).
    pub images: Vec<AffectedImage>,
    /// Pods running an affected image now.
    pub running_pods: u32,
}

fn affected(id: &str, index: &VulnIndex, running: &[RuntimeImage]) -> Affected {
    let workloads = workloads_by_digest(running);
    let mut images = Vec::new();
    for (r, idxs) in index
        .by_id
        .get(&id.to_ascii_uppercase())
        .into_iter()
        .flatten()
    {
        let Some(digest) = &r.image.digest else {
            continue;
        };
        let hits: Vec<&Match> = idxs
            .iter()
            .filter_map(|i| r.vulnerabilities.get(*i as usize))
            .filter(|m| m.ignored.is_none())
            .collect();
        if hits.is_empty() {
            continue;
        }
        images.push(AffectedImage {
            digest: digest.to_string(),
            image: r.image.reference.clone(),
            status: r.summary.status.as_str().to_string(),
            packages: hits
                .iter()
                .map(|m| match m.fixed_versions.first() {
                    Some(f) => format!("{} {} (fixed in {f})", m.package.name, m.package.version),
                    None => format!("{} {}", m.package.name, m.package.version),
                })
                .collect(),
            fixable: hits.iter().all(|m| !m.fixed_versions.is_empty()),
            workloads: workloads.get(digest).cloned().unwrap_or_default(),
        });
    }
    images.sort_by(|a, b| a.image.cmp(&b.image).then(a.digest.cmp(&b.digest)));
    Affected {
        id: id.to_string(),
        links: links(id),
        running_pods: images
            .iter()
            .flat_map(|i| &i.workloads)
            .map(|w| w.pods)
            .sum(),
        images,
    }
}

#[utoipa::path(get, path = "/api/v1/vulnerabilities/{id}",
    params(("id" = String, Path, description = "CVE-..., GHSA-..., DSA-..., or any alias")),
    responses((status = 200, body = Affected), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn vulnerability(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> Result<Json<Affected>, ApiError> {
    if id.is_empty() || id.len() > 200 {
        return Err(ApiError::field(
            StatusCode::BAD_REQUEST,
            "id",
            "1 to 200 characters",
        ));
    }
    let index = state.vuln_index().await?;
    let running = state.runtime().await?;
    Ok(Json(affected(&id, &index, &running)))
}

/// `GET /vulnerabilities`: the top ones.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TopQuery {
    /// How many (1 to 1000; default 20).
    pub top: Option<usize>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// One vulnerability in the top list.
#[derive(Debug, Serialize, ToSchema)]
pub struct TopVulnerability {
    /// Its id.
    pub id: String,
    /// Severity.
    pub severity: String,
    /// Pods running an image with it.
    pub running_pods: u32,
    /// Images with it.
    pub images: usize,
    /// Whether every affected package has a fix.
    pub fixable: bool,
}

#[utoipa::path(get, path = "/api/v1/vulnerabilities", params(TopQuery),
    responses((status = 200, body = Vec<TopVulnerability>), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn top_vulnerabilities(
    State(state): State<Arc<ApiState>>,
    Params(q): Params<TopQuery>,
) -> Result<Response, ApiError> {
    let as_csv = wants_csv(q.format.as_deref())?;
    let top = q.top.unwrap_or(20);
    if top == 0 || top > 1000 {
        return Err(ApiError::field(
            StatusCode::BAD_REQUEST,
            "top",
            "between 1 and 1000",
        ));
    }
    let index = state.vuln_index().await?;
    let running = state.runtime().await?;
    let pods: HashMap<Digest, u32> = workloads_by_digest(&running)
        .into_iter()
        .map(|(d, w)| (d, w.iter().map(|w| w.pods).sum()))
        .collect();
    let mut v: Vec<TopVulnerability> = index
        .counted
        .iter()
        .map(|c| TopVulnerability {
            id: c.id.clone(),
            severity: c.severity.to_string(),
            running_pods: c.digests.iter().filter_map(|d| pods.get(d)).sum(),
            images: c.digests.len(),
            fixable: c.fixable,
        })
        .collect();
    v.sort_by(|a, b| {
        b.running_pods
            .cmp(&a.running_pods)
            .then(b.images.cmp(&a.images))
            .then(a.id.cmp(&b.id))
    });
    v.truncate(top);
    Ok(crate::routes::list(&v, as_csv))
}

/// `GET /running`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RunningQuery {
    /// Only this cluster.
    pub cluster: Option<String>,
    /// Only this namespace.
    pub namespace: Option<String>,
    /// Also what ran before and stopped (default: only what runs now).
    pub all: Option<bool>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/running", params(RunningQuery),
    responses((status = 200, description = "The runtime inventory: cluster, namespace, workload, image, digest, pods, nodes"),
        (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn running(
    State(state): State<Arc<ApiState>>,
    Params(q): Params<RunningQuery>,
) -> Result<Response, ApiError> {
    let as_csv = wants_csv(q.format.as_deref())?;
    let all = state.runtime().await?;
    let rows: Vec<RuntimeImage> = all
        .iter()
        .filter(|r| q.all == Some(true) || r.running)
        .filter(|r| q.cluster.as_ref().is_none_or(|c| &r.cluster == c))
        .filter(|r| q.namespace.as_ref().is_none_or(|n| &r.namespace == n))
        .cloned()
        .collect();
    if as_csv {
        return Ok(csv_response(&csv::running(&rows)));
    }
    Ok(Json(rows).into_response())
}

#[utoipa::path(get, path = "/api/v1/status",
    responses((status = 200, body = crate::routes::ServiceStatus), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn status(
    State(state): State<Arc<ApiState>>,
) -> Json<crate::routes::ServiceStatus> {
    Json(state.assurance.status())
}

/// `GET /decisions`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DecisionQuery {
    /// `allowed` or `rejected`.
    pub result: Option<String>,
    /// Only this namespace.
    pub namespace: Option<String>,
    /// Only decisions by this policy.
    pub policy: Option<String>,
    /// Only decisions that named this image (as written, or containing this text).
    pub image: Option<String>,
    /// How many, newest first (1 to 1000; default 100).
    pub limit: Option<usize>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/decisions", params(DecisionQuery),
    responses((status = 200, description = "Recent admission decisions, newest first"), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn decisions(
    State(state): State<Arc<ApiState>>,
    Params(q): Params<DecisionQuery>,
) -> Result<Response, ApiError> {
    let as_csv = wants_csv(q.format.as_deref())?;
    let allowed = match q.result.as_deref() {
        None => None,
        Some("allowed") => Some(true),
        Some("rejected") => Some(false),
        Some(_) => {
            return Err(ApiError::field(
                StatusCode::BAD_REQUEST,
                "result",
                "allowed or rejected",
            ));
        }
    };
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::field(
            StatusCode::BAD_REQUEST,
            "limit",
            "between 1 and 1000",
        ));
    }
    let store = state.store.clone();
    blocking(move || {
        // Filters apply to the recent window the store keeps, newest first.
        let all = store
            .recent_decisions(10 * limit)
            .map_err(ApiError::store)?;
        let rows: Vec<_> = all
            .into_iter()
            .filter(|d| allowed.is_none_or(|a| d.allowed == a))
            .filter(|d| q.namespace.as_ref().is_none_or(|n| &d.namespace == n))
            .filter(|d| q.policy.as_ref().is_none_or(|p| &d.policy == p))
            .filter(|d| {
                q.image
                    .as_ref()
                    .is_none_or(|i| d.images.iter().any(|x| x.contains(i.as_str())))
            })
            .take(limit)
            .collect();
        Ok(crate::routes::list(&rows, as_csv))
    })
    .await
}

/// One row of the export: an image, one of its vulnerabilities, and who runs it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportRow {
    /// The image as last named.
    pub image: String,
    /// Manifest digest.
    pub digest: String,
    /// Image status.
    pub status: String,
    /// Vulnerability id (empty for an image with none).
    pub vulnerability: String,
    /// Severity.
    pub severity: String,
    /// CVSS score.
    pub cvss: Option<f64>,
    /// Affected package.
    pub package: String,
    /// Installed version.
    pub version: String,
    /// Fixed versions.
    pub fixed: String,
    /// Workloads running the image (`cluster/namespace/Kind/name xN`).
    pub workloads: Vec<String>,
}

/// The export rows of one image: one per counted vulnerability (one empty row for an image
/// with none), with the workloads running it.
fn export_rows(r: &ScanReport, workloads: &HashMap<Digest, Vec<Workload>>) -> Vec<ExportRow> {
    let Some(d) = &r.image.digest else {
        return Vec::new();
    };
    let runs: Vec<String> = workloads
        .get(d)
        .map(|w| {
            w.iter()
                .map(|w| {
                    format!(
                        "{}/{}/{}/{} x{}",
                        w.cluster, w.namespace, w.kind, w.name, w.pods
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let row = |m: Option<&Match>| ExportRow {
        image: r.image.reference.clone(),
        digest: d.to_string(),
        status: r.summary.status.as_str().to_string(),
        vulnerability: m.map(|m| m.id.clone()).unwrap_or_default(),
        severity: m.map(|m| m.severity.to_string()).unwrap_or_default(),
        cvss: m.and_then(|m| m.cvss.as_ref().map(|c| c.score)),
        package: m.map(|m| m.package.name.clone()).unwrap_or_default(),
        version: m.map(|m| m.package.version.clone()).unwrap_or_default(),
        fixed: m.map(|m| m.fixed_versions.join(" ")).unwrap_or_default(),
        workloads: runs.clone(),
    };
    let counted: Vec<&Match> = r
        .vulnerabilities
        .iter()
        .filter(|m| m.ignored.is_none())
        .collect();
    if counted.is_empty() {
        return vec![row(None)];
    }
    counted.into_iter().map(|m| row(Some(m))).collect()
}

/// `GET /export`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// `csv` (default) or `json`.
    pub format: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/export", params(ExportQuery),
    responses((status = 200, body = Vec<ExportRow>, description = "Every image with its vulnerabilities and the workloads running it (CSV by default, spreadsheet-safe)"),
        (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn export(
    State(state): State<Arc<ApiState>>,
    Params(q): Params<ExportQuery>,
) -> Result<Response, ApiError> {
    let as_csv = wants_csv(Some(q.format.as_deref().unwrap_or("csv")))?;
    let index = state.vuln_index().await?;
    let running = state.runtime().await?;
    // Streamed image by image: a million rows are never held at once.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(8);
    tokio::task::spawn_blocking(move || {
        let workloads = workloads_by_digest(&running);
        let mut chunk = Vec::with_capacity(1 << 16);
        if as_csv {
            chunk.extend_from_slice(csv::export_header().as_bytes());
        } else {
            chunk.push(b'[');
        }
        let mut first = true;
        for r in &index.reports {
            for row in export_rows(r, &workloads) {
                if as_csv {
                    chunk.extend_from_slice(csv::export_row(&row).as_bytes());
                } else {
                    if !first {
                        chunk.push(b',');
                    }
                    first = false;
                    if serde_json::to_writer(&mut chunk, &row).is_err() {
                        return;
                    }
                }
            }
            if chunk.len() >= 1 << 16 && tx.blocking_send(Ok(std::mem::take(&mut chunk))).is_err() {
                return; // the client went away
            }
        }
        if !as_csv {
            chunk.extend_from_slice(b"]\n");
        }
        let _ = tx.blocking_send(Ok(chunk));
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let content_type = if as_csv {
        "text/csv; charset=utf-8"
    } else {
        "application/json"
    };
    Ok((
        [(axum::http::header::CONTENT_TYPE, content_type)],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

/// What alert rules look at: each image seen, once per running workload (or once, not
/// running), with its status, highest CVSS, vulnerabilities and fixability from the held report.
fn alert_records(
    rows: &[crate::routes::ImageRow],
    index: &VulnIndex,
    running: &[RuntimeImage],
) -> Vec<crate::alerts::Record> {
    let workloads = workloads_by_digest_text(running);
    let mut out = Vec::new();
    for row in rows {
        let report = index.by_digest.get(&row.digest);
        let counted = || {
            report
                .into_iter()
                .flat_map(|r| &r.vulnerabilities)
                .filter(|m| m.ignored.is_none())
        };
        let base = crate::alerts::Record {
            registry: row.registry.clone(),
            repository: row.repository.clone(),
            result: row.status.clone().unwrap_or_default(),
            max_cvss_score: report.and_then(|r| r.summary.max_cvss).unwrap_or(0.0),
            cves: counted()
                .flat_map(|m| std::iter::once(&m.id).chain(&m.aliases))
                .map(|id| id.to_ascii_uppercase())
                .collect(),
            fixable: counted().any(|m| !m.fixed_versions.is_empty()),
            last_seen: portcullis_core::parse_time(&row.last_seen),
            ..Default::default()
        };
        match workloads.get(&row.digest) {
            Some(ws) if !ws.is_empty() => out.extend(ws.iter().map(|w| crate::alerts::Record {
                namespace: w.namespace.clone(),
                workload: format!("{}/{}", w.kind, w.name),
                running: true,
                ..base.clone()
            })),
            _ => out.push(base),
        }
    }
    out
}

/// A rule firing now, with what the rule says of itself.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Alert {
    /// The rule's name.
    pub rule: String,
    /// Its severity.
    pub severity: String,
    /// Its description.
    pub description: String,
    /// The group's `aggregateBy` values.
    pub group: std::collections::BTreeMap<String, String>,
    /// The metric's value.
    pub value: f64,
    /// Records in the group.
    pub records: usize,
}

fn stored_rules(store: &dyn ResultStore) -> Result<Vec<crate::alerts::Rule>, ApiError> {
    stored_documents(store, Documents::AlertRules)?
        .into_iter()
        .map(|v| {
            serde_json::from_value(v).map_err(|e| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("a stored alert rule is unreadable: {e}"),
                )
            })
        })
        .collect()
}

#[utoipa::path(get, path = "/api/v1/alert-rules",
    responses((status = 200, description = "The alert rules"), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn alert_rules(
    State(state): State<Arc<ApiState>>,
) -> Result<Json<Vec<ListedRule>>, ApiError> {
    let store = state.store.clone();
    let stored = blocking(move || stored_rules(store.as_ref())).await?;
    let listed =
        |source: &'static str| move |rule: crate::alerts::Rule| ListedRule { rule, source };
    Ok(Json(
        stored
            .into_iter()
            .map(listed("api"))
            .chain(state.cluster_rules().into_iter().map(listed("cluster")))
            .collect(),
    ))
}

/// An alert rule as listed: the rule, and where it was made.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListedRule {
    /// The rule.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub rule: crate::alerts::Rule,
    /// `api` (made through the API) or `cluster` (an `ImageAssuranceAlert`).
    pub source: &'static str,
}

#[utoipa::path(post, path = "/api/v1/alert-rules", request_body = Object,
    responses((status = 201, description = "Made"), (status = 400, body = ApiError, description = "The rule does not check: its query, a field, its metric"),
        (status = 409, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn create_alert_rule(
    State(state): State<Arc<ApiState>>,
    axum::extract::Extension(caller): axum::extract::Extension<crate::auth::Caller>,
    crate::routes::Body(rule): crate::routes::Body<crate::alerts::Rule>,
) -> Result<(StatusCode, Json<crate::alerts::Rule>), ApiError> {
    if rule.name.trim().is_empty() {
        return Err(ApiError::field(StatusCode::BAD_REQUEST, "name", "empty"));
    }
    rule.check().map_err(|e| {
        let field = match e {
            crate::alerts::RuleError::Metric { .. } => "field",
            crate::alerts::RuleError::Duration { field, .. } => field,
            crate::alerts::RuleError::Field(_)
                if !rule.aggregate_by.is_empty()
                    && crate::alerts::Query::parse(&rule.query).is_ok() =>
            {
                "aggregateBy"
            }
            _ => "query",
        };
        ApiError::field(StatusCode::BAD_REQUEST, field, e.to_string())
    })?;
    let store = state.store.clone();
    let made = rule.clone();
    blocking(move || {
        let mut all = stored_documents(store.as_ref(), Documents::AlertRules)?;
        if all.iter().any(|r| r["name"] == rule.name.as_str()) {
            return Err(ApiError::field(
                StatusCode::CONFLICT,
                "name",
                "a rule of this name exists",
            ));
        }
        let value = serde_json::to_value(&rule)
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        all.push(value.clone());
        put_documents(store.as_ref(), Documents::AlertRules, &all)?;
        crate::settings::audit_rules(store.as_ref(), &caller, "create", None, Some(value))
    })
    .await?;
    Ok((StatusCode::CREATED, Json(made)))
}

#[utoipa::path(delete, path = "/api/v1/alert-rules/{name}",
    params(("name" = String, Path, description = "The rule's name")),
    responses((status = 204, description = "Removed"), (status = 404, body = ApiError),
        (status = 401, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn delete_alert_rule(
    State(state): State<Arc<ApiState>>,
    axum::extract::Extension(caller): axum::extract::Extension<crate::auth::Caller>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let store = state.store.clone();
    blocking(move || {
        let mut all = stored_documents(store.as_ref(), Documents::AlertRules)?;
        let Some(i) = all.iter().position(|r| r["name"] == name.as_str()) else {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "no such rule"));
        };
        let gone = all.remove(i);
        put_documents(store.as_ref(), Documents::AlertRules, &all)?;
        crate::settings::audit_rules(store.as_ref(), &caller, "delete", Some(gone), None)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/alerts",
    responses((status = 200, body = Vec<Alert>, description = "Every rule's groups that fire now"), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn alerts(
    State(state): State<Arc<ApiState>>,
) -> Result<Json<Vec<Alert>>, ApiError> {
    firing(&state, |_| true).await.map(Json)
}

/// Every rule's groups that fire now, of the rules `due` picks.
pub(crate) async fn firing(
    state: &ApiState,
    due: impl Fn(&crate::alerts::Rule) -> bool + Send + 'static,
) -> Result<Vec<Alert>, ApiError> {
    let rows = state.image_rows().await?;
    let index = state.vuln_index().await?;
    let running = state.runtime().await?;
    let cluster = state.cluster_rules();
    let store = state.store.clone();
    blocking(move || {
        let records = alert_records(&rows, &index, &running);
        let mut out = Vec::new();
        let mut rules = stored_rules(store.as_ref())?;
        rules.extend(cluster);
        for rule in rules.into_iter().filter(|r| due(r)) {
            // Rules were checked when made; one that no longer checks is skipped, not fatal.
            let Ok(fired) = rule.evaluate(&records) else {
                continue;
            };
            out.extend(fired.into_iter().map(|f| Alert {
                rule: f.rule,
                severity: rule.severity.clone(),
                description: rule.description.clone(),
                group: f.group,
                value: f.value,
                records: f.records,
            }));
        }
        Ok(out)
    })
    .await
}

/// The built-in rule: a DB update turned a running image's result to Fail.
pub const DB_UPDATE_FAIL: &str = "db-update-fail";

/// The images a DB update turned to Fail among the status changes recorded after number
/// `after` (by any replica), one alert per image running now, grouped by image and workload;
/// and the number to read on from.
pub(crate) async fn turned_fail(
    state: &ApiState,
    after: i64,
) -> Result<(Vec<Alert>, i64), ApiError> {
    let store = state.store.clone();
    let changes = blocking(move || {
        store
            .status_changes_after(after, 100_000)
            .map_err(ApiError::store)
    })
    .await?;
    let last = changes.last().map_or(after, |(id, _)| *id);
    let failed: Vec<&portcullis_core::StatusChange> = changes
        .iter()
        .map(|(_, c)| c)
        .filter(|c| {
            c.cause == portcullis_core::ChangeCause::DbUpdate
                && c.to == portcullis_core::Status::Fail
                && c.from != Some(portcullis_core::Status::Fail)
        })
        .collect();
    if failed.is_empty() {
        return Ok((Vec::new(), last));
    }
    let running = state.runtime().await?;
    let workloads = workloads_by_digest(&running);
    let images: HashMap<&Digest, &str> = running
        .iter()
        .filter_map(|r| Some((r.digest.as_ref()?, r.image.as_str())))
        .collect();
    let mut out = Vec::new();
    for c in failed {
        for w in workloads.get(&c.digest).into_iter().flatten() {
            out.push(Alert {
                rule: DB_UPDATE_FAIL.into(),
                severity: "high".into(),
                description: format!(
                    "the vulnerability DB update to {} turned this running image's result to Fail",
                    c.db_version
                ),
                group: [
                    ("image", images.get(&c.digest).copied().unwrap_or_default()),
                    ("digest", c.digest.as_str()),
                    ("namespace", w.namespace.as_str()),
                    ("workload", &format!("{}/{}", w.kind, w.name)),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
                value: 1.0,
                records: w.pods as usize,
            });
        }
    }
    Ok((out, last))
}

#[utoipa::path(get, path = "/api/v1/alerts/fired",
    responses((status = 200, body = Vec<crate::notify::Delivery>, description = "The alerts delivered, oldest first (the last 1,000)"), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn fired(
    State(state): State<Arc<ApiState>>,
    Params(q): Params<crate::routes::ListFormat>,
) -> Result<Response, ApiError> {
    let as_csv = wants_csv(q.format.as_deref())?;
    Ok(crate::routes::list(&state.fired.list(), as_csv))
}
