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
    fn blocked(&self, ip: IpAddr) -> bool {
        let map = self.0.lock();
        map.get(&ip)
            .is_some_and(|(since, n)| since.elapsed() < WINDOW && *n >= MAX_FAILURES)
    }

    fn failed(&self, ip: IpAddr) {
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

/// Who made a request (`token:<name>`), for the audit of what it changes: the handlers behind
/// [`check`] take it as `Extension<Caller>`.
#[derive(Clone, Debug)]
pub(crate) struct Caller(pub(crate) String);

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
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string());
    let store = state.store.clone();
    let verdict = match presented {
        None => Err(AuthError::Missing),
        Some(t) => tokio::task::spawn_blocking(move || {
            token::verify(store.as_ref(), &t, needed, OffsetDateTime::now_utc())
        })
        .await
        .unwrap_or(Err(AuthError::Invalid)),
    };
    match verdict {
        Ok(token) => {
            tracing::debug!(token = %token.id, scope = token.scope.as_str(), path = %req.uri().path(), "API request");
            req.extensions_mut()
                .insert(Caller(format!("token:{}", token.name)));
            next.run(req).await
        }
        Err(e) => {
            // Read what the client sent (a little of it) before answering: closing a connection
            // with unread data resets it, and the client might lose the answer.
            let _ = axum::body::to_bytes(req.into_body(), DRAIN).await;
            let status = if let AuthError::Store(_) = e {
                StatusCode::SERVICE_UNAVAILABLE
            } else if e.unauthenticated() {
                if let Some(ip) = peer {
                    state.failures.failed(ip);
                }
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
