//! The `AdmissionReview` wire types, `admission.k8s.io/v1` and `v1beta1`.
//!
//! Our own small serde types rather than kube/k8s-openapi: the webhook reads a handful of
//! fields and passes the objects on as JSON, so a full Kubernetes type tree would only add
//! build time. Unknown fields are accepted (the API server adds new ones over time).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::workload::Object;

/// The `apiVersion` of `admission.k8s.io/v1` reviews.
pub const API_V1: &str = "admission.k8s.io/v1";
/// The `apiVersion` of `admission.k8s.io/v1beta1` reviews (Kubernetes before 1.16 and some
/// proxies still send it; the answer must carry the same version).
pub const API_V1BETA1: &str = "admission.k8s.io/v1beta1";
/// The `kind` of every review.
pub(crate) const REVIEW_KIND: &str = "AdmissionReview";

/// An AdmissionReview, request or response side.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionReview {
    /// `admission.k8s.io/v1` or `admission.k8s.io/v1beta1`.
    #[serde(default)]
    pub api_version: String,
    /// Always `AdmissionReview`.
    #[serde(default)]
    pub kind: String,
    /// Set by the API server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<AdmissionRequest>,
    /// Set by the webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<AdmissionResponse>,
}

/// Group, version and kind of an object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupVersionKind {
    /// API group, empty for the core group.
    #[serde(default)]
    pub group: String,
    /// API version (`v1`).
    #[serde(default)]
    pub version: String,
    /// Kind (`Pod`, `Deployment` ...).
    #[serde(default)]
    pub kind: String,
}

/// Group, version and resource of an object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupVersionResource {
    /// API group, empty for the core group.
    #[serde(default)]
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Resource (`pods`, `deployments` ...).
    #[serde(default)]
    pub resource: String,
}

/// The operation being admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Operation {
    /// Object creation.
    Create,
    /// Object update.
    Update,
    /// Object deletion.
    Delete,
    /// `exec`, `attach`, `port-forward` ... on a pod.
    Connect,
}

impl Operation {
    /// The wire spelling, for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        }
    }
}

/// Who made the request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// User name.
    #[serde(default)]
    pub username: String,
    /// User uid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Extra authenticator data.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Vec<String>>,
}

/// The request half of a review.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest {
    /// Identifies this admission call; the response must echo it.
    pub uid: String,
    /// Kind of the object.
    #[serde(default)]
    pub kind: GroupVersionKind,
    /// Resource being requested.
    #[serde(default)]
    pub resource: GroupVersionResource,
    /// Subresource (`status`, `exec` ...), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_resource: Option<String>,
    /// Name of the object, when known (not for generated names on CREATE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Namespace, absent for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The operation.
    pub operation: Operation,
    /// Who asked.
    #[serde(default)]
    pub user_info: UserInfo,
    /// The object as it will be (CREATE, UPDATE), or CONNECT's options: only the parts a
    /// decision reads (see [`Object`]), the rest is skipped while parsing. `None` when absent
    /// or not a JSON object.
    #[serde(
        default,
        deserialize_with = "crate::workload::read_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub object: Option<Object>,
    /// The object as it was (UPDATE, DELETE), the same parts as `object`.
    #[serde(
        default,
        deserialize_with = "crate::workload::read_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub old_object: Option<Object>,
    /// True when the request will not be persisted: the webhook must have no side effects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    /// Operation options (`CreateOptions` ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Value>,
}

/// The `status` of a response: why it was denied.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseStatus {
    /// HTTP-like code (403 for a policy denial, 400 for a bad request, 500 for our failures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// The message shown to the user (kubectl prints it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// A machine-readable reason (`Forbidden`, `BadRequest`, `InternalError`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The response half of a review.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionResponse {
    /// The request's uid.
    pub uid: String,
    /// The decision.
    pub allowed: bool,
    /// Why, when denied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ResponseStatus>,
    /// Warnings shown to the user (kubectl prints them) even when allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// `JSONPatch` when `patch` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<String>,
    /// Base64 of a JSON Patch document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    /// Annotations for the audit log.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub audit_annotations: BTreeMap<String, String>,
}

/// One JSON Patch (RFC 6902) operation; the webhook only ever replaces.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchOp {
    /// Always `replace`.
    pub op: String,
    /// JSON pointer of the field.
    pub path: String,
    /// New value.
    pub value: Value,
}

impl AdmissionResponse {
    /// An allowing response for `uid`.
    pub fn allow(uid: impl Into<String>) -> Self {
        AdmissionResponse {
            uid: uid.into(),
            allowed: true,
            ..Default::default()
        }
    }

    /// A denying response with a message shown to the user (code 403, reason `Forbidden`).
    pub fn deny(uid: impl Into<String>, message: impl Into<String>) -> Self {
        Self::refuse(uid, 403, "Forbidden", message)
    }

    /// A denying response for a request we could not read (code 400, reason `BadRequest`).
    pub fn invalid(uid: impl Into<String>, message: impl Into<String>) -> Self {
        Self::refuse(uid, 400, "BadRequest", message)
    }

    /// A denying response with any code and reason.
    pub fn refuse(
        uid: impl Into<String>,
        code: u16,
        reason: &str,
        message: impl Into<String>,
    ) -> Self {
        AdmissionResponse {
            uid: uid.into(),
            allowed: false,
            status: Some(ResponseStatus {
                code: Some(code),
                message: Some(message.into()),
                reason: Some(reason.into()),
            }),
            ..Default::default()
        }
    }

