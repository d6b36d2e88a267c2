//! The real HTTPS server: generated certificate, HTTP/1.1 and HTTP/2, certificate reload.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use portcullis_webhook::{API_V1, AdmissionReview, ServeConfig, WebhookConfig};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

use crate::support::*;

fn client(cas: &[&Path], http2: bool) -> reqwest::Client {
    portcullis_webhook::install_crypto_provider();
    let certs: Vec<reqwest::Certificate> = cas
        .iter()
        .map(|p| reqwest::Certificate::from_pem(&std::fs::read(p).unwrap()).unwrap())
        .collect();
    let b = reqwest::Client::builder()
        .tls_certs_only(certs)
        .tls_info(true)
        .pool_max_idle_per_host(0);
    let b = if http2 {
        b.http2_prior_knowledge()
    } else {
        b.http1_only()
    };
    b.build().unwrap()
}

fn leaf_der(cert_pem: &Path) -> Vec<u8> {
    CertificateDer::pem_file_iter(cert_pem)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .to_vec()
}

async fn start(
    cfg: ServeConfig,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let scanner = Arc::new(MapScanner::with_cached(&[
        clean("nginx:1.25"),
        clean("evil.example/x:1"),
    ]));
    let st = state(WebhookConfig::default(), scanner, TRUSTED);
    let server = portcullis_webhook::bind(cfg, st).await.unwrap();
    let addr = server.local_addr();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .run_until(async {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    (addr, tx, task)
}

/// Binds and runs a server whose certificate is generated under `dir`: its port, the CA to
/// trust, and how to stop it.
async fn serve_generated(
    dir: &Path,
    cfg: ServeConfig,
    st: Arc<portcullis_webhook::AppState>,
) -> (
    u16,
    std::path::PathBuf,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<portcullis_webhook::Result<()>>,
) {
    let server = portcullis_webhook::bind(cfg, st).await.unwrap();
    let port = server.local_addr().port();
    let ca = dir.join("certs").join(portcullis_webhook::GENERATED_CA);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run_until(async {
        let _ = stopped.await;
    }));
    (port, ca, stop, task)
}

#[tokio::test]
async fn serves_reviews_over_https_with_a_generated_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ServeConfig::new("127.0.0.1:0".parse().unwrap(), dir.path().join("certs"));
    cfg.service_names = vec!["portcullis.portcullis.svc".into()];
    let (addr, stop, task) = start(cfg).await;
    assert_ne!(addr.port(), 0);
    let ca = dir
        .path()
        .join("certs")
        .join(portcullis_webhook::GENERATED_CA);
    assert!(ca.exists());
    for http2 in [false, true] {
        let c = client(&[&ca], http2);
        for (uid, image, allowed) in [
            ("h-ok", "nginx:1.25", true),
            ("h-no", "evil.example/x:1", false),
        ] {
            let body = wrap(API_V1, pod_request(uid, "default", &[image]));
            let resp = c
                .post(format!("https://localhost:{}/validate", addr.port()))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            let want = if http2 {
                reqwest::Version::HTTP_2
            } else {
                reqwest::Version::HTTP_11
            };
            assert_eq!(resp.version(), want);
            let review: AdmissionReview = resp.json().await.unwrap();
            let r = review.response.unwrap();
            assert_eq!((r.uid.as_str(), r.allowed), (uid, allowed));
        }
        let resp = c
            .get(format!("https://127.0.0.1:{}/healthz", addr.port()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    let resp = client(&[&ca], false)
        .post(format!("https://localhost:{}/validate", addr.port()))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let review: AdmissionReview = resp.json().await.unwrap();
    assert!(!review.response.unwrap().allowed);
    stop.send(()).unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn new_connections_see_a_rewritten_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let a = portcullis_webhook::ensure_generated(&dir.path().join("a"), &[]).unwrap();
    let b = portcullis_webhook::ensure_generated(&dir.path().join("b"), &[]).unwrap();
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::copy(&a.cert, &cert).unwrap();
    std::fs::copy(&a.key, &key).unwrap();
    let mut cfg = ServeConfig::new("127.0.0.1:0".parse().unwrap(), dir.path().join("unused"));
    cfg.tls_cert = Some(cert.clone());
    cfg.tls_key = Some(key.clone());
    cfg.cert_poll_interval = Duration::from_millis(20);
    let (addr, stop, task) = start(cfg).await;
    assert!(
        !dir.path().join("unused").exists(),
        "no certificate is generated when one is given"
    );
    // A new client for every attempt: a client's TLS session cache would resume the old
    // session (no certificate is sent on resumption).
    let c = || client(&[&a.ca, &b.ca], false);
    let url = format!("https://localhost:{}/healthz", addr.port());
    let peer = |resp: &reqwest::Response| {
        resp.extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|t| t.peer_certificate())
            .map(<[u8]>::to_vec)
    };
    let resp = c().get(&url).send().await.unwrap();
    assert_eq!(peer(&resp), Some(leaf_der(&a.cert)));
    // The key first, then the certificate, as a rotation might write them.
    std::fs::copy(&b.key, &key).unwrap();
    std::fs::copy(&b.cert, &cert).unwrap();
    let mut seen_b = false;
    for _ in 0..500 {
        let resp = c().get(&url).send().await.unwrap();
        if peer(&resp) == Some(leaf_der(&b.cert)) {
            seen_b = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(seen_b, "the rewritten certificate was never served");
    stop.send(()).unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn mismatched_cert_and_key_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let a = portcullis_webhook::ensure_generated(&dir.path().join("a"), &[]).unwrap();
    let b = portcullis_webhook::ensure_generated(&dir.path().join("b"), &[]).unwrap();
    let mut cfg = ServeConfig::new("127.0.0.1:0".parse().unwrap(), dir.path().join("unused"));
    cfg.tls_cert = Some(a.cert.clone());
    cfg.tls_key = Some(b.key.clone());
    refused_at_bind(cfg, "tls.crt").await;
}

/// `bind` refuses `cfg` with an error naming `file`.
async fn refused_at_bind(cfg: ServeConfig, file: &str) {
    let st = state(
        WebhookConfig::default(),
        Arc::new(MapScanner::default()),
        TRUSTED,
    );
    let err = portcullis_webhook::bind(cfg, st)
        .await
        .err()
        .expect("refused at start");
    assert!(err.to_string().contains(file), "{err}");
}

/// A scanner whose scan holds its thread (as a CPU-bound layer walk does) until released.
struct BlockingScanner {
    started: std::sync::atomic::AtomicBool,
    release: std::sync::atomic::AtomicBool,
}

impl portcullis_webhook::ImageScanner for BlockingScanner {
    fn scan(&self, image: &str, _: &[portcullis_webhook::PullSecret]) -> ScanFuture<'_> {
        use std::sync::atomic::Ordering::SeqCst;
        let report = clean(image);
        Box::pin(async move {
            self.started.store(true, SeqCst);
            let since = std::time::Instant::now();
            while !self.release.load(SeqCst) && since.elapsed() < Duration::from_secs(20) {
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(report)
        })
    }

    fn cached(&self, image: &str) -> Option<Arc<portcullis_core::ScanReport>> {
        (image == "nginx:1.25").then(|| clean(image))
    }
}

/// Inline scans run on the runtime that built the state, never on a connection thread: with a
/// single connection thread, a review of a cached image is answered while another review's
/// scan holds its thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_scan_does_not_stall_other_connections() {
    use std::sync::atomic::Ordering::SeqCst;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ServeConfig::new("127.0.0.1:0".parse().unwrap(), dir.path().join("certs"));
    cfg.connection_threads = 1;
    let scanner = Arc::new(BlockingScanner {
        started: false.into(),
        release: false.into(),
    });
    let st = Arc::new(portcullis_webhook::AppState::new(
        WebhookConfig::default(),
        scanner.clone(),
        policies(TRUSTED),
    ));
    let (port, ca, stop, task) = serve_generated(dir.path(), cfg, st).await;
    let review = |uid: &str, image: &str| {
        let c = client(&[&ca], false);
        let body = wrap(API_V1, pod_request(uid, "default", &[image]));
        let url = format!("https://localhost:{port}/validate");
        async move {
            let resp = c.post(url).json(&body).send().await.unwrap();
            let review: AdmissionReview = resp.json().await.unwrap();
            review.response.unwrap()
        }
    };
    let slow = tokio::spawn(review("slow", "registry.example/new:1"));
    for _ in 0..500 {
        if scanner.started.load(SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        scanner.started.load(SeqCst),
        "the inline scan never started"
    );
    let answered =
        tokio::time::timeout(Duration::from_secs(10), review("fast", "nginx:1.25")).await;
    let stalled = answered.is_err();
    scanner.release.store(true, SeqCst);
    assert!(
        !stalled,
        "a cached review waited for another connection's scan"
    );
    let fast = answered.unwrap();
    assert!(fast.allowed && fast.uid == "fast");
    let slow = slow.await.unwrap();
    assert!(
        slow.allowed && slow.uid == "slow",
        "the scanned image is clean and must be allowed"
    );
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

/// The server answers the admission endpoints without going through the router (it is
/// slower); every request must still get exactly the router's answer, over both protocols.
#[tokio::test]
async fn the_server_answers_as_the_router_does() {
    use axum::body::Body;
    use tower::ServiceExt as _;
    let dir = tempfile::tempdir().unwrap();
    let cfg = ServeConfig::new("127.0.0.1:0".parse().unwrap(), dir.path().join("certs"));
    let scanner = Arc::new(MapScanner::with_cached(&[
        clean("nginx:1.25"),
        report("registry.example/vulnerable:1", &[("CVE-2024-0001", 9.8)]),
    ]));
    let st = state(WebhookConfig::default(), scanner, TRUSTED);
    let (port, ca, stop, task) = serve_generated(dir.path(), cfg, st.clone()).await;
    let review = |uid: &str, image: &str| {
        serde_json::to_vec(&wrap(API_V1, pod_request(uid, "default", &[image]))).unwrap()
    };
    let requests: Vec<(&str, &str, Vec<u8>)> = vec![
        ("POST", "/validate", review("ok", "nginx:1.25")),
        ("POST", "/validate", review("vuln", "registry.example/vulnerable:1")),
        ("POST", "/validate", review("untrusted", "evil.example/x:1")),
        ("POST", "/mutate", review("pin", "nginx:1.25")),
        ("POST", "/validate", b"{not json".to_vec()),
        ("POST", "/mutate", br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"m","operation":42}}"#.to_vec()),
        ("POST", "/validate?timeout=10s", review("query", "nginx:1.25")),
        ("GET", "/validate", vec![]),
        ("POST", "/validate/", review("slash", "nginx:1.25")),
        ("POST", "/nope", vec![]),
        ("GET", "/healthz", vec![]),
    ];
    for http2 in [false, true] {
        let c = client(&[&ca], http2);
        for (method, path, body) in &requests {
            let want = portcullis_webhook::router(st.clone())
                .oneshot(
                    axum::http::Request::builder()
                        .method(*method)
                        .uri(*path)
                        .header("content-type", "application/json")
                        .body(Body::from(body.clone()))
                        .unwrap(),
                )
                .await
                .unwrap();
            let want_status = want.status().as_u16();
            let want_body = axum::body::to_bytes(want.into_body(), usize::MAX)
                .await
                .unwrap();
            let got = c
                .request(
                    method.parse().unwrap(),
                    format!("https://localhost:{port}{path}"),
                )
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let what = format!("{method} {path} (HTTP/2: {http2})");
            assert_eq!(got.status().as_u16(), want_status, "{what}");
            assert_eq!(got.bytes().await.unwrap(), want_body, "{what}");
        }
    }
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

/// A body over the limit is refused with an AdmissionReview that the client gets to read
/// while it is still sending: over HTTP/1.1 a connection closed on an unread body is reset,
/// and the client saw a broken pipe instead of the answer.
#[tokio::test]
async fn an_oversized_review_gets_a_413_review_over_both_protocols() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ServeConfig::new("127.0.0.1:0".parse().unwrap(), dir.path().join("certs"));
    let st = state(
        WebhookConfig::default(),
        Arc::new(MapScanner::with_cached(&[])),
        TRUSTED,
    );
    let (port, ca, stop, task) = serve_generated(dir.path(), cfg, st).await;
    let body = oversized_review();
    for http2 in [false, true] {
        let resp = client(&[&ca], http2)
            .post(format!("https://localhost:{port}/validate"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("HTTP/2 {http2}: {e:?}"));
        assert_eq!(resp.status(), 413, "HTTP/2 {http2}");
        let review: AdmissionReview = resp.json().await.unwrap();
        let r = review.response.unwrap();
        assert!(!r.allowed);
        assert_eq!(r.status.unwrap().code, Some(413));
    }
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

/// A CA and a client certificate it signed (clientAuth), as PEM: (CA, certificate + key).
fn client_pki(name: &str) -> (String, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, format!("{name} CA"));
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, &ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf.distinguished_name.push(DnType::CommonName, name);
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    (
        ca_cert.pem(),
        format!("{}{}", cert.pem(), key.serialize_pem()),
    )
}

/// With a client CA, the webhook serves only clients whose certificate that CA signed: not a
/// client without one, nor one signed by another CA.
#[tokio::test]
async fn with_a_client_ca_only_its_clients_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, apiserver) = client_pki("kube-apiserver");
    let (_, rogue) = client_pki("rogue");
    std::fs::write(dir.path().join("client-ca.crt"), &ca).unwrap();
    let mut cfg = ServeConfig::new("127.0.0.1:0".parse().unwrap(), dir.path().join("certs"));
    cfg.client_ca = Some(dir.path().join("client-ca.crt"));
    let st = state(
        WebhookConfig::default(),
        Arc::new(MapScanner::with_cached(&[clean("nginx:1.25")])),
        TRUSTED,
    );
    let (port, server_ca, stop, task) = serve_generated(dir.path(), cfg, st).await;
    let body = wrap(API_V1, pod_request("mtls", "default", &["nginx:1.25"]));
    let post = |identity: Option<&str>| {
        let mut b = reqwest::Client::builder()
            .tls_certs_only([
                reqwest::Certificate::from_pem(&std::fs::read(&server_ca).unwrap()).unwrap(),
            ])
            .pool_max_idle_per_host(0);
        if let Some(pem) = identity {
            b = b.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
        }
        let c = b.build().unwrap();
        let body = body.clone();
        async move {
            c.post(format!("https://localhost:{port}/validate"))
                .json(&body)
                .send()
                .await
        }
    };
    let resp = post(Some(&apiserver))
        .await
        .expect("the API server's certificate is accepted");
    assert_eq!(resp.status(), 200);
    let review: AdmissionReview = resp.json().await.unwrap();
    assert!(review.response.unwrap().allowed);
    for (who, identity) in [
        ("no certificate", None),
        ("another CA's", Some(rogue.as_str())),
    ] {
        let err = post(identity).await.expect_err(who);
        assert!(err.is_connect() || err.is_request(), "{who}: {err:?}");
    }
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();

    // A CA file that holds no certificate stops the start, naming the file.
    std::fs::write(dir.path().join("empty.crt"), "").unwrap();
    let mut cfg = ServeConfig::new("127.0.0.1:0".parse().unwrap(), dir.path().join("certs"));
    cfg.client_ca = Some(dir.path().join("empty.crt"));
    refused_at_bind(cfg, "empty.crt").await;
}

/// Only TLS 1.2 and 1.3, and in 1.2 only ECDHE key exchange with AEAD ciphers, whatever the
/// client offers: driven with Debian's openssl, which can offer all of them.
#[tokio::test]
async fn only_tls_12_and_13_with_forward_secret_aead_suites() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ServeConfig::new("127.0.0.1:0".parse().unwrap(), dir.path().join("certs"));
    let st = state(
        WebhookConfig::default(),
        Arc::new(MapScanner::default()),
        TRUSTED,
    );
    let (port, _, stop, task) = serve_generated(dir.path(), cfg, st).await;
    let handshake = move |args: &'static [&'static str]| {
        tokio::task::spawn_blocking(move || {
            let out = std::process::Command::new("openssl")
                .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
                .args(args)
                .stdin(std::process::Stdio::null())
                .output()
                .expect("openssl runs");
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            out.status.success() && text.contains("Cipher is") && !text.contains("Cipher is (NONE)")
        })
    };
    for (args, ok) in [
        (&["-tls1_3"][..], true),
        (
            &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"][..],
            true,
        ),
        (
            &["-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305"][..],
            true,
        ),
        // No forward secrecy, CBC, or an old protocol: refused.
        (&["-tls1_2", "-cipher", "AES128-GCM-SHA256"][..], false),
        (&["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"][..], false),
        (&["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"][..], false),
        (&["-tls1", "-cipher", "DEFAULT@SECLEVEL=0"][..], false),
    ] {
        assert_eq!(
            handshake(args).await.unwrap(),
            ok,
            "openssl s_client {args:?}"
        );
    }
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}
