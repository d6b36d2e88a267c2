//! One matcher per package family. They differ in what they look up (source package or the
//! package itself), how names compare, and how OS releases scope the advisories; the range
//! evaluation itself is shared ([`crate::range`]).

use portcullis_core::{
    Advisory, AdvisorySource, Affected, Distro, Ecosystem, Event, Package, TrackerState,
};

use crate::range::{self, Hit};
use crate::{Finding, MatchContext, Matcher, Result};

/// `(name, version)` of every default matcher, for cache keys: a stored report is only valid
/// for the matchers that made it.
pub fn matcher_versions() -> Vec<(&'static str, u32)> {
    let mut v: Vec<(&'static str, u32)> = default_matchers()
        .iter()
        .map(|m| (m.name(), m.version()))
        .collect();
    // Reports say what was examined since coverage 1: older ones are made again.
    v.push(("coverage", 1));
    v
}

/// The matchers [`crate::match_inventory`] uses, one per package family.
pub fn default_matchers() -> Vec<Box<dyn Matcher>> {
    vec![
        Box::new(DpkgMatcher),
        Box::new(ApkMatcher),
        Box::new(RpmMatcher),
        Box::new(GoMatcher),
        Box::new(LanguageMatcher),
    ]
}

/// Debian and Ubuntu packages, matched through their source package and scoped to the image's
/// release (`Debian:bookworm` or `Debian:12`; `Ubuntu:22.04:LTS`), compared with dpkg rules
/// against the installed *source* version (which differs from the binary one for binNMUs).
#[derive(Clone, Copy, Debug, Default)]
pub struct DpkgMatcher;

/// Alpine packages, matched through their origin package and scoped to the image's branch
/// (`Alpine:v3.18` for `VERSION_ID=3.18.4`).
#[derive(Clone, Copy, Debug, Default)]
pub struct ApkMatcher;

/// rpm packages (Red Hat Enterprise Linux and CentOS, AlmaLinux, Rocky Linux, SUSE and
/// openSUSE), matched by the binary package's name as rpm advisories name them (and by the
/// source RPM's name where a record uses that), scoped to the image's distribution and major
/// release, compared in rpm order with epochs against the installed `[EPOCH:]VERSION-RELEASE`.
/// A module build (one with a modularity label) is matched only by fixes that are module builds
/// of its own stream, a base package only by fixes that are not module builds.
#[derive(Clone, Copy, Debug, Default)]
pub struct RpmMatcher;

/// Go modules by module path; the `stdlib` package's version is the toolchain's
/// (`go1.21.3` → `1.21.3`, `go1.22rc1` → `1.22.0-rc.1`, as the Go vulnerability database spells it).
#[derive(Clone, Copy, Debug, Default)]
pub struct GoMatcher;

/// Language ecosystems that need nothing beyond OSV: PyPI (PEP 503 names), npm (including the
/// npm WG `npm-range:` convention), crates.io, Maven, RubyGems, Packagist and NuGet
/// (case-insensitive names).
#[derive(Clone, Copy, Debug, Default)]
pub struct LanguageMatcher;

impl Matcher for DpkgMatcher {
    fn name(&self) -> &'static str {
        "dpkg-source"
    }

    fn version(&self) -> u32 {
        1
    }

    fn handles(&self, eco: Ecosystem) -> bool {
        matches!(eco, Ecosystem::Debian | Ecosystem::Ubuntu)
    }

    /// Debian or Ubuntu (by the image's distribution), scoped to its release.
    fn scope(&self, ctx: &MatchContext<'_>, pkg: &Package) -> (Ecosystem, Vec<String>) {
        let family = dpkg_family(pkg.ecosystem, ctx.distro);
        let releases = match ctx.distro {
            Some(d) if family == Ecosystem::Debian => debian_releases(d),
            Some(d) => ubuntu_releases(d),
            None => Vec::new(),
        };
        (family, releases)
    }

    fn find(
        &self,
        src: &dyn AdvisorySource,
        ctx: &MatchContext<'_>,
        pkg: &Package,
    ) -> Result<Vec<Finding>> {
        let (family, releases) = self.scope(ctx, pkg);
        let (name, version) = pkg.source_or_self();
        let searched = format!(
            "{} {name} {version}{}",
            scope_label(family, &releases),
            source_note(pkg)
        );
        let advisories = src.advisories_for(family, name)?;
        // Some(release) for an entry of this package in this family (None: no release).
        let entry_release = |aff: &Affected| -> Option<Option<String>> {
            match Ecosystem::parse_osv(&aff.ecosystem) {
                Ok((e, release)) if e == family && aff.package == name => {
                    Some(release.map(str::to_string))
                }
                _ => None,
            }
        };
        let release_is_ours = |r: &str| {
            if family == Ecosystem::Debian {
                releases.iter().any(|x| x == r)
            } else {
                // `Ubuntu:22.04:LTS`, `Ubuntu:Pro:16.04:LTS`: the release number is one part.
                r.split(':').any(|part| releases.iter().any(|x| x == part))
            }
        };
        // A bare `Debian` entry (the tracker's unstable line) speaks for every release that
        // has no entry of its own for the package in the same advisory.
        let accept = |adv: &Advisory, aff: &Affected| -> bool {
            match entry_release(aff) {
                Some(Some(r)) => release_is_ours(&r),
                Some(None) => !adv
                    .affected
                    .iter()
                    .any(|o| matches!(entry_release(o), Some(Some(r)) if release_is_ours(&r))),
                None => false,
            }
        };
        Ok(findings(
            advisories, accept, family, version, true, &searched, ctx,
        ))
    }
}

