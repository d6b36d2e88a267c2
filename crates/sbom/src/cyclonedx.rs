//! CycloneDX: writing 1.6 JSON, reading JSON and XML (1.2-1.6).
//!
//! The image is `metadata.component` (type `container`), the distro an `operating-system`
//! component, and each package one `library` component whose `purl` is the package's.
//! Only packages get purls of a package ecosystem, so counting `pkg:deb/` components
//! counts dpkg packages.

use std::collections::HashMap;

use portcullis_core::{Digest, Distro, ImageInfo, Inventory, Package};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::decode::{Draft, distro_from_purls, keys, to_package};
use crate::license::{self, License};
use crate::purl::{self, Purl};
use crate::xml::Element;
use crate::{EncodeOptions, Result, SbomError, serial_uuid, sort_packages, timestamp};

const SPEC_VERSION: &str = "1.6";
const SUPPORTED: &str = "1.2, 1.3, 1.4, 1.5, 1.6";
const DEFAULT_FOUND_BY: &str = "sbom/cyclonedx";

// ---------------------------------------------------------------- encoding

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Bom<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    bom_format: &'static str,
    spec_version: &'static str,
    serial_number: String,
    version: u32,
    metadata: Metadata<'a>,
    components: Vec<Component<'a>>,
}

#[derive(Serialize)]
struct Metadata<'a> {
    timestamp: String,
    tools: Tools<'a>,
    component: Component<'a>,
}

#[derive(Serialize)]
struct Tools<'a> {
    components: Vec<Component<'a>>,
}

#[derive(Serialize, Default)]
struct Component<'a> {
    #[serde(rename = "type")]
    ty: &'static str,
    #[serde(rename = "bom-ref", skip_serializing_if = "Option::is_none")]
    bom_ref: Option<String>,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    licenses: Vec<LicenseChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    purl: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    properties: Vec<Property>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum LicenseChoice {
    License { license: LicenseOut },
    Expression { expression: String },
}

#[derive(Serialize)]
enum LicenseOut {
    #[serde(rename = "id")]
    Id(String),
    #[serde(rename = "name")]
    Name(String),
}

#[derive(Serialize)]
struct Property {
    name: String,
    value: String,
}

fn prop(name: impl Into<String>, value: impl Into<String>) -> Property {
    Property {
        name: name.into(),
        value: value.into(),
    }
}

pub(crate) fn encode(inv: &Inventory, opts: &EncodeOptions) -> Result<Vec<u8>> {
    let mut packages = inv.packages.clone();
    sort_packages(&mut packages);

    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut components = Vec::with_capacity(packages.len() + 1);
    if let Some(os) = &inv.image.os {
        components.push(os_component(os));
    }
    for p in &packages {
        let n = seen.entry(p.purl.as_str()).or_insert(0);
        *n += 1;
        // bom-refs must be unique; the same purl found in two places is two components.
        let bom_ref = if *n == 1 {
            p.purl.clone()
        } else {
            format!("{}#{}", p.purl, n)
        };
        components.push(package_component(p, bom_ref));
    }

    let bom = Bom {
        schema: "http://cyclonedx.org/schema/bom-1.6.schema.json",
        bom_format: "CycloneDX",
        spec_version: SPEC_VERSION,
        serial_number: format!("urn:uuid:{}", serial_uuid(opts)?),
        version: 1,
        metadata: Metadata {
            timestamp: timestamp(opts)?,
            tools: Tools {
                components: vec![Component {
                    ty: "application",
                    name: "portcullis",
                    version: Some(opts.tool_version.as_str()).filter(|v| !v.is_empty()),
                    ..Default::default()
                }],
            },
            component: image_component(&inv.image),
        },
        components,
    };
    let mut out = serde_json::to_vec_pretty(&bom).map_err(SbomError::Serialize)?;
    out.push(b'\n');
    Ok(out)
}

