//! Where an image lives: a registry reference or a local source, parsed from one string.
//!
//! The grammar follows what people type at `docker pull` and `skopeo`: a bare name is a Docker
//! Hub repository, prefixes (`oci:`, `docker-archive:`, `dir:`, `sbom:`) name local sources.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Registry name that Docker Hub short names expand to, as people write it.
pub const DOCKER_HUB: &str = "docker.io";
/// The host Docker Hub's registry API actually answers on.
pub const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";

/// Errors of parsing a target or reference.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    /// The input was empty.
    #[error("empty image reference")]
    Empty,
    /// A prefixed local target (`oci:`, `dir:` ...) without a path.
    #[error("`{0}` needs a path after the colon")]
    MissingPath(String),
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

/// A registry image reference, normalised (Docker Hub short names expanded).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Registry as written, `HOST[:PORT]`; `docker.io` for Docker Hub.
    pub registry: String,
    /// Repository path, e.g. `library/nginx`.
    pub repository: String,
    /// Tag, `latest` when neither tag nor digest was given; may coexist with a digest.
    pub tag: Option<String>,
    /// `sha256:<hex>` when pinned by digest; the digest wins over the tag when pulling.
    pub digest: Option<String>,
}

impl Reference {
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
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }
}

impl fmt::Display for Reference {
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

impl FromStr for Reference {
    type Err = TargetError;

    fn from_str(input: &str) -> Result<Self, TargetError> {
        let s = input.trim();
        let s = s.strip_prefix("docker://").unwrap_or(s);
        if s.is_empty() {
            return Err(TargetError::Empty);
        }
        let (name_tag, digest) = match s.split_once('@') {
            Some((n, d)) => {
                if !is_sha256_digest(d) {
                    return Err(TargetError::BadDigest {
                        input: input.to_owned(),
                        digest: d.to_owned(),
                    });
                }
                (n, Some(d.to_owned()))
            }
            None => (s, None),
        };
        // A tag is after the last `:` that follows the last `/` (a `:` before it is a port).
        let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_tag[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                (&name_tag[..at], Some(name_tag[at + 1..].to_owned()))
            }
            None => (name_tag, None),
        };
        if let Some(tag) = &tag
            && !is_valid_tag(tag)
        {
            return Err(TargetError::BadTag {
                input: input.to_owned(),
                tag: tag.clone(),
            });
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                if !is_valid_host(first) {
                    return Err(TargetError::BadHost {
                        input: input.to_owned(),
                        host: first.to_owned(),
                    });
                }
                (first.to_owned(), rest.to_owned())
            }
            Some(_) => (DOCKER_HUB.to_owned(), name.to_owned()),
            None => (DOCKER_HUB.to_owned(), format!("library/{name}")),
        };
        // Docker Hub has several spellings; keep one so credentials and display agree.
        let registry = match registry.as_str() {
            "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
                DOCKER_HUB.to_owned()
            }
            _ => registry,
        };
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        if let Err(why) = check_repository(&repository) {
            return Err(TargetError::BadRepository {
                input: input.to_owned(),
                name: repository,
                why,
            });
        }
        let tag = if tag.is_none() && digest.is_none() {
            Some("latest".to_owned())
        } else {
            tag
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }
}

/// Every place an image can live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// An image in a registry.
    Registry(Reference),
    /// An OCI image layout directory, optionally selecting a tag (`org.opencontainers.image.ref.name`).
    OciLayout {
        /// The layout directory (holds `oci-layout`, `index.json`, `blobs/`).
        dir: PathBuf,
        /// Tag to select; `None` means the layout must hold exactly one image.
        tag: Option<String>,
    },
    /// A `docker save` / `skopeo copy docker-archive:` tarball.
    DockerArchive(PathBuf),
    /// A root filesystem directory, walked as one layer.
    Dir(PathBuf),
    /// An SBOM document; not an image, the caller reads it.
    Sbom(PathBuf),
}

impl FromStr for Target {
    type Err = TargetError;

