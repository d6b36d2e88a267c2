//! Finding the pod spec, the images and the labels in an admitted object.
//!
//! Every workload kind embeds a pod spec at a known place; the images are read from there
//! together with the JSON pointer of each `image` field, so `/mutate` can pin exactly the
//! field it read.
//!
//! The object is read straight from the review's JSON into [`Object`], which holds only what
//! decisions read; everything else (`managedFields`, `status`, annotations, the rest of each
//! container) is skipped while parsing. Objects from the API server are mostly such parts,
//! and building them into a JSON tree, then walking it by pointers, cost more than the
//! decision itself.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
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
    /// The user settings it runs with: its own `securityContext` over the pod's.
    pub run_as: portcullis_policy::RunAs,
}

/// What decisions read of an admitted object (`object`, `oldObject`): its metadata and
/// its `spec`, which is a pod spec (Pods), or holds a pod `template` (Deployments and the
/// like) or a `jobTemplate` (CronJobs).
///
/// Read leniently, as `Value::as_*` reads a JSON tree: a field of the wrong JSON type is
/// absent, never an error, so an odd object is decided on what it does carry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Object {
    /// `metadata` (empty when absent or not a JSON object).
    pub metadata: Metadata,
    /// `spec`, when it is a JSON object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec: Option<Box<Spec>>,
}

/// The metadata decisions read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// `name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `namespace`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `labels` with string values (the only kind selectors compare).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// `ownerReferences`, in order (`None` for an entry that is not a JSON object).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub owner_references: Vec<Option<OwnerReference>>,
}

/// An owner reference: whether the owner is the object's controller.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OwnerReference {
    /// `controller`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub controller: Option<bool>,
}

/// A `spec`: the pod spec fields decisions read, and the templates a pod spec may sit in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    /// `containers`, when a JSON array (entries that are not objects are `None`, so each
    /// container keeps its index, which `/mutate`'s pointers use).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub containers: Option<Vec<Option<Container>>>,
    /// `initContainers`, as `containers`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_containers: Option<Vec<Option<Container>>>,
    /// `ephemeralContainers`, as `containers`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ephemeral_containers: Option<Vec<Option<Container>>>,
    /// `imagePullSecrets`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<Option<SecretReference>>,
    /// `serviceAccountName`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// `template`: a pod template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<Box<Object>>,
    /// `jobTemplate`: a job template, whose spec holds a pod template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_template: Option<Box<Object>>,
    /// The pod's `securityContext` (its user settings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_context: Option<SecurityContext>,
}

/// The user settings of a `securityContext` (pod or container): what decides whether a
/// container runs as root.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityContext {
    /// `runAsNonRoot`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_as_non_root: Option<bool>,
    /// `runAsUser`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_as_user: Option<i64>,
}

/// A container's name and image.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Container {
    /// `name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `image`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// `securityContext` (its user settings).
    #[serde(rename = "securityContext", skip_serializing_if = "Option::is_none")]
    pub security_context: Option<SecurityContext>,
}

/// An `imagePullSecrets` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SecretReference {
    /// `name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Where an object's pod spec is, as found by [`Object::pod`].
pub(crate) struct PodSpecAt<'o> {
    /// The JSON pointer of the pod spec.
    pub(crate) pointer: &'static str,
    pub(crate) spec: &'o Spec,
    /// The pod template's labels (none for a Pod).
    pub(crate) template_labels: Option<&'o BTreeMap<String, String>>,
}

impl Object {
    /// Reads an object from a JSON tree (what [`images`] is given, in `policy test`); `None`
    /// when it is not a JSON object.
    pub fn from_value(value: &Value) -> Option<Object> {
        Lenient::<Object>::deserialize(value).ok().and_then(|o| o.0)
    }

