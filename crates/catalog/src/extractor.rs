//! The contract between the cataloguing engine and the per-format extractors.
//!
//! The engine reads each layer once and asks every extractor the cheap [`Extractor::required`]
//! question about each path; only the files some extractor wants are read, and only those
//! bytes are handed to [`Extractor::extract`]. Extractors never open files themselves, so the
//! same extractor serves a registry image, an OCI layout or a directory alike.

use portcullis_core::{Digest, Distro, Location, Package};

/// One extractor per package format.
///
/// Implementations must be cheap to ask ([`required`](Extractor::required) sees only a path)
/// and must never panic on bad input: malformed content is an [`ExtractError`] naming the
/// file and, where the format has lines, the line. (The engine still guards against panics.)
pub trait Extractor: Send + Sync {
    /// Stable name, stored in `Package::found_by`: `os/dpkg`, `python/dist-info` ...
    fn name(&self) -> &'static str;

    /// Bumped whenever the output for the same input changes, so per-layer caches keyed by
    /// the extractor versions are invalidated.
    fn version(&self) -> u32;

    /// Whether the file at `path` (absolute, normalised) should be read and handed to
    /// [`extract`](Extractor::extract). Path only: it is asked for every file of every layer.
    fn required(&self, path: &str) -> bool;

    /// For formats that cannot be told by path (executables): whether a file is wanted,
    /// judged on its first bytes ([`MAGIC_LEN`] of them, fewer for tiny files). The engine
    /// only asks this for files no extractor required by path.
    fn required_by_magic(&self, _head: &[u8]) -> bool {
        false
    }

    /// Whether [`ExtractInput::distro`] matters to this extractor. The distro is only known
    /// once every layer was seen, so the engine keeps such files' content and runs these
    /// extractors at the end; all others run as soon as the file is read, so a large binary
    /// is never kept in memory.
    fn needs_distro(&self) -> bool {
        false
    }

    /// Parses one file into packages.
    fn extract(&self, input: &ExtractInput<'_>) -> Result<Vec<Package>>;
}

/// How many leading bytes [`Extractor::required_by_magic`] is shown.
pub const MAGIC_LEN: usize = 16;

/// One file handed to an extractor.
#[derive(Clone, Copy, Debug)]
pub struct ExtractInput<'a> {
    /// Absolute path inside the image.
    pub path: &'a str,
    /// Digest of the layer that wrote the file, when the source has layers.
    pub layer: Option<&'a Digest>,
    /// The whole file.
    pub content: &'a [u8],
    /// The image's operating system, for extractors that said [`Extractor::needs_distro`]
    /// (always `None` for the others).
    pub distro: Option<&'a Distro>,
}

impl<'a> ExtractInput<'a> {
    /// The evidence for packages found in this file.
    pub fn location(&self) -> Location {
        Location {
            layer: self.layer.cloned(),
            path: self.path.to_owned(),
        }
    }

    /// A [`ExtractError::Malformed`] for this file.
    pub fn malformed(&self, line: Option<usize>, what: impl Into<String>) -> ExtractError {
        ExtractError::Malformed {
            path: self.path.to_owned(),
            line,
            what: what.into(),
        }
    }

    /// A [`ExtractError::Parse`] for this file.
    pub fn parse_error(
        &self,
        format: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> ExtractError {
        ExtractError::Parse {
            path: self.path.to_owned(),
            format,
            source: source.into(),
        }
    }

    /// The content as text. Package databases are UTF-8 in practice, but one stray byte in a
    /// description must not cost the whole database, so invalid sequences become U+FFFD.
    pub fn text(&self) -> std::borrow::Cow<'a, str> {
        String::from_utf8_lossy(self.content)
    }
}

/// Why an extractor could not read a file. Each variant names the file, so the engine can
/// turn it into a warning and carry on with the rest of the image.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// A text format broke its grammar; `line` (1-based) says where when the format has lines.
    #[error("{path}{}: {what}", line_suffix(.line))]
    Malformed {
        /// Path of the file inside the image.
        path: String,
        /// 1-based line number, when the format has lines.
        line: Option<usize>,
        /// What was wrong.
        what: String,
    },
    /// A structured format (JSON, YAML, SQLite, zip, zlib ...) failed to parse; the parser's
    /// own message, kept as the source, says where.
    #[error("{path}: invalid {format}")]
    Parse {
        /// Path of the file inside the image.
        path: String,
        /// The format that failed, e.g. `JSON`.
        format: &'static str,
        /// The parser's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Staging the content for a parser that needs a real file (SQLite) failed.
    #[error("{path}: {what}")]
    Io {
        /// Path of the file inside the image.
        path: String,
        /// What was being done.
        what: &'static str,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
}

fn line_suffix(line: &Option<usize>) -> String {
    line.map(|l| format!(":{l}")).unwrap_or_default()
}

/// Results of this crate's extractors.
pub type Result<T, E = ExtractError> = std::result::Result<T, E>;

/// Renders an error with its whole source chain on one line, for warnings.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_names_path_and_line() {
        let e = ExtractError::Malformed {
            path: "/a".into(),
            line: Some(3),
            what: "bad".into(),
        };
        assert_eq!(e.to_string(), "/a:3: bad");
        let e = ExtractError::Malformed {
            path: "/a".into(),
            line: None,
            what: "bad".into(),
        };
        assert_eq!(e.to_string(), "/a: bad");
    }

    #[test]
    fn chain_includes_source() {
        let src = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        let e = ExtractError::Parse {
            path: "/x.json".into(),
            format: "JSON",
            source: Box::new(src),
        };
        let s = error_chain(&e);
        assert!(s.starts_with("/x.json: invalid JSON: "), "{s}");
        assert!(s.contains("line 1"), "{s}");
    }
}
