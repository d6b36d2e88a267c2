//! OpenVEX statements as exceptions.
//!
//! A `not_affected` statement silences its vulnerability (by name or alias) for its products
//! only: a package purl product applies to that package (any version when the purl has none),
//! an image product (`pkg:oci/...` or a reference such as `ghcr.io/org/app:1.2`) applies to the
//! packages of that image, or only to its `subcomponents` when it lists some. Core's
//! [`portcullis_core::Exception`] cannot say "this package only", hence this separate type.
//!
//! Both the current document shape (objects with `@id`) and the early one (plain strings for
//! vulnerabilities and products) are read.

use portcullis_core::Match;
use serde::Deserialize;

use portcullis_core::ImageRef;

use super::{ExceptionError, Result, names_match};

/// The status of a VEX statement. Only `not_affected` silences matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VexStatus {
    /// The product does not contain or cannot reach the vulnerable code.
    NotAffected,
    /// The product is affected.
    Affected,
    /// The product version contains the fix.
    Fixed,
    /// Not known yet.
    UnderInvestigation,
}

/// A product of a statement: its identifiers and the subcomponents the statement is limited to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VexProduct {
    /// `@id` and `identifiers.purl`: package purls, `pkg:oci` purls or image references.
    pub ids: Vec<String>,
    /// Package purls inside an image product that the statement is about (empty: all of them).
    pub subcomponents: Vec<String>,
}

/// One OpenVEX statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VexStatement {
    /// Vulnerability name (`CVE-...`), or its `@id` when it has no name.
    pub vulnerability: String,
    /// Other names of the vulnerability.
    pub aliases: Vec<String>,
    /// Products the statement is about.
    pub products: Vec<VexProduct>,
    /// The status.
    pub status: VexStatus,
    /// OpenVEX justification label (`vulnerable_code_not_present` ...).
    pub justification: Option<String>,
    /// Free-text impact statement.
    pub impact_statement: Option<String>,
}

#[derive(Deserialize)]
struct RawDoc {
    statements: Vec<RawStatement>,
}