    /// The pod spec of an object of the given kind, if it has one.
    ///
    /// Pods carry it at `/spec`, CronJobs at `/spec/jobTemplate/spec/template/spec`, and
    /// every other workload (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job,
    /// ReplicationController, and any custom resource shaped like them) at
    /// `/spec/template/spec`, or else where a CronJob has it.
    pub(crate) fn pod(&self, kind: &str) -> Option<PodSpecAt<'_>> {
        let spec = self.spec.as_deref()?;
        fn in_template<'o>(t: Option<&'o Object>, pointer: &'static str) -> Option<PodSpecAt<'o>> {
            let t = t?;
            Some(PodSpecAt {
                pointer,
                spec: t.spec.as_deref()?,
                template_labels: Some(&t.metadata.labels),
            })
        }
        let job = || {
            let job_spec = spec.job_template.as_deref()?.spec.as_deref()?;
            in_template(
                job_spec.template.as_deref(),
                "/spec/jobTemplate/spec/template/spec",
            )
        };
        match kind {
            "Pod" => Some(PodSpecAt {
                pointer: "/spec",
                spec,
                template_labels: None,
            }),
            "CronJob" => job(),
            _ => in_template(spec.template.as_deref(), "/spec/template/spec").or_else(job),
        }
    }

    /// True when the object is managed by a controller (an ownerReference with
    /// `controller: true`): its controller's own object was admitted already.
    pub(crate) fn has_controller(&self) -> bool {
        self.metadata
            .owner_references
            .iter()
            .flatten()
            .any(|r| r.controller == Some(true))
    }
}

/// The container images of an object's pod spec (see [`Object::pod`]), in spec order
/// (containers, then init, then ephemeral). Objects without a pod spec have none.
pub(crate) fn object_images(pod: Option<&PodSpecAt<'_>>) -> Vec<ContainerImage> {
    let Some(pod) = pod else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (ck, list) in [
        (ContainerKind::Container, &pod.spec.containers),
        (ContainerKind::Init, &pod.spec.init_containers),
        (ContainerKind::Ephemeral, &pod.spec.ephemeral_containers),
    ] {
        for (i, c) in list.iter().flatten().enumerate() {
            let Some((c, image)) = c.as_ref().and_then(|c| Some((c, c.image.as_ref()?))) else {
                continue;
            };
            let pod_ctx = pod.spec.security_context.unwrap_or_default();
            let own = c.security_context.unwrap_or_default();
            out.push(ContainerImage {
                name: c.name.clone().unwrap_or_default(),
                image: image.clone(),
                kind: ck,
                pointer: format!("{}/{}/{i}/image", pod.pointer, ck.field()),
                run_as: portcullis_policy::RunAs {
                    non_root: own.run_as_non_root.or(pod_ctx.run_as_non_root),
                    user: own.run_as_user.or(pod_ctx.run_as_user),
                },
            });
        }
    }
    out
}

/// The container images of an object given as a JSON tree (see [`Object::from_value`]).
pub fn images(kind: &str, object: &Value) -> Vec<ContainerImage> {
    Object::from_value(object).map_or_else(Vec::new, |o| object_images(o.pod(kind).as_ref()))
}

/// The distinct images of an object, sorted: what an UPDATE compares.
pub(crate) fn image_set(kind: &str, object: &Object) -> Vec<String> {
    let mut v: Vec<String> = object_images(object.pod(kind).as_ref())
        .into_iter()
        .map(|c| c.image)
        .collect();
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

/// The labels policies select on: the object's own labels, overlaid with its pod
/// template's labels (the pods it creates carry those, and owned pods are not re-evaluated).
pub(crate) fn labels(object: &Object, pod: Option<&PodSpecAt<'_>>) -> BTreeMap<String, String> {
    let mut out = object.metadata.labels.clone();
    if let Some(t) = pod.and_then(|p| p.template_labels) {
        out.extend(t.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    out
}

/// The names in the pod spec's `imagePullSecrets`.
pub(crate) fn pull_secret_names(pod: Option<&PodSpecAt<'_>>) -> Vec<String> {
    pod.map(|p| {
        p.spec
            .image_pull_secrets
            .iter()
            .flatten()
            .filter_map(|s| s.name.clone())
            .collect()
    })
    .unwrap_or_default()
}

/// The pod spec's `serviceAccountName`, `default` when unset (as the API server fills it in).
pub(crate) fn service_account(pod: Option<&PodSpecAt<'_>>) -> String {
    pod.and_then(|p| p.spec.service_account_name.as_deref())
        .filter(|s| !s.is_empty())
        .unwrap_or("default")
        .to_string()
}

/// Deserializes an admitted object (`object`, `oldObject`); `null` and anything that is not
/// a JSON object are `None`.
pub(crate) fn read_object<'de, D: de::Deserializer<'de>>(d: D) -> Result<Option<Object>, D::Error> {
    Lenient::<Object>::deserialize(d).map(|o| o.0)
}

/// A JSON value read as `T` when it has the JSON type `T` reads, `None` otherwise (the
/// value is then skipped): how `Value::as_*` treats a tree, without building one.
struct Lenient<T>(Option<T>);

/// What [`Lenient`] can read, from the JSON types it accepts; the others read as `None`.
trait ReadLeniently<'de>: Sized {
    fn from_str(_: &str) -> Option<Self> {
        None
    }
    fn from_bool(_: bool) -> Option<Self> {
        None
    }
    fn from_i64(_: i64) -> Option<Self> {
        None
    }
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn from_seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

impl<'de, T: ReadLeniently<'de>> serde::Deserialize<'de> for Lenient<T> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LenientVisitor(PhantomData)).map(Lenient)
    }
}

struct LenientVisitor<T>(PhantomData<T>);

impl<'de, T: ReadLeniently<'de>> Visitor<'de> for LenientVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(T::from_bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(T::from_i64(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(v).ok().and_then(T::from_i64))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(T::from_str(v))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        T::from_seq(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::from_map(map)
    }
}

