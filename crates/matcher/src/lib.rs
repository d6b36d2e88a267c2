//! Matching packages against advisories, with evidence; severity; exceptions.
//!
//! The pipeline stage between an [`Inventory`] and a [`ScanReport`]:
//!
//! 1. [`match_inventory`] asks one [`Matcher`] per package family (dpkg, apk, Go, the OSV
//!    language ecosystems) which advisories affect each package, evaluating OSV ranges exactly
//!    as the OSV schema's pseudo-code does, and records why in [`Match::matched_by`].
//! 2. [`severity`] turns the CVSS vectors of a record (or of its aliases, i.e. NVD) into a
//!    score and a qualitative [`Severity`].
//! 3. [`exceptions`] silences matches that a person decided to accept (YAML, Calico CSV,
//!    OpenVEX), keeping them in the report marked as ignored.
//! 4. [`report`] assembles the [`ScanReport`] and its summary.
//!
//! Advisories come through the [`AdvisorySource`] seam so that matching can be tested with an
//! in-memory source and does not depend on how the database stores records.

mod cmp;
mod dedupe;
pub mod exceptions;
mod matchers;
mod range;
pub mod severity;

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use portcullis_core::{
    Advisory, AdvisoryKind, AdvisorySource, DbInfo, Distro, Ecosystem, ImageInfo, Inventory, Match,
    MatchDetail, MatchedPackage, Package, ScanReport, SeverityScore, SourceError, Summary,
    Thresholds, TrackerState,
};

/// Said (in a report's warnings) of an image with OS packages and no known distribution.
pub const NO_DISTRIBUTION: &str =
    "image has OS packages but no known distribution: only advisories without a release apply";

pub use exceptions::{
    ExceptionError, IgnoreRule, VexProduct, VexStatement, VexStatus, apply_exceptions,
    apply_ignore_rules, exceptions_from_csv, exceptions_to_csv, ignore_rules, load_exceptions,
    parse_exceptions, vex_from_json,
};
pub use matchers::{
    ApkMatcher, DpkgMatcher, GoMatcher, LanguageMatcher, RpmMatcher, default_matchers,
    matcher_versions,
};
pub use severity::{SeverityError, assess_severity, score_vector};

/// Errors of matching.
#[derive(Debug, thiserror::Error)]
pub enum MatchError {
    /// The advisory source (normally the vulnerability database) failed to answer.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A matcher panicked. Caught so that one bug names its matcher and package instead of
    /// taking the whole scan down without saying where.
    #[error("matcher '{matcher}' panicked on package {package}: {message}")]
    MatcherPanicked {
        /// Name of the matcher.
        matcher: String,
        /// Package URL of the package it was matching.
        package: String,
        /// The panic message, when it was a string.
        message: String,
    },
}

/// Result type of this crate.
pub type Result<T, E = MatchError> = std::result::Result<T, E>;

/// Knobs of matching.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchOptions {
    /// Keep matches whose distro tracker state is not `fixed` (unfixed, no-DSA, unimportant,
    /// end-of-life, postponed). Default `true`: the policy decides what they mean; `false`
    /// drops them, for people who only want actionable findings.
    pub include_unfixed_states: bool,
}

impl Default for MatchOptions {
    fn default() -> Self {
        MatchOptions {
            include_unfixed_states: true,
        }
    }
}

/// What a matcher knows besides the package: the image's OS and the options.
#[derive(Clone, Copy, Debug)]
pub struct MatchContext<'a> {
    /// The image's distribution, which OS advisories are scoped by.
    pub distro: Option<&'a Distro>,
    /// Options of this run.
    pub options: &'a MatchOptions,
}

/// One advisory that affects one package, as a matcher found it (before severity,
/// dedupe and exceptions).
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    /// The advisory.
    pub advisory: Advisory,
    /// What was searched for, e.g. `Debian:bookworm openssl 3.0.9-1 (source of libssl3)`.
    pub searched: String,
    /// Readable text of every affected entry and range that matched.
    pub ranges: Vec<String>,
    /// Versions that fix it, from the `fixed` events of the matched ranges.
    pub fixed_versions: Vec<String>,
    /// Distro tracker state of the matched entry (`fixed` for non-distro feeds).
    pub state: TrackerState,
}

