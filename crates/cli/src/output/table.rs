//! The human table, laid out as Trivy's users read it: the verdict and the totals by severity
//! first, then one table per target (the OS packages; each language's installed packages;
//! each lockfile or binary), a row per vulnerability with the CVE first, its status, the fix
//! and a title. Ids, versions and severities never wrap; the title takes what width is left.
//! Severities are coloured on a terminal unless `NO_COLOR` is set.

use std::collections::BTreeMap;

use comfy_table::{
    Attribute, Cell, Color, ColumnConstraint, ContentArrangement, Table, Width,
    presets::UTF8_FULL_CONDENSED,
};
use portcullis_core::{Ecosystem, Match, ScanReport, Severity, TrackerState};

/// How the table is laid out.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout {
    /// Total width; `None`: as wide as the content.
    pub(crate) width: Option<u16>,
    /// Severities in colour.
    pub(crate) colour: bool,
}

impl Layout {
    /// For a file: no colour, `COLUMNS` wide when set.
    pub(crate) fn plain() -> Layout {
        Layout {
            width: std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()),
            colour: false,
        }
    }

    /// The terminal's width and colours when stdout is a terminal; else `COLUMNS` (when set)
    /// and no colour. `NO_COLOR` turns colour off everywhere.
    pub(crate) fn for_stdout() -> Layout {
        use std::io::IsTerminal as _;
        let tty = std::io::stdout().is_terminal();
        let columns = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok());
        let width = if tty {
            comfy_table::Table::new().width().or(columns)
        } else {
            columns
        };
        Layout {
            width,
            colour: tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }
}

/// The id people look for first: the CVE when the match has one, then its other ids.
fn ids(m: &Match) -> (String, Vec<String>) {
    let all = std::iter::once(&m.id).chain(&m.aliases);
    match all.clone().find(|i| i.starts_with("CVE-")) {
        Some(cve) => (
            cve.clone(),
            all.filter(|i| *i != cve).take(2).cloned().collect(),
        ),
        None => (m.id.clone(), m.aliases.iter().take(2).cloned().collect()),
    }
}

/// What can be done about it.
fn status(m: &Match) -> &'static str {
    if m.ignored.is_some() {
        return "ignored";
    }
    if m.informational.is_some() {
        return "informational";
    }
    match m.state {
        TrackerState::Fixed if !m.fixed_versions.is_empty() => "fixed",
        TrackerState::Fixed | TrackerState::Unfixed | TrackerState::Postponed => "affected",
        TrackerState::NoDsa | TrackerState::Unimportant => "will not fix",
        TrackerState::EndOfLife => "end of life",
    }
}

/// `SEVERITY` and the CVSS score when there is one, coloured when asked.
fn severity_cell(m: &Match, colour: bool) -> Cell {
    let score = m
        .cvss
        .as_ref()
        .map(|c| format!(" {:.1}", c.score))
        .unwrap_or_default();
    let cell = Cell::new(format!(
        "{}{score}",
        m.severity.as_str().to_ascii_uppercase()
    ));
    if !colour {
        return cell;
    }
    match m.severity {
        Severity::Critical => cell.fg(Color::Red).add_attribute(Attribute::Bold),
        Severity::High => cell.fg(Color::Red),
        Severity::Medium => cell.fg(Color::Yellow),
        Severity::Low => cell.fg(Color::Blue),
        _ => cell,
    }
}

/// The target a match belongs to: the OS packages as one; installed language packages by
/// language; a lockfile or a binary by its path.
fn target(m: &Match) -> (u8, String) {
    let eco = m.package.ecosystem;
    let loc = m.matched_by.location.as_str();
    match eco {
        Ecosystem::Debian | Ecosystem::Ubuntu | Ecosystem::Alpine | Ecosystem::Rpm => {
            (0, "OS packages".into())
        }
        _ => {
            let installed = [
                "site-packages/",
                "dist-packages/",
                "node_modules/",
                "/gems/",
                ".dist-info/",
                ".egg-info",
            ]
            .iter()
            .any(|p| loc.contains(p));
            let language = language(eco);
            if installed || loc.is_empty() {
                (1, format!("{language} packages"))
            } else {
                (2, format!("{language} ({loc})"))
            }
        }
    }
}

fn language(eco: Ecosystem) -> &'static str {
    match eco {
        Ecosystem::PyPI => "Python",
        Ecosystem::Npm => "Node.js",
        Ecosystem::Go => "Go",
        Ecosystem::Cargo => "Rust",
        Ecosystem::Maven => "Java",
        Ecosystem::RubyGems => "Ruby",
        Ecosystem::Packagist => "PHP",
        Ecosystem::NuGet => ".NET",
        _ => "OS",
    }
}

