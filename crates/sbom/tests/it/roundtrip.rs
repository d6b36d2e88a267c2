//! encode → decode gives back the inventory, in every format.

use portcullis_sbom::{Format, decode, encode, sort_packages};

use crate::common::{fixed_options, identities, realistic_inventory};

#[test]
fn cyclonedx_round_trip_is_lossless() {
    let inv = realistic_inventory();
    let bytes = encode(&inv, Format::CycloneDxJson, &fixed_options()).unwrap();
    let back = decode(&bytes, "bom.cdx.json").unwrap();
    assert_eq!(identities(&back), identities(&inv));
    let mut want = inv;
    sort_packages(&mut want.packages);
    assert_eq!(back, want);
}

#[test]
fn spdx_round_trip_is_lossless() {
    let inv = realistic_inventory();
    let bytes = encode(&inv, Format::SpdxJson, &fixed_options()).unwrap();
    let back = decode(&bytes, "bom.spdx.json").unwrap();
    assert_eq!(identities(&back), identities(&inv));
    let mut want = inv;
    sort_packages(&mut want.packages);
    assert_eq!(back, want);
}

#[test]
fn portcullis_json_round_trip() {
    let inv = realistic_inventory();
    let bytes = encode(&inv, Format::Json, &fixed_options()).unwrap();
    let back = decode(&bytes, "inventory.json").unwrap();
    let mut want = inv;
    sort_packages(&mut want.packages);
    assert_eq!(back, want);
}

#[test]
fn image_without_digest_or_os() {
    let mut inv = realistic_inventory();
    inv.image.reference = "dir:/tmp/rootfs".into();
    inv.image.digest = None;
    inv.image.os = None;
    inv.image.layers.clear();
    for p in &mut inv.packages {
        for l in &mut p.locations {
            l.layer = None;
        }
    }
    for format in [Format::CycloneDxJson, Format::SpdxJson] {
        let bytes = encode(&inv, format, &fixed_options()).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            !text.contains("pkg:oci/"),
            "{format}: no image purl without a digest"
        );
        let back = decode(&bytes, "x").unwrap();
        assert_eq!(back.image.digest, None, "{format}");
        assert_eq!(back.image.reference, "dir:/tmp/rootfs", "{format}");
        // No operating-system component: the distro comes back from the deb purls.
        assert_eq!(
            back.image.os.as_ref().map(|o| o.id.as_str()),
            Some("debian"),
            "{format}"
        );
        assert_eq!(identities(&back), identities(&inv), "{format}");
    }
}

#[test]
fn only_packages_get_package_purls() {
    let inv = realistic_inventory();
    let doc: serde_json::Value =
        serde_json::from_slice(&encode(&inv, Format::CycloneDxJson, &fixed_options()).unwrap())
            .unwrap();
    let comps = doc["components"].as_array().unwrap();
    let deb = comps
        .iter()
        .filter(|c| {
            c["purl"]
                .as_str()
                .is_some_and(|p| p.starts_with("pkg:deb/"))
        })
        .count();
    let want = inv
        .packages
        .iter()
        .filter(|p| p.purl.starts_with("pkg:deb/"))
        .count();
    assert_eq!(deb, want);
    let refs: std::collections::HashSet<&str> =
        comps.iter().filter_map(|c| c["bom-ref"].as_str()).collect();
    assert_eq!(
        refs.len(),
        comps.len(),
        "bom-refs are unique even for a purl found twice"
    );
}