fn image_component(image: &ImageInfo) -> Component<'_> {
    let mut properties = Vec::new();
    if let Some(d) = &image.config_digest {
        properties.push(prop(keys::IMAGE_CONFIG_DIGEST, d.as_str()));
    }
    if let Some(p) = &image.platform {
        properties.push(prop(keys::IMAGE_PLATFORM, p));
    }
    for (i, l) in image.layers.iter().enumerate() {
        properties.push(prop(format!("{}{i}", keys::IMAGE_LAYER), l.as_str()));
    }
    Component {
        ty: "container",
        bom_ref: Some("image".into()),
        name: if image.reference.is_empty() {
            "image"
        } else {
            &image.reference
        },
        version: image.digest.as_ref().map(Digest::as_str),
        purl: image
            .digest
            .as_ref()
            .and_then(|d| oci_purl(&image.reference, d.as_str())),
        properties,
        ..Default::default()
    }
}

/// `pkg:oci/<last path segment>@<digest>?repository_url=<registry/repository>` for a
/// registry reference; `None` for references that name no repository (`dir:`, `oci:`).
pub(crate) fn oci_purl(reference: &str, digest: &str) -> Option<String> {
    let scheme = reference.split_once(':').map(|(s, _)| s);
    if matches!(
        scheme,
        Some("dir" | "oci" | "oci-archive" | "docker-archive" | "file" | "sbom")
    ) {
        return None;
    }
    let repository = portcullis_core::ImageRef::written_repository(reference);
    let name = repository
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())?
        .to_ascii_lowercase();
    let mut p = format!("pkg:oci/{}@{}", purl::encode(&name), purl::encode(digest));
    if repository.contains('/') {
        p.push_str("?repository_url=");
        p.push_str(&purl::encode(repository));
    }
    Some(p)
}

fn os_component(os: &Distro) -> Component<'_> {
    let mut properties = Vec::new();
    if let Some(c) = &os.codename {
        properties.push(prop(keys::DISTRO_CODENAME, c));
    }
    let version = os.version_id.as_deref();
    Component {
        ty: "operating-system",
        bom_ref: Some(format!("os:{}@{}", os.id, version.unwrap_or(""))),
        name: if os.id.is_empty() { "unknown" } else { &os.id },
        version,
        description: os.pretty_name.as_deref(),
        properties,
        ..Default::default()
    }
}

fn package_component(p: &Package, bom_ref: String) -> Component<'_> {
    let mut properties = vec![
        prop(keys::ECOSYSTEM, p.ecosystem.as_str()),
        prop(keys::FOUND_BY, &p.found_by),
    ];
    if let Some(a) = &p.arch {
        properties.push(prop(keys::ARCH, a));
    }
    if let Some(s) = &p.source {
        properties.push(prop(keys::SOURCE_NAME, &s.name));
        properties.push(prop(keys::SOURCE_VERSION, &s.version));
    }
    for (i, l) in p.locations.iter().enumerate() {
        properties.push(prop(format!("{}{i}:path", keys::LOCATION), &l.path));
        if let Some(layer) = &l.layer {
            properties.push(prop(format!("{}{i}:layer", keys::LOCATION), layer.as_str()));
        }
    }
    Component {
        ty: "library",
        bom_ref: Some(bom_ref),
        name: &p.name,
        version: Some(p.version.as_str()).filter(|v| !v.is_empty()),
        licenses: licenses(&p.licenses),
        purl: Some(p.purl.clone()),
        properties,
        ..Default::default()
    }
}

