//! Version ordering per ecosystem, each by that ecosystem's own rules.
//!
//! Deciding whether an installed package is affected comes down to "is this version inside that
//! range", and every ecosystem answers "which version is newer" differently: dpkg sorts `~` before
//! the empty string, PEP 440 puts `.dev` releases before alphas, Maven treats `1-ga` as `1`,
//! RubyGems reads `1.0.a` as a pre-release. A generic "semver-ish" comparison gets all of these
//! wrong somewhere, so each ecosystem has its own module with a typed version, its own parser and
//! an `Ord` that follows that ecosystem's reference implementation (dpkg, apk-tools, rpmvercmp,
//! packaging, node-semver, ComparableVersion, Gem::Version, NuGet.Versioning, version_compare).
//!
//! The free functions [`compare`] and [`validate`] dispatch on [`Ecosystem`]; callers that
//! compare one version against many can parse once with [`Parsed`] or the module's `Version::parse`.

/// `PartialEq`, `Eq` and `PartialOrd` of a version type from its `Ord`: each comparator defines
/// its order once, as its ecosystem does, and equal spellings (`1.0` and `1.0.0` in PEP 440)
/// are then equal versions. With `parse`, also `FromStr` from the type's `parse`.
macro_rules! ordered_by_cmp {
    ($t:ident) => {
        impl PartialOrd for $t {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }

        impl PartialEq for $t {
            fn eq(&self, other: &Self) -> bool {
                self.cmp(other) == std::cmp::Ordering::Equal
            }
        }

        impl Eq for $t {}
    };
    ($t:ident, parse) => {
        ordered_by_cmp!($t);

        impl std::str::FromStr for $t {
            type Err = crate::VersionError;
            fn from_str(s: &str) -> crate::Result<Self> {
                $t::parse(s)
            }
        }
    };
    // Shown as written: the text it was parsed from, kept in its `original` field.
    ($t:ident, parse, shown as written) => {
        ordered_by_cmp!($t, parse);

        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.original)
            }
        }
    };
}

/// How two versions of one scheme compare, for the schemes' unit tests.
#[cfg(test)]
fn cmp_as<V: std::str::FromStr + Ord>(a: &str, b: &str) -> std::cmp::Ordering
where
    V::Err: std::fmt::Debug,
{
    let parse = |v: &str| v.parse::<V>().unwrap_or_else(|e| panic!("{v}: {e:?}"));
    parse(a).cmp(&parse(b))
}

mod num;

pub mod alpine;
pub mod cargo;
pub mod debian;
pub mod go;
pub mod maven;
pub mod npm;
pub mod npm_range;
pub mod nuget;
pub mod packagist;
pub mod pypi;
pub mod rpm;
pub mod rubygems;
pub mod semver;

use std::cmp::Ordering;

pub use num::Num;
pub use portcullis_core::Ecosystem;

