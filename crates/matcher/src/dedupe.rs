//! One match per vulnerability, package and location.
//!
//! Two records of the same vulnerability (PYSEC-x and GHSA-y both aliasing CVE-z) would
//! otherwise be counted twice. Matches of one package at one location whose ids or aliases
//! overlap (transitively) become one match: the primary id is the one whose record has its own
//! CVSS vector, else the smallest id; the others become aliases and the fixed versions are
//! merged.

use std::collections::{BTreeMap, HashMap};

use portcullis_core::{Match, TrackerState};

use crate::severity::version_rank;

/// Merges duplicate matches; the input order decides nothing but ties in the output.
pub(crate) fn dedupe(matches: Vec<Match>) -> Vec<Match> {
    // (purl, location) → indices, in input order.
    let mut groups: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, m) in matches.iter().enumerate() {
        groups
            .entry((m.package.purl.clone(), m.matched_by.location.clone()))
            .or_default()
            .push(i);
    }
    let mut slots: Vec<Option<Match>> = matches.into_iter().map(Some).collect();
    let mut out = Vec::new();
    for indices in groups.into_values() {
        let mut uf = UnionFind::new(indices.len());
        let mut first_with_id: HashMap<String, usize> = HashMap::new();
        for (k, &i) in indices.iter().enumerate() {
            let Some(m) = &slots[i] else { continue };
            for id in std::iter::once(&m.id).chain(m.aliases.iter()) {
                match first_with_id.get(id) {
                    Some(&j) => uf.union(j, k),
                    None => {
                        first_with_id.insert(id.clone(), k);
                    }
                }
            }
        }
        let mut components: BTreeMap<usize, Vec<Match>> = BTreeMap::new();
        for (k, &i) in indices.iter().enumerate() {
            if let Some(m) = slots[i].take() {
                components.entry(uf.find(k)).or_default().push(m);
            }
        }
        out.extend(components.into_values().map(merge));
    }
    out
}

/// Merges the matches of one vulnerability into one.
fn merge(mut group: Vec<Match>) -> Match {
    if group.len() == 1 {
        return group.remove(0);
    }
    let own_vector = |m: &Match| m.cvss.as_ref().is_some_and(|c| c.source.is_none());
    group.sort_by(|a, b| {
        own_vector(b)
            .cmp(&own_vector(a))
            .then_with(|| a.id.cmp(&b.id))
    });
    let mut rest = group.split_off(1);
    let mut primary = group.remove(0);

    let mut ids: Vec<String> = Vec::new();
    let mut fixed = std::mem::take(&mut primary.fixed_versions);
    let any_fixed_state =
        primary.state == TrackerState::Fixed || rest.iter().any(|m| m.state == TrackerState::Fixed);
    let all_informational =
        primary.informational.is_some() && rest.iter().all(|m| m.informational.is_some());
    ids.append(&mut primary.aliases);
    for m in &mut rest {
        ids.push(m.id.clone());
        ids.append(&mut m.aliases);
        for f in m.fixed_versions.drain(..) {
            if !fixed.contains(&f) {
                fixed.push(f);
            }
        }
        if primary.summary.is_none() {
            primary.summary = m.summary.take();
        }
    }
    ids.retain(|i| *i != primary.id);
    ids.sort();
    ids.dedup();
    primary.aliases = ids;
    primary.fixed_versions = fixed;

    if primary.cvss.is_none() {
        let best = rest.iter().filter(|m| m.cvss.is_some()).max_by_key(|m| {
            m.cvss
                .as_ref()
                .map(|c| version_rank(&c.version))
                .unwrap_or_default()
        });
        match best {
            Some(m) => {
                primary.cvss = m.cvss.clone();
                primary.severity = m.severity;
            }
            None => {
                primary.severity = rest
                    .iter()
                    .map(|m| m.severity)
                    .fold(primary.severity, Ord::max)
            }
        }
    }
    if any_fixed_state {
        primary.state = TrackerState::Fixed;
    }
    if !all_informational {
        primary.informational = None;
    }
    primary
}

/// Disjoint sets over `0..n`.
struct UnionFind {
    parent: Vec<usize>,
}

impl UnionFind {
    fn new(n: usize) -> Self {
        UnionFind {
            parent: (0..n).collect(),
        }
    }

    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            // The smaller index stays root so components keep input order.
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent[hi] = lo;
        }
    }
}
