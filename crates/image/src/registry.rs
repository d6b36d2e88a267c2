//! Pulling from a Docker Registry v2 / OCI distribution registry into the blob cache.
//!
//! Manifests are fetched fresh (tags move); blobs go into a content-addressed cache
//! (`<cache_dir>/blobs/sha256/<hex>`), verified while streamed, written through a temporary
//! file in the same directory and renamed, so a cache file is always complete and correct.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use futures_util::{StreamExt as _, TryStreamExt as _};
use portcullis_core::ImageInfo;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use sha2::{Digest as _, Sha256};

use crate::auth::{Challenge, Credentials, Login, parse_challenge};
use crate::layout::MAX_METADATA_BYTES;
use crate::manifest::{self, Descriptor, Parsed};
use crate::options::Options;
use crate::{BoxError, ImageError, Layer, PullStats, ResolvedImage, Result, Source, Verify};
use portcullis_core::{Attached, Attachment, Digest, ImageRef};

/// Layers downloaded at the same time.
const PARALLEL_BLOBS: usize = 3;
/// How deep indexes may nest before we call it a loop.
const MAX_INDEX_DEPTH: usize = 4;
/// Layers read from one signature or attestation manifest, and referrers from one list.
const MAX_ATTACHED_LAYERS: usize = 64;
/// Attached layers read for one image in all.
const MAX_ATTACHMENTS: usize = 256;
/// The largest attached layer read (an attestation carrying an SBOM can be megabytes).
const MAX_ATTACHMENT_BYTES: u64 = 16 << 20;

struct Client {
    http: reqwest::Client,
    /// `http(s)://host[:port]`.
    base: String,
    image: String,
    repository: String,
    registry: String,
    login: Option<Login>,
    /// The `Authorization` header value once authenticated.
    auth: Option<String>,
    https: bool,
    cache_dir: PathBuf,
    downloaded: AtomicU64,
    bytes: AtomicU64,
    cached: AtomicU64,
    progress: Option<indicatif::ProgressBar>,
}

/// Resolves a registry reference: manifest (through an index to `opts.platform`), config and
/// layers, the latter two into the blob cache.
pub(crate) async fn resolve(
    reference: &ImageRef,
    opts: &Options,
    creds: &Credentials,
) -> Result<ResolvedImage> {
    manifest_of(reference, opts, creds).await?.pull(opts).await
}

/// A registry image whose manifest is fetched and verified, its config and layers not yet:
/// a result cache keyed by digest can decide from [`PendingImage::digest`] whether the image
/// must be pulled at all, and [`PendingImage::pull`] goes on with the same connection and
/// token instead of asking for the manifest again.
pub struct PendingImage {
    client: Client,
    manifest: ImageManifest,
}

impl PendingImage {
    /// The platform manifest's digest (what [`crate::ImageInfo::digest`] will say).
    pub fn digest(&self) -> &Digest {
        &self.manifest.digest
    }

    /// What the registry holds beside the image (cosign signatures and attestations), by
    /// both schemes cosign writes: the `sha256-<hex>.sig` / `.att` tags, and the OCI
    /// referrers API (or, where the registry lacks it, its `sha256-<hex>` fallback tag).
    /// Looked up for the platform manifest and for the index it was reached through.
    /// Absent artifacts are no error; an unreachable or refusing registry is.
    pub async fn attached(&mut self) -> Result<Attached> {
        let mut digests = vec![self.manifest.digest.clone()];
        digests.extend(self.manifest.index_digest.clone());
        let mut out = Attached {
            digests: digests.clone(),
            ..Attached::default()
        };
        for d in &digests {
            let tag = format!("{}-{}", d.algorithm(), d.encoded());
            for suffix in [".sig", ".att"] {
                let tag = format!("{tag}{suffix}");
                self.client
                    .attached_manifest(&tag, &format!("tag {tag}"), &mut out)
                    .await?;
            }
            for referrer in self.client.referrers(d, &tag, &mut out).await? {
                let r = referrer.to_string();
                self.client
                    .attached_manifest(&r, &format!("referrer {r}"), &mut out)
                    .await?;
            }
        }
        Ok(out)
    }

