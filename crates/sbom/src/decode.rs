//! Telling the SBOM format from the bytes, and turning a format's component into a
//! [`Package`]: the part of decoding both formats share.

use portcullis_core::{Digest, Distro, Ecosystem, Inventory, Location, Package, SourcePackage};
use serde_json::Value;

use crate::purl::Purl;
use crate::{Result, SbomError, cyclonedx, sort_packages, spdx, xml};

/// Property / annotation keys Portcullis writes. The `portcullis:ecosystem` key also marks
/// an SBOM as Portcullis' own, whose names are then taken as written.
pub(crate) mod keys {
    pub(crate) const ECOSYSTEM: &str = "portcullis:ecosystem";
    pub(crate) const FOUND_BY: &str = "portcullis:found-by";
    pub(crate) const ARCH: &str = "portcullis:arch";
    pub(crate) const SOURCE_NAME: &str = "portcullis:source-name";
    pub(crate) const SOURCE_VERSION: &str = "portcullis:source-version";
    pub(crate) const LOCATION: &str = "portcullis:location:";
    pub(crate) const IMAGE_CONFIG_DIGEST: &str = "portcullis:image:config-digest";
    pub(crate) const IMAGE_PLATFORM: &str = "portcullis:image:platform";
    pub(crate) const IMAGE_LAYER: &str = "portcullis:image:layer:";
    pub(crate) const DISTRO_CODENAME: &str = "portcullis:distro:codename";
}

pub(crate) fn decode(bytes: &[u8], origin: &str) -> Result<Inventory> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    match start.map(|i| bytes[i]) {
        Some(b'{') => decode_json(bytes, origin),
        Some(b'<') => {
            let text = std::str::from_utf8(bytes).map_err(|e| SbomError::NotSbom {
                origin: origin.to_string(),
                reason: format!("XML that is not UTF-8 ({e})"),
            })?;
            cyclonedx::decode_xml(&xml::parse(text, origin)?, origin)
        }
        Some(b) => Err(SbomError::NotSbom {
            origin: origin.to_string(),
            reason: format!(
                "neither a JSON object nor XML (starts with {:?})",
                char::from(b)
            ),
        }),
        None => Err(SbomError::NotSbom {
            origin: origin.to_string(),
            reason: "empty input".into(),
        }),
    }
}

fn decode_json(bytes: &[u8], origin: &str) -> Result<Inventory> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| SbomError::Json {
        origin: origin.to_string(),
        line: e.line(),
        column: e.column(),
        source: e,
    })?;
    let obj = value.as_object().ok_or_else(|| SbomError::NotSbom {
        origin: origin.to_string(),
        reason: "JSON that is not an object".into(),
    })?;
    if obj.get("bomFormat").and_then(Value::as_str) == Some("CycloneDX") {
        return cyclonedx::decode_json(value, origin);
    }
    if obj.contains_key("spdxVersion") {
        return spdx::decode_json(value, origin);
    }
    if obj.contains_key("image") && obj.contains_key("packages") {
        let mut inv: Inventory = serde_json::from_value(value).map_err(|e| SbomError::Shape {
            origin: origin.to_string(),
            element: "Portcullis inventory".into(),
            reason: e.to_string(),
        })?;
        sort_packages(&mut inv.packages);
        return Ok(inv);
    }
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).take(8).collect();
    keys.sort_unstable();
    Err(SbomError::NotSbom {
        origin: origin.to_string(),
        reason: format!(
            "JSON without 'bomFormat: CycloneDX', 'spdxVersion' or 'image'+'packages' (top-level keys: {})",
            keys.join(", ")
        ),
    })
}

/// One component or SPDX package, in the terms both formats share.
#[derive(Clone, Debug, Default)]
pub(crate) struct Draft {
    /// Where it is, for messages (`components[3]`, `packages[2] (SPDXRef-x)`).
    pub(crate) element: String,
    /// The name as written in the SBOM.
    pub(crate) name: String,
    /// The version as written, if any.
    pub(crate) version: Option<String>,
    /// The purl as written, if any.
    pub(crate) purl: Option<String>,
    /// Declared licenses.
    pub(crate) licenses: Vec<String>,
    /// Name/value properties (CycloneDX properties, SPDX annotations made into pairs).
    pub(crate) props: Vec<(String, String)>,
    /// Not a package by nature (operating system, file, the scanned container): skipped
    /// silently when it has no purl.
    pub(crate) structural: bool,
}

