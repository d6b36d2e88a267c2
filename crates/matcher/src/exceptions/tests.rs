use portcullis_core::{Ecosystem, Expiry, MatchDetail, MatchedPackage, Severity, TrackerState};
use time::macros::datetime;

use super::*;

fn m(id: &str, aliases: &[&str], purl: &str) -> Match {
    Match {
        id: id.into(),
        aliases: aliases.iter().map(|s| s.to_string()).collect(),
        package: MatchedPackage {
            name: "p".into(),
            version: "1".into(),
            ecosystem: Ecosystem::PyPI,
            purl: purl.into(),
        },
        fixed_versions: vec![],
        severity: Severity::High,
        cvss: None,
        state: TrackerState::Fixed,
        matched_by: MatchDetail {
            matcher: "t".into(),
            searched: String::new(),
            range: String::new(),
            source: "t".into(),
            location: "/x".into(),
            layer: None,
        },
        ignored: None,
        summary: None,
        informational: None,
    }
}

fn exc(
    id: &str,
    scope: ExceptionScope,
    registry: Option<&str>,
    repo: Option<&str>,
    tags: &[&str],
) -> Exception {
    Exception {
        id: id.into(),
        scope,
        registry: registry.map(Into::into),
        repository: repo.map(Into::into),
        tags: tags.iter().map(|s| s.to_string()).collect(),
        justification: Some("accepted".into()),
        expires: None,
        created_by: None,
        created: None,
    }
}

const NOW: OffsetDateTime = datetime!(2024-06-15 12:00 UTC);

fn nginx() -> ImageRef {
    ImageRef::loose("nginx:1.25")
}

