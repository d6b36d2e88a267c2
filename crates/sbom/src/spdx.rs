//! SPDX 2.3 JSON: writing, and reading 2.2/2.3 JSON.
//!
//! The document DESCRIBES one package for the image (purpose CONTAINER), which CONTAINS an
//! OPERATING-SYSTEM package for the distro and one package per found package, each with a
//! PACKAGE-MANAGER purl reference. What SPDX has no field for (found-by, locations, source
//! package, arch) is written as `portcullis:key: value` annotations, so that Portcullis'
//! own documents decode to the inventory they were made from.

use std::collections::{BTreeMap, HashMap, HashSet};

use portcullis_core::{Digest, Distro, Inventory, Package};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cyclonedx::oci_purl;
use crate::decode::{Draft, distro_from_purls, keys, to_package};
use crate::license::{self, License};
use crate::{EncodeOptions, Result, SbomError, serial_uuid, sort_packages, timestamp};

const NOASSERTION: &str = "NOASSERTION";
const DEFAULT_FOUND_BY: &str = "sbom/spdx";
const IMAGE_ID: &str = "SPDXRef-Image";
const OS_ID: &str = "SPDXRef-OperatingSystem";

// ---------------------------------------------------------------- encoding

#[derive(Serialize)]
struct Document {
    #[serde(rename = "spdxVersion")]
    spdx_version: &'static str,
    #[serde(rename = "dataLicense")]
    data_license: &'static str,
    #[serde(rename = "SPDXID")]
    spdx_id: &'static str,
    name: String,
    #[serde(rename = "documentNamespace")]
    document_namespace: String,
    #[serde(rename = "creationInfo")]
    creation_info: CreationInfo,
    packages: Vec<SpdxPackage>,
    relationships: Vec<Relationship>,
    #[serde(
        rename = "hasExtractedLicensingInfos",
        skip_serializing_if = "Vec::is_empty"
    )]
    extracted: Vec<ExtractedLicense>,
}

#[derive(Serialize)]
struct CreationInfo {
    created: String,
    creators: Vec<String>,
}

#[derive(Serialize)]
struct SpdxPackage {
    #[serde(rename = "SPDXID")]
    spdx_id: String,
    name: String,
    #[serde(rename = "versionInfo", skip_serializing_if = "Option::is_none")]
    version_info: Option<String>,
    #[serde(rename = "downloadLocation")]
    download_location: &'static str,
    #[serde(rename = "filesAnalyzed")]
    files_analyzed: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    checksums: Vec<Checksum>,
    #[serde(rename = "sourceInfo", skip_serializing_if = "Option::is_none")]
    source_info: Option<String>,
    #[serde(rename = "licenseConcluded")]
    license_concluded: &'static str,
    #[serde(rename = "licenseDeclared")]
    license_declared: String,
    #[serde(rename = "copyrightText")]
    copyright_text: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(rename = "externalRefs", skip_serializing_if = "Vec::is_empty")]
    external_refs: Vec<ExternalRef>,
    #[serde(rename = "primaryPackagePurpose")]
    primary_package_purpose: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    annotations: Vec<Annotation>,
}

#[derive(Serialize)]
struct Checksum {
    algorithm: &'static str,
    #[serde(rename = "checksumValue")]
    checksum_value: String,
}

#[derive(Serialize)]
struct ExternalRef {
    #[serde(rename = "referenceCategory")]
    reference_category: &'static str,
    #[serde(rename = "referenceType")]
    reference_type: &'static str,
    #[serde(rename = "referenceLocator")]
    reference_locator: String,
}

#[derive(Serialize)]
struct Annotation {
    #[serde(rename = "annotationDate")]
    annotation_date: String,
    #[serde(rename = "annotationType")]
    annotation_type: &'static str,
    annotator: String,
    comment: String,
}

#[derive(Serialize)]
struct Relationship {
    #[serde(rename = "spdxElementId")]
    spdx_element_id: String,
    #[serde(rename = "relationshipType")]
    relationship_type: &'static str,
    #[serde(rename = "relatedSpdxElement")]
    related_spdx_element: String,
}

