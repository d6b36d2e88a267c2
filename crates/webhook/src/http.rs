//! The axum router: admission endpoints, health, readiness and metrics.
//!
//! Kept apart from the TLS server so tests can drive it with `oneshot`, without sockets. The
//! server itself answers the admission endpoints through [`Service`], which skips the
//! router's machinery for them and hands everything else to the router.

use std::any::Any;
use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::FutureExt as _;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use tower::ServiceExt as _;
use tower_http::catch_panic::CatchPanicLayer;

use crate::review::{API_V1, AdmissionResponse, AdmissionReview};
use crate::state::{AppState, Endpoint};

/// The largest review body read (the API server's own request limit is 3 MiB; objects
/// with huge annotations stay well below this).
pub const MAX_BODY: usize = 10 * 1024 * 1024;

/// The webhook's routes: `POST /validate`, `POST /mutate`, `GET /healthz`, `GET /readyz`,
/// `GET /metrics`.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/validate", post(validate))
        .route("/mutate", post(mutate))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
        .layer(CatchPanicLayer::custom(panic_response))
}

// The handlers take the whole request: axum's `HeaderMap` extractor copies the headers.
async fn validate(State(state): State<Arc<AppState>>, req: Request) -> Response {
    admit(&state, req, Endpoint::Validate).await
}

async fn mutate(State(state): State<Arc<AppState>>, req: Request) -> Response {
    admit(&state, req, Endpoint::Mutate).await
}

/// The service each connection is served by: `POST /validate` and `POST /mutate` straight
/// from hyper, everything else through [`router`], which routes the admission endpoints the
/// same way (tests drive it without sockets). Going through axum's router cost about a
/// twentieth of the server's CPU per review (route match, the matched-path extension, boxed
/// services and futures), as much as the decision itself.
#[derive(Clone)]
pub(crate) struct Service {
    state: Arc<AppState>,
    router: Router,
}

impl Service {
    pub(crate) fn new(state: Arc<AppState>) -> Service {
        Service {
            router: router(state.clone()),
            state,
        }
    }
}

type Answer = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl<B> hyper::service::Service<axum::http::Request<B>> for Service
where
    B: axum::body::HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, req: axum::http::Request<B>) -> Answer {
        let endpoint = match (req.method(), req.uri().path()) {
            (&Method::POST, "/validate") => Endpoint::Validate,
            (&Method::POST, "/mutate") => Endpoint::Mutate,
            _ => return Box::pin(self.router.clone().oneshot(req.map(Body::new))),
        };
        let state = self.state.clone();
        Box::pin(async move {
            // As the router's panic layer: an AdmissionReview, never a dropped connection.
            Ok(AssertUnwindSafe(admit(&state, req, endpoint))
                .catch_unwind()
                .await
                .unwrap_or_else(panic_response))
        })
    }
}

async fn admit<B>(state: &AppState, req: axum::http::Request<B>, endpoint: Endpoint) -> Response
where
    B: axum::body::HttpBody<Data = Bytes>,
    B::Error: Into<axum::BoxError>,
{
    let (parts, body) = req.into_parts();
    let mut body = pin!(body);
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let declared_too_large = declared.is_some_and(|n| n > MAX_BODY as u64);
    // Through a pinned reference, so what is left of a refused body can still be drained.
    let read = if declared_too_large {
        None
    } else {
        Some(Limited::new(body.as_mut(), MAX_BODY).collect().await)
    };
    let bytes = match read {
        Some(Ok(collected)) => collected.to_bytes(),
        Some(Err(e)) if !e.is::<LengthLimitError>() => {
            let r = AdmissionResponse::invalid("", format!("cannot read the request body: {e}"));
            return review_response(StatusCode::BAD_REQUEST, r.into_review(API_V1));
        }
        // Declared or found larger than the limit.
        _ => {
            // A client that asked before sending (`Expect: 100-continue`, which curl adds to
            // big uploads) has sent nothing yet: reading would invite the upload (hyper
            // answers 100 Continue on the first read), so it is refused straight away.
            let waits = parts
                .headers
                .get(header::EXPECT)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
            if !(declared_too_large && waits) {
                drain(body.as_mut()).await;
            }
            return too_large();
        }
    };
    let (status, review) = state.admit(&bytes, endpoint).await;
    review_response(
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        review,
    )
}

/// How much of a refused body is still read, and for how long (see [`drain`]).
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// Reads and drops what is left of a refused body, within [`DRAIN_LIMIT`] and
/// [`DRAIN_TIME`], before the refusal is sent. Over HTTP/1.1, closing a connection with the
/// body unread makes the kernel reset it, and a client still sending (Go's, hyper's) then
/// reports a broken pipe instead of the answer. Over HTTP/2 an early answer is followed by
/// RST_STREAM(NO_ERROR), which clients must not treat as a failure (RFC 9113 §8.1) but some
/// do (curl 7.88 drops the answer).
async fn drain<B>(mut body: Pin<&mut B>)
where
    B: axum::body::HttpBody<Data = Bytes>,
{
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        let mut drained = 0;
        while let Some(Ok(frame)) = body.as_mut().frame().await {
            drained += frame.data_ref().map_or(0, Bytes::len);
            if drained > DRAIN_LIMIT {
                break;
            }
        }
    })
    .await;
}

fn too_large() -> Response {
    let r = AdmissionResponse::refuse(
        "",
        413,
        "RequestEntityTooLarge",
        format!(
            "the AdmissionReview is larger than the {} MiB this webhook reads",
            MAX_BODY / (1024 * 1024)
        ),
    );
    review_response(StatusCode::PAYLOAD_TOO_LARGE, r.into_review(API_V1))
}

/// The answer when a review cannot be encoded (still an AdmissionReview, uid unknown).
const FAILED_TO_ENCODE: &str = r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"","allowed":false,"status":{"code":500,"message":"the image admission webhook could not encode its answer","reason":"InternalError"}}}"#;

/// The review as JSON. Serialized into a buffer sized for a typical answer (`axum::Json`
/// starts at 128 bytes, one short of the smallest review, and grew it on every request).
fn review_response(status: StatusCode, review: AdmissionReview) -> Response {
    let mut body = Vec::with_capacity(512);
    if let Err(e) = serde_json::to_writer(&mut body, &review) {
        // Our own types with string keys: cannot fail, but never answer with half a review or a bare error.
        tracing::error!(error = %e, "cannot encode an AdmissionReview");
        body = FAILED_TO_ENCODE.as_bytes().to_vec();
    }
    (
        status,
        [(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let r = state.readiness();
    let status = if r.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(r)).into_response()
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics_text(),
    )
        .into_response()
}

/// The last resort: a panic outside evaluation (which catches its own) still gets an
/// AdmissionReview, never a bare 500 page. The uid is unknown here.
fn panic_response(_panic: Box<dyn Any + Send + 'static>) -> Response {
    tracing::error!("panic while handling a request");
    let r = AdmissionResponse::refuse(
        "",
        500,
        "InternalError",
        "the image admission webhook failed internally",
    );
    review_response(StatusCode::INTERNAL_SERVER_ERROR, r.into_review(API_V1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_encoding_failure_answer_is_a_denying_review() {
        let r: AdmissionReview = serde_json::from_str(FAILED_TO_ENCODE).unwrap();
        assert_eq!(
            (r.api_version.as_str(), r.kind.as_str()),
            (API_V1, "AdmissionReview")
        );
        let resp = r.response.unwrap();
        assert!(!resp.allowed);
        assert_eq!(resp.status.unwrap().code, Some(500));
    }
}
