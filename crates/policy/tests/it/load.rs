use std::path::PathBuf;

use portcullis_policy::{PolicyError, PolicySet, load_dir, load_dir_all, parse_text};

fn data(dir: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(dir)
}

fn policy_yaml(name: &str, body: &str) -> String {
    format!(
        "apiVersion: containersecurity.portcullis.dev/v1\nkind: ContainerAdmissionPolicy\nmetadata:\n  name: {name}\nspec:\n{body}"
    )
}

/// The one error that parsing `text` gives, as text; fails when it loads or gives more.
fn only_error(text: &str) -> String {
    let loaded = parse_text(text, "test.yaml");
    assert!(loaded.policies.is_empty(), "loaded {:?}", loaded.policies);
    assert_eq!(loaded.errors.len(), 1, "{:?}", loaded.errors);
    loaded.errors[0].to_string()
}

#[test]
fn load_dir_keeps_valid_and_reports_the_rest() {
    let dir = data("policies");
    let (policies, errors) = load_dir(&dir);
    let names: Vec<&str> = policies.iter().map(|p| p.metadata.name.as_str()).collect();
    assert_eq!(names, ["reject-failed", "allow-internal", "calico-sample"]);

    let (notes, errors): (Vec<&PolicyError>, Vec<&PolicyError>) =
        errors.iter().partition(|e| e.is_note());
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0]
            .to_string()
            .contains("10-valid.yaml document 2: skipped a document of kind \"ConfigMap\""),
        "{}",
        notes[0]
    );

    let messages: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    let expect = [
        "20-invalid.yaml document 1: policy \"bad-regex\" rule 1 imagePath.values[0]: invalid regex \"(\": unclosed group",
        "20-invalid.yaml document 2: policy \"bad-selector\" selector: selector \"a == \" at column 6: expected a quoted value",
        "20-invalid.yaml document 3: policy \"bad-operator\" spec.rules[0].imageScanStatus.operator: unknown variant `IsAnyOf`",
        "20-invalid.yaml document 4: policy \"negative-days\" rule 0 imageLastScan.duration.days: must not be negative, not -1",
        "20-invalid.yaml document 5: policy \"reject-failed\" is defined again (first in ",
    ];
    assert_eq!(messages.len(), expect.len(), "{messages:#?}");
    for (m, e) in messages.iter().zip(expect) {
        assert!(m.contains(e), "{m}\n  should contain\n{e}");
    }
}

#[test]
fn load_dir_all_keeps_exceptions() {
    let loaded = load_dir_all(&data("policies"));
    assert_eq!(loaded.exceptions.len(), 1);
    let (name, e) = &loaded.exceptions[0];
    assert_eq!(name, "log4shell-accepted");
    assert_eq!(e.id, "CVE-2021-44228");
    assert_eq!(e.scope, portcullis_core::ExceptionScope::Repository);
    assert_eq!(e.repository.as_deref(), Some("legacy/app"));
    assert_eq!(loaded.notes.len(), 1);
}

#[test]
fn missing_dir_is_a_read_error() {
    let (policies, errors) = load_dir(&data("no-such-dir"));
    assert!(policies.is_empty());
    assert_eq!(errors.len(), 1);
    assert!(
        matches!(errors[0], PolicyError::Read { .. }),
        "{:?}",
        errors[0]
    );
}

#[test]
fn bad_regex_names_policy_rule_and_field() {
    let text = policy_yaml(
        "p",
        "  rules:\n  - action: Allow\n  - action: Allow\n  - action: Reject\n    imagePath:\n      operator: IsOneOf\n      values: ['ok', '(']\n",
    );
    assert_eq!(
        only_error(&text),
        "test.yaml: policy \"p\" rule 2 imagePath.values[1]: invalid regex \"(\": unclosed group"
    );
}