    /// Pulls config and layers into the blob cache.
    pub async fn pull(self, opts: &Options) -> Result<ResolvedImage> {
        let m = self.manifest;
        self.client
            .pull_image(m.digest, m.index_digest, m.config, m.layers, opts)
            .await
    }
}

/// An image manifest reached from a reference.
struct ImageManifest {
    digest: Digest,
    index_digest: Option<Digest>,
    config: Descriptor,
    layers: Vec<Descriptor>,
}

/// Fetches the manifest a reference names, through indexes to `opts.platform`, each verified
/// against the digest that led to it.
pub(crate) async fn manifest_of(
    reference: &ImageRef,
    opts: &Options,
    creds: &Credentials,
) -> Result<PendingImage> {
    let image = reference.to_string();
    let https = !opts
        .insecure_registries
        .iter()
        .any(|h| h == &reference.registry);
    let http = reqwest::Client::builder()
        .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| ImageError::Network {
            image: image.clone(),
            url: String::new(),
            detail: "cannot set up the HTTP client".into(),
            source: Box::new(e),
        })?;
    let mut client = Client {
        http,
        base: format!(
            "{}://{}",
            if https { "https" } else { "http" },
            reference.api_host()
        ),
        image: image.clone(),
        repository: reference.repository.clone(),
        registry: reference.registry.clone(),
        login: creds.lookup(&reference.registry).cloned(),
        auth: None,
        https,
        cache_dir: opts.cache_dir.join("blobs").join("sha256"),
        downloaded: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        cached: AtomicU64::new(0),
        progress: None,
    };
    client.probe().await?;

    let mut wanted = reference.manifest_ref().to_owned();
    let mut expected_digest = reference.digest.clone();
    let mut index_digest = None;
    for _ in 0..MAX_INDEX_DEPTH {
        let (bytes, content_type) = client.get_manifest(&wanted).await?;
        let digest = manifest::sha256_digest(&bytes);
        if let Some(expected) = &expected_digest
            && expected != &digest
        {
            return Err(ImageError::DigestMismatch {
                image: image.clone(),
                what: format!("manifest {wanted}"),
                expected: expected.to_string(),
                actual: digest.to_string(),
            });
        }
        let parsed = manifest::parse(&bytes, content_type.as_deref()).map_err(|what| {
            ImageError::Manifest {
                image: image.clone(),
                what: format!("manifest {digest}: {what}"),
            }
        })?;
        match parsed {
            Parsed::Index(list) => {
                index_digest.get_or_insert(digest);
                let chosen = manifest::select_platform(&list, &opts.platform).map_err(|what| {
                    ImageError::Platform {
                        image: image.clone(),
                        what,
                    }
                })?;
                wanted = chosen.digest.to_string();
                expected_digest = Some(chosen.digest.clone());
            }
            Parsed::Image { config, layers } => {
                let manifest = ImageManifest {
                    digest,
                    index_digest,
                    config,
                    layers,
                };
                return Ok(PendingImage { client, manifest });
            }
        }
    }
    Err(ImageError::Manifest {
        image,
        what: format!("indexes nest deeper than {MAX_INDEX_DEPTH} levels"),
    })
}

