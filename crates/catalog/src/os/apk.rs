//! apk: `/lib/apk/db/installed`.
//!
//! The database is blank-line separated records of one-letter `K:value` lines (`P` name,
//! `V` version, `A` arch, `o` origin, `L` license, many more we ignore).

use portcullis_core::{Ecosystem, Package, SourcePackage};

use crate::extractor::{ExtractInput, Extractor, Result};
use crate::util::{clip, distro_qualifier, purl};

const INSTALLED: &str = "/lib/apk/db/installed";

/// Installed Alpine (and Wolfi) packages. The origin (`o:`) is the source package Alpine's
/// advisories name; it shares the binary's version.
#[derive(Debug, Default)]
pub struct Apk;

#[derive(Default)]
struct Record {
    line: usize,
    name: Option<String>,
    version: Option<String>,
    arch: Option<String>,
    origin: Option<String>,
    license: Option<String>,
}

impl Extractor for Apk {
    fn name(&self) -> &'static str {
        "os/apk"
    }

    fn version(&self) -> u32 {
        1
    }

    fn required(&self, path: &str) -> bool {
        path == INSTALLED || path == "/usr/lib/apk/db/installed"
    }

    fn needs_distro(&self) -> bool {
        true
    }

    fn extract(&self, input: &ExtractInput<'_>) -> Result<Vec<Package>> {
        let text = input.text();
        let mut records = Vec::new();
        let mut cur: Option<Record> = None;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.is_empty() {
                records.extend(cur.take());
                continue;
            }
            let b = line.as_bytes();
            if b.len() < 2 || b[1] != b':' {
                return Err(input.malformed(
                    Some(i + 1),
                    format!("expected 'K:value', found {:?}", clip(line)),
                ));
            }
            let value = line[2..].to_owned();
            let r = cur.get_or_insert_with(|| Record {
                line: i + 1,
                ..Record::default()
            });
            match b[0] {
                b'P' => r.name = Some(value),
                b'V' => r.version = Some(value),
                b'A' => r.arch = Some(value),
                b'o' => r.origin = Some(value),
                b'L' => r.license = Some(value),
                _ => {}
            }
        }
        records.extend(cur);

        let namespace = input.distro.map_or("alpine", |d| d.id.as_str());
        let distro = distro_qualifier(input.distro);
        let mut out = Vec::new();
        for r in records {
            let (Some(name), Some(version)) = (
                r.name.filter(|n| !n.is_empty()),
                r.version.filter(|v| !v.is_empty()),
            ) else {
                tracing::debug!(
                    path = input.path,
                    line = r.line,
                    "apk record without P: or V:"
                );
                continue;
            };
            let arch = r.arch.filter(|a| !a.is_empty());
            out.push(Package {
                module: None,
                purl: purl(
                    "apk",
                    &[namespace],
                    &name,
                    &version,
                    &[("arch", arch.clone()), ("distro", distro.clone())],
                ),
                source: r.origin.filter(|o| !o.is_empty()).map(|o| SourcePackage {
                    name: o,
                    version: version.clone(),
                }),
                name,
                version,
                ecosystem: Ecosystem::Alpine,
                found_by: self.name().to_owned(),
                locations: vec![input.location()],
                arch,
                licenses: r.license.filter(|l| !l.is_empty()).into_iter().collect(),
            });
        }
        Ok(out)
    }
}
