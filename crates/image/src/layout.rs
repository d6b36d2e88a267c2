//! OCI image layouts: a directory (`oci:DIR[:TAG]`) or the same inside a tar archive.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use portcullis_core::{Digest, ImageInfo};

use crate::manifest::{self, Descriptor, Parsed};
use crate::options::Options;
use crate::target::Target;
use crate::{ImageError, Layer, PullStats, ResolvedImage, Result, Source, Verify};

/// Largest manifest, index or config read into memory; real ones are kilobytes.
pub(crate) const MAX_METADATA_BYTES: u64 = 16 << 20;
/// How deep indexes may nest before we call it a loop.
const MAX_INDEX_DEPTH: usize = 4;
/// The annotation that names a tag inside an OCI layout.
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Where the blobs of a layout are: a directory, or members of a tar archive.
pub(crate) trait BlobStore {
    /// The image, for messages.
    fn image(&self) -> &str;
    /// Opens the blob `digest` as `(file, offset, len)`.
    fn locate(&self, digest: &Digest) -> Result<(PathBuf, u64, u64)>;

    /// Reads a small blob, checking its digest and declared size.
    fn read_verified(&self, d: &Descriptor, what: &str) -> Result<Vec<u8>> {
        let (path, offset, len) = self.locate(&d.digest)?;
        if len != d.size {
            return Err(ImageError::SizeMismatch {
                image: self.image().to_owned(),
                what: format!("{what} {}", d.digest),
                expected: d.size,
                actual: len,
            });
        }
        let bytes = read_range(self.image(), &path, offset, len, what)?;
        let actual = manifest::sha256_digest(&bytes);
        if actual != d.digest {
            return Err(ImageError::DigestMismatch {
                image: self.image().to_owned(),
                what: format!("{what} in {}", path.display()),
                expected: d.digest.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(bytes)
    }
}

/// Reads `len` bytes at `offset` of `path` (at most [`MAX_METADATA_BYTES`]).
pub(crate) fn read_range(
    image: &str,
    path: &Path,
    offset: u64,
    len: u64,
    what: &str,
) -> Result<Vec<u8>> {
    if len > MAX_METADATA_BYTES {
        return Err(ImageError::Invalid {
            image: image.to_owned(),
            what: format!(
                "{what} in {} is {len} bytes, more than the {MAX_METADATA_BYTES} allowed",
                path.display()
            ),
        });
    }
    let io = |source| ImageError::Io {
        image: image.to_owned(),
        path: path.to_owned(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    f.seek(SeekFrom::Start(offset)).map_err(io)?;
    let mut buf = Vec::with_capacity(len as usize);
    f.take(len).read_to_end(&mut buf).map_err(io)?;
    if buf.len() as u64 != len {
        return Err(ImageError::Invalid {
            image: image.to_owned(),
            what: format!(
                "{what} in {} is truncated ({} of {len} bytes)",
                path.display(),
                buf.len()
            ),
        });
    }
    Ok(buf)
}

struct LayoutDir {
    image: String,
    dir: PathBuf,
}

impl BlobStore for LayoutDir {
    fn image(&self) -> &str {
        &self.image
    }

    fn locate(&self, digest: &Digest) -> Result<(PathBuf, u64, u64)> {
        let (algo, hex) = (digest.algorithm(), digest.encoded());
        let path = self.dir.join("blobs").join(algo).join(hex);
        let meta = std::fs::metadata(&path).map_err(|source| ImageError::Io {
            image: self.image.clone(),
            path: path.clone(),
            source,
        })?;
        Ok((path, 0, meta.len()))
    }
}

/// Resolves `oci:DIR[:TAG]`.
pub(crate) fn resolve_dir(
    target: &Target,
    dir: &Path,
    tag: Option<&str>,
    opts: &Options,
) -> Result<ResolvedImage> {
    let store = LayoutDir {
        image: target.to_string(),
        dir: dir.to_owned(),
    };
    let index_path = dir.join("index.json");
    let len = std::fs::metadata(&index_path)
        .map_err(|source| ImageError::Io {
            image: store.image.clone(),
            path: index_path.clone(),
            source,
        })?
        .len();
    let index = read_range(&store.image, &index_path, 0, len, "index.json")?;
    resolve_index(&store, &index, tag, opts)
}

/// Picks the image out of a layout's `index.json` and resolves it through `store`.
pub(crate) fn resolve_index(
    store: &dyn BlobStore,
    index: &[u8],
    tag: Option<&str>,
    opts: &Options,
) -> Result<ResolvedImage> {
    let image = store.image().to_owned();
    let bad = |what: String| ImageError::Manifest {
        image: image.clone(),
        what,
    };
    let list = match manifest::parse(index, Some(manifest::OCI_INDEX))
        .map_err(|e| bad(format!("index.json: {e}")))?
    {
        Parsed::Index(list) => list,
        Parsed::Image { .. } => return Err(bad("index.json is a manifest, not an index".into())),
    };
    let tags: Vec<&str> = list
        .iter()
        .filter_map(|d| d.annotations.get(REF_NAME).map(String::as_str))
        .collect();
    let chosen = match tag {
        Some(t) => list
            .iter()
            .find(|d| {
                d.annotations
                    .get(REF_NAME)
                    .is_some_and(|r| r == t || r.ends_with(&format!(":{t}")))
            })
            .ok_or_else(|| ImageError::Invalid {
                image: image.clone(),
                what: format!(
                    "no image tagged `{t}` in index.json; tags: {}",
                    list_or_none(&tags)
                ),
            })?,
        None => match list.as_slice() {
            [only] => only,
            [] => {
                return Err(ImageError::Invalid {
                    image: image.clone(),
                    what: "index.json lists no images".into(),
                });
            }
            _ => {
                return Err(ImageError::Invalid {
                    image: image.clone(),
                    what: format!(
                        "index.json lists {} images; pick one with `oci:DIR:TAG` (tags: {})",
                        list.len(),
                        list_or_none(&tags)
                    ),
                });
            }
        },
    };
    resolve_descriptor(store, chosen.clone(), opts)
}

fn list_or_none(tags: &[&str]) -> String {
    if tags.is_empty() {
        "none".into()
    } else {
        tags.join(", ")
    }
}

/// Follows `d` through nested indexes to an image manifest and builds the image.
fn resolve_descriptor(
    store: &dyn BlobStore,
    mut d: Descriptor,
    opts: &Options,
) -> Result<ResolvedImage> {
    let image = store.image().to_owned();
    let bad = |what: String| ImageError::Manifest {
        image: image.clone(),
        what,
    };
    let mut index_digest = None;
    for _ in 0..MAX_INDEX_DEPTH {
        let bytes = store.read_verified(&d, "manifest")?;
        let ct = (!d.media_type.is_empty()).then_some(d.media_type.as_str());
        match manifest::parse(&bytes, ct).map_err(|e| bad(format!("manifest {}: {e}", d.digest)))? {
            Parsed::Index(list) => {
                index_digest.get_or_insert_with(|| d.digest.clone());
                d = manifest::select_platform(&list, &opts.platform)
                    .map_err(|what| ImageError::Platform {
                        image: image.clone(),
                        what,
                    })?
                    .clone();
            }
            Parsed::Image { config, layers } => {
                let config_bytes = store.read_verified(&config, "config")?;
                let config_json: serde_json::Value = serde_json::from_slice(&config_bytes)
                    .map_err(|e| bad(format!("config {} is not JSON: {e}", config.digest)))?;
                let mut out = Vec::with_capacity(layers.len());
                for l in &layers {
                    let (path, offset, len) = store.locate(&l.digest)?;
                    if len != l.size {
                        return Err(ImageError::SizeMismatch {
                            image: image.clone(),
                            what: format!("layer {}", l.digest),
                            expected: l.size,
                            actual: len,
                        });
                    }
                    out.push(Layer {
                        digest: Some(l.digest.clone()),
                        media_type: Some(l.media_type.clone()),
                        size: Some(l.size),
                        source: Source::Blob {
                            path,
                            offset,
                            len,
                            verify: Verify::Stored(l.digest.clone()),
                        },
                    });
                }
                return Ok(ResolvedImage {
                    info: ImageInfo {
                        reference: image.clone(),
                        digest: Some(d.digest.clone()),
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
                    stats: PullStats::default(),
                    _keep: None,
                });
            }
        }
    }
    Err(bad(format!(
        "indexes nest deeper than {MAX_INDEX_DEPTH} levels"
    )))
}
