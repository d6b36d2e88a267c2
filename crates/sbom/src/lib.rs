//! CycloneDX and SPDX encoding and decoding of an inventory.
//!
//! [`encode`] writes an [`Inventory`] as CycloneDX 1.6 JSON, SPDX 2.3 JSON or Portcullis'
//! own JSON. [`decode`] reads CycloneDX JSON or XML, SPDX JSON or Portcullis JSON back into
//! an [`Inventory`], so an SBOM made elsewhere (syft, trivy) can be scanned like an image.
//!
//! Packages are identified by their purl: the ecosystem comes from the purl type and the
//! name from the purl's parts, which is what advisories are keyed by. Everything a purl
//! cannot carry (which extractor found the package, in which layer and file, the source
//! package) is written as `portcullis:*` CycloneDX properties or SPDX annotations, so
//! Portcullis' own SBOMs decode to the inventory they were made from.

use std::fmt;
use std::str::FromStr;

use portcullis_core::{Ecosystem, Inventory, Package};

mod cyclonedx;
mod decode;
mod license;
pub mod purl;
mod spdx;
mod xml;

pub use purl::{Purl, PurlError};

/// An SBOM format Portcullis writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// CycloneDX 1.6, JSON encoding.
    CycloneDxJson,
    /// SPDX 2.3, JSON encoding.
    SpdxJson,
    /// Portcullis' own JSON: the serde form of [`Inventory`].
    Json,
}

impl Format {
    /// Every format, for listings and help text.
    pub const ALL: [Format; 3] = [Format::CycloneDxJson, Format::SpdxJson, Format::Json];

    /// The name used on the command line (`cyclonedx-json`, `spdx-json`, `json`).
    pub fn name(self) -> &'static str {
        match self {
            Format::CycloneDxJson => "cyclonedx-json",
            Format::SpdxJson => "spdx-json",
            Format::Json => "json",
        }
    }

    /// The media type to label the output with.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::CycloneDxJson => "application/vnd.cyclonedx+json",
            Format::SpdxJson => "application/spdx+json",
            Format::Json => "application/json",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = SbomError;

    /// Accepts the names of [`Format::name`], case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| SbomError::UnknownFormat(s.to_string()))
    }
}

/// What an encoding needs besides the inventory. Fixing `timestamp` and `serial` makes the
/// output byte-for-byte reproducible (tests, diffable SBOMs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Portcullis' version, written as the tool that made the SBOM.
    pub tool_version: String,
    /// Creation time; `None` means now. Written in UTC with whole seconds, as SPDX requires.
    pub timestamp: Option<time::OffsetDateTime>,
    /// CycloneDX serial number `urn:uuid:...` (a bare UUID is accepted too), also used to
    /// make the SPDX document namespace unique; `None` means a random one.
    pub serial: Option<String>,
}

impl EncodeOptions {
    /// Options for the given tool version, with the current time and a random serial.
    pub fn new(tool_version: impl Into<String>) -> Self {
        EncodeOptions {
            tool_version: tool_version.into(),
            timestamp: None,
            serial: None,
        }
    }
}

/// Everything that can go wrong encoding or decoding an SBOM. Decoding errors name the
/// input (`origin`) and the element (`components[3]`, `component #3 at line 40`,
/// `packages[2]`) so the user can find the offending entry.
#[derive(Debug, thiserror::Error)]
pub enum SbomError {
    /// The format name is not one Portcullis writes.
    #[error("unknown SBOM format '{0}' (known: cyclonedx-json, spdx-json, json)")]
    UnknownFormat(String),
    /// An [`EncodeOptions`] field is malformed.
    #[error("invalid {option} '{value}': {reason}")]
    InvalidOption {
        /// Which option.
        option: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The input is not JSON or XML, or is JSON/XML of some other kind of document.
    #[error("{origin}: not a CycloneDX, SPDX or Portcullis SBOM: {reason}")]
    NotSbom {
        /// The input's name.
        origin: String,
        /// What was found instead.
        reason: String,
    },
    /// The input starts like JSON but does not parse.
    #[error("{origin}: malformed JSON at line {line} column {column}")]
    Json {
        /// The input's name.
        origin: String,
        /// Line of the error, 1-based.
        line: usize,
        /// Column of the error, 1-based.
        column: usize,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The input starts like XML but does not parse.
    #[error("{origin}: malformed XML at line {line}: {message}")]
    Xml {
        /// The input's name.
        origin: String,
        /// Line of the error, 1-based.
        line: usize,
        /// The parser's message.
        message: String,
    },
    /// The document is CycloneDX or SPDX, but of a version this crate does not read.
    #[error("{origin}: unsupported {format} version '{version}' (supported: {supported})")]
    UnsupportedVersion {
        /// The input's name.
        origin: String,
        /// `CycloneDX` or `SPDX`.
        format: &'static str,
        /// The version the document declares.
        version: String,
        /// The versions that are read.
        supported: &'static str,
    },
    /// A field of the document does not have the shape the format defines.
    #[error("{origin}: {element}: {reason}")]
    Shape {
        /// The input's name.
        origin: String,
        /// Where in the document (`components[3]`, `packages[0].externalRefs`).
        element: String,
        /// What is wrong.
        reason: String,
    },
    /// A package's purl is not a valid package URL.
    #[error("{origin}: {element}: invalid purl '{purl}'")]
    InvalidPurl {
        /// The input's name.
        origin: String,
        /// The component or package (`components[3]`, `component #4 at line 52`).
        element: String,
        /// The purl as written.
        purl: String,
        /// Why it is invalid.
        #[source]
        source: PurlError,
    },
    /// Writing the JSON failed (cannot happen for the types written here, but the
    /// serialiser's signature says it can).
    #[error("serialising the SBOM")]
    Serialize(#[source] serde_json::Error),
}

/// Result with [`SbomError`].
pub type Result<T, E = SbomError> = std::result::Result<T, E>;

/// Encodes an inventory in the given format. Output is deterministic for fixed
/// `opts.timestamp` and `opts.serial`: packages are written sorted, whatever their order
/// in `inv`.
pub fn encode(inv: &Inventory, format: Format, opts: &EncodeOptions) -> Result<Vec<u8>> {
    match format {
        Format::CycloneDxJson => cyclonedx::encode(inv, opts),
        Format::SpdxJson => spdx::encode(inv, opts),
        Format::Json => {
            let mut sorted = inv.clone();
            sort_packages(&mut sorted.packages);
            let mut out = serde_json::to_vec_pretty(&sorted).map_err(SbomError::Serialize)?;
            out.push(b'\n');
            Ok(out)
        }
    }
}

/// Decodes an SBOM, telling the format from the content: CycloneDX JSON (spec 1.2-1.6),
/// CycloneDX XML (1.2-1.6), SPDX 2.2/2.3 JSON, or Portcullis JSON. `origin` names the input
/// in errors and warnings, and is the location of packages the SBOM gives no file for.
///
/// Components that are not packages of a known ecosystem (no purl, `pkg:generic`, no
/// version) are skipped with a line in [`Inventory::warnings`]; structural ones (the
/// operating system, files, the scanned container) are skipped silently. A malformed purl
/// is an error, since a wrong reading would name another package.
pub fn decode(bytes: &[u8], origin: &str) -> Result<Inventory> {
    decode::decode(bytes, origin)
}

/// Sorts packages as [`Inventory::packages`] documents: by ecosystem, name, version and
/// first location, then by everything else so the order is total.
pub fn sort_packages(packages: &mut [Package]) {
    packages.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)).then_with(|| a.cmp(b)));
}

