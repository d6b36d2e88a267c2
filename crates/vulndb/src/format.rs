//! The feed formats the database can ingest.

use std::str::FromStr;

/// A feed format. Import detects it per file from name and content; naming one forces it
/// for every candidate file of a source (useful when detection guesses wrong).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SourceFormat {
    /// OSV records: JSON or YAML, one per file, in a directory tree or a zip archive.
    Osv,
    /// Debian security tracker: `data/DSA/list`, `data/DLA/list`, `data/CVE/list` or the
    /// tracker's JSON export.
    DebianTracker,
    /// Alpine secdb (`secfixes`), YAML or JSON.
    AlpineSecdb,
    /// Node.js security working group npm advisories (`vuln/npm/*.json`).
    NpmWg,
    /// NVD CVE API 2.0 records; only used to enrich CVSS.
    Nvd,
}

/// The error for a format name that is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown advisory format '{0}' (known: osv, debian-tracker, alpine-secdb, npm-wg, nvd)")]
pub struct UnknownFormat(pub String);

impl SourceFormat {
    /// Every format, for listings and tests.
    pub const ALL: [SourceFormat; 5] = [
        SourceFormat::Osv,
        SourceFormat::DebianTracker,
        SourceFormat::AlpineSecdb,
        SourceFormat::NpmWg,
        SourceFormat::Nvd,
    ];

    /// The kebab-case name used on the command line, in config files and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceFormat::Osv => "osv",
            SourceFormat::DebianTracker => "debian-tracker",
            SourceFormat::AlpineSecdb => "alpine-secdb",
            SourceFormat::NpmWg => "npm-wg",
            SourceFormat::Nvd => "nvd",
        }
    }
}

impl FromStr for SourceFormat {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SourceFormat::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownFormat(s.to_string()))
    }
}

portcullis_core::named_by_str!(SourceFormat);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for f in SourceFormat::ALL {
            assert_eq!(f.as_str().parse::<SourceFormat>(), Ok(f));
            assert_eq!(f.to_string(), f.as_str());
        }
        assert!("debian".parse::<SourceFormat>().is_err());
    }
}
