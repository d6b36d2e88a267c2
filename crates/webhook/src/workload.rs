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

/// Which parts of an admitted object this module reads; the rest of the object is skipped
/// while parsing. Objects from the API server carry `managedFields`, `status`, annotations
/// and whole container specs that no decision looks at, and building them into a JSON tree
/// cost more than the decision itself. Everything the functions above read must be here.
enum Keep {
    /// The whole value.
    All,
    /// Of an object, these fields (each as described); of anything else, the whole value.
    Fields(&'static [(&'static str, &'static Keep)]),
    /// Of an array, every element as described (so indices, and `/mutate`'s pointers, stay
    /// right); of anything else, the whole value.
    Each(&'static Keep),
}

static OBJECT: Keep = Keep::Fields(&[("metadata", &METADATA), ("spec", &SPEC)]);
static METADATA: Keep = Keep::Fields(&[
    ("name", &Keep::All),
    ("namespace", &Keep::All),
    ("labels", &Keep::All),
    ("ownerReferences", &Keep::All),
]);
/// A pod spec, or a workload's spec holding a pod template (or a CronJob's job template).
static SPEC: Keep = Keep::Fields(&[
    ("containers", &CONTAINERS),
    ("initContainers", &CONTAINERS),
    ("ephemeralContainers", &CONTAINERS),
    ("imagePullSecrets", &Keep::All),
    ("serviceAccountName", &Keep::All),
    ("template", &OBJECT),
    ("jobTemplate", &OBJECT),
]);
static CONTAINERS: Keep = Keep::Each(&Keep::Fields(&[
    ("name", &Keep::All),
    ("image", &Keep::All),
]));

/// Deserializes an admitted object (`object`, `oldObject`) keeping only what this module
/// reads; `null` is `None`.
pub(crate) fn read_object<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Value>, D::Error> {
    struct Maybe;
    impl<'de> serde::de::Visitor<'de> for Maybe {
        type Value = Option<Value>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a Kubernetes object or null")
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            serde::de::DeserializeSeed::deserialize(&OBJECT, d).map(Some)
        }
    }
    d.deserialize_option(Maybe)
}

impl<'de> serde::de::DeserializeSeed<'de> for &'static Keep {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        match self {
            Keep::All => serde::Deserialize::deserialize(d),
            keep => d.deserialize_any(Pruning(keep)),
        }
    }
}