#[test]
fn image_reference_parsing() {
    assert_eq!(
        ImageRef::loose("nginx:1.25"),
        ImageRef {
            registry: "docker.io".into(),
            repository: "library/nginx".into(),
            tag: Some("1.25".into()),
            digest: None
        }
    );
    let d = format!("sha256:{}", "ab".repeat(32));
    let r = ImageRef::loose(&format!("localhost:5000/team/app@{d}"));
    assert_eq!(
        (
            r.registry.as_str(),
            r.repository.as_str(),
            r.tag,
            r.digest.as_ref().map(|d| d.as_str())
        ),
        ("localhost:5000", "team/app", None, Some(d.as_str()))
    );
    let r = ImageRef::loose("ghcr.io/org/app:v1@sha256:def");
    assert_eq!(
        (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
        ("ghcr.io", "org/app", Some("v1"))
    );
}

#[test]
fn scopes_any_repository_image() {
    let cases = [
        (exc("CVE-1", ExceptionScope::Any, None, None, &[]), true),
        (
            exc(
                "CVE-1",
                ExceptionScope::Repository,
                Some("docker.io"),
                Some("library/nginx"),
                &[],
            ),
            true,
        ),
        // Docker Hub spellings are one registry, official images live under library/.
        (
            exc(
                "CVE-1",
                ExceptionScope::Repository,
                Some("index.docker.io"),
                Some("nginx"),
                &[],
            ),
            true,
        ),
        (
            exc(
                "CVE-1",
                ExceptionScope::Repository,
                None,
                Some("library/nginx"),
                &[],
            ),
            true,
        ),
        (
            exc(
                "CVE-1",
                ExceptionScope::Repository,
                Some("ghcr.io"),
                Some("library/nginx"),
                &[],
            ),
            false,
        ),
        (
            exc(
                "CVE-1",
                ExceptionScope::Repository,
                Some("docker.io"),
                Some("library/redis"),
                &[],
            ),
            false,
        ),
        (
            exc(
                "CVE-1",
                ExceptionScope::Image,
                Some("docker.io"),
                Some("library/nginx"),
                &["1.24", "1.25"],
            ),
            true,
        ),
        (
            exc(
                "CVE-1",
                ExceptionScope::Image,
                Some("docker.io"),
                Some("library/nginx"),
                &["1.24"],
            ),
            false,
        ),
        (exc("CVE-2", ExceptionScope::Any, None, None, &[]), false),
    ];
    for (e, expected) in cases {
        let mut ms = [m("CVE-1", &[], "pkg:pypi/p@1")];
        apply_exceptions(&mut ms, std::slice::from_ref(&e), &[], &nginx(), NOW);
        assert_eq!(ms[0].ignored.is_some(), expected, "{e:?}");
        if let Some(i) = &ms[0].ignored {
            assert!(i.exception.starts_with("CVE-1 ("), "{}", i.exception);
            assert_eq!(i.justification.as_deref(), Some("accepted"));
        }
    }
}

#[test]
fn aliases_match_the_exception_id() {
    let mut ms = [m(
        "GHSA-xxxx",
        &["CVE-2021-1", "PYSEC-2021-9"],
        "pkg:pypi/p@1",
    )];
    apply_exceptions(
        &mut ms,
        &[exc("cve-2021-1", ExceptionScope::Any, None, None, &[])],
        &[],
        &nginx(),
        NOW,
    );
    assert!(ms[0].ignored.is_some());
}

#[test]
fn expiry_dates_and_times() {
    let cases = [
        ("2024-06-15", true), // the whole day still counts
        ("2024-06-14", false),
        ("2024-06-15T12:00:01Z", true),
        ("2024-06-15T12:00:00Z", false), // expiry is exclusive
        ("2024-06-15T13:00:00+02:00", false),
    ];
    // An unreadable expiry never reaches here: reading the exception fails (below).
    for (expires, applies) in cases {
        let mut e = exc("CVE-1", ExceptionScope::Any, None, None, &[]);
        e.expires = Some(Expiry::parse(expires).expect("expiry"));
        let mut ms = [m("CVE-1", &[], "pkg:pypi/p@1")];
        apply_exceptions(&mut ms, &[e], &[], &nginx(), NOW);
        assert_eq!(ms[0].ignored.is_some(), applies, "expires {expires}");
    }
}

#[test]
fn first_applicable_exception_wins_and_expired_ones_are_skipped() {
    let mut expired = exc("CVE-1", ExceptionScope::Any, None, None, &[]);
    expired.expires = Some(Expiry::parse("2020-01-01").expect("expiry"));
    expired.justification = Some("old".into());
    let current = exc(
        "CVE-1",
        ExceptionScope::Repository,
        None,
        Some("nginx"),
        &[],
    );
    let mut ms = [m("CVE-1", &[], "pkg:pypi/p@1")];
    apply_exceptions(&mut ms, &[expired, current], &[], &nginx(), NOW);
    let i = ms[0].ignored.as_ref().unwrap();
    assert_eq!(i.justification.as_deref(), Some("accepted"));
    assert!(i.exception.contains("repository"), "{}", i.exception);
}

#[test]
fn yaml_list_and_wrapped() {
    let list = "# ours\n- id: CVE-2023-1\n  justification: not reachable\n- id: CVE-2023-2\n  scope: image\n  registry: docker.io\n  repository: library/nginx\n  tags: [\"1.25\"]\n  expires: 2025-01-01\n";
    let a = parse_exceptions(list, "list.yaml").unwrap();
    assert_eq!(a.len(), 2);
    assert_eq!(a[1].scope, ExceptionScope::Image);
    assert_eq!(a[1].tags, vec!["1.25"]);
    let wrapped = format!(
        "exceptions:\n{}",
        list.lines()
            .skip(1)
            .map(|l| format!("  {l}\n"))
            .collect::<String>()
    );
    assert_eq!(parse_exceptions(&wrapped, "w.yaml").unwrap(), a);
    assert!(parse_exceptions("", "empty.yaml").unwrap().is_empty());
}

#[test]
fn yaml_errors_name_file_and_position() {
    let e =
        parse_exceptions("- id: CVE-1\n  scope: image\n  repository: x\n", "f.yaml").unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("f.yaml") && msg.contains("#1") && msg.contains("tag"),
        "{msg}"
    );
    let e = parse_exceptions("- id: CVE-1\n  justifcation: typo\n", "f.yaml").unwrap_err();
    assert!(matches!(e, ExceptionError::Yaml { .. }), "{e}");
    let e = parse_exceptions("- id: CVE-1\n  expires: someday\n", "f.yaml").unwrap_err();
    assert!(e.to_string().contains("someday"), "{e}");
    let e = parse_exceptions("- id: CVE-1\n  repository: library/nginx\n", "f.yaml").unwrap_err();
    assert!(e.to_string().contains("scope 'any'"), "{e}");
}

#[test]
fn load_from_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ex.yaml");
    std::fs::write(&p, "exceptions:\n  - id: CVE-9\n").unwrap();
    assert_eq!(load_exceptions(&p).unwrap()[0].id, "CVE-9");
    let missing = load_exceptions(&dir.path().join("nope.yaml")).unwrap_err();
    assert!(matches!(missing, ExceptionError::Read { .. }));
}

