//! The CycloneDX encoding, byte for byte, with a fixed timestamp and serial.

use portcullis_sbom::{Format, encode};

use crate::common::{fixed_options, realistic_inventory};

#[test]
fn cyclonedx_encoding_snapshot() {
    let out = encode(
        &realistic_inventory(),
        Format::CycloneDxJson,
        &fixed_options(),
    )
    .unwrap();
    insta::assert_snapshot!(String::from_utf8(out).unwrap());
}

#[test]
fn encoding_is_deterministic_whatever_the_package_order() {
    let inv = realistic_inventory();
    let mut reversed = inv.clone();
    reversed.packages.reverse();
    for format in [Format::CycloneDxJson, Format::SpdxJson, Format::Json] {
        assert_eq!(
            encode(&inv, format, &fixed_options()).unwrap(),
            encode(&reversed, format, &fixed_options()).unwrap(),
            "{format}"
        );
    }
}
