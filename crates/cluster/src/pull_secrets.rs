//! Pull secrets read from the API server, as the kubelet would use them.

use std::future::Future;
use std::pin::Pin;

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::Api;
use portcullis_webhook::{PullSecret, PullSecretSource};

/// Reads pull secrets with `get` (never `list`: the chart's role may read a Secret it is told
/// the name of, not enumerate them). Asked only on a cache miss, so the cost is one or two
/// API calls per inline scan.
pub struct ApiPullSecrets {
    client: kube::Client,
}

impl ApiPullSecrets {
    /// A source using `client`.
    pub fn new(client: kube::Client) -> ApiPullSecrets {
        ApiPullSecrets { client }
    }

    async fn lookup(
        &self,
        namespace: &str,
        service_account: &str,
        names: &[String],
    ) -> Vec<PullSecret> {
        // The pod's own secrets first, then its service account's (the kubelet's order).
        let mut wanted: Vec<String> = names.to_vec();
        let accounts: Api<ServiceAccount> = Api::namespaced(self.client.clone(), namespace);
        match accounts.get_opt(service_account).await {
            Ok(Some(sa)) => wanted.extend(
                sa.image_pull_secrets
                    .unwrap_or_default()
                    .into_iter()
                    .map(|r| r.name)
                    .filter(|n| !n.is_empty()),
            ),
            Ok(None) => {}
            Err(e) => tracing::warn!(
                namespace,
                service_account,
                "cannot read the service account's pull secrets: {e}"
            ),
        }
        let mut seen = std::collections::BTreeSet::new();
        wanted.retain(|n| seen.insert(n.clone()));
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let mut out = Vec::new();
        for name in wanted {
            match secrets.get_opt(&name).await {
                Ok(Some(s)) => match docker_config(&s) {
                    Some(bytes) => out.push(PullSecret {
                        name: format!("{namespace}/{name}"),
                        dockerconfigjson: bytes,
                    }),
                    None => tracing::warn!(
                        namespace, secret = %name,
                        "pull secret has no .dockerconfigjson or .dockercfg key: ignored"
                    ),
                },
                // The kubelet ignores a missing pull secret too (and tries anonymously).
                Ok(None) => tracing::warn!(namespace, secret = %name, "pull secret not found"),
                Err(e) => tracing::warn!(namespace, secret = %name, "cannot read pull secret: {e}"),
            }
        }
        out
    }
}

/// The Docker config of a `kubernetes.io/dockerconfigjson` (or legacy `dockercfg`) Secret.
fn docker_config(secret: &Secret) -> Option<Vec<u8>> {
    let data = secret.data.as_ref()?;
    data.get(".dockerconfigjson")
        .or_else(|| data.get(".dockercfg"))
        .map(|b| b.0.clone())
}

impl PullSecretSource for ApiPullSecrets {
    fn pull_secrets<'a>(
        &'a self,
        namespace: &'a str,
        service_account: &'a str,
        names: &'a [String],
    ) -> Pin<Box<dyn Future<Output = Vec<PullSecret>> + Send + 'a>> {
        Box::pin(self.lookup(namespace, service_account, names))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    #[test]
    fn docker_config_comes_from_either_key() {
        let mut s = Secret::default();
        assert_eq!(docker_config(&s), None);
        s.data = Some(
            [(".dockercfg".to_string(), ByteString(b"{}".to_vec()))]
                .into_iter()
                .collect(),
        );
        assert_eq!(docker_config(&s), Some(b"{}".to_vec()));
        s.data = Some(
            [(
                ".dockerconfigjson".to_string(),
                ByteString(b"{\"auths\":{}}".to_vec()),
            )]
            .into_iter()
            .collect(),
        );
        assert_eq!(docker_config(&s), Some(b"{\"auths\":{}}".to_vec()));
    }
}
