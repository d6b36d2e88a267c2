//! Signature, attestation, image-config and feed-age criteria: what matches, what a pod's
//! securityContext changes, what the evidence says, and what is refused at load.

use std::collections::BTreeMap;

use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use portcullis_core::{ImageConfig, Status};
use portcullis_policy::{
    AttestationFacts, ContainerAdmissionPolicy, ImageDecision, ImageFacts, Mode, PolicySet, RunAs,
    Workload, decide, scan_matters,
};
use portcullis_trust::{Attestation, AttestationCheck, SignatureCheck, Verified};

const NOW: OffsetDateTime = datetime!(2026-12-07 12:00 UTC);

// Written by `cosign generate-key-pair` (cosign 2.5, Debian trixie).
const KEY: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAERPII1ksXN7t5OARYUd2UTrXkP7z2
fQQ4PdxXRDAiMpenRCXX4Hdh5TBNG5Ghbz25UurYqU7+ortq4t3LGLyquA==
-----END PUBLIC KEY-----";

fn set(rules: &str) -> Result<PolicySet, String> {
    let yaml = format!(
        "apiVersion: containersecurity.portcullis.dev/v1\nkind: ContainerAdmissionPolicy\nmetadata: {{name: p}}\nspec:\n  rules:\n{rules}"
    );
    let policies: Vec<ContainerAdmissionPolicy> =
        serde_saphyr::from_multiple(&yaml).map_err(|e| e.to_string())?;
    let (set, errors) = PolicySet::new(policies);
    match errors.first() {
        Some(e) => Err(e.to_string()),
        None => Ok(set),
    }
}

fn key_yaml() -> String {
    let indented: Vec<String> = KEY.lines().map(|l| format!("        {l}")).collect();
    format!("      keys:\n      - |\n{}\n", indented.join("\n"))
}

fn key_id() -> String {
    portcullis_trust::PublicKey::from_pem(KEY)
        .unwrap()
        .id()
        .to_string()
}

fn decide_one(set: &PolicySet, img: &ImageFacts) -> portcullis_policy::Decision {
    let empty = BTreeMap::new();
    let w = Workload {
        labels: &empty,
        namespace_labels: &empty,
        namespaced: true,
    };
    decide(set, &w, std::slice::from_ref(img), NOW, Mode::Enforce, true)
}

fn signed_by(n: usize) -> SignatureCheck {
    SignatureCheck {
        verified: (0..n)
            .map(|_| Verified {
                key: key_id(),
                origin: "tag sha256-aa.sig".into(),
                digest: "sha256:aa".into(),
                identity: None,
                issuer: None,
            })
            .collect(),
        problems: vec![],
        found: n,
    }
}

#[test]
fn a_signature_rule_matches_only_a_verified_signature_of_its_keys() {
    let s = set(&format!(
        "  - action: Allow\n    signature:\n{}  - action: Reject\n",
        key_yaml()
    ))
    .unwrap();
    let mut img = ImageFacts::unscanned("r/app:1");
    // Not examined: never taken as signed.
    let d = decide_one(&s, &img);
    assert!(!d.allowed);
    img.signatures.insert(key_id(), signed_by(0));
    let d = decide_one(&s, &img);
    assert!(!d.allowed);
    assert!(
        d.message
            .as_deref()
            .unwrap()
            .contains("no cosign signature found"),
        "{:?}",
        d.message
    );
    img.signatures.insert(key_id(), signed_by(1));
    let d = decide_one(&s, &img);
    assert!(d.allowed, "{d:?}");
    let ImageDecision::Allowed { by: Some(by) } = &d.images[0].1 else {
        panic!("{d:?}")
    };
    assert!(
        by.matched[0].contains("verified by sha256:"),
        "{:?}",
        by.matched
    );
    // No scan needed to decide either way.
    let empty = BTreeMap::new();
    let w = Workload {
        labels: &empty,
        namespace_labels: &empty,
        namespaced: true,
    };
    assert!(!scan_matters(&s, &w, &img, NOW));
    let needs = s.trust_needs(&w);
    assert_eq!(needs.signatures.len(), 1);
    assert!(needs.attestations.is_empty());
}

#[test]
fn bad_keys_and_counts_are_refused_with_their_place() {
    let e = set("  - action: Allow\n    signature: {keys: [\"not a key\"]}\n").unwrap_err();
    assert!(
        e.contains("signature.keys[0]") && e.contains("not a PEM public key"),
        "{e}"
    );
    let e = set(&format!(
        "  - action: Allow\n    signature:\n      count: 2\n{}",
        key_yaml()
    ))
    .unwrap_err();
    assert!(e.contains("signature.count"), "{e}");
    let e = set("  - action: Reject\n    feedAge: {operator: gt, duration: soon}\n").unwrap_err();
    assert!(e.contains("feedAge.duration"), "{e}");
    let e = set("  - action: Reject\n    imageConfig: {}\n").unwrap_err();
    assert!(e.contains("imageConfig"), "{e}");
}

