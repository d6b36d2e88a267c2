//! The real-cluster run (scripts/e2e-cluster starts the cluster and runs this with `--ignored`): a single node
//! with kubelet, containerd and the CNI bridge; Portcullis's own image installed with the repository's Helm chart;
//! its DB from a mirror of the default sources. Each step prints `ok    <check>`; the first failure stops the run.
//!
//! Inputs, from scripts/e2e-cluster: `PORTCULLIS_E2E_KUBECONFIG`, `PORTCULLIS_E2E_KUBECTL`, `PORTCULLIS_HELM`,
//! `PORTCULLIS_E2E_IMAGE` (the image as the node pulls it), `PORTCULLIS_E2E_REGISTRY` (the pods' registry,
//! plain HTTP) and `PORTCULLIS_E2E_MIRROR` (the DB mirror's URL).

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::Api;
use kube::api::{DeleteParams, ListParams};

const NS: &str = "portcullis";
const APPS: &str = "apps";
const RELEASE: &str = "rel";
const CHART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/helm/portcullis");

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("${name} is not set: run scripts/e2e-cluster"))
}

struct Cluster {
    client: kube::Client,
    kubeconfig: PathBuf,
    kubectl: PathBuf,
    helm: PathBuf,
    image: String,
    registry: String,
    mirror: String,
}

impl Cluster {
    async fn connect() -> Cluster {
        let kubeconfig = PathBuf::from(env("PORTCULLIS_E2E_KUBECONFIG"));
        let kc = kube::config::Kubeconfig::read_from(&kubeconfig).expect("kubeconfig");
        let config =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .expect("kube config");
        Cluster {
            client: kube::Client::try_from(config).expect("kube client"),
            kubeconfig,
            kubectl: PathBuf::from(env("PORTCULLIS_E2E_KUBECTL")),
            helm: PathBuf::from(env("PORTCULLIS_HELM")),
            image: env("PORTCULLIS_E2E_IMAGE"),
            registry: env("PORTCULLIS_E2E_REGISTRY"),
            mirror: env("PORTCULLIS_E2E_MIRROR"),
        }
    }

    fn tool(&self, tool: &PathBuf, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = Command::new(tool)
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", tool.display()));
        if let Some(text) = stdin {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(text.as_bytes())
                .expect("write stdin");
        }
        drop(child.stdin.take());
        child.wait_with_output().expect("wait")
    }

