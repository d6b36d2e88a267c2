//! The package ecosystems Portcullis knows, with their OSV and purl spellings.

use std::str::FromStr;

/// A package ecosystem. The variant decides which version comparator and which
/// matcher apply, so it is an enum rather than a free string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ecosystem {
    /// Debian and derivatives (dpkg).
    Debian,
    /// Ubuntu (dpkg, Ubuntu's own advisories).
    Ubuntu,
    /// Alpine Linux (apk).
    Alpine,
    /// RPM based distributions (rpm).
    Rpm,
    /// Python packages (PEP 440 versions).
    PyPI,
    /// npm packages (node-semver).
    Npm,
    /// Go modules (semver with a `v` prefix).
    Go,
    /// Rust crates (semver).
    Cargo,
    /// Maven artifacts (`group:artifact`).
    Maven,
    /// Ruby gems.
    RubyGems,
    /// PHP Composer packages.
    Packagist,
    /// .NET packages.
    NuGet,
}

/// The error for an ecosystem name that is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown ecosystem '{0}' (known: debian, ubuntu, alpine, rpm, pypi, npm, go, cargo, maven, rubygems, packagist, nuget)"
)]
pub struct UnknownEcosystem(pub String);

impl Ecosystem {
    /// Every ecosystem, for listings and tests.
    pub const ALL: [Ecosystem; 12] = [
        Ecosystem::Debian,
        Ecosystem::Ubuntu,
        Ecosystem::Alpine,
        Ecosystem::Rpm,
        Ecosystem::PyPI,
        Ecosystem::Npm,
        Ecosystem::Go,
        Ecosystem::Cargo,
        Ecosystem::Maven,
        Ecosystem::RubyGems,
        Ecosystem::Packagist,
        Ecosystem::NuGet,
    ];

    /// The name OSV uses in `affected[].package.ecosystem` (without a `:release` suffix).
    pub fn osv_name(self) -> &'static str {
        match self {
            Ecosystem::Debian => "Debian",
            Ecosystem::Ubuntu => "Ubuntu",
            Ecosystem::Alpine => "Alpine",
            Ecosystem::Rpm => "Red Hat",
            Ecosystem::PyPI => "PyPI",
            Ecosystem::Npm => "npm",
            Ecosystem::Go => "Go",
            Ecosystem::Cargo => "crates.io",
            Ecosystem::Maven => "Maven",
            Ecosystem::RubyGems => "RubyGems",
            Ecosystem::Packagist => "Packagist",
            Ecosystem::NuGet => "NuGet",
        }
    }

    /// The name as the ecosystem's registry identifies a package, so that any spelling of it
    /// finds the same advisories: PyPI by PEP 503 (lower case, each run of `-`, `_`, `.` one
    /// `-`), NuGet and Packagist case-insensitively (lower case); elsewhere the name as given.
    /// Surrounding white space never counts.
    pub fn normalize_name(self, name: &str) -> String {
        let name = name.trim();
        match self {
            Ecosystem::PyPI => {
                let mut out = String::with_capacity(name.len());
                let mut in_separator = false;
                for c in name.chars() {
                    if matches!(c, '-' | '_' | '.') {
                        if !in_separator {
                            out.push('-');
                        }
                        in_separator = true;
                    } else {
                        out.extend(c.to_lowercase());
                        in_separator = false;
                    }
                }
                out
            }
            Ecosystem::NuGet | Ecosystem::Packagist => name.to_lowercase(),
            _ => name.to_string(),
        }
    }

    /// The package-url type (`pkg:TYPE/...`).
    pub fn purl_type(self) -> &'static str {
        match self {
            Ecosystem::Debian | Ecosystem::Ubuntu => "deb",
            Ecosystem::Alpine => "apk",
            Ecosystem::Rpm => "rpm",
            Ecosystem::PyPI => "pypi",
            Ecosystem::Npm => "npm",
            Ecosystem::Go => "golang",
            Ecosystem::Cargo => "cargo",
            Ecosystem::Maven => "maven",
            Ecosystem::RubyGems => "gem",
            Ecosystem::Packagist => "composer",
            Ecosystem::NuGet => "nuget",
        }
    }

    /// Our own short lowercase name, used on the command line and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Ecosystem::Debian => "debian",
            Ecosystem::Ubuntu => "ubuntu",
            Ecosystem::Alpine => "alpine",
            Ecosystem::Rpm => "rpm",
            Ecosystem::PyPI => "pypi",
            Ecosystem::Npm => "npm",
            Ecosystem::Go => "go",
            Ecosystem::Cargo => "cargo",
            Ecosystem::Maven => "maven",
            Ecosystem::RubyGems => "rubygems",
            Ecosystem::Packagist => "packagist",
            Ecosystem::NuGet => "nuget",
        }
    }

    /// True for operating-system package managers, whose advisories are per distro release
    /// and matched through the source package.
    pub fn is_os(self) -> bool {
        matches!(
            self,
            Ecosystem::Debian | Ecosystem::Ubuntu | Ecosystem::Alpine | Ecosystem::Rpm
        )
    }

    /// Parses an OSV ecosystem string such as `Debian:12` or `Alpine:v3.18`, returning the
    /// ecosystem and the release suffix, if any.
    pub fn parse_osv(s: &str) -> Result<(Ecosystem, Option<&str>), UnknownEcosystem> {
        let (name, release) = match s.split_once(':') {
            Some((n, r)) => (n, Some(r)),
            None => (s, None),
        };
        // Wolfi and Chainguard are apk distributions of their own: their records are apk
        // advisories for the release named after them, never for an Alpine branch.
        for distro in APK_DISTROS {
            if name.eq_ignore_ascii_case(distro) {
                return Ok((Ecosystem::Alpine, Some(distro)));
            }
        }
        let eco: Ecosystem = name.parse()?;
        // rpm distributions share one ecosystem but never each other's advisories: their
        // release is the whole string (`AlmaLinux:9`, `Red Hat:enterprise_linux:9::baseos`,
        // `SUSE:Linux Enterprise Server 15 SP5`), so a Rocky Linux 9 image is not taken as
        // covered, or matched, by AlmaLinux's records for release 9.
        if eco == Ecosystem::Rpm {
            return Ok((eco, Some(s)));
        }
        Ok((eco, release))
    }
}

