//! Alert-rule queries (`severity>=high and kev`...): any text parses or is refused cleanly.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = portcullis_api::alerts::Query::parse(text);
});