impl Matcher for ApkMatcher {
    fn name(&self) -> &'static str {
        "apk-origin"
    }

    /// 2: a commit hash (`~HEX`) counts in the order, as apk-tools has it; Wolfi and
    /// Chainguard images matched against their own records.
    fn version(&self) -> u32 {
        2
    }

    fn handles(&self, eco: Ecosystem) -> bool {
        eco == Ecosystem::Alpine
    }

    /// Wolfi and Chainguard images have advisories of their own; Alpine ones by branch.
    fn scope(&self, ctx: &MatchContext<'_>, _: &Package) -> (Ecosystem, Vec<String>) {
        let release = ctx.distro.and_then(|d| {
            match portcullis_core::APK_DISTROS
                .iter()
                .find(|x| d.id.eq_ignore_ascii_case(x))
            {
                Some(distro) => Some(distro.to_string()),
                None => d.version_id.as_deref().and_then(alpine_branch),
            }
        });
        (Ecosystem::Alpine, release.into_iter().collect())
    }

    fn find(
        &self,
        src: &dyn AdvisorySource,
        ctx: &MatchContext<'_>,
        pkg: &Package,
    ) -> Result<Vec<Finding>> {
        let (_, releases) = self.scope(ctx, pkg);
        let (name, version) = pkg.source_or_self();
        let searched = format!(
            "{} {name} {version}{}",
            scope_label(Ecosystem::Alpine, &releases),
            source_note(pkg)
        );
        let advisories = src.advisories_for(Ecosystem::Alpine, name)?;
        let accept = |_: &Advisory, aff: &Affected| -> bool {
            aff.package == name
                && match Ecosystem::parse_osv(&aff.ecosystem) {
                    Ok((Ecosystem::Alpine, None)) => true,
                    Ok((Ecosystem::Alpine, Some(r))) => releases.iter().any(|x| x == r),
                    _ => false,
                }
        };
        Ok(findings(
            advisories,
            accept,
            Ecosystem::Alpine,
            version,
            true,
            &searched,
            ctx,
        ))
    }
}

