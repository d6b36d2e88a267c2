//! Finding the pod spec, the images and the labels in an admitted object.
//!
//! Every workload kind embeds a pod spec at a known place; the images are read from there
//! together with the JSON pointer of each `image` field, so `/mutate` can pin exactly the
//! field it read.

use std::collections::BTreeMap;

use serde_json::Value;

/// Which container list an image came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContainerKind {
    /// `containers`.
    Container,
    /// `initContainers`.
    Init,
    /// `ephemeralContainers`.
    Ephemeral,
}

impl ContainerKind {
    /// The field name in the pod spec.
    pub fn field(self) -> &'static str {
        match self {
            ContainerKind::Container => "containers",
            ContainerKind::Init => "initContainers",
            ContainerKind::Ephemeral => "ephemeralContainers",
        }
    }
}

/// One container image of a workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerImage {
    /// Container name (empty when the spec has none).
    pub name: String,
    /// The image as written.
    pub image: String,
    /// Which list the container is in.
    pub kind: ContainerKind,
    /// JSON pointer of the `image` field inside the object.
    pub pointer: String,
}

/// `value.pointer(path)` for the plain paths this crate uses (no `~` escapes): serde_json's
/// own unescapes every token into new strings, which showed at a few percent of the
/// admission hot path.
pub(crate) fn at<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('/').skip(1).try_fold(value, |v, token| match v {
        Value::Object(m) => m.get(token),
        Value::Array(a) => token.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

/// The JSON pointer of the pod spec inside an object of the given kind, if it has one.
///
/// Pods carry it at `/spec`, CronJobs at `/spec/jobTemplate/spec/template/spec`, and every
/// other workload (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, ReplicationController,
/// and any custom resource shaped like them) at `/spec/template/spec`.
pub(crate) fn pod_spec_pointer(kind: &str, object: &Value) -> Option<&'static str> {
    let candidates: &[&'static str] = match kind {
        "Pod" => &["/spec"],
        "CronJob" => &["/spec/jobTemplate/spec/template/spec"],
        _ => &[
            "/spec/template/spec",
            "/spec/jobTemplate/spec/template/spec",
        ],
    };
    candidates
        .iter()
        .copied()
        .find(|p| at(object, p).is_some_and(Value::is_object))
}

/// The container images of an object, in spec order (containers, then init, then
/// ephemeral). Objects without a pod spec have none.
pub fn images(kind: &str, object: &Value) -> Vec<ContainerImage> {
    let Some(prefix) = pod_spec_pointer(kind, object) else {
        return Vec::new();
    };
    let Some(spec) = at(object, prefix) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for ck in [
        ContainerKind::Container,
        ContainerKind::Init,
        ContainerKind::Ephemeral,
    ] {
        let Some(list) = spec.get(ck.field()).and_then(Value::as_array) else {
            continue;
        };
        for (i, c) in list.iter().enumerate() {
            let Some(image) = c.get("image").and_then(Value::as_str) else {
                continue;
            };
            out.push(ContainerImage {
                name: c
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                image: image.to_string(),
                kind: ck,
                pointer: format!("{prefix}/{}/{i}/image", ck.field()),
            });
        }
    }
    out
}

/// The distinct images of an object, sorted: what an UPDATE compares.
pub(crate) fn image_set(kind: &str, object: &Value) -> Vec<String> {
    let mut v: Vec<String> = images(kind, object).into_iter().map(|c| c.image).collect();
    v.sort();
    v.dedup();
    v
}

/// True for the built-in workload kinds, which are always namespaced (a request for one
/// without a namespace is still about a namespaced object).
pub(crate) fn is_namespaced_kind(kind: &str) -> bool {
    matches!(
        kind,
        "Pod"
            | "Deployment"
            | "ReplicaSet"
            | "StatefulSet"
            | "DaemonSet"
            | "Job"
            | "CronJob"
            | "ReplicationController"
    )
}

/// True when the object is managed by a controller (an ownerReference with
/// `controller: true`): its controller's own object was admitted already.
pub(crate) fn has_controller(object: &Value) -> bool {
    at(object, "/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter()
                .any(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        })
}

/// The labels policies select on: the object's own labels, overlaid with its pod
/// template's labels (the pods it creates carry those, and owned pods are not re-evaluated).
pub(crate) fn labels(kind: &str, object: &Value) -> BTreeMap<String, String> {
    let mut out = string_map(at(object, "/metadata/labels"));
    if let Some(prefix) = pod_spec_pointer(kind, object)
        && let Some(template) = prefix.strip_suffix("/spec").filter(|t| !t.is_empty())
    {
        out.extend(string_map(at(
            object,
            &format!("{template}/metadata/labels"),
        )));
    }
    out
}

/// The names in the pod spec's `imagePullSecrets`.
pub(crate) fn pull_secret_names(kind: &str, object: &Value) -> Vec<String> {
    pod_spec_pointer(kind, object)
        .and_then(|p| at(object, &format!("{p}/imagePullSecrets")))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.get("name").and_then(Value::as_str))
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// The pod spec's `serviceAccountName`, `default` when unset (as the API server fills it in).
pub(crate) fn service_account(kind: &str, object: &Value) -> String {
    pod_spec_pointer(kind, object)
        .and_then(|p| at(object, &format!("{p}/serviceAccountName")))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("default")
        .to_string()
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// The image reference with any tag and digest removed (`repo`), so a digest can be pinned
/// as `repo@sha256:...`. A `:` before the last `/` is a registry port, not a tag.
pub fn repository_of(image: &str) -> &str {
    let no_digest = image.split_once('@').map_or(image, |(r, _)| r);
    let last_slash = no_digest.rfind('/').map_or(0, |i| i + 1);
    match no_digest[last_slash..].rfind(':') {
        Some(i) => &no_digest[..last_slash + i],
        None => no_digest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_agrees_with_json_pointer() {
        let v = json!({"spec": {"containers": [{"image": "a"}, {"image": "b"}], "x": null}});
        for p in [
            "",
            "/spec",
            "/spec/containers/1/image",
            "/spec/containers/2",
            "/spec/containers/x",
            "/spec/x",
            "/spec/x/y",
            "/nope",
            "/spec/containers/-1",
        ] {
            assert_eq!(at(&v, p), v.pointer(p), "{p}");
        }
    }
    use serde_json::json;

    #[test]
    fn repository_strips_tag_and_digest_not_port() {
        assert_eq!(repository_of("nginx"), "nginx");
        assert_eq!(repository_of("nginx:1.25"), "nginx");
        assert_eq!(
            repository_of("127.0.0.1:5055/a/b:tag"),
            "127.0.0.1:5055/a/b"
        );
        assert_eq!(repository_of("127.0.0.1:5055/a/b"), "127.0.0.1:5055/a/b");
        assert_eq!(repository_of("ghcr.io/x/y:v1@sha256:abc"), "ghcr.io/x/y");
        assert_eq!(repository_of("ghcr.io/x/y@sha256:abc"), "ghcr.io/x/y");
    }

    #[test]
    fn pod_images_in_order_with_pointers() {
        let pod = json!({"spec": {
            "containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}],
            "initContainers": [{"name": "i", "image": "i:1"}],
            "ephemeralContainers": [{"name": "e", "image": "e:1"}, {"name": "noimage"}]
        }});
        let got: Vec<(String, String)> = images("Pod", &pod)
            .into_iter()
            .map(|c| (c.image, c.pointer))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a:1".into(), "/spec/containers/0/image".into()),
                ("b:1".into(), "/spec/containers/1/image".into()),
                ("i:1".into(), "/spec/initContainers/0/image".into()),
                ("e:1".into(), "/spec/ephemeralContainers/0/image".into()),
            ]
        );
    }

    #[test]
    fn generic_template_and_labels() {
        let obj = json!({"metadata": {"labels": {"a": "1", "b": "1"}}, "spec": {"template": {
            "metadata": {"labels": {"b": "2"}},
            "spec": {"containers": [{"image": "x"}], "imagePullSecrets": [{"name": "s"}]}}}});
        assert_eq!(image_set("MyCustomWorkload", &obj), vec!["x".to_string()]);
        let l = labels("MyCustomWorkload", &obj);
        assert_eq!(l.get("a").map(String::as_str), Some("1"));
        assert_eq!(l.get("b").map(String::as_str), Some("2"));
        assert_eq!(pull_secret_names("Deployment", &obj), vec!["s".to_string()]);
        assert_eq!(service_account("Deployment", &obj), "default");
        assert!(images("ConfigMap", &json!({"data": {}})).is_empty());
    }

    #[test]
    fn controller_owner_only() {
        assert!(has_controller(
            &json!({"metadata": {"ownerReferences": [{"kind": "ReplicaSet", "controller": true}]}})
        ));
        assert!(!has_controller(
            &json!({"metadata": {"ownerReferences": [{"kind": "ReplicaSet"}]}})
        ));
        assert!(!has_controller(&json!({"metadata": {}})));
    }
}