fn sort_key(p: &Package) -> (Ecosystem, &str, &str, Option<&portcullis_core::Location>) {
    (p.ecosystem, &p.name, &p.version, p.locations.first())
}

/// Creation time in the form both formats accept (`2024-01-02T03:04:05Z`).
fn timestamp(opts: &EncodeOptions) -> Result<String> {
    let t = opts
        .timestamp
        .unwrap_or_else(time::OffsetDateTime::now_utc)
        .to_offset(time::UtcOffset::UTC);
    let bad = |reason: String| SbomError::InvalidOption {
        option: "timestamp",
        value: t.to_string(),
        reason,
    };
    if !(0..=9999).contains(&t.year()) {
        return Err(bad("the year must be 0000-9999".into()));
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.format(&fmt).map_err(|e| bad(e.to_string()))
}

/// The serial's UUID, lowercase and hyphenated.
fn serial_uuid(opts: &EncodeOptions) -> Result<String> {
    match &opts.serial {
        Some(s) => {
            let bare = s.strip_prefix("urn:uuid:").unwrap_or(s);
            uuid::Uuid::parse_str(bare)
                .map(|u| u.hyphenated().to_string())
                .map_err(|e| SbomError::InvalidOption {
                    option: "serial",
                    value: s.clone(),
                    reason: e.to_string(),
                })
        }
        None => Ok(uuid::Uuid::new_v4().hyphenated().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_round_trip() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>().unwrap(), f);
        }
        assert!(matches!(
            "cyclonedx-xml".parse::<Format>(),
            Err(SbomError::UnknownFormat(_))
        ));
    }

    #[test]
    fn timestamp_is_normalised_to_utc_seconds() {
        let opts = EncodeOptions {
            timestamp: Some(time::macros::datetime!(2024-05-06 09:08:07.123 +02:00)),
            ..Default::default()
        };
        assert_eq!(timestamp(&opts).unwrap(), "2024-05-06T07:08:07Z");
        let far = EncodeOptions {
            timestamp: Some(time::macros::datetime!(-0001-01-01 00:00 UTC)),
            ..Default::default()
        };
        assert!(matches!(
            timestamp(&far),
            Err(SbomError::InvalidOption {
                option: "timestamp",
                ..
            })
        ));
    }

    #[test]
    fn serial_accepts_urn_or_bare_uuid() {
        let u = "6BA7B810-9DAD-11D1-80B4-00C04FD430C8";
        for s in [format!("urn:uuid:{u}"), u.to_string()] {
            let opts = EncodeOptions {
                serial: Some(s),
                ..Default::default()
            };
            assert_eq!(serial_uuid(&opts).unwrap(), u.to_ascii_lowercase());
        }
        let bad = EncodeOptions {
            serial: Some("urn:uuid:nope".into()),
            ..Default::default()
        };
        assert!(matches!(
            serial_uuid(&bad),
            Err(SbomError::InvalidOption {
                option: "serial",
                ..
            })
        ));
        let random = serial_uuid(&EncodeOptions::default()).unwrap();
        assert_ne!(random, serial_uuid(&EncodeOptions::default()).unwrap());
    }
}