impl Matcher for RpmMatcher {
    fn name(&self) -> &'static str {
        "rpm-distro"
    }

    fn version(&self) -> u32 {
        1
    }

    fn handles(&self, eco: Ecosystem) -> bool {
        eco == Ecosystem::Rpm
    }

    /// The image's distribution and major release as its advisories' ecosystems begin.
    fn scope(&self, ctx: &MatchContext<'_>, _: &Package) -> (Ecosystem, Vec<String>) {
        (
            Ecosystem::Rpm,
            ctx.distro.map(rpm_releases).unwrap_or_default(),
        )
    }

    fn find(
        &self,
        src: &dyn AdvisorySource,
        ctx: &MatchContext<'_>,
        pkg: &Package,
    ) -> Result<Vec<Finding>> {
        let (_, releases) = self.scope(ctx, pkg);
        if releases.is_empty() {
            // Not examined: the coverage says so.
            return Ok(Vec::new());
        }
        let module = pkg.module.as_deref().and_then(module_stream);
        let module_note = match module {
            Some((name, stream)) => format!(" (module {name}:{stream})"),
            None => String::new(),
        };
        let mut names = vec![pkg.name.as_str()];
        if let Some(source) = pkg.source.as_ref().filter(|s| s.name != pkg.name) {
            names.push(&source.name);
        }
        let mut out: Vec<Finding> = Vec::new();
        for name in names {
            let searched = format!(
                "{} {name} {}{}{module_note}",
                scope_label(Ecosystem::Rpm, &releases),
                pkg.version,
                if name == pkg.name {
                    String::new()
                } else {
                    format!(" (source of {})", pkg.name)
                }
            );
            let advisories = src.advisories_for(Ecosystem::Rpm, name)?;
            let accept = |adv: &Advisory, aff: &Affected| -> bool {
                aff.package == name
                    && portcullis_core::release_covers(Some(&aff.ecosystem), &releases)
                    && same_build_kind(adv, aff, module)
            };
            for f in findings(
                advisories,
                accept,
                Ecosystem::Rpm,
                &pkg.version,
                false,
                &searched,
                ctx,
            ) {
                // A record naming both the binary and its source package is one finding.
                if !out.iter().any(|o| o.advisory.id == f.advisory.id) {
                    out.push(f);
                }
            }
        }
        Ok(out)
    }
}

impl Matcher for GoMatcher {
    fn name(&self) -> &'static str {
        "go-module"
    }

    fn version(&self) -> u32 {
        1
    }

    fn handles(&self, eco: Ecosystem) -> bool {
        eco == Ecosystem::Go
    }

    fn find(
        &self,
        src: &dyn AdvisorySource,
        ctx: &MatchContext<'_>,
        pkg: &Package,
    ) -> Result<Vec<Finding>> {
        let Some(version) = go_version(&pkg.name, &pkg.version) else {
            tracing::debug!(purl = %pkg.purl, "Go package without a usable version '{}'", pkg.version);
            return Ok(Vec::new());
        };
        let searched = format!("Go {} {version}", pkg.name);
        let advisories = src.advisories_for(Ecosystem::Go, &pkg.name)?;
        let accept = |_: &Advisory, aff: &Affected| {
            aff.package == pkg.name
                && matches!(Ecosystem::parse_osv(&aff.ecosystem), Ok((Ecosystem::Go, _)))
        };
        Ok(findings(
            advisories,
            accept,
            Ecosystem::Go,
            &version,
            false,
            &searched,
            ctx,
        ))
    }
}

impl Matcher for LanguageMatcher {
    fn name(&self) -> &'static str {
        "osv-ecosystem"
    }

    /// 2: Maven versions ordered as Maven 3.9 does (a qualifier after `.` as after `-`).
    fn version(&self) -> u32 {
        2
    }

    fn handles(&self, eco: Ecosystem) -> bool {
        matches!(
            eco,
            Ecosystem::PyPI
                | Ecosystem::Npm
                | Ecosystem::Cargo
                | Ecosystem::Maven
                | Ecosystem::RubyGems
                | Ecosystem::Packagist
                | Ecosystem::NuGet
        )
    }

    fn find(
        &self,
        src: &dyn AdvisorySource,
        ctx: &MatchContext<'_>,
        pkg: &Package,
    ) -> Result<Vec<Finding>> {
        let eco = pkg.ecosystem;
        let query = match eco {
            Ecosystem::PyPI => Ecosystem::PyPI.normalize_name(&pkg.name),
            _ => pkg.name.clone(),
        };
        let searched = format!("{} {} {}", eco.osv_name(), query, pkg.version);
        let advisories = src.advisories_for(eco, &query)?;
        // A `:<repository>` suffix (Maven, Packagist) names where the package is published,
        // which an installed package does not record: any suffix is accepted.
        let accept = |_: &Advisory, aff: &Affected| {
            same_name(eco, &aff.package, &pkg.name)
                && matches!(Ecosystem::parse_osv(&aff.ecosystem), Ok((e, _)) if e == eco)
        };
        Ok(findings(
            advisories,
            accept,
            eco,
            &pkg.version,
            false,
            &searched,
            ctx,
        ))
    }
}

