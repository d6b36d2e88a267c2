//! The HTTPS server: TLS with rustls (aws-lc-rs), HTTP/1.1 and HTTP/2 through hyper-util's
//! auto builder, certificate reloading, policy watching and graceful shutdown.
//!
//! Connections are accepted on the caller's runtime and handed round-robin to a few
//! connection threads, each running a single-threaded runtime ("thread per core"): a review is
//! read, decided and answered on one thread, and no worker has to wake another. On the
//! multi-threaded runtime the same load cost about a fifth more CPU per review (19 against
//! 15 µs in `scripts/bench-webhook`), much of it in cross-thread wake-ups and stealing. Inline scans do not run there: they are
//! spawned on the runtime that built the [`AppState`].

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::config::ServeConfig;
use crate::state::AppState;
use crate::tls::{self, ReloadingCert};
use crate::{Error, Result};

/// How long open connections get to finish after shutdown is requested.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Installs aws-lc-rs as the process's rustls provider. Harmless when one is installed
/// already (the other crates of the binary use the same provider).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// A bound, not yet running server.
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    acceptor: TlsAcceptor,
    /// The same certificate without client authentication, for the other listeners.
    shared_acceptor: TlsAcceptor,
    app: crate::http::Service,
    cert: PathBuf,
    key: PathBuf,
    ca: Option<PathBuf>,
    background: Vec<tokio::task::JoinHandle<()>>,
    handshake_timeout: Duration,
    connection_threads: usize,
}

/// Binds the listener, loads or generates the certificate, starts the certificate and
/// policy watchers. Policies are loaded from `cfg.policies_dir` once before returning.
pub async fn bind(cfg: ServeConfig, state: Arc<AppState>) -> Result<Server> {
    install_crypto_provider();
    let (cert, key, ca) = match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(c), Some(k)) => (c.clone(), k.clone(), None),
        (None, None) => {
            let g = tls::ensure_generated(&cfg.generated_cert_dir, &cfg.service_names)?;
            (g.cert, g.key, Some(g.ca))
        }
        _ => {
            return Err(Error::Config(
                "--tls-cert and --tls-key must be given together".into(),
            ));
        }
    };
    let resolver = Arc::new(ReloadingCert::new(tls::load_certified_key(&cert, &key)?));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    // rustls: TLS 1.2 and 1.3 only, AEAD suites with forward secrecy only (ECDHE; no CBC, RC4,
    // RSA key exchange or renegotiation), whatever the client offers.
    let config = |verifier: Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>| {
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Config(format!("TLS configuration: {e}")))?;
        let builder = match verifier {
            Some(v) => builder.with_client_cert_verifier(v),
            None => builder.with_no_client_auth(),
        };
        let mut c = builder.with_cert_resolver(resolver.clone());
        c.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok::<_, Error>(Arc::new(c))
    };
    let verifier = match &cfg.client_ca {
        Some(path) => Some(tls::client_verifier(path, provider.clone())?),
        None => None,
    };
    let tls_config = config(verifier)?;
    let shared_config = config(None)?;

    let listener = TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| Error::Bind {
            addr: cfg.listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| Error::Bind {
        addr: cfg.listen,
        source,
    })?;

    let mut background = vec![tls::spawn_reloader(
        resolver,
        cert.clone(),
        key.clone(),
        cfg.cert_poll_interval,
    )];
    if let Some(dir) = &cfg.policies_dir {
        state.reload_policies_from_dir(dir);
        background.push(state.spawn_policy_watcher(dir.clone(), cfg.policy_poll_interval));
    }
    tracing::info!(addr = %local_addr, cert = %cert.display(), "admission webhook listening (HTTPS)");
    Ok(Server {
        listener,
        local_addr,
        acceptor: TlsAcceptor::from(tls_config),
        shared_acceptor: TlsAcceptor::from(shared_config),
        app: crate::http::Service::new(state),
        cert,
        key,
        ca,
        background,
        handshake_timeout: cfg.handshake_timeout,
        connection_threads: cfg.connection_threads,
    })
}

/// Serves until SIGTERM or ctrl-c, then drains open connections.
pub async fn serve(cfg: ServeConfig, state: Arc<AppState>) -> Result<()> {
    bind(cfg, state).await?.run_until(shutdown_signal()).await
}

/// Resolves on SIGTERM (how Kubernetes stops a pod) or ctrl-c.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested");
}

impl Server {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The certificate and key files in use (watched for changes).
    pub fn cert_files(&self) -> (&std::path::Path, &std::path::Path) {
        (&self.cert, &self.key)
    }

    /// The generated CA certificate to trust, when the certificate was generated.
    pub fn generated_ca(&self) -> Option<&std::path::Path> {
        self.ca.as_deref()
    }

    /// A TLS acceptor for other listeners of the process (the API) serving the same
    /// certificate, reloaded for all when its files change; it asks for no client certificate
    /// (the API has tokens).
    pub fn tls_acceptor(&self) -> TlsAcceptor {
        self.shared_acceptor.clone()
    }