/// CycloneDX allows either a list of single licenses or one expression, not both: several
/// declared licenses that include an expression become one `AND` expression when every one
/// is valid SPDX, else all are written as names.
fn licenses(declared: &[String]) -> Vec<LicenseChoice> {
    let classified: Vec<License> = declared.iter().map(|l| license::classify(l)).collect();
    let any_expr = classified
        .iter()
        .any(|c| matches!(c, License::Expression(_)));
    let all_spdx = classified.iter().all(|c| !matches!(c, License::Text(_)));
    if any_expr && all_spdx {
        let parts: Vec<String> = classified
            .into_iter()
            .map(|c| match c {
                License::Id(s) => s,
                License::Expression(s) if declared.len() > 1 => format!("({s})"),
                License::Expression(s) | License::Text(s) => s,
            })
            .collect();
        return vec![LicenseChoice::Expression {
            expression: parts.join(" AND "),
        }];
    }
    classified
        .into_iter()
        .zip(declared)
        .map(|(c, raw)| LicenseChoice::License {
            license: match c {
                License::Id(id) if !any_expr => LicenseOut::Id(id),
                _ => LicenseOut::Name(raw.trim().to_string()),
            },
        })
        .collect()
}

// ---------------------------------------------------------------- decoding

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBom {
    #[serde(default)]
    spec_version: Option<String>,
    #[serde(default)]
    metadata: Option<RawMetadata>,
    #[serde(default)]
    components: Option<Vec<Value>>,
}

#[derive(Deserialize)]
struct RawMetadata {
    #[serde(default)]
    component: Option<Value>,
}

#[derive(Deserialize)]
struct RawComponent {
    #[serde(rename = "type", default)]
    ty: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    purl: Option<String>,
    #[serde(default)]
    licenses: Option<Vec<RawLicenseChoice>>,
    #[serde(default)]
    properties: Option<Vec<RawProperty>>,
    #[serde(default)]
    components: Option<Vec<Value>>,
}

#[derive(Deserialize)]
struct RawLicenseChoice {
    #[serde(default)]
    license: Option<RawLicense>,
    #[serde(default)]
    expression: Option<String>,
}