/// Evaluates every accepted affected entry of every advisory and keeps those that hit.
fn findings(
    advisories: std::sync::Arc<[Advisory]>,
    accept: impl Fn(&Advisory, &Affected) -> bool,
    eco: Ecosystem,
    version: &str,
    tracked: bool,
    searched: &str,
    ctx: &MatchContext<'_>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for adv in advisories.iter() {
        if adv.withdrawn.is_some() {
            continue;
        }
        let mut hits: Vec<(Hit, TrackerState)> = Vec::new();
        for aff in adv.affected.iter().filter(|a| accept(adv, a)) {
            let hit = if tracked {
                range::evaluate_tracked(&adv.id, eco, aff, version)
            } else {
                range::evaluate(&adv.id, eco, aff, version)
            };
            if let Some(h) = hit {
                hits.push((h, aff.state));
            }
        }
        if hits.is_empty() {
            continue;
        }
        // If any matched entry says a fix exists, that is the actionable state.
        let state = if hits.iter().any(|(_, s)| *s == TrackerState::Fixed) {
            TrackerState::Fixed
        } else {
            hits[0].1
        };
        if state != TrackerState::Fixed && !ctx.options.include_unfixed_states {
            tracing::debug!(advisory = %adv.id, "dropped: tracker state {}", range::state_name(state));
            continue;
        }
        let mut ranges = Vec::new();
        let mut fixed: Vec<String> = Vec::new();
        for (h, _) in hits {
            ranges.push(h.text);
            for f in h.fixed {
                if !fixed.contains(&f) {
                    fixed.push(f);
                }
            }
        }
        out.push(Finding {
            advisory: adv.clone(),
            searched: searched.to_string(),
            ranges,
            fixed_versions: fixed,
            state,
        });
    }
    out
}

/// Which advisory feed a dpkg package belongs to: the image's distribution decides when it is
/// Debian or Ubuntu (a cataloguer may label every dpkg package `debian`).
fn dpkg_family(eco: Ecosystem, distro: Option<&Distro>) -> Ecosystem {
    match distro.map(|d| d.id.to_ascii_lowercase()) {
        Some(id) if id == "ubuntu" => Ecosystem::Ubuntu,
        Some(id) if id == "debian" => Ecosystem::Debian,
        _ => eco,
    }
}

/// Debian release numbers and code names (distro-info-data), so that `Debian:12` and
/// `Debian:bookworm` both scope to a bookworm image.
const DEBIAN_RELEASES: [(&str, &str); 9] = [
    ("7", "wheezy"),
    ("8", "jessie"),
    ("9", "stretch"),
    ("10", "buster"),
    ("11", "bullseye"),
    ("12", "bookworm"),
    ("13", "trixie"),
    ("14", "forky"),
    ("15", "duke"),
];

/// Every spelling of the image's Debian release that an advisory may use.
fn debian_releases(d: &Distro) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |s: &str| {
        if !s.is_empty() && !out.iter().any(|x| x == s) {
            out.push(s.to_string());
        }
    };
    if let Some(c) = d.codename.as_deref() {
        push(c);
        if let Some((n, _)) = DEBIAN_RELEASES.iter().find(|(_, name)| *name == c) {
            push(n);
        }
    }
    if let Some(v) = d.version_id.as_deref() {
        let major = v.split('.').next().unwrap_or(v);
        push(major);
        if let Some((_, name)) = DEBIAN_RELEASES.iter().find(|(n, _)| *n == major) {
            push(name);
        }
    }
    out
}