/// Reads the fields of a JSON object: `field(index in names, map)` reads the value of each
/// known key, unknown keys are skipped. Keys are matched in place, never copied.
fn read_fields<'de, A: MapAccess<'de>>(
    mut map: A,
    names: &'static [&'static str],
    mut field: impl FnMut(usize, &mut A) -> Result<(), A::Error>,
) -> Result<(), A::Error> {
    while let Some(key) = map.next_key_seed(Key(names))? {
        match key {
            Some(i) => field(i, &mut map)?,
            None => {
                map.next_value::<IgnoredAny>()?;
            }
        }
    }
    Ok(())
}

/// A map key, as its index in a list of known names (`None` for any other key).
struct Key(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Option<usize>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|n| *n == v))
    }
}

/// The value of a field, read leniently.
fn value<'de, T: ReadLeniently<'de>, A: MapAccess<'de>>(
    map: &mut A,
) -> Result<Option<T>, A::Error> {
    map.next_value::<Lenient<T>>().map(|v| v.0)
}

impl<'de> ReadLeniently<'de> for String {
    fn from_str(s: &str) -> Option<Self> {
        Some(s.to_owned())
    }
}

impl<'de> ReadLeniently<'de> for bool {
    fn from_bool(b: bool) -> Option<Self> {
        Some(b)
    }
}

impl<'de> ReadLeniently<'de> for i64 {
    fn from_i64(n: i64) -> Option<Self> {
        Some(n)
    }
}

impl<'de> ReadLeniently<'de> for SecurityContext {
    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
        let mut c = SecurityContext::default();
        read_fields(map, &["runAsNonRoot", "runAsUser"], |i, map| {
            match i {
                0 => c.run_as_non_root = value(map)?,
                _ => c.run_as_user = value(map)?,
            }
            Ok(())
        })?;
        Ok(Some(c))
    }
}

impl<'de, T: ReadLeniently<'de>> ReadLeniently<'de> for Vec<Option<T>> {
    fn from_seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(Lenient(v)) = seq.next_element::<Lenient<T>>()? {
            out.push(v);
        }
        Ok(Some(out))
    }
}

/// Labels: the entries with string values.
impl<'de> ReadLeniently<'de> for BTreeMap<String, String> {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        let mut out = BTreeMap::new();
        while let Some(k) = map.next_key::<String>()? {
            // A later duplicate key wins, as in a JSON tree, even when it is not a string.
            match value::<String, A>(&mut map)? {
                Some(v) => out.insert(k, v),
                None => out.remove(&k),
            };
        }
        Ok(Some(out))
    }
}

impl<'de> ReadLeniently<'de> for Object {
    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
        let mut o = Object::default();
        read_fields(map, &["metadata", "spec"], |i, map| {
            match i {
                0 => o.metadata = value(map)?.unwrap_or_default(),
                _ => o.spec = value(map)?.map(Box::new),
            }
            Ok(())
        })?;
        Ok(Some(o))
    }
}

