//! Image references: the one reading of `[REGISTRY/]REPOSITORY[:TAG][@DIGEST]` that pulls,
//! exceptions, SBOM purls and digest pins share.
//!
//! Two readings, one split. [`ImageRef::split`] cuts a reference as written into name, tag and
//! digest (a `:` after the last `/` starts the tag; one before it is a port). On top of it,
//! `str::parse` checks the distribution spec's grammar and expands Docker Hub short names, for
//! references that will be pulled; [`ImageRef::loose`] expands the same way but never fails, for
//! references that are only compared (an exception's scope against a report's image).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Registry name that Docker Hub short names expand to, as people write it.
pub const DOCKER_HUB: &str = "docker.io";
/// The host Docker Hub's registry API actually answers on.
pub const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";

/// A content digest, `ALGORITHM:ENCODED` as the OCI image spec writes it (`sha256:` and 64
/// lowercase hex digits in practice).
///
/// Digests come from two kinds of source: registries, layouts and archives, whose digests
/// Portcullis computes or checks (always sha256), and third-party SBOMs, which may name
/// layers with another registered algorithm. The type holds any digest the spec's grammar
/// allows, with the registered algorithms' encodings checked (sha256: 64, sha512: 128
/// lowercase hex digits), so a malformed value is refused where it enters, never carried;
/// [`Digest::is_sha256`] tells the ones Portcullis can verify.
///
/// Clones share one allocation: a report names the same few layer digests in every match, and
/// `serve` holds the reports of thousands of images.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(std::sync::Arc<str>);

/// Why a string is not a [`Digest`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid digest `{0}`: expected ALGORITHM:ENCODED, e.g. sha256: followed by 64 lowercase hex digits"
)]
pub struct DigestError(pub String);

impl Digest {
    /// `d` as a digest, if the OCI grammar allows it.
    pub fn parse(d: &str) -> Result<Digest, DigestError> {
        if Self::is_valid(d) {
            Ok(Digest(d.into()))
        } else {
            Err(DigestError(d.to_string()))
        }
    }

    /// `d` as a digest when it is `sha256:` and 64 lowercase hex digits, the only kind a
    /// pull can verify.
    pub fn sha256(d: &str) -> Option<Digest> {
        Self::is_sha256(d).then(|| Digest(d.into()))
    }

    /// True when `d` is `sha256:` followed by 64 lowercase hex digits.
    pub fn is_sha256(d: &str) -> bool {
        d.strip_prefix("sha256:")
            .is_some_and(|h| is_lower_hex(h, 64))
    }

    /// True when `d` is a digest: `algorithm ":" encoded`, where the algorithm is lowercase
    /// alphanumeric components joined by `+`, `.`, `_` or `-`, and the encoding is
    /// `[A-Za-z0-9=_-]+` (lowercase hex of the right length for sha256 and sha512).
    pub fn is_valid(d: &str) -> bool {
        let Some((alg, enc)) = d.split_once(':') else {
            return false;
        };
        let alg_ok = !alg.is_empty()
            && alg.split(['+', '.', '_', '-']).all(|c| {
                !c.is_empty()
                    && c.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
        let enc_ok = !enc.is_empty()
            && enc
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'));
        alg_ok
            && enc_ok
            && match alg {
                "sha256" => is_lower_hex(enc, 64),
                "sha512" => is_lower_hex(enc, 128),
                _ => true,
            }
    }

    /// The digest as written, `sha256:...`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The algorithm, `sha256`.
    pub fn algorithm(&self) -> &str {
        self.0.split_once(':').map_or("", |(a, _)| a)
    }

    /// The encoded part after the algorithm: the hex digits for sha256 (what content-addressed
    /// stores name files by).
    pub fn encoded(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, e)| e)
    }
}

fn is_lower_hex(h: &str, len: usize) -> bool {
    h.len() == len
        && h.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, DigestError> {
        Digest::parse(s)
    }
}

impl TryFrom<String> for Digest {
    type Error = DigestError;

