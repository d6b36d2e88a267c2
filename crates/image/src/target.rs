//! Where an image lives: a registry reference or a local source, parsed from one string.
//!
//! The grammar follows what people type at `docker pull` and `skopeo`: a bare name is a Docker
//! Hub repository, prefixes (`oci:`, `docker-archive:`, `dir:`, `sbom:`) name local sources.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use portcullis_core::{ImageRef, ImageRefError, is_valid_tag};

/// Errors of parsing a target.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    /// The input was empty.
    #[error("empty image reference")]
    Empty,
    /// A prefixed local target (`oci:`, `dir:` ...) without a path.
    #[error("`{0}` needs a path after the colon")]
    MissingPath(String),
    /// The tag of an `oci:DIR:TAG` target breaks the tag grammar.
    #[error(
        "invalid tag `{tag}` in `{input}`: a tag is 1-128 characters of letters, digits, `_`, `.`, `-`, not starting with `.` or `-`"
    )]
    BadTag {
        /// The whole input.
        input: String,
        /// The offending tag.
        tag: String,
    },
    /// A registry reference that does not parse.
    #[error(transparent)]
    Reference(#[from] ImageRefError),
}

/// Every place an image can live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// An image in a registry.
    Registry(ImageRef),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> ImageRef {
        s.parse().expect(s)
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