fn configured(user: &str, ports: &[&str], env: &[&str], run_as: &[RunAs]) -> ImageFacts {
    let mut img = ImageFacts::unscanned("r/app:1");
    img.status = Some(Status::Pass);
    let config = ImageConfig {
        user: user.into(),
        exposed_ports: ports.iter().map(|p| p.to_string()).collect(),
        env_names: env.iter().map(|p| p.to_string()).collect(),
        created: Some(NOW - Duration::days(400)),
    };
    img.run_as(Some(&config), run_as);
    img
}

#[test]
fn run_as_root_reads_the_config_and_the_pods_security_context() {
    let s = set("  - action: Reject\n    imageConfig: {runAsRoot: true}\n").unwrap();
    let root = |img: &ImageFacts| !decide_one(&s, img).allowed;
    assert!(root(&configured("", &[], &[], &[])));
    assert!(root(&configured("root:root", &[], &[], &[])));
    assert!(!root(&configured("1000", &[], &[], &[])));
    // The pod overrides the config: runAsNonRoot or a non-zero runAsUser make it non-root,
    // runAsUser 0 makes a non-root image root.
    let non_root = RunAs {
        non_root: Some(true),
        user: None,
    };
    assert!(!root(&configured("", &[], &[], &[non_root])));
    assert!(!root(&configured(
        "",
        &[],
        &[],
        &[RunAs {
            non_root: None,
            user: Some(65534)
        }]
    )));
    assert!(root(&configured(
        "1000",
        &[],
        &[],
        &[RunAs {
            non_root: None,
            user: Some(0)
        }]
    )));
    // Two containers of the image, one root: root.
    assert!(root(&configured(
        "",
        &[],
        &[],
        &[non_root, RunAs::default()]
    )));
    let d = decide_one(&s, &configured("", &[], &[], &[]));
    assert!(
        d.message
            .as_deref()
            .unwrap()
            .contains("runs as root (config User \"\")"),
        "{:?}",
        d.message
    );
    // Unknown config: the criterion does not match (nothing is assumed).
    let mut unknown = ImageFacts::unscanned("r/app:1");
    unknown.status = Some(Status::Pass);
    assert!(!root(&unknown));
}

#[test]
fn exposed_ports_env_names_and_age() {
    let ports = set("  - action: Reject\n    imageConfig: {exposedPorts: {operator: IsOneOf, values: [\"22\"]}}\n").unwrap();
    assert!(!decide_one(&ports, &configured("1", &["22/tcp"], &[], &[])).allowed);
    assert!(decide_one(&ports, &configured("1", &["80/tcp"], &[], &[])).allowed);
    let env = set("  - action: Reject\n    imageConfig: {envNames: {operator: IsOneOf, values: [\"(?i)password|secret\"]}}\n").unwrap();
    let d = decide_one(&env, &configured("1", &[], &["PATH", "DB_PASSWORD"], &[]));
    assert!(!d.allowed);
    assert!(d.message.unwrap().contains("DB_PASSWORD"));
    assert!(decide_one(&env, &configured("1", &[], &["PATH"], &[])).allowed);
    let age = set("  - action: Reject\n    imageConfig: {olderThan: 365d}\n").unwrap();
    assert!(!decide_one(&age, &configured("1", &[], &[], &[])).allowed);
    let young = set("  - action: Reject\n    imageConfig: {olderThan: 500d}\n").unwrap();
    assert!(decide_one(&young, &configured("1", &[], &[], &[])).allowed);
}

#[test]
fn feed_age_compares_the_oldest_covering_source() {
    let stale = set("  - action: Reject\n    feedAge: {operator: gt, duration: 7d}\n").unwrap();
    let mut img = ImageFacts::unscanned("r/app:1");
    img.status = Some(Status::Pass);
    img.feed = Some(("osv-pypi".into(), NOW - Duration::days(9)));
    let d = decide_one(&stale, &img);
    assert!(!d.allowed);
    assert!(
        d.message
            .as_deref()
            .unwrap()
            .contains("osv-pypi imported 2026-11-28T12:00:00Z, 9 days ago"),
        "{:?}",
        d.message
    );
    img.feed = Some(("osv-pypi".into(), NOW - Duration::days(2)));
    assert!(decide_one(&stale, &img).allowed);
    // Unknown feed age: not matched.
    img.feed = None;
    assert!(decide_one(&stale, &img).allowed);
}

