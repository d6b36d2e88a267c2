//! Serving the API's router over TLS, on the caller's runtime.
//!
//! The TLS acceptor is the webhook's (`portcullis_webhook::Server::tls_acceptor`): one
//! certificate, reloaded for both when its files change. Each request carries its peer address
//! ([`crate::auth::Peer`]) for the limit on failed attempts.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use crate::auth::Peer;

/// How long a client gets for its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long open connections get to finish after shutdown is requested.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` with `acceptor` until `shutdown` resolves, then lets open
/// connections finish (up to a grace period).
pub async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: Router,
    shutdown: impl Future<Output = ()> + Send,
) {
    let graceful = GracefulShutdown::new();
    let builder = portcullis_webhook::http_builder();
    tokio::pin!(shutdown);
    while let Some((tcp, peer)) = portcullis_webhook::accept(&listener, &mut shutdown).await {
        // Answers are small and latency-bound: never hold one back waiting for an ACK.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(%peer, error = %e, "API: cannot set TCP_NODELAY");
        }
        let acceptor = acceptor.clone();
        let router = router.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let Some(tls) =
                portcullis_webhook::handshake(&acceptor, tcp, peer, HANDSHAKE_TIMEOUT).await
            else {
                return;
            };
            let service = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(Peer(peer.ip()));
                    router.clone().oneshot(req.map(axum::body::Body::new))
                },
            );
            let conn = builder
                .serve_connection_with_upgrades(TokioIo::new(tls), service)
                .into_owned();
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(%peer, error = %e, "API: connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => tracing::warn!("API: connections still open after the grace period"),
    }
}