/// The image's Ubuntu release as advisories spell it (`22.04`, or the code name).
fn ubuntu_releases(d: &Distro) -> Vec<String> {
    d.version_id
        .iter()
        .chain(d.codename.iter())
        .filter(|s| !s.is_empty())
        .cloned()
        .collect()
}

/// The advisory namespaces of an rpm distribution's release, as OSV spells them:
/// `AlmaLinux:9`, `Rocky Linux:9`, `Red Hat:enterprise_linux:9` (CentOS too, as Red Hat
/// rebuilds), `SUSE:Linux Enterprise Server 15 SP5`, `openSUSE:Leap 15.5`,
/// `openSUSE:Tumbleweed`. Empty for a distribution without advisories of its own here
/// (Fedora, Amazon Linux, Oracle Linux): its packages are reported as not examined.
fn rpm_releases(d: &Distro) -> Vec<String> {
    let version = d.version_id.as_deref().unwrap_or("").trim();
    let major = version.split('.').next().unwrap_or("");
    let numeric = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    let id = d.id.to_ascii_lowercase();
    let release = match id.as_str() {
        "almalinux" if numeric(major) => format!("AlmaLinux:{major}"),
        "rocky" if numeric(major) => format!("Rocky Linux:{major}"),
        "rhel" | "centos" if numeric(major) => format!("Red Hat:enterprise_linux:{major}"),
        "sles" | "sled" if numeric(major) => match version.split_once('.') {
            Some((_, sp)) if numeric(sp) && sp != "0" => {
                format!("SUSE:Linux Enterprise Server {major} SP{sp}")
            }
            _ => format!("SUSE:Linux Enterprise Server {major}"),
        },
        "opensuse-leap" if !version.is_empty() => format!("openSUSE:Leap {version}"),
        "opensuse-tumbleweed" => "openSUSE:Tumbleweed".to_string(),
        _ => return Vec::new(),
    };
    vec![release]
}

/// `nodejs:20:8100020240214:a75119d5` → (`nodejs`, `20`).
fn module_stream(label: &str) -> Option<(&str, &str)> {
    let mut parts = label.split(':');
    let (name, stream) = (parts.next()?, parts.next()?);
    (!name.is_empty() && !stream.is_empty()).then_some((name, stream))
}

/// Whether an rpm version is a module build (`20.20.2-1.module_el8.10.0+4165+3f200bda`,
/// `1.module+el8.9.0+19500+a75119d5`).
fn is_module_build(version: &str) -> bool {
    version
        .rsplit_once('-')
        .is_some_and(|(_, release)| release.contains(".module_") || release.contains(".module+"))
}

/// Whether an affected entry fixes the same kind of build as the installed one: module
/// builds of its stream for a module package, other builds for a base package. The stream is
/// told by the advisory's summary where it names it (`nodejs:20 security update`); one that
/// names none of the module's streams is taken to be for any.
fn same_build_kind(adv: &Advisory, aff: &Affected, module: Option<(&str, &str)>) -> bool {
    let mut versions = aff
        .ranges
        .iter()
        .flat_map(|r| r.events.iter())
        .filter_map(|e| match e {
            Event::Fixed(v) | Event::LastAffected(v) => Some(v.as_str()),
            Event::Introduced(v) if v != "0" => Some(v.as_str()),
            _ => None,
        })
        .chain(aff.versions.iter().map(String::as_str))
        .peekable();
    if versions.peek().is_none() {
        // Every version affected: nothing tells the kind apart.
        return true;
    }
    let module_fix = versions.any(is_module_build);
    match module {
        None => !module_fix,
        Some((name, stream)) => {
            module_fix && {
                let named = adv
                    .summary
                    .as_deref()
                    .map(|t| streams_named(t, name))
                    .unwrap_or_default();
                named.is_empty() || named.contains(&stream)
            }
        }
    }
}

