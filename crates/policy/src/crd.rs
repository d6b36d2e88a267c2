//! The `ContainerAdmissionPolicy` resource as written by people, and its CRD.
//!
//! These types are the wire shape only: strings stay strings here, and
//! [`ContainerAdmissionPolicy::validate`](crate::ContainerAdmissionPolicy::validate) turns a
//! policy into a checked [`Policy`](crate::Policy) (compiled regexes, parsed selectors). The
//! field names are Calico's (`imagePath`, `imageScanStatus`, `imageLastScan`), so a Calico
//! policy carries over by changing its `apiVersion`; `maxCVSSScore`, `vulnerabilityIds` and
//! `mode` are Portcullis additions.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use portcullis_core::Status;

/// API group of Portcullis' resources.
pub const GROUP: &str = "containersecurity.portcullis.dev";
/// `apiVersion` of a `ContainerAdmissionPolicy`.
pub const API_VERSION: &str = "containersecurity.portcullis.dev/v1";
/// Calico's `apiVersion` for the same kind; accepted on input so Calico policies load as is.
pub const CALICO_API_VERSION: &str = "containersecurity.tigera.io/v1beta1";
/// The kind of a policy.
pub const KIND: &str = "ContainerAdmissionPolicy";
/// The kind of a vulnerability exception.
pub const EXCEPTION_KIND: &str = "ContainerVulnerabilityException";

fn default_api_version() -> String {
    API_VERSION.to_string()
}

fn default_kind() -> String {
    KIND.to_string()
}

fn default_exception_kind() -> String {
    EXCEPTION_KIND.to_string()
}

fn default_selector() -> String {
    "all()".to_string()
}

/// A cluster-scoped policy: an ordered list of rules for the containers of the workloads
/// whose labels match `selector`, in namespaces whose labels match `namespaceSelector`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerAdmissionPolicy {
    /// `containersecurity.portcullis.dev/v1`.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// `ContainerAdmissionPolicy`.
    #[serde(default = "default_kind")]
    pub kind: String,
    /// Object metadata; only the name is used.
    pub metadata: ObjectMeta,
    /// The policy itself.
    pub spec: PolicySpec,
}

/// The part of Kubernetes object metadata a policy uses. Other metadata fields (labels,
/// annotations, uid ...) are accepted and ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ObjectMeta {
    /// The policy name: ties between equal `order` values are broken by it, and messages cite it.
    pub name: String,
}

/// What a policy applies to and its rules.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicySpec {
    /// Precedence: the policy with the lowest order is applied first; a policy without an
    /// order comes after all that have one. Ties are broken by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<f64>,
    /// Selects the workloads (by their pod template labels) the policy applies to.
    #[serde(default = "default_selector")]
    pub selector: String,
    /// Selects the namespaces (by their labels) the policy applies to.
    #[serde(default = "default_selector")]
    pub namespace_selector: String,
    /// `Audit` reports what the policy would reject without rejecting; default `Enforce`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Rules, tried in order; the first whose criteria all match decides.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// Whether rejections are enforced or only reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Mode {
    /// Rejections reject the object.
    #[default]
    Enforce,
    /// Rejections are reported (as warnings and audit records) and the object is admitted.
    Audit,
}

/// What a rule does when all its criteria match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Action {
    /// Admit the image.
    Allow,
    /// Reject the image (and so the object that runs it).
    Reject,
}

impl Action {
    /// The name as policies spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "Allow",
            Action::Reject => "Reject",
        }
    }
}

