//! Authentication flows and broken transfers against a tiny in-process registry on loopback
//! (a real registry with a token server is more than a test run can start).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use portcullis_image::{ImageError, Options, Target, resolve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::*;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `/v2/` challenges with Bearer; a token needs Basic `user:pass`.
    Bearer,
    /// Every request needs Basic `user:pass`.
    Basic,
    /// No auth; layer blobs are cut off half way with a lying Content-Length.
    Truncate,
}

struct Fake {
    addr: String,
    /// Token requests seen (their query strings).
    token_queries: Arc<Mutex<Vec<String>>>,
}

const TOKEN: &str = "tok-123";

async fn start(mode: Mode, img: &Built) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let mut blobs: HashMap<String, Vec<u8>> = HashMap::new();
    blobs.insert(digest(&img.config), img.config.clone());
    for l in &img.layers {
        blobs.insert(digest(&l.bytes), l.bytes.clone());
    }
    let layer_digests: Vec<String> = img.layers.iter().map(|l| digest(&l.bytes)).collect();
    let manifest = img.manifest.clone();
    let token_queries = Arc::new(Mutex::new(Vec::new()));
    let seen = token_queries.clone();
    let realm = format!("http://{addr}/token");
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let (blobs, manifest, seen, realm, layer_digests) = (
                blobs.clone(),
                manifest.clone(),
                seen.clone(),
                realm.clone(),
                layer_digests.clone(),
            );
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match sock.read(&mut byte).await {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let target = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let auth = head
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("authorization: ")
                            .or_else(|| l.strip_prefix("Authorization: "))
                    })
                    .unwrap_or("")
                    .to_owned();
                let basic_ok = auth
                    == format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode("user:pass")
                    );
                let authed = match mode {
                    Mode::Bearer => auth == format!("Bearer {TOKEN}"),
                    Mode::Basic => basic_ok,
                    Mode::Truncate => true,
                };
                let challenge = match mode {
                    Mode::Bearer => format!("Bearer realm=\"{realm}\",service=\"fake-registry\""),
                    _ => "Basic realm=\"fake\"".to_owned(),
                };
                let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                let mut extra = String::new();
                let (status, body, content_type, declared_len): (
                    &str,
                    Vec<u8>,
                    &str,
                    Option<usize>,
                ) = if path == "/token" {
                    seen.lock().expect("lock").push(query.to_owned());
                    if basic_ok {
                        (
                            "200 OK",
                            format!("{{\"token\":\"{TOKEN}\"}}").into_bytes(),
                            "application/json",
                            None,
                        )
                    } else {
                        (
                            "401 Unauthorized",
                            b"{\"errors\":[{\"code\":\"DENIED\"}]}".to_vec(),
                            "application/json",
                            None,
                        )
                    }
                } else if !authed {
                    extra = format!("WWW-Authenticate: {challenge}\r\n");
                    (
                        "401 Unauthorized",
                        b"{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}".to_vec(),
                        "application/json",
                        None,
                    )
                } else if path == "/v2/" {
                    ("200 OK", b"{}".to_vec(), "application/json", None)
                } else if path.ends_with("/manifests/v1") {
                    (
                        "200 OK",
                        manifest.clone(),
                        "application/vnd.oci.image.manifest.v1+json",
                        None,
                    )
                } else if let Some(d) = path.rsplit_once("/blobs/").map(|(_, d)| d.to_owned()) {
                    match blobs.get(&d) {
                        Some(b) if mode == Mode::Truncate && layer_digests.contains(&d) => (
                            "200 OK",
                            b[..b.len() / 2].to_vec(),
                            "application/octet-stream",
                            Some(b.len()),
                        ),
                        Some(b) => ("200 OK", b.clone(), "application/octet-stream", None),
                        None => ("404 Not Found", b"{}".to_vec(), "application/json", None),
                    }
                } else {
                    ("404 Not Found", b"{}".to_vec(), "application/json", None)
                };
                let len = declared_len.unwrap_or(body.len());
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len}\r\n{extra}Connection: close\r\n\r\n"
                );
                let _ = sock.write_all(response.as_bytes()).await;
                let _ = sock.write_all(&body).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Fake {
        addr,
        token_queries,
    }
}

fn image() -> Built {
    build_image(
        vec![stored(GZIP, tar_layer(&[file("./etc/hello", "world")]))],
        "amd64",
    )
}

fn options(fake: &Fake, cache: &std::path::Path, creds: Option<(&str, &str)>) -> Options {
    Options {
        insecure_registries: vec![fake.addr.clone()],
        creds: creds.map(|(u, p)| (u.to_owned(), p.to_owned())),
        ..opts(cache)
    }
}