#[test]
fn csv_import_with_header_and_inferred_scope() {
    let csv = "CVE,Registry,Repository,Tags,Justification,Scope\n\
               CVE-1,,,,\"not used, really\",Global\n\
               CVE-2,docker.io,library/nginx,,only dev,repository\n\
               CVE-3,docker.io,library/nginx,1.24;1.25|latest,\"says \"\"fine\"\"\",\n";
    let e = exceptions_from_csv(csv).unwrap();
    assert_eq!(e.len(), 3);
    assert_eq!(e[0].scope, ExceptionScope::Any);
    assert_eq!(e[0].justification.as_deref(), Some("not used, really"));
    assert_eq!(e[1].scope, ExceptionScope::Repository);
    assert_eq!(e[2].scope, ExceptionScope::Image);
    assert_eq!(e[2].tags, vec!["1.24", "1.25", "latest"]);
    assert_eq!(e[2].justification.as_deref(), Some("says \"fine\""));
}

#[test]
fn csv_headerless_and_errors() {
    let e = exceptions_from_csv("CVE-1,ghcr.io,org/app,v1,ok,image\n").unwrap();
    assert_eq!(e[0].registry.as_deref(), Some("ghcr.io"));
    assert_eq!(e[0].scope, ExceptionScope::Image);
    let err = exceptions_from_csv("CVE,Scope\nCVE-1,global\nCVE-2,registry\n").unwrap_err();
    assert!(matches!(err, ExceptionError::Csv { line: 3, .. }), "{err}");
    let err =
        exceptions_from_csv("CVE,Registry,Repository,Tags,Justification,Scope\nCVE-1,,,,,image\n")
            .unwrap_err();
    assert!(err.to_string().contains("line 2"), "{err}");
    let err = exceptions_from_csv("CVE,Colour\nCVE-1,red\n").unwrap_err();
    assert!(err.to_string().contains("Colour"), "{err}");
}

#[test]
fn csv_round_trip() {
    let mut with_expiry = exc(
        "CVE-3",
        ExceptionScope::Image,
        Some("ghcr.io"),
        Some("org/app"),
        &["v1", "v2"],
    );
    with_expiry.expires = Some(Expiry::parse("2025-01-01T00:00:00Z").expect("expiry"));
    with_expiry.justification = Some("multi\nline, \"quoted\" ".into());
    let all = vec![
        exc("CVE-1", ExceptionScope::Any, None, None, &[]),
        exc(
            "CVE-2",
            ExceptionScope::Repository,
            Some("docker.io"),
            Some("library/nginx"),
            &[],
        ),
        with_expiry,
    ];
    let text = exceptions_to_csv(&all);
    assert!(text.starts_with("CVE,Registry,Repository,Tags,Justification,Scope,Expires\r\n"));
    assert_eq!(exceptions_from_csv(&text).unwrap(), all);
    // Without expiries, the file keeps Calico's six columns.
    let plain = exceptions_to_csv(&all[..2]);
    assert!(plain.starts_with("CVE,Registry,Repository,Tags,Justification,Scope\r\n"));
    assert_eq!(exceptions_from_csv(&plain).unwrap(), all[..2].to_vec());
}

const VEX: &str = r#"{
  "@context": "https://openvex.dev/ns/v0.2.0",
  "statements": [
    {"vulnerability": {"name": "CVE-2023-10", "aliases": ["GHSA-aaaa"]},
     "products": [{"@id": "pkg:pypi/django@3.2"}],
     "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path",
     "impact_statement": "the admin is off"},
    {"vulnerability": {"name": "CVE-2023-11"},
     "products": [{"@id": "ghcr.io/org/app:1.0", "subcomponents": [{"@id": "pkg:pypi/jinja2"}]}],
     "status": "not_affected", "justification": "component_not_present"},
    {"vulnerability": {"name": "CVE-2023-12"},
     "products": [{"@id": "pkg:oci/app?repository_url=ghcr.io/org/app"}],
     "status": "not_affected"},
    {"vulnerability": "CVE-2023-13", "products": ["pkg:pypi/django"], "status": "affected"}
  ]
}"#;

