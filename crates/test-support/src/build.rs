//! Packages, inventories and distros as tests need them: the fields a test cares about given,
//! the rest filled the way extractors fill them.

use portcullis_core::{
    Distro, Ecosystem, ImageInfo, Inventory, Location, Package, SourcePackage, purl_encode,
};

/// A package of `ecosystem` found by `test` at `/test/NAME`, with its purl.
pub fn package(ecosystem: Ecosystem, name: &str, version: &str) -> Package {
    Package {
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
