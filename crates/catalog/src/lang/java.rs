//! Java archives (`.jar`, `.war`, `.ear`, Jenkins' `.jpi`/`.hpi`), including archives nested
//! inside them (Spring Boot's `BOOT-INF/lib`, `WEB-INF/lib`), up to three levels deep.
//!
//! Maven's `META-INF/maven/<group>/<artifact>/pom.properties` says exactly which artifact an
//! archive holds (a shaded jar holds several). Archives without one fall back to
//! `META-INF/MANIFEST.MF` and the file name; that guess has no Maven group unless the
//! manifest carries `Implementation-Vendor-Id`, so such packages are listed but rarely match.

use std::io::{Cursor, Read};

use portcullis_core::{Ecosystem, Package};

use crate::extractor::{ExtractInput, Extractor, Result};
use crate::util::{file_name, lang_package, purl};

/// Nesting levels below the file itself that are opened.
const MAX_DEPTH: usize = 3;
/// Largest nested archive read into memory.
const MAX_NESTED: u64 = 128 << 20;
/// Largest metadata file (pom.properties, manifest) read.
const MAX_METADATA: u64 = 1 << 20;
const EXTENSIONS: [&str; 5] = [".jar", ".war", ".ear", ".jpi", ".hpi"];

/// Maven artifacts in Java archives; name `group:artifact`.
#[derive(Debug, Default)]
pub struct JavaArchive;

impl Extractor for JavaArchive {
    fn name(&self) -> &'static str {
        "java/archive"
    }

    fn version(&self) -> u32 {
        1
    }

    fn required(&self, path: &str) -> bool {
        is_archive_name(path)
    }

    fn extract(&self, input: &ExtractInput<'_>) -> Result<Vec<Package>> {
        let mut out = Vec::new();
        scan(
            input,
            self.name(),
            input.content,
            file_name(input.path),
            0,
            &mut out,
        )
        .map_err(|e| input.parse_error("zip", e))?;
        Ok(out)
    }
}

fn is_archive_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    EXTENSIONS.iter().any(|e| lower.ends_with(e))
}

/// One archive; errors are the archive's own (a broken nested archive is skipped).
fn scan(
    input: &ExtractInput<'_>,
    found_by: &str,
    bytes: &[u8],
    archive_name: &str,
    depth: usize,
    out: &mut Vec<Package>,
) -> std::result::Result<(), zip::result::ZipError> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))?;
    let mut poms = Vec::new();
    let mut manifest = None;
    let mut nested: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i)?;
        if f.is_dir() {
            continue;
        }
        let name = f.name().to_owned();
        if name.starts_with("META-INF/maven/") && name.ends_with("/pom.properties") {
            poms.push((name, read_limited(&mut f, MAX_METADATA)));
        } else if name.eq_ignore_ascii_case("META-INF/MANIFEST.MF") {
            manifest = read_limited(&mut f, MAX_METADATA);
        } else if depth < MAX_DEPTH && is_archive_name(&name) {
            if f.size() > MAX_NESTED {
                tracing::debug!(
                    path = input.path,
                    entry = name,
                    "nested archive too large, skipped"
                );
                continue;
            }
            if let Some(b) = read_limited(&mut f, MAX_NESTED) {
                nested.push((name, b));
            }
        }
    }

    let before = out.len();
    for (entry, content) in poms {
        let Some(content) = content else { continue };
        let props = properties(&String::from_utf8_lossy(&content));
        // The path is `META-INF/maven/<group>/<artifact>/pom.properties`; the file's own
        // fields win when present.
        let mut parts = entry.trim_start_matches("META-INF/maven/").split('/');
        let (dir_group, dir_artifact) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let group = props.get("groupId").map_or(dir_group, String::as_str);
        let artifact = props.get("artifactId").map_or(dir_artifact, String::as_str);
        let Some(version) = props.get("version").filter(|v| !v.is_empty()) else {
            continue;
        };
        if artifact.is_empty() {
            continue;
        }
        out.push(maven_package(
            input,
            found_by,
            Some(group).filter(|g| !g.is_empty()),
            artifact,
            version,
        ));
    }
    if out.len() == before {
        let manifest = manifest
            .map(|m| manifest_main(&String::from_utf8_lossy(&m)))
            .unwrap_or_default();
        if let Some((group, artifact, version)) = from_manifest(&manifest, archive_name) {
            out.push(maven_package(
                input,
                found_by,
                group.as_deref(),
                &artifact,
                &version,
            ));
        }
    }
    for (name, b) in nested {
        if let Err(e) = scan(input, found_by, &b, file_name(&name), depth + 1, out) {
            tracing::debug!(path = input.path, entry = name, error = %e, "unreadable nested archive skipped");
        }
    }
    Ok(())
}

