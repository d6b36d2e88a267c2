//! Packages, inventories and distros as tests need them: the fields a test cares about given,
//! the rest filled the way extractors fill them.

use portcullis_core::{
    DbInfo, Digest, Distro, Ecosystem, ImageInfo, Inventory, Location, Package, ScanReport,
    SourcePackage, Summary, Thresholds, purl_encode,
};

/// A package of `ecosystem` found by `test` at `/test/NAME`, with its purl.
pub fn package(ecosystem: Ecosystem, name: &str, version: &str) -> Package {
    Package {
        module: None,
        name: name.into(),
        version: version.into(),
        ecosystem,
        purl: format!(
            "pkg:{}/{}@{}",
            ecosystem.purl_type(),
            purl_encode(name),
            purl_encode(version)
        ),
        source: None,
        found_by: "test".into(),
        locations: vec![Location {
            layer: None,
            path: format!("/test/{name}"),
        }],
        arch: None,
        licenses: vec![],
    }
}

/// `p` built from the source package `name` `version`.
pub fn with_source(mut p: Package, name: &str, version: &str) -> Package {
    p.source = Some(SourcePackage {
        name: name.into(),
        version: version.into(),
    });
    p
}

/// A distro as `/etc/os-release` names it.
pub fn distro(id: &str, version_id: &str, codename: Option<&str>) -> Distro {
    Distro {
        id: id.into(),
        version_id: Some(version_id.into()),
        codename: codename.map(Into::into),
        pretty_name: None,
    }
}

/// An inventory of image `test` with `os` and `packages`.
pub fn inventory(os: Option<Distro>, packages: Vec<Package>) -> Inventory {
    Inventory {
        image: ImageInfo {
            reference: "test".into(),
            os,
            ..Default::default()
        },
        packages,
        warnings: vec![],
    }
}

/// A well-formed sha256 digest whose hex is `n` repeated: distinct per `n`, recognisable in
/// a failing assertion (`digest(1)` is `sha256:0101…01`).
pub fn digest(n: u8) -> Digest {
    Digest::sha256(&format!("sha256:{}", format!("{n:02x}").repeat(32))).expect("64 hex digits")
}

/// A clean report of `inv` under DB version `db_version`, scanned at a fixed time.
pub fn report(inv: &Inventory, db_version: &str) -> ScanReport {
    ScanReport {
        target: "oci:x".into(),
        image: inv.image.clone(),
        packages: inv.packages.clone(),
        vulnerabilities: Vec::new(),
        summary: Summary::compute(&[], &Thresholds::default()),
        db: DbInfo {
            version: db_version.into(),
            ..Default::default()
        },
        scanned_at: Some(time::macros::datetime!(2026-01-02 03:04:05 UTC)),
        warnings: Vec::new(),
        coverage: Vec::new(),
    }
}

/// `version` with its last run of digits moved by `k` (`2.19.0`, 3 → `2.19.3`); as it is when
/// it has none, or for `k` = 0.
fn vary(version: &str, k: usize) -> String {
    let Some(end) = version.rfind(|c: char| c.is_ascii_digit()) else {
        return version.to_string();
    };
    let start = version[..=end]
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    match version[start..=end].parse::<u64>() {
        Ok(n) if k > 0 => format!(
            "{}{}{}",
            &version[..start],
            n + k as u64,
            &version[end + 1..]
        ),
        _ => version.to_string(),
    }
}

/// Image `i` of a cluster-sized set made from `base`, as the benchmarks use: each package takes
/// one of `variants` versions (its own, or its last number moved), chosen per image and
/// package, so no two images hold the same list while they still share most packages, as
/// images on common base layers do. Its digest is `i` written as a sha256.
pub fn varied(base: &Inventory, i: usize, variants: usize) -> (Digest, Inventory) {
    let mut inv = base.clone();
    for (j, p) in inv.packages.iter_mut().enumerate() {
        let k = (i.wrapping_mul(2_654_435_761) ^ j.wrapping_mul(40_503)) % variants.max(1);
        p.version = vary(&p.version, k);
    }
    let digest = Digest::parse(&format!("sha256:{i:064x}")).expect("a sha256 digest");
    inv.image.digest = Some(digest.clone());
    (digest, inv)
}