/// Builds a [`Value`] as `serde_json` would, skipping what the [`Keep`] leaves out.
struct Pruning(&'static Keep);

impl<'de> serde::de::Visitor<'de> for Pruning {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        serde::de::DeserializeSeed::deserialize(self.0, d)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let element = match self.0 {
            Keep::Each(e) => *e,
            _ => &Keep::All,
        };
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(v) = seq.next_element_seed(element)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let wanted = match self.0 {
                Keep::Fields(fields) => fields.iter().find(|(f, _)| *f == key).map(|(_, k)| *k),
                _ => Some(&Keep::All),
            };
            match wanted {
                Some(k) => {
                    let v = map.next_value_seed(k)?;
                    out.insert(key.into_owned(), v);
                }
                None => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(out))
    }
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

    /// What every reader of an admitted object sees: equal on the full and the pruned object.
    fn readings(kind: &str, o: &Value) -> impl PartialEq + std::fmt::Debug {
        (
            images(kind, o),
            image_set(kind, o),
            labels(kind, o),
            pull_secret_names(kind, o),
            service_account(kind, o),
            has_controller(o),
            pod_spec_pointer(kind, o),
            at(o, "/metadata/name").cloned(),
            at(o, "/metadata/namespace").cloned(),
        )
    }

    /// The object as the webhook parses it from JSON text.
    fn pruned(o: &Value) -> Value {
        let text = serde_json::to_string(o).unwrap();
        read_object(&mut serde_json::Deserializer::from_str(&text))
            .unwrap()
            .unwrap()
    }

    fn check_pruning(kind: &str, o: &Value) -> Value {
        let p = pruned(o);
        assert_eq!(readings(kind, &p), readings(kind, o), "{kind}: {o}");
        // Parsing from a JSON tree (the path of unreadable reviews) prunes the same way.
        assert_eq!(read_object(o.clone()).unwrap().unwrap(), p);
        p
    }

    #[test]
    fn pruned_objects_read_the_same_and_drop_the_rest() {
        let container = |name: &str, image: &str| {
            json!({"name": name, "image": image, "env": [{"name": "A", "value": "1"}],
                   "resources": {"limits": {"cpu": "1"}}})
        };
        let pod_spec = json!({
            "containers": [container("a", "r/a:1"), {"name": "noimage"}, container("b", "r/b@sha256:00")],
            "initContainers": [container("i", "r/i:1")],
            "ephemeralContainers": [container("e", "r/e:1")],
            "imagePullSecrets": [{"name": "regcred"}, {"name": "other"}],
            "serviceAccountName": "builder",
            "volumes": [{"name": "v", "emptyDir": {}}],
        });
        let metadata = json!({
            "name": "x", "namespace": "team", "labels": {"app": "x", "tier": "web"},
            "annotations": {"big": "y".repeat(1000)},
            "ownerReferences": [{"kind": "ReplicaSet", "name": "x-1", "controller": true}],
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
        });
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
                         "spec": pod_spec, "status": {"phase": "Pending"}});
        let template =
            json!({"metadata": {"labels": {"app": "x", "pod": "yes"}}, "spec": pod_spec});
        let deployment = json!({"kind": "Deployment", "metadata": metadata,
                                "spec": {"replicas": 2, "template": template}, "status": {}});
        let cronjob = json!({"kind": "CronJob", "metadata": metadata, "spec": {"schedule": "* * * * *",
                             "jobTemplate": {"spec": {"template": template}}}});
        let custom =
            json!({"kind": "Rollout", "metadata": metadata, "spec": {"template": template}});
        let odd = json!({"kind": "Pod", "metadata": {"labels": "not a map"},
                         "spec": {"containers": {"not": "a list"}, "imagePullSecrets": 3}});
        for (kind, o) in [
            ("Pod", &pod),
            ("Deployment", &deployment),
            ("CronJob", &cronjob),
            ("Rollout", &custom),
            ("Pod", &odd),
        ] {
            let p = check_pruning(kind, o);
            let text = p.to_string();
            for gone in [
                "managedFields",
                "annotations",
                "status",
                "env",
                "volumes",
                "replicas",
                "schedule",
            ] {
                assert!(!text.contains(gone), "{kind}: {gone} kept in {text}");
            }
        }
        assert_eq!(read_object(Value::Null).unwrap(), None);
    }

    /// The real AdmissionReview samples: every object reads the same pruned.
    #[test]
    fn pruning_keeps_what_the_samples_are_decided_on() {
        let td = std::env::var_os("PORTCULLIS_TESTDATA").map_or_else(
            || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata"),
            std::path::PathBuf::from,
        );
        let dir = td.join("admission");
        if !dir.is_dir() {
            assert!(
                std::env::var_os("CI").is_none(),
                "no test data at {}",
                dir.display()
            );
            eprintln!("skipped: no AdmissionReview samples at {}", dir.display());
            return;
        }
        let mut checked = 0;
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let path = e.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let Ok(v) = serde_json::from_slice::<Value>(&std::fs::read(&path).unwrap()) else {
                    continue;
                };
                let req = v.get("request").unwrap_or(&v);
                let kind = req
                    .pointer("/kind/kind")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                for field in ["object", "oldObject"] {
                    if let Some(o) = req.get(field).filter(|o| o.is_object()) {
                        check_pruning(kind, o);
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked >= 20, "only {checked} sample objects");
    }

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