#[test]
fn invalid_fields_are_named() {
    // (spec body, expected part of the message)
    let cases = [
        (
            "  namespaceSelector: \"has(a\"\n",
            "policy \"p\" namespaceSelector: selector \"has(a\" at column 6: expected ')'",
        ),
        (
            "  rules:\n  - action: Reject\n    maxCVSSScore: {operator: gt, value: 11}\n",
            "policy \"p\" rule 0 maxCVSSScore.value: must be between 0 and 10, not 11",
        ),
        (
            "  rules:\n  - action: Reject\n    maxCVSSScore: {operator: above, value: 1}\n",
            "policy \"p\" spec.rules[0].maxCVSSScore.operator: unknown variant `above`",
        ),
        (
            "  rules:\n  - action: Reject\n    imageLastScan: {operator: gt, duration: {months: -2}}\n",
            "rule 0 imageLastScan.duration.months: must not be negative, not -2",
        ),
        (
            "  rules:\n  - action: Reject\n    imageLastScan: {operator: gt, duration: {days: 1}, time: '2022-01-01T00:00:00Z'}\n",
            "rule 0 imageLastScan: give either duration or time, not both",
        ),
        (
            "  rules:\n  - action: Reject\n    imageLastScan: {operator: gt}\n",
            "rule 0 imageLastScan: give a duration or a time",
        ),
        (
            "  rules:\n  - action: Reject\n    imageLastScan: {operator: gt, time: 'last week'}\n",
            "rule 0 imageLastScan.time: invalid RFC 3339 time \"last week\"",
        ),
        (
            "  rules:\n  - action: Reject\n    imageScanStatus: {operator: IsOneOf, values: [Broken]}\n",
            "spec.rules[0].imageScanStatus.values[0]: unknown variant `Broken`",
        ),
        (
            "  rules:\n  - action: Reject\n    imagePath: {operator: IsNoneOf, values: []}\n",
            "rule 0 imagePath.values: must list at least one value",
        ),
        (
            "  rules:\n  - action: Reject\n    imagePaths: {operator: IsOneOf, values: [x]}\n",
            "spec.rules[0].imagePaths: unknown field `imagePaths`",
        ),
        (
            "  rules:\n  - action: Deny\n",
            "spec.rules[0].action: unknown variant `Deny`",
        ),
        (
            "  selectr: all()\n",
            "spec.selectr: unknown field `selectr`",
        ),
        ("  mode: Dryrun\n", "spec.mode: unknown variant `Dryrun`"),
    ];
    for (body, expected) in cases {
        let msg = only_error(&policy_yaml("p", body));
        assert!(msg.starts_with("test.yaml: "), "{msg}");
        assert!(
            msg.contains(expected),
            "{msg}\n  should contain\n{expected}"
        );
    }
}

#[test]
fn non_finite_order_is_refused() {
    let raw: portcullis_policy::ContainerAdmissionPolicy =
        serde_saphyr::from_str(&policy_yaml("p", "  order: .nan\n")).unwrap();
    let err = raw.validate().unwrap_err();
    assert_eq!(
        err.to_string(),
        "policy \"p\" order: must be a finite number, not NaN"
    );
}

#[test]
fn wrong_api_version_and_missing_name() {
    let text = "apiVersion: example.com/v9\nkind: ContainerAdmissionPolicy\nmetadata: {name: p}\nspec: {}\n";
    assert!(
        only_error(text)
            .contains("policy \"p\" apiVersion: must be containersecurity.portcullis.dev/v1")
    );
    let text = "apiVersion: containersecurity.portcullis.dev/v1\nkind: ContainerAdmissionPolicy\nmetadata: {}\nspec: {}\n";
    assert!(
        only_error(text).contains("policy (unnamed) metadata: missing field `name`"),
        "{}",
        only_error(text)
    );
}

#[test]
fn invalid_policy_is_never_half_applied() {
    // Rule 0 is fine and would reject everything; rule 1 is broken. The whole policy must be
    // left out, so the image is not rejected by rule 0.
    let text = policy_yaml(
        "half",
        "  rules:\n  - action: Reject\n  - action: Reject\n    imageLastScan: {operator: lt, duration: {days: -5}}\n",
    );
    let loaded = parse_text(&text, "t.yaml");
    assert!(loaded.policies.is_empty());
    assert_eq!(loaded.errors.len(), 1);

    // The same through PolicySet::new with the parsed (unchecked) object.
    let raw: portcullis_policy::ContainerAdmissionPolicy = serde_saphyr::from_str(&text).unwrap();
    let (set, errors) = PolicySet::new(vec![raw]);
    assert!(set.is_empty());
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0]
            .to_string()
            .contains("policy \"half\" rule 1 imageLastScan.duration.days"),
        "{}",
        errors[0]
    );
}

#[test]
fn yaml_syntax_error_loads_nothing_from_the_file() {
    let text = format!(
        "{}---\nkind: [unclosed\n",
        policy_yaml("ok", "  rules: []\n")
    );
    let loaded = parse_text(&text, "broken.yaml");
    assert!(loaded.policies.is_empty());
    assert_eq!(loaded.errors.len(), 1);
    let msg = loaded.errors[0].to_string();
    assert!(msg.starts_with("broken.yaml: invalid YAML"), "{msg}");
}

#[test]
fn json_text_and_single_document_origins() {
    let text = r#"{"apiVersion": "containersecurity.portcullis.dev/v1", "kind": "ContainerAdmissionPolicy",
        "metadata": {"name": "j"}, "spec": {"rules": [{"action": "Reject", "imagePath": {"operator": "IsOneOf", "values": ["["]}}]}}"#;
    let loaded = parse_text(text, "p.json");
    assert_eq!(loaded.errors.len(), 1);
    let msg = loaded.errors[0].to_string();
    assert!(
        msg.starts_with("p.json: policy \"j\" rule 0 imagePath.values[0]: invalid regex \"[\""),
        "{msg}"
    );
}

