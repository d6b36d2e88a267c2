//! Small helpers shared by the extractors: package URLs, path tests and the RFC 822 style
//! "Key: value" paragraphs that dpkg databases and Python metadata both use.

use portcullis_core::{Distro, Ecosystem, Package, purl_encode};

use crate::extractor::ExtractInput;

/// Builds a package URL: `pkg:<type>/<namespace segments>/<name>@<version>?<qualifiers>`.
/// Every component is percent-encoded on its own; qualifiers without a value are left out
/// and the rest are sorted by key, as the purl spec asks.
pub(crate) fn purl(
    ty: &str,
    namespace: &[&str],
    name: &str,
    version: &str,
    qualifiers: &[(&str, Option<String>)],
) -> String {
    let mut out = format!("pkg:{ty}/");
    for seg in namespace.iter().filter(|s| !s.is_empty()) {
        out.push_str(&purl_encode(seg));
        out.push('/');
    }
    out.push_str(&purl_encode(name));
    if !version.is_empty() {
        out.push('@');
        out.push_str(&purl_encode(version));
    }
    let mut q: Vec<(&str, &String)> = qualifiers
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (*k, v)))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    q.sort_by_key(|(k, _)| *k);
    for (i, (k, v)) in q.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(k);
        out.push('=');
        out.push_str(&purl_encode(v));
    }
    out
}

/// The `distro` purl qualifier: `<id>-<version_id>`, or `<id>-<codename>` for releases
/// without a number (Debian testing).
pub(crate) fn distro_qualifier(distro: Option<&Distro>) -> Option<String> {
    let d = distro?;
    let rel = d.version_id.as_ref().or(d.codename.as_ref())?;
    Some(format!("{}-{}", d.id, rel))
}

/// A package of a language ecosystem (no source package, no arch) found in `input`.
pub(crate) fn lang_package(
    input: &ExtractInput<'_>,
    found_by: &str,
    ecosystem: Ecosystem,
    name: String,
    version: String,
    purl: String,
) -> Package {
    Package {
        module: None,
        name,
        version,
        ecosystem,
        purl,
        source: None,
        found_by: found_by.to_owned(),
        locations: vec![input.location()],
        arch: None,
        licenses: Vec::new(),
    }
}

/// The last path component.
pub(crate) fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Whether any directory component of `path` is exactly `dir`.
pub(crate) fn has_dir_component(path: &str, dir: &str) -> bool {
    let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
    parent.split('/').any(|c| c == dir)
}

/// One `Key: value` field of an RFC 822 style paragraph, with continuation lines joined by
/// `\n` (dpkg keeps them for descriptions, which nobody here reads).
#[derive(Debug)]
pub(crate) struct Field<'a> {
    pub(crate) key: &'a str,
    pub(crate) value: String,
}

/// A paragraph: its first line (1-based) and fields in order.
#[derive(Debug)]
pub(crate) struct Paragraph<'a> {
    pub(crate) line: usize,
    pub(crate) fields: Vec<Field<'a>>,
}

impl Paragraph<'_> {
    /// The first field named `key` (case-insensitively, as both dpkg and email headers are).
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| f.key.eq_ignore_ascii_case(key))
            .map(|f| f.value.as_str())
    }
}

/// Parses blank-line separated paragraphs of `Key: value` lines. A line that is neither a
/// field, a continuation (leading space or tab) nor blank is an error naming its line.
/// With `first_only`, stops after the first paragraph (email headers: the body follows).
pub(crate) fn paragraphs<'a>(
    input: &ExtractInput<'_>,
    text: &'a str,
    first_only: bool,
) -> crate::Result<Vec<Paragraph<'a>>> {
    let mut out = Vec::new();
    let mut cur: Option<Paragraph<'a>> = None;
    for (i, raw) in text.lines().enumerate() {
        let lineno = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            if let Some(p) = cur.take() {
                out.push(p);
                if first_only {
                    return Ok(out);
                }
            }
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            match cur.as_mut().and_then(|p| p.fields.last_mut()) {
                Some(f) => {
                    f.value.push('\n');
                    f.value.push_str(line.trim());
                }
                None => {
                    return Err(input.malformed(Some(lineno), "continuation line outside a field"));
                }
            }
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(input.malformed(
                Some(lineno),
                format!("expected 'Key: value', found {:?}", clip(line)),
            ));
        };
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(
                input.malformed(Some(lineno), format!("invalid field name {:?}", clip(key)))
            );
        }
        let p = cur.get_or_insert_with(|| Paragraph {
            line: lineno,
            fields: Vec::new(),
        });
        p.fields.push(Field {
            key,
            value: value.trim().to_owned(),
        });
    }
    if let Some(p) = cur {
        out.push(p);
    }
    Ok(out)
}

/// Shortens text quoted in error messages.
pub(crate) fn clip(s: &str) -> &str {
    match s.char_indices().nth(60) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Reads a JSON document, naming the file on failure.
pub(crate) fn json<T: serde::de::DeserializeOwned>(input: &ExtractInput<'_>) -> crate::Result<T> {
    serde_json::from_slice(input.content).map_err(|e| input.parse_error("JSON", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purl_sorts_and_encodes_qualifiers() {
        let p = purl(
            "deb",
            &["debian"],
            "libc6",
            "2.36-9+deb12u4",
            &[
                ("distro", Some("debian-12".into())),
                ("arch", Some("amd64".into())),
                ("epoch", None),
            ],
        );
        assert_eq!(
            p,
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12"
        );
    }

    #[test]
    fn purl_namespace_segments_are_encoded_separately() {
        assert_eq!(
            purl("npm", &["@babel"], "core", "7.0.0", &[]),
            "pkg:npm/%40babel/core@7.0.0"
        );
        assert_eq!(
            purl("golang", &["golang.org", "x"], "text", "v0.3.6", &[]),
            "pkg:golang/golang.org/x/text@v0.3.6"
        );
    }

    #[test]
    fn dir_component() {
        assert!(has_dir_component(
            "/app/node_modules/x/package.json",
            "node_modules"
        ));
        assert!(!has_dir_component("/app/node_modules", "node_modules"));
        assert!(!has_dir_component("/app/my_node_modules/x", "node_modules"));
    }

    #[test]
    fn paragraph_errors_name_the_line() {
        let input = ExtractInput {
            path: "/s",
            layer: None,
            content: b"",
            distro: None,
        };
        let err = paragraphs(&input, "A: 1\n\nnot a field\n", false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/s:3: expected 'Key: value', found \"not a field\""
        );
        let ps = paragraphs(&input, "A: 1\nB: x\n y\n\n\nA: 2\n", false).unwrap();
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].get("b"), Some("x\ny"));
        assert_eq!(ps[1].line, 6);
    }
}