    /// Serves until `shutdown` resolves, then stops accepting and gives open connections
    /// a grace period to finish.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> Result<()> {
        let Server {
            listener,
            acceptor,
            app,
            background,
            handshake_timeout,
            connection_threads,
            ..
        } = self;
        let mut threads = match ConnectionThreads::start(connection_threads) {
            Ok(t) => t,
            Err(e) => {
                for task in background {
                    task.abort();
                }
                return Err(e);
            }
        };
        let graceful = GracefulShutdown::new();
        let builder = http_builder();
        tokio::pin!(shutdown);
        while let Some((tcp, peer)) = accept(&listener, &mut shutdown).await {
            // Answers are small and latency-bound: never hold one back waiting for an ACK.
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(%peer, error = %e, "cannot set TCP_NODELAY");
            }
            // Moved to the connection thread's runtime, whose IO driver then polls it.
            let tcp = match tcp.into_std() {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "cannot hand the connection over");
                    continue;
                }
            };
            let acceptor = acceptor.clone();
            let service = app.clone();
            let builder = builder.clone();
            let watcher = graceful.watcher();
            threads.next().spawn(async move {
                let tcp = match tokio::net::TcpStream::from_std(tcp) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "cannot register the connection");
                        return;
                    }
                };
                let Some(tls) = handshake(&acceptor, tcp, peer, handshake_timeout).await else {
                    return;
                };
                let conn = builder
                    .serve_connection_with_upgrades(TokioIo::new(tls), service)
                    .into_owned();
                if let Err(e) = watcher.watch(conn).await {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
            });
        }
        drop(listener);
        for task in background {
            task.abort();
        }
        tokio::select! {
            () = graceful.shutdown() => tracing::info!("all connections closed"),
            () = tokio::time::sleep(SHUTDOWN_GRACE) => tracing::warn!("connections still open after the grace period"),
        }
        threads.stop().await;
        Ok(())
    }
}

/// HTTP/1.1 and HTTP/2 as every listener of the process serves them. The timer lets hyper
/// enforce its header read timeout (slow clients cannot hold connections open forever) and
/// HTTP/2 keep-alive pings.
pub fn http_builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new());
    builder.http2().timer(TokioTimer::new());
    builder
}

/// The next connection on `listener`, or `None` once `shutdown` resolves. Accept errors (out of
/// file descriptors and the like) are logged and waited out instead of spinning.
pub async fn accept<F: Future<Output = ()>>(
    listener: &TcpListener,
    shutdown: &mut std::pin::Pin<&mut F>,
) -> Option<(tokio::net::TcpStream, SocketAddr)> {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(x) => return Some(x),
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            () = shutdown.as_mut() => return None,
        }
    }
}

/// The TLS side of an accepted connection, within `timeout`; `None` (said at debug level)
/// when the handshake fails or takes too long. Every listener of the process (the webhook's,
/// the API's) accepts this way.
pub async fn handshake<IO>(
    acceptor: &TlsAcceptor,
    tcp: IO,
    peer: SocketAddr,
    timeout: Duration,
) -> Option<tokio_rustls::server::TlsStream<IO>>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            None
        }
    }
}

/// The threads that serve connections, each driving a single-threaded runtime until told to
/// stop.
struct ConnectionThreads {
    threads: Vec<ConnectionThread>,
    next: usize,
}

struct ConnectionThread {
    runtime: tokio::runtime::Handle,
    /// Dropping it (or sending) makes the thread end, dropping its runtime.
    stop: tokio::sync::oneshot::Sender<()>,
    join: std::thread::JoinHandle<()>,
}

impl ConnectionThreads {
    /// Starts `n` threads (0: one per CPU the process may use). On an error the threads
    /// already started end when the half-built set is dropped.
    fn start(n: usize) -> Result<ConnectionThreads> {
        let n = match n {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        let threads = (0..n)
            .map(|i| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|source| Error::Threads { source })?;
                let handle = runtime.handle().clone();
                let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
                let join = std::thread::Builder::new()
                    .name(format!("portcullis-conn-{i}"))
                    .spawn(move || {
                        // Returns when told to stop (or when the server is gone); dropping the
                        // runtime then drops whatever connections are left.
                        runtime.block_on(async move {
                            let _ = stopped.await;
                        });
                    })
                    .map_err(|source| Error::Threads { source })?;
                Ok(ConnectionThread {
                    runtime: handle,
                    stop,
                    join,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ConnectionThreads { threads, next: 0 })
    }

    /// The runtime of the next connection, round-robin: connections spread evenly whatever
    /// their addresses.
    fn next(&mut self) -> &tokio::runtime::Handle {
        let i = self.next % self.threads.len();
        self.next = self.next.wrapping_add(1);
        &self.threads[i].runtime
    }

    /// Stops every thread and waits for them to end.
    async fn stop(self) {
        let joins: Vec<_> = self
            .threads
            .into_iter()
            .map(|t| {
                drop(t.stop);
                t.join
            })
            .collect();
        let _ = tokio::task::spawn_blocking(move || {
            for j in joins {
                let _ = j.join();
            }
        })
        .await;
    }
}
