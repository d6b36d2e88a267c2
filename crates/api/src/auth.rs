//! The token check in front of every route, and the limit on failed attempts.
//!
//! A request without a token is 401; with a token that is not valid (unknown, forged, revoked,
//! expired) 401 too, with the same body whichever it was; with a valid token whose scope does
//! not allow the route, 403. The check runs before the handler, so no answer tells a caller
//! without the scope whether what it asked for exists. A source address with more than
//! [`MAX_FAILURES`] failed attempts in [`WINDOW`] gets 429 until the window passes. Tokens never
//! reach the log: only their id does.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use portcullis_core::TokenScope;
use time::OffsetDateTime;

use crate::routes::{ApiError, ApiState};
use crate::token::{self, AuthError};

/// Failed attempts a source address may make per [`WINDOW`].
pub const MAX_FAILURES: u32 = 20;
/// The window failed attempts are counted in.
pub const WINDOW: Duration = Duration::from_secs(60);

/// How much of a refused request's body is read before the answer.
const DRAIN: usize = 64 << 10;

/// The peer address of a connection, put on each request by [`crate::serve`].
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub IpAddr);

/// Failed attempts per source address, in the current window.
#[derive(Default)]
pub(crate) struct Failures(Mutex<HashMap<IpAddr, (Instant, u32)>>);

impl Failures {
    pub(crate) fn blocked(&self, ip: IpAddr) -> bool {
        let map = self.0.lock();
        map.get(&ip)
            .is_some_and(|(since, n)| since.elapsed() < WINDOW && *n >= MAX_FAILURES)
    }

    pub(crate) fn failed(&self, ip: IpAddr) {
        let mut map = self.0.lock();
        // Bounded: stale entries go whenever the map grows.
        if map.len() > 10_000 {
            map.retain(|_, (since, _)| since.elapsed() < WINDOW);
        }
        let entry = map.entry(ip).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }
}

/// The dashboard's session cookie: the API token, Secure, HttpOnly, SameSite=Strict.
pub(crate) const SESSION_COOKIE: &str = "portcullis_session";
/// The header every change made with the session cookie carries.
pub(crate) const CSRF_HEADER: &str = "x-portcullis-csrf";

/// The token in the session cookie, when there is one.
pub(crate) fn session_cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == SESSION_COOKIE && !v.is_empty()).then(|| v.to_string())
        })
}

/// Whether a cookie-authenticated change is the dashboard's own: it carries the CSRF header,
/// and an `Origin`, when sent, is this host.
fn csrf_ok(req: &Request) -> bool {
    let headers = req.headers();
    if headers.get(CSRF_HEADER).is_none() {
        return false;
    }
    // HTTP/2 names the host in the URI's authority, HTTP/1.1 in the Host header.
    let host = req
        .uri()
        .authority()
        .map(|a| a.as_str())
        .or_else(|| headers.get(header::HOST).and_then(|h| h.to_str().ok()));
    match headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        None => true,
        Some(origin) => host.is_some_and(|h| origin == format!("https://{h}")),
    }
}

/// Checks the token `presented` from `peer` for `needed` (on a blocking thread: the store
/// blocks), counting a token that is not valid against the address's limit. The API's check
/// and the dashboard's login both authenticate here.
pub(crate) async fn authenticate(
    state: &ApiState,
    peer: Option<IpAddr>,
    presented: String,
    needed: TokenScope,
) -> Result<portcullis_core::ApiToken, AuthError> {
    let store = state.store.clone();
    let verdict = tokio::task::spawn_blocking(move || {
        token::verify(
            store.as_ref(),
            &presented,
            needed,
            OffsetDateTime::now_utc(),
        )
    })
    .await
    .unwrap_or(Err(AuthError::Invalid));
    if let Err(e) = &verdict
        && e.unauthenticated()
        && let Some(ip) = peer
    {
        state.failures.failed(ip);
    }
    verdict
}

/// Who made a request (`token:<name>`), for the audit of what it changes: the handlers behind
/// [`check`] take it as `Extension<Caller>`.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    /// `token:<name>`, as the audit records it.
    pub(crate) actor: String,
    /// The token's id.
    pub(crate) id: String,
    /// The token's scope.
    pub(crate) scope: TokenScope,
}

/// The check in front of a group of routes: lets a request through only with a token whose
/// scope grants the group's (`from_fn_with_state((state, scope), check)`).
pub(crate) async fn check(
    State((state, needed)): State<(Arc<ApiState>, TokenScope)>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req.extensions().get::<Peer>().map(|p| p.0);
    if peer.is_some_and(|ip| state.failures.blocked(ip)) {
        let _ = axum::body::to_bytes(req.into_body(), DRAIN).await;
        return ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed attempts from this address; try again later",
        )
        .into_response();
    }
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string());
    // The dashboard's session cookie carries the token too. A change made with it must carry
    // the CSRF header, which no other site's page can set (no CORS is offered), and the cookie
    // itself is SameSite=Strict.
    let from_cookie = bearer.is_none();
    let presented = bearer.or_else(|| session_cookie(req.headers()));
    if from_cookie && presented.is_some() && !req.method().is_safe() && !csrf_ok(&req) {
        let _ = axum::body::to_bytes(req.into_body(), DRAIN).await;
        return ApiError::new(
            StatusCode::FORBIDDEN,
            format!("a change made with the session cookie needs the {CSRF_HEADER} header"),
        )
        .into_response();
    }
    let verdict = match presented {
        None => {
            // No token counts as a failed attempt too.
            if let Some(ip) = peer {
                state.failures.failed(ip);
            }
            Err(AuthError::Missing)
        }
        Some(t) => authenticate(&state, peer, t, needed).await,
    };
    match verdict {
        Ok(token) => {
            tracing::debug!(token = %token.id, scope = token.scope.as_str(), path = %req.uri().path(), "API request");
            req.extensions_mut().insert(Caller {
                actor: format!("token:{}", token.name),
                id: token.id.clone(),
                scope: token.scope,
            });
            next.run(req).await
        }
        Err(e) => {
            // Read what the client sent (a little of it) before answering: closing a connection
            // with unread data resets it, and the client might lose the answer.
            let _ = axum::body::to_bytes(req.into_body(), DRAIN).await;
            let status = if let AuthError::Store(_) = e {
                StatusCode::SERVICE_UNAVAILABLE
            } else if e.unauthenticated() {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::FORBIDDEN
            };
            let mut resp = ApiError::new(status, e.to_string()).into_response();
            if status == StatusCode::UNAUTHORIZED {
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
            }
            resp
        }
    }
}
