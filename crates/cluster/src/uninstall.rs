//! Removing the webhook registrations before anything else of a release goes.
//!
//! Helm uninstalls kinds it does not know (webhook configurations among them) last, after the
//! Deployment and Service: for that moment the API server would call a webhook with no pods
//! behind it, and with `failurePolicy: Fail` reject every workload it selects. The chart's
//! `pre-delete` hook runs this first, so a removed Portcullis never blocks a cluster.

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use kube::api::{Api, DeleteParams};

/// Errors of [`remove_webhooks`].
#[derive(Debug, thiserror::Error)]
pub enum UninstallError {
    /// The API server refused or failed a delete (other than the object being gone already).
    #[error("cannot delete {kind} {name}")]
    Delete {
        /// `ValidatingWebhookConfiguration` or `MutatingWebhookConfiguration`.
        kind: &'static str,
        /// The object's name.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

/// Deletes the validating and the mutating webhook configuration called `name`. Returns the
/// kinds that existed and were deleted; one already gone (or never created, as the mutating
/// one when mutation is off) is not an error.
pub async fn remove_webhooks(
    client: kube::Client,
    name: &str,
) -> Result<Vec<&'static str>, UninstallError> {
    let mut removed = Vec::new();
    let validating: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    if delete(&validating, name, "ValidatingWebhookConfiguration").await? {
        removed.push("ValidatingWebhookConfiguration");
    }
    let mutating: Api<MutatingWebhookConfiguration> = Api::all(client);
    if delete(&mutating, name, "MutatingWebhookConfiguration").await? {
        removed.push("MutatingWebhookConfiguration");
    }
    Ok(removed)
}

async fn delete<K>(api: &Api<K>, name: &str, kind: &'static str) -> Result<bool, UninstallError>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
        Err(source) => Err(UninstallError::Delete {
            kind,
            name: name.to_string(),
            source,
        }),
    }
}
