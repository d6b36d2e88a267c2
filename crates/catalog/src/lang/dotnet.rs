//! .NET: `*.deps.json`, which the SDK writes next to every published application and which
//! the runtime reads to resolve assemblies.

use std::collections::BTreeMap;

use portcullis_core::{Ecosystem, Package};
use serde::Deserialize;

use crate::extractor::{ExtractInput, Extractor, Result};
use crate::util::{json, lang_package, purl};

/// NuGet packages from `libraries` entries of type `package` (`project` entries are the
/// application's own assemblies). Keys are `Name/Version`.
#[derive(Debug, Default)]
pub struct DotnetDepsJson;

#[derive(Deserialize)]
struct DepsJson {
    #[serde(default)]
    libraries: BTreeMap<String, Library>,
}

#[derive(Deserialize)]
struct Library {
    #[serde(rename = "type", default)]
    ty: String,
}

impl Extractor for DotnetDepsJson {
    fn name(&self) -> &'static str {
        "dotnet/deps-json"
    }

    fn version(&self) -> u32 {
        1
    }

    fn required(&self, path: &str) -> bool {
        path.ends_with(".deps.json")
    }

    fn extract(&self, input: &ExtractInput<'_>) -> Result<Vec<Package>> {
        let deps: DepsJson = json(input)?;
        let mut out = Vec::new();
        for (key, lib) in &deps.libraries {
            if lib.ty != "package" {
                continue;
            }
            let Some((name, version)) = key
                .split_once('/')
                .filter(|(n, v)| !n.is_empty() && !v.is_empty())
            else {
                tracing::debug!(
                    path = input.path,
                    key,
                    "deps.json library key is not Name/Version"
                );
                continue;
            };
            out.push(lang_package(
                input,
                self.name(),
                Ecosystem::NuGet,
                name.to_owned(),
                version.to_owned(),
                purl("nuget", &[], name, version, &[]),
            ));
        }
        Ok(out)
    }
}
