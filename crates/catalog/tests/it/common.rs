//! Finding third-party fixtures, and running one extractor on one file.

use std::path::PathBuf;

use portcullis_catalog::{ExtractError, ExtractInput, Extractor};
use portcullis_core::{Digest, Distro, Package};

/// A file of osv-scalibr's extractor testdata, relative to `extractor/filesystem/`.
pub(crate) fn scalibr(rel: &str) -> Option<Vec<u8>> {
    let path =
        portcullis_test_support::testdata("lockfiles/osv-scalibr/extractor/filesystem")?.join(rel);
    match std::fs::read(&path) {
        Ok(b) => Some(b),
        Err(e) => panic!("fixture {}: {e}", path.display()),
    }
}

/// A fixture of this crate (`tests/data/`).
pub(crate) fn own(rel: &str) -> Vec<u8> {
    let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data")).join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

pub(crate) fn extract(
    ex: &dyn Extractor,
    path: &str,
    content: &[u8],
    distro: Option<&Distro>,
) -> Result<Vec<Package>, ExtractError> {
    assert!(
        ex.required(path) || ex.required_by_magic(&content[..content.len().min(16)]),
        "{} does not want {path}",
        ex.name()
    );
    ex.extract(&ExtractInput {
        path,
        layer: Some(&layer()),
        content,
        distro,
    })
}

/// `name version` of each package, sorted.
pub(crate) fn nv(pkgs: &[Package]) -> Vec<String> {
    let mut v: Vec<String> = pkgs
        .iter()
        .map(|p| format!("{} {}", p.name, p.version))
        .collect();
    v.sort();
    v
}

pub(crate) fn debian12() -> Distro {
    Distro {
        id: "debian".into(),
        version_id: Some("12".into()),
        codename: Some("bookworm".into()),
        pretty_name: None,
    }
}

/// The layer [`extract`] says its file is in.
pub(crate) fn layer() -> Digest {
    portcullis_test_support::build::digest(0xfe)
}
