//! Pulling from the real registry `scripts/fixtures` starts (`PORTCULLIS_TEST_REGISTRY`, plain HTTP), which the
//! tests fill themselves through the Registry HTTP API.

use std::time::{SystemTime, UNIX_EPOCH};

use portcullis_image::{ImageError, Options, Target, resolve};
use serde_json::json;

use crate::support::*;
use portcullis_test_support::registry;

fn unique_repo(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("portcullis-it/{name}-{}-{nanos}", std::process::id())
}

struct Pusher {
    http: reqwest::Client,
    host: String,
    repo: String,
}

impl Pusher {
    fn new(host: &str, name: &str) -> Self {
        Pusher {
            http: reqwest::Client::new(),
            host: host.to_owned(),
            repo: unique_repo(name),
        }
    }

    async fn blob(&self, data: &[u8]) -> String {
        let d = digest(data);
        let url = format!("http://{}/v2/{}/blobs/uploads/", self.host, self.repo);
        let resp = self.http.post(&url).send().await.expect("start upload");
        assert_eq!(resp.status().as_u16(), 202, "POST {url}");
        let location = resp.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned();
        let location = if location.starts_with("http") {
            location
        } else {
            format!("http://{}{location}", self.host)
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let resp = self
            .http
            .put(format!("{location}{sep}digest={d}"))
            .header("content-type", "application/octet-stream")
            .body(data.to_vec())
            .send()
            .await
            .expect("upload");
        assert_eq!(resp.status().as_u16(), 201, "PUT blob {d}");
        d
    }

    async fn manifest(&self, reference: &str, media_type: &str, data: &[u8]) -> String {
        let url = format!(
            "http://{}/v2/{}/manifests/{reference}",
            self.host, self.repo
        );
        let resp = self
            .http
            .put(&url)
            .header("content-type", media_type)
            .body(data.to_vec())
            .send()
            .await
            .expect("put manifest");
        assert_eq!(
            resp.status().as_u16(),
            201,
            "PUT {url}: {:?}",
            resp.text().await
        );
        digest(data)
    }

    async fn image(&self, tag: &str, img: &Built) -> String {
        self.blob(&img.config).await;
        for l in &img.layers {
            self.blob(&l.bytes).await;
        }
        self.manifest(
            tag,
            "application/vnd.oci.image.manifest.v1+json",
            &img.manifest,
        )
        .await
    }

    fn target(&self, suffix: &str) -> Target {
        format!("{}/{}{suffix}", self.host, self.repo)
            .parse()
            .expect("target")
    }

    fn opts(&self, cache: &std::path::Path) -> Options {
        Options {
            insecure_registries: vec![self.host.clone()],
            ..opts(cache)
        }
    }
}

#[tokio::test]
async fn pull_by_tag_and_digest_gives_the_layout_view() {
    let Some(host) = registry() else { return };
    let p = Pusher::new(&host, "sample");
    let img = build_image(sample_layers(GZIP), "amd64");
    let manifest_digest = p.image("v1", &img).await;
    let cache = tempfile::tempdir().expect("tempdir");

    let by_tag = resolve(&p.target(":v1"), &p.opts(cache.path()))
        .await
        .expect("pull by tag");
    assert_eq!(
        by_tag.info.digest.as_ref().map(|d| d.as_str()),
        Some(manifest_digest.as_str())
    );
    assert_eq!(by_tag.info.config_digest, Some(typed(&digest(&img.config))));
    assert_eq!(by_tag.info.reference, format!("{host}/{}:v1", p.repo));
    assert_eq!(by_tag.index_digest, None);
    let w = walk_all(&by_tag).expect("walk");
    assert_eq!(final_kinds(&w), sample_final_view());

    // The same image from an OCI layout walks to the same view.
    let dir = tempfile::tempdir().expect("tempdir");
    write_layout(dir.path(), &[("v1", &img)]);
    let local = portcullis_image::resolve_local(
        &format!("oci:{}:v1", dir.path().display())
            .parse()
            .expect("t"),
        &p.opts(cache.path()),
    )
    .expect("layout");
    assert_eq!(
        final_kinds(&walk_all(&local).expect("walk")),
        final_kinds(&w)
    );

    for suffix in [
        format!("@{manifest_digest}"),
        format!(":v1@{manifest_digest}"),
    ] {
        let pinned = resolve(&p.target(&suffix), &p.opts(cache.path()))
            .await
            .expect("pull by digest");
        assert_eq!(
            pinned.info.digest.as_ref().map(|d| d.as_str()),
            Some(manifest_digest.as_str())
        );
        assert_eq!(
            pinned.stats.blobs_downloaded, 0,
            "all blobs are cached by now"
        );
    }
}

#[tokio::test]
async fn second_pull_downloads_nothing_and_a_damaged_cache_file_is_refetched() {
    let Some(host) = registry() else { return };
    let p = Pusher::new(&host, "cache");
    let img = build_image(sample_layers(ZSTD), "amd64");
    p.image("latest", &img).await;
    let cache = tempfile::tempdir().expect("tempdir");

    let first = resolve(&p.target(""), &p.opts(cache.path()))
        .await
        .expect("first pull");
    assert_eq!(
        first.stats.blobs_downloaded, 3,
        "config and two layers: {:?}",
        first.stats
    );
    let total: u64 =
        img.config.len() as u64 + img.layers.iter().map(|l| l.bytes.len() as u64).sum::<u64>();
    assert_eq!(first.stats.bytes_downloaded, total);
    let blob = cache
        .path()
        .join("blobs/sha256")
        .join(&digest(&img.layers[0].bytes)["sha256:".len()..]);
    assert_eq!(first.layers[0].file(), blob.as_path());
    assert_eq!(std::fs::read(&blob).expect("cached"), img.layers[0].bytes);
    let mtime = std::fs::metadata(&blob)
        .and_then(|m| m.modified())
        .expect("mtime");

    let second = resolve(&p.target(":latest"), &p.opts(cache.path()))
        .await
        .expect("second pull");
    assert_eq!(second.stats.blobs_downloaded, 0, "{:?}", second.stats);
    assert_eq!(second.stats.blobs_cached, 3);
    assert_eq!(
        std::fs::metadata(&blob)
            .and_then(|m| m.modified())
            .expect("mtime"),
        mtime
    );
    assert_eq!(
        final_kinds(&walk_all(&second).expect("walk")),
        sample_final_view()
    );

    // A cache file of the wrong size (an interrupted copy by hand) is fetched again.
    std::fs::write(&blob, b"short").expect("damage");
    let third = resolve(&p.target(""), &p.opts(cache.path()))
        .await
        .expect("third pull");
    assert_eq!(third.stats.blobs_downloaded, 1);
    assert_eq!(std::fs::read(&blob).expect("cached"), img.layers[0].bytes);
    let leftovers: Vec<_> = std::fs::read_dir(cache.path().join("blobs/sha256"))
        .expect("list")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[tokio::test]
async fn an_index_resolves_to_the_requested_platform_or_lists_the_available_ones() {
    let Some(host) = registry() else { return };
    let p = Pusher::new(&host, "multi");
    let amd = build_image(
        vec![stored(GZIP, tar_layer(&[file("./only-amd64", "x")]))],
        "amd64",
    );
    let arm = build_image(
        vec![stored(GZIP, tar_layer(&[file("./only-arm64", "y")]))],
        "arm64",
    );
    let amd_digest = p.image(&format!("amd-{}", std::process::id()), &amd).await;
    let arm_digest = p.image(&format!("arm-{}", std::process::id()), &arm).await;
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd_digest, "size": amd.manifest.len(), "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": arm_digest, "size": arm.manifest.len(), "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        ],
    }))
    .expect("json");
    let index_digest = p
        .manifest("multi", "application/vnd.oci.image.index.v1+json", &index)
        .await;
    let cache = tempfile::tempdir().expect("tempdir");

    let o = Options {
        platform: "linux/arm64".parse().expect("platform"),
        ..p.opts(cache.path())
    };
    let img = resolve(&p.target(":multi"), &o).await.expect("arm64");
    assert_eq!(img.info.digest, Some(typed(&arm_digest)));
    assert_eq!(img.index_digest, Some(typed(&index_digest)));
    assert_eq!(img.info.platform.as_deref(), Some("linux/arm64"));
    assert!(
        walk_all(&img)
            .expect("walk")
            .view
            .contains_key("/only-arm64")
    );

    let img = resolve(
        &p.target(&format!("@{index_digest}")),
        &p.opts(cache.path()),
    )
    .await
    .expect("amd64 by digest");
    assert_eq!(img.info.digest, Some(typed(&amd_digest)));

    let o = Options {
        platform: "linux/ppc64le".parse().expect("platform"),
        ..p.opts(cache.path())
    };
    let err = resolve(&p.target(":multi"), &o)
        .await
        .expect_err("no ppc64le");
    assert!(matches!(err, ImageError::Platform { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("linux/ppc64le") && msg.contains("linux/amd64, linux/arm64/v8"),
        "{msg}"
    );
}

#[tokio::test]
async fn missing_tags_and_repositories_are_404_with_the_url() {
    let Some(host) = registry() else { return };
    let p = Pusher::new(&host, "absent");
    let cache = tempfile::tempdir().expect("tempdir");
    let err = resolve(&p.target(":nope"), &p.opts(cache.path()))
        .await
        .expect_err("absent");
    match &err {
        ImageError::NotFound { url, image } => {
            assert_eq!(url, &format!("http://{host}/v2/{}/manifests/nope", p.repo));
            assert!(image.contains(&p.repo));
        }
        other => panic!("expected NotFound, got {other}"),
    }
}

#[tokio::test]
async fn plain_http_only_for_listed_insecure_registries() {
    let Some(host) = registry() else { return };
    let p = Pusher::new(&host, "tls");
    let cache = tempfile::tempdir().expect("tempdir");
    let err = resolve(&p.target(":x"), &opts(cache.path()))
        .await
        .expect_err("https to a plain-HTTP registry");
    assert!(matches!(err, ImageError::Network { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("https://{host}/v2/")) && msg.contains("insecure registry"),
        "{msg}"
    );
}

/// A manifest listing 10,000 layers (one small blob, as a registry accepts) is refused at
/// resolve, naming the limit, before any layer is fetched or anything is cached.
#[tokio::test]
async fn a_manifest_of_ten_thousand_layers_is_refused_before_any_pull() {
    let Some(host) = registry() else { return };
    let p = Pusher::new(&host, "layers");
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = p.blob(config).await;
    let layer = gzip(&tar_layer(&[file("etc/hostname", "hostile\n")]));
    let layer_digest = p.blob(&layer).await;
    let one = json!({
        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
        "digest": layer_digest,
        "size": layer.len(),
    });
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": vec![one; 10_000],
    });
    p.manifest(
        "many",
        "application/vnd.oci.image.manifest.v1+json",
        manifest.to_string().as_bytes(),
    )
    .await;
    let cache = tempfile::tempdir().expect("tempdir");
    let err = resolve(&p.target(":many"), &p.opts(cache.path()))
        .await
        .expect_err("10,000 layers");
    let msg = err.to_string();
    assert!(msg.contains("10000 layers, more than the 1000"), "{msg}");
    let blobs = walkdir_files(cache.path());
    assert!(
        !blobs
            .iter()
            .any(|f| f.contains(layer_digest.trim_start_matches("sha256:"))),
        "a layer was fetched: {blobs:?}"
    );
}

/// Every file under `dir`, as paths.
fn walkdir_files(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.display().to_string());
            }
        }
    }
    out
}