fn target(fake: &Fake) -> Target {
    format!("{}/team/app:v1", fake.addr)
        .parse()
        .expect("target")
}

#[tokio::test]
async fn bearer_token_flow_with_credentials() {
    let img = image();
    let fake = start(Mode::Bearer, &img).await;
    let cache = tempfile::tempdir().expect("tempdir");
    let resolved = resolve(
        &target(&fake),
        &options(&fake, cache.path(), Some(("user", "pass"))),
    )
    .await
    .expect("pull");
    assert_eq!(resolved.info.digest, Some(digest(&img.manifest)));
    assert!(
        walk_all(&resolved)
            .expect("walk")
            .view
            .contains_key("/etc/hello")
    );
    let queries = fake.token_queries.lock().expect("lock").clone();
    assert_eq!(
        queries.len(),
        1,
        "one token for the whole pull: {queries:?}"
    );
    assert!(queries[0].contains("service=fake-registry"), "{queries:?}");
    assert!(
        queries[0].contains("scope=repository%3Ateam%2Fapp%3Apull"),
        "{queries:?}"
    );
}

#[tokio::test]
async fn bearer_token_refused_names_the_token_url() {
    let fake = start(Mode::Bearer, &image()).await;
    let cache = tempfile::tempdir().expect("tempdir");
    for creds in [Some(("user", "wrong")), None] {
        let err = resolve(&target(&fake), &options(&fake, cache.path(), creds))
            .await
            .expect_err("refused");
        match &err {
            ImageError::Unauthorized {
                url,
                status,
                detail,
                ..
            } => {
                assert_eq!(*status, 401);
                assert!(
                    url.starts_with(&format!("http://{}/token", fake.addr)),
                    "{url}"
                );
                let expected = if creds.is_some() {
                    "were refused"
                } else {
                    "anonymous"
                };
                assert!(detail.contains(expected), "{detail}");
            }
            other => panic!("expected Unauthorized, got {other}"),
        }
    }
}

#[tokio::test]
async fn basic_auth_flow() {
    let img = image();
    let fake = start(Mode::Basic, &img).await;
    let cache = tempfile::tempdir().expect("tempdir");
    let resolved = resolve(
        &target(&fake),
        &options(&fake, cache.path(), Some(("user", "pass"))),
    )
    .await
    .expect("pull");
    assert_eq!(resolved.stats.blobs_downloaded, 2);
    let err = resolve(&target(&fake), &options(&fake, cache.path(), None))
        .await
        .expect_err("no creds");
    assert!(matches!(err, ImageError::Unauthorized { .. }), "{err}");
    assert!(err.to_string().contains("none are configured"), "{err}");
}

#[tokio::test]
async fn registry_auth_secret_file_supplies_credentials() {
    let img = image();
    let fake = start(Mode::Basic, &img).await;
    let cache = tempfile::tempdir().expect("tempdir");
    let inner = format!(
        r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#,
        fake.addr,
        base64::engine::general_purpose::STANDARD.encode("user:pass")
    );
    let secret = format!(
        "apiVersion: v1\nkind: Secret\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: {}\n",
        base64::engine::general_purpose::STANDARD.encode(inner)
    );
    let path = cache.path().join("secret.yaml");
    std::fs::write(&path, secret).expect("write");
    let o = Options {
        registry_auth: Some(path),
        docker_config: Some(cache.path().join("absent.json")),
        ..options(&fake, cache.path(), None)
    };
    // A named Docker config that does not exist is an error ...
    assert!(matches!(
        resolve(&target(&fake), &o).await,
        Err(ImageError::Auth(_))
    ));
    // ... an existing empty one is fine, and the Secret supplies the login.
    std::fs::write(cache.path().join("absent.json"), "{}").expect("write");
    resolve(&target(&fake), &o)
        .await
        .expect("pull with the Secret's credentials");
}

#[tokio::test]
async fn a_connection_closed_mid_blob_is_an_error_and_leaves_no_cache_file() {
    let img = image();
    let fake = start(Mode::Truncate, &img).await;
    let cache = tempfile::tempdir().expect("tempdir");
    let err = resolve(&target(&fake), &options(&fake, cache.path(), None))
        .await
        .expect_err("truncated");
    let layer = digest(&img.layers[0].bytes);
    assert!(matches!(err, ImageError::Network { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&layer) && msg.contains("team/app"), "{msg}");
    assert!(
        msg.contains(&format!("of {} bytes", img.layers[0].bytes.len())),
        "{msg}"
    );
    let dir = cache.path().join("blobs/sha256");
    let names: Vec<String> = std::fs::read_dir(&dir)
        .expect("list")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        vec![digest(&img.config)["sha256:".len()..].to_owned()],
        "only the config is cached"
    );
}
