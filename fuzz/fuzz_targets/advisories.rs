//! Advisory feeds: OSV (JSON and YAML), npm WG, NVD (1.1 collections and 2.0 records), Alpine
//! secdb (JSON and YAML), Debian tracker JSON and DSA/DLA/CVE lists. Any bytes give records, a
//! warning or a clean error. The first byte picks the file name, which picks the parser as a
//! directory walk would.
#![no_main]

use libfuzzer_sys::fuzz_target;

const NAMES: &[&str] = &["feed.json", "feed.yaml", "list"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, content)) = data.split_first() else {
        return;
    };
    let name = NAMES[pick as usize % NAMES.len()];
    let _ = portcullis_vulndb::parse_file_bytes(name, content);
});
