//! `docker save` / skopeo `docker-archive:` tarballs. Layers are read in place, at their offset
//! inside the archive, never extracted.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use portcullis_core::ImageInfo;
use serde::Deserialize;

use crate::layout::{self, BlobStore};
use crate::manifest;
use crate::options::Options;
use portcullis_core::Digest;

use crate::target::Target;
use crate::{ImageError, Layer, PullStats, ResolvedImage, Result, Source, Verify};

/// How many symlinks between members are followed before giving up (a loop).
const MAX_LINK_HOPS: usize = 16;

#[derive(Clone, Copy, Debug)]
struct Member {
    offset: u64,
    len: u64,
}

struct ArchiveStore {
    image: String,
    path: PathBuf,
    members: HashMap<String, Member>,
}

impl ArchiveStore {
    fn member(&self, name: &str) -> Result<Member> {
        let key = normalize_member(name).unwrap_or_default();
        self.members
            .get(&key)
            .copied()
            .ok_or_else(|| ImageError::Invalid {
                image: self.image.clone(),
                what: format!("archive {} has no member `{name}`", self.path.display()),
            })
    }

    fn read_member(&self, name: &str) -> Result<Vec<u8>> {
        let m = self.member(name)?;
        layout::read_range(&self.image, &self.path, m.offset, m.len, name)
    }
}

impl BlobStore for ArchiveStore {
    fn image(&self) -> &str {
        &self.image
    }

    fn locate(&self, digest: &Digest) -> Result<(PathBuf, u64, u64)> {
        let (algo, hex) = (digest.algorithm(), digest.encoded());
        let m = self.member(&format!("blobs/{algo}/{hex}"))?;
        Ok((self.path.clone(), m.offset, m.len))
    }
}

/// One image of `manifest.json`.
#[derive(Debug, Deserialize)]
struct SaveManifest {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// Resolves `docker-archive:FILE`.
pub(crate) fn resolve(target: &Target, path: &Path, opts: &Options) -> Result<ResolvedImage> {
    let image = target.to_string();
    let (file, keep) = maybe_decompress(&image, path, opts)?;
    let members = index_members(&image, &file)?;
    let store = ArchiveStore {
        image: image.clone(),
        path: file,
        members,
    };

    if store.members.contains_key("index.json") {
        let index = store.read_member("index.json")?;
        match layout::resolve_index(&store, &index, None, opts) {
            Ok(mut img) => {
                img._keep = keep;
                return Ok(img);
            }
            // Docker 25+ writes both formats; an index pointing at platforms whose blobs were
            // not saved can still be read through manifest.json.
            Err(e) if store.members.contains_key("manifest.json") => {
                tracing::debug!(image, error = %e, "OCI index in archive unusable, using manifest.json");
            }
            Err(e) => return Err(e),
        }
    }
    let manifest_bytes = store.read_member("manifest.json")?;
    let bad = |what: String| ImageError::Manifest {
        image: image.clone(),
        what,
    };
    let list: Vec<SaveManifest> = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| bad(format!("manifest.json is not valid: {e}")))?;
    let m = match list.as_slice() {
        [only] => only,
        [] => return Err(bad("manifest.json lists no images".into())),
        many => {
            let tags: Vec<String> = many
                .iter()
                .flat_map(|m| m.repo_tags.clone().unwrap_or_default())
                .collect();
            return Err(ImageError::Invalid {
                image: image.clone(),
                what: format!(
                    "archive holds {} images ({}); save one image per archive",
                    many.len(),
                    tags.join(", ")
                ),
            });
        }
    };
    let config_bytes = store.read_member(&m.config)?;
    let config: serde_json::Value = serde_json::from_slice(&config_bytes)
        .map_err(|e| bad(format!("config {} is not JSON: {e}", m.config)))?;
    let diff_ids: Vec<String> = config
        .pointer("/rootfs/diff_ids")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|d| d.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut layers = Vec::with_capacity(m.layers.len());
    for (i, name) in m.layers.iter().enumerate() {
        let member = store.member(name)?;
        // Newer saves name layers by their stored digest; older ones store uncompressed tars
        // whose digest is the config's diff_id.
        let by_name = normalize_member(name).and_then(|n| {
            n.strip_prefix("blobs/sha256/")
                .and_then(|h| Digest::sha256(&format!("sha256:{h}")))
        });
        let (digest, verify) = match (by_name, diff_ids.get(i).and_then(|d| Digest::sha256(d))) {
            (Some(d), _) => (Some(d.clone()), Verify::Stored(d)),
            (None, Some(diff)) => (Some(diff.clone()), Verify::Uncompressed(diff)),
            _ => (None, Verify::None),
        };
        layers.push(Layer {
            digest,
            media_type: None,
            size: Some(member.len),
            source: Source::Blob {
                path: store.path.clone(),
                offset: member.offset,
                len: member.len,
                verify,
            },
        });
    }
    Ok(ResolvedImage {
        info: ImageInfo {
            reference: image,
            digest: None,
            config_digest: Some(manifest::sha256_digest(&config_bytes)),
            os: None,
            platform: manifest::config_platform(&config),
            layers: layers.iter().filter_map(|l| l.digest.clone()).collect(),
            config: None,
        },
        layers,
        config: Some(config),
        index_digest: None,
        limits: opts.limits,
        stats: PullStats::default(),
        _keep: keep,
    })
}

