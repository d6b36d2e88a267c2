//! A small package-url parser: enough of the purl specification to read the purls that
//! SBOM tools write and to tell which ecosystem and package they name.
//!
//! Decoding an SBOM needs the ecosystem and the ecosystem's spelling of the name, and both
//! live in the purl (`pkg:maven/org.apache/commons@1` is `org.apache:commons` in Maven).
//! The parser is lenient where tools differ (a raw `@` in an npm scope, `pkg://`) and strict
//! where a wrong reading would name another package (bad percent-encoding, no type or name).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use portcullis_core::Ecosystem;

/// Why a string is not a package URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PurlError {
    /// The string does not start with the `pkg:` scheme.
    #[error("does not start with 'pkg:'")]
    MissingScheme,
    /// There is no `/` after the type, so there is no name.
    #[error("no '/' after the type")]
    MissingType,
    /// The type has characters the specification does not allow.
    #[error(
        "invalid type '{0}' (allowed: letters, digits, '.', '+', '-', not starting with a digit)"
    )]
    InvalidType(String),
    /// The name segment is empty.
    #[error("empty name")]
    MissingName,
    /// A `%` is not followed by two hex digits, or the decoded bytes are not UTF-8.
    #[error("bad percent-encoding in '{0}'")]
    BadEncoding(String),
    /// A qualifier is not `key=value` or its key has characters outside `[a-z0-9.-_]`.
    #[error("bad qualifier '{0}'")]
    BadQualifier(String),
}

/// A parsed package URL: `pkg:type/namespace/name@version?qualifiers#subpath`, every part
/// percent-decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Purl {
    /// Package type, lowercased (`deb`, `npm`, `maven` ...).
    pub ty: String,
    /// Namespace segments joined by `/` (`debian`, `@angular`, `github.com/gorilla`).
    pub namespace: Option<String>,
    /// Package name.
    pub name: String,
    /// Version, when the purl has one.
    pub version: Option<String>,
    /// Qualifiers with lowercased keys; empty values are dropped as the spec says.
    pub qualifiers: BTreeMap<String, String>,
    /// Subpath inside the package, when given.
    pub subpath: Option<String>,
}

impl Purl {
    /// Parses a purl.
    pub fn parse(s: &str) -> Result<Purl, PurlError> {
        let s = s.trim();
        let rest = match s.get(..4) {
            Some(scheme) if scheme.eq_ignore_ascii_case("pkg:") => &s[4..],
            _ => return Err(PurlError::MissingScheme),
        };
        // The spec tells parsers to ignore slashes after the scheme (`pkg://npm/x`).
        let rest = rest.trim_start_matches('/');
        let (rest, subpath) = match rest.split_once('#') {
            Some((r, sp)) => {
                let segs: Vec<String> = sp
                    .split('/')
                    .filter(|seg| !seg.is_empty() && *seg != "." && *seg != "..")
                    .map(decode)
                    .collect::<Result<_, _>>()?;
                (r, (!segs.is_empty()).then(|| segs.join("/")))
            }
            None => (rest, None),
        };
        let (rest, qualifiers) = match rest.split_once('?') {
            Some((r, q)) => (r, parse_qualifiers(q)?),
            None => (rest, BTreeMap::new()),
        };
        let (ty, rest) = rest.split_once('/').ok_or(PurlError::MissingType)?;
        let ty = ty.to_ascii_lowercase();
        let valid_type = ty.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && ty
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-'));
        if !valid_type {
            return Err(PurlError::InvalidType(ty));
        }
        let rest = rest.trim_matches('/');
        // The version separator is the last '@' after the last '/': an npm scope may be
        // written with a raw '@' (`@angular/core@1.0`), which must stay in the namespace.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (path, version) = match rest[last_slash..].rfind('@') {
            Some(at) => {
                let at = last_slash + at;
                (&rest[..at], Some(decode(&rest[at + 1..])?))
            }
            None => (rest, None),
        };
        let version = version.filter(|v| !v.is_empty());
        let (namespace, name) = match path.rsplit_once('/') {
            Some((ns, name)) => {
                let segs: Vec<String> = ns
                    .split('/')
                    .filter(|seg| !seg.is_empty())
                    .map(decode)
                    .collect::<Result<_, _>>()?;
                ((!segs.is_empty()).then(|| segs.join("/")), decode(name)?)
            }
            None => (None, decode(path)?),
        };
        if name.is_empty() {
            return Err(PurlError::MissingName);
        }
        Ok(Purl {
            ty,
            namespace,
            name,
            version,
            qualifiers,
            subpath,
        })
    }

    /// The ecosystem this purl's type stands for, or `None` for types Portcullis has no
    /// advisories for (`generic`, `github`, `oci` ...).
    pub fn ecosystem(&self) -> Option<Ecosystem> {
        let e = match self.ty.as_str() {
            "deb"
                if self
                    .namespace
                    .as_deref()
                    .is_some_and(|ns| ns.eq_ignore_ascii_case("ubuntu")) =>
            {
                Ecosystem::Ubuntu
            }
            "deb" => Ecosystem::Debian,
            "apk" => Ecosystem::Alpine,
            "rpm" => Ecosystem::Rpm,
            "pypi" => Ecosystem::PyPI,
            "npm" => Ecosystem::Npm,
            "golang" => Ecosystem::Go,
            "cargo" => Ecosystem::Cargo,
            "maven" => Ecosystem::Maven,
            "gem" => Ecosystem::RubyGems,
            "composer" => Ecosystem::Packagist,
            "nuget" => Ecosystem::NuGet,
            _ => return None,
        };
        Some(e)
    }

    /// The package name as the ecosystem (and so OSV) spells it: Maven `group:artifact`,
    /// npm `@scope/name`, Go the full module path, Composer `vendor/name`, PyPI normalised
    /// per PEP 503; OS packages and the rest use the bare name.
    pub fn package_name(&self) -> String {
        let ns = self.namespace.as_deref().filter(|ns| !ns.is_empty());
        match (self.ty.as_str(), ns) {
            ("maven", Some(ns)) => format!("{ns}:{}", self.name),
            ("npm", Some(ns)) if ns.starts_with('@') => format!("{ns}/{}", self.name),
            ("npm", Some(ns)) => format!("@{ns}/{}", self.name),
            ("golang" | "composer", Some(ns)) => format!("{ns}/{}", self.name),
            ("pypi", _) => portcullis_core::Ecosystem::PyPI.normalize_name(&self.name),
            _ => self.name.clone(),
        }
    }

    /// A qualifier's value.
    pub fn qualifier(&self, key: &str) -> Option<&str> {
        self.qualifiers.get(key).map(String::as_str)
    }
}