#[test]
fn vex_scopes_by_product() {
    let vex = vex_from_json(VEX).unwrap();
    assert_eq!(vex.len(), 4);
    assert_eq!(vex[3].status, VexStatus::Affected);
    let app = ImageRef::loose("ghcr.io/org/app:1.0");
    let other = ImageRef::loose("ghcr.io/org/other:1.0");
    let cases = [
        // purl product: that package only, any image, by alias too
        (m("GHSA-aaaa", &[], "pkg:pypi/django@3.2"), &app, true),
        (m("CVE-2023-10", &[], "pkg:pypi/django@3.2"), &other, true),
        (m("CVE-2023-10", &[], "pkg:pypi/django@4.0"), &app, false),
        (m("CVE-2023-10", &[], "pkg:pypi/flask@3.2"), &app, false),
        // image product with subcomponents: those packages in that image
        (m("CVE-2023-11", &[], "pkg:pypi/jinja2@2.10"), &app, true),
        (m("CVE-2023-11", &[], "pkg:pypi/flask@1.0"), &app, false),
        (m("CVE-2023-11", &[], "pkg:pypi/jinja2@2.10"), &other, false),
        // image product without subcomponents: every package of the image
        (m("CVE-2023-12", &[], "pkg:pypi/anything@1"), &app, true),
        (m("CVE-2023-12", &[], "pkg:pypi/anything@1"), &other, false),
        // other statuses never silence
        (m("CVE-2023-13", &[], "pkg:pypi/django@3.2"), &app, false),
    ];
    for (mm, image, expected) in cases {
        let mut ms = [mm];
        apply_exceptions(&mut ms, &[], &vex, image, NOW);
        assert_eq!(
            ms[0].ignored.is_some(),
            expected,
            "{} {} in {:?}",
            ms[0].id,
            ms[0].package.purl,
            image
        );
    }
    let mut ms = [m("CVE-2023-10", &[], "pkg:pypi/django@3.2")];
    apply_exceptions(&mut ms, &[], &vex, &app, NOW);
    let i = ms[0].ignored.as_ref().unwrap();
    assert_eq!(
        i.justification.as_deref(),
        Some("vulnerable_code_not_in_execute_path: the admin is off")
    );
    assert!(i.exception.contains("OpenVEX"), "{}", i.exception);
}