impl<'de> ReadLeniently<'de> for Metadata {
    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
        let mut m = Metadata::default();
        read_fields(
            map,
            &["name", "namespace", "labels", "ownerReferences"],
            |i, map| {
                match i {
                    0 => m.name = value(map)?,
                    1 => m.namespace = value(map)?,
                    2 => m.labels = value(map)?.unwrap_or_default(),
                    _ => m.owner_references = value(map)?.unwrap_or_default(),
                }
                Ok(())
            },
        )?;
        Ok(Some(m))
    }
}

/// The value of the one field of a JSON object that is read (the last, if repeated).
fn only_field<'de, T: ReadLeniently<'de>, A: MapAccess<'de>>(
    map: A,
    name: &'static [&'static str; 1],
) -> Result<Option<T>, A::Error> {
    let mut out = None;
    read_fields(map, name, |_, map| {
        out = value(map)?;
        Ok(())
    })?;
    Ok(out)
}

impl<'de> ReadLeniently<'de> for OwnerReference {
    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
        let controller = only_field(map, &["controller"])?;
        Ok(Some(OwnerReference { controller }))
    }
}

impl<'de> ReadLeniently<'de> for Spec {
    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
        let mut s = Spec::default();
        read_fields(
            map,
            &[
                "containers",
                "initContainers",
                "ephemeralContainers",
                "imagePullSecrets",
                "serviceAccountName",
                "template",
                "jobTemplate",
                "securityContext",
            ],
            |i, map| {
                match i {
                    0 => s.containers = value(map)?,
                    1 => s.init_containers = value(map)?,
                    2 => s.ephemeral_containers = value(map)?,
                    3 => s.image_pull_secrets = value(map)?.unwrap_or_default(),
                    4 => s.service_account_name = value(map)?,
                    5 => s.template = value(map)?.map(Box::new),
                    6 => s.job_template = value(map)?.map(Box::new),
                    _ => s.security_context = value(map)?,
                }
                Ok(())
            },
        )?;
        Ok(Some(s))
    }
}

impl<'de> ReadLeniently<'de> for Container {
    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
        let mut c = Container::default();
        read_fields(map, &["name", "image", "securityContext"], |i, map| {
            match i {
                0 => c.name = value(map)?,
                1 => c.image = value(map)?,
                _ => c.security_context = value(map)?,
            }
            Ok(())
        })?;
        Ok(Some(c))
    }
}

impl<'de> ReadLeniently<'de> for SecretReference {
    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
        let name = only_field(map, &["name"])?;
        Ok(Some(SecretReference { name }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The reference reading of an object: its JSON tree walked by pointers, written as
    /// plainly as the rules say. [`Object`] must read every object the same.
    mod by_pointer {
        use super::*;

        fn str_at<'v>(o: &'v Value, p: &str) -> Option<&'v str> {
            o.pointer(p).and_then(Value::as_str)
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

        pub(super) fn pod_spec_pointer(kind: &str, o: &Value) -> Option<&'static str> {
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
                .find(|p| o.pointer(p).is_some_and(Value::is_object))
        }

        pub(super) fn images(kind: &str, o: &Value) -> Vec<ContainerImage> {
            let Some(prefix) = pod_spec_pointer(kind, o) else {
                return Vec::new();
            };
            let mut out = Vec::new();
            for ck in [
                ContainerKind::Container,
                ContainerKind::Init,
                ContainerKind::Ephemeral,
            ] {
                let field = format!("{prefix}/{}", ck.field());
                for (i, c) in o
                    .pointer(&field)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    if let Some(image) = c.get("image").and_then(Value::as_str) {
                        out.push(ContainerImage {
                            name: c
                                .get("name")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .into(),
                            image: image.into(),
                            kind: ck,
                            pointer: format!("{field}/{i}/image"),
                            run_as: {
                                let pod_ctx = o.pointer(&format!("{prefix}/securityContext"));
                                let own = c.get("securityContext");
                                let at = |ctx: Option<&Value>, k: &str| {
                                    ctx.and_then(|x| x.get(k)).cloned().unwrap_or(Value::Null)
                                };
                                portcullis_policy::RunAs {
                                    non_root: at(own, "runAsNonRoot").as_bool().or(at(
                                        pod_ctx,
                                        "runAsNonRoot",
                                    )
                                    .as_bool()),
                                    user: at(own, "runAsUser").as_i64().or(at(
                                        pod_ctx,
                                        "runAsUser",
                                    )
                                    .as_i64()),
                                }
                            },
                        });
                    }
                }
            }
            out
        }

