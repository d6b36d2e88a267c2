//! Image sources (registry, OCI layout, docker archive, dir) and the one-pass layer walk.
//!
//! Every way an image can live ends in the same thing: a [`ResolvedImage`], an ordered list of
//! layers that [`walk`] reads once, bottom to top, applying whiteouts, handing each entry to one
//! callback. Consumers never traverse a filesystem themselves.
//!
//! - Warnings (entries skipped because they climb out of the root, unreadable files of a `dir:`
//!   source) are logged with `tracing::warn!` and returned by [`walk_with_warnings`]; [`walk`]
//!   only logs them.
//! - A download progress bar is drawn on stderr when [`Options::progress`] is true (indicatif
//!   hides it when stderr is not a terminal).
//! - Walk limits ([`Limits`]) come from [`Options::limits`] into [`ResolvedImage::limits`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use portcullis_image::{Event, Options, Target, resolve, walk_with_warnings};
//! let target: Target = "oci:/tmp/layout:bookworm".parse()?;
//! let img = resolve(&target, &Options::default()).await?;
//! let warnings = walk_with_warnings(&img, &mut |ev| {
//!     if let Event::Entry(e) = ev {
//!         println!("{}", e.path);
//!     }
//!     Ok(())
//! })?;
//! # Ok(()) }
//! ```

mod archive;
mod auth;
mod layout;
mod manifest;
mod options;
mod registry;
mod target;
mod walk;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use portcullis_core::Digest;

pub use auth::{
    AuthError, Challenge, Credentials, Login, parse_challenge, parse_docker_config,
    parse_pull_secret,
};
pub use manifest::{
    ACCEPT as MANIFEST_ACCEPT, DOCKER_LIST, DOCKER_MANIFEST, MAX_LAYERS, OCI_INDEX, OCI_MANIFEST,
    image_config, is_layer_media_type,
};
pub use options::{BadPlatform, Limits, Options, Platform, default_cache_dir};
pub use portcullis_core::ImageInfo;
pub use portcullis_core::{DOCKER_HUB, DOCKER_HUB_API_HOST, ImageRef};
pub use registry::PendingImage;
pub use target::{Target, TargetError};
pub use walk::{Entry, EntryKind, Event, WalkError, walk, walk_with_warnings};

/// `Result` of this crate's resolving functions.
pub type Result<T, E = ImageError> = std::result::Result<T, E>;

/// A boxed error from a transport library, kept out of the public API by type.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors of resolving a target into a [`ResolvedImage`]. Each names the image and what failed.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The target is an SBOM, not an image; the caller reads it itself.
    #[error("{0} is an SBOM, not an image")]
    NotAnImage(String),
    /// Credentials could not be loaded.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Reading a local file failed.
    #[error("{image}: cannot read {path}")]
    Io {
        /// The image.
        image: String,
        /// The file.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// A local source (OCI layout, docker archive, dir) is malformed or lacks what was asked.
    #[error("{image}: {what}")]
    Invalid {
        /// The image.
        image: String,
        /// What is wrong.
        what: String,
    },
    /// A manifest, index or config is malformed or of an unsupported kind (including
    /// unknown layer media types).
    #[error("{image}: {what}")]
    Manifest {
        /// The image.
        image: String,
        /// What is wrong.
        what: String,
    },
    /// The index has no manifest for the requested platform; the message lists those it has.
    #[error("{image}: {what}")]
    Platform {
        /// The image.
        image: String,
        /// The requested and the available platforms.
        what: String,
    },
    /// Content did not hash to the digest that names it.
    #[error("{image}: digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The image.
        image: String,
        /// Which manifest or blob.
        what: String,
        /// The digest it should have.
        expected: String,
        /// The digest it has.
        actual: String,
    },
    /// A blob was not of the size its descriptor says.
    #[error("{image}: size mismatch for {what}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The image.
        image: String,
        /// Which blob.
        what: String,
        /// Declared size.
        expected: u64,
        /// Actual size (so far, when it already exceeds the declared one).
        actual: u64,
    },
    /// The registry or its token service refused (401/403).
    #[error("{image}: authentication failed ({status}) at {url}: {detail}")]
    Unauthorized {
        /// The image.
        image: String,
        /// The URL that refused.
        url: String,
        /// HTTP status.
        status: u16,
        /// What the server said, or what we lacked.
        detail: String,
    },
    /// The registry answered 404.
    #[error("{image}: not found (404) at {url}")]
    NotFound {
        /// The image.
        image: String,
        /// The URL.
        url: String,
    },
    /// The registry answered an unexpected status.
    #[error("{image}: unexpected HTTP {status} from {url}: {detail}")]
    Http {
        /// The image.
        image: String,
        /// The URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// Start of the body.
        detail: String,
    },
    /// The connection failed or broke (refused, TLS, closed mid-stream, timeout).
    #[error("{image}: {detail} ({url})")]
    Network {
        /// The image.
        image: String,
        /// The URL.
        url: String,
        /// What happened, with hints.
        detail: String,
        /// The transport error.
        #[source]
        source: BoxError,
    },
    /// The blob cache could not be written.
    #[error("{image}: blob cache {path}")]
    Cache {
        /// The image.
        image: String,
        /// The cache file or directory.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
}