#[derive(Serialize)]
struct ExtractedLicense {
    #[serde(rename = "licenseId")]
    license_id: String,
    #[serde(rename = "extractedText")]
    extracted_text: String,
    name: String,
}

/// Replaces everything outside `[A-Za-z0-9.-]` (the SPDX idstring alphabet) with `-`.
fn idstring(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Hands out unique ids: the second use of a base gets `-2`, and so on.
#[derive(Default)]
struct Ids(HashSet<String>);

impl Ids {
    fn unique(&mut self, base: String) -> String {
        let mut id = base.clone();
        let mut n = 1;
        while !self.0.insert(id.clone()) {
            n += 1;
            id = format!("{base}-{n}");
        }
        id
    }
}

/// Free-text licenses become `LicenseRef-`s with their text in `hasExtractedLicensingInfos`.
#[derive(Default)]
struct LicenseRefs {
    by_text: BTreeMap<String, String>,
    ids: Ids,
}

impl LicenseRefs {
    fn reference(&mut self, text: &str) -> String {
        if let Some(id) = self.by_text.get(text) {
            return id.clone();
        }
        let id = self.ids.unique(format!("LicenseRef-{}", idstring(text)));
        self.by_text.insert(text.to_string(), id.clone());
        id
    }

    /// `licenseDeclared`: the declared licenses joined with AND, or NOASSERTION.
    fn declared(&mut self, declared: &[String]) -> String {
        let declared: Vec<&str> = declared
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect();
        if declared.is_empty() {
            return NOASSERTION.to_string();
        }
        let several = declared.len() > 1;
        let parts: Vec<String> = declared
            .iter()
            .map(|l| match license::classify(l) {
                License::Id(id) => id,
                License::Expression(e) if several => format!("({e})"),
                License::Expression(e) => e,
                License::Text(t) => self.reference(&t),
            })
            .collect();
        parts.join(" AND ")
    }

    fn into_extracted(self) -> Vec<ExtractedLicense> {
        let mut v: Vec<ExtractedLicense> = self
            .by_text
            .into_iter()
            .map(|(text, id)| ExtractedLicense {
                license_id: id,
                name: text.clone(),
                extracted_text: text,
            })
            .collect();
        v.sort_by(|a, b| a.license_id.cmp(&b.license_id));
        v
    }
}

pub(crate) fn encode(inv: &Inventory, opts: &EncodeOptions) -> Result<Vec<u8>> {
    let created = timestamp(opts)?;
    let uuid = serial_uuid(opts)?;
    let mut packages_in = inv.packages.clone();
    sort_packages(&mut packages_in);

    let tool = if opts.tool_version.is_empty() {
        "portcullis".to_string()
    } else {
        format!("portcullis-{}", opts.tool_version)
    };
    let annotator = format!("Tool: {tool}");
    let annotate = |pairs: Vec<(String, String)>| -> Vec<Annotation> {
        pairs
            .into_iter()
            .map(|(k, v)| Annotation {
                annotation_date: created.clone(),
                annotation_type: "OTHER",
                annotator: annotator.clone(),
                comment: format!("{k}: {v}"),
            })
            .collect()
    };

    let image = &inv.image;
    let doc_name = if image.reference.is_empty() {
        "image".to_string()
    } else {
        image.reference.clone()
    };
    let mut image_notes = Vec::new();
    if let Some(d) = &image.config_digest {
        image_notes.push((keys::IMAGE_CONFIG_DIGEST.to_string(), d.to_string()));
    }
    if let Some(p) = &image.platform {
        image_notes.push((keys::IMAGE_PLATFORM.to_string(), p.clone()));
    }
    for (i, l) in image.layers.iter().enumerate() {
        image_notes.push((format!("{}{i}", keys::IMAGE_LAYER), l.to_string()));
    }
    let checksums = image
        .digest
        .as_ref()
        .filter(|d| d.algorithm() == "sha256")
        .map(|d| {
            vec![Checksum {
                algorithm: "SHA256",
                checksum_value: d.encoded().to_string(),
            }]
        })
        .unwrap_or_default();
    let image_purl = image
        .digest
        .as_ref()
        .and_then(|d| oci_purl(&image.reference, d.as_str()));
    let mut packages = vec![SpdxPackage {
        spdx_id: IMAGE_ID.into(),
        name: doc_name.clone(),
        version_info: image.digest.as_ref().map(ToString::to_string),
        download_location: NOASSERTION,
        files_analyzed: false,
        checksums,
        source_info: None,
        license_concluded: NOASSERTION,
        license_declared: NOASSERTION.into(),
        copyright_text: NOASSERTION,
        description: None,
        external_refs: image_purl.into_iter().map(purl_ref).collect(),
        primary_package_purpose: "CONTAINER",
        annotations: annotate(image_notes),
    }];
    let mut relationships = vec![Relationship {
        spdx_element_id: "SPDXRef-DOCUMENT".into(),
        relationship_type: "DESCRIBES",
        related_spdx_element: IMAGE_ID.into(),
    }];
    if let Some(os) = &image.os {
        packages.push(os_package(os, annotate(os_notes(os))));
        relationships.push(contains(OS_ID.into()));
    }

    let mut ids = Ids::default();
    let mut refs = LicenseRefs::default();
    for p in &packages_in {
        let id = ids.unique(format!(
            "SPDXRef-Package-{}-{}-{}",
            p.ecosystem.as_str(),
            idstring(&p.name),
            idstring(&p.version)
        ));
        packages.push(SpdxPackage {
            spdx_id: id.clone(),
            name: p.name.clone(),
            version_info: Some(p.version.clone()).filter(|v| !v.is_empty()),
            download_location: NOASSERTION,
            files_analyzed: false,
            checksums: Vec::new(),
            source_info: Some(source_info(p)),
            license_concluded: NOASSERTION,
            license_declared: refs.declared(&p.licenses),
            copyright_text: NOASSERTION,
            description: None,
            external_refs: vec![purl_ref(p.purl.clone())],
            primary_package_purpose: "LIBRARY",
            annotations: annotate(package_notes(p)),
        });
        relationships.push(contains(id));
    }

    let doc = Document {
        spdx_version: "SPDX-2.3",
        data_license: "CC0-1.0",
        spdx_id: "SPDXRef-DOCUMENT",
        document_namespace: format!(
            "https://portcullis.invalid/spdx/{}-{uuid}",
            uri_segment(&doc_name)
        ),
        name: doc_name,
        creation_info: CreationInfo {
            created: created.clone(),
            creators: vec![annotator.clone()],
        },
        packages,
        relationships,
        extracted: refs.into_extracted(),
    };
    let mut out = serde_json::to_vec_pretty(&doc).map_err(SbomError::Serialize)?;
    out.push(b'\n');
    Ok(out)
}

fn purl_ref(purl: String) -> ExternalRef {
    ExternalRef {
        reference_category: "PACKAGE-MANAGER",
        reference_type: "purl",
        reference_locator: purl,
    }
}

fn contains(id: String) -> Relationship {
    Relationship {
        spdx_element_id: IMAGE_ID.into(),
        relationship_type: "CONTAINS",
        related_spdx_element: id,
    }
}

/// The reference made safe for a URI path segment, so the namespace stays a valid URI.
fn uri_segment(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn os_notes(os: &Distro) -> Vec<(String, String)> {
    os.codename
        .iter()
        .map(|c| (keys::DISTRO_CODENAME.to_string(), c.clone()))
        .collect()
}

fn os_package(os: &Distro, annotations: Vec<Annotation>) -> SpdxPackage {
    SpdxPackage {
        spdx_id: OS_ID.into(),
        name: if os.id.is_empty() {
            "unknown".into()
        } else {
            os.id.clone()
        },
        version_info: os.version_id.clone(),
        download_location: NOASSERTION,
        files_analyzed: false,
        checksums: Vec::new(),
        source_info: None,
        license_concluded: NOASSERTION,
        license_declared: NOASSERTION.into(),
        copyright_text: NOASSERTION,
        description: os.pretty_name.clone(),
        external_refs: Vec::new(),
        primary_package_purpose: "OPERATING-SYSTEM",
        annotations,
    }
}

fn package_notes(p: &Package) -> Vec<(String, String)> {
    let mut v = vec![
        (
            keys::ECOSYSTEM.to_string(),
            p.ecosystem.as_str().to_string(),
        ),
        (keys::FOUND_BY.to_string(), p.found_by.clone()),
    ];
    if let Some(a) = &p.arch {
        v.push((keys::ARCH.to_string(), a.clone()));
    }
    if let Some(s) = &p.source {
        v.push((keys::SOURCE_NAME.to_string(), s.name.clone()));
        v.push((keys::SOURCE_VERSION.to_string(), s.version.clone()));
    }
    for (i, l) in p.locations.iter().enumerate() {
        v.push((format!("{}{i}:path", keys::LOCATION), l.path.clone()));
        if let Some(layer) = &l.layer {
            v.push((format!("{}{i}:layer", keys::LOCATION), layer.to_string()));
        }
    }
    v
}

/// "found by os/dpkg at /var/lib/dpkg/status (layer sha256:...)", for people.
fn source_info(p: &Package) -> String {
    let locs: Vec<String> = p
        .locations
        .iter()
        .map(|l| match &l.layer {
            Some(layer) => format!("{} (layer {layer})", l.path),
            None => l.path.clone(),
        })
        .collect();
    if locs.is_empty() {
        format!("found by {}", p.found_by)
    } else {
        format!("found by {} at {}", p.found_by, locs.join(", "))
    }
}

// ---------------------------------------------------------------- decoding

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDoc {
    #[serde(default)]
    spdx_version: Option<String>,
    #[serde(default)]
    document_describes: Option<Vec<String>>,
    #[serde(default)]
    packages: Option<Vec<Value>>,
    #[serde(default)]
    relationships: Option<Vec<Value>>,
    #[serde(default)]
    has_extracted_licensing_infos: Option<Vec<Value>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPackage {
    #[serde(rename = "SPDXID", default)]
    spdx_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version_info: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    external_refs: Option<Vec<RawRef>>,
    #[serde(default)]
    license_declared: Option<String>,
    #[serde(default)]
    license_concluded: Option<String>,
    #[serde(default)]
    primary_package_purpose: Option<String>,
    #[serde(default)]
    checksums: Option<Vec<RawChecksum>>,
    #[serde(default)]
    annotations: Option<Vec<RawAnnotation>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRef {
    #[serde(default)]
    reference_category: Option<String>,
    #[serde(default)]
    reference_type: Option<String>,
    #[serde(default)]
    reference_locator: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawChecksum {
    #[serde(default)]
    algorithm: Option<String>,
    #[serde(default)]
    checksum_value: Option<String>,
}

#[derive(Deserialize)]
struct RawAnnotation {
    #[serde(default)]
    annotator: Option<String>,
    #[serde(default)]
    comment: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRelationship {
    #[serde(default)]
    spdx_element_id: Option<String>,
    #[serde(default)]
    relationship_type: Option<String>,
    #[serde(default)]
    related_spdx_element: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawExtracted {
    #[serde(default)]
    license_id: Option<String>,
    #[serde(default)]
    extracted_text: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

pub(crate) fn decode_json(value: Value, origin: &str) -> Result<Inventory> {
    let shape = |element: String, e: serde_json::Error| SbomError::Shape {
        origin: origin.to_string(),
        element,
        reason: e.to_string(),
    };
    let raw: RawDoc = serde_json::from_value(value).map_err(|e| shape("document".into(), e))?;
    let version = raw.spdx_version.unwrap_or_default();
    if !matches!(version.as_str(), "SPDX-2.2" | "SPDX-2.3") {
        return Err(SbomError::UnsupportedVersion {
            origin: origin.to_string(),
            format: "SPDX",
            version,
            supported: "SPDX-2.2, SPDX-2.3 (JSON)",
        });
    }

    // Relationships and extracted licenses only refine the result, so a malformed entry
    // is skipped rather than failing the whole document.
    let mut roots: Vec<String> = raw.document_describes.unwrap_or_default();
    for v in raw.relationships.unwrap_or_default() {
        let Ok(r) = serde_json::from_value::<RawRelationship>(v) else {
            continue;
        };
        match (
            r.spdx_element_id.as_deref(),
            r.relationship_type.as_deref(),
            r.related_spdx_element,
        ) {
            (Some("SPDXRef-DOCUMENT"), Some("DESCRIBES"), Some(target)) => roots.push(target),
            (Some(source), Some("DESCRIBED_BY"), Some(doc)) if doc == "SPDXRef-DOCUMENT" => {
                roots.push(source.to_string())
            }
            _ => {}
        }
    }
    let extracted: HashMap<String, String> = raw
        .has_extracted_licensing_infos
        .unwrap_or_default()
        .into_iter()
        .filter_map(|v| serde_json::from_value::<RawExtracted>(v).ok())
        .filter_map(|e| Some((e.license_id?, e.extracted_text.or(e.name)?)))
        .collect();

    let mut parsed = Vec::new();
    for (i, v) in raw.packages.unwrap_or_default().into_iter().enumerate() {
        let p: RawPackage =
            serde_json::from_value(v).map_err(|e| shape(format!("packages[{i}]"), e))?;
        parsed.push((i, p));
    }

    let mut inv = Inventory::default();
    inv.image.reference = origin.to_string();
    let is_root = |p: &RawPackage| p.spdx_id.as_ref().is_some_and(|id| roots.contains(id));
    let image_root = parsed
        .iter()
        .filter(|(_, p)| is_root(p))
        .find(|(_, p)| p.primary_package_purpose.as_deref() == Some("CONTAINER"))
        .or_else(|| parsed.iter().find(|(_, p)| is_root(p)));
    if let Some((_, p)) = image_root {
        image_from(p, &mut inv);
    }

    for (i, p) in &parsed {
        let purpose = p.primary_package_purpose.as_deref().unwrap_or_default();
        let purl = p
            .external_refs
            .iter()
            .flatten()
            .find(|r| {
                r.reference_type.as_deref() == Some("purl")
                    && matches!(
                        r.reference_category.as_deref(),
                        Some("PACKAGE-MANAGER" | "PACKAGE_MANAGER")
                    )
            })
            .and_then(|r| r.reference_locator.clone());
        if purpose == "OPERATING-SYSTEM" && purl.is_none() {
            if inv.image.os.is_none() {
                let props = props(p);
                let codename = props
                    .iter()
                    .find(|(k, _)| k == keys::DISTRO_CODENAME)
                    .map(|(_, v)| v.clone());
                inv.image.os = Some(Distro {
                    id: p.name.clone().unwrap_or_default().to_ascii_lowercase(),
                    version_id: p.version_info.clone().filter(|v| v != NOASSERTION),
                    codename,
                    pretty_name: p.description.clone(),
                });
            }
            continue;
        }
        let element = match &p.spdx_id {
            Some(id) => format!("packages[{i}] ({id})"),
            None => format!("packages[{i}]"),
        };
        let draft = Draft {
            element,
            name: p.name.clone().unwrap_or_default(),
            version: p
                .version_info
                .clone()
                .filter(|v| v != NOASSERTION && v != "NONE"),
            purl,
            licenses: licenses(p, &extracted),
            props: props(p),
            structural: is_root(p)
                || matches!(
                    purpose,
                    "CONTAINER" | "FILE" | "SOURCE" | "OPERATING-SYSTEM"
                ),
        };
        if let Some(pkg) = to_package(&draft, origin, DEFAULT_FOUND_BY, &mut inv.warnings)? {
            inv.packages.push(pkg);
        }
    }
    if inv.image.os.is_none() {
        inv.image.os = distro_from_purls(&inv.packages);
    }
    sort_packages(&mut inv.packages);
    Ok(inv)
}

fn image_from(p: &RawPackage, inv: &mut Inventory) {
    if let Some(name) = p.name.clone().filter(|n| !n.is_empty()) {
        inv.image.reference = name;
    }
    let sha256 = p
        .checksums
        .iter()
        .flatten()
        .find(|c| c.algorithm.as_deref() == Some("SHA256"))
        .and_then(|c| c.checksum_value.as_deref())
        .and_then(|hex| Digest::sha256(&format!("sha256:{}", hex.to_ascii_lowercase())));
    inv.image.digest = p
        .version_info
        .as_deref()
        .and_then(Digest::sha256)
        .or(sha256);
    let props = props(p);
    let get = |key: &str| props.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    inv.image.config_digest = get(keys::IMAGE_CONFIG_DIGEST).and_then(|v| Digest::parse(&v).ok());
    inv.image.platform = get(keys::IMAGE_PLATFORM);
    let mut layers: Vec<(usize, Digest)> = props
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.strip_prefix(keys::IMAGE_LAYER)?.parse().ok()?,
                Digest::parse(v).ok()?,
            ))
        })
        .collect();
    layers.sort();
    inv.image.layers = layers.into_iter().map(|(_, l)| l).collect();
}

/// Annotations as name/value pairs: Portcullis' `portcullis:key: value`, and trivy's
/// `Key: value` under trivy's CycloneDX property names, so one reader serves both.
fn props(p: &RawPackage) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for a in p.annotations.iter().flatten() {
        let Some((key, value)) = a.comment.as_deref().and_then(|c| c.split_once(": ")) else {
            continue;
        };
        if key.starts_with("portcullis:") {
            out.push((key.to_string(), value.to_string()));
        } else if a
            .annotator
            .as_deref()
            .is_some_and(|who| who.contains("trivy"))
            && !key.contains(' ')
        {
            out.push((format!("aquasecurity:trivy:{key}"), value.to_string()));
        }
    }
    out
}

/// `licenseDeclared` (else `licenseConcluded`) split at its top-level ANDs, with a
/// `LicenseRef-` replaced by its extracted text.
fn licenses(p: &RawPackage, extracted: &HashMap<String, String>) -> Vec<String> {
    let expr = [&p.license_declared, &p.license_concluded]
        .into_iter()
        .flatten()
        .map(|s| s.trim())
        .find(|s| !s.is_empty() && *s != NOASSERTION && *s != "NONE");
    let Some(expr) = expr else { return Vec::new() };
    license::split_top_level_and(expr)
        .into_iter()
        .map(|part| match extracted.get(&part) {
            Some(text) if license::is_license_ref(&part) => text.clone(),
            _ => part,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_sanitised() {
        let mut ids = Ids::default();
        assert_eq!(
            ids.unique(format!("SPDXRef-{}", idstring("@scope/pkg 1+2"))),
            "SPDXRef--scope-pkg-1-2"
        );
        assert_eq!(ids.unique("SPDXRef-a".into()), "SPDXRef-a");
        assert_eq!(ids.unique("SPDXRef-a".into()), "SPDXRef-a-2");
    }

    #[test]
    fn declared_licenses() {
        let mut refs = LicenseRefs::default();
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(refs.declared(&[]), "NOASSERTION");
        assert_eq!(refs.declared(&s(&["mit"])), "MIT");
        assert_eq!(
            refs.declared(&s(&["GPL-2+", "MIT OR ISC"])),
            "LicenseRef-GPL-2- AND (MIT OR ISC)"
        );
        // Different texts that sanitise alike still get distinct references.
        assert_eq!(refs.declared(&s(&["GPL 2+"])), "LicenseRef-GPL-2--2");
        assert_eq!(refs.declared(&s(&["GPL-2+"])), "LicenseRef-GPL-2-");
        let ex = refs.into_extracted();
        assert_eq!(ex.len(), 2);
        assert_eq!(
            (ex[0].license_id.as_str(), ex[0].extracted_text.as_str()),
            ("LicenseRef-GPL-2-", "GPL-2+")
        );
    }
}