        pub(super) fn readings(kind: &str, o: &Value) -> Readings {
            let pod = pod_spec_pointer(kind, o);
            let mut labels = string_map(o.pointer("/metadata/labels"));
            if let Some(t) = pod
                .and_then(|p| p.strip_suffix("/spec"))
                .filter(|t| !t.is_empty())
            {
                labels.extend(string_map(o.pointer(&format!("{t}/metadata/labels"))));
            }
            let images = images(kind, o);
            let mut set: Vec<String> = images.iter().map(|c| c.image.clone()).collect();
            set.sort();
            set.dedup();
            Readings {
                images,
                image_set: set,
                labels,
                pull_secrets: pod
                    .and_then(|p| o.pointer(&format!("{p}/imagePullSecrets")))
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.get("name").and_then(Value::as_str).map(String::from))
                    .collect(),
                service_account: pod
                    .and_then(|p| str_at(o, &format!("{p}/serviceAccountName")))
                    .filter(|s| !s.is_empty())
                    .unwrap_or("default")
                    .into(),
                controlled: o
                    .pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|r| {
                        r.iter()
                            .any(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
                    }),
                pod_spec: pod,
                name: str_at(o, "/metadata/name").map(String::from),
                namespace: str_at(o, "/metadata/namespace").map(String::from),
            }
        }
    }

    /// Everything a decision reads of an object.
    #[derive(Debug, PartialEq)]
    struct Readings {
        images: Vec<ContainerImage>,
        image_set: Vec<String>,
        labels: BTreeMap<String, String>,
        pull_secrets: Vec<String>,
        service_account: String,
        controlled: bool,
        pod_spec: Option<&'static str>,
        name: Option<String>,
        namespace: Option<String>,
    }

    fn readings(kind: &str, o: &Object) -> Readings {
        let pod = o.pod(kind);
        Readings {
            images: object_images(pod.as_ref()),
            image_set: image_set(kind, o),
            labels: labels(o, pod.as_ref()),
            pull_secrets: pull_secret_names(pod.as_ref()),
            service_account: service_account(pod.as_ref()),
            controlled: o.has_controller(),
            pod_spec: pod.map(|p| p.pointer),
            name: o.metadata.name.clone(),
            namespace: o.metadata.namespace.clone(),
        }
    }

    /// The object as the webhook reads it from JSON text.
    fn parse(text: &str) -> Option<Object> {
        read_object(&mut serde_json::Deserializer::from_str(text)).unwrap()
    }

    /// Reads `text` as the webhook does and checks it against the reference reading of its
    /// JSON tree; also read from the tree, and from the object written back as JSON.
    fn check_text(kind: &str, text: &str) -> Object {
        let tree: Value = serde_json::from_str(text).unwrap();
        let o = parse(text).unwrap_or_else(|| panic!("{kind}: no object read from {text}"));
        assert_eq!(
            readings(kind, &o),
            by_pointer::readings(kind, &tree),
            "{kind}: {text}"
        );
        assert_eq!(
            Object::from_value(&tree).as_ref(),
            Some(&o),
            "from the tree: {text}"
        );
        let written = serde_json::to_value(&o).unwrap();
        assert_eq!(
            by_pointer::readings(kind, &written),
            by_pointer::readings(kind, &tree),
            "{kind}: written as {written}"
        );
        assert_eq!(
            Object::from_value(&written).as_ref(),
            Some(&o),
            "{kind}: written as {written}"
        );
        o
    }

    fn check(kind: &str, o: &Value) -> Object {
        check_text(kind, &o.to_string())
    }

    #[test]
    fn objects_read_as_the_pointer_walk_and_drop_the_rest() {
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
        for (kind, o) in [
            ("Pod", &pod),
            ("Deployment", &deployment),
            ("CronJob", &cronjob),
            ("Rollout", &custom),
            ("Job", &cronjob),
            ("Pod", &deployment),
        ] {
            let read = check(kind, o);
            let text = serde_json::to_string(&read).unwrap();
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
        let r = readings("Deployment", &check("Deployment", &deployment));
        assert_eq!(r.pod_spec, Some("/spec/template/spec"));
        assert_eq!(r.images.len(), 4, "{:?}", r.images);
        assert_eq!(
            r.images[1].pointer,
            "/spec/template/spec/containers/2/image"
        );
        assert_eq!(r.labels.get("pod").map(String::as_str), Some("yes"));
        assert_eq!(r.service_account, "builder");
        assert!(r.controlled);
    }

    /// Fields of the wrong JSON type read as absent, as `Value::as_*` reads them, and never
    /// fail the review.
    #[test]
    fn odd_objects_read_leniently() {
        for (kind, o) in [
            (
                "Pod",
                json!({"metadata": {"labels": "not a map", "name": 3},
                           "spec": {"containers": {"not": "a list"}, "imagePullSecrets": 3}}),
            ),
            (
                "Pod",
                json!({"metadata": {"labels": {"a": "1", "n": 2, "b": null, "c": ["x"]},
                                        "ownerReferences": [7, {"controller": "true"}, {"controller": true}]},
                           "spec": {"containers": [1, null, {"image": 5}, {"name": 9, "image": "x"}, []],
                                    "imagePullSecrets": [{"name": 1}, "s", {"name": "ok"}],
                                    "serviceAccountName": ""}}),
            ),
            ("Pod", json!({"metadata": null, "spec": null})),
            ("Pod", json!({"metadata": [], "spec": [{"containers": []}]})),
            (
                "Deployment",
                json!({"spec": {"template": "x", "jobTemplate": {"spec": {"template":
                                  {"metadata": {"labels": {"t": "1"}}, "spec": {"containers": [{"image": "j"}]}}}}}}),
            ),
            ("Deployment", json!({"spec": {"template": {"spec": null}}})),
            (
                "CronJob",
                json!({"spec": {"jobTemplate": {"spec": {"template": {"metadata": 1, "spec": {}}}}}}),
            ),
            ("ConfigMap", json!({"data": {"spec": "x"}})),
            (
                "Pod",
                json!({"spec": {"containers": [{"image": "a", "name": "n", "image": 1.5}]}}),
            ),
            (
                "Pod",
                json!({"spec": {"containers": [{"image": "\u{e9}\"\\/x"}], "serviceAccountName": "sa\n"}}),
            ),
        ] {
            check(kind, &o);
        }
        // Duplicate keys: the last one wins, as in a JSON tree.
        for text in [
            r#"{"metadata":{"name":"a","name":"b","labels":{"k":"1","k":2}},"spec":{"containers":[{"image":"x"}],"containers":[{"image":"y"}]}}"#,
            r#"{"metadata":{"labels":{"k":1,"k":"2"}},"spec":{"serviceAccountName":"a","serviceAccountName":null}}"#,
        ] {
            check_text("Pod", text);
        }
        for not_an_object in ["null", "3", "\"pod\"", "[{}]", "true"] {
            assert_eq!(parse(not_an_object), None, "{not_an_object}");
            assert_eq!(
                Object::from_value(&serde_json::from_str(not_an_object).unwrap()),
                None
            );
        }
        assert!(read_object(&mut serde_json::Deserializer::from_str("{\"spec\": [")).is_err());
    }

    /// Random objects shaped like workloads, where any field may instead hold a value of
    /// another JSON type: the typed reading always agrees with the pointer walk.
    mod random {
        use super::*;
        use proptest::prelude::*;

        /// Any JSON leaf, or a small list or map: what a field of the wrong type holds.
        fn odd() -> BoxedStrategy<Value> {
            prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                (-2i64..3).prop_map(Value::from),
                Just(json!([])),
                Just(json!(["x"])),
                Just(json!({"other": 1})),
            ]
            .boxed()
        }

        /// Mostly `good`, sometimes a value of another type.
        fn or_odd(good: BoxedStrategy<Value>) -> BoxedStrategy<Value> {
            prop_oneof![5 => good, 1 => odd()].boxed()
        }

        fn text() -> BoxedStrategy<Value> {
            or_odd(
                prop::sample::select(vec!["", "a", "b", "r/x:1", "r/y@sha256:00"])
                    .prop_map(Value::from)
                    .boxed(),
            )
        }

        /// An object with each named field present or not.
        fn object(fields: Vec<(&'static str, BoxedStrategy<Value>)>) -> BoxedStrategy<Value> {
            let (names, values): (Vec<_>, Vec<_>) = fields
                .into_iter()
                .map(|(n, v)| (n, prop::option::weighted(0.7, v)))
                .unzip();
            values
                .prop_map(move |vs| {
                    Value::Object(
                        names
                            .iter()
                            .zip(vs)
                            .filter_map(|(n, v)| Some((n.to_string(), v?)))
                            .collect(),
                    )
                })
                .boxed()
        }

        fn list(item: BoxedStrategy<Value>) -> BoxedStrategy<Value> {
            or_odd(
                prop::collection::vec(item, 0..4)
                    .prop_map(Value::Array)
                    .boxed(),
            )
        }

        fn metadata() -> BoxedStrategy<Value> {
            let labels = or_odd(
                prop::collection::btree_map(
                    prop::sample::select(vec!["app", "tier"]),
                    text(),
                    0..3,
                )
                .prop_map(|m| json!(m))
                .boxed(),
            );
            let owner = or_odd(object(vec![
                (
                    "controller",
                    or_odd(any::<bool>().prop_map(Value::Bool).boxed()),
                ),
                ("kind", text()),
            ]));
            or_odd(object(vec![
                ("name", text()),
                ("namespace", text()),
                ("labels", labels),
                ("ownerReferences", list(owner)),
                ("annotations", odd()),
            ]))
        }

        /// A spec: a pod spec's fields, and templates holding specs, `depth` levels down.
        fn spec(depth: u32) -> BoxedStrategy<Value> {
            let container = or_odd(object(vec![
                ("name", text()),
                ("image", text()),
                ("env", odd()),
            ]));
            let secret = or_odd(object(vec![("name", text())]));
            let mut fields = vec![
                ("containers", list(container.clone())),
                ("initContainers", list(container.clone())),
                ("ephemeralContainers", list(container)),
                ("imagePullSecrets", list(secret)),
                ("serviceAccountName", text()),
            ];
            if depth > 0 {
                let template = or_odd(object(vec![
                    ("metadata", metadata()),
                    ("spec", spec(depth - 1)),
                ]));
                fields.push(("template", template.clone()));
                fields.push(("jobTemplate", template));
            }
            or_odd(object(fields))
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(3000))]
            #[test]
            fn typed_reading_agrees_with_the_pointer_walk(
                kind in prop::sample::select(vec!["Pod", "CronJob", "Deployment", "Rollout"]),
                tree in object(vec![("metadata", metadata()), ("spec", spec(3)), ("status", odd())]),
            ) {
                let o = parse(&tree.to_string()).expect("an object reads as an object");
                prop_assert_eq!(readings(kind, &o), by_pointer::readings(kind, &tree));
                prop_assert_eq!(Object::from_value(&tree), Some(o));
            }
        }
    }

    /// The real AdmissionReview samples: every object reads as the pointer walk reads it.
    #[test]
    fn sample_objects_read_as_the_pointer_walk() {
        let Some(dir) = portcullis_test_support::testdata("admission") else {
            return;
        };
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
                        check(kind, o);
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked >= 20, "only {checked} sample objects");
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
        let obj = Object::from_value(
            &json!({"metadata": {"labels": {"a": "1", "b": "1"}}, "spec": {"template": {
            "metadata": {"labels": {"b": "2"}},
            "spec": {"containers": [{"image": "x"}], "imagePullSecrets": [{"name": "s"}]}}}}),
        )
        .unwrap();
        assert_eq!(image_set("MyCustomWorkload", &obj), vec!["x".to_string()]);
        let pod = obj.pod("MyCustomWorkload");
        let l = labels(&obj, pod.as_ref());
        assert_eq!(l.get("a").map(String::as_str), Some("1"));
        assert_eq!(l.get("b").map(String::as_str), Some("2"));
        assert_eq!(pull_secret_names(pod.as_ref()), vec!["s".to_string()]);
        assert_eq!(service_account(pod.as_ref()), "default");
        assert!(images("ConfigMap", &json!({"data": {}})).is_empty());
    }

    #[test]
    fn controller_owner_only() {
        let controlled = |v: Value| Object::from_value(&v).unwrap().has_controller();
        assert!(controlled(
            json!({"metadata": {"ownerReferences": [{"kind": "ReplicaSet", "controller": true}]}})
        ));
        assert!(!controlled(
            json!({"metadata": {"ownerReferences": [{"kind": "ReplicaSet"}]}})
        ));
        assert!(!controlled(json!({"metadata": {}})));
    }
}
