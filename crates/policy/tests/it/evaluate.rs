use std::collections::BTreeMap;

use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use portcullis_core::Status;
use portcullis_policy::{
    Action, ContainerAdmissionPolicy, ImageDecision, ImageFacts, Mode, PolicySet, RuleRef, TopVuln,
    Workload, decide, evaluate_image, scan_matters,
};

const NOW: OffsetDateTime = datetime!(2024-03-31 12:00 UTC);

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Policies from YAML documents; every one must be valid.
fn set(yaml: &str) -> PolicySet {
    let policies: Vec<ContainerAdmissionPolicy> =
        serde_saphyr::from_multiple(yaml).expect("test YAML parses");
    let (set, errors) = PolicySet::new(policies);
    assert!(errors.is_empty(), "{errors:?}");
    set
}

fn policy(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: containersecurity.portcullis.dev/v1\nkind: ContainerAdmissionPolicy\nmetadata: {{name: {name}}}\nspec:\n{spec}"
    )
}

fn scanned(image: &str, status: Status, max_cvss: Option<f64>, ids: &[&str]) -> ImageFacts {
    ImageFacts {
        image: image.to_string(),
        status: Some(status),
        max_cvss,
        last_scan: Some(NOW - Duration::days(1)),
        vulnerability_ids: ids.iter().map(|s| s.to_string()).collect(),
        top: Vec::new(),
        not_examined: Vec::new(),
        ..ImageFacts::default()
    }
}

fn eval_one(
    set: &PolicySet,
    w_labels: &[(&str, &str)],
    ns_labels: &[(&str, &str)],
    img: &ImageFacts,
) -> ImageDecision {
    let (l, n) = (labels(w_labels), labels(ns_labels));
    let w = Workload {
        labels: &l,
        namespace_labels: &n,
        namespaced: true,
    };
    evaluate_image(set, &w, img, NOW)
}

/// Whether a single `Reject` rule with the given criterion matches the image.
fn criterion_matches(criterion: &str, img: &ImageFacts) -> bool {
    let s = set(&policy(
        "p",
        &format!("  rules:\n  - action: Reject\n    {criterion}\n"),
    ));
    match eval_one(&s, &[], &[], img) {
        ImageDecision::Rejected { .. } => true,
        ImageDecision::NoPolicy => false,
        other => panic!("unexpected {other:?}"),
    }
}

fn with_scan_time(mut img: ImageFacts, at: Option<OffsetDateTime>) -> ImageFacts {
    img.last_scan = at;
    img
}

#[test]
fn image_path_criterion() {
    let img = |s: &str| scanned(s, Status::Pass, None, &[]);
    let cases = [
        (
            "imagePath: {operator: IsOneOf, values: ['^gcr.io/company/']}",
            "gcr.io/company/app:1",
            true,
        ),
        (
            "imagePath: {operator: IsOneOf, values: ['^gcr.io/company/']}",
            "docker.io/gcr.io/company/app",
            false,
        ),
        // Values are searched for anywhere unless anchored (Go's MatchString semantics).
        (
            "imagePath: {operator: IsOneOf, values: ['company']}",
            "gcr.io/company/app",
            true,
        ),
        (
            "imagePath: {operator: IsOneOf, values: ['^a$', '^nginx']}",
            "nginx:1.25",
            true,
        ),
        (
            "imagePath: {operator: IsNoneOf, values: ['^gcr.io/']}",
            "nginx:1.25",
            true,
        ),
        (
            "imagePath: {operator: IsNoneOf, values: ['^gcr.io/', 'nginx']}",
            "nginx:1.25",
            false,
        ),
    ];
    for (criterion, image, want) in cases {
        assert_eq!(
            criterion_matches(criterion, &img(image)),
            want,
            "{criterion} on {image}"
        );
    }
}

