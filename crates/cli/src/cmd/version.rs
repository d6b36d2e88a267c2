//! `portcullis version compare ECOSYSTEM`: the comparators as a filter, for checking them against other tools.

use std::cmp::Ordering;
use std::io::{BufRead, Write};
use std::process::ExitCode;

use anyhow::Context;
use portcullis_core::Ecosystem;

use crate::args::{VersionArgs, VersionCommand};

/// A comparator: an ecosystem's own rules, or plain SemVer 2.0 (which is not an ecosystem of its own).
#[derive(Clone, Copy)]
enum Comparator {
    Eco(Ecosystem),
    Semver,
}

impl Comparator {
    fn compare(self, a: &str, b: &str) -> Result<Ordering, portcullis_version::VersionError> {
        match self {
            Comparator::Eco(e) => portcullis_version::compare(e, a, b),
            Comparator::Semver => portcullis_version::compare_semver(a, b),
        }
    }
}

pub(crate) fn run(args: VersionArgs) -> anyhow::Result<ExitCode> {
    let VersionCommand::Compare { ecosystem } = args.command;
    let cmp = match ecosystem.to_ascii_lowercase().as_str() {
        "semver" => Comparator::Semver,
        other => Comparator::Eco(other.parse::<Ecosystem>().or_else(|e| {
            Ecosystem::parse_osv(&ecosystem)
                .map(|(eco, _)| eco)
                .map_err(|_| e)
        })?),
    };
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (n, line) in stdin.lock().lines().enumerate() {
        let line = line.with_context(|| format!("reading stdin line {}", n + 1))?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(a), Some(b), None) = (parts.next(), parts.next(), parts.next()) else {
            writeln!(
                out,
                "invalid: line {} must be two versions separated by space: {line:?}",
                n + 1
            )?;
            continue;
        };
        match cmp.compare(a, b) {
            Ok(Ordering::Less) => writeln!(out, "<")?,
            Ok(Ordering::Equal) => writeln!(out, "=")?,
            Ok(Ordering::Greater) => writeln!(out, ">")?,
            Err(e) => writeln!(out, "invalid: {e}")?,
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