/// What a registry pull did, so callers (and tests) can tell cache reuse from download.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PullStats {
    /// Blobs fetched over the network.
    pub blobs_downloaded: u64,
    /// Bytes fetched for those blobs.
    pub bytes_downloaded: u64,
    /// Blobs found in the cache.
    pub blobs_cached: u64,
}

/// Where a layer's bytes are; private so that sources can change without breaking callers.
#[derive(Clone, Debug)]
pub(crate) enum Source {
    /// A (possibly compressed) tar stream at `offset..offset+len` of a file.
    Blob {
        /// File holding the blob (a layout blob, a cache blob, or a whole docker archive).
        path: PathBuf,
        /// Start of the blob in the file.
        offset: u64,
        /// Length of the blob.
        len: u64,
        /// What to verify while streaming.
        verify: Verify,
    },
    /// A root filesystem directory.
    Dir(PathBuf),
}

/// Integrity check done by the walk while it streams a layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verify {
    /// Nothing (already verified, e.g. on download into the content-addressed cache).
    None,
    /// The stored (compressed) bytes hash to this digest.
    Stored(Digest),
    /// The uncompressed tar hashes to this digest (a docker-save `diff_id`).
    Uncompressed(Digest),
}

/// One layer of a resolved image. Its bytes are read by [`walk`] only.
#[derive(Clone, Debug)]
pub struct Layer {
    pub(crate) digest: Option<Digest>,
    pub(crate) media_type: Option<String>,
    pub(crate) size: Option<u64>,
    pub(crate) source: Source,
}

impl Layer {
    /// Digest as in the manifest (`sha256:...`); the `diff_id` for legacy docker archives;
    /// `None` for a `dir:` source.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// Media type from the manifest, when there is one.
    pub fn media_type(&self) -> Option<&str> {
        self.media_type.as_deref()
    }

    /// Stored size in bytes, when known.
    pub fn size(&self) -> Option<u64> {
        self.size
    }

    /// The file the layer is read from (a blob, an archive, or the root directory).
    pub fn file(&self) -> &Path {
        match &self.source {
            Source::Blob { path, .. } | Source::Dir(path) => path,
        }
    }
}

/// An image resolved to its layers, ready for [`walk`].
#[derive(Clone, Debug)]
pub struct ResolvedImage {
    /// What is known of the image (reference, digests, platform, layer digests).
    pub info: ImageInfo,
    /// Layers, bottom first.
    pub layers: Vec<Layer>,
    /// The image config JSON, when the source has one.
    pub config: Option<serde_json::Value>,
    /// When a tag pointed to an index: the index digest (`info.digest` is the platform manifest's).
    pub index_digest: Option<Digest>,
    /// Limits the walk enforces (from [`Options::limits`]; may be changed before walking).
    pub limits: Limits,
    /// What the registry pull did (all zero for local sources).
    pub stats: PullStats,
    /// Keeps temporary files (e.g. a decompressed archive) alive as long as the image.
    pub(crate) _keep: Option<Arc<tempfile::TempPath>>,
}