/// A matcher for one package family. Each decides which advisories apply to a package of its
/// ecosystems, and how (source package indirection, release scoping, name normalisation).
pub trait Matcher: Send + Sync {
    /// Stable name, recorded as evidence in [`MatchDetail::matcher`].
    fn name(&self) -> &'static str;
    /// Bumped whenever the matcher's logic changes, so cached results can be invalidated.
    fn version(&self) -> u32;
    /// Whether this matcher is responsible for packages of `eco`.
    fn handles(&self, eco: Ecosystem) -> bool;
    /// Where advisories for `pkg` are looked up: the ecosystem and the releases of the image
    /// that scope it (none for language ecosystems). What a report's coverage is counted by.
    fn scope(&self, ctx: &MatchContext<'_>, pkg: &Package) -> (Ecosystem, Vec<String>) {
        let _ = ctx;
        (pkg.ecosystem, Vec::new())
    }
    /// The advisories that affect `pkg`.
    fn find(
        &self,
        src: &dyn AdvisorySource,
        ctx: &MatchContext<'_>,
        pkg: &Package,
    ) -> Result<Vec<Finding>>;
}

/// Matches every package of an inventory with the [`default_matchers`], scores severities,
/// and merges duplicates (one match per advisory, package and location; aliases merged).
pub fn match_inventory(
    src: &dyn AdvisorySource,
    inv: &Inventory,
    opts: &MatchOptions,
) -> Result<Vec<Match>> {
    match_inventory_with(&default_matchers(), src, inv, opts)
}

/// [`match_inventory`] with an explicit list of matchers.
pub fn match_inventory_with(
    matchers: &[Box<dyn Matcher>],
    src: &dyn AdvisorySource,
    inv: &Inventory,
    opts: &MatchOptions,
) -> Result<Vec<Match>> {
    match_with(matchers, src, inv, opts, None)
}

/// Matches (severity scored) remembered across inventories matched against one advisory source, keyed by
/// matcher, package (without its locations), distribution and options. A rematch of many
/// stored package lists after a DB update evaluates each distinct package once: images of
/// one cluster share most of their packages (base images, common libraries). Only valid
/// for one source: make a new memo for a new database.
#[derive(Default)]
pub struct MatchMemo {
    map: parking_lot::Mutex<HashMap<MemoKey, Arc<[Match]>>>,
}

