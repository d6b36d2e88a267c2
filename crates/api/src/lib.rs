//! The assurance API that `serve` offers beside the webhook (`--api-listen`).
//!
//! - [`router`]: the routes under `/api/v1`, each group behind the token scope it needs, apart
//!   from [`serve`] (TLS, with the webhook's certificate); [`openapi`] documents them (OpenAPI 3.1,
//!   generated from these types, also served at `/api/v1/openapi.json`).
//! - [`Assurance`]: what the routes need of the service beyond the store (matching a pushed
//!   inventory with the DB in force); `serve` implements it with its scanner.
//! - [`token`]: API tokens. A token is `pcl_<id>_<secret>`: the id names it in lists and logs,
//!   the secret is shown once at creation and only its SHA-256 is stored, so neither a copy of
//!   the store nor a log line holds a usable token. Each token has one [`TokenScope`]
//!   (`read`, `write`, `push`).

pub mod alerts;
mod auth;
mod csv;
mod dashboard;
pub mod notify;
mod routes;
mod serve;
mod settings;
mod snapshot;
pub mod token;
mod views;

pub use auth::{MAX_FAILURES, Peer, WINDOW};
pub use dashboard::{Login, Session};
pub use portcullis_core::{ApiToken, TokenScope};
pub use routes::{
    ApiError, ApiState, Assurance, DbSource, ImagePage, ImageQuery, ImageRow, ListFormat, MAX_BODY,
    Push, PushResult, ServiceStatus, openapi, router,
};
pub use serve::serve;
pub use settings::{
    ExceptionChange, ExceptionSelector, ExceptionsQuery, HistoryQuery, IssuedToken, NewToken,
    SettingChangeView, ThresholdsChange, ThresholdsPreview, TokenView, VexDocument, VexSelector,
};
pub use token::{AuthError, Issued, issue, verify};
pub use views::{
    Affected, AffectedImage, Alert, DB_UPDATE_FAIL, DecisionQuery, ExportQuery, ExportRow,
    ListedRule, RunningQuery, TopQuery, TopVulnerability, Workload,
};
