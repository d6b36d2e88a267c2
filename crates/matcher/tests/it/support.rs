//! Helpers shared by the integration tests.

use std::path::PathBuf;

use portcullis_core::{
    Advisory, AdvisoryKind, Affected, Distro, Ecosystem, Event, ImageInfo, Inventory, Location,
    Package, Range, RangeKind, SeverityScore, SourcePackage, TrackerState, purl_encode,
};

/// The third-party test data folder `sub` (see DEVELOPERS.md): `None` with a printed reason
/// when missing, a failure under `CI=true`.
pub(crate) fn testdata(sub: &str) -> Option<PathBuf> {
    let root = std::env::var_os("PORTCULLIS_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/testdata"
            ))
        });
    let dir = root.join(sub);
    if dir.exists() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "test data {} is missing (CI=true)",
        dir.display()
    );
    eprintln!("skipping: test data {} is missing", dir.display());
    None
}

pub(crate) fn pkg(eco: Ecosystem, name: &str, version: &str) -> Package {
    Package {
        name: name.into(),
        version: version.into(),
        ecosystem: eco,
        purl: format!(
            "pkg:{}/{}@{}",
            eco.purl_type(),
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

pub(crate) fn with_source(mut p: Package, name: &str, version: &str) -> Package {
    p.source = Some(SourcePackage {
        name: name.into(),
        version: version.into(),
    });
    p
}

pub(crate) fn distro(id: &str, version_id: &str, codename: Option<&str>) -> Distro {
    Distro {
        id: id.into(),
        version_id: Some(version_id.into()),
        codename: codename.map(Into::into),
        pretty_name: None,
    }
}

pub(crate) fn inventory(os: Option<Distro>, packages: Vec<Package>) -> Inventory {
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

/// Events from `i=0 f=1.2 la=.. l=..`.
pub(crate) fn events(spec: &str) -> Vec<Event> {
    spec.split_whitespace()
        .map(|t| {
            let (k, v) = t.split_once('=').expect("kind=value");
            match k {
                "i" => Event::Introduced(v.into()),
                "f" => Event::Fixed(v.into()),
                "la" => Event::LastAffected(v.into()),
                "l" => Event::Limit(v.into()),
                _ => panic!("bad event kind {k}"),
            }
        })
        .collect()
}

pub(crate) fn affected(ecosystem: &str, package: &str, kind: RangeKind, spec: &str) -> Affected {
    Affected {
        ecosystem: ecosystem.into(),
        package: package.into(),
        ranges: if spec.is_empty() {
            vec![]
        } else {
            vec![Range {
                kind,
                events: events(spec),
            }]
        },
        versions: vec![],
        state: TrackerState::Fixed,
    }
}

pub(crate) fn advisory(id: &str, aliases: &[&str], affected: Vec<Affected>) -> Advisory {
    Advisory {
        id: id.into(),
        aliases: aliases.iter().map(|s| s.to_string()).collect(),
        summary: Some(format!("summary of {id}")),
        modified: None,
        withdrawn: None,
        severity: vec![],
        affected,
        kind: AdvisoryKind::Vulnerability,
        source: "test".into(),
    }
}

pub(crate) fn cvss(vector: &str) -> SeverityScore {
    let kind = if vector.starts_with("CVSS:4") {
        "CVSS_V4"
    } else if vector.starts_with("CVSS:3") {
        "CVSS_V3"
    } else {
        "CVSS_V2"
    };
    SeverityScore {
        kind: kind.into(),
        score: vector.into(),
    }
}
