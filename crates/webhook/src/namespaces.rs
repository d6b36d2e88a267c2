//! Namespace labels, which `namespaceSelector`s and the ignore label are matched against.
//!
//! The webhook only reads labels through [`NamespaceLabels`]: in a cluster the `serve`
//! command feeds it from a Namespace watch, outside one from a static map, and without
//! either a namespace only has the label the API server always sets on it.

use std::collections::BTreeMap;

/// The label that exempts a namespace from evaluation when set to `true`.
pub const IGNORE_LABEL: &str = "portcullis.dev/ignore";
/// The label the API server puts on every namespace, holding its name.
pub const NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Where namespace labels come from.
pub trait NamespaceLabels: Send + Sync + 'static {
    /// The labels of `namespace`, or `None` when the namespace is not known.
    fn labels(&self, namespace: &str) -> Option<BTreeMap<String, String>>;
}

/// Knows no namespace: every namespace gets only its name label.
#[derive(Clone, Copy, Debug, Default)]
pub struct NameOnlyLabels;

impl NamespaceLabels for NameOnlyLabels {
    fn labels(&self, _namespace: &str) -> Option<BTreeMap<String, String>> {
        None
    }
}

/// Labels from configuration, for running outside a cluster (and `policy test`).
#[derive(Clone, Debug, Default)]
pub struct StaticNamespaceLabels {
    /// Labels by namespace name.
    pub namespaces: BTreeMap<String, BTreeMap<String, String>>,
}

impl NamespaceLabels for StaticNamespaceLabels {
    fn labels(&self, namespace: &str) -> Option<BTreeMap<String, String>> {
        self.namespaces.get(namespace).cloned()
    }
}

/// The labels of `namespace` from `provider`, always with the name label (as the API
/// server guarantees it, selectors may rely on it).
pub(crate) fn resolve(provider: &dyn NamespaceLabels, namespace: &str) -> BTreeMap<String, String> {
    let mut labels = provider.labels(namespace).unwrap_or_default();
    labels
        .entry(NAME_LABEL.to_string())
        .or_insert_with(|| namespace.to_string());
    labels
}

/// True when the labels carry `portcullis.dev/ignore=true`.
pub(crate) fn is_ignored(labels: &BTreeMap<String, String>) -> bool {
    labels
        .get(IGNORE_LABEL)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}