#[test]
fn documents_without_kind_are_notes() {
    let loaded = parse_text("foo: bar\n---\n---\n", "x.yaml");
    assert!(loaded.policies.is_empty() && loaded.errors.is_empty());
    assert_eq!(loaded.notes.len(), 1);
    assert!(loaded.notes[0].is_note());
}

/// A cluster's policies exported as one file: 10,000 documents of the selector forms teams use
/// (an app, a list of teams, a namespace, a label key with a tier) load, and each workload is
/// decided by the one policy that selects it, or by the catch-all after them all.
#[test]
fn ten_thousand_policies_in_one_file_load_and_each_selects_its_own() {
    use std::collections::BTreeMap;

    use portcullis_policy::{ImageDecision, ImageFacts, Workload, evaluate_image};

    let mut text = String::new();
    for i in 1..10_000 {
        let selector = match i % 4 {
            0 => format!("  selector: app == 'svc-{i}'\n"),
            1 => format!("  selector: team in {{'team-{i}', 'squad-{i}'}}\n"),
            2 => format!("  namespaceSelector: kubernetes.io/metadata.name == 'ns-{i}'\n"),
            _ => format!("  selector: has(svc-{i}) && tier == 'web'\n"),
        };
        let body = format!("  order: {i}\n{selector}  rules:\n  - action: Reject\n");
        text.push_str(&policy_yaml(&format!("team-{i:05}"), &body));
        text.push_str("---\n");
    }
    text.push_str(&policy_yaml(
        "catch-all",
        "  order: 20000\n  rules:\n  - action: Allow\n",
    ));
    let loaded = parse_text(&text, "policies.yaml");
    assert!(loaded.errors.is_empty(), "{:?}", &loaded.errors[..1]);
    let (set, errors) = PolicySet::new(loaded.policies);
    assert!(errors.is_empty());
    assert_eq!(set.len(), 10_000);

    let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let img = ImageFacts::unscanned("registry.example/app:1");
    let now = time::OffsetDateTime::now_utc();
    let decided_by = |labels: &[(&str, &str)], ns: &[(&str, &str)]| {
        let (labels, ns) = (map(labels), map(ns));
        let w = Workload {
            labels: &labels,
            namespace_labels: &ns,
            namespaced: true,
        };
        match evaluate_image(&set, &w, &img, now) {
            ImageDecision::Allowed { by: Some(by) } | ImageDecision::Rejected { by } => by.policy,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(decided_by(&[("app", "svc-4")], &[]), "team-00004");
    assert_eq!(decided_by(&[("team", "squad-9997")], &[]), "team-09997");
    let ns6 = [("kubernetes.io/metadata.name", "ns-6")];
    assert_eq!(decided_by(&[("app", "web")], &ns6), "team-00006");
    assert_eq!(
        decided_by(&[("svc-7", ""), ("tier", "web")], &[]),
        "team-00007"
    );
    // The earliest of several selecting policies decides.
    assert_eq!(
        decided_by(&[("app", "svc-8"), ("team", "team-5")], &ns6),
        "team-00005"
    );
    // A label key alone, or a value under another key, selects nothing.
    assert_eq!(decided_by(&[("svc-7", "")], &[]), "catch-all");
    assert_eq!(decided_by(&[("team", "svc-4")], &[]), "catch-all");
}

/// Over the document limit, a file is refused whole with the limit named, YAML or JSON.
#[test]
fn a_file_over_the_document_limit_is_refused_whole() {
    use portcullis_policy::MAX_DOCUMENTS_PER_FILE;

    let over = MAX_DOCUMENTS_PER_FILE + 1;
    let yaml = "a: 1\n---\n".repeat(over);
    let err = only_error(&yaml);
    assert!(
        err.contains(&format!(
            "over the limit of {MAX_DOCUMENTS_PER_FILE} documents"
        )),
        "{err}"
    );
    let json = format!("[{}{{}}]", "{},".repeat(over - 1));
    let err = only_error(&json);
    assert_eq!(
        err,
        format!(
            "test.yaml: {over} documents, over the limit of {MAX_DOCUMENTS_PER_FILE} documents; split it into several files"
        )
    );
}

/// A file over the size limit is not read at all (a sparse file: nothing is written).
#[test]
fn a_file_over_the_size_limit_is_not_read() {
    use portcullis_policy::MAX_FILE_BYTES;

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.yaml"), policy_yaml("a", "  rules: []\n")).unwrap();
    let big = std::fs::File::create(dir.path().join("b.yaml")).unwrap();
    big.set_len(MAX_FILE_BYTES + 1).unwrap();
    let loaded = load_dir_all(dir.path());
    assert_eq!(loaded.policies.len(), 1);
    assert_eq!(loaded.errors.len(), 1, "{:?}", loaded.errors);
    let err = loaded.errors[0].to_string();
    assert!(
        err.ends_with(&format!(
            "b.yaml: {} bytes, over the limit of {MAX_FILE_BYTES} bytes; split it into several files",
            MAX_FILE_BYTES + 1
        )),
        "{err}"
    );
}
