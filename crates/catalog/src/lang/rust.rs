//! Rust crates: `Cargo.lock` files and the dependency list `cargo auditable` embeds in
//! binaries.

use std::io::Read;

use object::{Object, ObjectSection};
use portcullis_core::{Ecosystem, Package};
use serde::Deserialize;

use crate::extractor::{ExtractInput, Extractor, Result};
use crate::util::{clip, file_name, lang_package, purl};

/// Decompressed `.dep-v0` data larger than this is refused (a zip bomb, not a dependency list).
const MAX_AUDIT_JSON: u64 = 8 << 20;

fn crate_package(input: &ExtractInput<'_>, found_by: &str, name: &str, version: &str) -> Package {
    lang_package(
        input,
        found_by,
        Ecosystem::Cargo,
        name.to_owned(),
        version.to_owned(),
        purl("cargo", &[], name, version, &[]),
    )
}

/// `Cargo.lock`, all format versions (1 to 4 differ in checksums and dependency spelling,
/// not in `[[package]]` name/version/source). Packages without a `source` are the project's
/// own workspace members and are left out; a lockfile under `~/.cargo/registry` or
/// `~/.cargo/git` is a downloaded crate's, not the image's, and is not read.
#[derive(Debug, Default)]
pub struct CargoLock;

impl Extractor for CargoLock {
    fn name(&self) -> &'static str {
        "rust/cargo-lock"
    }

    fn version(&self) -> u32 {
        1
    }

    fn required(&self, path: &str) -> bool {
        file_name(path) == "Cargo.lock"
            && !path.contains("/.cargo/registry/")
            && !path.contains("/.cargo/git/")
    }

    fn extract(&self, input: &ExtractInput<'_>) -> Result<Vec<Package>> {
        let text = input.text();
        let mut out = Vec::new();
        for pkg in parse_lock(input, &text)? {
            match (pkg.name, pkg.version, pkg.source) {
                (Some(name), Some(version), Some(_)) if !name.is_empty() && !version.is_empty() => {
                    out.push(crate_package(input, self.name(), &name, &version));
                }
                (None, _, _) | (_, None, _) => {
                    return Err(
                        input.malformed(Some(pkg.line), "[[package]] without name or version")
                    );
                }
                _ => {}
            }
        }
        Ok(out)
    }
}

#[derive(Debug, Default)]
struct LockPackage {
    line: usize,
    name: Option<String>,
    version: Option<String>,
    source: Option<String>,
}

/// The TOML that Cargo writes for lockfiles: tables, `key = "string"`, integers and arrays
/// of strings (possibly over several lines). Only `[[package]]` keys are kept.
fn parse_lock(input: &ExtractInput<'_>, text: &str) -> Result<Vec<LockPackage>> {
    let mut out: Vec<LockPackage> = Vec::new();
    let mut in_package = false;
    let mut open_array = false;
    for (i, raw) in text.lines().enumerate() {
        let lineno = i + 1;
        let line = raw.trim();
        if open_array {
            let closed = scan_array(line).map_err(|e| input.malformed(Some(lineno), e))?;
            open_array = !closed;
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            in_package = line == "[[package]]";
            if in_package {
                out.push(LockPackage {
                    line: lineno,
                    ..LockPackage::default()
                });
            } else if !line.ends_with(']') {
                return Err(input.malformed(
                    Some(lineno),
                    format!("unterminated table header {:?}", clip(line)),
                ));
            }
            continue;
        }
        let (key, rest) = split_key(line).ok_or_else(|| {
            input.malformed(
                Some(lineno),
                format!("expected 'key = value', found {:?}", clip(line)),
            )
        })?;
        let value = rest.trim_start();
        if value.starts_with('[') {
            let closed = scan_array(value).map_err(|e| input.malformed(Some(lineno), e))?;
            open_array = !closed;
            continue;
        }
        let parsed = if value.starts_with('"') || value.starts_with('\'') {
            let (s, after) = parse_string(value).map_err(|e| input.malformed(Some(lineno), e))?;
            if !(after.trim().is_empty() || after.trim_start().starts_with('#')) {
                return Err(input.malformed(Some(lineno), "text after the value"));
            }
            Some(s)
        } else if value.split('#').next().is_some_and(|v| {
            let v = v.trim();
            !v.is_empty() && (v.parse::<i64>().is_ok() || v == "true" || v == "false")
        }) {
            None
        } else {
            return Err(
                input.malformed(Some(lineno), format!("unsupported value {:?}", clip(value)))
            );
        };
        let (Some(p), Some(v)) = (out.last_mut().filter(|_| in_package), parsed) else {
            continue;
        };
        match key.as_str() {
            "name" => p.name = Some(v),
            "version" => p.version = Some(v),
            "source" => p.source = Some(v),
            _ => {}
        }
    }
    if open_array {
        return Err(input.malformed(None, "unterminated array at end of file"));
    }
    Ok(out)
}