impl ResolvedImage {
    /// Layer files (each a tar, gzip- or zstd-compressed or not), bottom first, as an image
    /// with no digests, so nothing is verified: what the fuzz target of the walk reads, with
    /// no layout or registry around the bytes under test.
    pub fn from_layer_files(files: &[PathBuf], limits: Limits) -> Result<ResolvedImage> {
        let mut layers = Vec::new();
        for path in files {
            let len = std::fs::metadata(path)
                .map_err(|source| ImageError::Io {
                    image: "layer files".to_string(),
                    path: path.clone(),
                    source,
                })?
                .len();
            layers.push(Layer {
                digest: None,
                media_type: None,
                size: Some(len),
                source: Source::Blob {
                    path: path.clone(),
                    offset: 0,
                    len,
                    verify: Verify::None,
                },
            });
        }
        Ok(ResolvedImage {
            info: ImageInfo::default(),
            layers,
            config: None,
            index_digest: None,
            limits,
            stats: PullStats::default(),
            _keep: None,
        })
    }

    /// A root filesystem directory as an image of one layer without digest (what
    /// `Target::Dir` resolves to); checks that `dir` is a directory.
    pub fn from_dir(dir: &Path, opts: &Options) -> Result<ResolvedImage> {
        let image = format!("dir:{}", dir.display());
        let meta = std::fs::metadata(dir).map_err(|source| ImageError::Io {
            image: image.clone(),
            path: dir.to_owned(),
            source,
        })?;
        if !meta.is_dir() {
            return Err(ImageError::Invalid {
                image,
                what: format!("{} is not a directory", dir.display()),
            });
        }
        Ok(ResolvedImage {
            info: ImageInfo {
                reference: image,
                ..ImageInfo::default()
            },
            layers: vec![Layer {
                digest: None,
                media_type: None,
                size: None,
                source: Source::Dir(dir.to_owned()),
            }],
            config: None,
            index_digest: None,
            limits: opts.limits,
            stats: PullStats::default(),
            _keep: None,
        })
    }
}

/// Resolves `target` to its layers: pulls manifests and blobs (into the cache) for a registry,
/// reads the index of a layout or archive. Does not read layer contents (that is [`walk`]).
/// `Target::Sbom` is [`ImageError::NotAnImage`].
pub async fn resolve(target: &Target, opts: &Options) -> Result<ResolvedImage> {
    match target {
        Target::Registry(reference) => {
            let creds = Credentials::from_options(opts)?;
            registry::resolve(reference, opts, &creds).await
        }
        Target::Sbom(_) => Err(ImageError::NotAnImage(target.to_string())),
        _ => {
            // Local sources do blocking file IO (an archive index may read many headers).
            let (target, opts) = (target.clone(), opts.clone());
            match tokio::task::spawn_blocking(move || resolve_local(&target, &opts)).await {
                Ok(r) => r,
                Err(e) => Err(ImageError::Invalid {
                    image: "local image".into(),
                    what: format!("resolving task failed: {e}"),
                }),
            }
        }
    }
}

/// The manifest of a registry target (through an index to `opts.platform`), fetched and
/// verified without pulling config or layers; pull them with [`PendingImage::pull`]. A result
/// cache keyed by digest asks this first, so a known image is never pulled again. `None` for
/// local targets, whose [`resolve`] reads no network and is cheap anyway.
pub async fn resolve_manifest(target: &Target, opts: &Options) -> Result<Option<PendingImage>> {
    match target {
        Target::Registry(reference) => {
            let creds = Credentials::from_options(opts)?;
            registry::manifest_of(reference, opts, &creds)
                .await
                .map(Some)
        }
        _ => Ok(None),
    }
}

/// [`resolve`] for local targets, synchronously (no runtime needed). A registry target is an
/// [`ImageError::Invalid`] here.
pub fn resolve_local(target: &Target, opts: &Options) -> Result<ResolvedImage> {
    match target {
        Target::OciLayout { dir, tag } => layout::resolve_dir(target, dir, tag.as_deref(), opts),
        Target::DockerArchive(path) => archive::resolve(target, path, opts),
        Target::Dir(dir) => ResolvedImage::from_dir(dir, opts),
        Target::Sbom(_) => Err(ImageError::NotAnImage(target.to_string())),
        Target::Registry(r) => Err(ImageError::Invalid {
            image: r.to_string(),
            what: "a registry image needs the async `resolve`".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: T) {}

    /// The webhook spawns resolution on a multi-threaded runtime and walks on a blocking
    /// thread: both need `Send` futures and `Send + Sync` images.
    #[test]
    fn resolve_future_is_send_and_images_are_shareable() {
        let target: Target = "dir:/nonexistent".parse().expect("target");
        let opts = Options::default();
        send(resolve(&target, &opts));
        let img = ResolvedImage::from_dir(Path::new("/"), &opts).expect("root is a directory");
        send_sync(&img);
    }
}