impl FromStr for Purl {
    type Err = PurlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Purl::parse(s)
    }
}

impl fmt::Display for Purl {
    /// The canonical form: every component percent-encoded, qualifiers sorted by key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pkg:{}/", self.ty)?;
        if let Some(ns) = &self.namespace {
            for seg in ns.split('/') {
                write!(f, "{}/", encode(seg))?;
            }
        }
        f.write_str(&encode(&self.name))?;
        if let Some(v) = &self.version {
            write!(f, "@{}", encode(v))?;
        }
        for (i, (k, v)) in self.qualifiers.iter().enumerate() {
            write!(f, "{}{k}={}", if i == 0 { '?' } else { '&' }, encode(v))?;
        }
        if let Some(sp) = &self.subpath {
            let segs: Vec<String> = sp.split('/').map(encode).collect();
            write!(f, "#{}", segs.join("/"))?;
        }
        Ok(())
    }
}

/// Percent-encodes everything outside the unreserved set (RFC 3986), including `:` and `/`,
/// which is always a valid purl component.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Percent-decodes one purl component.
fn decode(s: &str) -> Result<String, PurlError> {
    if !s.contains('%') {
        return Ok(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .ok_or_else(|| PurlError::BadEncoding(s.to_string()))?;
            let hex =
                std::str::from_utf8(hex).map_err(|_| PurlError::BadEncoding(s.to_string()))?;
            let b =
                u8::from_str_radix(hex, 16).map_err(|_| PurlError::BadEncoding(s.to_string()))?;
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| PurlError::BadEncoding(s.to_string()))
}

fn parse_qualifiers(q: &str) -> Result<BTreeMap<String, String>, PurlError> {
    let mut out = BTreeMap::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| PurlError::BadQualifier(pair.to_string()))?;
        let k = k.to_ascii_lowercase();
        let valid_key = !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !valid_key {
            return Err(PurlError::BadQualifier(pair.to_string()));
        }
        let v = decode(v)?;
        if !v.is_empty() {
            out.insert(k, v);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_deb_with_qualifiers_and_encoded_version() {
        let p = Purl::parse(
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc",
        )
        .unwrap();
        assert_eq!(p.ty, "deb");
        assert_eq!(p.namespace.as_deref(), Some("debian"));
        assert_eq!(p.name, "libc6");
        assert_eq!(p.version.as_deref(), Some("2.36-9+deb12u4"));
        assert_eq!(p.qualifier("distro"), Some("debian-12"));
        assert_eq!(p.qualifier("upstream"), Some("glibc"));
        assert_eq!(p.ecosystem(), Some(Ecosystem::Debian));
    }

    #[test]
    fn deb_epoch_colon_may_be_raw() {
        let p = Purl::parse("pkg:deb/debian/login@1:4.13%2Bdfsg1-1?arch=amd64").unwrap();
        assert_eq!(p.version.as_deref(), Some("1:4.13+dfsg1-1"));
    }

    #[test]
    fn ubuntu_namespace_selects_ubuntu() {
        let p = Purl::parse("pkg:deb/ubuntu/bash@5.1-6ubuntu1").unwrap();
        assert_eq!(p.ecosystem(), Some(Ecosystem::Ubuntu));
    }

    #[test]
    fn npm_scope_encoded_or_raw() {
        for s in [
            "pkg:npm/%40angular/core@16.0.0",
            "pkg:npm/@angular/core@16.0.0",
        ] {
            let p = Purl::parse(s).unwrap();
            assert_eq!(p.namespace.as_deref(), Some("@angular"), "{s}");
            assert_eq!(p.version.as_deref(), Some("16.0.0"), "{s}");
            assert_eq!(p.package_name(), "@angular/core", "{s}");
        }
        let unversioned = Purl::parse("pkg:npm/@angular/core").unwrap();
        assert_eq!(unversioned.version, None);
        assert_eq!(unversioned.package_name(), "@angular/core");
    }

    #[test]
    fn ecosystem_names() {
        let cases = [
            (
                "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
                Ecosystem::Maven,
                "org.apache.logging.log4j:log4j-core",
            ),
            (
                "pkg:golang/github.com/gorilla/websocket@v1.5.0",
                Ecosystem::Go,
                "github.com/gorilla/websocket",
            ),
            (
                "pkg:pypi/Django_Rest.Framework@3.0",
                Ecosystem::PyPI,
                "django-rest-framework",
            ),
            (
                "pkg:composer/laravel/framework@10.0.0",
                Ecosystem::Packagist,
                "laravel/framework",
            ),
            ("pkg:gem/rails@7.0.0", Ecosystem::RubyGems, "rails"),
            (
                "pkg:nuget/Newtonsoft.Json@13.0.1",
                Ecosystem::NuGet,
                "Newtonsoft.Json",
            ),
            ("pkg:cargo/serde@1.0.0", Ecosystem::Cargo, "serde"),
            (
                "pkg:apk/alpine/musl@1.2.4-r1?arch=x86_64",
                Ecosystem::Alpine,
                "musl",
            ),
            (
                "pkg:rpm/redhat/openssl@1.1.1k-7.el8?epoch=1",
                Ecosystem::Rpm,
                "openssl",
            ),
        ];
        for (s, eco, name) in cases {
            let p = Purl::parse(s).unwrap();
            assert_eq!(p.ecosystem(), Some(eco), "{s}");
            assert_eq!(p.package_name(), name, "{s}");
        }
        assert_eq!(
            Purl::parse("pkg:generic/openssl@3.0").unwrap().ecosystem(),
            None
        );
    }

    #[test]
    fn type_is_case_insensitive_and_slashes_after_scheme_are_ignored() {
        let p = Purl::parse("PKG://PyPI/requests@2.0").unwrap();
        assert_eq!(p.ty, "pypi");
        assert_eq!(p.name, "requests");
    }

    #[test]
    fn subpath_and_empty_qualifiers() {
        let p = Purl::parse(
            "pkg:golang/google.golang.org/genproto@abc?goos=&goarch=amd64#googleapis/api",
        )
        .unwrap();
        assert_eq!(p.namespace.as_deref(), Some("google.golang.org"));
        assert_eq!(p.name, "genproto");
        assert_eq!(p.subpath.as_deref(), Some("googleapis/api"));
        assert_eq!(p.qualifiers.len(), 1);
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(Purl::parse("npm/lodash@1"), Err(PurlError::MissingScheme));
        assert_eq!(Purl::parse("pkg:lodash"), Err(PurlError::MissingType));
        assert_eq!(Purl::parse("pkg:npm/"), Err(PurlError::MissingName));
        assert_eq!(Purl::parse("pkg:npm/@1.0"), Err(PurlError::MissingName));
        assert!(matches!(
            Purl::parse("pkg:1npm/x"),
            Err(PurlError::InvalidType(_))
        ));
        assert!(matches!(
            Purl::parse("pkg:npm/a%zz@1"),
            Err(PurlError::BadEncoding(_))
        ));
        assert!(matches!(
            Purl::parse("pkg:npm/a%c3@1"),
            Err(PurlError::BadEncoding(_))
        ));
        assert!(matches!(
            Purl::parse("pkg:npm/a@1?novalue"),
            Err(PurlError::BadQualifier(_))
        ));
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "pkg:oci/debian@sha256%3Aabc?repository_url=registry.local%3A5000%2Fdebian",
            "pkg:npm/%40scope/name@1.0.0",
            "pkg:deb/debian/libstdc%2B%2B6@12.2.0-14?arch=amd64&distro=debian-12",
        ] {
            let p = Purl::parse(s).unwrap();
            assert_eq!(p.to_string(), s);
            assert_eq!(Purl::parse(&p.to_string()).unwrap(), p);
        }
    }
}
