//! The encodings validate against the official schemas: CycloneDX 1.6 JSON (strict) with
//! the schema cyclonedx-python-lib ships, SPDX 2.3 with spdx-tools' validator.

use std::process::Command;

use portcullis_sbom::{Format, encode};

use portcullis_test_support::skip;

use crate::common::{fixed_options, realistic_inventory, run};

const CYCLONEDX_VALIDATE: &str = r#"
import sys
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
with open(sys.argv[1]) as f:
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(f.read(), all_errors=True)
errors = list(errors or [])
for e in errors:
    print(e)
sys.exit(1 if errors else 0)
"#;

fn python_has(modules: &str) -> Option<bool> {
    let out = run(Command::new("python3").args(["-c", &format!("import {modules}")]))?;
    Some(out.status.success())
}

#[test]
fn cyclonedx_validates_against_official_1_6_schema() {
    match python_has("cyclonedx.validation.json, jsonschema, referencing") {
        None => return skip("python3"),
        Some(false) => {
            return skip("python modules cyclonedx-python-lib and jsonschema (pip)");
        }
        Some(true) => {}
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bom.cdx.json");
    let mut inv = realistic_inventory();
    std::fs::write(
        &file,
        encode(&inv, Format::CycloneDxJson, &fixed_options()).unwrap(),
    )
    .unwrap();
    let out = Command::new("python3")
        .args(["-c", CYCLONEDX_VALIDATE])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "CycloneDX schema validation failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The validator is not vacuous: a document missing a required field fails.
    inv.image.os = None;
    let mut doc: serde_json::Value =
        serde_json::from_slice(&encode(&inv, Format::CycloneDxJson, &fixed_options()).unwrap())
            .unwrap();
    doc["components"][0].as_object_mut().unwrap().remove("name");
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let out = Command::new("python3")
        .args(["-c", CYCLONEDX_VALIDATE])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a component without a name passed validation"
    );
}

#[test]
fn spdx_validates_with_spdx_tools() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bom.spdx.json");
    let mut inv = realistic_inventory();
    std::fs::write(
        &file,
        encode(&inv, Format::SpdxJson, &fixed_options()).unwrap(),
    )
    .unwrap();
    let Some(out) = run(Command::new("pyspdxtools").arg("-i").arg(&file)) else {
        return skip("pyspdxtools on PATH (pip package spdx-tools)");
    };
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && !log.contains("invalid"),
        "SPDX validation failed:\n{log}"
    );

    // Not vacuous: a package without its download location is rejected.
    inv.image.os = None;
    let mut doc: serde_json::Value =
        serde_json::from_slice(&encode(&inv, Format::SpdxJson, &fixed_options()).unwrap()).unwrap();
    doc["packages"][1]
        .as_object_mut()
        .unwrap()
        .remove("downloadLocation");
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let out = Command::new("pyspdxtools")
        .arg("-i")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a package without downloadLocation passed validation"
    );
}