/// One rule: an action and criteria that must all match. A rule without criteria matches
/// every image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    /// A name for the rule, shown in decisions and metrics instead of its position (1 for the
    /// first rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `Allow` or `Reject`.
    pub action: Action,
    /// Regular expressions searched for in the image reference as written in the pod spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_path: Option<StringMatch>,
    /// Scan status of the image. An image without a scan result has no status: `IsOneOf`
    /// never matches it and `IsNoneOf` always does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_scan_status: Option<StatusMatch>,
    /// When the image was last scanned. An image never scanned matches neither operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_last_scan: Option<TimeMatch>,
    /// The highest CVSS base score among the image's counted vulnerabilities. A scanned image
    /// without counted vulnerabilities scores 0; an unscanned image, or one whose
    /// vulnerabilities carry no score, matches no operator.
    #[serde(
        default,
        rename = "maxCVSSScore",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_cvss_score: Option<ScoreMatch>,
    /// Vulnerability ids (any alias counts, case-insensitive) among the image's counted
    /// vulnerabilities. An unscanned image matches neither operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vulnerability_ids: Option<StringMatch>,
    /// Cosign signatures: matches when the image's digest carries valid signatures by at
    /// least `count` of the keys, verified offline (`Allow` with this, then a `Reject`
    /// without criteria, admits only signed images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<SignatureMatch>,
    /// A signed in-toto attestation: matches when one of `predicateType`, signed by one of
    /// the keys and naming the image's digest, is newer than `maxAge`. The rule's scan
    /// criteria (`imageScanStatus`, `maxCVSSScore`, `vulnerabilityIds`, `imageLastScan`) then
    /// read the attested scan instead of one made at admission, so a pipeline that scans and
    /// signs spares the cluster the scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation: Option<AttestationMatch>,
    /// What the image config says about how its containers run; every given field must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_config: Option<ImageConfigMatch>,
    /// The age of the vulnerability data the scan used: the oldest import among the sources
    /// covering the image's packages (the DB's build time when none covers them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed_age: Option<AgeMatch>,
}

/// A signature criterion: signatures by keys, by certificates chained to given roots, or
/// both (each verified signer counts once).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignatureMatch {
    /// PEM public keys (`cosign.pub`): ECDSA P-256/P-384, Ed25519 or RSA; or a Secret holding
    /// one as `k8s://NAMESPACE/NAME` (its `cosign.pub` entry, read in a cluster).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    /// Signatures by certificate (`cosign sign --certificate ... --certificate-chain ...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificates: Option<CertificateMatch>,
    /// How many distinct signers (keys, certificate identities) must each have signed the
    /// image (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub count: Option<usize>,
}

/// Who may sign by certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CertificateMatch {
    /// PEM root certificates the signer's certificate must chain to (with the code-signing
    /// extended key usage, valid at the time of the decision).
    #[schemars(length(min = 1))]
    pub roots: Vec<String>,
    /// Regular expressions searched for in the signer's identity (the certificate's e-mail
    /// or URI subject alternative name); one must match.
    #[schemars(length(min = 1))]
    pub subjects: Vec<String>,
    /// OIDC issuers a Fulcio certificate must name (none: any, and certificates without one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issuers: Vec<String>,
    /// Transparency-log (Rekor) public keys, PEM. With them a signature must carry a Rekor
    /// bundle the log signed for this payload, signature and certificate, and the chain is
    /// checked at the time the log recorded it: keyless signing with Fulcio's short-lived
    /// certificates, verified offline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rekor_keys: Vec<String>,
}

/// An attestation criterion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttestationMatch {
    /// PEM public keys, as for `signature`.
    #[schemars(length(min = 1))]
    pub keys: Vec<String>,
    /// The in-toto predicate type: a URI, or cosign's short names (`vuln`, `cyclonedx`,
    /// `spdxjson`).
    pub predicate_type: String,
    /// How old the attested content may be (`3d`, `12h`), by the time the predicate gives
    /// (a scan's `scanFinishedOn`); none: any age.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<String>,
}

/// Criteria on the image config. A pod's `securityContext` (`runAsNonRoot`, `runAsUser`,
/// pod-level or per container) overrides the config's user.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageConfigMatch {
    /// `true` matches images whose containers run as root (config `User` empty, `0` or
    /// `root`, and no pod setting making them non-root); `false` the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_root: Option<bool>,
    /// The config's exposed ports (`22/tcp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<StringMatch>,
    /// Regular expressions searched for in the names of the config's environment variables
    /// (`(?i)(password|secret|token|api_?key)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_names: Option<StringMatch>,
    /// Matches images created longer ago than this (`90d`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub older_than: Option<String>,
}

/// An age comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum AgeOperator {
    /// Older than the duration.
    #[serde(rename = "gt")]
    Gt,
    /// Younger than the duration.
    #[serde(rename = "lt")]
    Lt,
}

/// An age criterion: an operator and a duration (`7d`, `12h`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgeMatch {
    /// `gt` (older than) or `lt` (younger than).
    pub operator: AgeOperator,
    /// The duration (`7d`).
    pub duration: String,
}