#[derive(Deserialize)]
struct RawStatement {
    vulnerability: RawVuln,
    #[serde(default)]
    products: Vec<RawProduct>,
    status: VexStatus,
    #[serde(default)]
    justification: Option<String>,
    #[serde(default)]
    impact_statement: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawVuln {
    Name(String),
    Object {
        #[serde(default)]
        name: Option<String>,
        #[serde(rename = "@id", default)]
        id: Option<String>,
        #[serde(default)]
        aliases: Vec<String>,
    },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawProduct {
    Id(String),
    Object {
        #[serde(rename = "@id", default)]
        id: Option<String>,
        #[serde(default)]
        identifiers: Option<RawIdentifiers>,
        #[serde(default)]
        subcomponents: Vec<RawProduct>,
    },
}

#[derive(Deserialize)]
struct RawIdentifiers {
    #[serde(default)]
    purl: Option<String>,
}

impl RawProduct {
    fn ids(&self) -> Vec<String> {
        match self {
            RawProduct::Id(s) => vec![s.clone()],
            RawProduct::Object {
                id, identifiers, ..
            } => id
                .iter()
                .chain(identifiers.as_ref().and_then(|i| i.purl.as_ref()))
                .cloned()
                .collect(),
        }
    }
}

/// Parses an OpenVEX JSON document into its statements (all statuses; only `not_affected`
/// ones silence matches).
pub fn vex_from_json(text: &str) -> Result<Vec<VexStatement>> {
    let doc: RawDoc = serde_json::from_str(text).map_err(|e| ExceptionError::Vex {
        reason: e.to_string(),
    })?;
    let mut out = Vec::new();
    for (i, s) in doc.statements.into_iter().enumerate() {
        let (vulnerability, aliases) = match s.vulnerability {
            RawVuln::Name(n) => (n, Vec::new()),
            RawVuln::Object { name, id, aliases } => match name.or(id) {
                Some(n) => (n, aliases),
                None => {
                    return Err(ExceptionError::Vex {
                        reason: format!(
                            "statement {} has a vulnerability without name or @id",
                            i + 1
                        ),
                    });
                }
            },
        };
        let products = s
            .products
            .iter()
            .map(|p| VexProduct {
                ids: p.ids(),
                subcomponents: match p {
                    RawProduct::Id(_) => Vec::new(),
                    RawProduct::Object { subcomponents, .. } => {
                        subcomponents.iter().flat_map(RawProduct::ids).collect()
                    }
                },
            })
            .collect();
        out.push(VexStatement {
            vulnerability,
            aliases,
            products,
            status: s.status,
            justification: s.justification,
            impact_statement: s.impact_statement,
        });
    }
    Ok(out)
}

impl VexStatement {
    /// Whether this statement silences `m` in `image`.
    pub fn applies_to(&self, m: &Match, image: &ImageRef) -> bool {
        self.status == VexStatus::NotAffected
            && std::iter::once(&self.vulnerability)
                .chain(&self.aliases)
                .any(|v| names_match(m, v))
            && self
                .products
                .iter()
                .any(|p| product_covers(p, &m.package.purl, image))
    }

    /// `CVE-2023-1 (OpenVEX not_affected: pkg:pypi/django@3.2)`
    pub(crate) fn describe_for(&self, m: &Match) -> String {
        format!(
            "{} (OpenVEX not_affected: {})",
            self.vulnerability, m.package.purl
        )
    }

    /// Justification and impact statement, as one text.
    pub(crate) fn reason(&self) -> Option<String> {
        match (&self.justification, &self.impact_statement) {
            (Some(j), Some(i)) => Some(format!("{j}: {i}")),
            (Some(x), None) | (None, Some(x)) => Some(x.clone()),
            (None, None) => None,
        }
    }
}

fn product_covers(p: &VexProduct, package_purl: &str, image: &ImageRef) -> bool {
    p.ids.iter().any(|id| {
        if is_package_purl(id) {
            purl_matches(id, package_purl)
        } else {
            image_matches(id, image)
                && (p.subcomponents.is_empty()
                    || p.subcomponents
                        .iter()
                        .any(|s| purl_matches(s, package_purl)))
        }
    })
}

fn is_package_purl(id: &str) -> bool {
    id.starts_with("pkg:") && !id.starts_with("pkg:oci/")
}

/// A purl split into what identifies a package: type, namespace/name, version.
#[derive(Debug, PartialEq, Eq)]
struct PurlKey {
    kind: String,
    name: String,
    version: Option<String>,
}

fn purl_key(purl: &str) -> Option<PurlKey> {
    let rest = purl.strip_prefix("pkg:")?;
    let rest = rest.split('#').next().unwrap_or(rest);
    let rest = rest.split('?').next().unwrap_or(rest);
    let (kind, path) = rest.split_once('/')?;
    let kind = kind.to_ascii_lowercase();
    let last_slash = path.rfind('/').map_or(0, |i| i + 1);
    let (name, version) = match path[last_slash..].rfind('@') {
        Some(at) => (
            &path[..last_slash + at],
            Some(percent_decode(&path[last_slash + at + 1..])),
        ),
        None => (path, None),
    };
    let mut name = percent_decode(name.trim_matches('/'));
    if kind == "pypi" {
        name = portcullis_core::Ecosystem::PyPI.normalize_name(&name);
    }
    Some(PurlKey {
        kind,
        name,
        version,
    })
}

/// Whether the package purl `purl` is the package `pattern` names (any version when the
/// pattern has none; qualifiers and subpaths do not identify a package and are ignored).
fn purl_matches(pattern: &str, purl: &str) -> bool {
    match (purl_key(pattern), purl_key(purl)) {
        (Some(p), Some(k)) => {
            p.kind == k.kind
                && p.name == k.name
                && p.version
                    .as_ref()
                    .is_none_or(|v| Some(v) == k.version.as_ref())
        }
        _ => false,
    }
}

/// Whether an image product names `image`: `pkg:oci/<name>@<digest>?repository_url=...&tag=...`
/// or a reference `registry/repo[:tag][@digest]`. A digest or tag in the product must equal
/// the image's.
fn image_matches(id: &str, image: &ImageRef) -> bool {
    if let Some(rest) = id.strip_prefix("pkg:oci/") {
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (name, digest) = match path.split_once('@') {
            Some((n, d)) => (n, Some(percent_decode(d))),
            None => (path, None),
        };
        let mut repository_url = None;
        let mut tag = None;
        for kv in query.split('&') {
            match kv.split_once('=') {
                Some(("repository_url", v)) => repository_url = Some(percent_decode(v)),
                Some(("tag", v)) => tag = Some(percent_decode(v)),
                _ => {}
            }
        }
        let repo_ok = match repository_url {
            Some(url) => {
                let r = ImageRef::loose(&url);
                image.same_repository(Some(&r.registry), &r.repository)
            }
            None => image.repository.rsplit('/').next() == Some(percent_decode(name).as_str()),
        };
        return repo_ok
            && digest.is_none_or(|d| image.digest.as_ref().is_some_and(|i| i.as_str() == d))
            && tag.is_none_or(|t| image.tag.as_deref() == Some(t.as_str()));
    }
    if id.contains("://") || id.trim().is_empty() {
        return false;
    }
    let r = ImageRef::loose(id);
    // A digest that is not one names no image; dropping it would widen the statement.
    if r.digest.is_none() && ImageRef::split(id).digest.is_some() {
        return false;
    }
    image.same_repository(Some(&r.registry), &r.repository)
        && r.tag
            .is_none_or(|t| image.tag.as_deref() == Some(t.as_str()))
        && r.digest.is_none_or(|d| image.digest.as_ref() == Some(&d))
}

/// Decodes `%XX` escapes (invalid escapes are kept as written).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purl_identity() {
        assert!(purl_matches(
            "pkg:npm/%40scope/pkg@1.0.0",
            "pkg:npm/%40scope/pkg@1.0.0"
        ));
        assert!(purl_matches(
            "pkg:npm/@scope/pkg",
            "pkg:npm/%40scope/pkg@2.0.0"
        ));
        assert!(!purl_matches(
            "pkg:npm/@scope/pkg@1.0.0",
            "pkg:npm/%40scope/pkg@2.0.0"
        ));
        assert!(purl_matches(
            "pkg:pypi/Django_Rest@3.2",
            "pkg:pypi/django-rest@3.2?foo=bar"
        ));
        assert!(!purl_matches("pkg:pypi/django@3.2", "pkg:npm/django@3.2"));
        assert!(purl_matches(
            "pkg:deb/debian/openssl@3.0.9-1%2Bb1",
            "pkg:deb/debian/openssl@3.0.9-1+b1?arch=amd64"
        ));
    }

