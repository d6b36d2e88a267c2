//! The Helm chart ships the CRDs generated from the Rust types; they must not drift.

mod common;

#[test]
fn chart_crds_match_the_generated_ones() {
    let out = common::run(&["policy", "crd"]);
    assert!(out.status.success());
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/helm/portcullis/crds/portcullis-crds.yaml"
    );
    let committed = std::fs::read_to_string(path).expect("chart CRDs");
    assert!(
        committed == String::from_utf8_lossy(&out.stdout),
        "deploy/helm/portcullis/crds/portcullis-crds.yaml is stale: regenerate it with `portcullis policy crd`"
    );
}

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

const CHART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/helm/portcullis");

/// Helm as built by scripts/tool-peers (`PORTCULLIS_HELM`, set by scripts/test).
fn helm() -> Option<PathBuf> {
    portcullis_test_support::tool_from_env("PORTCULLIS_HELM", "helm (scripts/tool-peers helm)")
}

fn helm_out(helm: &PathBuf, args: &[&str]) -> String {
    let out = Command::new(helm).args(args).output().expect("run helm");
    assert!(
        out.status.success(),
        "helm {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Renders the chart as release `rel` in namespace `guard` and returns the documents that
/// `helm install` creates (not the hooks).
fn render(helm: &PathBuf, set: &[&str]) -> Vec<Value> {
    render_all(helm, set)
        .into_iter()
        .filter(|d| hook_of(d).is_none())
        .collect()
}

/// The `helm.sh/hook` annotation of a rendered document.
fn hook_of(doc: &Value) -> Option<&str> {
    doc["metadata"]["annotations"]["helm.sh/hook"].as_str()
}

/// Every rendered document, hooks included.
fn render_all(helm: &PathBuf, set: &[&str]) -> Vec<Value> {
    let mut args = vec!["template", "rel", CHART, "--namespace", "guard"];
    for s in set {
        args.extend(["--set", s]);
    }
    let text = helm_out(helm, &args);
    serde_saphyr::from_multiple::<Value>(&text)
        .expect("rendered chart is YAML")
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<_> = docs.iter().filter(|d| d["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "expected one {kind}, got {}", found.len());
    found[0]
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn chart_lints_and_renders_a_hardened_deployment() {
    let Some(helm) = helm() else { return };
    helm_out(&helm, &["lint", CHART]);
    let docs = render(&helm, &[]);
    let dep = one(&docs, "Deployment");
    assert_eq!(dep["spec"]["replicas"], 2);
    let pod = &dep["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let c = &pod["containers"][0];
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(
        c["lifecycle"]["preStop"]["sleep"]["seconds"], 5,
        "drains before SIGTERM"
    );
    assert!(c["resources"]["limits"]["memory"].is_string());
    // In a cluster it follows the API (policies, exceptions, namespaces, pull secrets).
    assert!(
        c["env"]
            .as_array()
            .expect("env")
            .iter()
            .any(|e| e["name"] == "PORTCULLIS_WATCH_CLUSTER" && e["value"] == "true")
    );
    // The PDB keeps one replica through node drains, and selects the Deployment's pods.
    let pdb = one(&docs, "PodDisruptionBudget");
    let labels = &dep["spec"]["template"]["metadata"]["labels"];
    for (k, v) in pdb["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("PDB selector")
    {
        assert_eq!(&labels[k], v, "PDB selects {k}");
    }
    // The pod runs as the chart's service account, bound to the chart's role.
    let sa = one(&docs, "ServiceAccount");
    assert_eq!(pod["serviceAccountName"], sa["metadata"]["name"]);
    let binding = one(&docs, "ClusterRoleBinding");
    assert_eq!(binding["subjects"][0]["name"], sa["metadata"]["name"]);
    assert_eq!(binding["subjects"][0]["namespace"], "guard");
    // Namespaced objects carry the release namespace, so the plain manifests land there too.
    for kind in [
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "ServiceAccount",
    ] {
        assert_eq!(one(&docs, kind)["metadata"]["namespace"], "guard", "{kind}");
    }
    // The Service reaches the container's HTTPS port.
    let svc = one(&docs, "Service");
    let target = &svc["spec"]["ports"][0]["targetPort"];
    assert!(
        *target == c["ports"][0]["name"] || *target == c["ports"][0]["containerPort"],
        "service targets {target}"
    );
}

#[test]
fn chart_rbac_is_least_privilege() {
    let Some(helm) = helm() else { return };
    let docs = render(&helm, &[]);
    let role = one(&docs, "ClusterRole");
    for rule in role["rules"].as_array().expect("rules") {
        let verbs = strings(&rule["verbs"]);
        let resources = strings(&rule["resources"]);
        assert!(
            !verbs.contains(&"*") && !resources.contains(&"*"),
            "wildcard in {rule}"
        );
        // Writes only Events; reads Secrets one by one (get), never lists them.
        if verbs
            .iter()
            .any(|v| ["create", "update", "patch", "delete"].contains(v))
        {
            assert_eq!(resources, vec!["events"], "writes {rule}");
        }
        if resources.contains(&"secrets") {
            assert_eq!(verbs, vec!["get"], "secrets {rule}");
        }
    }
}

#[test]
fn chart_webhooks_never_see_kube_system_or_their_own_namespace() {
    let Some(helm) = helm() else { return };
    let docs = render(&helm, &[]);
    assert!(
        !docs
            .iter()
            .any(|d| d["kind"] == "MutatingWebhookConfiguration"),
        "mutation is opt-in"
    );
    let vwc = one(&docs, "ValidatingWebhookConfiguration");
    let hook = &vwc["webhooks"][0];
    assert_eq!(hook["sideEffects"], "None");
    assert_eq!(hook["failurePolicy"], "Fail");
    assert_eq!(hook["timeoutSeconds"], 10);
    assert_eq!(hook["clientConfig"]["service"]["namespace"], "guard");
    assert_eq!(hook["clientConfig"]["service"]["path"], "/validate");
    let excluded: Vec<&str> = hook["namespaceSelector"]["matchExpressions"]
        .as_array()
        .expect("expressions")
        .iter()
        .filter(|e| e["key"] == "kubernetes.io/metadata.name" && e["operator"] == "NotIn")
        .flat_map(|e| strings(&e["values"]))
        .collect();
    assert!(excluded.contains(&"kube-system") && excluded.contains(&"guard"));

    // Calico's IN_NAMESPACE_SELECTOR_KEY / _VALUES, and the mutating webhook when enabled.
    let docs = render(
        &helm,
        &[
            "webhook.namespaceSelectorKey=portcullis.dev/enforce",
            "webhook.namespaceSelectorValues={true}",
            "webhook.failurePolicy=Ignore",
            "webhook.timeoutSeconds=5",
            "mutate.enabled=true",
        ],
    );
    for kind in [
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    ] {
        let hook = &one(&docs, kind)["webhooks"][0];
        assert_eq!(hook["failurePolicy"], "Ignore", "{kind}");
        assert_eq!(hook["timeoutSeconds"], 5, "{kind}");
        let exprs = hook["namespaceSelector"]["matchExpressions"]
            .as_array()
            .expect("expressions");
        assert!(
            exprs.iter().any(|e| e["key"] == "portcullis.dev/enforce"
                && e["operator"] == "In"
                && strings(&e["values"]) == vec!["true"]),
            "{kind}: {exprs:?}"
        );
        assert!(
            exprs
                .iter()
                .any(|e| strings(&e["values"]).contains(&"kube-system")),
            "{kind} still excludes kube-system"
        );
    }
    assert_eq!(
        one(&docs, "MutatingWebhookConfiguration")["webhooks"][0]["clientConfig"]["service"]["path"],
        "/mutate"
    );
}

#[test]
fn plain_manifests_are_the_chart_rendered() {
    let Some(helm) = helm() else { return };
    let fresh = helm_out(
        &helm,
        &[
            "template",
            "portcullis",
            CHART,
            "--namespace",
            "portcullis",
            "--include-crds",
            "--no-hooks",
        ],
    );
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/manifests/portcullis.yaml"
    );
    let committed = std::fs::read_to_string(path).expect("deploy/manifests/portcullis.yaml");
    assert!(
        committed == fresh,
        "deploy/manifests/portcullis.yaml is stale: run scripts/render-manifests"
    );
}

/// The env entry `name` of the Deployment's container.
fn env_of<'a>(docs: &'a [Value], name: &str) -> Option<&'a Value> {
    one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .expect("env")
        .iter()
        .find(|e| e["name"] == name)
}

#[test]
fn chart_provisions_the_db_and_the_store_from_its_values() {
    let Some(helm) = helm() else { return };
    // Defaults: serve updates the DB itself every 6 h from the upstreams, SQLite per pod in an
    // emptyDir, a PDB keeping one pod.
    let docs = render(&helm, &[]);
    assert_eq!(
        env_of(&docs, "PORTCULLIS_DB_UPDATE_INTERVAL").expect("interval")["value"],
        "6h"
    );
    assert!(env_of(&docs, "PORTCULLIS_DB_MIRROR").is_none());
    assert_eq!(
        env_of(&docs, "PORTCULLIS_STORE").expect("store")["value"],
        "sqlite:/cache/results.db"
    );
    let pod = &one(&docs, "Deployment")["spec"]["template"]["spec"];
    assert!(
        pod["volumes"][1]["emptyDir"].is_object(),
        "{}",
        pod["volumes"]
    );
    assert_eq!(pod["securityContext"]["fsGroup"], 65532);
    assert!(docs.iter().all(|d| d["kind"] != "PersistentVolumeClaim"));
    assert_eq!(one(&docs, "PodDisruptionBudget")["spec"]["minAvailable"], 1);

    // An air-gapped mirror, PostgreSQL from a Secret, a PVC, a cluster name, no PDB.
    let docs = render(
        &helm,
        &[
            "db.mirror=http://vuln-mirror.corp:8080",
            "db.updateInterval=1h",
            "db.persistence.enabled=true",
            "db.persistence.storageClass=fast",
            "store.type=postgres",
            "store.postgres.secretName=portcullis-pg",
            "clusterName=prod-eu",
            "pdb.enabled=false",
        ],
    );
    assert_eq!(
        env_of(&docs, "PORTCULLIS_DB_MIRROR").expect("mirror")["value"],
        "http://vuln-mirror.corp:8080"
    );
    assert_eq!(
        env_of(&docs, "PORTCULLIS_DB_UPDATE_INTERVAL").expect("interval")["value"],
        "1h"
    );
    assert_eq!(
        env_of(&docs, "PORTCULLIS_CLUSTER_NAME").expect("cluster")["value"],
        "prod-eu"
    );
    let secret = &env_of(&docs, "PORTCULLIS_STORE").expect("store")["valueFrom"]["secretKeyRef"];
    assert_eq!(secret["name"], "portcullis-pg");
    assert_eq!(secret["key"], "url");
    let pvc = one(&docs, "PersistentVolumeClaim");
    assert_eq!(pvc["spec"]["storageClassName"], "fast");
    let pod = &one(&docs, "Deployment")["spec"]["template"]["spec"];
    assert_eq!(
        pod["volumes"][1]["persistentVolumeClaim"]["claimName"],
        pvc["metadata"]["name"]
    );
    assert!(docs.iter().all(|d| d["kind"] != "PodDisruptionBudget"));

    // Values that cannot work are refused at render time, saying which.
    for (set, says) in [
        ("store.type=mysql", "store.type must be sqlite or postgres"),
        (
            "store.type=postgres",
            "store.postgres.secretName is required",
        ),
    ] {
        let out = Command::new(&helm)
            .args(["template", "rel", CHART, "--set", set])
            .output()
            .expect("run helm");
        assert!(!out.status.success(), "{set}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(says),
            "{set}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The assurance API is on the Service's port 9443 unless turned off; alerts go to the receivers
/// the values name, their secrets from Secrets (mounted, or an env from a key), never values.
#[test]
fn chart_exposes_the_api_and_sends_alerts_where_told() {
    let Some(helm) = helm() else { return };
    let docs = render(&helm, &[]);
    assert_eq!(
        env_of(&docs, "PORTCULLIS_API_LISTEN").expect("api")["value"],
        "0.0.0.0:9443"
    );
    let service = one(&docs, "Service");
    assert!(
        service["spec"]["ports"]
            .as_array()
            .expect("ports")
            .iter()
            .any(|p| p["port"] == 9443 && p["targetPort"] == "api"),
        "{service}"
    );
    assert_eq!(
        env_of(&docs, "PORTCULLIS_ALERT_INTERVAL").expect("interval")["value"],
        "1m"
    );
    assert!(env_of(&docs, "PORTCULLIS_ALERT_WEBHOOK").is_none());
    // The role reads the alert rules' resources (and still writes only Events).
    assert!(
        one(&docs, "ClusterRole")["rules"]
            .as_array()
            .expect("rules")
            .iter()
            .any(
                |r| strings(&r["resources"]).contains(&"imageassurancealerts")
                    && strings(&r["verbs"]) == vec!["get", "list", "watch"]
            )
    );

    let docs = render(
        &helm,
        &[
            "api.enabled=false",
            "alerts.webhook.url=https://hooks.corp/portcullis",
            "alerts.webhook.secretName=hook-key",
            "alerts.slack.secretName=slack-url",
        ],
    );
    assert_eq!(
        env_of(&docs, "PORTCULLIS_API_LISTEN").expect("api")["value"],
        "off"
    );
    assert!(
        !one(&docs, "Service").to_string().contains("9443"),
        "no API port when off"
    );
    assert_eq!(
        env_of(&docs, "PORTCULLIS_ALERT_WEBHOOK").expect("webhook")["value"],
        "https://hooks.corp/portcullis"
    );
    assert_file_of_secret(&docs, "PORTCULLIS_ALERT_WEBHOOK_SECRET_FILE", "hook-key");
    let slack =
        &env_of(&docs, "PORTCULLIS_ALERT_SLACK").expect("slack")["valueFrom"]["secretKeyRef"];
    assert_eq!(
        (&slack["name"], &slack["key"]),
        (&"slack-url".into(), &"url".into())
    );
}

/// The file `env` names lies in the volume of Secret `secret`, mounted in the container.
fn assert_file_of_secret(docs: &[Value], env: &str, secret: &str) {
    let file = env_of(docs, env).unwrap_or_else(|| panic!("no {env}"));
    let pod = &one(docs, "Deployment")["spec"]["template"]["spec"];
    let volume = pod["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["secret"]["secretName"] == secret)
        .unwrap_or_else(|| panic!("Secret {secret} not mounted"));
    let mount = pod["containers"][0]["volumeMounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .find(|m| m["name"] == volume["name"])
        .expect("mounted");
    assert!(
        file["value"]
            .as_str()
            .is_some_and(|f| f.starts_with(mount["mountPath"].as_str().unwrap_or("?"))),
        "{file} {mount}"
    );
}

/// With `webhook.clientCASecretName`, serve reads the client CA from that Secret's `ca.crt`;
/// without it, no client certificate is asked for.
#[test]
fn a_client_ca_secret_makes_the_webhook_ask_for_client_certificates() {
    let Some(helm) = helm() else { return };
    assert!(env_of(&render(&helm, &[]), "PORTCULLIS_TLS_CLIENT_CA").is_none());
    let docs = render(&helm, &["webhook.clientCASecretName=apiserver-client-ca"]);
    assert_file_of_secret(&docs, "PORTCULLIS_TLS_CLIENT_CA", "apiserver-client-ca");
    assert!(
        env_of(&docs, "PORTCULLIS_TLS_CLIENT_CA").unwrap()["value"]
            .as_str()
            .is_some_and(|f| f.ends_with("/ca.crt"))
    );
}

/// `helm uninstall` runs a pre-delete Job that deletes exactly this release's webhook
/// configurations, with RBAC for nothing else, and whose pod neither the Service nor the PDB
/// counts. Off, there is no hook.
#[test]
fn chart_uninstall_removes_the_webhooks_first() {
    let Some(helm) = helm() else { return };
    let docs = render_all(&helm, &[]);
    let hooks: Vec<&Value> = docs.iter().filter(|d| hook_of(d).is_some()).collect();
    assert!(
        hooks.iter().all(|h| hook_of(h) == Some("pre-delete")),
        "{hooks:?}"
    );
    let of = |kind: &str| {
        let found: Vec<&&Value> = hooks.iter().filter(|d| d["kind"] == kind).collect();
        assert_eq!(found.len(), 1, "one {kind} hook");
        *found[0]
    };
    let webhook =
        one(&render(&helm, &[]), "ValidatingWebhookConfiguration")["metadata"]["name"].clone();
    let job = of("Job");
    let c = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        strings(&c["args"]),
        [
            "cluster",
            "remove-webhooks",
            webhook.as_str().expect("name")
        ]
    );
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    let role = of("ClusterRole");
    assert_eq!(role["rules"].as_array().map(Vec::len), Some(1));
    assert_eq!(strings(&role["rules"][0]["verbs"]), ["delete"]);
    assert_eq!(
        strings(&role["rules"][0]["resourceNames"]),
        [webhook.as_str().expect("name")]
    );
    let sa = of("ServiceAccount");
    assert_eq!(
        job["spec"]["template"]["spec"]["serviceAccountName"],
        sa["metadata"]["name"]
    );
    assert_eq!(
        of("ClusterRoleBinding")["subjects"][0]["name"],
        sa["metadata"]["name"]
    );
    // The Job's pod is not one of the Service's endpoints.
    let service = one(&docs, "Service");
    let pod_labels = &job["spec"]["template"]["metadata"]["labels"];
    let selected = service["spec"]["selector"]
        .as_object()
        .expect("selector")
        .iter()
        .all(|(k, v)| &pod_labels[k] == v);
    assert!(!selected, "{pod_labels}");

    let off = render_all(&helm, &["uninstallHook.enabled=false"]);
    assert!(off.iter().all(|d| hook_of(d).is_none()));
}