    /// Attaches a JSON Patch (ignored when `ops` is empty, so that an empty patch is never sent).
    pub fn with_patch(mut self, ops: &[PatchOp]) -> Self {
        if ops.is_empty() {
            return self;
        }
        // Serialising a Vec of plain structs of strings and JSON values cannot fail.
        let json = serde_json::to_vec(ops).unwrap_or_default();
        self.patch = Some(base64::engine::general_purpose::STANDARD.encode(json));
        self.patch_type = Some("JSONPatch".into());
        self
    }

    /// The user-facing message, if any.
    pub fn message(&self) -> Option<&str> {
        self.status.as_ref().and_then(|s| s.message.as_deref())
    }

    /// Wraps the response in a review of the given `apiVersion` (answers must be "in kind").
    pub fn into_review(self, api_version: &str) -> AdmissionReview {
        AdmissionReview {
            api_version: api_version.to_string(),
            kind: REVIEW_KIND.into(),
            request: None,
            response: Some(self),
        }
    }

    /// Decodes the patch back into operations (for tests and `policy test` output).
    pub fn patch_ops(&self) -> Option<Vec<PatchOp>> {
        let b64 = self.patch.as_deref()?;
        let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        serde_json::from_slice(&raw).ok()
    }
}

/// A review that could not be read: what went wrong, and the uid and apiVersion to answer
/// with as far as they could be recovered from the raw JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BadReview {
    /// The request uid, or `""` when it could not be found.
    pub(crate) uid: String,
    /// The apiVersion to answer with (v1 when unknown or unsupported).
    pub(crate) api_version: String,
    /// What is wrong, for the user.
    pub(crate) message: String,
}

/// Parses a review body, checking `kind`, `apiVersion` and `request.uid`, and recovering
/// uid and version from the raw JSON when the typed parse fails so the answer can still
/// name them.
pub(crate) fn parse_review(body: &[u8]) -> Result<(String, AdmissionRequest), BadReview> {
    // Well-formed reviews (nearly all) are read straight into their types; only a review
    // that fails that is read again as a JSON tree, to answer with its uid and say exactly
    // what is wrong. Going through the tree every time cost a sixth of the hot path.
    #[derive(Deserialize)]
    struct Envelope {
        #[serde(rename = "apiVersion")]
        api_version: String,
        kind: String,
        request: AdmissionRequest,
    }
    if let Ok(e) = serde_json::from_slice::<Envelope>(body)
        && (e.api_version == API_V1 || e.api_version == API_V1BETA1)
        && e.kind == REVIEW_KIND
        && !e.request.uid.is_empty()
    {
        return Ok((e.api_version, e.request));
    }
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return Err(BadReview {
                uid: String::new(),
                api_version: API_V1.into(),
                message: format!("request body is not JSON: {e}"),
            });
        }
    };
    let uid = value
        .pointer("/request/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let api_version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let answer_version = if api_version == API_V1BETA1 {
        API_V1BETA1
    } else {
        API_V1
    }
    .to_string();
    let bad = |message: String| BadReview {
        uid: uid.clone(),
        api_version: answer_version.clone(),
        message,
    };
    if api_version != API_V1 && api_version != API_V1BETA1 {
        return Err(bad(format!(
            "unsupported apiVersion '{api_version}': expected {API_V1} or {API_V1BETA1}"
        )));
    }
    let kind = value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if kind != REVIEW_KIND {
        return Err(bad(format!(
            "unsupported kind '{kind}': expected {REVIEW_KIND}"
        )));
    }
    let Some(request) = value.get("request") else {
        return Err(bad("the AdmissionReview has no request".into()));
    };
    if uid.is_empty() {
        return Err(bad("the AdmissionReview request has no uid".into()));
    }
    match AdmissionRequest::deserialize(request) {
        Ok(r) => Ok((api_version, r)),
        Err(e) => Err(bad(format!(
            "the AdmissionReview request is malformed: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_bad_with_empty_uid() {
        let e = parse_review(b"{not json").unwrap_err();
        assert_eq!(e.uid, "");
        assert!(e.message.contains("not JSON"), "{}", e.message);
    }

    #[test]
    fn uid_recovered_from_malformed_request() {
        let body = br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u1","operation":"EXPLODE"}}"#;
        let e = parse_review(body).unwrap_err();
        assert_eq!(e.uid, "u1");
        assert_eq!(e.api_version, API_V1BETA1);
        assert!(e.message.contains("malformed"), "{}", e.message);
    }

    #[test]
    fn wrong_kind_and_missing_uid() {
        let e = parse_review(
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"Pod","request":{"uid":"x"}}"#,
        )
        .unwrap_err();
        assert!(e.message.contains("kind 'Pod'"), "{}", e.message);
        let e = parse_review(br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"operation":"CREATE"}}"#)
            .unwrap_err();
        assert!(e.message.contains("no uid"), "{}", e.message);
        let e =
            parse_review(br#"{"apiVersion":"v2","kind":"AdmissionReview","request":{"uid":"x"}}"#)
                .unwrap_err();
        assert!(e.message.contains("apiVersion 'v2'"), "{}", e.message);
        assert_eq!(e.api_version, API_V1);
    }

    #[test]
    fn patch_round_trips() {
        let ops = vec![PatchOp {
            op: "replace".into(),
            path: "/spec/containers/0/image".into(),
            value: "a@sha256:00".into(),
        }];
        let r = AdmissionResponse::allow("u").with_patch(&ops);
        assert_eq!(r.patch_type.as_deref(), Some("JSONPatch"));
        assert_eq!(r.patch_ops().unwrap(), ops);
        assert!(
            AdmissionResponse::allow("u")
                .with_patch(&[])
                .patch
                .is_none()
        );
    }
}