impl Draft {
    pub(crate) fn prop(&self, key: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    fn label(&self) -> String {
        if self.name.is_empty() {
            self.element.clone()
        } else {
            format!("{} '{}'", self.element, self.name)
        }
    }
}

/// Turns a draft into a package, or `None` (with a warning unless structural) when it is
/// not a package of a known ecosystem.
pub(crate) fn to_package(
    d: &Draft,
    origin: &str,
    default_found_by: &str,
    warnings: &mut Vec<String>,
) -> Result<Option<Package>> {
    let Some(purl_str) = d.purl.as_deref().map(str::trim).filter(|p| !p.is_empty()) else {
        if !d.structural {
            warnings.push(format!("{origin}: {} has no purl; skipped", d.label()));
        }
        return Ok(None);
    };
    let purl = Purl::parse(purl_str).map_err(|source| SbomError::InvalidPurl {
        origin: origin.to_string(),
        element: d.element.clone(),
        purl: purl_str.to_string(),
        source,
    })?;
    let own = d
        .prop(keys::ECOSYSTEM)
        .and_then(|e| e.parse::<Ecosystem>().ok());
    let Some(ecosystem) = own.or_else(|| purl.ecosystem()) else {
        if !d.structural {
            warnings.push(format!(
                "{origin}: {} ({purl_str}): purl type '{}' is not an ecosystem Portcullis scans; skipped",
                d.label(),
                purl.ty
            ));
        }
        return Ok(None);
    };
    let name = match own {
        Some(_) if !d.name.is_empty() => d.name.clone(),
        _ => purl.package_name(),
    };
    let version = d
        .version
        .clone()
        .filter(|v| !v.is_empty())
        .or_else(|| purl.version.clone());
    let Some(mut version) = version else {
        warnings.push(format!(
            "{origin}: {} ({purl_str}) has no version; skipped",
            d.label()
        ));
        return Ok(None);
    };
    // Trivy writes the epoch of deb and rpm versions as a qualifier, not in the version.
    let epoch = purl.qualifier("epoch").filter(|e| {
        *e != "0" && matches!(purl.ty.as_str(), "deb" | "rpm") && !version.contains(':')
    });
    if let Some(epoch) = epoch {
        version = format!("{epoch}:{version}");
    }
    let source = if ecosystem.is_os() {
        source_package(d, &purl, &version)
    } else {
        None
    };
    let arch = d
        .prop(keys::ARCH)
        .or_else(|| purl.qualifier("arch"))
        .map(str::to_string);
    let found_by = d
        .prop(keys::FOUND_BY)
        .unwrap_or(default_found_by)
        .to_string();
    let mut locations = locations(d);
    if locations.is_empty() {
        locations.push(Location {
            layer: None,
            path: origin.to_string(),
        });
    }
    Ok(Some(Package {
        module: None,
        name,
        version,
        ecosystem,
        purl: purl_str.to_string(),
        source,
        found_by,
        locations,
        arch,
        licenses: d.licenses.clone(),
    }))
}

/// The source package, from (in order) Portcullis' properties, trivy's `Src*` properties,
/// or the purl's `upstream` qualifier (syft: `name`, `name@version`, or for rpm the source
/// RPM's file name).
fn source_package(d: &Draft, purl: &Purl, version: &str) -> Option<SourcePackage> {
    if let Some(name) = d.prop(keys::SOURCE_NAME) {
        let version = d.prop(keys::SOURCE_VERSION).unwrap_or(version);
        return Some(SourcePackage {
            name: name.to_string(),
            version: version.to_string(),
        });
    }
    if let Some(name) = d.prop("aquasecurity:trivy:SrcName") {
        let src_version = match d.prop("aquasecurity:trivy:SrcVersion") {
            Some(v) => {
                let mut s = String::new();
                if let Some(e) = d.prop("aquasecurity:trivy:SrcEpoch").filter(|e| *e != "0") {
                    s.push_str(e);
                    s.push(':');
                }
                s.push_str(v);
                if let Some(r) = d.prop("aquasecurity:trivy:SrcRelease") {
                    s.push('-');
                    s.push_str(r);
                }
                s
            }
            None => version.to_string(),
        };
        return Some(SourcePackage {
            name: name.to_string(),
            version: src_version,
        });
    }
    let upstream = purl.qualifier("upstream")?;
    if let Some(stem) = upstream
        .strip_suffix(".src.rpm")
        .filter(|_| purl.ty == "rpm")
    {
        // name-version-release: the name is everything before the last two dashes.
        let mut parts = stem.rsplitn(3, '-');
        let (release, ver, name) = (parts.next()?, parts.next()?, parts.next()?);
        return Some(SourcePackage {
            name: name.to_string(),
            version: format!("{ver}-{release}"),
        });
    }
    match upstream.split_once('@') {
        Some((n, v)) => Some(SourcePackage {
            name: n.to_string(),
            version: v.to_string(),
        }),
        None => Some(SourcePackage {
            name: upstream.to_string(),
            version: version.to_string(),
        }),
    }
}

/// Evidence files, from Portcullis' `portcullis:location:N:{path,layer}`, syft's
/// `syft:location:N:{path,layerID}` or trivy's `FilePath` / `LayerDigest` properties.
fn locations(d: &Draft) -> Vec<Location> {
    for (prefix, path_key, layer_key) in [
        (keys::LOCATION, "path", "layer"),
        ("syft:location:", "path", "layerID"),
    ] {
        let mut found: Vec<(usize, Location)> = Vec::new();
        for (k, v) in &d.props {
            let Some(rest) = k.strip_prefix(prefix) else {
                continue;
            };
            let Some((n, field)) = rest.split_once(':') else {
                continue;
            };
            let Ok(n) = n.parse::<usize>() else { continue };
            let slot = match found.iter().position(|(i, _)| *i == n) {
                Some(pos) => pos,
                None => {
                    found.push((
                        n,
                        Location {
                            layer: None,
                            path: String::new(),
                        },
                    ));
                    found.len() - 1
                }
            };
            if field == path_key {
                found[slot].1.path = v.clone();
            } else if field == layer_key {
                // A layer ID that is not a digest could never name a layer: dropped.
                found[slot].1.layer = Digest::parse(v).ok();
            }
        }
        found.sort_by_key(|(i, _)| *i);
        let locs: Vec<Location> = found
            .into_iter()
            .map(|(_, l)| l)
            .filter(|l| !l.path.is_empty())
            .collect();
        if !locs.is_empty() {
            return locs;
        }
    }
    if let Some(path) = d.prop("aquasecurity:trivy:FilePath") {
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        let layer = d
            .prop("aquasecurity:trivy:LayerDigest")
            .and_then(|v| Digest::parse(v).ok());
        return vec![Location { layer, path }];
    }
    Vec::new()
}

/// The distro named by the first OS package's `distro` qualifier (`debian-12`), for SBOMs
/// without an operating-system component.
pub(crate) fn distro_from_purls(packages: &[Package]) -> Option<Distro> {
    packages
        .iter()
        .filter(|p| p.ecosystem.is_os())
        .find_map(|p| {
            let purl = Purl::parse(&p.purl).ok()?;
            let distro = purl.qualifier("distro")?;
            let (id, version) = match distro.split_once('-') {
                Some((id, v)) => (id, Some(v.to_string())),
                None => (distro, None),
            };
            Some(Distro {
                id: id.to_ascii_lowercase(),
                version_id: version,
                codename: None,
                pretty_name: None,
            })
        })
}

/// 1-based line of a byte offset, for XML messages.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(purl: &str, version: Option<&str>, props: &[(&str, &str)]) -> Draft {
        Draft {
            element: "components[0]".into(),
            name: "x".into(),
            version: version.map(str::to_string),
            purl: Some(purl.into()),
            props: props
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    fn one(d: &Draft) -> Package {
        let mut w = Vec::new();
        let p = to_package(d, "in.json", "sbom/test", &mut w)
            .unwrap()
            .unwrap();
        assert!(w.is_empty(), "{w:?}");
        p
    }

    #[test]
    fn syft_upstream_with_and_without_version() {
        let p = one(&draft(
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&upstream=glibc",
            None,
            &[],
        ));
        assert_eq!(p.version, "2.36-9+deb12u4");
        assert_eq!(
            p.source,
            Some(SourcePackage {
                name: "glibc".into(),
                version: "2.36-9+deb12u4".into()
            })
        );
        assert_eq!(p.arch.as_deref(), Some("amd64"));
        let p = one(&draft(
            "pkg:deb/debian/bash@5.2.15-2%2Bb13?upstream=bash%405.2.15-2",
            None,
            &[],
        ));
        assert_eq!(
            p.source,
            Some(SourcePackage {
                name: "bash".into(),
                version: "5.2.15-2".into()
            })
        );
    }

    #[test]
    fn rpm_source_rpm_file_name() {
        let p = one(&draft(
            "pkg:rpm/redhat/openssl-libs@1.1.1k-7.el8?epoch=1&upstream=openssl-1.1.1k-7.el8.src.rpm",
            None,
            &[],
        ));
        assert_eq!(p.version, "1:1.1.1k-7.el8");
        assert_eq!(
            p.source,
            Some(SourcePackage {
                name: "openssl".into(),
                version: "1.1.1k-7.el8".into()
            })
        );
    }

    #[test]
    fn trivy_source_properties_and_epoch_qualifier() {
        let p = one(&draft(
            "pkg:deb/debian/bsdutils@2.38.1-5%2Bdeb12u3?arch=amd64&distro=debian-12.15&epoch=1",
            Some("1:2.38.1-5+deb12u3"),
            &[
                ("aquasecurity:trivy:SrcName", "util-linux"),
                ("aquasecurity:trivy:SrcVersion", "2.38.1"),
                ("aquasecurity:trivy:SrcRelease", "5+deb12u3"),
                ("aquasecurity:trivy:SrcEpoch", "1"),
            ],
        ));
        assert_eq!(p.version, "1:2.38.1-5+deb12u3");
        assert_eq!(
            p.source,
            Some(SourcePackage {
                name: "util-linux".into(),
                version: "1:2.38.1-5+deb12u3".into()
            })
        );
        let no_field = one(&draft("pkg:deb/debian/diffutils@3.8-4?epoch=1", None, &[]));
        assert_eq!(no_field.version, "1:3.8-4");
    }

    #[test]
    fn language_packages_have_no_source() {
        let p = one(&draft("pkg:pypi/Flask@0.12?upstream=x", None, &[]));
        assert_eq!(p.source, None);
        assert_eq!(p.name, "flask");
        assert_eq!(
            p.locations,
            vec![Location {
                layer: None,
                path: "in.json".into()
            }]
        );
        assert_eq!(p.found_by, "sbom/test");
    }

    const LAYER: &str = "sha256:0101010101010101010101010101010101010101010101010101010101010101";

    #[test]
    fn location_properties_in_index_order() {
        let p = one(&draft(
            "pkg:npm/a@1",
            None,
            &[
                ("syft:location:1:path", "/b"),
                ("syft:location:0:path", "/a"),
                ("syft:location:0:layerID", LAYER),
                ("syft:location:1:layerID", "not a digest"),
            ],
        ));
        assert_eq!(
            p.locations,
            vec![
                Location {
                    layer: Some(Digest::parse(LAYER).expect("digest")),
                    path: "/a".into()
                },
                Location {
                    layer: None,
                    path: "/b".into()
                }
            ]
        );
    }

    #[test]
    fn skips_with_warnings() {
        let mut w = Vec::new();
        let mut d = draft("pkg:generic/openssl@3", None, &[]);
        assert!(to_package(&d, "f", "x", &mut w).unwrap().is_none());
        d.purl = None;
        assert!(to_package(&d, "f", "x", &mut w).unwrap().is_none());
        d.purl = Some("pkg:npm/noversion".into());
        assert!(to_package(&d, "f", "x", &mut w).unwrap().is_none());
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(
            w[0].contains("components[0] 'x'") && w[0].contains("generic"),
            "{}",
            w[0]
        );
        assert!(w[1].contains("no purl"), "{}", w[1]);
        assert!(w[2].contains("no version"), "{}", w[2]);
        d.structural = true;
        d.purl = None;
        assert!(to_package(&d, "f", "x", &mut w).unwrap().is_none());
        assert_eq!(w.len(), 3);
    }

    #[test]
    fn invalid_purl_names_file_and_element() {
        let d = draft("pkg:npm/a%zz@1", None, &[]);
        let err = to_package(&d, "bom.json", "x", &mut Vec::new()).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("bom.json")
                && msg.contains("components[0]")
                && msg.contains("pkg:npm/a%zz@1"),
            "{msg}"
        );
    }

    #[test]
    fn distro_qualifier() {
        let p = one(&draft(
            "pkg:deb/debian/libc6@2.36?distro=debian-12",
            None,
            &[],
        ));
        let d = distro_from_purls(&[p]).unwrap();
        assert_eq!(
            (d.id.as_str(), d.version_id.as_deref()),
            ("debian", Some("12"))
        );
    }
}