/// The streams of module `name` a text names (`nodejs:20` → `20`).
fn streams_named<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    let prefix = format!("{name}:");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(&prefix) {
        let before_ok = rest[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric() && c != '-' && c != '_');
        let after = &rest[at + prefix.len()..];
        let end = after
            .find(|c: char| !(c.is_alphanumeric() || matches!(c, '.' | '_' | '-')))
            .unwrap_or(after.len());
        if before_ok && end > 0 {
            out.push(&after[..end]);
        }
        rest = &after[end..];
    }
    out
}

/// `3.18.4` → `v3.18`; `None` when the version has no two numeric parts.
fn alpine_branch(version_id: &str) -> Option<String> {
    let mut parts = version_id.split('.');
    let (major, minor) = (parts.next()?, parts.next()?);
    let minor: String = minor.chars().take_while(char::is_ascii_digit).collect();
    if major.is_empty() || !major.chars().all(|c| c.is_ascii_digit()) || minor.is_empty() {
        return None;
    }
    Some(format!("v{major}.{minor}"))
}

/// `Debian:bookworm` (first release spelling), or the bare ecosystem when the release is unknown.
pub(crate) fn scope_label(eco: Ecosystem, releases: &[String]) -> String {
    if eco == Ecosystem::Rpm {
        // The release names the distribution already (`AlmaLinux:9`).
        return releases
            .first()
            .map_or_else(|| "rpm".to_string(), String::clone);
    }
    match releases.first() {
        Some(r) => format!("{}:{r}", eco.osv_name()),
        None => eco.osv_name().to_string(),
    }
}

/// ` (source of libssl3 3.0.9-1+b1)` when the source package differs from the binary one.
fn source_note(pkg: &Package) -> String {
    match &pkg.source {
        Some(s) if s.name != pkg.name || s.version != pkg.version => {
            if s.version == pkg.version {
                format!(" (source of {})", pkg.name)
            } else {
                format!(" (source of {} {})", pkg.name, pkg.version)
            }
        }
        _ => String::new(),
    }
}

/// The version a Go package is matched with: module versions without the `v` OSV omits; the
/// `stdlib`/`toolchain` version as the Go vulnerability database writes toolchains. `None`
/// for versions that say nothing (`(devel)`, empty).
pub(crate) fn go_version(name: &str, version: &str) -> Option<String> {
    let v = version.split_whitespace().next()?.trim();
    if v.is_empty() || v.starts_with('(') {
        return None;
    }
    if name != "stdlib" && name != "toolchain" {
        return Some(v.strip_prefix('v').unwrap_or(v).to_string());
    }
    let v = v
        .strip_prefix("go")
        .or_else(|| v.strip_prefix('v'))
        .unwrap_or(v);
    let split = v
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(v.len());
    let (num, pre) = v.split_at(split);
    let mut parts: Vec<&str> = num.split('.').filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        return None;
    }
    while parts.len() < 3 {
        parts.push("0");
    }
    let pre = if pre.is_empty() || pre.starts_with('-') || pre.starts_with('+') {
        pre.to_string()
    } else {
        // `rc1` → `-rc.1`, `beta2` → `-beta.2`
        let digits = pre.find(|c: char| c.is_ascii_digit()).unwrap_or(pre.len());
        let (word, n) = pre.split_at(digits);
        if n.is_empty() {
            format!("-{word}")
        } else {
            format!("-{word}.{n}")
        }
    };
    Some(format!("{}{pre}", parts.join(".")))
}