/// A gzip-compressed archive (`docker save | gzip`) is decompressed once into a temporary
/// file under the cache directory, since layers are read by offset.
fn maybe_decompress(
    image: &str,
    path: &Path,
    opts: &Options,
) -> Result<(PathBuf, Option<Arc<tempfile::TempPath>>)> {
    let io = |source| ImageError::Io {
        image: image.to_owned(),
        path: path.to_owned(),
        source,
    };
    let mut f = File::open(path).map_err(io)?;
    let mut magic = [0u8; 4];
    let mut n = 0;
    while n < magic.len() {
        match f.read(&mut magic[n..]).map_err(io)? {
            0 => break,
            k => n += k,
        }
    }
    let compressed = matches!(&magic[..n], [0x1f, 0x8b, ..] | [0x28, 0xb5, 0x2f, 0xfd]);
    if !compressed {
        return Ok((path.to_owned(), None));
    }
    let tmp_dir = opts.cache_dir.join("tmp");
    let cache = |source| ImageError::Cache {
        image: image.to_owned(),
        path: tmp_dir.clone(),
        source,
    };
    std::fs::create_dir_all(&tmp_dir).map_err(cache)?;
    let mut tmp = tempfile::NamedTempFile::new_in(&tmp_dir).map_err(cache)?;
    let f = BufReader::with_capacity(256 << 10, File::open(path).map_err(io)?);
    let mut dec: Box<dyn Read> = if magic[0] == 0x1f {
        Box::new(flate2::bufread::MultiGzDecoder::new(f))
    } else {
        Box::new(zstd::Decoder::with_buffer(f).map_err(io)?)
    };
    std::io::copy(&mut dec, tmp.as_file_mut()).map_err(|e| ImageError::Invalid {
        image: image.to_owned(),
        what: format!("cannot decompress {}: {e}", path.display()),
    })?;
    let tmp = tmp.into_temp_path();
    Ok((tmp.to_path_buf(), Some(Arc::new(tmp))))
}

/// `./a//b/` → `a/b`; `None` for names that climb out of the archive.
fn normalize_member(name: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for p in name.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// Lists the archive's regular members with their data offsets, following symlinks and
/// hardlinks between members (docker save links identical layers).
fn index_members(image: &str, path: &Path) -> Result<HashMap<String, Member>> {
    let file = File::open(path).map_err(|source| ImageError::Io {
        image: image.to_owned(),
        path: path.to_owned(),
        source,
    })?;
    let bad = |e: std::io::Error| ImageError::Invalid {
        image: image.to_owned(),
        what: format!("{} is not a readable tar archive: {e}", path.display()),
    };
    let mut archive = tar::Archive::new(file);
    let mut members = HashMap::new();
    let mut links: HashMap<String, String> = HashMap::new();
    for entry in archive.entries_with_seek().map_err(bad)? {
        let entry = entry.map_err(bad)?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some(name) = normalize_member(&raw) else {
            continue;
        };
        let et = entry.header().entry_type();
        if et.is_file() {
            members.insert(
                name,
                Member {
                    offset: entry.raw_file_position(),
                    len: entry.size(),
                },
            );
        } else if et.is_symlink() || et.is_hard_link() {
            let Some(target) = entry
                .link_name_bytes()
                .map(|t| String::from_utf8_lossy(&t).into_owned())
            else {
                continue;
            };
            // Symlinks are relative to the member's directory, hardlinks to the archive root.
            let resolved = if et.is_symlink() && !target.starts_with('/') {
                let parent = name.rsplit_once('/').map_or("", |(p, _)| p);
                format!("{parent}/{target}")
            } else {
                target
            };
            if let Some(t) = normalize_member(&resolved) {
                links.insert(name, t);
            }
        }
    }
    for (name, first) in &links {
        let mut target = first;
        for _ in 0..MAX_LINK_HOPS {
            if let Some(m) = members.get(target).copied() {
                members.insert(name.clone(), m);
                break;
            }
            match links.get(target) {
                Some(next) => target = next,
                None => break,
            }
        }
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::normalize_member;

    #[test]
    fn member_names_normalise() {
        assert_eq!(normalize_member("./a//b/").as_deref(), Some("a/b"));
        assert_eq!(normalize_member("a/../b").as_deref(), Some("b"));
        assert_eq!(normalize_member("../x"), None);
    }
}