    /// Runs `tool`, which must succeed; its stdout.
    fn must(&self, tool: &PathBuf, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.tool(tool, args, stdin);
        assert!(
            out.status.success(),
            "{} {args:?}: {}",
            tool.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> String {
        self.must(&self.kubectl, args, stdin)
    }

    fn helm(&self, args: &[&str]) -> String {
        self.must(&self.helm, args, None)
    }

    /// The chart's values for this cluster, beside `extra`.
    fn values(&self, ca: &str, extra: &[&str]) -> Vec<String> {
        let (repo, tag) = self.image.rsplit_once(':').expect("image with a tag");
        let mut v = vec![
            format!("image.repository={repo}"),
            format!("image.tag={tag}"),
            format!("registry.insecure={{{}}}", self.registry),
            format!("db.mirror={}", self.mirror),
            format!("webhook.caBundle={ca}"),
            // Pods of ReplicaSets are decided too, so a rejected replacement shows as FailedCreate.
            "webhook.evaluateOwned=true".to_string(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    }

    fn helm_release(&self, verb: &str, values: &[String]) -> String {
        let mut args = vec![verb, RELEASE, CHART, "--namespace", NS];
        for v in values {
            args.extend(["--set", v.as_str()]);
        }
        self.helm(&args)
    }

    fn deployments(&self, ns: &str) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), ns)
    }

    /// Waits until the Deployment has `want` available, updated replicas (and no others).
    async fn available(&self, ns: &str, name: &str, want: i32, within: Duration) {
        let api = self.deployments(ns);
        let start = Instant::now();
        loop {
            if let Ok(d) = api.get(name).await {
                let s = d.status.unwrap_or_default();
                let generation_seen = s.observed_generation >= d.metadata.generation;
                if generation_seen
                    && s.available_replicas == Some(want)
                    && s.updated_replicas == Some(want)
                    && s.replicas == Some(want)
                {
                    return;
                }
            }
            assert!(
                start.elapsed() < within,
                "{ns}/{name}: {want} replicas not available within {within:?}: {}",
                self.kubectl(&["get", "pods", "-A", "-o", "wide"], None)
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Asks the API server to create a Pod of `image` in the apps namespace without keeping it
    /// (server-side dry run: the admission webhooks are called). Ok(()) if admitted, Err(message)
    /// if rejected or the webhook could not be called.
    fn try_pod(&self, image: &str) -> Result<(), String> {
        let pod = format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{generateName: probe-, namespace: {APPS}}}\n\
             spec: {{containers: [{{name: c, image: \"{image}\", command: [sleep, infinity]}}]}}\n"
        );
        let out = self.tool(
            &self.kubectl,
            &["create", "--dry-run=server", "-f", "-"],
            Some(&pod),
        );
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

/// A CA and serving certificate for the release's Service (`portcullis certs`), in a new
/// directory; and the caBundle it prints.
fn serving_certificate() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args([
            "certs",
            "--service",
            &format!("{RELEASE}-portcullis"),
            "--namespace",
            NS,
            "--out",
        ])
        .arg(dir.path())
        .output()
        .expect("portcullis certs");
    assert!(out.status.success());
    let ca = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (dir, ca)
}

fn ok(check: &str) {
    println!("ok    {check}");
}

fn deployment(name: &str, image: &str, replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: {APPS}}}\nspec:\n  \
         replicas: {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: \
         {{labels: {{app: {name}}}}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers: \
         [{{name: c, image: \"{image}\", command: [sleep, infinity]}}]\n"
    )
}

const POLICY: &str = "apiVersion: containersecurity.portcullis.dev/v1\nkind: ContainerAdmissionPolicy\n\
metadata: {name: scanned-clean}\nspec:\n  order: 10\n  rules:\n  - name: scanned-clean\n    action: Allow\n    \
imageScanStatus: {operator: IsOneOf, values: [Pass, Warn]}\n  - action: Reject\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the cluster of scripts/e2e-cluster"]
async fn real_cluster_end_to_end() {
    let c = Cluster::connect().await;
    let (repo_host, _) = c.registry.split_once(':').expect("registry HOST:PORT");
    let clean = format!("{}/portcullis/debian:bookworm", c.registry);
    let vulnerable = format!("{}/portcullis/debian:lang", c.registry);
    assert!(c.image.starts_with(repo_host), "{}", c.image);

    // Install: the serving certificate, then the chart from the repository.
    let (certs, ca) = serving_certificate();
    c.kubectl(&["create", "namespace", NS], None);
    c.kubectl(&["create", "namespace", APPS], None);
    let (crt, key) = (certs.path().join("tls.crt"), certs.path().join("tls.key"));
    c.kubectl(
        &[
            "-n",
            NS,
            "create",
            "secret",
            "tls",
            "portcullis-tls",
            "--cert",
            crt.to_str().expect("path"),
            "--key",
            key.to_str().expect("path"),
        ],
        None,
    );
    let values = c.values(&ca, &[]);
    c.helm_release("install", &values);
    c.available(
        NS,
        &format!("{RELEASE}-portcullis"),
        2,
        Duration::from_secs(300),
    )
    .await;
    ok("helm install: both Portcullis pods Ready with a DB from the mirror");
    // Least privilege, as the API server judges it for the chart's service account: it reads
    // what it watches, gets a Secret by name (a pod's pull secret) but cannot list or watch
    // Secrets, records Events, and changes nothing else.
    let sa = format!("system:serviceaccount:{NS}:{RELEASE}-portcullis");
    for (verb, resource, allowed) in [
        (
            "list",
            "containeradmissionpolicies.containersecurity.portcullis.dev",
            true,
        ),
        (
            "watch",
            "containervulnerabilityexceptions.containersecurity.portcullis.dev",
            true,
        ),
        ("watch", "pods", true),
        ("get", "secrets", true),
        ("create", "events", true),
        ("list", "secrets", false),
        ("watch", "secrets", false),
        ("create", "pods", false),
        ("delete", "pods", false),
        ("patch", "deployments.apps", false),
        (
            "update",
            "containeradmissionpolicies.containersecurity.portcullis.dev",
            false,
        ),
        (
            "delete",
            "validatingwebhookconfigurations.admissionregistration.k8s.io",
            false,
        ),
        (
            "create",
            "clusterrolebindings.rbac.authorization.k8s.io",
            false,
        ),
        ("*", "*", false),
    ] {
        let out = c.tool(
            &c.kubectl,
            &["auth", "can-i", verb, resource, "-n", APPS, "--as", &sa],
            None,
        );
        let answer = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_eq!(
            answer,
            if allowed { "yes" } else { "no" },
            "kubectl auth can-i {verb} {resource} as {sa}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    ok(
        "RBAC: the service account reads what it watches, gets but cannot list Secrets, changes nothing",
    );
    // The chart's CRDs document themselves.
    for (field, says) in [
        ("containeradmissionpolicies.spec.rules", "imageScanStatus"),
        ("containervulnerabilityexceptions.spec", "justification"),
    ] {
        let start = Instant::now();
        loop {
            let out = c.tool(&c.kubectl, &["explain", field], None);
            if String::from_utf8_lossy(&out.stdout).contains(says) {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "kubectl explain {field}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    ok("kubectl explain documents both CRDs");

    // A workload no policy selects is admitted without a scan.
    c.kubectl(
        &["apply", "-f", "-"],
        Some(&deployment("vulnerable", &vulnerable, 1)),
    );
    c.available(APPS, "vulnerable", 1, Duration::from_secs(120))
        .await;
    ok("with no policy, workloads are admitted (the vulnerable one too)");

    // A policy applied now takes effect without a restart: a new vulnerable workload is
    // refused with its CVEs, the clean one runs.
    c.kubectl(&["apply", "-f", "-"], Some(POLICY));
    let start = Instant::now();
    let refusal = loop {
        match c.try_pod(&vulnerable) {
            Err(e) if e.contains("denied the request") => break e,
            other => assert!(
                start.elapsed() < Duration::from_secs(60),
                "the new policy did not take effect: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(
        refusal.contains("scanned-clean") && refusal.contains("CVE-"),
        "{refusal}"
    );
    ok("a new ContainerAdmissionPolicy takes effect without restart");
    c.kubectl(&["apply", "-f", "-"], Some(&deployment("clean", &clean, 1)));
    c.available(APPS, "clean", 1, Duration::from_secs(120))
        .await;
    ok("the clean Deployment's pods reach Running");

    // The vulnerable Deployment's replacement pod is refused: its ReplicaSet records
    // FailedCreate with the CVEs, as `kubectl get events` shows.
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), APPS);
    for p in pods
        .list(&ListParams::default().labels("app=vulnerable"))
        .await
        .expect("pods")
    {
        let name = p.metadata.name.expect("name");
        pods.delete(&name, &DeleteParams::default())
            .await
            .expect("delete pod");
    }
    let events: Api<Event> = Api::namespaced(c.client.clone(), APPS);
    let start = Instant::now();
    let failed = loop {
        let found = events
            .list(&ListParams::default().fields("reason=FailedCreate"))
            .await
            .expect("events")
            .items
            .into_iter()
            .find(|e| {
                e.involved_object.kind.as_deref() == Some("ReplicaSet")
                    && e.involved_object
                        .name
                        .as_deref()
                        .is_some_and(|n| n.starts_with("vulnerable-"))
            });
        if let Some(e) = found {
            break e.message.unwrap_or_default();
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "no FailedCreate for the vulnerable ReplicaSet: {}",
            c.kubectl(&["-n", APPS, "get", "events"], None)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(
        failed.contains("denied the request") && failed.contains("CVE-"),
        "{failed}"
    );
    println!("      {}", failed.chars().take(200).collect::<String>());
    ok("the vulnerable ReplicaSet gets FailedCreate naming the CVEs");

    // The runtime inventory lists the running images with the digests the kubelet reports.
    let running = pods
        .list(&ListParams::default().labels("app=clean"))
        .await
        .expect("pods");
    let image_id = running.items[0]
        .status
        .as_ref()
        .expect("status")
        .container_statuses
        .as_ref()
        .expect("container statuses")[0]
        .image_id
        .clone();
    let digest = image_id
        .rsplit_once('@')
        .map_or(image_id.as_str(), |(_, d)| d)
        .to_string();
    assert!(digest.starts_with("sha256:"), "{image_id}");
    let start = Instant::now();
    loop {
        let listed = c.kubectl(
            &[
                "-n",
                NS,
                "exec",
                &format!("deploy/{RELEASE}-portcullis"),
                "--",
                "portcullis",
                "runtime",
                "--store",
                "sqlite:/cache/results.db",
                "--running",
                "--json",
            ],
            None,
        );
        if listed.contains(&digest) && listed.contains("clean") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{digest} not in the runtime inventory: {listed}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    ok("the runtime inventory lists the running image by the kubelet's digest");

    // Deleting one of the two replicas: every request in the meantime is answered.
    let ours: Api<Pod> = Api::namespaced(c.client.clone(), NS);
    let victim = ours
        .list(&ListParams::default().labels("app.kubernetes.io/name=portcullis"))
        .await
        .expect("pods")
        .items[0]
        .metadata
        .name
        .clone()
        .expect("name");
    ours.delete(&victim, &DeleteParams::default())
        .await
        .expect("delete replica");
    let mut answered = 0;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(15) {
        c.try_pod(&clean)
            .unwrap_or_else(|e| panic!("with one replica gone, a request failed: {e}"));
        answered += 1;
    }
    c.available(
        NS,
        &format!("{RELEASE}-portcullis"),
        2,
        Duration::from_secs(120),
    )
    .await;
    ok(&format!(
        "one of two replicas deleted: the webhook kept answering ({answered} requests)"
    ));

    // helm upgrade with a changed value rolls the pods; no request is refused meanwhile.
    let values = c.values(&ca, &["webhook.timeoutSeconds=12"]);
    c.helm_release("upgrade", &values);
    let mut answered = 0;
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        c.try_pod(&clean)
            .unwrap_or_else(|e| panic!("during the rolling upgrade a request failed: {e}"));
        answered += 1;
        let d = c
            .deployments(NS)
            .get(&format!("{RELEASE}-portcullis"))
            .await
            .expect("deployment");
        let s = d.status.unwrap_or_default();
        if s.observed_generation >= d.metadata.generation
            && s.updated_replicas == Some(2)
            && s.available_replicas == Some(2)
            && s.replicas == Some(2)
        {
            break;
        }
        assert!(Instant::now() < deadline, "the upgrade did not roll out");
    }
    ok(&format!(
        "helm upgrade rolled the pods without a refused request ({answered} requests)"
    ));

    rotate_the_certificate(&c, certs.path(), &values).await;
    let _registry = registry_gone(&c).await;
    restart_mid_scan(&c).await;

    // helm uninstall: the webhooks go first (pre-delete hook), and the cluster admits again.
    c.helm(&["uninstall", RELEASE, "--namespace", NS, "--wait"]);
    let hooks = c.kubectl(
        &["get", "validatingwebhookconfigurations", "-o", "name"],
        None,
    );
    assert!(!hooks.contains(RELEASE), "{hooks}");
    c.try_pod(&vulnerable)
        .unwrap_or_else(|e| panic!("after uninstall a pod was refused: {e}"));
    ok("helm uninstall removes the webhooks first; the cluster admits pods again");
}

/// The Portcullis pods (not those on their way out).
async fn our_pods(c: &Cluster) -> Vec<Pod> {
    let api: Api<Pod> = Api::namespaced(c.client.clone(), NS);
    api.list(&ListParams::default().labels("app.kubernetes.io/name=portcullis"))
        .await
        .expect("pods")
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect()
}

fn restarts(pods: &[Pod]) -> Vec<(String, i32)> {
    let mut v: Vec<(String, i32)> = pods
        .iter()
        .map(|p| {
            let restarts = p
                .status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref())
                .map_or(0, |cs| cs.iter().map(|c| c.restart_count).sum());
            (p.metadata.name.clone().unwrap_or_default(), restarts)
        })
        .collect();
    v.sort();
    v
}

/// Whether the pod at `ip` serves a certificate that `ca` (a PEM file) verifies, under the
/// Service's name.
fn serves_cert_of(ip: &str, ca: &std::path::Path) -> bool {
    let host = format!("{RELEASE}-portcullis.{NS}.svc");
    Command::new("curl")
        .args(["-sf", "-o", "/dev/null", "--max-time", "5", "--cacert"])
        .arg(ca)
        .args(["--resolve", &format!("{host}:8443:{ip}")])
        .arg(format!("https://{host}:8443/healthz"))
        .status()
        .is_ok_and(|s| s.success())
}

/// The serving certificate rotated the safe way (both CAs in the caBundle, then the Secret,
/// then the new CA alone): the pods take the new pair without a restart, and every request
/// meanwhile is answered.
async fn rotate_the_certificate(c: &Cluster, old: &std::path::Path, values: &[String]) {
    let clean = format!("{}/portcullis/debian:bookworm", c.registry);
    let (new, _) = serving_certificate();
    let pem = |dir: &std::path::Path| std::fs::read(dir.join("ca.crt")).expect("ca.crt");
    let both = [pem(old), pem(new.path())].concat();
    let b64 = |bytes: &[u8]| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    let with_bundle = |bundle: &str| {
        values
            .iter()
            .map(|v| {
                if v.starts_with("webhook.caBundle=") {
                    format!("webhook.caBundle={bundle}")
                } else {
                    v.clone()
                }
            })
            .collect::<Vec<_>>()
    };
    let before = restarts(&our_pods(c).await);
    c.helm_release("upgrade", &with_bundle(&b64(&both)));
    c.try_pod(&clean).expect("answered with both CAs trusted");
    let secret = c.kubectl(
        &[
            "-n",
            NS,
            "create",
            "secret",
            "tls",
            "portcullis-tls",
            "--dry-run=client",
            "-o",
            "yaml",
            "--cert",
            new.path().join("tls.crt").to_str().expect("path"),
            "--key",
            new.path().join("tls.key").to_str().expect("path"),
        ],
        None,
    );
    c.kubectl(&["apply", "-f", "-"], Some(&secret));
    let start = Instant::now();
    let mut answered = 0;
    loop {
        c.try_pod(&clean)
            .unwrap_or_else(|e| panic!("during the rotation a request failed: {e}"));
        answered += 1;
        let pods = our_pods(c).await;
        let ips: Vec<String> = pods
            .iter()
            .filter_map(|p| p.status.as_ref()?.pod_ip.clone())
            .collect();
        if ips.len() == 2
            && ips
                .iter()
                .all(|ip| serves_cert_of(ip, &new.path().join("ca.crt")))
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(150),
            "the pods did not take the new certificate: {ips:?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    c.helm_release("upgrade", &with_bundle(&b64(&pem(new.path()))));
    c.try_pod(&clean).expect("answered with the new CA alone");
    assert_eq!(restarts(&our_pods(c).await), before, "no pod restarted");
    ok(&format!(
        "the certificate Secret rotated: pods serve the new pair without a restart ({answered} requests answered meanwhile)"
    ));
}

/// Stops the pods' registry; starts it again when dropped.
struct RegistryDown {
    config: String,
    restarted: Option<std::process::Child>,
}

impl RegistryDown {
    fn stop() -> RegistryDown {
        let pid = env("PORTCULLIS_E2E_REGISTRY_PID");
        let _ = Command::new("kill").arg(&pid).status();
        // The port is free once the process is gone.
        let start = Instant::now();
        while std::path::Path::new(&format!("/proc/{pid}")).exists()
            && start.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(100));
        }
        RegistryDown {
            config: env("PORTCULLIS_E2E_REGISTRY_CONFIG"),
            restarted: None,
        }
    }

    fn start_again(&mut self) {
        let child = Command::new("docker-registry")
            .args(["serve", &self.config])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry");
        self.restarted = Some(child);
    }
}

impl Drop for RegistryDown {
    fn drop(&mut self) {
        if let Some(mut child) = self.restarted.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// With the registry gone, an image never scanned is decided by `--on-scan-error` (reject by
/// default, saying why); images already scanned are decided from their results; the pods stay
/// Ready. Back up, the same image is scanned and admitted.
async fn registry_gone(c: &Cluster) -> RegistryDown {
    let unseen = format!("{}/portcullis/debian:e2e-unseen", c.registry);
    let known = format!("{}/portcullis/debian:bookworm", c.registry);
    let mut down = RegistryDown::stop();
    let refused = c
        .try_pod(&unseen)
        .expect_err("an unscannable image is refused");
    assert!(refused.contains("could not be scanned"), "{refused}");
    c.try_pod(&known)
        .unwrap_or_else(|e| panic!("a scanned image must not need the registry: {e}"));
    tokio::time::sleep(Duration::from_secs(12)).await; // two readiness periods
    c.available(
        NS,
        &format!("{RELEASE}-portcullis"),
        2,
        Duration::from_secs(5),
    )
    .await;
    ok(
        "registry stopped: an unscanned image follows --on-scan-error, known ones are decided, pods stay Ready",
    );
    down.start_again();
    let start = Instant::now();
    while let Err(e) = c.try_pod(&unseen) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "with the registry back the image was still refused: {e}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    ok("registry back: the same image is scanned and admitted");
    down
}

/// Host PIDs of the `portcullis serve` processes running in the pods.
fn serve_pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| {
            let e = e.ok()?;
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            (cmdline == b"/usr/bin/portcullis\0serve\0").then_some(pid)
        })
        .collect()
}

/// The kubelet restarts both Portcullis containers while they scan a new image: the webhook
/// call fails (failurePolicy Fail refuses), the restarted pods are Ready again, and the retried
/// Deployment gets the right decision (refused with its CVEs), not one from a scan cut short.
async fn restart_mid_scan(c: &Cluster) {
    let image = format!("{}/portcullis/debian:e2e-retry", c.registry);
    let manifest = deployment("retried", &image, 1);
    let before = restarts(&our_pods(c).await);
    let mut first = Command::new(&c.kubectl)
        .args(["apply", "-f", "-"])
        .env("KUBECONFIG", &c.kubeconfig)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl");
    {
        use std::io::Write as _;
        first
            .stdin
            .take()
            .expect("stdin")
            .write_all(manifest.as_bytes())
            .expect("write");
    }
    // Mid-scan: as soon as a pod reports the scan running (its /readyz counts scans in flight).
    let ips: Vec<String> = our_pods(c)
        .await
        .iter()
        .filter_map(|p| p.status.as_ref()?.pod_ip.clone())
        .collect();
    let start = Instant::now();
    while !ips.iter().any(|ip| scans_in_flight(ip) > 0) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no scan started on {ips:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let killed = serve_pids();
    assert_eq!(killed.len(), 2, "two serve processes: {killed:?}");
    for pid in &killed {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    let first = first.wait_with_output().expect("kubectl");
    let first_said = String::from_utf8_lossy(&first.stderr).into_owned();
    assert!(
        !first.status.success(),
        "the vulnerable Deployment was admitted: {first_said}"
    );
    // The kubelet notices, restarts both containers in place, and they become Ready again.
    let start = Instant::now();
    loop {
        let after = restarts(&our_pods(c).await);
        if after.len() == before.len()
            && after
                .iter()
                .zip(&before)
                .all(|(a, b)| a.0 == b.0 && a.1 > b.1)
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the kubelet did not restart both containers in place: {before:?} -> {after:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    c.available(
        NS,
        &format!("{RELEASE}-portcullis"),
        2,
        Duration::from_secs(120),
    )
    .await;
    let start = Instant::now();
    let decided = loop {
        let out = c.tool(&c.kubectl, &["apply", "-f", "-"], Some(&manifest));
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !out.status.success(),
            "the retried vulnerable Deployment was admitted"
        );
        if said.contains("denied the request") {
            break said;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "no decision for the retried Deployment: {said}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    assert!(
        decided.contains("CVE-") && decided.contains("scanned-clean"),
        "{decided}"
    );
    assert!(
        first_said.contains("failed calling webhook"),
        "the first call was answered, not cut off mid-scan: {first_said}"
    );
    ok(
        "pods restarted mid-scan (the call cut off): the retried Deployment is refused with its CVEs",
    );
}

/// Scans running now in the pod at `ip`, as its /readyz reports them (0 when it cannot say).
fn scans_in_flight(ip: &str) -> u64 {
    let out = Command::new("curl")
        .args([
            "-sk",
            "--max-time",
            "2",
            &format!("https://{ip}:8443/readyz"),
        ])
        .output();
    out.ok()
        .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
        .and_then(|v| v["scans_in_flight"].as_u64())
        .unwrap_or(0)
}
