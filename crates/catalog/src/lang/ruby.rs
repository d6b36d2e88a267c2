//! Ruby gems: installed specifications (`specifications/*.gemspec`) and `Gemfile.lock`.

use std::sync::OnceLock;

use portcullis_core::{Ecosystem, Package};
use regex::Regex;

use crate::extractor::{ExtractInput, Extractor, Result};
use crate::util::{clip, file_name, has_dir_component, lang_package, purl};

fn gem(input: &ExtractInput<'_>, found_by: &str, name: &str, version: &str) -> Package {
    lang_package(
        input,
        found_by,
        Ecosystem::RubyGems,
        name.to_owned(),
        version.to_owned(),
        purl("gem", &[], name, version, &[]),
    )
}

/// Installed gems, from the Ruby specification files RubyGems writes on install
/// (`s.name = "rack".freeze`, `s.version = "2.2.3"`). These are generated, not hand-written,
/// so reading the two assignments is reliable without evaluating Ruby.
#[derive(Debug, Default)]
pub struct Gemspec;

fn spec_regexes() -> &'static (Regex, Regex, Regex) {
    static RE: OnceLock<(Regex, Regex, Regex)> = OnceLock::new();
    RE.get_or_init(|| {
        let assign = |field: &str| {
            Regex::new(&format!(
                r#"^\s*\w+\.{field}\s*=\s*(?:Gem::Version\.new\()?\s*["']([^"']+)["']"#
            ))
            .unwrap_or_else(|e| unreachable!("static regex: {e}"))
        };
        let licenses = Regex::new(r#"^\s*\w+\.licenses?\s*=\s*\[?(.*)$"#)
            .unwrap_or_else(|e| unreachable!("static regex: {e}"));
        (assign("name"), assign("version"), licenses)
    })
}

impl Extractor for Gemspec {
    fn name(&self) -> &'static str {
        "ruby/gemspec"
    }

    fn version(&self) -> u32 {
        1
    }

    fn required(&self, path: &str) -> bool {
        path.ends_with(".gemspec") && has_dir_component(path, "specifications")
    }

    fn extract(&self, input: &ExtractInput<'_>) -> Result<Vec<Package>> {
        let text = input.text();
        let (name_re, version_re, licenses_re) = spec_regexes();
        let (mut name, mut version, mut licenses) = (None, None, Vec::new());
        for line in text.lines() {
            if name.is_none() {
                name = name_re.captures(line).map(|c| c[1].to_owned());
            }
            if version.is_none() {
                version = version_re.captures(line).map(|c| c[1].to_owned());
            }
            if !licenses.is_empty() {
                continue;
            }
            if let Some(c) = licenses_re.captures(line) {
                licenses = c[1]
                    .split(',')
                    .filter_map(|s| s.split(['"', '\'']).nth(1))
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
        }
        let name = name.ok_or_else(|| input.malformed(None, "no `.name = \"...\"` assignment"))?;
        let version =
            version.ok_or_else(|| input.malformed(None, "no `.version = \"...\"` assignment"))?;
        let mut p = gem(input, self.name(), &name, &version);
        p.licenses = licenses;
        Ok(vec![p])
    }
}

/// Bundler's `Gemfile.lock` (`gems.locked`): the `specs:` of `GEM` and `GIT` sections.
/// `PATH` sections are the project's own gems and are left out, and so are lockfiles inside
/// an installed gem's directory (they list that gem's development bundle). A platform suffix
/// (`nokogiri (1.13.3-x86_64-linux)`) is not part of the version.
#[derive(Debug, Default)]
pub struct GemfileLock;

impl Extractor for GemfileLock {
    fn name(&self) -> &'static str {
        "ruby/gemfile-lock"
    }

    fn version(&self) -> u32 {
        1
    }

    fn required(&self, path: &str) -> bool {
        matches!(file_name(path), "Gemfile.lock" | "gems.locked")
            && !has_dir_component(path, "gems")
    }

    fn extract(&self, input: &ExtractInput<'_>) -> Result<Vec<Package>> {
        let text = input.text();
        let mut section = "";
        let mut in_specs = false;
        let mut out = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.trim().is_empty() {
                continue;
            }
            if !line.starts_with(' ') {
                section = line.trim();
                in_specs = false;
                continue;
            }
            if line == "  specs:" {
                in_specs = true;
                continue;
            }
            let indent = line.len() - line.trim_start().len();
            if !in_specs || indent != 4 || !matches!(section, "GEM" | "GIT") {
                continue;
            }
            let spec = line.trim();
            let Some((name, rest)) = spec.split_once(" (") else {
                return Err(input.malformed(
                    Some(i + 1),
                    format!("expected 'name (version)', found {:?}", clip(spec)),
                ));
            };
            let Some(version) = rest.strip_suffix(')') else {
                return Err(input.malformed(
                    Some(i + 1),
                    format!("unterminated version in {:?}", clip(spec)),
                ));
            };
            let version = version.split('-').next().unwrap_or(version);
            if name.is_empty() || version.is_empty() {
                return Err(input.malformed(Some(i + 1), "empty gem name or version"));
            }
            out.push(gem(input, self.name(), name, version));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemspec_lines() {
        let content = br#"# -*- encoding: utf-8 -*-
# stub: rack 2.2.3 ruby lib

Gem::Specification.new do |s|
  s.name = "rack".freeze
  s.version = "2.2.3"
  s.licenses = ["MIT".freeze, "Ruby".freeze]
end
"#;
        let input = ExtractInput {
            path: "/usr/local/bundle/specifications/rack-2.2.3.gemspec",
            layer: None,
            content,
            distro: None,
        };
        let p = Gemspec.extract(&input).unwrap();
        assert_eq!(
            (p[0].name.as_str(), p[0].version.as_str()),
            ("rack", "2.2.3")
        );
        assert_eq!(p[0].licenses, vec!["MIT".to_owned(), "Ruby".to_owned()]);
        let input = ExtractInput {
            content: b"Gem::Specification.new do |s|\n  s.name = \"x\"\nend\n",
            ..input
        };
        assert!(
            Gemspec
                .extract(&input)
                .unwrap_err()
                .to_string()
                .contains("version")
        );
    }
}