#[test]
fn scan_status_criterion() {
    let unscanned = ImageFacts::unscanned("x");
    let cases = [
        (
            "imageScanStatus: {operator: IsOneOf, values: [Fail]}",
            Some(Status::Fail),
            true,
        ),
        (
            "imageScanStatus: {operator: IsOneOf, values: [Fail]}",
            Some(Status::Warn),
            false,
        ),
        (
            "imageScanStatus: {operator: IsOneOf, values: [Pass, Warn]}",
            Some(Status::Warn),
            true,
        ),
        (
            "imageScanStatus: {operator: IsOneOf, values: [Fail]}",
            None,
            false,
        ),
        (
            "imageScanStatus: {operator: IsNoneOf, values: [Fail]}",
            Some(Status::Pass),
            true,
        ),
        (
            "imageScanStatus: {operator: IsNoneOf, values: [Fail]}",
            Some(Status::Fail),
            false,
        ),
        (
            "imageScanStatus: {operator: IsNoneOf, values: [Fail]}",
            None,
            true,
        ),
    ];
    for (criterion, status, want) in cases {
        let img = match status {
            Some(s) => scanned("x", s, None, &[]),
            None => unscanned.clone(),
        };
        assert_eq!(
            criterion_matches(criterion, &img),
            want,
            "{criterion} on {status:?}"
        );
    }
}

#[test]
fn last_scan_criterion() {
    let base = scanned("x", Status::Pass, None, &[]);
    let at = |t: OffsetDateTime| with_scan_time(base.clone(), Some(t));
    let cases = [
        // Calico: gt 3 days is true for a scan 2 days ago and false for 4 days ago.
        (
            "imageLastScan: {operator: gt, duration: {days: 3}}",
            at(NOW - Duration::days(2)),
            true,
        ),
        (
            "imageLastScan: {operator: gt, duration: {days: 3}}",
            at(NOW - Duration::days(4)),
            false,
        ),
        (
            "imageLastScan: {operator: lt, duration: {days: 3}}",
            at(NOW - Duration::days(4)),
            true,
        ),
        (
            "imageLastScan: {operator: lt, duration: {days: 3}}",
            at(NOW - Duration::days(2)),
            false,
        ),
        // One month before 31 March is 29 February (2024 is a leap year).
        (
            "imageLastScan: {operator: gt, duration: {months: 1}}",
            at(datetime!(2024-03-01 00:00 UTC)),
            true,
        ),
        (
            "imageLastScan: {operator: gt, duration: {months: 1}}",
            at(datetime!(2024-02-29 11:00 UTC)),
            false,
        ),
        (
            "imageLastScan: {operator: gt, duration: {months: 1}}",
            at(datetime!(2024-02-29 13:00 UTC)),
            true,
        ),
        (
            "imageLastScan: {operator: gt, duration: {years: 1, days: 1}}",
            at(datetime!(2023-03-30 13:00 UTC)),
            true,
        ),
        (
            "imageLastScan: {operator: gt, duration: {years: 1, days: 1}}",
            at(datetime!(2023-03-30 11:00 UTC)),
            false,
        ),
        (
            "imageLastScan: {operator: gt, duration: {months: 14}}",
            at(datetime!(2023-01-31 13:00 UTC)),
            true,
        ),
        (
            "imageLastScan: {operator: gt, duration: {months: 14}}",
            at(datetime!(2023-01-31 11:00 UTC)),
            false,
        ),
        // Absolute times, including Calico's one-digit-hour example.
        (
            "imageLastScan: {operator: gt, time: '2022-01-02T0:00:00Z'}",
            at(datetime!(2022-01-03 00:00 UTC)),
            true,
        ),
        (
            "imageLastScan: {operator: gt, time: '2022-01-02T00:00:00Z'}",
            at(datetime!(2022-01-01 00:00 UTC)),
            false,
        ),
        (
            "imageLastScan: {operator: lt, time: '2022-01-02T00:00:00+01:00'}",
            at(datetime!(2022-01-01 22:00 UTC)),
            true,
        ),
        // Never scanned: neither operator matches.
        (
            "imageLastScan: {operator: gt, duration: {days: 3}}",
            with_scan_time(base.clone(), None),
            false,
        ),
        (
            "imageLastScan: {operator: lt, duration: {days: 3}}",
            with_scan_time(base.clone(), None),
            false,
        ),
    ];
    for (criterion, img, want) in cases {
        assert_eq!(
            criterion_matches(criterion, &img),
            want,
            "{criterion} on {:?}",
            img.last_scan
        );
    }
}

