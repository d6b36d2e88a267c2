//! node-semver ranges: parsing (`^1.2.3`, `~1.2`, `1.x || >=2.5.0 <3`, `1.2.3 - 2.3.4`, `*`)
//! and `satisfies`, with the same rewriting steps and the same pre-release rule as node-semver.
//!
//! A range is a union (`||`) of comparator sets (space-separated, all must hold). Hyphen ranges,
//! tildes, carets, X-ranges and stars are first rewritten into plain comparators exactly as
//! node-semver rewrites them (so [`Range`]'s `Display` is node-semver's `range` string). A
//! version with a pre-release only satisfies a comparator set when some comparator of the set
//! names a pre-release of the same `major.minor.patch`, unless `include_prerelease` is set.

use std::fmt;

use regex::{Captures, Regex};

use crate::npm::{self, patterns};
use crate::{Result, VersionError};

/// node-semver's options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Accept loose versions and comparators (`1.2.3beta`, `=v1.2`, leading zeros).
    pub loose: bool,
    /// Let pre-releases satisfy ranges that do not name one (and make `-0` the lower bounds).
    pub include_prerelease: bool,
}

/// The operator of a comparator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `=` or nothing.
    Eq,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// One comparator: an operator and a version, or "any version".
#[derive(Clone, Debug)]
pub struct Comparator {
    op: Op,
    /// `None` matches every version.
    version: Option<npm::Version>,
}

impl Comparator {
    /// The operator.
    pub fn op(&self) -> Op {
        self.op
    }

    /// The version, `None` for "any".
    pub fn version(&self) -> Option<&npm::Version> {
        self.version.as_ref()
    }

    fn value(&self) -> String {
        match &self.version {
            None => String::new(),
            Some(v) => format!("{}{v}", self.op.as_str()),
        }
    }

    fn is_null_set(&self) -> bool {
        self.value() == "<0.0.0-0"
    }

    fn parse(comp: &str, opts: Options, range: &str) -> Result<Self> {
        let comp = comp.split_whitespace().collect::<Vec<_>>().join(" ");
        let re = &patterns().comparator[usize::from(opts.loose)];
        let caps = re
            .captures(&comp)
            .ok_or_else(|| range_err(range, format!("invalid comparator {comp:?}")))?;
        let op = match caps.get(1).map_or("", |m| m.as_str()) {
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            _ => Op::Eq,
        };
        let version = match caps.get(2).map(|m| m.as_str()).filter(|s| !s.is_empty()) {
            None => None,
            Some(v) => Some(
                npm::Version::parse_opt(v, opts.loose)
                    .map_err(|e| range_err(range, format!("comparator {comp:?}: {e}")))?,
            ),
        };
        Ok(Comparator { op, version })
    }

    /// True when `v` satisfies this comparator (pre-release rule aside).
    pub fn test(&self, v: &npm::Version) -> bool {
        let Some(c) = &self.version else { return true };
        let ord = v.cmp(c);
        match self.op {
            Op::Eq => ord.is_eq(),
            Op::Lt => ord.is_lt(),
            Op::Le => ord.is_le(),
            Op::Gt => ord.is_gt(),
            Op::Ge => ord.is_ge(),
        }
    }
}

impl fmt::Display for Comparator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value())
    }
}

/// A parsed node-semver range.
#[derive(Clone, Debug)]
pub struct Range {
    set: Vec<Vec<Comparator>>,
    options: Options,
}

fn range_err(range: &str, reason: impl Into<String>) -> VersionError {
    VersionError::InvalidRange {
        input: range.to_string(),
        reason: reason.into(),
    }
}

/// Parses a range with default options.
pub fn parse(range: &str) -> Result<Range> {
    Range::parse(range, Options::default())
}

/// node-semver's `satisfies(version, range)` with default options.
pub fn satisfies(range: &str, version: &str) -> Result<bool> {
    satisfies_with(range, version, Options::default())
}

/// node-semver's `satisfies(version, range, options)`.
pub fn satisfies_with(range: &str, version: &str, options: Options) -> Result<bool> {
    let range = Range::parse(range, options)?;
    let version = npm::Version::parse_opt(version, options.loose)?;
    Ok(range.test(&version))
}

fn is_x(id: Option<&str>) -> bool {
    match id {
        None | Some("") | Some("*") => true,
        Some(s) => s.eq_ignore_ascii_case("x"),
    }
}

/// JavaScript's `+s + 1` on a captured number; beyond `u64` the result is made too large for a
/// version on purpose, since node-semver rejects it there too.
fn inc(s: &str) -> String {
    match s.parse::<u64>() {
        Ok(n) => (u128::from(n) + 1).to_string(),
        Err(_) => format!("{s}0"),
    }
}

