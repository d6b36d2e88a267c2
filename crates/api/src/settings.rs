//! What the API changes, and the record of each change: exceptions (made, updated, removed,
//! imported from Calico's CSV), OpenVEX documents, and thresholds. `serve` follows the store and
//! puts each change in force within seconds, relabelling the stored results.
//!
//! Every change is recorded with who made it (the token's name), when, and the value before
//! and after (`GET /api/v1/settings/history`): users of an assurance service are asked who
//! loosened a gate, and when.

use std::sync::Arc;

use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, body::Bytes};
use portcullis_core::{Documents, Exception, ResultStore, SettingChange, Thresholds};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::routes::{ApiError, ApiState, Body, Params, blocking, csv_response, wants_csv};

/// Setting changes listed at most.
const MAX_HISTORY: usize = 1000;

/// Records `action` on `setting` by `caller`, with the value before and after.
fn audit(
    store: &dyn ResultStore,
    caller: &Caller,
    setting: &str,
    action: &str,
    before: Option<Value>,
    after: Option<Value>,
) -> Result<(), ApiError> {
    store
        .record_setting_change(&SettingChange {
            time: time::OffsetDateTime::now_utc(),
            actor: caller.actor.clone(),
            setting: setting.into(),
            action: action.into(),
            before: before.map(|v| v.to_string()),
            after: after.map(|v| v.to_string()),
        })
        .map_err(ApiError::store)
}