#[test]
fn max_cvss_criterion() {
    let scored = |s: f64| scanned("x", Status::Fail, Some(s), &["CVE-1"]);
    let clean = scanned("x", Status::Pass, None, &[]);
    let unscored = scanned("x", Status::Warn, None, &["CVE-1"]);
    let unscanned = ImageFacts::unscanned("x");
    let cases = [
        ("gt", 7.0, scored(7.5), true),
        ("gt", 7.0, scored(7.0), false),
        ("gte", 7.0, scored(7.0), true),
        ("gte", 7.0, scored(6.9), false),
        ("lt", 7.0, scored(6.9), true),
        ("lt", 7.0, scored(7.0), false),
        ("lte", 7.0, scored(7.0), true),
        ("lte", 7.0, scored(7.1), false),
        // A scanned image with nothing counted scores 0.
        ("lt", 7.0, clean.clone(), true),
        ("gte", 0.0, clean.clone(), true),
        ("gt", 0.0, clean, false),
        // No score: no comparison matches.
        ("lt", 7.0, unscored.clone(), false),
        ("gte", 0.0, unscored, false),
        ("lt", 7.0, unscanned.clone(), false),
        ("gte", 0.0, unscanned, false),
    ];
    for (op, value, img, want) in cases {
        let criterion = format!("maxCVSSScore: {{operator: {op}, value: {value}}}");
        assert_eq!(
            criterion_matches(&criterion, &img),
            want,
            "{criterion} on {:?}/{:?}",
            img.status,
            img.max_cvss
        );
    }
}

#[test]
fn vulnerability_ids_criterion() {
    let one_of =
        "vulnerabilityIds: {operator: IsOneOf, values: [CVE-2021-44228, GHSA-jfh8-c2jp-5v3q]}";
    let none_of = "vulnerabilityIds: {operator: IsNoneOf, values: [CVE-2021-44228]}";
    let hit = scanned(
        "x",
        Status::Fail,
        Some(10.0),
        &["cve-2021-44228", "GHSA-other"],
    );
    let alias = scanned("x", Status::Fail, Some(10.0), &["GHSA-jfh8-c2jp-5v3q"]);
    let miss = scanned("x", Status::Warn, Some(5.0), &["CVE-2020-1"]);
    let unscanned = ImageFacts::unscanned("x");
    assert!(criterion_matches(one_of, &hit), "ids compare without case");
    assert!(criterion_matches(one_of, &alias));
    assert!(!criterion_matches(one_of, &miss));
    assert!(!criterion_matches(one_of, &unscanned));
    assert!(!criterion_matches(none_of, &hit));
    assert!(criterion_matches(none_of, &miss));
    assert!(
        !criterion_matches(none_of, &unscanned),
        "an unscanned image is not known to be free of it"
    );
}

#[test]
fn all_criteria_of_a_rule_must_match() {
    let criteria = "imagePath: {operator: IsOneOf, values: ['^registry.internal/']}\n    imageScanStatus: {operator: IsOneOf, values: [Fail]}";
    assert!(criterion_matches(
        criteria,
        &scanned("registry.internal/a", Status::Fail, None, &[])
    ));
    assert!(!criterion_matches(
        criteria,
        &scanned("registry.internal/a", Status::Pass, None, &[])
    ));
    assert!(!criterion_matches(
        criteria,
        &scanned("docker.io/a", Status::Fail, None, &[])
    ));
}

#[test]
fn rule_without_criteria_matches_everything() {
    assert!(criterion_matches("", &ImageFacts::unscanned("anything")));
    assert!(criterion_matches(
        "",
        &scanned("x", Status::Pass, None, &[])
    ));
}

