//! Which policies can select a workload, found by its labels.
//!
//! A cluster with thousands of policies, each for one team or app, would otherwise evaluate
//! every selector on every admission, so a decision would cost what all policies cost. Each
//! policy is filed under a label its selector needs ([`Selector::needs`]): a workload's labels
//! then look up the few policies that can select it, and only those selectors are evaluated.
//! A policy whose selectors need no label (`all()`, `!=`, `not in`) is tried for every
//! workload, as before.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use crate::evaluate::Workload;
use crate::policy::Policy;
use crate::selector::{Need, Needs, Selector};

/// Policies (by position in evaluation order) filed under the labels their selectors need.
#[derive(Clone, Debug, Default)]
pub(crate) struct SelectorIndex {
    /// Policies tried for every workload, in order.
    always: Vec<u32>,
    /// Policies whose pod selector needs a label.
    labels: LabelIndex,
    /// Policies whose pod selector needs none but whose namespace selector does.
    namespace: LabelIndex,
}

#[derive(Clone, Debug, Default)]
struct LabelIndex {
    /// key → value → policies needing that value.
    values: HashMap<String, HashMap<String, Vec<u32>>>,
    /// key → policies needing the key, whatever its value.
    keys: HashMap<String, Vec<u32>>,
}

impl LabelIndex {
    fn file(&mut self, needs: Vec<Need>, i: u32) {
        for need in needs {
            let list = match need {
                Need::Key(k) => self.keys.entry(k).or_default(),
                Need::Value(k, v) => self.values.entry(k).or_default().entry(v).or_default(),
            };
            // A selector may name the same label twice (`a == 'x' || a == 'x'`).
            if list.last() != Some(&i) {
                list.push(i);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.values.is_empty() && self.keys.is_empty()
    }

    fn lookup(&self, labels: &BTreeMap<String, String>, out: &mut Vec<u32>) {
        if self.is_empty() {
            return;
        }
        for (k, v) in labels {
            if let Some(list) = self
                .values
                .get(k.as_str())
                .and_then(|vs| vs.get(v.as_str()))
            {
                out.extend_from_slice(list);
            }
            if let Some(list) = self.keys.get(k.as_str()) {
                out.extend_from_slice(list);
            }
        }
    }
}

fn needs(s: &Selector) -> Option<Vec<Need>> {
    match s.needs() {
        Needs::OneOf(n) => Some(n),
        Needs::Nothing => None,
    }
}

impl SelectorIndex {
    /// Files each policy of `policies` (already in evaluation order).
    pub(crate) fn new(policies: &[Policy]) -> SelectorIndex {
        let mut index = SelectorIndex::default();
        for (i, p) in policies.iter().enumerate() {
            let i = u32::try_from(i).expect("fewer than 2^32 policies");
            if let Some(n) = needs(p.selector()) {
                index.labels.file(n, i);
            } else if let Some(n) = needs(p.namespace_selector()) {
                index.namespace.file(n, i);
            } else {
                index.always.push(i);
            }
        }
        index
    }

    /// Positions, in evaluation order, of the policies that may select `w`: a superset of
    /// those whose selectors match, never missing one.
    pub(crate) fn candidates(&self, w: &Workload<'_>) -> Cow<'_, [u32]> {
        let mut found = Vec::new();
        self.labels.lookup(w.labels, &mut found);
        self.namespace.lookup(w.namespace_labels, &mut found);
        if found.is_empty() {
            return Cow::Borrowed(&self.always);
        }
        found.extend_from_slice(&self.always);
        found.sort_unstable();
        found.dedup();
        Cow::Owned(found)
    }
}