fn attested(finished: OffsetDateTime, result: serde_json::Value) -> AttestationFacts {
    AttestationFacts::new(
        "r/app:1",
        AttestationCheck {
            verified: vec![Attestation {
                key: key_id(),
                origin: "tag sha256-aa.att".into(),
                predicate_type: portcullis_trust::VULN_PREDICATE.into(),
                time: Some(finished),
                predicate: serde_json::json!({"scanner": {"result": result}}),
            }],
            problems: vec![],
            found: 1,
        },
    )
}

#[test]
fn an_attested_scan_stands_in_for_the_scan_while_fresh() {
    let s = set(&format!(
        "  - action: Allow\n    attestation:\n      predicateType: vuln\n      maxAge: 3d\n{}    imageScanStatus: {{operator: IsNoneOf, values: [Fail]}}\n  - action: Reject\n",
        key_yaml()
    ))
    .unwrap();
    let empty = BTreeMap::new();
    let w = Workload {
        labels: &empty,
        namespace_labels: &empty,
        namespaced: true,
    };
    let needs = s.trust_needs(&w);
    assert_eq!(needs.attestations.len(), 1);
    let key = format!("{} {}", key_id(), portcullis_trust::VULN_PREDICATE);
    let clean = serde_json::json!({"Results": [{"Vulnerabilities": []}]});
    let critical = serde_json::json!({"Results": [{"Vulnerabilities": [
        {"VulnerabilityID": "CVE-2024-0001", "PkgName": "openssl", "InstalledVersion": "1",
         "CVSS": {"nvd": {"V3Score": 9.8}}}]}]});
    let mut img = ImageFacts::unscanned("r/app:1");
    img.attestations.insert(
        key.clone(),
        attested(NOW - Duration::hours(2), clean.clone()),
    );
    assert!(decide_one(&s, &img).allowed);
    assert!(
        !scan_matters(&s, &w, &img, NOW),
        "the attestation decides: no scan"
    );
    // Too old.
    img.attestations
        .insert(key.clone(), attested(NOW - Duration::days(4), clean));
    assert!(!decide_one(&s, &img).allowed);
    // Fresh but failing (Trivy's JSON: 9.8 is Fail under the default thresholds).
    img.attestations
        .insert(key.clone(), attested(NOW - Duration::hours(1), critical));
    let facts = img.attestations[&key].scan.clone().unwrap();
    assert_eq!(facts.status, Some(Status::Fail));
    assert_eq!(facts.vulnerability_ids, vec!["CVE-2024-0001".to_string()]);
    assert!(!decide_one(&s, &img).allowed);
}

#[test]
fn a_keyless_signature_is_accepted_by_workflow_identity_and_issuer() {
    // The real signature of crates/trust/tests/data/keyless (see its SOURCES.md).
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../trust/tests/data/keyless");
    let read = |n: &str| std::fs::read_to_string(dir.join(n)).unwrap();
    let indent = |text: String| {
        text.lines()
            .map(|l| format!("          {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let rules = |subject: &str| {
        format!(
            "  - action: Allow\n    signature:\n      certificates:\n        roots:\n        - |\n{}\n        rekorKeys:\n        - |\n{}\n        subjects: [\"{subject}\"]\n        issuers: [\"https://token.actions.githubusercontent.com\"]\n  - action: Reject\n",
            indent(read("fulcio-root.pem")),
            indent(read("rekor.pub"))
        )
    };
    let manifest: serde_json::Value =
        serde_json::from_str(&read("signature-manifest.json")).unwrap();
    let attached = portcullis_core::Attached {
        digests: vec![
            "sha256:120ef883bd7612aee0a100297def41014bf3e1aa321a0eaf4d0ebd9855d39a11"
                .parse()
                .unwrap(),
        ],
        attachments: vec![portcullis_core::Attachment {
            origin: "tag sha256-120ef883.sig".into(),
            media_type: portcullis_core::SIMPLE_SIGNING.into(),
            annotations: serde_json::from_value(manifest["layers"][0]["annotations"].clone())
                .unwrap(),
            payload: read("payload.json").into_bytes(),
        }],
        problems: vec![],
    };
    let empty = BTreeMap::new();
    let w = Workload {
        labels: &empty,
        namespace_labels: &empty,
        namespaced: true,
    };
    for (subject, admitted) in [
        (
            "^https://github\\\\.com/salrashid123/go-bazel-github-workflow/",
            true,
        ),
        ("^https://github\\\\.com/someone-else/", false),
    ] {
        let s = set(&rules(subject)).unwrap();
        let mut img = ImageFacts::unscanned("index.docker.io/salrashid123/server_image:server");
        img.check_attached(&attached, &s.trust_needs(&w));
        let d = decide_one(&s, &img);
        assert_eq!(d.allowed, admitted, "{subject}: {d:?}");
    }
}
