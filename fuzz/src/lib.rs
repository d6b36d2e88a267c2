//! What the fuzz targets share: splitting one input into the parts a target needs.

use std::collections::BTreeMap;

/// Splits `data` at the first `n - 1` bytes 0xff into `n` parts (the last part takes the rest;
/// missing parts are empty), so one input can carry several strings whatever their bytes.
pub fn parts(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out = Vec::with_capacity(n);
    let mut rest = data;
    for _ in 1..n {
        match rest.iter().position(|&b| b == 0xff) {
            Some(i) => {
                out.push(&rest[..i]);
                rest = &rest[i + 1..];
            }
            None => {
                out.push(rest);
                rest = &[];
            }
        }
    }
    out.push(rest);
    out
}

/// `key=value` lines as labels.
pub fn labels(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
