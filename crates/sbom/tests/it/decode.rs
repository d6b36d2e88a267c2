//! Decoding hand-written third-party SBOMs, and clear errors for bad input.

use portcullis_core::{Ecosystem, Location, SourcePackage};
use portcullis_sbom::{SbomError, decode};

use crate::common::data;

fn decode_file(name: &str) -> portcullis_core::Inventory {
    let bytes = std::fs::read(data(name)).unwrap();
    decode(&bytes, name).unwrap()
}

fn find<'a>(inv: &'a portcullis_core::Inventory, name: &str) -> &'a portcullis_core::Package {
    inv.packages
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no package {name} in {:#?}", inv.packages))
}

#[test]
fn cyclonedx_json_1_5() {
    let inv = decode_file("cyclonedx-1.5.json");
    assert_eq!(inv.image.reference, "example.org/team/app:1.0");
    assert_eq!(
        inv.image.digest.as_ref().map(|d| d.as_str()),
        Some("sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
    );
    let os = inv.image.os.as_ref().unwrap();
    assert_eq!(
        (
            os.id.as_str(),
            os.version_id.as_deref(),
            os.codename.as_deref()
        ),
        ("debian", Some("12"), Some("bookworm"))
    );

    let names: Vec<&str> = inv.packages.iter().map(|p| p.name.as_str()).collect();
    // Sorted by ecosystem, then name; the nested Maven component is found too.
    assert_eq!(
        names,
        [
            "libssl3",
            "tzdata",
            "urllib3",
            "left-pad",
            "org.example:child",
            "org.example:parent"
        ]
    );

    let ssl = find(&inv, "libssl3");
    assert_eq!(ssl.ecosystem, Ecosystem::Debian);
    assert_eq!(
        ssl.source,
        Some(SourcePackage {
            name: "openssl".into(),
            version: "3.0.11-1~deb12u2".into()
        })
    );
    assert_eq!(ssl.arch.as_deref(), Some("amd64"));
    assert_eq!(ssl.licenses, ["Apache-2.0", "OpenSSL-style"]);
    assert_eq!(
        ssl.locations,
        [Location {
            layer: Some(
                "sha256:1111111111111111111111111111111111111111111111111111111111111111"
                    .parse()
                    .expect("digest")
            ),
            path: "/var/lib/dpkg/status".into()
        }]
    );
    assert_eq!(ssl.found_by, "sbom/cyclonedx");
    // distro qualifier kept in the purl
    assert!(ssl.purl.contains("distro=debian-12"), "{}", ssl.purl);

    let tz = find(&inv, "tzdata");
    assert_eq!(tz.version, "2024a-0+deb12u1");
    assert_eq!(
        tz.locations,
        [Location {
            layer: None,
            path: "cyclonedx-1.5.json".into()
        }]
    );
    assert_eq!(find(&inv, "urllib3").licenses, ["MIT"]);
    assert_eq!(
        find(&inv, "left-pad").version,
        "1.3.0",
        "version from the purl when the field is absent"
    );

    assert_eq!(inv.warnings.len(), 2, "{:#?}", inv.warnings);
    assert!(
        inv.warnings
            .iter()
            .any(|w| w.contains("components[4] 'mystery-binary' has no purl")),
        "{:#?}",
        inv.warnings
    );
    assert!(
        inv.warnings
            .iter()
            .any(|w| w.contains("components[5] 'busybox'") && w.contains("'generic'")),
        "{:#?}",
        inv.warnings
    );
}

#[test]
fn cyclonedx_xml_1_4() {
    let inv = decode_file("cyclonedx-1.4.xml");
    assert_eq!(inv.image.reference, "alpine:3.19");
    assert!(
        inv.image
            .digest
            .as_ref()
            .is_some_and(|d| d.as_str().starts_with("sha256:51b6"))
    );
    let os = inv.image.os.as_ref().unwrap();
    assert_eq!(
        (os.id.as_str(), os.version_id.as_deref()),
        ("alpine", Some("3.19.1"))
    );

    let musl = find(&inv, "musl");
    assert_eq!(
        (musl.ecosystem, musl.version.as_str()),
        (Ecosystem::Alpine, "1.2.4_git20230717-r4")
    );
    assert_eq!(musl.source.as_ref().map(|s| s.name.as_str()), Some("musl"));
    assert_eq!(musl.locations[0].path, "/lib/apk/db/installed");
    assert_eq!(musl.licenses, ["MIT"]);

    let ssl = find(&inv, "ssl_client");
    assert_eq!(
        ssl.source.as_ref().map(|s| s.name.as_str()),
        Some("openssl")
    );
    assert_eq!(
        ssl.licenses,
        ["Apache-2.0", "MIT OR BSD-2-Clause"],
        "expression split at its top-level AND"
    );

    let node = find(&inv, "@types/node");
    assert_eq!(
        (node.ecosystem, node.version.as_str()),
        (Ecosystem::Npm, "20.11.0")
    );
    assert_eq!(
        find(&inv, "undici-types").version,
        "5.26.5",
        "nested component"
    );
    assert_eq!(inv.packages.len(), 4);

    assert_eq!(inv.warnings.len(), 1, "{:#?}", inv.warnings);
    assert!(
        inv.warnings[0].contains("'no-purl-here' has no purl"),
        "{}",
        inv.warnings[0]
    );
    assert!(
        inv.warnings[0].contains("cyclonedx-1.4.xml: component #4 at line"),
        "{}",
        inv.warnings[0]
    );
}

#[test]
fn spdx_json_2_3() {
    let inv = decode_file("spdx-2.3.json");
    assert_eq!(inv.image.reference, "ubuntu:22.04");
    assert_eq!(
        inv.image.digest.as_ref().map(|d| d.as_str()),
        Some("sha256:77906da86b60585ce12215807090eb327e7386c8fafb5402369e421f44eff17e")
    );
    let os = inv.image.os.as_ref().unwrap();
    assert_eq!(
        (os.id.as_str(), os.version_id.as_deref()),
        ("ubuntu", Some("22.04")),
        "from the distro qualifier"
    );

    let libc = find(&inv, "libc6");
    assert_eq!(libc.ecosystem, Ecosystem::Ubuntu);
    assert_eq!(
        libc.source,
        Some(SourcePackage {
            name: "glibc".into(),
            version: "2.35-0ubuntu3.6".into()
        })
    );
    assert_eq!(
        libc.licenses,
        ["LGPL-2.1-only", "GPL"],
        "LicenseRef replaced by its text"
    );
    assert_eq!(libc.found_by, "sbom/spdx");

    let bsd = find(&inv, "bsdutils");
    assert_eq!(bsd.version, "1:2.37.2-4ubuntu3");
    assert_eq!(
        bsd.source,
        Some(SourcePackage {
            name: "util-linux".into(),
            version: "1:2.37.2-4ubuntu3".into()
        })
    );

    let jinja = find(&inv, "jinja2");
    assert_eq!(
        (jinja.ecosystem, jinja.licenses.as_slice()),
        (Ecosystem::PyPI, ["BSD-3-Clause".to_string()].as_slice())
    );
    assert_eq!(inv.packages.len(), 3);

    assert_eq!(inv.warnings.len(), 1, "{:#?}", inv.warnings);
    assert!(
        inv.warnings[0].contains(
            "packages[4] (SPDXRef-Package-binary-unknown) 'some-static-binary' has no purl"
        ),
        "{}",
        inv.warnings[0]
    );
}

fn err(input: &str) -> SbomError {
    match decode(input.as_bytes(), "input.sbom") {
        Ok(inv) => panic!("decoded {input:?} into {inv:#?}"),
        Err(e) => e,
    }
}

#[test]
fn rejects_input_that_is_no_sbom() {
    for input in [
        "",
        "   \n",
        "hello world",
        "[1, 2]",
        "<html><body/></html>",
        r#"{"name": "x", "version": 1}"#,
    ] {
        let e = err(input);
        assert!(matches!(e, SbomError::NotSbom { .. }), "{input:?}: {e:?}");
        assert!(e.to_string().starts_with("input.sbom: "), "{e}");
    }
    assert!(
        err(r#"{"name": "x"}"#)
            .to_string()
            .contains("top-level keys: name")
    );
}

#[test]
fn malformed_json_and_xml_say_where() {
    let e = err("{\n  \"bomFormat\": \"CycloneDX\",\n  oops\n}");
    assert!(matches!(e, SbomError::Json { line: 3, .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("input.sbom: malformed JSON at line 3"),
        "{e}"
    );

    let e = err("<bom xmlns=\"http://cyclonedx.org/schema/bom/1.5\">\n<components>\n</bom>");
    assert!(matches!(e, SbomError::Xml { line: 3, .. }), "{e:?}");
}

#[test]
fn unsupported_versions() {
    let e = err(r#"{"bomFormat": "CycloneDX", "specVersion": "2.0", "components": []}"#);
    assert!(
        matches!(&e, SbomError::UnsupportedVersion { format: "CycloneDX", version, .. } if version == "2.0"),
        "{e:?}"
    );
    let e = err(r#"<bom xmlns="http://cyclonedx.org/schema/bom/1.1"/>"#);
    assert!(matches!(e, SbomError::UnsupportedVersion { .. }), "{e:?}");
    let e = err(r#"{"spdxVersion": "SPDX-3.0", "packages": []}"#);
    assert!(
        matches!(e, SbomError::UnsupportedVersion { format: "SPDX", .. }),
        "{e:?}"
    );
}

#[test]
fn invalid_purls_name_the_component() {
    let e = err(
        r#"{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [
            {"type": "library", "name": "ok", "version": "1", "purl": "pkg:npm/ok@1"},
            {"type": "library", "name": "bad", "version": "1", "purl": "npm/bad@1"}]}"#,
    );
    assert!(
        matches!(&e, SbomError::InvalidPurl { element, purl, .. } if element == "components[1]" && purl == "npm/bad@1"),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "input.sbom: components[1]: invalid purl 'npm/bad@1'"
    );

    let e = err(
        "<bom xmlns=\"http://cyclonedx.org/schema/bom/1.6\">\n<components>\n\
         <component type=\"library\"><name>a</name><version>1</version><purl>pkg:npm/a@1</purl></component>\n\
         <component type=\"library\"><name>b</name><version>1</version><purl>pkg:npm/b%zz@1</purl></component>\n\
         </components></bom>",
    );
    assert!(
        e.to_string()
            .starts_with("input.sbom: component #1 at line 4: invalid purl"),
        "{e}"
    );

    let e = err(
        r#"{"spdxVersion": "SPDX-2.3", "packages": [{"SPDXID": "SPDXRef-x", "name": "x", "versionInfo": "1",
            "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:"}]}]}"#,
    );
    assert!(
        e.to_string()
            .starts_with("input.sbom: packages[0] (SPDXRef-x): invalid purl 'pkg:'"),
        "{e}"
    );
}

#[test]
fn wrongly_shaped_component_is_an_error_naming_it() {
    let e = err(
        r#"{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [{"type": "library"}, {"name": 3}]}"#,
    );
    assert!(
        matches!(&e, SbomError::Shape { element, .. } if element == "components[1]"),
        "{e:?}"
    );
}