/// Why a version (or an npm range) could not be used.
///
/// The message always names the ecosystem, quotes the offending input and says what is wrong
/// with it, so that it can be shown as is next to the advisory or package it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// The string is not a version of that ecosystem.
    #[error("invalid {ecosystem} version {input:?}: {reason}")]
    Invalid {
        /// Short ecosystem name (`pypi`, `debian`, `semver`, ...).
        ecosystem: &'static str,
        /// The string as it was given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The string is not an npm (node-semver) range.
    #[error("invalid npm range {input:?}: {reason}")]
    InvalidRange {
        /// The range as it was given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Result type of this crate.
pub type Result<T, E = VersionError> = std::result::Result<T, E>;

impl VersionError {
    /// Shorthand used by every parser.
    pub(crate) fn invalid(ecosystem: &'static str, input: &str, reason: impl Into<String>) -> Self {
        VersionError::Invalid {
            ecosystem,
            input: input.to_string(),
            reason: reason.into(),
        }
    }
}

/// Compares two versions of one ecosystem by that ecosystem's rules.
///
/// Both strings must be versions of the ecosystem (see [`validate`]), with these exceptions, so
/// that odd versions found in real databases and advisories still get the order their ecosystem's
/// tooling gives them: Alpine and Red Hat order any string as `apk version -t` and `rpmvercmp`
/// do; Maven and Packagist order any string as `ComparableVersion` and `version_compare` do;
/// RubyGems also orders digit-led strings `Gem::Version` refuses (`1beta`) by its segment rules;
/// NuGet also orders numbers past NuGet's Int32 limit.
pub fn compare(eco: Ecosystem, a: &str, b: &str) -> Result<Ordering> {
    Ok(Parsed::ecosystem(eco, a)?.cmp(&Parsed::ecosystem(eco, b)?))
}

/// A version parsed once by one set of rules, to be compared with many others (a range's
/// events, a record's `versions` list) without parsing it again for each comparison.
/// [`compare`] and [`compare_semver`] are this, for two strings; versions of different rules
/// order by rule set only, which is never asked.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Parsed {
    /// dpkg rules (Debian, Ubuntu).
    Debian(debian::Version),
    /// apk-tools rules.
    Alpine(alpine::Version),
    /// rpmvercmp rules.
    Rpm(rpm::Version),
    /// PEP 440.
    PyPI(pypi::Version),
    /// node-semver (loose).
    Npm(npm::Version),
    /// Go modules.
    Go(go::Version),
    /// Cargo.
    Cargo(cargo::Version),
    /// Maven `ComparableVersion`.
    Maven(maven::Version),
    /// RubyGems.
    RubyGems(rubygems::Version),
    /// Composer.
    Packagist(packagist::Version),
    /// NuGet.
    NuGet(nuget::Version),
    /// SemVer 2.0, lenient (OSV `SEMVER` ranges).
    Semver(semver::Version),
}

impl Parsed {
    /// Parses `v` by the ecosystem's rules, accepting what [`compare`] accepts.
    pub fn ecosystem(eco: Ecosystem, v: &str) -> Result<Parsed> {
        Ok(match eco {
            Ecosystem::Debian | Ecosystem::Ubuntu => Parsed::Debian(debian::Version::parse(v)?),
            Ecosystem::Alpine => Parsed::Alpine(alpine::Version::parse(v)?),
            Ecosystem::Rpm => Parsed::Rpm(rpm::Version::parse(v)?),
            Ecosystem::PyPI => Parsed::PyPI(pypi::Version::parse(v)?),
            Ecosystem::Npm => Parsed::Npm(npm::Version::parse_loose(v)?),
            Ecosystem::Go => Parsed::Go(go::Version::parse(v)?),
            Ecosystem::Cargo => Parsed::Cargo(cargo::Version::parse(v)?),
            Ecosystem::Maven => Parsed::Maven(maven::Version::parse(v)?),
            Ecosystem::RubyGems => Parsed::RubyGems(rubygems::Version::parse(v)?),
            Ecosystem::Packagist => Parsed::Packagist(packagist::Version::parse(v)?),
            Ecosystem::NuGet => Parsed::NuGet(nuget::Version::parse(v)?),
        })
    }

    /// Parses `v` as [`compare_semver`] does.
    pub fn semver(v: &str) -> Result<Parsed> {
        Ok(Parsed::Semver(semver::Version::parse_lenient(v)?))
    }
}

/// Checks that `v` is a well-formed version of the ecosystem.
///
/// This is stricter than [`compare`] for Alpine, RubyGems and NuGet: it accepts only what the
/// ecosystem's own grammar allows, and says what is wrong otherwise.
pub fn validate(eco: Ecosystem, v: &str) -> Result<()> {
    match eco {
        Ecosystem::Debian | Ecosystem::Ubuntu => debian::Version::parse(v).map(drop),
        Ecosystem::Alpine => alpine::Version::parse(v)?.check_grammar(),
        Ecosystem::Rpm => rpm::Version::parse(v).map(drop),
        Ecosystem::PyPI => pypi::Version::parse(v).map(drop),
        Ecosystem::Npm => npm::Version::parse_loose(v).map(drop),
        Ecosystem::Go => go::Version::parse(v).map(drop),
        Ecosystem::Cargo => cargo::Version::parse(v).map(drop),
        Ecosystem::Maven => maven::Version::parse(v).map(drop),
        Ecosystem::RubyGems => rubygems::Version::parse(v)?.check_grammar(),
        Ecosystem::Packagist => packagist::Version::parse(v).map(drop),
        Ecosystem::NuGet => nuget::Version::parse(v)?.check_grammar(),
    }
}

/// SemVer 2.0 precedence, used for OSV ranges of type SEMVER whatever the ecosystem (leading "v"
/// allowed).
///
/// OSV's SEMVER ranges come from many hands, so the parse is the lenient one of
/// [`semver::Version::parse_lenient`]: a leading `v`, missing minor or patch (`1` is `1.0.0`) and
/// leading zeros are accepted, numbers have no size limit; build metadata never counts.
pub fn compare_semver(a: &str, b: &str) -> Result<Ordering> {
    Ok(semver::Version::parse_lenient(a)?.cmp(&semver::Version::parse_lenient(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsed_versions_order_as_compare_does() {
        let cases = [
            (Ecosystem::Debian, "1.0~rc1-1", "1.0-1"),
            (Ecosystem::PyPI, "1.0", "1.0.0"),
            (Ecosystem::PyPI, "2.0.post1", "2.0"),
            (Ecosystem::Npm, "1.2.3-beta", "1.2.3"),
            (Ecosystem::Maven, "1.0-SNAPSHOT", "1.0"),
            (Ecosystem::Alpine, "1.2.3-r1", "1.2.3-r0"),
            (Ecosystem::Go, "v1.2.3", "v1.10.0"),
        ];
        for (eco, a, b) in cases {
            let (pa, pb) = (
                Parsed::ecosystem(eco, a).expect("a"),
                Parsed::ecosystem(eco, b).expect("b"),
            );
            assert_eq!(
                Some(pa.cmp(&pb)),
                compare(eco, a, b).ok(),
                "{eco:?} {a} {b}"
            );
        }
        assert_eq!(
            Parsed::semver("v1.2")
                .expect("a")
                .cmp(&Parsed::semver("1.10.0").expect("b")),
            Ordering::Less
        );
        assert!(Parsed::ecosystem(Ecosystem::PyPI, "not a version").is_err());
    }

    #[test]
    fn ubuntu_uses_dpkg_rules() {
        assert_eq!(
            compare(Ecosystem::Ubuntu, "1.0~rc1-1", "1.0-1"),
            Ok(Ordering::Less)
        );
        assert_eq!(
            compare(Ecosystem::Ubuntu, "1:0.1", "2.0"),
            Ok(Ordering::Greater)
        );
    }

    #[test]
    fn error_names_ecosystem_input_and_reason() {
        let err = compare(Ecosystem::PyPI, "1.0", "1.0+").unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"invalid pypi version "1.0+": local segment is empty"#
        );
        assert!(validate(Ecosystem::Debian, "").is_err());
        assert!(validate(Ecosystem::Cargo, "1.2").is_err());
    }

    #[test]
    fn every_ecosystem_orders_a_simple_pair() {
        for eco in Ecosystem::ALL {
            assert_eq!(compare(eco, "1.2.3", "1.10.0"), Ok(Ordering::Less), "{eco}");
            assert_eq!(validate(eco, "1.2.3"), Ok(()), "{eco}");
        }
    }
}
