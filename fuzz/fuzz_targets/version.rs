//! Versions of every ecosystem: parsing never panics, and comparison is a total order
//! consistent with equality (reflexive, antisymmetric, transitive); npm ranges parse and test
//! versions or fail cleanly.
#![no_main]

use std::cmp::Ordering;

use libfuzzer_sys::fuzz_target;
use portcullis_core::Ecosystem;
use portcullis_fuzz::parts;
use portcullis_version::{Parsed, compare, compare_semver};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let p = parts(rest, 3);
    let Ok(v) = p
        .iter()
        .map(|b| std::str::from_utf8(b))
        .collect::<Result<Vec<&str>, _>>()
    else {
        return;
    };
    let eco = Ecosystem::ALL[pick as usize % Ecosystem::ALL.len()];
    let cmp = |a: &str, b: &str| {
        if pick as usize / Ecosystem::ALL.len() % 2 == 1 {
            compare_semver(a, b).ok()
        } else {
            compare(eco, a, b).ok()
        }
    };
    let _ = portcullis_version::validate(eco, v[0]);
    let _ = Parsed::ecosystem(eco, v[0]);
    if let Some(o) = cmp(v[0], v[0]) {
        assert_eq!(
            o,
            Ordering::Equal,
            "{eco:?} {:?} is not equal to itself",
            v[0]
        );
    }
    if let (Some(ab), Some(ba)) = (cmp(v[0], v[1]), cmp(v[1], v[0])) {
        assert_eq!(
            ab,
            ba.reverse(),
            "{eco:?} {:?} vs {:?} is not antisymmetric",
            v[0],
            v[1]
        );
        if let (Some(bc), Some(ac)) = (cmp(v[1], v[2]), cmp(v[0], v[2])) {
            if ab != Ordering::Greater && bc != Ordering::Greater {
                assert_ne!(ac, Ordering::Greater, "{eco:?} {v:?} is not transitive");
            }
            if ab == Ordering::Equal {
                assert_eq!(bc, ac, "{eco:?} {v:?}: equal versions order differently");
            }
        }
    }
    let _ = portcullis_version::npm_range::parse(v[2]);
    let _ = portcullis_version::npm_range::satisfies(v[2], v[0]);
});