#[test]
fn vex_errors() {
    assert!(matches!(
        vex_from_json("{}"),
        Err(ExceptionError::Vex { .. })
    ));
    assert!(
        vex_from_json(r#"{"statements":[{"vulnerability":{},"products":[],"status":"fixed"}]}"#)
            .is_err()
    );
    assert!(
        vex_from_json(r#"{"statements":[{"vulnerability":"CVE-1","status":"maybe"}]}"#).is_err()
    );
}

/// The Node.js security WG's real OpenVEX document: its `not_affected` statements (about
/// `pkg:nodejs/node`, any version) silence those CVEs in node and nowhere else; its `fixed`
/// statements silence nothing.
#[test]
fn nodejs_wg_openvex_document() {
    let Some(dir) = portcullis_test_support::testdata("advisories/npm-nodejs-security-wg") else {
        return;
    };
    let text = std::fs::read_to_string(dir.join("node.openvex.json")).unwrap();
    let vex = vex_from_json(&text).unwrap();
    let raw: serde_json::Value = serde_json::from_str(&text).unwrap();
    let statements = raw["statements"].as_array().unwrap();
    assert_eq!(vex.len(), statements.len());
    let image = ImageRef::loose("node:20");
    let mut silenced = 0;
    for (s, raw) in vex.iter().zip(statements) {
        let not_affected = raw["status"] == "not_affected";
        let mut ms = [
            m(&s.vulnerability, &[], "pkg:nodejs/node@v20.11.1"),
            m(&s.vulnerability, &[], "pkg:npm/node@20.11.1"),
        ];
        apply_exceptions(&mut ms, &[], std::slice::from_ref(s), &image, NOW);
        assert_eq!(ms[0].ignored.is_some(), not_affected, "{}", s.vulnerability);
        assert!(
            ms[1].ignored.is_none(),
            "{} must not apply to another package type",
            s.vulnerability
        );
        silenced += usize::from(not_affected);
    }
    assert!(silenced > 0, "the document has not_affected statements");
}

/// `.trivyignore` as Trivy documents it: ids, comments, and `exp:` dates.
#[test]
fn trivyignore_lists_ids_with_comments_and_expiry() {
    let text = "# Accept the risk\nCVE-2018-14618\n\n# Accept the risk until 2024-07-01\nCVE-2019-14697 exp:2024-07-01\nGHSA-1234 # inline\n";
    let rules = ignore_rules(text, ".trivyignore").expect("rules");
    assert_eq!(rules.len(), 3);
    assert_eq!(rules[1].origin, ".trivyignore:5");
    let mut ms = vec![
        m("PYSEC-1", &["CVE-2018-14618"], "pkg:pypi/p@1"),
        m("CVE-2019-14697", &[], "pkg:pypi/p@1"),
        m("GHSA-1234", &[], "pkg:pypi/p@1"),
        m("CVE-2000-1", &[], "pkg:pypi/p@1"),
    ];
    // Before the expiry every listed id is ignored (an alias too); after it, that one counts.
    assert_eq!(apply_ignore_rules(&mut ms, &rules, NOW), 3);
    assert!(ms[3].ignored.is_none());
    let mut later = vec![m("CVE-2019-14697", &[], "pkg:pypi/p@1")];
    assert_eq!(
        apply_ignore_rules(&mut later, &rules, datetime!(2024-07-01 00:00 UTC)),
        0
    );
    let e = ignore_rules("CVE-1 until:tomorrow\n", ".trivyignore").unwrap_err();
    assert!(e.to_string().contains("line 1"), "{e}");
    let e = ignore_rules("CVE-1 exp:2024-13-01\n", ".trivyignore").unwrap_err();
    assert!(e.to_string().contains("YYYY-MM-DD"), "{e}");
}

/// `.grype.yaml` as Grype documents it: rules by vulnerability, fix state and package.
#[test]
fn grype_rules_match_every_field_they_give() {
    let text = r#"
ignore:
  # This is the full set of supported rule fields:
  - vulnerability: CVE-2008-4318
    fix-state: unknown
    package:
      name: libcurl
      version: 1.5.1
      type: npm
  # We can make rules to match just by vulnerability ID:
  - vulnerability: CVE-2014-54321
  # ...or just by a single package field:
  - package:
      type: python
  - vulnerability: GHSA-fixed
    fix-state: fixed
    reason: patched in the base image next week
"#;
    let rules = ignore_rules(text, ".grype.yaml").expect("rules");
    assert_eq!(rules.len(), 4);
    let npm = |name: &str, version: &str| {
        let mut x = m("CVE-2008-4318", &[], "pkg:npm/x");
        x.package.ecosystem = Ecosystem::Npm;
        x.package.name = name.into();
        x.package.version = version.into();
        x
    };
    let mut ms = vec![
        npm("libcurl", "1.5.1"),
        npm("libcurl", "1.5.2"),
        m("ANY", &["CVE-2014-54321"], "pkg:pypi/p@1"),
        m("PYSEC-9", &[], "pkg:pypi/p@1"),
    ];
    ms[1].package.ecosystem = Ecosystem::Npm;
    // The first rule needs every field; the second any package; the third every PyPI package.
    apply_ignore_rules(&mut ms, &rules, NOW);
    assert!(ms[0].ignored.is_some());
    assert!(ms[1].ignored.is_none(), "another version");
    assert!(ms[2].ignored.is_some());
    assert!(ms[3].ignored.is_some(), "by package type");
    let mut fixed = vec![
        m("GHSA-fixed", &[], "pkg:npm/x"),
        m("GHSA-fixed", &[], "pkg:npm/x"),
    ];
    fixed[0].package.ecosystem = Ecosystem::Npm;
    fixed[1].package.ecosystem = Ecosystem::Npm;
    fixed[0].fixed_versions = vec!["2.0".into()];
    apply_ignore_rules(&mut fixed, &rules, NOW);
    assert_eq!(
        fixed[0]
            .ignored
            .as_ref()
            .and_then(|i| i.justification.as_deref()),
        Some("patched in the base image next week")
    );
    assert!(fixed[1].ignored.is_none(), "no fix: not this rule's");
    // What would change a rule's meaning is refused, naming the rule.
    for (bad, says) in [
        (
            "ignore:\n  - vulnerability: CVE-1\n    match-type: exact-direct-match\n",
            "match-type",
        ),
        ("ignore:\n  - package: {location: /usr/lib}\n", "location"),
        ("ignore:\n  - package: {type: cobol}\n", "cobol"),
        ("ignore:\n  - fix-state: someday\n", "someday"),
        ("ignore:\n  - reason: everything\n", "matches everything"),
    ] {
        let e = ignore_rules(bad, ".grype.yaml").unwrap_err();
        assert!(
            e.to_string().contains(says) && e.to_string().contains("#1"),
            "{e}"
        );
    }
}