/// `key = rest`, with a bare or quoted key.
fn split_key(line: &str) -> Option<(String, &str)> {
    if line.starts_with('"') || line.starts_with('\'') {
        let (k, rest) = parse_string(line).ok()?;
        return Some((k, rest.trim_start().strip_prefix('=')?));
    }
    let (k, rest) = line.split_once('=')?;
    let k = k.trim();
    (!k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
    .then(|| (k.to_owned(), rest))
}

/// A basic (`"..."`, with escapes) or literal (`'...'`) string at the start of `s`.
fn parse_string(s: &str) -> std::result::Result<(String, &str), String> {
    let quote = s.chars().next().ok_or("expected a string")?;
    let mut out = String::new();
    let mut chars = s[1..].char_indices();
    while let Some((i, c)) = chars.next() {
        if c == quote {
            return Ok((out, &s[1 + i + 1..]));
        }
        if c == '\\' && quote == '"' {
            let (_, e) = chars.next().ok_or("unterminated escape")?;
            match e {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '"' | '\\' => out.push(e),
                'u' | 'U' => {
                    let n = if e == 'u' { 4 } else { 8 };
                    let hex: String = chars.by_ref().take(n).map(|(_, c)| c).collect();
                    let cp = u32::from_str_radix(&hex, 16).map_err(|_| "bad unicode escape")?;
                    out.push(char::from_u32(cp).ok_or("bad unicode escape")?);
                }
                _ => return Err(format!("unknown escape \\{e}")),
            }
        } else {
            out.push(c);
        }
    }
    Err("unterminated string".into())
}

/// Scans (part of) an array of strings; returns whether its closing `]` was seen.
fn scan_array(s: &str) -> std::result::Result<bool, String> {
    let mut rest = s.strip_prefix('[').unwrap_or(s);
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() || rest.starts_with('#') {
            return Ok(false);
        }
        if let Some(after) = rest.strip_prefix(']') {
            let after = after.trim();
            if after.is_empty() || after.starts_with('#') {
                return Ok(true);
            }
            return Err("text after the array".into());
        }
        if rest.starts_with('"') || rest.starts_with('\'') {
            rest = parse_string(rest)?.1;
        } else {
            return Err(format!("unsupported array element {:?}", clip(rest)));
        }
    }
}

/// Crates listed by `cargo auditable` in the `.dep-v0` section of an ELF binary
/// (zlib-compressed JSON). Only runtime dependencies from a registry or git are reported:
/// `local` ones are the project's own crates and `build` ones are not linked in.
#[derive(Debug, Default)]
pub struct CargoAuditable;

#[derive(Deserialize)]
struct AuditData {
    packages: Vec<AuditPackage>,
}

#[derive(Deserialize)]
struct AuditPackage {
    name: String,
    version: String,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    kind: Option<String>,
}

impl Extractor for CargoAuditable {
    fn name(&self) -> &'static str {
        "rust/cargo-auditable"
    }

    fn version(&self) -> u32 {
        1
    }

    fn required(&self, _path: &str) -> bool {
        false
    }

    fn required_by_magic(&self, head: &[u8]) -> bool {
        head.starts_with(b"\x7fELF")
    }

    fn extract(&self, input: &ExtractInput<'_>) -> Result<Vec<Package>> {
        let Ok(file) = object::File::parse(input.content) else {
            return Ok(Vec::new());
        };
        let Some(section) = file.section_by_name(".dep-v0") else {
            return Ok(Vec::new());
        };
        let compressed = section.data().map_err(|e| input.parse_error("ELF", e))?;
        let mut json = Vec::new();
        flate2::read::ZlibDecoder::new(compressed)
            .take(MAX_AUDIT_JSON + 1)
            .read_to_end(&mut json)
            .map_err(|e| input.parse_error("zlib in .dep-v0", e))?;
        if json.len() as u64 > MAX_AUDIT_JSON {
            return Err(input.malformed(None, ".dep-v0 decompresses to more than 8 MiB"));
        }
        let data: AuditData =
            serde_json::from_slice(&json).map_err(|e| input.parse_error("JSON in .dep-v0", e))?;
        Ok(data
            .packages
            .iter()
            .filter(|p| {
                p.source.as_deref() != Some("local")
                    && p.kind.as_deref().unwrap_or("runtime") == "runtime"
            })
            .map(|p| crate_package(input, self.name(), &p.name, &p.version))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_keys() {
        assert_eq!(
            parse_string(r#""a\"b" rest"#).unwrap(),
            ("a\"b".to_owned(), " rest")
        );
        assert_eq!(parse_string("'c:\\x'").unwrap().0, "c:\\x");
        assert!(parse_string("\"open").is_err());
        let (k, _) = split_key(r#""checksum a 1.0 (registry+x)" = "abc""#).unwrap();
        assert_eq!(k, "checksum a 1.0 (registry+x)");
    }

    #[test]
    fn multi_line_arrays() {
        let input = ExtractInput {
            path: "/Cargo.lock",
            layer: None,
            content: b"",
            distro: None,
        };
        let text = "[[package]]\nname = \"a\"\nversion = \"1.0.0\"\nsource = \"registry+x\"\ndependencies = [\n \"b\",\n \"c 1.0 (registry+x)\",\n]\n\n[[package]]\nname = \"b\"\nversion = \"2.0.0\"\n";
        let pkgs = parse_lock(&input, text).unwrap();
        assert_eq!(pkgs.len(), 2);
        assert_eq!(pkgs[1].name.as_deref(), Some("b"));
        assert!(pkgs[1].source.is_none());
        let err = parse_lock(
            &input,
            "[[package]]\nname = \"a\"\ndependencies = [\n \"b\",\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("unterminated array"), "{err}");
    }
}
