//! OCI / Docker manifests and indexes: parsing, media types, platform selection.

use std::collections::BTreeMap;

use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::options::Platform;
use portcullis_core::Digest;

/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker manifest list (multi-platform).
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Everything a manifest GET accepts, best first.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
                          application/vnd.docker.distribution.manifest.list.v2+json, \
                          application/vnd.docker.distribution.manifest.v2+json";

const IMAGE_CONFIGS: &[&str] = &[
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];

const LAYER_TYPES: &[&str] = &[
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar.zstd",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
];

/// Whether `mt` is a layer media type the walk can read.
pub fn is_layer_media_type(mt: &str) -> bool {
    LAYER_TYPES.contains(&mt)
}

/// A content descriptor.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Descriptor {
    #[serde(default)]
    pub(crate) media_type: String,
    pub(crate) digest: Digest,
    pub(crate) size: u64,
    #[serde(default)]
    pub(crate) platform: Option<RawPlatform>,
    #[serde(default)]
    pub(crate) annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Deserialize)]
pub(crate) struct RawPlatform {
    #[serde(default)]
    pub(crate) os: String,
    #[serde(default)]
    pub(crate) architecture: String,
    #[serde(default)]
    pub(crate) variant: Option<String>,
}

impl RawPlatform {
    pub(crate) fn platform(&self) -> Platform {
        Platform::new(&self.os, &self.architecture, self.variant.as_deref())
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    #[serde(default)]
    schema_version: Option<u32>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
}

/// A parsed manifest document.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// An index / manifest list.
    Index(Vec<Descriptor>),
    /// An image manifest.
    Image {
        config: Descriptor,
        layers: Vec<Descriptor>,
    },
}

/// Most layers an image manifest may list. Real images have tens (Docker's overlay driver stops
/// at 128, containerd's mounts near 500); a manifest listing thousands is refused before any
/// blob is fetched, instead of pulling and walking each.
pub const MAX_LAYERS: usize = 1000;

/// Parses manifest bytes, deciding the kind by the document's `mediaType`, else the
/// transport's content type, else its shape. Errors are plain text for the caller to wrap.
pub(crate) fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Parsed, String> {
    let raw: RawManifest =
        serde_json::from_slice(bytes).map_err(|e| format!("manifest is not valid JSON: {e}"))?;
    if raw.schema_version == Some(1) {
        return Err("Docker schema 1 manifests are not supported (deprecated since 2017; re-push the image)".into());
    }
    let content_type = content_type
        .map(|c| c.split(';').next().unwrap_or(c).trim())
        .filter(|c| !c.is_empty());
    let media_type = raw.media_type.as_deref().or(content_type);
    let is_index = match media_type {
        Some(OCI_INDEX | DOCKER_LIST) => true,
        Some(OCI_MANIFEST | DOCKER_MANIFEST) => false,
        // Generic JSON content types: go by shape.
        Some("application/json" | "text/plain" | "application/octet-stream") | None => {
            raw.manifests.is_some()
        }
        Some(other) => return Err(format!("unsupported manifest media type `{other}`")),
    };
    if is_index {
        let list = raw.manifests.ok_or("index has no `manifests`")?;
        for d in &list {
            check_digest(&d.digest)?;
        }
        return Ok(Parsed::Index(list));
    }
    let config = raw.config.ok_or("manifest has no `config`")?;
    check_digest(&config.digest)?;
    if !config.media_type.is_empty() && !IMAGE_CONFIGS.contains(&config.media_type.as_str()) {
        return Err(format!(
            "not a container image: config media type `{}` (an OCI artifact such as a Helm chart or signature?)",
            config.media_type
        ));
    }
    let layers = raw.layers.ok_or("manifest has no `layers`")?;
    if layers.len() > MAX_LAYERS {
        return Err(format!(
            "manifest lists {} layers, more than the {MAX_LAYERS} an image may have here",
            layers.len()
        ));
    }
    for l in &layers {
        check_digest(&l.digest)?;
        if !is_layer_media_type(&l.media_type) {
            return Err(format!(
                "layer {} has unsupported media type `{}`",
                l.digest, l.media_type
            ));
        }
    }
    Ok(Parsed::Image { config, layers })
}

fn check_digest(d: &Digest) -> Result<(), String> {
    if Digest::is_sha256(d.as_str()) {
        Ok(())
    } else {
        Err(format!(
            "unsupported or malformed digest `{d}` (only sha256 is supported)"
        ))
    }
}