type MemoKey = (&'static str, Package, String, bool);

impl MatchMemo {
    fn get(&self, key: &MemoKey) -> Option<Arc<[Match]>> {
        self.map.lock().get(key).cloned()
    }

    fn put(&self, key: MemoKey, matches: Arc<[Match]>) {
        self.map.lock().insert(key, matches);
    }
}

/// [`match_inventory`] sharing a [`MatchMemo`] with other inventories matched against the
/// same source.
pub fn match_inventory_memo(
    src: &dyn AdvisorySource,
    inv: &Inventory,
    opts: &MatchOptions,
    memo: &MatchMemo,
) -> Result<Vec<Match>> {
    match_with(&default_matchers(), src, inv, opts, Some(memo))
}

fn match_with(
    matchers: &[Box<dyn Matcher>],
    src: &dyn AdvisorySource,
    inv: &Inventory,
    opts: &MatchOptions,
    memo: Option<&MatchMemo>,
) -> Result<Vec<Match>> {
    let distro_key = inv
        .image
        .os
        .as_ref()
        .map(|d| serde_json::to_string(d).unwrap_or_default())
        .unwrap_or_default();
    let ctx = MatchContext {
        distro: inv.image.os.as_ref(),
        options: opts,
    };
    if ctx.distro.is_none() && inv.packages.iter().any(|p| p.ecosystem.is_os()) {
        tracing::debug!(image = %inv.image.reference, "{NO_DISTRIBUTION}");
    }
    let mut severities = severity::SeverityCache::new(src);
    let mut out = Vec::new();
    for pkg in &inv.packages {
        let mut handled = false;
        for m in matchers.iter().filter(|m| m.handles(pkg.ecosystem)) {
            handled = true;
            let key = memo.map(|_| {
                let mut bare = pkg.clone();
                bare.locations.clear();
                (
                    m.name(),
                    bare,
                    distro_key.clone(),
                    opts.include_unfixed_states,
                )
            });
            if let (Some(memo), Some(key)) = (memo, &key)
                && let Some(hit) = memo.get(key)
            {
                // Remembered matches differ from this package's only by where it was found.
                let (location, layer) = first_location(pkg);
                out.extend(hit.iter().map(|m| {
                    let mut m = m.clone();
                    m.matched_by.location.clone_from(&location);
                    m.matched_by.layer.clone_from(&layer);
                    m
                }));
                continue;
            }
            let findings = catch_unwind(AssertUnwindSafe(|| m.find(src, &ctx, pkg))).map_err(
                |payload| {
                    let message = payload
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    MatchError::MatcherPanicked {
                        matcher: m.name().to_string(),
                        package: pkg.purl.clone(),
                        message,
                    }
                },
            )??;
            let matches = findings
                .into_iter()
                .map(|f| to_match(m.name(), pkg, f, &mut severities))
                .collect::<Result<Vec<_>>>()?;
            if let (Some(memo), Some(key)) = (memo, key) {
                memo.put(key, matches.clone().into());
            }
            out.extend(matches);
        }
        if !handled {
            tracing::debug!(purl = %pkg.purl, "no matcher handles ecosystem {}", pkg.ecosystem);
        }
    }
    let mut merged = dedupe::dedupe(out);
    merged.sort_by(|a, b| {
        (&a.package.purl, &a.matched_by.location, &a.id).cmp(&(
            &b.package.purl,
            &b.matched_by.location,
            &b.id,
        ))
    });
    Ok(merged)
}

/// Where a package's matches say it was found: its first location.
/// Where a package was found first: its path, and the layer that wrote it.
fn first_location(pkg: &Package) -> (String, Option<portcullis_core::Digest>) {
    pkg.locations
        .first()
        .map(|l| (l.path.clone(), l.layer.clone()))
        .unwrap_or_default()
}

/// Turns a finding into a match with severity and evidence.
fn to_match(
    matcher: &str,
    pkg: &Package,
    f: Finding,
    severities: &mut severity::SeverityCache<'_>,
) -> Result<Match> {
    let (severity, cvss) = severities.assess(&f.advisory)?;
    let informational = match &f.advisory.kind {
        AdvisoryKind::Informational(kind) => Some(kind.clone()),
        AdvisoryKind::Vulnerability => None,
    };
    let (location, layer) = first_location(pkg);
    Ok(Match {
        id: f.advisory.id.clone(),
        aliases: f.advisory.aliases.clone(),
        package: MatchedPackage::from(pkg),
        fixed_versions: f.fixed_versions,
        severity,
        cvss: cvss.map(Box::new),
        state: f.state,
        matched_by: MatchDetail {
            matcher: matcher.to_string(),
            searched: f.searched,
            range: f.ranges.join("; "),
            source: f.advisory.source.clone(),
            location,
            layer,
        },
        ignored: None,
        summary: f.advisory.summary.clone(),
        informational,
    })
}

/// Assembles the scan report: the summary is computed from `matches` (after exceptions) under
/// `thresholds`.
pub fn report(
    target: &str,
    image: ImageInfo,
    packages: Vec<Package>,
    matches: Vec<Match>,
    db: DbInfo,
    thresholds: &Thresholds,
) -> ScanReport {
    let summary = Summary::compute(&matches, thresholds);
    ScanReport {
        target: target.to_string(),
        image,
        packages,
        vulnerabilities: matches,
        summary,
        db,
        scanned_at: None,
        warnings: Vec::new(),
        coverage: Vec::new(),
    }
}

/// What the packages of `inv` could be checked against in `src`: per advisory namespace the
/// default matchers look them up in (`Debian:bookworm`, `PyPI` ...), how many packages, and
/// the sources that hold advisories there. A namespace no source covers, or an ecosystem no
/// matcher handles, has none: its packages were not examined.
pub fn coverage(
    src: &dyn AdvisorySource,
    inv: &Inventory,
    opts: &MatchOptions,
) -> Result<Vec<portcullis_core::Coverage>> {
    let matchers = default_matchers();
    let ctx = MatchContext {
        distro: inv.image.os.as_ref(),
        options: opts,
    };
    let mut groups: std::collections::BTreeMap<String, (Ecosystem, Vec<String>, bool, usize)> =
        std::collections::BTreeMap::new();
    for pkg in &inv.packages {
        let matcher = matchers.iter().find(|m| m.handles(pkg.ecosystem));
        let (eco, releases) = match matcher {
            Some(m) => m.scope(&ctx, pkg),
            None => (pkg.ecosystem, Vec::new()),
        };
        let label = matchers::scope_label(eco, &releases);
        groups
            .entry(label)
            .or_insert((eco, releases, matcher.is_some(), 0))
            .3 += 1;
    }
    groups
        .into_iter()
        .map(|(label, (eco, releases, handled, packages))| {
            let sources = if handled {
                src.covering(eco, &releases)?
            } else {
                Vec::new()
            };
            Ok(portcullis_core::Coverage {
                ecosystem: label,
                packages,
                sources,
            })
        })
        .collect()
}

/// An [`AdvisorySource`] over advisories held in memory, for tests and for callers that load
/// a handful of records themselves (e.g. from an SBOM attachment).
#[derive(Clone, Debug, Default)]
pub struct MemorySource {
    advisories: Vec<Advisory>,
    alias_scores: HashMap<String, Vec<SeverityScore>>,
}

impl MemorySource {
    /// A source over these advisories (withdrawn ones are never returned).
    pub fn new(advisories: Vec<Advisory>) -> Self {
        MemorySource {
            advisories,
            alias_scores: HashMap::new(),
        }
    }

    /// Adds the severity scores known for an alias id (what NVD says of a CVE).
    pub fn with_alias_severity(mut self, id: &str, scores: Vec<SeverityScore>) -> Self {
        self.alias_scores.insert(id.to_string(), scores);
        self
    }
}

impl AdvisorySource for MemorySource {
    fn covering(
        &self,
        eco: Ecosystem,
        releases: &[String],
    ) -> Result<Vec<portcullis_core::Covering>, SourceError> {
        let mut names: Vec<&str> = self
            .advisories
            .iter()
            .filter(|a| {
                a.affected
                    .iter()
                    .any(|aff| match Ecosystem::parse_osv(&aff.ecosystem) {
                        Ok((e, release)) if e == eco => {
                            portcullis_core::release_covers(release, releases)
                        }
                        _ => false,
                    })
            })
            .map(|a| a.source.as_str())
            .collect();
        names.sort_unstable();
        names.dedup();
        Ok(names
            .into_iter()
            .map(|n| portcullis_core::Covering {
                source: n.to_string(),
                imported: None,
            })
            .collect())
    }

    fn advisories_for(
        &self,
        eco: Ecosystem,
        package: &str,
    ) -> Result<Arc<[Advisory]>, SourceError> {
        Ok(self
            .advisories
            .iter()
            .filter(|a| a.withdrawn.is_none())
            .filter(|a| {
                a.affected.iter().any(|aff| {
                    matches!(Ecosystem::parse_osv(&aff.ecosystem), Ok((e, _)) if e == eco)
                        && matchers::same_name(eco, &aff.package, package)
                })
            })
            .cloned()
            .collect())
    }

    fn alias_severity(&self, id: &str) -> Result<Arc<[SeverityScore]>, SourceError> {
        Ok(self
            .alias_scores
            .get(id)
            .cloned()
            .unwrap_or_default()
            .into())
    }
}