fn read_limited(r: &mut impl Read, limit: u64) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    r.take(limit + 1).read_to_end(&mut buf).ok()?;
    (buf.len() as u64 <= limit).then_some(buf)
}

fn maven_package(
    input: &ExtractInput<'_>,
    found_by: &str,
    group: Option<&str>,
    artifact: &str,
    version: &str,
) -> Package {
    let (name, purl) = match group {
        Some(g) => (
            format!("{g}:{artifact}"),
            purl("maven", &[g], artifact, version, &[]),
        ),
        None => (
            artifact.to_owned(),
            purl("maven", &[], artifact, version, &[]),
        ),
    };
    lang_package(
        input,
        found_by,
        Ecosystem::Maven,
        name,
        version.to_owned(),
        purl,
    )
}

/// Java `.properties`: `key=value` or `key: value`, `#`/`!` comments.
fn properties(text: &str) -> std::collections::BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .filter_map(|l| {
            let i = l.find(['=', ':'])?;
            Some((l[..i].trim().to_owned(), l[i + 1..].trim().to_owned()))
        })
        .collect()
}

/// The main section of a manifest; continuation lines (one leading space) are joined.
fn manifest_main(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if let Some(cont) = line.strip_prefix(' ') {
            if let Some(last) = out.last_mut() {
                last.1.push_str(cont);
            }
        } else if let Some((k, v)) = line.split_once(':') {
            out.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    out
}

/// (group, artifact, version) guessed from the manifest and the archive's file name.
fn from_manifest(
    manifest: &[(String, String)],
    archive_name: &str,
) -> Option<(Option<String>, String, String)> {
    let get = |k: &str| {
        manifest
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let stem = EXTENSIONS
        .iter()
        .find_map(|e| {
            archive_name
                .len()
                .checked_sub(e.len())
                .filter(|&n| archive_name[n..].eq_ignore_ascii_case(e))
                .map(|n| &archive_name[..n])
        })
        .unwrap_or(archive_name);
    // `commons-lang3-3.12.0`: the version starts after the last `-` followed by a digit.
    let split = stem
        .rmatch_indices('-')
        .find(|(i, _)| stem[i + 1..].starts_with(|c: char| c.is_ascii_digit()))
        .map(|(i, _)| (&stem[..i], &stem[i + 1..]));
    let version = get("Implementation-Version")
        .or_else(|| get("Bundle-Version"))
        .or(split.map(|s| s.1))?;
    let artifact = match split {
        Some((a, _)) if !a.is_empty() => a,
        // Titles are often prose ("Java Runtime Environment"); only a one-word title is an
        // artifact name.
        _ => get("Bundle-SymbolicName")
            .map(|s| s.split(';').next().unwrap_or(s).trim())
            .or_else(|| get("Implementation-Title").filter(|t| !t.contains(char::is_whitespace)))
            .unwrap_or(stem),
    };
    if artifact.is_empty() {
        return None;
    }
    Some((
        get("Implementation-Vendor-Id").map(str::to_owned),
        artifact.to_owned(),
        version.to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_continuations_and_guess() {
        let m = manifest_main(
            "Manifest-Version: 1.0\r\nBundle-SymbolicName: org.example.very-long-na\r\n me;singleton:=true\r\nBundle-Version: 2.1.0\r\n\r\nName: x\r\n",
        );
        assert_eq!(m[1].1, "org.example.very-long-name;singleton:=true");
        let (g, a, v) = from_manifest(&m, "thing.jar").unwrap();
        assert_eq!(
            (g, a.as_str(), v.as_str()),
            (None, "org.example.very-long-name", "2.1.0")
        );
        let (_, a, v) = from_manifest(&[], "commons-lang3-3.12.0.jar").unwrap();
        assert_eq!((a.as_str(), v.as_str()), ("commons-lang3", "3.12.0"));
        assert!(from_manifest(&[], "app.jar").is_none());
        let m = manifest_main(
            "Implementation-Title: Java Runtime Environment\nImplementation-Version: 17.0.15\n",
        );
        let (_, a, v) = from_manifest(&m, "jrt-fs.jar").unwrap();
        assert_eq!((a.as_str(), v.as_str()), ("jrt-fs", "17.0.15"));
    }
}