/// `sha256:<hex>` of `bytes`.
pub(crate) fn sha256_digest(bytes: &[u8]) -> Digest {
    Digest::sha256(&format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
        .expect("a sha256 hex encoding is a digest")
}

/// Picks the entry of an index for `want`. Attestation manifests (`unknown/unknown`) are
/// never candidates. An entry with exactly the requested variant wins over a looser match.
pub(crate) fn select_platform<'a>(
    list: &'a [Descriptor],
    want: &Platform,
) -> Result<&'a Descriptor, String> {
    let candidates: Vec<(&Descriptor, Platform)> = list
        .iter()
        .filter(|d| {
            d.annotations
                .get("vnd.docker.reference.type")
                .map(String::as_str)
                != Some("attestation-manifest")
        })
        .filter_map(|d| d.platform.as_ref().map(|p| (d, p.platform())))
        .filter(|(_, p)| p.os != "unknown")
        .collect();
    let exact = candidates.iter().find(|(_, p)| p == want);
    if let Some((d, _)) = exact.or_else(|| candidates.iter().find(|(_, p)| want.matches(p))) {
        return Ok(d);
    }
    let mut available: Vec<String> = candidates.iter().map(|(_, p)| p.to_string()).collect();
    available.dedup();
    Err(if available.is_empty() {
        format!("the index has no platform-tagged manifests, so {want} cannot be selected")
    } else {
        format!(
            "no manifest for platform {want}; available: {}",
            available.join(", ")
        )
    })
}

/// The platform string of an image config (`os/architecture[/variant]`).
pub(crate) fn config_platform(config: &serde_json::Value) -> Option<String> {
    let os = config.get("os")?.as_str()?;
    let arch = config.get("architecture")?.as_str()?;
    let variant = config.get("variant").and_then(|v| v.as_str());
    Some(Platform::new(os, arch, variant).to_string())
}

/// What an image config says about how containers run (user, exposed ports, environment
/// names, creation time); values of the environment are dropped.
pub fn image_config(config: &serde_json::Value) -> portcullis_core::ImageConfig {
    let c = config.get("config");
    fn text(v: Option<&serde_json::Value>) -> &str {
        v.and_then(|v| v.as_str()).unwrap_or_default()
    }
    let mut exposed_ports: Vec<String> = c
        .and_then(|c| c.get("ExposedPorts"))
        .and_then(|p| p.as_object())
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    exposed_ports.sort();
    let env_names = c
        .and_then(|c| c.get("Env"))
        .and_then(|e| e.as_array())
        .map(|e| {
            e.iter()
                .filter_map(|v| v.as_str())
                .map(|kv| kv.split_once('=').map_or(kv, |(k, _)| k).to_string())
                .collect()
        })
        .unwrap_or_default();
    portcullis_core::ImageConfig {
        user: text(c.and_then(|c| c.get("User"))).to_string(),
        exposed_ports,
        env_names,
        created: portcullis_core::parse_time(text(config.get("created"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use portcullis_test_support::build::digest as d;

    #[test]
    fn parse_by_media_type_and_shape() {
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":3}}]}}"#,
            d(1),
            d(2)
        );
        assert!(
            matches!(parse(m.as_bytes(), None), Ok(Parsed::Image { layers, .. }) if layers.len() == 1)
        );
        let idx = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"digest":"{}","size":1}}]}}"#,
            d(3)
        );
        assert!(
            matches!(parse(idx.as_bytes(), Some(DOCKER_LIST)), Ok(Parsed::Index(l)) if l.len() == 1)
        );
        assert!(matches!(parse(idx.as_bytes(), None), Ok(Parsed::Index(_))));
        let bad_layer = m.replace("tar+gzip", "tar+lz4");
        let err = parse(bad_layer.as_bytes(), None).expect_err("lz4");
        assert!(
            err.contains("tar+lz4") && err.contains(d(2).as_str()),
            "{err}"
        );
        let helm = m.replace(
            "application/vnd.oci.image.config.v1+json",
            "application/vnd.cncf.helm.config.v1+json",
        );
        assert!(
            parse(helm.as_bytes(), None)
                .expect_err("helm")
                .contains("not a container image")
        );
        assert!(
            parse(br#"{"schemaVersion":1,"fsLayers":[]}"#, None)
                .expect_err("v1")
                .contains("schema 1")
        );
        assert!(
            parse(b"{}", Some("application/x-weird"))
                .expect_err("weird")
                .contains("x-weird")
        );
    }

    #[test]
    fn platform_selection_lists_available() {
        let entry = |os: &str, arch: &str, variant: Option<&str>, n: u8| Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: d(n),
            size: 1,
            platform: Some(RawPlatform {
                os: os.into(),
                architecture: arch.into(),
                variant: variant.map(Into::into),
            }),
            annotations: BTreeMap::new(),
        };
        let list = vec![
            entry("linux", "arm", Some("v6"), 1),
            entry("linux", "arm", Some("v7"), 2),
            entry("linux", "amd64", None, 3),
            entry("unknown", "unknown", None, 4),
        ];
        let pick = |s: &str| {
            select_platform(&list, &s.parse().expect("platform")).map(|x| x.digest.clone())
        };
        assert_eq!(pick("linux/amd64"), Ok(d(3)));
        assert_eq!(pick("linux/arm/v7"), Ok(d(2)));
        let err = pick("linux/s390x").expect_err("absent");
        assert!(
            err.contains("linux/s390x") && err.contains("linux/arm/v6, linux/arm/v7, linux/amd64"),
            "{err}"
        );
        assert!(
            !err.contains("unknown"),
            "attestations are not platforms: {err}"
        );
    }
}