/// A title that reads in a table: the first sentence, at most 80 characters.
fn short_title(summary: &str) -> String {
    let first = summary.lines().next().unwrap_or_default();
    let sentence = first
        .split(". ")
        .next()
        .unwrap_or(first)
        .trim_end_matches('.');
    if sentence.chars().count() <= 80 {
        return sentence.to_string();
    }
    let cut: String = sentence.chars().take(79).collect();
    format!("{}…", cut.trim_end())
}

fn totals(list: &[&Match]) -> String {
    let mut by: BTreeMap<Severity, usize> = BTreeMap::new();
    for m in list
        .iter()
        .filter(|m| m.ignored.is_none() && m.informational.is_none())
    {
        *by.entry(m.severity).or_default() += 1;
    }
    let n: usize = by.values().sum();
    let parts: Vec<String> = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Unknown,
    ]
    .iter()
    .map(|s| {
        format!(
            "{}: {}",
            s.as_str().to_ascii_uppercase(),
            by.get(s).copied().unwrap_or(0)
        )
    })
    .collect();
    format!("Total: {n} ({})", parts.join(", "))
}

fn table(list: &[&Match], layout: Layout) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    if !layout.colour {
        t.force_no_tty();
    } else {
        t.enforce_styling();
    }
    match layout.width {
        Some(w) => {
            t.set_content_arrangement(ContentArrangement::Dynamic)
                .set_width(w);
        }
        None => {
            t.set_content_arrangement(ContentArrangement::Disabled);
        }
    }
    t.set_header([
        "Library",
        "Vulnerability",
        "Severity",
        "Status",
        "Installed",
        "Fixed Version",
        "Title",
    ]);
    for m in list {
        let (first, others) = ids(m);
        let id = if others.is_empty() {
            first
        } else {
            format!("{first}\n{}", others.join("\n"))
        };
        let title = match (&m.ignored, &m.informational) {
            (Some(i), _) => format!(
                "ignored by {}{}",
                i.exception,
                i.justification
                    .as_deref()
                    .map(|j| format!(": {j}"))
                    .unwrap_or_default()
            ),
            (None, Some(kind)) => format!("informational ({kind})"),
            _ => short_title(m.summary.as_deref().unwrap_or_default()),
        };
        t.add_row(vec![
            Cell::new(&m.package.name),
            Cell::new(id),
            severity_cell(m, layout.colour),
            Cell::new(status(m)),
            Cell::new(&m.package.version),
            Cell::new(m.fixed_versions.join("\n")),
            Cell::new(title),
        ]);
    }
    // Nothing but the title wraps: an id or a version cut in two cannot be searched for.
    for i in 0..6 {
        if let Some(c) = t.column_mut(i) {
            c.set_constraint(ColumnConstraint::ContentWidth);
        }
    }
    if let Some(c) = t.column_mut(6) {
        c.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(10)));
    }
    t
}

pub(crate) fn render(r: &ScanReport, layout: Layout) -> String {
    let s = &r.summary;
    let all: Vec<&Match> = super::ordered(&r.vulnerabilities);
    let mut out = r.target.clone();
    if let Some(d) = &r.image.digest {
        out.push_str(&format!(" ({d})"));
    }
    out.push('\n');
    out.push_str(&format!(
        "Result: {}  max CVSS {}  {}  ignored: {}  informational: {}{}\n",
        s.status,
        s.max_cvss
            .map(|x| format!("{x:.1}"))
            .unwrap_or_else(|| "-".into()),
        totals(&all),
        s.ignored,
        s.informational,
        if s.not_examined > 0 {
            format!("  {} not examined (no source covers them)", s.not_examined)
        } else {
            String::new()
        }
    ));
    let mut groups: BTreeMap<(u8, String), Vec<&Match>> = BTreeMap::new();
    for m in &all {
        groups.entry(target(m)).or_default().push(m);
    }
    if groups.is_empty() {
        out.push_str("\nno vulnerabilities found\n");
    }
    for ((_, name), list) in &groups {
        out.push_str(&format!("\n{name}\n{}\n", totals(list)));
        out.push_str(&table(list, layout).to_string());
        out.push('\n');
    }
    let mut coverage = String::new();
    for c in &r.coverage {
        let sources = super::covered_by(c);
        coverage.push_str(&format!(
            "  {:<24} {:>5} packages  {sources}\n",
            c.ecosystem, c.packages
        ));
    }
    if !coverage.is_empty() {
        out.push_str(&format!(
            "\n{} packages; coverage:\n{coverage}",
            r.packages.len()
        ));
    }
    out
}