impl Client {
    async fn pull_image(
        mut self,
        digest: Digest,
        index_digest: Option<Digest>,
        config: Descriptor,
        layers: Vec<Descriptor>,
        opts: &Options,
    ) -> Result<ResolvedImage> {
        if opts.progress {
            let total = config.size + layers.iter().map(|l| l.size).sum::<u64>();
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(total),
                indicatif::ProgressDrawTarget::stderr(),
            );
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(format!("pulling {}", self.image));
            self.progress = Some(bar);
        }
        let config_path = self.fetch_blob(&config, "config").await?;
        let config_bytes = std::fs::read(&config_path).map_err(|source| ImageError::Cache {
            image: self.image.clone(),
            path: config_path.clone(),
            source,
        })?;
        let config_json: serde_json::Value =
            serde_json::from_slice(&config_bytes).map_err(|e| ImageError::Manifest {
                image: self.image.clone(),
                what: format!("config {} is not JSON: {e}", config.digest),
            })?;
        let paths: Vec<PathBuf> = futures_util::stream::iter(layers.clone())
            .map(|l| {
                let client = &self;
                async move { client.fetch_blob(&l, "layer").await }
            })
            .buffered(PARALLEL_BLOBS)
            .try_collect()
            .await?;
        if let Some(bar) = &self.progress {
            bar.finish_and_clear();
        }
        let out = layers
            .iter()
            .zip(paths)
            .map(|(l, path)| Layer {
                digest: Some(l.digest.clone()),
                media_type: Some(l.media_type.clone()),
                size: Some(l.size),
                // Verified on download; the cache is content-addressed.
                source: Source::Blob {
                    path,
                    offset: 0,
                    len: l.size,
                    verify: Verify::None,
                },
            })
            .collect();
        Ok(ResolvedImage {
            info: ImageInfo {
                reference: self.image.clone(),
                digest: Some(digest),
                config_digest: Some(config.digest.clone()),
                os: None,
                platform: manifest::config_platform(&config_json),
                layers: layers.iter().map(|l| l.digest.clone()).collect(),
                config: None,
            },
            layers: out,
            config: Some(config_json),
            index_digest,
            limits: opts.limits,
            stats: PullStats {
                blobs_downloaded: self.downloaded.load(Ordering::Relaxed),
                bytes_downloaded: self.bytes.load(Ordering::Relaxed),
                blobs_cached: self.cached.load(Ordering::Relaxed),
            },
            _keep: None,
        })
    }

    fn network_error(&self, url: &str, what: &str, e: reqwest::Error) -> ImageError {
        let mut detail = what.to_owned();
        let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(&e);
        while let Some(c) = cause {
            detail.push_str(": ");
            detail.push_str(&c.to_string());
            cause = c.source();
        }
        if e.is_connect() && self.https {
            detail.push_str(&format!(
                " (if {} is a plain-HTTP registry, list it as an insecure registry)",
                self.registry
            ));
        }
        ImageError::Network {
            image: self.image.clone(),
            url: url.to_owned(),
            detail,
            source: Box::new(e) as BoxError,
        }
    }

    /// Turns a non-success response into the error that names what failed.
    async fn status_error(&self, resp: reqwest::Response, url: &str) -> ImageError {
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        let detail: String = body.trim().chars().take(300).collect();
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ImageError::Unauthorized {
                image: self.image.clone(),
                url: url.to_owned(),
                status: status.as_u16(),
                detail: if self.login.is_some() {
                    format!("credentials for {} were refused: {detail}", self.registry)
                } else {
                    format!(
                        "no credentials for {} (anonymous access refused): {detail}",
                        self.registry
                    )
                },
            },
            StatusCode::NOT_FOUND => ImageError::NotFound {
                image: self.image.clone(),
                url: url.to_owned(),
            },
            _ => ImageError::Http {
                image: self.image.clone(),
                url: url.to_owned(),
                status: status.as_u16(),
                detail,
            },
        }
    }

    async fn send(&self, url: &str, accept: Option<&str>) -> Result<reqwest::Response> {
        let mut rb = self.http.get(url);
        if let Some(a) = accept {
            rb = rb.header(ACCEPT, a);
        }
        if let Some(h) = &self.auth {
            rb = rb.header(AUTHORIZATION, h);
        }
        rb.send()
            .await
            .map_err(|e| self.network_error(url, "request failed", e))
    }

    /// GET that answers a 401 challenge once by authenticating and retrying.
    async fn get(&mut self, url: &str, accept: Option<&str>) -> Result<reqwest::Response> {
        let resp = self.send(url, accept).await?;
        if resp.status() != StatusCode::UNAUTHORIZED || self.auth.is_some() {
            return Ok(resp);
        }
        match challenge_of(&resp) {
            Some(challenge) => {
                self.authenticate(challenge, url).await?;
                self.send(url, accept).await
            }
            None => Ok(resp),
        }
    }

    /// `GET /v2/`: checks the registry speaks the API and learns how to authenticate.
    async fn probe(&mut self) -> Result<()> {
        let url = format!("{}/v2/", self.base);
        let resp = self.send(&url, None).await?;
        match resp.status() {
            s if s.is_success() => Ok(()),
            StatusCode::UNAUTHORIZED => match challenge_of(&resp) {
                Some(challenge) => self.authenticate(challenge, &url).await,
                None => Err(self.status_error(resp, &url).await),
            },
            StatusCode::NOT_FOUND => Err(ImageError::Http {
                image: self.image.clone(),
                url,
                status: 404,
                detail: "the host does not serve the registry v2 API".into(),
            }),
            _ => Err(self.status_error(resp, &url).await),
        }
    }

    async fn authenticate(&mut self, challenge: Challenge, url: &str) -> Result<()> {
        match challenge {
            Challenge::Basic { .. } => {
                let Some(login) = &self.login else {
                    return Err(ImageError::Unauthorized {
                        image: self.image.clone(),
                        url: url.to_owned(),
                        status: 401,
                        detail: format!(
                            "{} requires credentials (Basic) and none are configured",
                            self.registry
                        ),
                    });
                };
                let raw = format!("{}:{}", login.username, login.password);
                self.auth = Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                ));
                Ok(())
            }
            Challenge::Bearer { realm, service, .. } => {
                let mut token_url =
                    reqwest::Url::parse(&realm).map_err(|e| ImageError::Unauthorized {
                        image: self.image.clone(),
                        url: url.to_owned(),
                        status: 401,
                        detail: format!("the registry named an invalid token realm `{realm}`: {e}"),
                    })?;
                {
                    let mut q = token_url.query_pairs_mut();
                    if let Some(s) = &service {
                        q.append_pair("service", s);
                    }
                    q.append_pair("scope", &format!("repository:{}:pull", self.repository));
                }
                let mut rb = self.http.get(token_url);
                if let Some(login) = &self.login {
                    rb = rb.basic_auth(&login.username, Some(&login.password));
                }
                let resp = rb
                    .send()
                    .await
                    .map_err(|e| self.network_error(&realm, "token request failed", e))?;
                if !resp.status().is_success() {
                    return Err(self.status_error(resp, &realm).await);
                }
                let body: serde_json::Value = resp
                    .json()
                    .await
                    .map_err(|e| self.network_error(&realm, "token response is not JSON", e))?;
                let token = body
                    .get("token")
                    .or_else(|| body.get("access_token"))
                    .and_then(|t| t.as_str())
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| ImageError::Unauthorized {
                        image: self.image.clone(),
                        url: realm.clone(),
                        status: 200,
                        detail: "token response has no `token`".into(),
                    })?;
                self.auth = Some(format!("Bearer {token}"));
                Ok(())
            }
        }
    }

    async fn get_manifest(&mut self, reference: &str) -> Result<(Vec<u8>, Option<String>)> {
        let url = format!("{}/v2/{}/manifests/{reference}", self.base, self.repository);
        let mut resp = self.get(&url, Some(manifest::ACCEPT)).await?;
        if !resp.status().is_success() {
            return Err(self.status_error(resp, &url).await);
        }
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut bytes = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if (bytes.len() + chunk.len()) as u64 > MAX_METADATA_BYTES {
                        return Err(ImageError::Manifest {
                            image: self.image.clone(),
                            what: format!(
                                "manifest at {url} is larger than {MAX_METADATA_BYTES} bytes"
                            ),
                        });
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(self.network_error(
                        &url,
                        "connection closed while reading the manifest",
                        e,
                    ));
                }
            }
        }
        Ok((bytes, content_type))
    }

    /// The manifest `reference` names, `None` when the registry has none (404).
    async fn optional_manifest(
        &mut self,
        reference: &str,
    ) -> Result<Option<(Vec<u8>, Option<String>)>> {
        match self.get_manifest(reference).await {
            Ok(m) => Ok(Some(m)),
            Err(ImageError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reads the artifact manifest `reference` (a tag or digest) into `out`: each layer's
    /// bytes, checked against its digest. Absent: nothing added. Not a manifest, too many
    /// layers, a layer too large: noted in `out.problems`.
    async fn attached_manifest(
        &mut self,
        reference: &str,
        origin: &str,
        out: &mut Attached,
    ) -> Result<()> {
        #[derive(serde::Deserialize)]
        struct ArtifactManifest {
            #[serde(default)]
            layers: Vec<Descriptor>,
        }
        let Some((bytes, _)) = self.optional_manifest(reference).await? else {
            return Ok(());
        };
        let m: ArtifactManifest = match serde_json::from_slice(&bytes) {
            Ok(m) => m,
            Err(e) => {
                out.problems
                    .push(format!("{origin}: not an artifact manifest: {e}"));
                return Ok(());
            }
        };
        if m.layers.len() > MAX_ATTACHED_LAYERS {
            out.problems.push(format!(
                "{origin}: {} layers, only the first {MAX_ATTACHED_LAYERS} are read",
                m.layers.len()
            ));
        }
        for layer in m.layers.into_iter().take(MAX_ATTACHED_LAYERS) {
            if out.attachments.len() >= MAX_ATTACHMENTS {
                out.problems.push(format!(
                    "{origin}: more than {MAX_ATTACHMENTS} attached layers in all; the rest are not read"
                ));
                break;
            }
            if layer.size > MAX_ATTACHMENT_BYTES {
                out.problems.push(format!(
                    "{origin}: layer {} is {} bytes, over the {MAX_ATTACHMENT_BYTES}-byte limit",
                    layer.digest, layer.size
                ));
                continue;
            }
            let payload = self.small_blob(&layer).await?;
            out.attachments.push(Attachment {
                origin: origin.to_owned(),
                media_type: layer.media_type,
                annotations: layer.annotations,
                payload,
            });
        }
        Ok(())
    }

    /// The manifests that name `digest` as their subject: from the referrers API, else (a
    /// registry without it answers 404) from the fallback tag `tag`'s index.
    async fn referrers(
        &mut self,
        digest: &Digest,
        tag: &str,
        out: &mut Attached,
    ) -> Result<Vec<Digest>> {
        #[derive(serde::Deserialize)]
        struct Index {
            #[serde(default)]
            manifests: Vec<Descriptor>,
        }
        let url = format!("{}/v2/{}/referrers/{digest}", self.base, self.repository);
        let resp = self.get(&url, Some(manifest::OCI_INDEX)).await?;
        let (bytes, origin) = if resp.status().is_success() {
            let bytes = resp
                .bytes()
                .await
                .map_err(|e| self.network_error(&url, "reading the referrers list", e))?;
            (bytes.to_vec(), format!("referrers of {digest}"))
        } else if resp.status() == StatusCode::NOT_FOUND {
            match self.optional_manifest(tag).await? {
                Some((bytes, _)) => (bytes, format!("tag {tag}")),
                None => return Ok(Vec::new()),
            }
        } else {
            return Err(self.status_error(resp, &url).await);
        };
        match serde_json::from_slice::<Index>(&bytes) {
            Ok(index) => {
                if index.manifests.len() > MAX_ATTACHED_LAYERS {
                    out.problems.push(format!(
                        "{origin}: {} referrers, only the first {MAX_ATTACHED_LAYERS} are read",
                        index.manifests.len()
                    ));
                }
                Ok(index
                    .manifests
                    .into_iter()
                    .take(MAX_ATTACHED_LAYERS)
                    .map(|m| m.digest)
                    .collect())
            }
            Err(e) => {
                out.problems.push(format!("{origin}: not an index: {e}"));
                Ok(Vec::new())
            }
        }
    }

    /// A small blob (a signature payload, an attestation) read into memory, checked against
    /// its descriptor's size and digest.
    async fn small_blob(&self, d: &Descriptor) -> Result<Vec<u8>> {
        let url = format!("{}/v2/{}/blobs/{}", self.base, self.repository, d.digest);
        let mut resp = self.send(&url, None).await?;
        if !resp.status().is_success() {
            return Err(self.status_error(resp, &url).await);
        }
        let mut bytes = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if (bytes.len() + chunk.len()) as u64 > d.size {
                        return Err(ImageError::SizeMismatch {
                            image: self.image.clone(),
                            what: format!("attached blob {}", d.digest),
                            expected: d.size,
                            actual: (bytes.len() + chunk.len()) as u64,
                        });
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(self.network_error(&url, "reading an attached blob", e)),
            }
        }
        let actual = manifest::sha256_digest(&bytes);
        if actual != d.digest {
            return Err(ImageError::DigestMismatch {
                image: self.image.clone(),
                what: format!("attached blob {}", d.digest),
                expected: d.digest.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(bytes)
    }

    /// Makes sure the blob is in the cache and returns its path.
    async fn fetch_blob(&self, d: &Descriptor, what: &str) -> Result<PathBuf> {
        let path = self.cache_dir.join(d.digest.encoded());
        let cache_err = |path: &PathBuf, source| ImageError::Cache {
            image: self.image.clone(),
            path: path.clone(),
            source,
        };
        if let Ok(meta) = std::fs::metadata(&path) {
            if meta.len() == d.size {
                self.cached.fetch_add(1, Ordering::Relaxed);
                if let Some(bar) = &self.progress {
                    bar.inc(d.size);
                }
                return Ok(path);
            }
            tracing::warn!(path = %path.display(), "cached blob has the wrong size; downloading again");
            std::fs::remove_file(&path).map_err(|e| cache_err(&path, e))?;
        }
        std::fs::create_dir_all(&self.cache_dir).map_err(|e| cache_err(&self.cache_dir, e))?;
        let url = format!("{}/v2/{}/blobs/{}", self.base, self.repository, d.digest);
        let mut resp = self.send(&url, None).await?;
        if !resp.status().is_success() {
            return Err(self.status_error(resp, &url).await);
        }
        let mut tmp = tempfile::Builder::new()
            .prefix(".partial-")
            .tempfile_in(&self.cache_dir)
            .map_err(|e| cache_err(&self.cache_dir, e))?;
        let mut hasher = Sha256::new();
        let mut n: u64 = 0;
        {
            let mut w = std::io::BufWriter::with_capacity(256 << 10, tmp.as_file_mut());
            loop {
                let chunk = match resp.chunk().await {
                    Ok(Some(c)) => c,
                    Ok(None) => break,
                    Err(e) => {
                        let what = format!(
                            "connection failed after {n} of {} bytes of {what} {}",
                            d.size, d.digest
                        );
                        return Err(self.network_error(&url, &what, e));
                    }
                };
                n += chunk.len() as u64;
                if n > d.size {
                    return Err(ImageError::SizeMismatch {
                        image: self.image.clone(),
                        what: format!("{what} {}", d.digest),
                        expected: d.size,
                        actual: n,
                    });
                }
                hasher.update(&chunk);
                w.write_all(&chunk).map_err(|e| cache_err(&path, e))?;
                if let Some(bar) = &self.progress {
                    bar.inc(chunk.len() as u64);
                }
            }
            w.flush().map_err(|e| cache_err(&path, e))?;
        }
        if n != d.size {
            return Err(ImageError::Network {
                image: self.image.clone(),
                url,
                detail: format!(
                    "connection closed after {n} of {} bytes of {what} {}",
                    d.size, d.digest
                ),
                source: "short body".into(),
            });
        }
        let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
        if actual != d.digest.as_str() {
            return Err(ImageError::DigestMismatch {
                image: self.image.clone(),
                what: format!("{what} {}", d.digest),
                expected: d.digest.to_string(),
                actual,
            });
        }
        tmp.persist(&path).map_err(|e| cache_err(&path, e.error))?;
        self.downloaded.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(n, Ordering::Relaxed);
        Ok(path)
    }
}

fn challenge_of(resp: &reqwest::Response) -> Option<Challenge> {
    let all: Vec<Challenge> = resp
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(parse_challenge)
        .collect();
    // Prefer a token flow when both are offered.
    all.iter()
        .find(|c| matches!(c, Challenge::Bearer { .. }))
        .or(all.first())
        .cloned()
}