    #[test]
    fn image_products() {
        let img = ImageRef {
            registry: "ghcr.io".into(),
            repository: "org/app".into(),
            tag: Some("1.2".into()),
            digest: portcullis_core::Digest::sha256(&format!("sha256:{}", "ab".repeat(32))),
        };
        assert!(image_matches("ghcr.io/org/app", &img));
        assert!(image_matches("ghcr.io/org/app:1.2", &img));
        assert!(!image_matches("ghcr.io/org/app:1.3", &img));
        assert!(image_matches(
            &format!("ghcr.io/org/app@sha256:{}", "ab".repeat(32)),
            &img
        ));
        assert!(image_matches(
            &format!(
                "pkg:oci/app@sha256%3A{}?repository_url=ghcr.io/org/app",
                "ab".repeat(32)
            ),
            &img
        ));
        assert!(!image_matches(
            &format!(
                "pkg:oci/app@sha256%3A{}?repository_url=ghcr.io/org/app",
                "de".repeat(32)
            ),
            &img
        ));
        assert!(!image_matches(
            "pkg:oci/app?repository_url=docker.io/org/app",
            &img
        ));
        assert!(
            !image_matches("ghcr.io/org/app@sha256:abc", &img),
            "a malformed digest matches nothing"
        );
        assert!(!image_matches("https://example.com/app", &img));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Bb%3A"), "a+b:");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
