//! SBOMs given as input: CycloneDX (JSON, XML), SPDX JSON, Portcullis JSON. Any bytes decode to
//! an inventory or a clean error, and a decoded inventory encodes to every format and decodes
//! again with the same packages.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_sbom::{EncodeOptions, Format, decode, encode};

fuzz_target!(|data: &[u8]| {
    let Ok(inv) = decode(data, "fuzz") else {
        return;
    };
    for format in Format::ALL {
        let bytes =
            encode(&inv, format, &EncodeOptions::default()).expect("a decoded inventory encodes");
        let again = decode(&bytes, "fuzz").expect("what was encoded decodes");
        assert_eq!(again.packages.len(), inv.packages.len(), "{format:?}");
    }
});
