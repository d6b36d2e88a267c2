//! Authentication flows and broken transfers against a tiny in-process registry on loopback
//! (the shared test HTTP server answering as a registry would): a real registry with a token
//! server is more than a test run can start; the real registry's Basic auth is tested in
//! `registry.rs` and the scanner's `pull_auth` test.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use portcullis_image::{ImageError, Options, Target, resolve};
use portcullis_test_support::http::{HttpServer, Response};

use crate::support::*;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `/v2/` challenges with Bearer; a token needs Basic `user:pass`.
    Bearer,
    /// Every request needs Basic `user:pass`.
    Basic,
    /// No auth; layer blobs are cut off half way with a lying Content-Length.
    Truncate,
    /// No auth; layer blobs go on 16 MiB past the size their descriptor states.
    Overlong,
    /// No auth; layer blobs answer 500.
    ServerError,
}

struct Fake {
    addr: String,
    /// Token requests seen (their query strings).
    token_queries: Arc<Mutex<Vec<String>>>,
}

const TOKEN: &str = "tok-123";

async fn start(mode: Mode, img: &Built) -> Fake {
    let mut blobs: HashMap<String, Vec<u8>> = HashMap::new();
    blobs.insert(digest(&img.config), img.config.clone());
    for l in &img.layers {
        blobs.insert(digest(&l.bytes), l.bytes.clone());
    }
    let layer_digests: Vec<String> = img.layers.iter().map(|l| digest(&l.bytes)).collect();
    let manifest = img.manifest.clone();
    let token_queries = Arc::new(Mutex::new(Vec::new()));
    let seen = token_queries.clone();
    // The realm names the server's own address, known only once it listens.
    let realm: Arc<Mutex<String>> = Arc::default();
    let own = realm.clone();
    let json = |status: u16, body: &str| {
        Response::new(status, body).header("Content-Type", "application/json")
    };
    let server = HttpServer::start(move |r| {
        let auth = r.header("authorization").unwrap_or("");
        let basic_ok = auth
            == format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("user:pass")
            );
        let authed = match mode {
            Mode::Bearer => auth == format!("Bearer {TOKEN}"),
            Mode::Basic => basic_ok,
            Mode::Truncate | Mode::Overlong | Mode::ServerError => true,
        };
        if r.path == "/token" {
            seen.lock().push(r.query.clone());
            return if basic_ok {
                json(200, &format!("{{\"token\":\"{TOKEN}\"}}"))
            } else {
                json(401, "{\"errors\":[{\"code\":\"DENIED\"}]}")
            };
        }
        if !authed {
            let challenge = match mode {
                Mode::Bearer => {
                    format!("Bearer realm=\"{}\",service=\"fake-registry\"", own.lock())
                }
                _ => "Basic realm=\"fake\"".to_owned(),
            };
            return json(401, "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}")
                .header("WWW-Authenticate", challenge);
        }
        if r.path == "/v2/" {
            return json(200, "{}");
        }
        if r.path.ends_with("/manifests/v1") {
            return Response::new(200, manifest.clone())
                .header("Content-Type", "application/vnd.oci.image.manifest.v1+json");
        }
        let blob = r
            .path
            .rsplit_once("/blobs/")
            .and_then(|(_, d)| blobs.get(d).map(|b| (d, b)));
        match blob {
            // Half the layer under the whole layer's Content-Length: a transfer cut short.
            Some((d, b)) if mode == Mode::Truncate && layer_digests.iter().any(|l| l == d) => {
                Response::new(200, b[..b.len() / 2].to_vec())
                    .header("Content-Type", "application/octet-stream")
                    .declaring_length(b.len())
            }
            Some((d, b)) if mode == Mode::Overlong && layer_digests.iter().any(|l| l == d) => {
                let mut longer = b.clone();
                longer.resize(b.len() + (16 << 20), 0);
                Response::new(200, longer).header("Content-Type", "application/octet-stream")
            }
            Some((d, _)) if mode == Mode::ServerError && layer_digests.iter().any(|l| l == d) => {
                json(500, "{\"errors\":[{\"code\":\"UNKNOWN\"}]}")
            }
            Some((_, b)) => {
                Response::new(200, b.clone()).header("Content-Type", "application/octet-stream")
            }
            None => json(404, "{}"),
        }
    });
    *realm.lock() = format!("{}/token", server.base_url());
    Fake {
        addr: server.addr().to_string(),
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
    assert_eq!(resolved.info.digest, Some(typed(&digest(&img.manifest))));
    assert!(
        walk_all(&resolved)
            .expect("walk")
            .view
            .contains_key("/etc/hello")
    );
    let queries = fake.token_queries.lock().clone();
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
    let (img, cache, err) = failed_pull(Mode::Truncate).await;
    let layer = digest(&img.layers[0].bytes);
    assert!(matches!(err, ImageError::Network { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&layer) && msg.contains("team/app"), "{msg}");
    assert!(
        msg.contains(&format!("of {} bytes", img.layers[0].bytes.len())),
        "{msg}"
    );
    assert_eq!(
        cached_blobs(cache.path()),
        vec![digest(&img.config)["sha256:".len()..].to_owned()],
        "only the config is cached"
    );
}

/// Pulls the test image from a fake registry in `mode`, which must fail: the image, the cache
/// it was pulled into, and the error.
async fn failed_pull(mode: Mode) -> (Built, tempfile::TempDir, ImageError) {
    let img = image();
    let fake = start(mode, &img).await;
    let cache = tempfile::tempdir().expect("tempdir");
    let err = resolve(&target(&fake), &options(&fake, cache.path(), None))
        .await
        .expect_err("the pull fails");
    (img, cache, err)
}

/// The blobs `resolve` left in the cache.
fn cached_blobs(cache: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(cache.join("blobs/sha256"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A layer that goes on past its descriptor's size (a blob that would not end) is cut off at
/// the size plus one chunk and refused, naming it; nothing of it is cached.
#[tokio::test]
async fn a_blob_longer_than_its_descriptor_is_refused_and_not_cached() {
    let (img, cache, err) = failed_pull(Mode::Overlong).await;
    let layer = digest(&img.layers[0].bytes);
    match &err {
        ImageError::SizeMismatch {
            what,
            expected,
            actual,
            ..
        } => {
            assert!(what.contains(&layer), "{err}");
            assert_eq!(*expected, img.layers[0].bytes.len() as u64);
            assert!(
                *actual > *expected && *actual < *expected + (1 << 20),
                "{err}"
            );
        }
        other => panic!("expected SizeMismatch, got {other}"),
    }
    assert_eq!(
        cached_blobs(cache.path()),
        vec![digest(&img.config)["sha256:".len()..].to_owned()]
    );
}

/// A registry answering 500 for a layer: an error naming the status and the blob's URL, and
/// nothing of the layer cached.
#[tokio::test]
async fn a_registry_answering_500_is_named() {
    let (img, cache, err) = failed_pull(Mode::ServerError).await;
    let msg = err.to_string();
    let layer = digest(&img.layers[0].bytes);
    assert!(msg.contains("500") && msg.contains(&layer), "{msg}");
    assert!(
        !cached_blobs(cache.path())
            .iter()
            .any(|b| layer.ends_with(b.as_str()))
    );
}