#[derive(Deserialize)]
struct RawLicense {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct RawProperty {
    name: String,
    #[serde(default)]
    value: Option<String>,
}

/// A component read from either encoding.
struct Comp {
    ty: String,
    description: Option<String>,
    draft: Draft,
}

fn check_version(version: &str, origin: &str) -> Result<()> {
    if matches!(version, "1.2" | "1.3" | "1.4" | "1.5" | "1.6") {
        Ok(())
    } else {
        Err(SbomError::UnsupportedVersion {
            origin: origin.to_string(),
            format: "CycloneDX",
            version: version.to_string(),
            supported: SUPPORTED,
        })
    }
}

pub(crate) fn decode_json(value: Value, origin: &str) -> Result<Inventory> {
    let shape = |element: &str, e: serde_json::Error| SbomError::Shape {
        origin: origin.to_string(),
        element: element.to_string(),
        reason: e.to_string(),
    };
    let raw: RawBom = serde_json::from_value(value).map_err(|e| shape("document", e))?;
    let version = raw.spec_version.unwrap_or_default();
    check_version(&version, origin)?;
    let meta = match raw.metadata.and_then(|m| m.component) {
        Some(v) => Some(json_component(
            v,
            "metadata.component",
            &mut Vec::new(),
            origin,
        )?),
        None => None,
    };
    let mut comps = Vec::new();
    for (i, v) in raw.components.unwrap_or_default().into_iter().enumerate() {
        let c = json_component(v, &format!("components[{i}]"), &mut comps, origin)?;
        comps.push(c);
    }
    assemble(meta, comps, origin)
}

/// Reads one JSON component and returns it; its nested `components` are appended to `out`
/// (order does not matter: packages are sorted at the end).
fn json_component(v: Value, element: &str, out: &mut Vec<Comp>, origin: &str) -> Result<Comp> {
    let raw: RawComponent = serde_json::from_value(v).map_err(|e| SbomError::Shape {
        origin: origin.to_string(),
        element: element.to_string(),
        reason: e.to_string(),
    })?;
    for (i, child) in raw.components.unwrap_or_default().into_iter().enumerate() {
        let c = json_component(child, &format!("{element}.components[{i}]"), out, origin)?;
        out.push(c);
    }
    let mut licenses = Vec::new();
    for l in raw.licenses.unwrap_or_default() {
        if let Some(e) = l.expression {
            licenses.extend(license::split_top_level_and(&e));
        } else if let Some(l) = l.license {
            licenses.extend(l.id.or(l.name));
        }
    }
    let props = raw
        .properties
        .unwrap_or_default()
        .into_iter()
        .map(|p| (p.name, p.value.unwrap_or_default()))
        .collect();
    let ty = raw.ty.unwrap_or_default();
    Ok(Comp {
        description: raw.description,
        draft: Draft {
            element: element.to_string(),
            name: raw.name.unwrap_or_default(),
            version: raw.version,
            purl: raw.purl,
            licenses,
            props,
            structural: is_structural(&ty),
        },
        ty,
    })
}

fn is_structural(ty: &str) -> bool {
    matches!(
        ty,
        "operating-system" | "container" | "file" | "platform" | "device" | "firmware" | "data"
    )
}

pub(crate) fn decode_xml(root: &Element, origin: &str) -> Result<Inventory> {
    let ns = root.attr("xmlns").unwrap_or_default();
    let version = match ns.strip_prefix("http://cyclonedx.org/schema/bom/") {
        Some(v) if root.name == "bom" => v,
        _ => {
            return Err(SbomError::NotSbom {
                origin: origin.to_string(),
                reason: format!(
                    "XML root <{}> in namespace '{ns}' is not a CycloneDX <bom>",
                    root.name
                ),
            });
        }
    };
    check_version(version, origin)?;
    let meta = root
        .child("metadata")
        .and_then(|m| m.child("component"))
        .map(|c| {
            let mut ignored = Vec::new();
            xml_component(c, &mut ignored, &mut 0)
        });
    let mut comps = Vec::new();
    let mut counter = 0;
    if let Some(list) = root.child("components") {
        for c in list.children("component") {
            let comp = xml_component(c, &mut comps, &mut counter);
            comps.push(comp);
        }
    }
    assemble(meta, comps, origin)
}

/// Reads one XML component. Components are numbered in document order, so the message
/// for `component #5 at line 80` leads to the right one even when nested.
fn xml_component(el: &Element, out: &mut Vec<Comp>, counter: &mut usize) -> Comp {
    let element = format!("component #{counter} at line {}", el.line);
    *counter += 1;
    if let Some(nested) = el.child("components") {
        for c in nested.children("component") {
            let comp = xml_component(c, out, counter);
            out.push(comp);
        }
    }
    let mut licenses = Vec::new();
    if let Some(ls) = el.child("licenses") {
        for l in &ls.children {
            match l.name.as_str() {
                "license" => licenses.extend(l.child_text("id").or_else(|| l.child_text("name"))),
                "expression" => licenses.extend(license::split_top_level_and(&l.text)),
                _ => {}
            }
        }
    }
    let props = el
        .child("properties")
        .map(|ps| {
            ps.children("property")
                .map(|p| {
                    (
                        p.attr("name").unwrap_or_default().to_string(),
                        p.text.trim().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let ty = el.attr("type").unwrap_or_default().to_string();
    Comp {
        description: el.child_text("description"),
        draft: Draft {
            element,
            name: el.child_text("name").unwrap_or_default(),
            version: el.child_text("version"),
            purl: el.child_text("purl"),
            licenses,
            props,
            structural: is_structural(&ty),
        },
        ty,
    }
}

fn assemble(meta: Option<Comp>, comps: Vec<Comp>, origin: &str) -> Result<Inventory> {
    let mut inv = Inventory::default();
    inv.image.reference = origin.to_string();
    if let Some(m) = &meta {
        image_from(m, &mut inv.image);
    }
    for c in &comps {
        if c.ty == "operating-system" && c.draft.purl.is_none() {
            if inv.image.os.is_none() {
                inv.image.os = Some(distro_from(c));
            }
            continue;
        }
        if let Some(p) = to_package(&c.draft, origin, DEFAULT_FOUND_BY, &mut inv.warnings)? {
            inv.packages.push(p);
        }
    }
    if inv.image.os.is_none() {
        inv.image.os = distro_from_purls(&inv.packages);
    }
    sort_packages(&mut inv.packages);
    Ok(inv)
}

fn image_from(m: &Comp, image: &mut ImageInfo) {
    if !m.draft.name.is_empty() {
        image.reference = m.draft.name.clone();
    }
    image.digest = m
        .draft
        .version
        .as_deref()
        .and_then(|v| Digest::parse(v).ok())
        .or_else(|| {
            let p = Purl::parse(m.draft.purl.as_deref()?).ok()?;
            p.version
                .filter(|_| p.ty == "oci")
                .and_then(|v| Digest::parse(&v).ok())
        });
    image.config_digest = m
        .draft
        .prop(keys::IMAGE_CONFIG_DIGEST)
        .and_then(|v| Digest::parse(v).ok());
    image.platform = m.draft.prop(keys::IMAGE_PLATFORM).map(str::to_string);
    let mut layers: Vec<(usize, Digest)> = m
        .draft
        .props
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.strip_prefix(keys::IMAGE_LAYER)?.parse().ok()?,
                Digest::parse(v).ok()?,
            ))
        })
        .collect();
    layers.sort();
    image.layers = layers.into_iter().map(|(_, l)| l).collect();
}

fn distro_from(c: &Comp) -> Distro {
    let d = &c.draft;
    Distro {
        id: d
            .prop("syft:distro:id")
            .map_or_else(|| d.name.to_ascii_lowercase(), str::to_string),
        version_id: d
            .version
            .clone()
            .or_else(|| d.prop("syft:distro:versionID").map(str::to_string)),
        codename: d
            .prop(keys::DISTRO_CODENAME)
            .or_else(|| d.prop("syft:distro:versionCodename"))
            .map(str::to_string),
        pretty_name: c
            .description
            .clone()
            .or_else(|| d.prop("syft:distro:prettyName").map(str::to_string)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_purl_from_reference() {
        let d = "sha256:0123abcd";
        assert_eq!(
            oci_purl("registry.local:5000/acceptance/debian:bookworm", d).as_deref(),
            Some(
                "pkg:oci/debian@sha256%3A0123abcd?repository_url=registry.local%3A5000%2Facceptance%2Fdebian"
            )
        );
        assert_eq!(
            oci_purl("debian", d).as_deref(),
            Some("pkg:oci/debian@sha256%3A0123abcd")
        );
        assert_eq!(
            oci_purl("ghcr.io/x/App@sha256:ff", d).as_deref(),
            Some("pkg:oci/app@sha256%3A0123abcd?repository_url=ghcr.io%2Fx%2FApp")
        );
        assert_eq!(oci_purl("dir:/tmp/rootfs", d), None);
        assert_eq!(oci_purl("oci:/tmp/layout:tag", d), None);
    }

    fn names(v: &[LicenseChoice]) -> Vec<String> {
        v.iter()
            .map(|c| match c {
                LicenseChoice::License {
                    license: LicenseOut::Id(s),
                } => format!("id:{s}"),
                LicenseChoice::License {
                    license: LicenseOut::Name(s),
                } => format!("name:{s}"),
                LicenseChoice::Expression { expression } => format!("expr:{expression}"),
            })
            .collect()
    }

    #[test]
    fn license_choices() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            names(&licenses(&s(&["MIT", "GPL-2+"]))),
            ["id:MIT", "name:GPL-2+"]
        );
        assert_eq!(
            names(&licenses(&s(&["MIT OR Apache-2.0"]))),
            ["expr:MIT OR Apache-2.0"]
        );
        assert_eq!(
            names(&licenses(&s(&["ISC", "MIT OR Apache-2.0"]))),
            ["expr:ISC AND (MIT OR Apache-2.0)"]
        );
        // An expression next to free text cannot be one expression: all become names.
        assert_eq!(
            names(&licenses(&s(&["MIT OR ISC", "Custom"]))),
            ["name:MIT OR ISC", "name:Custom"]
        );
    }
}
