//! The dashboard: plain HTML, CSS and JavaScript embedded in the binary (no build step), served
//! on the API listener at `/`. It reads and changes everything through the public API under
//! `/api/v1`, like any other client.
//!
//! Login takes an API token and keeps it in a `Secure; HttpOnly; SameSite=Strict` cookie (the
//! page's scripts never see it again, and no URL carries it); the API accepts the cookie as it
//! accepts the bearer header, and a change made with it must carry the CSRF header
//! ([`crate::auth`]). Every page is the same document: the script reads the path and the query
//! string, so a filtered view is a link to share.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use portcullis_core::TokenScope;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Caller, Peer, SESSION_COOKIE};
use crate::routes::{ApiError, ApiState, Body};

const INDEX: &str = include_str!("../dashboard/index.html");
const SCRIPT: &str = include_str!("../dashboard/app.js");
const STYLE: &str = include_str!("../dashboard/app.css");

/// How long a dashboard session lasts.
const SESSION_SECONDS: u32 = 12 * 3600;

/// The pages, each the same document.
pub(crate) const PAGES: [&str; 8] = [
    "/",
    "/running",
    "/image",
    "/exceptions",
    "/settings",
    "/alerts",
    "/admission",
    "/login",
];

/// Headers of every dashboard response: only its own scripts and styles run, it is never framed,
/// and no address leaks to other sites.
fn secured(mut resp: Response, content_type: &'static str) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

async fn index() -> Response {
    secured(INDEX.into_response(), "text/html; charset=utf-8")
}

async fn script() -> Response {
    secured(
        SCRIPT.into_response(),
        "application/javascript; charset=utf-8",
    )
}

async fn style() -> Response {
    secured(STYLE.into_response(), "text/css; charset=utf-8")
}

/// `POST /login`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// An API token with the read or write scope.
    pub token: String,
}

/// Who is logged in.
#[derive(Serialize, ToSchema)]
pub struct Session {
    /// The token's name.
    pub name: String,
    /// Its id.
    pub id: String,
    /// `read` or `write`: what the dashboard lets the user do.
    pub scope: String,
}

/// The login form as a browser posts it.
#[derive(Deserialize)]
struct LoginForm {
    token: String,
    #[serde(default)]
    next: Option<String>,
}

/// Checks the token and sets the session cookie. Failed attempts count toward the per-address
/// limit, as the API's do. A browser's form post (`application/x-www-form-urlencoded`) is
/// answered with a redirect (to `next`, a path here, or back to the login page saying why), so
/// logging in is a plain navigation; a JSON post is answered with the session.
async fn login(
    State(state): State<Arc<ApiState>>,
    peer: Option<Extension<Peer>>,
    req: axum::extract::Request,
) -> Result<Response, ApiError> {
    use axum::extract::FromRequest;
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let (token, next) = if is_form {
        let axum::Form(f) = axum::Form::<LoginForm>::from_request(req, &())
            .await
            .map_err(|e| ApiError::field(StatusCode::BAD_REQUEST, "token", e.body_text()))?;
        (f.token, Some(f.next.unwrap_or_default()))
    } else {
        let Body(l) = Body::<Login>::from_request(req, &()).await?;
        (l.token, None)
    };
    let ip = peer.map(|Extension(p)| p.0);
    let checked = check_login(&state, ip, token.trim()).await;
    let Some(next) = next else {
        let t = checked?;
        return with_session(Json(t.0).into_response(), &t.1);
    };
    // A path on this site only: never a redirect elsewhere.
    let next = Some(next)
        .filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\'))
        .unwrap_or_else(|| "/".into());
    match checked {
        Ok((_, token)) => with_session(see_other(&next), &token),
        Err(e) => {
            let why = if e.status == StatusCode::TOO_MANY_REQUESTS {
                "limited"
            } else if e.error.contains("may not read") {
                "scope"
            } else {
                "invalid"
            };
            Ok(see_other(&format!(
                "/login?error={why}&next={}",
                percent(&next)
            )))
        }
    }
}

/// The session of `token` if it may read, else why not.
async fn check_login(
    state: &Arc<ApiState>,
    ip: Option<std::net::IpAddr>,
    token: &str,
) -> Result<(Session, String), ApiError> {
    if ip.is_some_and(|ip| state.failures.blocked(ip)) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed attempts from this address; try again later",
        ));
    }
    match crate::auth::authenticate(state, ip, token.to_string(), TokenScope::Read).await {
        Ok(t) => Ok((
            Session {
                name: t.name,
                id: t.id,
                scope: t.scope.as_str().to_string(),
            },
            token.to_string(),
        )),
        Err(e) => Err(ApiError::field(
            StatusCode::UNAUTHORIZED,
            "token",
            if e.unauthenticated() {
                "not a valid token"
            } else {
                "this token may not read (a push token is for CI)"
            },
        )),
    }
}

/// `resp` with the session cookie of `token`.
fn with_session(mut resp: Response, token: &str) -> Result<Response, ApiError> {
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECONDS}"
    );
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie)
            .map_err(|_| ApiError::field(StatusCode::BAD_REQUEST, "token", "not a valid token"))?,
    );
    Ok(resp)
}

fn see_other(location: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// `s` as a query-string value.
fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Clears the session cookie.
async fn logout() -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&format!(
            "{SESSION_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0"
        ))
        .unwrap_or(HeaderValue::from_static("")),
    );
    resp
}

#[utoipa::path(get, path = "/api/v1/whoami",
    responses((status = 200, body = Session), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn whoami(Extension(caller): Extension<Caller>) -> Json<Session> {
    Json(Session {
        name: caller
            .actor
            .strip_prefix("token:")
            .unwrap_or(&caller.actor)
            .to_string(),
        id: caller.id,
        scope: caller.scope.as_str().to_string(),
    })
}

/// The dashboard's routes (the pages, their assets, login and logout); the API's are apart.
pub(crate) fn router() -> Router<Arc<ApiState>> {
    let mut r = Router::new()
        .route("/assets/app.js", get(script))
        .route("/assets/app.css", get(style))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/image/{digest}", get(index));
    for page in PAGES {
        r = r.route(page, get(index));
    }
    r
}