    fn try_from(s: String) -> Result<Self, DigestError> {
        if Digest::is_valid(&s) {
            Ok(Digest(s.into()))
        } else {
            Err(DigestError(s))
        }
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.0.to_string()
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Digest {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<String> for Digest {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<&str> for Digest {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

/// What is wrong with an image reference. Each message quotes the whole input.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImageRefError {
    /// The input was empty.
    #[error("empty image reference")]
    Empty,
    /// The repository part breaks the distribution spec's name grammar.
    #[error(
        "invalid repository name `{name}` in `{input}`: {why} (components are lowercase letters, digits and \
         single `.`, `_`, `__` or `-` separators, joined by `/`)"
    )]
    BadRepository {
        /// The whole input.
        input: String,
        /// The offending repository.
        name: String,
        /// What exactly is wrong.
        why: &'static str,
    },
    /// The tag breaks `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
    #[error(
        "invalid tag `{tag}` in `{input}`: a tag is 1-128 characters of letters, digits, `_`, `.`, `-`, not starting with `.` or `-`"
    )]
    BadTag {
        /// The whole input.
        input: String,
        /// The offending tag.
        tag: String,
    },
    /// The digest is not `sha256:` followed by 64 lowercase hex digits.
    #[error(
        "invalid digest `{digest}` in `{input}`: expected sha256: followed by 64 lowercase hex digits"
    )]
    BadDigest {
        /// The whole input.
        input: String,
        /// The offending digest.
        digest: String,
    },
    /// The registry host part is malformed.
    #[error("invalid registry host `{host}` in `{input}`")]
    BadHost {
        /// The whole input.
        input: String,
        /// The offending host.
        host: String,
    },
}

/// A reference cut as written: nothing expanded, nothing checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WrittenRef<'a> {
    /// Everything before the tag and digest: `[REGISTRY/]REPOSITORY` as written.
    pub name: &'a str,
    /// The tag, if written.
    pub tag: Option<&'a str>,
    /// The digest, if written (after `@`).
    pub digest: Option<&'a str>,
}

/// A registry image reference, normalised: Docker Hub short names expanded (`nginx` is
/// `docker.io/library/nginx`), Docker Hub's other host names and upper-case hosts folded.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// Registry, `HOST[:PORT]` in lower case; `docker.io` for Docker Hub.
    pub registry: String,
    /// Repository path, e.g. `library/nginx`.
    pub repository: String,
    /// The tag. A parsed reference without tag or digest gets `latest`; a loose one keeps
    /// what was written.
    pub tag: Option<String>,
    /// The digest when pinned by one; it wins over the tag when pulling.
    pub digest: Option<Digest>,
}

impl ImageRef {
    /// Cuts `reference` into name, tag and digest as written (a leading `docker://` is dropped).
    pub fn split(reference: &str) -> WrittenRef<'_> {
        let s = reference.trim();
        let s = s.strip_prefix("docker://").unwrap_or(s);
        let (name_tag, digest) = match s.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (s, None),
        };
        // A tag is after the last `:` that follows the last `/` (a `:` before it is a port).
        let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
        match name_tag[last_slash..].rfind(':') {
            Some(i) => WrittenRef {
                name: &name_tag[..last_slash + i],
                tag: Some(&name_tag[last_slash + i + 1..]),
                digest,
            },
            None => WrittenRef {
                name: name_tag,
                tag: None,
                digest,
            },
        }
    }

    /// The reference as written without its tag and digest (`ghcr.io/x/y:v1@sha256:..` is
    /// `ghcr.io/x/y`), so a digest can be pinned as `repo@sha256:...`.
    pub fn written_repository(reference: &str) -> &str {
        Self::split(reference).name
    }

    /// Reads `reference` the way Docker does without checking its grammar: for references
    /// that are only compared. Never fails; a digest that is not one is dropped (it could
    /// never equal an image's digest).
    pub fn loose(reference: &str) -> ImageRef {
        let w = Self::split(reference);
        let (registry, repository) = registry_and_repository(w.name);
        let registry = normalise_registry(registry);
        let repository = normalise_repository(&registry, repository.trim_matches('/'));
        ImageRef {
            registry,
            repository,
            tag: w.tag.map(str::to_string),
            digest: w.digest.and_then(Digest::sha256),
        }
    }

    /// True when `repository` (on `registry`, when given) names this image's repository,
    /// with Docker Hub's spellings folded.
    pub fn same_repository(&self, registry: Option<&str>, repository: &str) -> bool {
        let reg = normalise_registry(&self.registry);
        registry.is_none_or(|r| normalise_registry(r) == reg)
            && normalise_repository(&reg, repository.trim().trim_matches('/'))
                == normalise_repository(&reg, &self.repository)
    }

    /// The host the registry API is reached on (Docker Hub's API lives on another host than
    /// its name).
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API_HOST
        } else {
            &self.registry
        }
    }

    /// What to ask the manifest endpoint for: the digest when pinned, else the tag.
    pub fn manifest_ref(&self) -> &str {
        self.digest
            .as_ref()
            .map(Digest::as_str)
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for ImageRef {
    type Err = ImageRefError;

    /// Reads and checks a reference to pull: host, repository, tag and digest grammar.
    fn from_str(input: &str) -> Result<Self, ImageRefError> {
        let w = Self::split(input);
        if w.name.is_empty() && w.tag.is_none() && w.digest.is_none() {
            return Err(ImageRefError::Empty);
        }
        let digest = match w.digest {
            Some(d) => Some(Digest::sha256(d).ok_or_else(|| ImageRefError::BadDigest {
                input: input.to_owned(),
                digest: d.to_owned(),
            })?),
            None => None,
        };
        if let Some(tag) = w.tag.filter(|t| !is_valid_tag(t)) {
            return Err(ImageRefError::BadTag {
                input: input.to_owned(),
                tag: tag.to_owned(),
            });
        }
        let (registry, repository) = registry_and_repository(w.name);
        if registry != DOCKER_HUB && !is_valid_host(registry) {
            return Err(ImageRefError::BadHost {
                input: input.to_owned(),
                host: registry.to_owned(),
            });
        }
        let registry = normalise_registry(registry);
        let repository = normalise_repository(&registry, repository);
        if let Err(why) = check_repository(&repository) {
            return Err(ImageRefError::BadRepository {
                input: input.to_owned(),
                name: repository,
                why,
            });
        }
        let tag = match (w.tag, w.digest) {
            (None, None) => Some("latest".to_owned()),
            (tag, _) => tag.map(str::to_owned),
        };
        Ok(ImageRef {
            registry,
            repository,
            tag,
            digest,
        })
    }
}

/// A first path component with a `.` or `:`, or `localhost`, is the registry; else Docker Hub.
fn registry_and_repository(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first, rest)
        }
        _ => (DOCKER_HUB, name),
    }
}

