use serde_json::Value;

use portcullis_policy::{ContainerAdmissionPolicy, crd_yaml, exception_crd_yaml};

fn parse(yaml: &str) -> Value {
    serde_saphyr::from_str(yaml).expect("generated CRD is valid YAML")
}

fn schema(crd: &Value) -> &Value {
    &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
}

/// Walks every schema node and collects the keywords Kubernetes' structural schemas reject.
fn forbidden_keywords(v: &Value, path: &str, found: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for key in [
                "$ref",
                "$schema",
                "definitions",
                "$defs",
                "anyOf",
                "oneOf",
                "allOf",
                "const",
            ] {
                if map.contains_key(key) {
                    found.push(format!("{path}: {key}"));
                }
            }
            if map.contains_key("properties") && map.contains_key("additionalProperties") {
                found.push(format!("{path}: properties with additionalProperties"));
            }
            if matches!(map.get("type"), Some(Value::Array(_))) {
                found.push(format!("{path}: type list"));
            }
            for (k, child) in map {
                forbidden_keywords(child, &format!("{path}.{k}"), found);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                forbidden_keywords(child, &format!("{path}[{i}]"), found);
            }
        }
        _ => {}
    }
}

/// Every node that has `properties` or `items` must say its type (structural rule).
fn untyped_nodes(v: &Value, path: &str, found: &mut Vec<String>) {
    let Some(map) = v.as_object() else { return };
    if (map.contains_key("properties") || map.contains_key("items") || map.contains_key("enum"))
        && !map.contains_key("type")
    {
        found.push(path.to_string());
    }
    if let Some(Value::Object(props)) = map.get("properties") {
        for (k, child) in props {
            untyped_nodes(child, &format!("{path}.{k}"), found);
        }
    }
    if let Some(items) = map.get("items") {
        untyped_nodes(items, &format!("{path}[]"), found);
    }
}

#[test]
fn policy_crd_snapshot() {
    insta::assert_snapshot!("policy_crd", crd_yaml());
}

#[test]
fn exception_crd_snapshot() {
    insta::assert_snapshot!("exception_crd", exception_crd_yaml());
}

#[test]
fn crd_schemas_are_structural() {
    for yaml in [crd_yaml(), exception_crd_yaml()] {
        assert!(!yaml.contains("$ref"), "{yaml}");
        let crd = parse(&yaml);
        assert_eq!(crd["apiVersion"], "apiextensions.k8s.io/v1");
        assert_eq!(crd["kind"], "CustomResourceDefinition");
        assert_eq!(crd["spec"]["scope"], "Cluster");
        assert_eq!(crd["spec"]["group"], "containersecurity.portcullis.dev");
        let version = &crd["spec"]["versions"][0];
        assert_eq!(version["name"], "v1");
        assert_eq!(version["served"], true);
        assert_eq!(version["storage"], true);
        let root = schema(&crd);
        assert_eq!(root["type"], "object");
        assert_eq!(root["properties"]["spec"]["type"], "object");
        let mut found = Vec::new();
        forbidden_keywords(root, "root", &mut found);
        untyped_nodes(root, "root", &mut found);
        assert!(found.is_empty(), "non-structural parts: {found:#?}");
    }
}

#[test]
fn policy_crd_describes_every_field() {
    let crd = parse(&crd_yaml());
    assert_eq!(
        crd["metadata"]["name"],
        "containeradmissionpolicies.containersecurity.portcullis.dev"
    );
    assert_eq!(crd["spec"]["names"]["shortNames"][0], "cap");
    assert_eq!(crd["spec"]["names"]["kind"], "ContainerAdmissionPolicy");
    let columns = &crd["spec"]["versions"][0]["additionalPrinterColumns"];
    assert!(
        columns
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["jsonPath"] == ".spec.order")
    );
    let spec = &schema(&crd)["properties"]["spec"]["properties"];
    for field in ["order", "selector", "namespaceSelector", "mode", "rules"] {
        assert!(spec.get(field).is_some(), "spec.{field} missing");
    }
    assert_eq!(spec["selector"]["default"], "all()");
    assert_eq!(spec["mode"]["type"], "string");
    assert_eq!(
        spec["mode"]["enum"],
        serde_json::json!(["Enforce", "Audit"])
    );
    let rule = &spec["rules"]["items"]["properties"];
    for field in [
        "action",
        "imagePath",
        "imageScanStatus",
        "imageLastScan",
        "maxCVSSScore",
        "vulnerabilityIds",
    ] {
        assert!(rule.get(field).is_some(), "rule.{field} missing");
    }
    assert_eq!(rule["maxCVSSScore"]["properties"]["value"]["maximum"], 10.0);
    assert_eq!(
        rule["imageLastScan"]["properties"]["duration"]["properties"]["days"]["minimum"],
        0.0
    );
    assert_eq!(
        rule["imageScanStatus"]["properties"]["values"]["items"]["enum"],
        serde_json::json!(["Pass", "Warn", "Fail"])
    );
}

#[test]
fn policy_round_trips_through_serde() {
    let yaml = r#"
apiVersion: containersecurity.portcullis.dev/v1
kind: ContainerAdmissionPolicy
metadata: {name: p}
spec:
  order: 1.5
  mode: Audit
  rules:
    - action: Reject
      maxCVSSScore: {operator: gte, value: 9}
      vulnerabilityIds: {operator: IsOneOf, values: [CVE-2021-44228]}
"#;
    let p: ContainerAdmissionPolicy = serde_saphyr::from_str(yaml).unwrap();
    assert_eq!(p.spec.selector, "all()");
    assert_eq!(p.spec.namespace_selector, "all()");
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["spec"]["rules"][0]["maxCVSSScore"]["operator"], "gte");
    let back: ContainerAdmissionPolicy = serde_json::from_value(json).unwrap();
    assert_eq!(back, p);
}