/// Membership test against a list of values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum SetOperator {
    /// Matches when one of the values matches.
    IsOneOf,
    /// Matches when none of the values matches.
    IsNoneOf,
}

/// A string criterion: an operator and its values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StringMatch {
    /// `IsOneOf` or `IsNoneOf`.
    pub operator: SetOperator,
    /// The values (at least one).
    #[schemars(length(min = 1))]
    pub values: Vec<String>,
}

// The status names a policy may use: `portcullis_core::Status` for the schema.
#[derive(JsonSchema)]
#[allow(dead_code)]
enum StatusName {
    Pass,
    Warn,
    Fail,
}

/// A scan-status criterion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusMatch {
    /// `IsOneOf` or `IsNoneOf`.
    pub operator: SetOperator,
    /// `Pass`, `Warn` or `Fail` (at least one).
    #[schemars(with = "Vec<StatusName>", length(min = 1))]
    pub values: Vec<Status>,
}

/// Comparison of the last scan time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum TimeOperator {
    /// Scanned after the point in time (more recently than `duration` ago).
    #[serde(rename = "gt")]
    Gt,
    /// Scanned before the point in time (longer than `duration` ago).
    #[serde(rename = "lt")]
    Lt,
}

/// A last-scan criterion against either a duration into the past or an absolute time (one
/// of the two, not both). As in Calico, `gt` with `duration: {days: 3}` matches an image
/// scanned 2 days ago and not one scanned 4 days ago; `gt` with `time: T` matches a scan
/// after T.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeMatch {
    /// `gt` or `lt`.
    pub operator: TimeOperator,
    /// How far into the past from now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<ScanAge>,
    /// An RFC 3339 time (`2022-01-02T00:00:00Z`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

/// A calendar duration into the past: years and months are calendar months (the day is
/// clamped to the month's length), then days are subtracted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanAge {
    /// Days (non-negative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub days: Option<i64>,
    /// Months (non-negative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub months: Option<i64>,
    /// Years (non-negative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub years: Option<i64>,
}

/// Comparison of a CVSS score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ScoreOperator {
    /// Greater than.
    #[serde(rename = "gt")]
    Gt,
    /// Greater than or equal.
    #[serde(rename = "gte")]
    Gte,
    /// Less than.
    #[serde(rename = "lt")]
    Lt,
    /// Less than or equal.
    #[serde(rename = "lte")]
    Lte,
}

impl ScoreOperator {
    /// The operator as policies spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            ScoreOperator::Gt => "gt",
            ScoreOperator::Gte => "gte",
            ScoreOperator::Lt => "lt",
            ScoreOperator::Lte => "lte",
        }
    }
}

/// A CVSS criterion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoreMatch {
    /// `gt`, `gte`, `lt` or `lte`.
    pub operator: ScoreOperator,
    /// A CVSS base score, 0 to 10.
    #[schemars(range(min = 0, max = 10))]
    pub value: f64,
}

/// A cluster-scoped exception: a vulnerability that does not count toward the status of the
/// images in its scope. The spec has the fields of `portcullis_core::Exception`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerVulnerabilityException {
    /// `containersecurity.portcullis.dev/v1`.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// `ContainerVulnerabilityException`.
    #[serde(default = "default_exception_kind")]
    pub kind: String,
    /// Object metadata; only the name is used.
    pub metadata: ObjectMeta,
    /// The exception.
    pub spec: ExceptionSpec,
}

/// Scope of an exception (mirrors `portcullis_core::ExceptionScope`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExceptionScopeName {
    /// Every image.
    #[default]
    Any,
    /// Images of one registry + repository (any tag).
    Repository,
    /// Images of one registry + repository with the listed tags.
    Image,
}

/// The spec of an exception: the fields of `portcullis_core::Exception`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExceptionSpec {
    /// Vulnerability id (any alias matches).
    pub id: String,
    /// Where it applies: `any`, `repository` or `image`.
    #[serde(default)]
    pub scope: ExceptionScopeName,
    /// Registry host, for repository and image scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// Repository path, for repository and image scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Tags, for the image scope.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Why it is acceptable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    /// RFC 3339 date or time after which the exception no longer applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// The exception a spec describes; fails with the `expires` text when it is neither an RFC 3339
