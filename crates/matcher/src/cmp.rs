//! The one place that calls `portcullis-version`, so every comparison the matcher makes goes
//! through the ecosystem's own ordering and errors become readable strings for warnings.

use std::cmp::Ordering;

use portcullis_core::{Ecosystem, RangeKind};

/// How the versions of one range are ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Order {
    /// SemVer 2.0 precedence (OSV `SEMVER` ranges).
    Semver,
    /// The ecosystem's own rules (OSV `ECOSYSTEM` ranges, and `versions` lists).
    Ecosystem(Ecosystem),
}

impl Order {
    /// The ordering of a range kind, or `None` for kinds that cannot be evaluated against an
    /// installed version (Git commits).
    pub(crate) fn of(kind: RangeKind, eco: Ecosystem) -> Option<Order> {
        match kind {
            RangeKind::Semver => Some(Order::Semver),
            RangeKind::Ecosystem => Some(Order::Ecosystem(eco)),
            RangeKind::Git => None,
        }
    }

    /// Parses a version once under this ordering, for many comparisons.
    pub(crate) fn parse(self, v: &str) -> Result<portcullis_version::Parsed, String> {
        let r = match self {
            Order::Semver => portcullis_version::Parsed::semver(v),
            Order::Ecosystem(eco) => portcullis_version::Parsed::ecosystem(eco, v),
        };
        r.map_err(|e| e.to_string())
    }

    /// Compares two versions, or says why they cannot be compared.
    pub(crate) fn compare(self, a: &str, b: &str) -> Result<Ordering, String> {
        let r = match self {
            Order::Semver => portcullis_version::compare_semver(a, b),
            Order::Ecosystem(eco) => portcullis_version::compare(eco, a, b),
        };
        r.map_err(|e| e.to_string())
    }
}

/// Whether `version` satisfies a node-semver range string.
pub(crate) fn npm_satisfies(range: &str, version: &str) -> Result<bool, String> {
    portcullis_version::npm_range::satisfies(range, version).map_err(|e| e.to_string())
}
