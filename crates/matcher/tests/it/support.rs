//! Helpers shared by the integration tests.

use portcullis_core::{
    Advisory, AdvisoryKind, Affected, Event, Range, RangeKind, SeverityScore, TrackerState,
};

pub(crate) use portcullis_test_support::build::{distro, inventory, package as pkg, with_source};
pub(crate) use portcullis_test_support::testdata;

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