/// `value` as JSON (for the audit; the types here always serialise).
fn json(value: &impl Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// `GET /exceptions`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ExceptionsQuery {
    /// `json` (default) or `csv` (Calico's columns: CVE, Registry, Repository, Tags,
    /// Justification, Scope, and Expires when one expires).
    pub format: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/exceptions", params(ExceptionsQuery),
    responses((status = 200, body = Vec<Object>), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn list_exceptions(
    State(state): State<Arc<ApiState>>,
    Params(q): Params<ExceptionsQuery>,
) -> Result<Response, ApiError> {
    let as_csv = wants_csv(q.format.as_deref())?;
    let store = state.store.clone();
    let all = blocking(move || store.api_exceptions().map_err(ApiError::store)).await?;
    if as_csv {
        return Ok(csv_response(&portcullis_matcher::exceptions_to_csv(&all)));
    }
    Ok(Json(all).into_response())
}

#[utoipa::path(post, path = "/api/v1/exceptions/import", request_body(content = String, content_type = "text/csv"),
    responses((status = 200, description = "How many were added (the rest were there)"),
        (status = 400, body = ApiError, description = "The file is refused whole, naming what failed"),
        (status = 401, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn import_exceptions(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    text: String,
) -> Result<Json<Value>, ApiError> {
    // Parsed whole before anything is stored: a file with one bad line changes nothing.
    let imported = portcullis_matcher::exceptions_from_csv(&text).map_err(|e| {
        ApiError::field(
            StatusCode::BAD_REQUEST,
            "csv",
            portcullis_core::ErrorChain(&e).to_string(),
        )
    })?;
    let store = state.store.clone();
    blocking(move || {
        let mut all = store.api_exceptions().map_err(ApiError::store)?;
        let now = time::OffsetDateTime::now_utc();
        let mut added = Vec::new();
        for mut e in imported {
            if !all.iter().any(|x| same_exception(x, &e)) {
                e.created_by = Some(caller.actor.clone());
                e.created = Some(now);
                all.push(e.clone());
                added.push(e);
            }
        }
        store.put_api_exceptions(&all).map_err(ApiError::store)?;
        if !added.is_empty() {
            audit(
                store.as_ref(),
                &caller,
                "exceptions",
                "import",
                None,
                Some(json(&added)),
            )?;
        }
        Ok(Json(
            serde_json::json!({"added": added.len(), "total": all.len()}),
        ))
    })
    .await
}

/// Whether two exceptions say the same (who made them, and when, aside).
fn same_exception(a: &Exception, b: &Exception) -> bool {
    let plain = |e: &Exception| Exception {
        created_by: None,
        created: None,
        ..e.clone()
    };
    plain(a) == plain(b)
}

#[utoipa::path(post, path = "/api/v1/exceptions", request_body = Object,
    responses((status = 201, body = Object, description = "Made, with who made it and when"),
        (status = 400, body = ApiError), (status = 409, body = ApiError, description = "The same exception exists"),
        (status = 401, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn create_exception(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    Body(mut e): Body<Exception>,
) -> Result<(StatusCode, Json<Exception>), ApiError> {
    if e.id.trim().is_empty() {
        return Err(ApiError::field(StatusCode::BAD_REQUEST, "id", "empty"));
    }
    // Who and when are the service's to say, whatever the body claims.
    e.created_by = Some(caller.actor.clone());
    e.created = Some(time::OffsetDateTime::now_utc());
    let store = state.store.clone();
    let created = e.clone();
    blocking(move || {
        // Kept apart from the files' and the cluster's; `serve` puts the union in force and
        // relabels the stored results within seconds.
        let mut all = store.api_exceptions().map_err(ApiError::store)?;
        if all.iter().any(|x| same_exception(x, &e)) {
            return Err(ApiError::field(
                StatusCode::CONFLICT,
                "id",
                "the same exception exists",
            ));
        }
        all.push(e.clone());
        store.put_api_exceptions(&all).map_err(ApiError::store)?;
        audit(
            store.as_ref(),
            &caller,
            "exceptions",
            "create",
            None,
            Some(json(&e)),
        )
    })
    .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Which API exceptions `PATCH` and `DELETE /exceptions` act on.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ExceptionSelector {
    /// The vulnerability id.
    pub id: String,
    /// Only those of this repository (`registry/repository`).
    pub repository: Option<String>,
}

impl ExceptionSelector {
    fn selects(&self, e: &Exception) -> bool {
        e.id == self.id
            && self.repository.as_ref().is_none_or(|r| {
                format!(
                    "{}/{}",
                    e.registry.as_deref().unwrap_or(""),
                    e.repository.as_deref().unwrap_or("")
                ) == *r
            })
    }
}

#[utoipa::path(delete, path = "/api/v1/exceptions", params(ExceptionSelector),
    responses((status = 200, description = "How many were removed"), (status = 404, body = ApiError),
        (status = 401, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn delete_exceptions(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    Params(q): Params<ExceptionSelector>,
) -> Result<Json<Value>, ApiError> {
    let store: Arc<dyn ResultStore> = state.store.clone();
    blocking(move || {
        let all = store.api_exceptions().map_err(ApiError::store)?;
        let (gone, kept): (Vec<_>, Vec<_>) = all.into_iter().partition(|e| q.selects(e));
        if gone.is_empty() {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "no such exception"));
        }
        store.put_api_exceptions(&kept).map_err(ApiError::store)?;
        audit(
            store.as_ref(),
            &caller,
            "exceptions",
            "delete",
            Some(json(&gone)),
            None,
        )?;
        Ok(Json(serde_json::json!({"removed": gone.len()})))
    })
    .await
}

/// A change of one exception: what is given replaces what it says.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExceptionChange {
    /// Why it is acceptable.
    pub justification: Option<String>,
    /// New expiry (RFC 3339 date or time); `null` keeps the one it has.
    pub expires: Option<String>,
    /// Tags, for the image scope.
    pub tags: Option<Vec<String>>,
}

#[utoipa::path(patch, path = "/api/v1/exceptions", params(ExceptionSelector), request_body = ExceptionChange,
    responses((status = 200, body = Object, description = "The exception as changed"),
        (status = 400, body = ApiError), (status = 404, body = ApiError),
        (status = 409, body = ApiError, description = "The selector names several; add `repository`"),
        (status = 401, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn update_exception(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    Params(q): Params<ExceptionSelector>,
    Body(change): Body<ExceptionChange>,
) -> Result<Json<Exception>, ApiError> {
    let expires = change
        .expires
        .as_deref()
        .map(portcullis_core::Expiry::parse)
        .transpose()
        .map_err(|e| ApiError::field(StatusCode::BAD_REQUEST, "expires", e))?;
    let store: Arc<dyn ResultStore> = state.store.clone();
    blocking(move || {
        let mut all = store.api_exceptions().map_err(ApiError::store)?;
        let mut found = all.iter_mut().filter(|e| q.selects(e));
        let (Some(e), None) = (found.next(), found.next()) else {
            let n = all.iter().filter(|e| q.selects(e)).count();
            return Err(if n == 0 {
                ApiError::new(StatusCode::NOT_FOUND, "no such exception")
            } else {
                ApiError::field(
                    StatusCode::CONFLICT,
                    "repository",
                    format!("{n} exceptions of this id; name the repository"),
                )
            });
        };
        let before = json(e);
        if let Some(j) = change.justification {
            e.justification = Some(j);
        }
        if let Some(x) = expires {
            e.expires = Some(x);
        }
        if let Some(t) = change.tags {
            e.tags = t;
        }
        let changed = e.clone();
        store.put_api_exceptions(&all).map_err(ApiError::store)?;
        audit(
            store.as_ref(),
            &caller,
            "exceptions",
            "update",
            Some(before),
            Some(json(&changed)),
        )?;
        Ok(Json(changed))
    })
    .await
}

/// The stored list `which` as JSON values (as written).
pub(crate) fn stored_documents(
    store: &dyn ResultStore,
    which: Documents,
) -> Result<Vec<Value>, ApiError> {
    let Some(text) = store.documents(which).map_err(ApiError::store)? else {
        return Ok(Vec::new());
    };
    serde_json::from_str(&text).map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the stored {} are unreadable: {e}", which.key()),
        )
    })
}

/// Replaces the stored list `which`.
pub(crate) fn put_documents(
    store: &dyn ResultStore,
    which: Documents,
    list: &[Value],
) -> Result<(), ApiError> {
    let text = Value::Array(list.to_vec()).to_string();
    store.put_documents(which, &text).map_err(ApiError::store)?;
    Ok(())
}

/// What is known of a stored OpenVEX document.
#[derive(Debug, Serialize, ToSchema)]
pub struct VexDocument {
    /// Its `@id`.
    pub id: String,
    /// Its author.
    pub author: Option<String>,
    /// Its statements.
    pub statements: usize,
    /// Of which `not_affected` (these silence matches).
    pub not_affected: usize,
}

impl VexDocument {
    /// What is known of `doc`, whose statements are `statements`.
    fn of(doc: &Value, statements: &[portcullis_matcher::VexStatement]) -> VexDocument {
        VexDocument {
            id: doc["@id"].as_str().unwrap_or_default().to_string(),
            author: doc["author"].as_str().map(str::to_string),
            statements: statements.len(),
            not_affected: statements
                .iter()
                .filter(|s| s.status == portcullis_matcher::VexStatus::NotAffected)
                .count(),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/vex",
    responses((status = 200, body = Vec<VexDocument>), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn list_vex(
    State(state): State<Arc<ApiState>>,
) -> Result<Json<Vec<VexDocument>>, ApiError> {
    let store = state.store.clone();
    let docs = blocking(move || stored_documents(store.as_ref(), Documents::Vex)).await?;
    Ok(Json(
        docs.iter()
            .map(|d| {
                let statements =
                    portcullis_matcher::vex_from_json(&d.to_string()).unwrap_or_default();
                VexDocument::of(d, &statements)
            })
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/vex", request_body(content = Object, description = "An OpenVEX document"),
    responses((status = 200, body = VexDocument, description = "Stored (replacing the document of the same `@id`); in force within seconds"),
        (status = 400, body = ApiError, description = "Refused whole, naming what failed"),
        (status = 401, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn import_vex(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Json<VexDocument>, ApiError> {
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "the document is not UTF-8"))?;
    // Read whole before anything is stored: a document with one bad statement changes nothing.
    let statements = portcullis_matcher::vex_from_json(text).map_err(|e| {
        ApiError::field(
            StatusCode::BAD_REQUEST,
            "statements",
            portcullis_core::ErrorChain(&e).to_string(),
        )
    })?;
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    let Some(id) = doc["@id"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
    else {
        return Err(ApiError::field(
            StatusCode::BAD_REQUEST,
            "@id",
            "an OpenVEX document names itself with @id",
        ));
    };
    if let Some(i) = statements.iter().position(|s| s.products.is_empty()) {
        return Err(ApiError::field(
            StatusCode::BAD_REQUEST,
            "statements",
            format!(
                "statement {} ({}) names no product: it would apply everywhere",
                i + 1,
                statements[i].vulnerability
            ),
        ));
    }
    let summary = VexDocument::of(&doc, &statements);
    let store = state.store.clone();
    blocking(move || {
        let mut all = stored_documents(store.as_ref(), Documents::Vex)?;
        let before = all.iter().position(|d| d["@id"] == id.as_str());
        let replaced = before.map(|i| all.remove(i));
        all.push(doc.clone());
        put_documents(store.as_ref(), Documents::Vex, &all)?;
        let action = if replaced.is_some() {
            "update"
        } else {
            "import"
        };
        audit(store.as_ref(), &caller, "vex", action, replaced, Some(doc))
    })
    .await?;
    Ok(Json(summary))
}

/// Which VEX document `DELETE /vex` removes.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct VexSelector {
    /// The document's `@id`.
    pub id: String,
}

#[utoipa::path(delete, path = "/api/v1/vex", params(VexSelector),
    responses((status = 204, description = "Removed"), (status = 404, body = ApiError),
        (status = 401, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn delete_vex(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    Params(q): Params<VexSelector>,
) -> Result<StatusCode, ApiError> {
    let store = state.store.clone();
    blocking(move || {
        let mut all = stored_documents(store.as_ref(), Documents::Vex)?;
        let Some(i) = all.iter().position(|d| d["@id"] == q.id.as_str()) else {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "no such document"));
        };
        let gone = all.remove(i);
        put_documents(store.as_ref(), Documents::Vex, &all)?;
        audit(store.as_ref(), &caller, "vex", "delete", Some(gone), None)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/settings/thresholds",
    responses((status = 200, description = "The thresholds in force"), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn thresholds(State(state): State<Arc<ApiState>>) -> Json<Thresholds> {
    Json(state.assurance.thresholds())
}

/// A change of thresholds: what is given replaces what is in force.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ThresholdsChange {
    /// Score at or above which an image warns.
    pub warn: Option<f64>,
    /// Score at or above which an image fails.
    pub fail: Option<f64>,
    /// Status of a match with no score.
    #[schema(value_type = Option<String>)]
    pub unknown: Option<portcullis_core::Status>,
    /// Least status of an image with packages no source covers.
    #[schema(value_type = Option<String>)]
    pub uncovered: Option<portcullis_core::Status>,
}

#[utoipa::path(put, path = "/api/v1/settings/thresholds", request_body = ThresholdsChange,
    responses((status = 200, description = "Stored; every replica relabels its results within seconds, each status change recorded"),
        (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn put_thresholds(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    Body(c): Body<ThresholdsChange>,
) -> Result<Json<Thresholds>, ApiError> {
    let before = state.assurance.thresholds();
    let t = changed_thresholds(before.clone(), &c)?;
    let store = state.store.clone();
    blocking(move || {
        store.put_thresholds(&t).map_err(ApiError::store)?;
        audit(
            store.as_ref(),
            &caller,
            "thresholds",
            "set",
            Some(json(&before)),
            Some(json(&t)),
        )?;
        Ok(Json(t))
    })
    .await
}

/// `t` with what `c` gives, checked.
fn changed_thresholds(mut t: Thresholds, c: &ThresholdsChange) -> Result<Thresholds, ApiError> {
    t.warn = c.warn.unwrap_or(t.warn);
    t.fail = c.fail.unwrap_or(t.fail);
    t.unknown = c.unknown.unwrap_or(t.unknown);
    t.uncovered = c.uncovered.unwrap_or(t.uncovered);
    for (field, v) in [("warn", t.warn), ("fail", t.fail)] {
        if !(0.0..=10.0).contains(&v) {
            return Err(ApiError::field(
                StatusCode::BAD_REQUEST,
                field,
                "scores are 0 to 10",
            ));
        }
    }
    if t.warn > t.fail {
        return Err(ApiError::field(
            StatusCode::BAD_REQUEST,
            "warn",
            "above fail",
        ));
    }
    Ok(t)
}

/// One recorded change of the settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettingChangeView {
    /// When (RFC 3339).
    pub time: String,
    /// Who (`token:<name>`).
    pub actor: String,
    /// `thresholds`, `exceptions`, `vex` or `alert-rules`.
    pub setting: String,
    /// `set`, `create`, `update`, `delete` or `import`.
    pub action: String,
    /// The value before.
    #[schema(value_type = Object)]
    pub before: Option<Value>,
    /// The value after.
    #[schema(value_type = Object)]
    pub after: Option<Value>,
}

/// `GET /settings/history`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// How many, newest first (1 to 1000; default 100).
    pub limit: Option<usize>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/settings/history", params(HistoryQuery),
    responses((status = 200, body = Vec<SettingChangeView>), (status = 400, body = ApiError),
        (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn history(
    State(state): State<Arc<ApiState>>,
    Params(q): Params<HistoryQuery>,
) -> Result<Response, ApiError> {
    let as_csv = wants_csv(q.format.as_deref())?;
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_HISTORY {
        return Err(ApiError::field(
            StatusCode::BAD_REQUEST,
            "limit",
            format!("between 1 and {MAX_HISTORY}"),
        ));
    }
    let store = state.store.clone();
    let changes = blocking(move || store.setting_changes(limit).map_err(ApiError::store)).await?;
    let parse = |t: Option<String>| t.and_then(|t| serde_json::from_str(&t).ok());
    let views: Vec<SettingChangeView> = changes
        .into_iter()
        .map(|c| SettingChangeView {
            time: portcullis_core::format_time(c.time),
            actor: c.actor,
            setting: c.setting,
            action: c.action,
            before: parse(c.before),
            after: parse(c.after),
        })
        .collect();
    Ok(crate::routes::list(&views, as_csv))
}

/// Records a change of the alert rules (for [`crate::views`]).
pub(crate) fn audit_rules(
    store: &dyn ResultStore,
    caller: &Caller,
    action: &str,
    before: Option<Value>,
    after: Option<Value>,
) -> Result<(), ApiError> {
    audit(store, caller, "alert-rules", action, before, after)
}

/// A token as listed (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    /// Its id (`pcl_<id>_...`).
    pub id: String,
    /// Its name.
    pub name: String,
    /// `read`, `write` or `push`.
    pub scope: String,
    /// When it was made (RFC 3339).
    pub created: String,
    /// When it stops working (RFC 3339), if ever.
    pub expires: Option<String>,
    /// Whether it was revoked.
    pub revoked: bool,
}

impl From<portcullis_core::ApiToken> for TokenView {
    fn from(t: portcullis_core::ApiToken) -> TokenView {
        TokenView {
            id: t.id,
            name: t.name,
            scope: t.scope.as_str().to_string(),
            created: portcullis_core::format_time(t.created),
            expires: t.expires.map(portcullis_core::format_time),
            revoked: t.revoked,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/tokens", params(crate::routes::ListFormat),
    responses((status = 200, body = Vec<TokenView>), (status = 401, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn list_tokens(
    State(state): State<Arc<ApiState>>,
    Params(q): Params<crate::routes::ListFormat>,
) -> Result<Response, ApiError> {
    let as_csv = wants_csv(q.format.as_deref())?;
    let store = state.store.clone();
    let tokens = blocking(move || store.tokens().map_err(ApiError::store)).await?;
    let views: Vec<TokenView> = tokens.into_iter().map(TokenView::from).collect();
    Ok(crate::routes::list(&views, as_csv))
}

/// `POST /tokens`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// Its name (the CI pipeline, the person).
    pub name: String,
    /// `read`, `write` or `push`.
    pub scope: String,
    /// How long it lasts (`90d`, `12h`); none: until revoked.
    pub expires: Option<String>,
}

/// A token just made: the only time its secret is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedToken {
    /// The token (`pcl_<id>_<secret>`).
    pub token: String,
    /// What is kept of it.
    pub stored: TokenView,
}

#[utoipa::path(post, path = "/api/v1/tokens", request_body = NewToken,
    responses((status = 201, body = IssuedToken), (status = 400, body = ApiError),
        (status = 401, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn create_token(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    Body(n): Body<NewToken>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    let scope: portcullis_core::TokenScope =
        n.scope
            .parse()
            .map_err(|e: portcullis_core::UnknownScope| {
                ApiError::field(StatusCode::BAD_REQUEST, "scope", e.to_string())
            })?;
    if n.name.trim().is_empty() {
        return Err(ApiError::field(StatusCode::BAD_REQUEST, "name", "empty"));
    }
    let now = time::OffsetDateTime::now_utc();
    let expires = n
        .expires
        .as_deref()
        .map(|e| {
            portcullis_core::parse_duration(e)
                .ok()
                .and_then(|d| time::Duration::try_from(d).ok())
                .and_then(|d| now.checked_add(d))
                .ok_or_else(|| {
                    ApiError::field(
                        StatusCode::BAD_REQUEST,
                        "expires",
                        "a duration such as 90d or 12h",
                    )
                })
        })
        .transpose()?;
    let issued = crate::token::issue(scope, n.name.trim(), expires, now).map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("no randomness from the operating system: {e}"),
        )
    })?;
    let store = state.store.clone();
    let stored = issued.token.clone();
    blocking(move || {
        store
            .put_token(&issued.token, &issued.secret_sha256)
            .map_err(ApiError::store)?;
        audit(
            store.as_ref(),
            &caller,
            "tokens",
            "create",
            None,
            Some(json(&TokenView::from(issued.token.clone()))),
        )?;
        Ok((
            StatusCode::CREATED,
            Json(IssuedToken {
                token: issued.presented,
                stored: TokenView::from(stored),
            }),
        ))
    })
    .await
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}",
    params(("id" = String, Path, description = "The token's id")),
    responses((status = 204, description = "Revoked"), (status = 404, body = ApiError),
        (status = 401, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn revoke_token(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<StatusCode, ApiError> {
    let store = state.store.clone();
    blocking(move || {
        if !store.revoke_token(&id).map_err(ApiError::store)? {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "no such token"));
        }
        audit(
            store.as_ref(),
            &caller,
            "tokens",
            "revoke",
            Some(Value::String(id)),
            None,
        )?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// What new thresholds would change, before they are saved.
#[derive(Debug, Serialize, ToSchema)]
pub struct ThresholdsPreview {
    /// The thresholds asked about.
    #[schema(value_type = Object)]
    pub thresholds: Thresholds,
    /// Images whose status would change.
    pub changes: usize,
    /// Of which to Fail.
    pub to_fail: usize,
    /// Images looked at (those the service holds).
    pub images: usize,
}

#[utoipa::path(post, path = "/api/v1/settings/thresholds/preview", request_body = ThresholdsChange,
    responses((status = 200, body = ThresholdsPreview), (status = 400, body = ApiError),
        (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn preview_thresholds(
    State(state): State<Arc<ApiState>>,
    Body(c): Body<ThresholdsChange>,
) -> Result<Json<ThresholdsPreview>, ApiError> {
    let t = changed_thresholds(state.assurance.thresholds(), &c)?;
    // The reports as held now (not the search snapshot, which may be seconds old): a preview
    // right after an exception counts it.
    let assurance = state.assurance.clone();
    let held = blocking(move || Ok(assurance.held())).await?;
    let mut seen = std::collections::HashSet::new();
    let (mut images, mut changes, mut to_fail) = (0, 0, 0);
    for r in held.iter().filter(|r| seen.insert(r.image.digest.clone())) {
        images += 1;
        let now = portcullis_core::Summary::of(&r.vulnerabilities, &r.coverage, &t).status;
        if now != r.summary.status {
            changes += 1;
            if now == portcullis_core::Status::Fail {
                to_fail += 1;
            }
        }
    }
    Ok(Json(ThresholdsPreview {
        thresholds: t,
        changes,
        to_fail,
        images,
    }))
}