#[test]
fn first_matching_rule_wins_within_a_policy() {
    let s = set(&policy(
        "p",
        "  rules:\n  - action: Allow\n    imageScanStatus: {operator: IsOneOf, values: [Pass]}\n  - action: Reject\n  - action: Allow\n",
    ));
    let rule = |d: ImageDecision| match d {
        ImageDecision::Allowed { by: Some(by) } | ImageDecision::Rejected { by } => {
            (by.action, by.rule)
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(
        rule(eval_one(
            &s,
            &[],
            &[],
            &scanned("x", Status::Pass, None, &[])
        )),
        (Action::Allow, 0)
    );
    assert_eq!(
        rule(eval_one(
            &s,
            &[],
            &[],
            &scanned("x", Status::Fail, None, &[])
        )),
        (Action::Reject, 1)
    );
}

#[test]
fn policies_in_order_then_name_and_fall_through() {
    let yaml = [
        // No order: last, although its name sorts first.
        policy("a-last", "  rules:\n  - action: Allow\n"),
        // Order 10, decides only Fail images.
        policy("z-fail", "  order: 10\n  rules:\n  - action: Reject\n    imageScanStatus: {operator: IsOneOf, values: [Fail]}\n"),
        // Same order as z-fail, earlier by name; decides nothing (no matching rule).
        policy("m-nothing", "  order: 10\n  rules:\n  - action: Allow\n    imagePath: {operator: IsOneOf, values: ['^nowhere/']}\n"),
        // Order 1.5, only for app=trusted.
        policy("trusted", "  order: 1.5\n  selector: app == 'trusted'\n  rules:\n  - action: Allow\n"),
    ]
    .join("---\n");
    let s = set(&yaml);
    let names: Vec<&str> = s.policies().iter().map(|p| p.name()).collect();
    assert_eq!(names, ["trusted", "m-nothing", "z-fail", "a-last"]);

    let by = |d: ImageDecision| match d {
        ImageDecision::Allowed { by: Some(by) } | ImageDecision::Rejected { by } => by.policy,
        other => panic!("{other:?}"),
    };
    let fail = scanned("x", Status::Fail, Some(9.8), &["CVE-1"]);
    assert_eq!(
        by(eval_one(&s, &[("app", "trusted")], &[], &fail)),
        "trusted"
    );
    assert_eq!(by(eval_one(&s, &[("app", "other")], &[], &fail)), "z-fail");
    assert_eq!(
        by(eval_one(
            &s,
            &[],
            &[],
            &scanned("x", Status::Pass, None, &[])
        )),
        "a-last"
    );
}

#[test]
fn no_policy_decides() {
    let s = set(&policy(
        "p",
        "  rules:\n  - action: Reject\n    imageScanStatus: {operator: IsOneOf, values: [Fail]}\n",
    ));
    assert_eq!(
        eval_one(&s, &[], &[], &scanned("x", Status::Pass, None, &[])),
        ImageDecision::NoPolicy
    );
    assert_eq!(
        eval_one(&PolicySet::default(), &[], &[], &ImageFacts::unscanned("x")),
        ImageDecision::NoPolicy
    );
}

#[test]
fn selectors_pick_workloads_and_namespaces() {
    let s = set(&policy(
        "p",
        "  selector: \"tier in {'web', 'api'} && !has(exempt)\"\n  namespaceSelector: env == 'prod'\n  rules:\n  - action: Reject\n",
    ));
    let img = ImageFacts::unscanned("x");
    let rejected = |w: &[(&str, &str)], n: &[(&str, &str)]| {
        matches!(eval_one(&s, w, n, &img), ImageDecision::Rejected { .. })
    };
    assert!(rejected(&[("tier", "web")], &[("env", "prod")]));
    assert!(!rejected(&[("tier", "web")], &[("env", "dev")]));
    assert!(!rejected(&[("tier", "web")], &[]));
    assert!(!rejected(&[("tier", "db")], &[("env", "prod")]));
    assert!(!rejected(
        &[("tier", "web"), ("exempt", "")],
        &[("env", "prod")]
    ));
}

#[test]
fn global_namespace_selector_matches_only_cluster_scoped() {
    let s = set(&policy(
        "p",
        "  namespaceSelector: global()\n  rules:\n  - action: Reject\n",
    ));
    let (l, n) = (labels(&[]), labels(&[]));
    let img = ImageFacts::unscanned("x");
    let namespaced = Workload {
        labels: &l,
        namespace_labels: &n,
        namespaced: true,
    };
    let cluster = Workload {
        labels: &l,
        namespace_labels: &n,
        namespaced: false,
    };
    assert_eq!(
        evaluate_image(&s, &namespaced, &img, NOW),
        ImageDecision::NoPolicy
    );
    assert!(matches!(
        evaluate_image(&s, &cluster, &img, NOW),
        ImageDecision::Rejected { .. }
    ));
}

fn reject_fail_policy() -> String {
    policy(
        "reject-fail",
        "  order: 1\n  rules:\n  - action: Allow\n    imageScanStatus: {operator: IsOneOf, values: [Pass, Warn]}\n  - action: Reject\n    imageScanStatus: {operator: IsOneOf, values: [Fail]}\n",
    )
}

fn decide_simple(
    s: &PolicySet,
    images: &[ImageFacts],
    mode: Mode,
    default_allow: bool,
) -> portcullis_policy::Decision {
    let (l, n) = (labels(&[("app", "web")]), labels(&[]));
    let w = Workload {
        labels: &l,
        namespace_labels: &n,
        namespaced: true,
    };
    decide(s, &w, images, NOW, mode, default_allow)
}

fn vulns(n: usize) -> Vec<TopVuln> {
    (0..n)
        .map(|i| TopVuln {
            id: format!("CVE-2024-{:04}", 100 + i),
            // Scores deliberately out of order; one without a score.
            cvss: if i == 3 {
                None
            } else {
                Some([7.5, 9.8, 5.3, 0.0, 8.1, 9.8, 4.0][i % 7])
            },
            package: format!("pkg{i}"),
            version: format!("1.{i}"),
            location: if i == 0 {
                "/usr/lib/pkg0 (layer sha256:0123456789ab)".into()
            } else {
                String::new()
            },
            fixed: if i % 2 == 0 {
                vec![format!("1.{i}.1")]
            } else {
                vec![]
            },
        })
        .collect()
}

#[test]
fn rejection_message_snapshot() {
    let s = set(&reject_fail_policy());
    let mut bad = scanned(
        "registry.example/shop/cart:2.1",
        Status::Fail,
        Some(9.8),
        &["CVE-2024-0100"],
    );
    bad.top = vulns(7);
    let mut warn = scanned(
        "registry.example/shop/ui:1.0",
        Status::Warn,
        Some(5.3),
        &["CVE-2024-0200"],
    );
    warn.top = vulns(1);
    let unscanned = ImageFacts::unscanned("nginx:1.25");
    let d = decide_simple(&s, &[bad, warn, unscanned], Mode::Enforce, false);
    assert!(!d.allowed);
    insta::assert_snapshot!("rejection_message", d.message.clone().unwrap_or_default());
    assert_eq!(
        d.warnings,
        ["image \"registry.example/shop/ui:1.0\": scan status Warn (max CVSS 5.3)"]
    );
    assert!(d.audit_rejections.is_empty());
    let kinds: Vec<&str> = d
        .images
        .iter()
        .map(|(_, d)| match d {
            ImageDecision::Allowed { .. } => "allowed",
            ImageDecision::Rejected { .. } => "rejected",
            ImageDecision::NoPolicy => "none",
        })
        .collect();
    assert_eq!(kinds, ["rejected", "allowed", "none"]);
}

#[test]
fn message_lists_at_most_five_highest_first() {
    let s = set(&reject_fail_policy());
    let mut bad = scanned("app:1", Status::Fail, Some(9.8), &["CVE-2024-0100"]);
    bad.top = vulns(7);
    let d = decide_simple(&s, &[bad], Mode::Enforce, true);
    let msg = d.message.unwrap();
    assert!(msg.starts_with("image \"app:1\" rejected by policy \"reject-fail\" rule 2 (imageScanStatus IsOneOf [Fail]: Fail): scan status Fail, max CVSS 9.8"), "{msg}");
    // 9.8 (0101), 9.8 (0105), 8.1, 7.5, 5.3 are shown; 4.0 and the unscored one are not.
    let first_9_8 = msg.find("CVE-2024-0101").unwrap();
    let second_9_8 = msg.find("CVE-2024-0105").unwrap();
    let eight = msg.find("CVE-2024-0104").unwrap();
    let five = msg.find("CVE-2024-0102").unwrap();
    assert!(
        first_9_8 < second_9_8 && second_9_8 < eight && eight < five,
        "{msg}"
    );
    assert!(
        !msg.contains("CVE-2024-0106") && !msg.contains("CVE-2024-0103"),
        "{msg}"
    );
    assert!(msg.ends_with("; and 2 more"), "{msg}");
    assert!(
        msg.contains("CVE-2024-0104 (CVSS 8.1) in pkg4 1.4, fixed in 1.4.1"),
        "{msg}"
    );
    assert!(
        msg.contains("CVE-2024-0101 (CVSS 9.8) in pkg1 1.1, no fixed version"),
        "{msg}"
    );
}

#[test]
fn default_allow_and_default_reject() {
    let s = PolicySet::default();
    let img = [ImageFacts::unscanned("nginx")];
    let d = decide_simple(&s, &img, Mode::Enforce, true);
    assert!(d.allowed && d.message.is_none());
    let d = decide_simple(&s, &img, Mode::Enforce, false);
    assert!(!d.allowed);
    assert_eq!(
        d.message.as_deref(),
        Some(
            "image \"nginx\" rejected: no policy decided and the default is to reject: not scanned"
        )
    );
}

#[test]
fn global_audit_mode_admits_and_records() {
    let s = set(&reject_fail_policy());
    let bad = scanned("app:1", Status::Fail, Some(9.8), &["CVE-1"]);
    let d = decide_simple(&s, &[bad], Mode::Audit, true);
    assert!(d.allowed);
    assert!(d.message.is_none());
    assert_eq!(d.audit_rejections.len(), 1);
    assert!(
        d.audit_rejections[0]
            .starts_with("image \"app:1\" rejected by policy \"reject-fail\" rule 2"),
        "{:?}",
        d.audit_rejections
    );
    assert!(
        d.warnings
            .iter()
            .any(|w| w.starts_with("audit: image \"app:1\"")),
        "{:?}",
        d.warnings
    );
    match &d.images[0].1 {
        ImageDecision::Rejected { by } => assert!(by.audit, "not enforced, so marked audit"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn audit_mode_policy_reports_but_never_changes_enforcement() {
    let audit_reject = policy(
        "audit-reject",
        "  order: 0\n  mode: Audit\n  rules:\n  - action: Reject\n    imageScanStatus: {operator: IsNoneOf, values: [Pass]}\n",
    );
    let audit_allow = policy(
        "audit-allow",
        "  order: 0\n  mode: Audit\n  rules:\n  - action: Allow\n",
    );
    let enforce_reject = policy(
        "enforce",
        "  order: 5\n  rules:\n  - action: Reject\n    imageScanStatus: {operator: IsOneOf, values: [Fail]}\n",
    );
    let fail = scanned("app:1", Status::Fail, Some(9.8), &["CVE-1"]);
    let warn = scanned("app:2", Status::Warn, Some(5.0), &["CVE-2"]);

    // An audit policy that would reject: recorded; the enforcing policy below still decides.
    let s = set(&format!("{audit_reject}---\n{enforce_reject}"));
    match evaluate_image(
        &s,
        &Workload {
            labels: &labels(&[]),
            namespace_labels: &labels(&[]),
            namespaced: true,
        },
        &warn,
        NOW,
    ) {
        ImageDecision::Rejected { by } => {
            assert_eq!(
                by,
                RuleRef {
                    policy: "audit-reject".into(),
                    rule: 0,
                    name: None,
                    matched: vec!["imageScanStatus IsNoneOf [Pass]: Warn".into()],
                    action: Action::Reject,
                    audit: true
                }
            )
        }
        other => panic!("{other:?}"),
    }
    let d = decide_simple(&s, std::slice::from_ref(&warn), Mode::Enforce, true);
    assert!(d.allowed, "{d:?}");
    assert_eq!(d.audit_rejections.len(), 1);
    assert!(
        d.audit_rejections[0]
            .contains("would be rejected by policy \"audit-reject\" rule 1 (imageScanStatus IsNoneOf [Pass]: Warn) (audit mode)"),
        "{:?}",
        d.audit_rejections
    );
    assert_eq!(d.images[0].1, ImageDecision::NoPolicy);
    let d = decide_simple(&s, std::slice::from_ref(&fail), Mode::Enforce, true);
    assert!(!d.allowed);
    assert!(d.message.unwrap().contains("policy \"enforce\" rule 1"));
    assert_eq!(d.audit_rejections.len(), 1);

    // An audit policy that would allow everything cannot loosen enforcement.
    let s = set(&format!("{audit_allow}---\n{enforce_reject}"));
    let d = decide_simple(&s, &[fail], Mode::Enforce, true);
    assert!(!d.allowed);
    assert!(d.audit_rejections.is_empty());
}

#[test]
fn facts_from_a_report() {
    use portcullis_core::{
        Cvss, DbInfo, Ecosystem, IgnoredBy, ImageInfo, Match, MatchDetail, MatchedPackage,
        ScanReport, Severity, Summary, Thresholds, TrackerState,
    };
    let m = |id: &str, alias: &str, score: Option<f64>| Match {
        id: id.into(),
        aliases: vec![alias.into()],
        package: MatchedPackage {
            name: "openssl".into(),
            version: "3.0.1".into(),
            ecosystem: Ecosystem::Debian,
            purl: "pkg:deb/debian/openssl@3.0.1".into(),
        },
        fixed_versions: vec!["3.0.2".into()],
        severity: score.map_or(Severity::Unknown, Severity::from_score),
        cvss: score.map(|s| {
            Box::new(Cvss {
                version: "3.1".into(),
                vector: String::new(),
                score: s,
                source: None,
            })
        }),
        state: TrackerState::Fixed,
        matched_by: MatchDetail {
            matcher: String::new(),
            searched: String::new(),
            range: String::new(),
            source: String::new(),
            location: String::new(),
            layer: None,
        },
        ignored: None,
        summary: None,
        informational: None,
    };
    let mut ignored = m("CVE-IGNORED", "GHSA-IGNORED", Some(10.0));
    ignored.ignored = Some(Box::new(IgnoredBy {
        exception: "e".into(),
        justification: None,
    }));
    let mut info = m("RUSTSEC-INFO", "", None);
    info.informational = Some("unmaintained".into());
    let vulns = vec![
        m("DSA-1", "CVE-2024-1", Some(5.0)),
        ignored,
        info,
        m("CVE-2024-2", "GHSA-2", Some(8.0)),
    ];
    let summary = Summary::compute(&vulns, &Thresholds::default());
    let report = ScanReport {
        target: "app:1".into(),
        image: ImageInfo::default(),
        packages: vec![],
        vulnerabilities: vulns,
        summary,
        db: DbInfo::default(),
        scanned_at: None,
        warnings: vec![],
        coverage: vec![],
    };
    let facts = ImageFacts::from_report("app:1", &report, Some(NOW));
    assert_eq!(facts.status, Some(Status::Fail));
    assert_eq!(facts.max_cvss, Some(8.0));
    assert_eq!(
        facts.vulnerability_ids,
        ["CVE-2024-1", "CVE-2024-2", "DSA-1", "GHSA-2"]
    );
    let top: Vec<&str> = facts.top.iter().map(|t| t.id.as_str()).collect();
    // A feed id is shown with its CVE alias.
    assert_eq!(top, ["CVE-2024-2", "DSA-1 (CVE-2024-1)"]);
    assert!(criterion_matches(
        "vulnerabilityIds: {operator: IsOneOf, values: [CVE-2024-1]}",
        &facts
    ));
    assert!(!criterion_matches(
        "vulnerabilityIds: {operator: IsOneOf, values: [CVE-IGNORED]}",
        &facts
    ));
}

/// Whether a scan result could change a decision: only a rule that reads scan results, reached
/// before any rule that decides on the image path alone, in a policy that selects the workload.
#[test]
fn scan_matters_only_where_a_scan_reading_rule_can_decide() {
    let (web, none) = (labels(&[("app", "web")]), labels(&[]));
    let w = Workload {
        labels: &web,
        namespace_labels: &none,
        namespaced: true,
    };
    let path_gate =
        "  - action: Reject\n    imagePath: {operator: IsNoneOf, values: ['^trusted/']}\n";
    let status = "  - action: Reject\n    imageScanStatus: {operator: IsOneOf, values: [Fail]}\n";
    let cvss = "  - action: Reject\n    maxCVSSScore: {operator: gt, value: 7}\n";
    let p = |name: &str, extra: &str, rules: &str| {
        policy(name, &format!("  order: 1\n{extra}  rules:\n{rules}"))
    };
    assert!(
        !scan_matters(
            &PolicySet::default(),
            &w,
            &ImageFacts::unscanned("x/app:1"),
            NOW
        ),
        "no policy"
    );
    let other = set(&p("other", "  selector: app == 'db'\n", status));
    assert!(
        !scan_matters(&other, &w, &ImageFacts::unscanned("x/app:1"), NOW),
        "no policy selects the workload"
    );
    let paths = set(&p("paths", "", path_gate));
    assert!(
        !scan_matters(&paths, &w, &ImageFacts::unscanned("x/app:1"), NOW),
        "decided on the path alone"
    );
    assert!(
        !scan_matters(&paths, &w, &ImageFacts::unscanned("trusted/app:1"), NOW),
        "no rule matches: none could"
    );
    let gate_then_status = set(&p("g", "", &format!("{path_gate}{status}")));
    assert!(
        !scan_matters(
            &gate_then_status,
            &w,
            &ImageFacts::unscanned("x/app:1"),
            NOW
        ),
        "the path rule decides first"
    );
    assert!(
        scan_matters(
            &gate_then_status,
            &w,
            &ImageFacts::unscanned("trusted/app:1"),
            NOW
        ),
        "the status rule is next"
    );
    let cvss_first = set(&p("c", "", &format!("{cvss}{path_gate}")));
    assert!(scan_matters(
        &cvss_first,
        &w,
        &ImageFacts::unscanned("x/app:1"),
        NOW
    ));
    let audit = set(&format!(
        "{}---\n{}",
        p("a-audit", "  mode: Audit\n", path_gate),
        policy("b-status", &format!("  order: 2\n  rules:\n{status}"))
    ));
    assert!(
        scan_matters(&audit, &w, &ImageFacts::unscanned("x/app:1"), NOW),
        "an audit policy's path match leaves the enforcing policies to decide"
    );
}

/// A denial names the rule (by its name, else its position from 1) and every criterion with
/// the value it matched: a last scan with its date and age, a score, the ids found.
#[test]
fn a_denial_names_the_rule_and_what_each_criterion_matched() {
    let s = set(&policy(
        "gate",
        "  rules:\n  - action: Allow\n    imageScanStatus: {operator: IsOneOf, values: [Pass]}\n  - name: stale-and-severe\n    action: Reject\n    imageLastScan: {operator: lt, duration: {days: 3}}\n    maxCVSSScore: {operator: gte, value: 7}\n    vulnerabilityIds: {operator: IsOneOf, values: [cve-2024-1, CVE-2099-9]}\n  - action: Reject\n",
    ));
    let mut old = scanned(
        "app:1",
        Status::Fail,
        Some(9.8),
        &["CVE-2024-1", "CVE-2024-2"],
    );
    old.last_scan = Some(NOW - Duration::days(17));
    let msg = decide_simple(&s, &[old], Mode::Enforce, true)
        .message
        .unwrap_or_default();
    assert!(
        msg.contains(
            "rejected by policy \"gate\" rule \"stale-and-severe\" (imageLastScan lt 3 days: scanned 2024-03-14T12:00:00Z, 17 days ago; maxCVSSScore gte 7: 9.8; vulnerabilityIds IsOneOf [\"CVE-2024-1\", \"CVE-2099-9\"]: CVE-2024-1)"
        ),
        "{msg}"
    );
    // Recently scanned: the unnamed last rule decides, known by its position.
    let recent = scanned("app:2", Status::Fail, Some(9.8), &["CVE-2024-1"]);
    let msg = decide_simple(&s, &[recent], Mode::Enforce, true)
        .message
        .unwrap_or_default();
    assert!(
        msg.contains("rejected by policy \"gate\" rule 3: scan status Fail"),
        "{msg}"
    );
    // An empty name is refused at load.
    let policies: Vec<ContainerAdmissionPolicy> = serde_saphyr::from_multiple(&policy(
        "unnamed",
        "  rules:\n  - name: ' '\n    action: Reject\n",
    ))
    .expect("parses");
    let (_, errors) = PolicySet::new(policies);
    assert!(
        errors
            .iter()
            .any(|e| e.to_string().contains("name: must not be empty")),
        "{errors:?}"
    );
}