/// Docker Hub has several host names; host names are case-insensitive.
fn normalise_registry(r: &str) -> String {
    let r = r.trim().trim_end_matches('/').to_ascii_lowercase();
    match r.as_str() {
        "index.docker.io"
        | "registry-1.docker.io"
        | "registry.hub.docker.com"
        | "hub.docker.com" => DOCKER_HUB.to_string(),
        _ => r,
    }
}

/// Official Docker Hub images are `library/<name>`.
fn normalise_repository(registry: &str, repo: &str) -> String {
    if registry == DOCKER_HUB && !repo.contains('/') {
        format!("library/{repo}")
    } else {
        repo.to_string()
    }
}

/// Tag grammar of the distribution spec: 1-128 of `[A-Za-z0-9_.-]`, not starting with `.` or
/// `-` (also for other places that name tags, such as `oci:DIR:TAG`).
pub fn is_valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn is_valid_host(h: &str) -> bool {
    let (host, port) = match h.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (h, None),
    };
    if let Some(p) = port
        && (p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn check_repository(r: &str) -> Result<(), &'static str> {
    if r.is_empty() {
        return Err("it is empty");
    }
    if r.len() > 255 {
        return Err("it is longer than 255 characters");
    }
    if r.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err("it contains uppercase letters");
    }
    for component in r.split('/') {
        if component.is_empty() {
            return Err("it has an empty path component");
        }
        let b = component.as_bytes();
        if !b[0].is_ascii_lowercase() && !b[0].is_ascii_digit() {
            return Err("a component must start with a lowercase letter or digit");
        }
        if !b[b.len() - 1].is_ascii_lowercase() && !b[b.len() - 1].is_ascii_digit() {
            return Err("a component must end with a lowercase letter or digit");
        }
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                i += 1;
                continue;
            }
            // A separator: `.`, `_`, `__`, or one or more `-`.
            let start = i;
            while i < b.len() && matches!(b[i], b'.' | b'_' | b'-') {
                i += 1;
            }
            let sep = &component[start..i];
            if sep.is_empty() {
                return Err("it contains characters outside [a-z0-9._-]");
            }
            if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-')) {
                return Err("it has an invalid separator sequence");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> ImageRef {
        match s.parse() {
            Ok(r) => r,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn docker_hub_short_names_expand() {
        let n = r("nginx");
        assert_eq!(n.to_string(), "docker.io/library/nginx:latest");
        assert_eq!(n.api_host(), "registry-1.docker.io");
        assert_eq!(
            r("bitnami/redis:7").to_string(),
            "docker.io/bitnami/redis:7"
        );
        assert_eq!(
            r("index.docker.io/nginx").to_string(),
            "docker.io/library/nginx:latest"
        );
        assert_eq!(
            r("docker.io/library/nginx:1.25").repository,
            "library/nginx"
        );
    }

    #[test]
    fn hosts_ports_tags_and_digests() {
        let d = "sha256:".to_owned() + &"ab".repeat(32);
        let a = r("127.0.0.1:5055/acceptance/debian:bookworm");
        assert_eq!(a.registry, "127.0.0.1:5055");
        assert_eq!(a.repository, "acceptance/debian");
        assert_eq!(a.tag.as_deref(), Some("bookworm"));
        assert_eq!(a.api_host(), "127.0.0.1:5055");

        let b = r(&format!("localhost:5000/x@{d}"));
        assert_eq!(b.registry, "localhost:5000");
        assert_eq!(b.tag, None);
        assert_eq!(b.digest.as_ref().map(Digest::as_str), Some(d.as_str()));
        assert_eq!(b.manifest_ref(), d);

        let c = r(&format!("ghcr.io/o/p/q:v1.2@{d}"));
        assert_eq!(c.repository, "o/p/q");
        assert_eq!(c.tag.as_deref(), Some("v1.2"));
        assert_eq!(c.manifest_ref(), d, "the digest wins over the tag");
        assert_eq!(c.to_string(), format!("ghcr.io/o/p/q:v1.2@{d}"));

        // A name without dots or colons in the first component is a Docker Hub namespace.
        assert_eq!(r("myorg/app").registry, "docker.io");
        assert_eq!(r("localhost/app").registry, "localhost");
    }

    #[test]
    fn bad_references_say_what_is_wrong() {
        let err = |s: &str| s.parse::<ImageRef>().expect_err(s).to_string();
        assert!(err("").contains("empty"));
        assert!(err("Nginx").contains("uppercase"), "{}", err("Nginx"));
        assert!(err("nginx:").contains("invalid tag"));
        assert!(err("nginx:-x").contains("invalid tag"));
        assert!(err("nginx@sha256:abc").contains("invalid digest"));
        assert!(err("nginx@md5:00").contains("invalid digest"));
        assert!(err("example.com//x").contains("empty path component"));
        assert!(err("example.com/a..b").contains("separator"));
        assert!(err("example.com/a$b").contains("outside"));
        assert!(err("exa_mple.com/x").contains("registry host"));
        assert!(err("example.com:port/x").contains("registry host"));
        assert!(err("example.com/x/").contains("empty path component"));
    }

    #[test]
    fn loose_references_compare_as_docker_reads_them() {
        let n = ImageRef::loose("NGINX.example.com/Team/app:1@sha256:abc");
        assert_eq!(n.registry, "nginx.example.com");
        assert_eq!(n.repository, "Team/app", "loose keeps what it cannot check");
        assert_eq!(n.tag.as_deref(), Some("1"));
        assert_eq!(n.digest, None, "not a digest: it could never match one");
        let d = format!("sha256:{}", "ab".repeat(32));
        let pinned = ImageRef::loose(&format!("ghcr.io/o/app@{d}"));
        assert_eq!(pinned.digest.as_ref().map(Digest::as_str), Some(d.as_str()));
        let hub = ImageRef::loose("hub.docker.com/nginx");
        assert_eq!(
            (hub.registry.as_str(), hub.tag.as_deref()),
            ("docker.io", None)
        );
        assert!(hub.same_repository(Some("index.docker.io"), "library/nginx"));
        assert!(hub.same_repository(None, "nginx"));
        assert!(!hub.same_repository(Some("ghcr.io"), "nginx"));
    }

    #[test]
    fn written_repository_keeps_the_spelling() {
        for (image, repo) in [
            ("nginx", "nginx"),
            ("nginx:1.25", "nginx"),
            ("127.0.0.1:5055/a/b:tag", "127.0.0.1:5055/a/b"),
            ("127.0.0.1:5055/a/b", "127.0.0.1:5055/a/b"),
            ("ghcr.io/x/y:v1@sha256:abc", "ghcr.io/x/y"),
            ("ghcr.io/x/y@sha256:abc", "ghcr.io/x/y"),
        ] {
            assert_eq!(ImageRef::written_repository(image), repo, "{image}");
        }
    }

    #[test]
    fn digests_follow_the_oci_grammar() {
        let d = format!("sha256:{}", "0a".repeat(32));
        assert_eq!(Digest::sha256(&d).map(|d| d.to_string()), Some(d.clone()));
        assert_eq!(Digest::parse(&d).map(|d| d.to_string()), Ok(d.clone()));
        assert!(Digest::sha256("sha256:ABC").is_none());
        assert!(Digest::sha256(&d.to_uppercase()).is_none());
        let sha512 = format!("sha512:{}", "ab".repeat(64));
        assert!(Digest::parse(&sha512).is_ok());
        assert!(Digest::sha256(&sha512).is_none());
        assert!(
            Digest::parse("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8")
                .is_ok()
        );
        for bad in [
            "sha256:0a",
            "sha512:00",
            "md5",
            ":00",
            "md5:",
            "MD5:00",
            "md5:0 0",
            "a..b:00",
        ] {
            assert!(Digest::parse(bad).is_err(), "{bad}");
        }
        let err = serde_json::from_str::<Digest>("\"sha256:00\"").unwrap_err();
        assert!(
            err.to_string().contains("invalid digest `sha256:00`"),
            "{err}"
        );
        assert_eq!(
            serde_json::from_str::<Digest>("\"md5:00\"").unwrap(),
            "md5:00"
        );
    }
}
