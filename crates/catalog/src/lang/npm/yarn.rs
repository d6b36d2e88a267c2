//! `yarn.lock`, both the classic v1 format and berry's (v2+) YAML subset.
//!
//! Both are blocks headed by an unindented `spec, spec:` line with two-space indented fields;
//! v1 writes `version "1.2.3"`, berry `version: 1.2.3` plus a `resolution:` naming the real
//! package and protocol. A line-oriented reader covers both without a YAML parser, and tells
//! the line of anything it does not understand.

use portcullis_core::Package;

use super::{is_non_registry_version, is_project_lockfile, npm_package};
use crate::extractor::{ExtractInput, Extractor, Result};
use crate::util::clip;

/// yarn lockfiles. Workspace, link, portal and file entries are the project's own folders
/// and are left out; aliases (`alias@npm:real@^1`) report the real package.
#[derive(Debug, Default)]
pub struct YarnLock;

struct Block<'a> {
    line: usize,
    specs: Vec<String>,
    version: Option<&'a str>,
    resolution: Option<String>,
}

impl Extractor for YarnLock {
    fn name(&self) -> &'static str {
        "javascript/yarn-lock"
    }

    fn version(&self) -> u32 {
        1
    }

    fn required(&self, path: &str) -> bool {
        is_project_lockfile(path, "yarn.lock")
    }

    fn extract(&self, input: &ExtractInput<'_>) -> Result<Vec<Package>> {
        let text = input.text();
        let mut blocks = Vec::new();
        let mut cur: Option<Block<'_>> = None;
        for (i, raw) in text.lines().enumerate() {
            let lineno = i + 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            if !line.starts_with(' ') {
                let Some(header) = line.strip_suffix(':') else {
                    return Err(input.malformed(
                        Some(lineno),
                        format!("expected 'spec:' block header, found {:?}", clip(line)),
                    ));
                };
                blocks.extend(cur.take());
                let specs = header
                    .split(',')
                    .map(|s| unquote(s.trim()).to_owned())
                    .filter(|s| !s.is_empty())
                    .collect();
                cur = Some(Block {
                    line: lineno,
                    specs,
                    version: None,
                    resolution: None,
                });
                continue;
            }
            // Only the block's own fields (two spaces) matter, not nested maps.
            if line.starts_with("   ") {
                continue;
            }
            let Some(block) = cur.as_mut() else {
                return Err(input.malformed(Some(lineno), "indented line before any block header"));
            };
            let (key, value) = split_field(trimmed);
            match key {
                "version" => block.version = Some(value),
                "resolution" => block.resolution = Some(value.to_owned()),
                _ => {}
            }
        }
        blocks.extend(cur);

        let mut out = Vec::new();
        for b in blocks {
            if b.specs.iter().any(|s| s == "__metadata") {
                continue;
            }
            let Some(version) = b
                .version
                .filter(|v| !v.is_empty() && *v != "0.0.0-use.local")
            else {
                tracing::debug!(
                    path = input.path,
                    line = b.line,
                    "yarn block without a version"
                );
                continue;
            };
            let Some(name) = package_name(&b) else {
                continue;
            };
            if is_non_registry_version(version) {
                continue;
            }
            out.push(npm_package(input, self.name(), &name, version));
        }
        Ok(out)
    }
}

/// The real package name, or `None` for the project's own folders.
fn package_name(b: &Block<'_>) -> Option<String> {
    const LOCAL: [&str; 5] = ["workspace:", "link:", "portal:", "file:", "exec:"];
    if let Some(res) = &b.resolution {
        let (name, range) = split_spec(res);
        return (!LOCAL.iter().any(|p| range.starts_with(p)) && !name.is_empty())
            .then(|| name.to_owned());
    }
    let (name, range) = split_spec(b.specs.first()?);
    if LOCAL.iter().any(|p| range.starts_with(p)) {
        return None;
    }
    // `alias@npm:real@^1.0.0`
    if let Some(aliased) = range.strip_prefix("npm:") {
        let (real, real_range) = split_spec(aliased);
        if !real_range.is_empty() && !real.is_empty() {
            return Some(real.to_owned());
        }
    }
    (!name.is_empty()).then(|| name.to_owned())
}

/// `@scope/name@range` → (`@scope/name`, `range`); a spec without a range is all name.
fn split_spec(spec: &str) -> (&str, &str) {
    match spec.get(1..).and_then(|rest| rest.find('@')) {
        Some(i) => (&spec[..i + 1], &spec[i + 2..]),
        None => (spec, ""),
    }
}

/// `version "1.2.3"`, `"version" "1.2.3"` or `version: 1.2.3`.
fn split_field(s: &str) -> (&str, &str) {
    let (key, rest) = if let Some(q) = s.strip_prefix('"') {
        match q.find('"') {
            Some(end) => (&q[..end], &q[end + 1..]),
            None => (s, ""),
        }
    } else {
        match s.find([' ', ':']) {
            Some(i) => (&s[..i], &s[i..]),
            None => (s, ""),
        }
    };
    let rest = rest.strip_prefix(':').unwrap_or(rest).trim();
    (key, unquote(rest))
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        assert_eq!(
            split_spec("@babel/code-frame@npm:^7.0.0"),
            ("@babel/code-frame", "npm:^7.0.0")
        );
        assert_eq!(split_spec("balanced-match"), ("balanced-match", ""));
        assert_eq!(split_spec("a@npm:b@^1"), ("a", "npm:b@^1"));
    }

    #[test]
    fn fields() {
        assert_eq!(split_field("version \"1.0.2\""), ("version", "1.0.2"));
        assert_eq!(split_field("\"version\" \"0.0.1\""), ("version", "0.0.1"));
        assert_eq!(split_field("version: 7.16.8"), ("version", "7.16.8"));
        assert_eq!(
            split_field("resolution: \"x@npm:1\""),
            ("resolution", "x@npm:1")
        );
    }
}