/// time nor a date.
impl TryFrom<ExceptionSpec> for portcullis_core::Exception {
    type Error = String;

    fn try_from(s: ExceptionSpec) -> Result<Self, String> {
        let expires = match s.expires {
            Some(x) => Some(portcullis_core::Expiry::parse(&x).map_err(|_| x)?),
            None => None,
        };
        Ok(portcullis_core::Exception {
            id: s.id,
            scope: match s.scope {
                ExceptionScopeName::Any => portcullis_core::ExceptionScope::Any,
                ExceptionScopeName::Repository => portcullis_core::ExceptionScope::Repository,
                ExceptionScopeName::Image => portcullis_core::ExceptionScope::Image,
            },
            registry: s.registry,
            repository: s.repository,
            tags: s.tags,
            justification: s.justification,
            expires,
            created_by: None,
            created: None,
        })
    }
}

/// The CustomResourceDefinition of `ContainerAdmissionPolicy`, as YAML ready for
/// `kubectl apply`. The schema is generated from [`PolicySpec`], so it cannot drift from
/// what the webhook parses.
pub fn crd_yaml() -> String {
    let printer_columns = json!([
        {"name": "Order", "type": "number", "jsonPath": ".spec.order"},
        {"name": "Mode", "type": "string", "jsonPath": ".spec.mode"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]);
    custom_resource_definition(
        "containeradmissionpolicies",
        KIND,
        "containeradmissionpolicy",
        &["cap"],
        spec_schema::<PolicySpec>(),
        printer_columns,
    )
}

/// The CustomResourceDefinition of `ContainerVulnerabilityException`, as YAML.
pub fn exception_crd_yaml() -> String {
    let printer_columns = json!([
        {"name": "Id", "type": "string", "jsonPath": ".spec.id"},
        {"name": "Scope", "type": "string", "jsonPath": ".spec.scope"},
        {"name": "Expires", "type": "string", "jsonPath": ".spec.expires"},
    ]);
    custom_resource_definition(
        "containervulnerabilityexceptions",
        EXCEPTION_KIND,
        "containervulnerabilityexception",
        &["cve"],
        spec_schema::<ExceptionSpec>(),
        printer_columns,
    )
}

/// The CustomResourceDefinition (YAML) of a cluster-scoped kind of Portcullis' group, version
/// `v1`, whose spec has the schema `spec` ([`spec_schema`]): one place makes every CRD, so
/// they share their shape (required spec, printer columns, sorted keys).
pub fn custom_resource_definition(
    plural: &str,
    kind: &str,
    singular: &str,
    short_names: &[&str],
    spec: Value,
    printer_columns: Value,
) -> String {
    let root = json!({
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
        },
    });
    let mut crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{GROUP}")},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind,
                "listKind": format!("{kind}List"),
                "plural": plural,
                "singular": singular,
                "shortNames": short_names,
            },
            "scope": "Cluster",
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "schema": {"openAPIV3Schema": root},
                "additionalPrinterColumns": printer_columns,
            }],
        },
    });
    sort_keys(&mut crd);
    to_yaml(&crd)
}

fn to_yaml(v: &Value) -> String {
    // Serialising a JSON value cannot fail: every map key is a string.
    serde_saphyr::to_string(v).unwrap_or_default()
}

/// Sorts every map by key so the output is the same whether or not serde_json keeps
/// insertion order (a feature another crate of the build may switch on).
fn sort_keys(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            for (k, mut val) in entries {
                sort_keys(&mut val);
                map.insert(k, val);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(sort_keys),
        _ => {}
    }
}

/// The schema of `T` in the structural OpenAPI v3 subset Kubernetes accepts.
/// The Kubernetes structural schema of `T` (an OpenAPI 3 schema with subschemas inlined, in the
/// subset the API server accepts).
pub fn spec_schema<T: JsonSchema>() -> Value {
    let settings = schemars::generate::SchemaSettings::openapi3().with(|s| {
        s.inline_subschemas = true;
        s.meta_schema = None;
    });
    let schema = settings.into_generator().into_root_schema_for::<T>();
    let mut v = schema.to_value();
    structural(&mut v);
    v
}