    fn from_str(input: &str) -> Result<Self, TargetError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(TargetError::Empty);
        }
        let path = |prefix: &str, rest: &str| -> Result<PathBuf, TargetError> {
            if rest.is_empty() {
                Err(TargetError::MissingPath(prefix.to_owned()))
            } else {
                Ok(PathBuf::from(rest))
            }
        };
        if let Some(rest) = s.strip_prefix("oci:") {
            // `oci:DIR:TAG`: the tag is after the last colon, if that part has no `/` (so a
            // directory name holding a colon still works when it is followed by a path part).
            let (dir, tag) = match rest.rsplit_once(':') {
                Some((d, t)) if !t.contains('/') && !d.is_empty() => {
                    if !is_valid_tag(t) {
                        return Err(TargetError::BadTag {
                            input: input.to_owned(),
                            tag: t.to_owned(),
                        });
                    }
                    (d, Some(t.to_owned()))
                }
                _ => (rest, None),
            };
            return Ok(Target::OciLayout {
                dir: path("oci:", dir)?,
                tag,
            });
        }
        if let Some(rest) = s.strip_prefix("docker-archive:") {
            return Ok(Target::DockerArchive(path("docker-archive:", rest)?));
        }
        if let Some(rest) = s.strip_prefix("dir:") {
            return Ok(Target::Dir(path("dir:", rest)?));
        }
        if let Some(rest) = s.strip_prefix("sbom:") {
            return Ok(Target::Sbom(path("sbom:", rest)?));
        }
        let s = s.strip_prefix("registry:").unwrap_or(s);
        Ok(Target::Registry(s.parse()?))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Registry(r) => write!(f, "{r}"),
            Target::OciLayout { dir, tag: Some(t) } => write!(f, "oci:{}:{t}", dir.display()),
            Target::OciLayout { dir, tag: None } => write!(f, "oci:{}", dir.display()),
            Target::DockerArchive(p) => write!(f, "docker-archive:{}", p.display()),
            Target::Dir(p) => write!(f, "dir:{}", p.display()),
            Target::Sbom(p) => write!(f, "sbom:{}", p.display()),
        }
    }
}

/// `sha256:` followed by 64 lowercase hex digits.
pub(crate) fn is_sha256_digest(d: &str) -> bool {
    d.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

fn is_valid_tag(t: &str) -> bool {
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

    fn r(s: &str) -> Reference {
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
        assert_eq!(b.digest.as_deref(), Some(d.as_str()));
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
        let err = |s: &str| s.parse::<Reference>().expect_err(s).to_string();
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
    fn targets_parse_by_prefix() {
        let t = |s: &str| s.parse::<Target>().expect(s);
        assert_eq!(
            t("oci:/a/b"),
            Target::OciLayout {
                dir: "/a/b".into(),
                tag: None
            }
        );
        assert_eq!(
            t("oci:/a/b:bookworm"),
            Target::OciLayout {
                dir: "/a/b".into(),
                tag: Some("bookworm".into())
            }
        );
        assert_eq!(
            t("oci:./x:y/z"),
            Target::OciLayout {
                dir: "./x:y/z".into(),
                tag: None
            }
        );
        assert_eq!(
            t("docker-archive:img.tar"),
            Target::DockerArchive("img.tar".into())
        );
        assert_eq!(t("dir:/"), Target::Dir("/".into()));
        assert_eq!(t("sbom:x.spdx.json"), Target::Sbom("x.spdx.json".into()));
        assert_eq!(
            t("alpine:3.19"),
            Target::Registry(r("docker.io/library/alpine:3.19"))
        );
        assert_eq!(t("registry:alpine"), Target::Registry(r("alpine:latest")));
        assert_eq!(t("oci:/a:b").to_string(), "oci:/a:b");
        assert_eq!(
            "dir:".parse::<Target>(),
            Err(TargetError::MissingPath("dir:".into()))
        );
        assert!(matches!(
            "oci:/a:..".parse::<Target>(),
            Err(TargetError::BadTag { .. })
        ));
    }
}