/// Whether two package names denote the same package in `eco` (as
/// [`Ecosystem::normalize_name`] says). Called for every affected entry of every advisory
/// looked up, so names equal as written, the common case, are compared without normalising.
pub(crate) fn same_name(eco: Ecosystem, a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match eco {
        Ecosystem::PyPI | Ecosystem::NuGet | Ecosystem::Packagist => {
            eco.normalize_name(a) == eco.normalize_name(b)
        }
        _ => a.trim() == b.trim(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_toolchain_versions() {
        assert_eq!(go_version("stdlib", "go1.21.3").as_deref(), Some("1.21.3"));
        assert_eq!(go_version("stdlib", "go1.20").as_deref(), Some("1.20.0"));
        assert_eq!(
            go_version("stdlib", "go1.22rc1").as_deref(),
            Some("1.22.0-rc.1")
        );
        assert_eq!(go_version("stdlib", "1.21.3").as_deref(), Some("1.21.3"));
        assert_eq!(
            go_version("golang.org/x/net", "v0.17.0").as_deref(),
            Some("0.17.0")
        );
        assert_eq!(go_version("example.com/m", "(devel)"), None);
    }

    #[test]
    fn alpine_branches() {
        assert_eq!(alpine_branch("3.18.4").as_deref(), Some("v3.18"));
        assert_eq!(
            alpine_branch("3.19_alpha20230901").as_deref(),
            Some("v3.19")
        );
        assert_eq!(alpine_branch("edge"), None);
    }

    #[test]
    fn debian_release_spellings() {
        let d = Distro {
            id: "debian".into(),
            version_id: Some("12".into()),
            codename: None,
            pretty_name: None,
        };
        assert_eq!(debian_releases(&d), vec!["12", "bookworm"]);
        let d = Distro {
            id: "debian".into(),
            version_id: None,
            codename: Some("bullseye".into()),
            pretty_name: None,
        };
        assert_eq!(debian_releases(&d), vec!["bullseye", "11"]);
    }
    #[test]
    fn rpm_release_namespaces() {
        let d = |id: &str, v: &str| Distro {
            id: id.into(),
            version_id: Some(v.into()),
            codename: None,
            pretty_name: None,
        };
        assert_eq!(rpm_releases(&d("almalinux", "9.4")), ["AlmaLinux:9"]);
        assert_eq!(rpm_releases(&d("rocky", "8.10")), ["Rocky Linux:8"]);
        assert_eq!(
            rpm_releases(&d("rhel", "9.3")),
            ["Red Hat:enterprise_linux:9"]
        );
        assert_eq!(
            rpm_releases(&d("sles", "15.5")),
            ["SUSE:Linux Enterprise Server 15 SP5"]
        );
        assert_eq!(
            rpm_releases(&d("sles", "15")),
            ["SUSE:Linux Enterprise Server 15"]
        );
        assert_eq!(
            rpm_releases(&d("opensuse-leap", "15.5")),
            ["openSUSE:Leap 15.5"]
        );
        assert!(rpm_releases(&d("amzn", "2023")).is_empty());
        assert!(rpm_releases(&d("almalinux", "")).is_empty());
        // The namespaces cover their own records only.
        let covers =
            |r: &str, d: &Distro| portcullis_core::release_covers(Some(r), &rpm_releases(d));
        assert!(covers(
            "Red Hat:enterprise_linux:9::appstream",
            &d("rhel", "9.3")
        ));
        assert!(!covers(
            "Red Hat:enterprise_linux:8::appstream",
            &d("rhel", "9.3")
        ));
        assert!(!covers("AlmaLinux:9", &d("rocky", "9.4")));
        assert!(!covers("AlmaLinux:90", &d("almalinux", "9.4")));
    }

    #[test]
    fn module_streams_named_in_a_summary() {
        assert_eq!(
            streams_named("Important: nodejs:20 security update", "nodejs"),
            ["20"]
        );
        assert_eq!(
            streams_named("nodejs:18 and nodejs:20.1 update", "nodejs"),
            ["18", "20.1"]
        );
        assert!(streams_named("Important: libnodejs:20 update", "nodejs").is_empty());
        assert!(streams_named("Important: nodejs security update", "nodejs").is_empty());
        assert!(is_module_build("1:20.20.2-1.module_el8.10.0+4165+3f200bda"));
        assert!(is_module_build("3.1-1.module+el8.9.0+19500+a75119d5"));
        assert!(!is_module_build("1:3.0.7-27.el9"));
    }
}