fn group<'a>(caps: &'a Captures<'_>, i: usize) -> Option<&'a str> {
    caps.get(i).map(|m| m.as_str())
}

/// Replaces the first match of an anchored pattern through `f`, like `String.replace`.
fn replace_with(
    re: &Regex,
    s: &str,
    f: impl Fn(&Captures<'_>) -> Result<String, String>,
) -> Result<String, String> {
    match re.captures(s) {
        Some(caps) => {
            let m = caps.get(0).map_or(0..0, |m| m.range());
            Ok(format!("{}{}{}", &s[..m.start], f(&caps)?, &s[m.end..]))
        }
        None => Ok(s.to_string()),
    }
}

/// node-semver refuses a number after a wildcard (`1.x.5`, `x.1`).
fn check_x_order(c: &Captures<'_>, first: usize) -> Result<(), String> {
    let parts = [group(c, first), group(c, first + 1), group(c, first + 2)];
    let mut seen_x = false;
    for part in parts {
        if is_x(part) {
            seen_x = true;
        } else if seen_x {
            return Err(format!(
                "{:?}: a number follows a wildcard",
                group(c, 0).unwrap_or("")
            ));
        }
    }
    Ok(())
}

fn replace_caret(comp: &str, opts: Options) -> Result<String, String> {
    let z = if opts.include_prerelease { "-0" } else { "" };
    replace_with(&patterns().caret[usize::from(opts.loose)], comp, |c| {
        check_x_order(c, 1)?;
        let (mj, mn, pt, pr) = (group(c, 1), group(c, 2), group(c, 3), group(c, 4));
        let (big, m, p) = (mj.unwrap_or(""), mn.unwrap_or(""), pt.unwrap_or(""));
        Ok(if is_x(mj) {
            String::new()
        } else if is_x(mn) {
            format!(">={big}.0.0{z} <{}.0.0-0", inc(big))
        } else if is_x(pt) {
            if big == "0" {
                format!(">={big}.{m}.0{z} <{big}.{}.0-0", inc(m))
            } else {
                format!(">={big}.{m}.0{z} <{}.0.0-0", inc(big))
            }
        } else if let Some(pr) = pr.filter(|s| !s.is_empty()) {
            if big == "0" {
                if m == "0" {
                    format!(">={big}.{m}.{p}-{pr} <{big}.{m}.{}-0", inc(p))
                } else {
                    format!(">={big}.{m}.{p}-{pr} <{big}.{}.0-0", inc(m))
                }
            } else {
                format!(">={big}.{m}.{p}-{pr} <{}.0.0-0", inc(big))
            }
        } else if big == "0" {
            // A full version is its own lower bound, with or without `include_prerelease`.
            if m == "0" {
                format!(">={big}.{m}.{p} <{big}.{m}.{}-0", inc(p))
            } else {
                format!(">={big}.{m}.{p} <{big}.{}.0-0", inc(m))
            }
        } else {
            format!(">={big}.{m}.{p} <{}.0.0-0", inc(big))
        })
    })
}

fn replace_tilde(comp: &str, opts: Options) -> Result<String, String> {
    let z = if opts.include_prerelease { "-0" } else { "" };
    replace_with(&patterns().tilde[usize::from(opts.loose)], comp, |c| {
        check_x_order(c, 1)?;
        let (mj, mn, pt, pr) = (group(c, 1), group(c, 2), group(c, 3), group(c, 4));
        let (big, m, p) = (mj.unwrap_or(""), mn.unwrap_or(""), pt.unwrap_or(""));
        Ok(if is_x(mj) {
            String::new()
        } else if is_x(mn) {
            format!(">={big}.0.0{z} <{}.0.0-0", inc(big))
        } else if is_x(pt) {
            format!(">={big}.{m}.0{z} <{big}.{}.0-0", inc(m))
        } else if let Some(pr) = pr.filter(|s| !s.is_empty()) {
            format!(">={big}.{m}.{p}-{pr} <{big}.{}.0-0", inc(m))
        } else {
            format!(">={big}.{m}.{p} <{big}.{}.0-0", inc(m))
        })
    })
}

fn replace_xrange(comp: &str, opts: Options) -> Result<String, String> {
    let comp = comp.trim();
    replace_with(&patterns().xrange[usize::from(opts.loose)], comp, |c| {
        check_x_order(c, 2)?;
        let whole = group(c, 0).unwrap_or("");
        let mut gtlt = group(c, 1).unwrap_or("").to_string();
        let (mj, mn, pt) = (group(c, 2), group(c, 3), group(c, 4));
        let x_major = is_x(mj);
        let x_minor = x_major || is_x(mn);
        let x_patch = x_minor || is_x(pt);
        if gtlt == "=" && x_patch {
            gtlt.clear();
        }
        let mut pr = if opts.include_prerelease { "-0" } else { "" };
        let mut big = mj.unwrap_or("").to_string();
        let mut m = mn.unwrap_or("").to_string();
        let mut p;
        Ok(if x_major {
            if gtlt == ">" || gtlt == "<" {
                "<0.0.0-0".to_string()
            } else {
                "*".to_string()
            }
        } else if !gtlt.is_empty() && x_patch {
            if x_minor {
                m = "0".to_string();
            }
            p = "0".to_string();
            if gtlt == ">" {
                gtlt = ">=".to_string();
                if x_minor {
                    big = inc(&big);
                    m = "0".to_string();
                } else {
                    m = inc(&m);
                }
                p = "0".to_string();
            } else if gtlt == "<=" {
                gtlt = "<".to_string();
                if x_minor {
                    big = inc(&big);
                } else {
                    m = inc(&m);
                }
            }
            if gtlt == "<" {
                pr = "-0";
            }
            format!("{gtlt}{big}.{m}.{p}{pr}")
        } else if x_minor {
            format!(">={big}.0.0{pr} <{}.0.0-0", inc(&big))
        } else if x_patch {
            format!(">={big}.{m}.0{pr} <{big}.{}.0-0", inc(&m))
        } else {
            whole.to_string()
        })
    })
}

fn parse_comparator(comp: &str, opts: Options) -> Result<String, String> {
    let p = patterns();
    let comp = p.build.replace(comp, "");
    let comp: Vec<String> = comp
        .split_whitespace()
        .map(|c| replace_caret(c, opts))
        .collect::<Result<_, _>>()?;
    let comp: Vec<String> = comp
        .join(" ")
        .split_whitespace()
        .map(|c| replace_tilde(c, opts))
        .collect::<Result<_, _>>()?;
    let comp: Vec<String> = comp
        .join(" ")
        .split_whitespace()
        .map(|c| replace_xrange(c, opts))
        .collect::<Result<_, _>>()?;
    let comp = comp.join(" ");
    Ok(p.star.replace(comp.trim(), "").into_owned())
}

fn hyphen_replace(c: &Captures<'_>, opts: Options) -> Result<String, String> {
    check_x_order(c, 2)?;
    check_x_order(c, 8)?;
    let pre0 = if opts.include_prerelease { "-0" } else { "" };
    let from_all = group(c, 1).unwrap_or("");
    let (fm, fn_, fp, fpr) = (group(c, 2), group(c, 3), group(c, 4), group(c, 5));
    let to_all = group(c, 7).unwrap_or("");
    let (tm, tn, tp, tpr) = (group(c, 8), group(c, 9), group(c, 10), group(c, 11));
    let (fmv, fnv) = (fm.unwrap_or(""), fn_.unwrap_or(""));
    let (tmv, tnv, tpv) = (tm.unwrap_or(""), tn.unwrap_or(""), tp.unwrap_or(""));
    let from = if is_x(fm) {
        String::new()
    } else if is_x(fn_) {
        format!(">={fmv}.0.0{pre0}")
    } else if is_x(fp) {
        format!(">={fmv}.{fnv}.0{pre0}")
    } else if fpr.is_some_and(|s| !s.is_empty()) {
        format!(">={from_all}")
    } else {
        format!(">={from_all}{pre0}")
    };
    let to = if is_x(tm) {
        String::new()
    } else if is_x(tn) {
        format!("<{}.0.0-0", inc(tmv))
    } else if is_x(tp) {
        format!("<{tmv}.{}.0-0", inc(tnv))
    } else if let Some(tpr) = tpr.filter(|s| !s.is_empty()) {
        format!("<={tmv}.{tnv}.{tpv}-{tpr}")
    } else if opts.include_prerelease {
        format!("<{tmv}.{tnv}.{}-0", inc(tpv))
    } else {
        format!("<={to_all}")
    };
    Ok(format!("{from} {to}").trim().to_string())
}

impl Range {
    /// Parses a range as node-semver's `new Range(range, options)`.
    pub fn parse(range: &str, options: Options) -> Result<Range> {
        let raw = range.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut set = Vec::new();
        for part in raw.split("||") {
            let comps = Self::parse_set(part.trim(), options, range)?;
            if !comps.is_empty() {
                set.push(comps);
            }
        }
        if set.is_empty() {
            return Err(range_err(range, "no comparator set"));
        }
        if set.len() > 1 {
            let first = set[0].clone();
            set.retain(|c: &Vec<Comparator>| !c.first().is_some_and(Comparator::is_null_set));
            if set.is_empty() {
                set = vec![first];
            } else if set.len() > 1
                && let Some(any) = set.iter().find(|c| c.len() == 1 && c[0].version.is_none())
            {
                set = vec![any.clone()];
            }
        }
        Ok(Range { set, options })
    }

    fn parse_set(part: &str, opts: Options, range: &str) -> Result<Vec<Comparator>> {
        let p = patterns();
        let loose = usize::from(opts.loose);
        let s = replace_with(&p.hyphen_range[loose], part, |c| hyphen_replace(c, opts))
            .map_err(|e| range_err(range, e))?;
        let s = p.comparator_trim.replace_all(&s, "${1}${2}${3}");
        let s = p.tilde_trim.replace_all(&s, "${1}~");
        let s = p.caret_trim.replace_all(&s, "${1}^");
        let rewritten: Vec<String> = s
            .split(' ')
            .map(|c| parse_comparator(c, opts))
            .collect::<Result<_, _>>()
            .map_err(|e| range_err(range, e))?;
        let joined = rewritten.join(" ");
        let gte0 = if opts.include_prerelease {
            &p.gte0_pre
        } else {
            &p.gte0
        };
        // JavaScript's `split(/\s+/)` keeps empty strings at the ends.
        let mut list: Vec<String> = split_js_whitespace(&joined)
            .into_iter()
            .map(|c| gte0.replace(c.trim(), "").into_owned())
            .collect();
        if opts.loose {
            list.retain(|c| p.comparator[1].is_match(c));
        }
        let mut out: Vec<Comparator> = Vec::new();
        for c in list {
            let comp = Comparator::parse(&c, opts, range)?;
            if comp.is_null_set() {
                return Ok(vec![comp]);
            }
            if !out.iter().any(|o| o.value() == comp.value()) {
                out.push(comp);
            }
        }
        if out.len() > 1 {
            out.retain(|c| c.version.is_some());
        }
        Ok(out)
    }

    /// The comparator sets (the range is their union).
    pub fn sets(&self) -> &[Vec<Comparator>] {
        &self.set
    }

    /// node-semver's `Range.test`.
    pub fn test(&self, v: &npm::Version) -> bool {
        self.set.iter().any(|set| test_set(set, v, self.options))
    }

    /// Parses `version` with the range's options and tests it.
    pub fn satisfied_by(&self, version: &str) -> Result<bool> {
        Ok(self.test(&npm::Version::parse_opt(version, self.options.loose)?))
    }
}

fn split_js_whitespace(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_ws = false;
    for (i, ch) in s.char_indices() {
        if ch.is_whitespace() {
            if !in_ws {
                out.push(&s[start..i]);
                in_ws = true;
            }
        } else if in_ws {
            start = i;
            in_ws = false;
        }
    }
    out.push(if in_ws { "" } else { &s[start..] });
    out
}

fn test_set(set: &[Comparator], v: &npm::Version, opts: Options) -> bool {
    if !set.iter().all(|c| c.test(v)) {
        return false;
    }
    if v.prerelease.is_empty() || opts.include_prerelease {
        return true;
    }
    set.iter()
        .filter_map(|c| c.version.as_ref())
        .any(|allowed| {
            !allowed.prerelease.is_empty()
                && (allowed.major, allowed.minor, allowed.patch) == (v.major, v.minor, v.patch)
        })
}

impl fmt::Display for Range {
    /// node-semver's `range` string (`*` for "any").
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self
            .set
            .iter()
            .map(|comps| {
                comps
                    .iter()
                    .map(|c| c.value().trim().to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<_>>()
            .join("||");
        f.write_str(if s.is_empty() { "*" } else { &s })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_like_node_semver() {
        assert_eq!(parse("^1.2.3").unwrap().to_string(), ">=1.2.3 <2.0.0-0");
        assert_eq!(parse("~1.2").unwrap().to_string(), ">=1.2.0 <1.3.0-0");
        assert_eq!(
            parse("1.2.3 - 2.3").unwrap().to_string(),
            ">=1.2.3 <2.4.0-0"
        );
        assert_eq!(
            parse(">=1.0.0 <2.0.0 || 3.x").unwrap().to_string(),
            ">=1.0.0 <2.0.0||>=3.0.0 <4.0.0-0"
        );
        assert_eq!(parse("*").unwrap().to_string(), "*");
        assert!(parse("1.x.5").is_err());
    }

    #[test]
    fn prerelease_only_on_same_tuple() {
        assert_eq!(satisfies("^1.2.3-beta.1", "1.2.3-beta.2"), Ok(true));
        assert_eq!(satisfies("^1.2.3-beta.1", "1.2.4-beta.2"), Ok(false));
        assert_eq!(satisfies("<=0.0.8", "0.0.8"), Ok(true));
        let opts = Options {
            include_prerelease: true,
            ..Options::default()
        };
        assert_eq!(satisfies_with("^1.2.3", "1.3.0-rc.1", opts), Ok(true));
        assert!(satisfies("1.x", "not a version").is_err());
    }
}