/// Rewrites a schemars (OpenAPI 3) schema into a Kubernetes structural schema:
/// - drops `$schema`, `title`, `definitions`/`$defs`/`components` (subschemas are inlined),
/// - drops `additionalProperties: false` (Kubernetes forbids it beside `properties`; unknown
///   fields are pruned by the API server instead),
/// - turns `oneOf`/`anyOf` lists of single-value enums into one `enum` with a `type`,
/// - keeps only formats Kubernetes knows,
/// - drops `default` values that are `null`.
fn structural(v: &mut Value) {
    let Value::Object(map) = v else {
        if let Value::Array(items) = v {
            items.iter_mut().for_each(structural);
        }
        return;
    };
    for key in [
        "$schema",
        "title",
        "definitions",
        "$defs",
        "components",
        "examples",
        "example",
    ] {
        map.remove(key);
    }
    if map.get("additionalProperties") == Some(&Value::Bool(false)) {
        map.remove("additionalProperties");
    }
    if map.get("default") == Some(&Value::Null) {
        map.remove("default");
    }
    for key in ["anyOf", "oneOf"] {
        // `Option<Enum>` comes out as `anyOf: [<enum>, <null>]`: drop the null alternative
        // (the field is optional anyway) and lift a lone remaining one into this schema.
        if let Some(Value::Array(alternatives)) = map.get_mut(key) {
            let before = alternatives.len();
            alternatives.retain(|a| !is_null_schema(a));
            let had_null = alternatives.len() != before;
            if alternatives.len() == 1
                && let Some(Value::Object(only)) = map
                    .remove(key)
                    .and_then(|v| v.as_array().and_then(|a| a.first().cloned()))
            {
                for (k, val) in only {
                    map.entry(k).or_insert(val);
                }
            }
            if had_null {
                map.insert("nullable".into(), Value::Bool(true));
            }
        }
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(merged) = map.get(key).and_then(merge_const_variants) {
            map.remove(key);
            for (k, val) in merged {
                map.entry(k).or_insert(val);
            }
        }
    }
    let string_enum = matches!(map.get("enum"), Some(Value::Array(values)) if values.iter().all(Value::is_string));
    if string_enum && !map.contains_key("type") {
        map.insert("type".into(), Value::String("string".into()));
    }
    let known_format = |f: &str| {
        matches!(
            f,
            "int32" | "int64" | "float" | "double" | "date-time" | "date" | "byte"
        )
    };
    if matches!(map.get("format"), Some(Value::String(f)) if !known_format(f)) {
        map.remove("format");
    }
    for (key, val) in map.iter_mut() {
        // `properties` maps field names to schemas; everything else holding objects or
        // arrays is itself a schema or a list of schemas.
        if key == "properties" {
            if let Value::Object(props) = val {
                props.values_mut().for_each(structural);
            }
        } else if key != "enum" && key != "required" && key != "default" {
            structural(val);
        }
    }
}

/// A schema that admits only `null`.
fn is_null_schema(v: &Value) -> bool {
    let Some(obj) = v.as_object() else {
        return false;
    };
    obj.get("type") == Some(&Value::String("null".into()))
        || obj.get("const") == Some(&Value::Null)
        || obj.get("enum") == Some(&Value::Array(vec![Value::Null]))
}

/// When every alternative is `{enum: [x]}` or `{const: x}` (schemars' form for documented
/// unit variants), the single `enum` listing them all.
fn merge_const_variants(alternatives: &Value) -> Option<Map<String, Value>> {
    let items = alternatives.as_array()?;
    let mut values = Vec::new();
    let mut descriptions = Vec::new();
    for item in items {
        let obj = item.as_object()?;
        let value = match (obj.get("const"), obj.get("enum")) {
            (Some(c), _) => c.clone(),
            (None, Some(Value::Array(e))) if e.len() == 1 => e[0].clone(),
            _ => return None,
        };
        if let (Some(name), Some(Value::String(d))) = (value.as_str(), obj.get("description")) {
            descriptions.push(format!("{name}: {d}"));
        }
        values.push(value);
    }
    let mut out = Map::new();
    if values.iter().all(Value::is_string) {
        out.insert("type".into(), Value::String("string".into()));
    }
    out.insert("enum".into(), Value::Array(values));
    if !descriptions.is_empty() {
        out.insert("description".into(), Value::String(descriptions.join("; ")));
    }
    Some(out)
}