/// apk-based distributions whose OSV ecosystem is their own name (`Wolfi`, `Chainguard`): the
/// release their records are for is the distribution's `ID` from os-release.
pub const APK_DISTROS: [&str; 2] = ["wolfi", "chainguard"];

impl FromStr for Ecosystem {
    type Err = UnknownEcosystem;

    /// Accepts our short names, OSV names and purl types, case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let e = match s.to_ascii_lowercase().as_str() {
            "debian" | "deb" | "dpkg" => Ecosystem::Debian,
            "ubuntu" => Ecosystem::Ubuntu,
            "alpine" | "apk" => Ecosystem::Alpine,
            "rpm" | "red hat" | "redhat" | "rocky linux" | "almalinux" | "suse" | "opensuse" => {
                Ecosystem::Rpm
            }
            "pypi" | "python" | "pep440" => Ecosystem::PyPI,
            "npm" | "node" => Ecosystem::Npm,
            "go" | "golang" => Ecosystem::Go,
            "cargo" | "crates.io" | "rust" => Ecosystem::Cargo,
            "maven" => Ecosystem::Maven,
            "rubygems" | "gem" | "ruby" => Ecosystem::RubyGems,
            "packagist" | "composer" | "php" => Ecosystem::Packagist,
            "nuget" | ".net" | "dotnet" => Ecosystem::NuGet,
            _ => return Err(UnknownEcosystem(s.to_string())),
        };
        Ok(e)
    }
}

crate::named_by_str!(Ecosystem);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalise_per_ecosystem() {
        let n = |e: Ecosystem, s: &str| e.normalize_name(s);
        assert_eq!(n(Ecosystem::PyPI, "Django"), "django");
        assert_eq!(n(Ecosystem::PyPI, "zope.interface"), "zope-interface");
        assert_eq!(n(Ecosystem::PyPI, " Foo__Bar-.baz "), "foo-bar-baz");
        assert_eq!(n(Ecosystem::PyPI, "Flask_SQLAlchemy"), "flask-sqlalchemy");
        assert_eq!(n(Ecosystem::NuGet, "Newtonsoft.Json"), "newtonsoft.json");
        assert_eq!(
            n(Ecosystem::Packagist, "Symfony/HTTP-Kernel"),
            "symfony/http-kernel"
        );
        assert_eq!(n(Ecosystem::Go, "github.com/Foo/bar"), "github.com/Foo/bar");
        assert_eq!(n(Ecosystem::Debian, "libc6 "), "libc6");
    }

    #[test]
    fn names_round_trip() {
        for e in Ecosystem::ALL {
            assert_eq!(e.as_str().parse::<Ecosystem>().unwrap(), e);
            assert_eq!(e.osv_name().parse::<Ecosystem>().unwrap(), e);
        }
    }

    #[test]
    fn osv_release_suffix() {
        assert_eq!(
            Ecosystem::parse_osv("Debian:12").unwrap(),
            (Ecosystem::Debian, Some("12"))
        );
        assert_eq!(
            Ecosystem::parse_osv("crates.io").unwrap(),
            (Ecosystem::Cargo, None)
        );
        assert!(Ecosystem::parse_osv("Hackage").is_err());
    }
}
