//! Evaluation order as a property: over random policy sets, workloads and images, the decision
//! is the first matching rule of the first selecting policy, policies taken by `order` (none
//! last) then name, and the caller's default when none decides. The reference below is the
//! rule as the documentation states it, written plainly.

use std::collections::BTreeMap;

use proptest::prelude::*;
use time::macros::datetime;

use portcullis_core::Status;
use portcullis_policy::{
    ContainerAdmissionPolicy, ImageDecision, ImageFacts, Mode, PolicySet, Workload, decide,
    evaluate_image,
};

/// One criterion a generated rule may have (or none).
#[derive(Clone, Copy, Debug)]
enum Criterion {
    Any,
    PathIs,
    PathIsNot,
    StatusPass,
    StatusFail,
}

#[derive(Clone, Debug)]
struct Gen {
    order: Option<i8>,
    /// Index in [`SELECTORS`].
    selector: usize,
    rules: Vec<(bool, Criterion)>,
}

/// The labels a generated workload may have: `app`, `tier` on the pod, `env` on its namespace.
#[derive(Clone, Copy, Debug)]
struct Labels {
    app: Option<&'static str>,
    tier: Option<&'static str>,
    env: Option<&'static str>,
}

/// Selector, namespace selector, and whether they select, stated plainly: each kind of term the
/// policy index files differently (values, bare keys, namespace labels, none at all).
type Selects = fn(Labels) -> bool;
const SELECTORS: &[(&str, &str, Selects)] = &[
    ("all()", "", |_| true),
    ("app == 'a'", "", |l| l.app == Some("a")),
    ("app == 'b'", "", |l| l.app == Some("b")),
    ("app in {'a', 'c'}", "", |l| l.app == Some("a")),
    ("has(app)", "", |l| l.app.is_some()),
    ("app != 'a'", "", |l| l.app != Some("a")),
    ("!(app != 'b')", "", |l| l.app == Some("b")),
    ("app == 'a' || tier == 'web'", "", |l| {
        l.app == Some("a") || l.tier == Some("web")
    }),
    ("app == 'b' && has(tier)", "", |l| {
        l.app == Some("b") && l.tier.is_some()
    }),
    ("!has(app)", "", |l| l.app.is_none()),
    ("", "env == 'prod'", |l| l.env == Some("prod")),
    ("app starts with 'a'", "env != 'prod'", |l| {
        l.app == Some("a") && l.env != Some("prod")
    }),
    ("tier not in {'web'}", "has(env)", |l| {
        l.tier != Some("web") && l.env.is_some()
    }),
];

fn criterion() -> impl Strategy<Value = Criterion> {
    prop_oneof![
        Just(Criterion::Any),
        Just(Criterion::PathIs),
        Just(Criterion::PathIsNot),
        Just(Criterion::StatusPass),
        Just(Criterion::StatusFail),
    ]
}

fn policy() -> impl Strategy<Value = Gen> {
    (
        proptest::option::of(-3i8..3),
        0..SELECTORS.len(),
        proptest::collection::vec((any::<bool>(), criterion()), 0..4),
    )
        .prop_map(|(order, selector, rules)| Gen {
            order,
            selector,
            rules,
        })
}

fn yaml(i: usize, g: &Gen) -> String {
    let mut rules = String::new();
    for (allow, c) in &g.rules {
        let action = if *allow { "Allow" } else { "Reject" };
        rules.push_str(&format!("  - action: {action}\n"));
        let line = match c {
            Criterion::Any => continue,
            Criterion::PathIs => "imagePath: {operator: IsOneOf, values: ['^x/']}",
            Criterion::PathIsNot => "imagePath: {operator: IsNoneOf, values: ['^x/']}",
            Criterion::StatusPass => "imageScanStatus: {operator: IsOneOf, values: [Pass]}",
            Criterion::StatusFail => "imageScanStatus: {operator: IsOneOf, values: [Fail]}",
        };
        rules.push_str(&format!("    {line}\n"));
    }
    let order = g
        .order
        .map(|o| format!("  order: {o}\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: containersecurity.portcullis.dev/v1\nkind: ContainerAdmissionPolicy\nmetadata: {{name: p{i}}}\nspec:\n{order}  selector: \"{}\"\n  namespaceSelector: \"{}\"\n  rules:{}\n{rules}",
        SELECTORS[g.selector].0,
        SELECTORS[g.selector].1,
        if g.rules.is_empty() { " []" } else { "" }
    )
}

/// The documented rule: (policy name, rule index, allow) of the decision, or none.
fn reference(
    gens: &[Gen],
    labels: Labels,
    image: &str,
    status: Option<Status>,
) -> Option<(String, usize, bool)> {
    let mut order: Vec<(usize, &Gen)> = gens.iter().enumerate().collect();
    order.sort_by(|(ia, a), (ib, b)| {
        let key = |o: Option<i8>| (o.is_none(), o.unwrap_or(0));
        key(a.order)
            .cmp(&key(b.order))
            .then_with(|| format!("p{ia}").cmp(&format!("p{ib}")))
    });
    for (i, g) in order {
        if !SELECTORS[g.selector].2(labels) {
            continue;
        }
        for (r, (allow, c)) in g.rules.iter().enumerate() {
            let matches = match c {
                Criterion::Any => true,
                Criterion::PathIs => image.starts_with("x/"),
                Criterion::PathIsNot => !image.starts_with("x/"),
                Criterion::StatusPass => status == Some(Status::Pass),
                Criterion::StatusFail => status == Some(Status::Fail),
            };
            if matches {
                return Some((format!("p{i}"), r, *allow));
            }
        }
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn first_match_of_the_first_selecting_policy_decides(
        gens in proptest::collection::vec(policy(), 0..6),
        app in prop_oneof![Just(None), Just(Some("a")), Just(Some("b"))],
        tier in prop_oneof![Just(None), Just(Some("web"))],
        env in prop_oneof![Just(None), Just(Some("prod"))],
        image in prop_oneof![Just("x/app:1"), Just("y/app:1")],
        status in prop_oneof![Just(None), Just(Some(Status::Pass)), Just(Some(Status::Fail))],
        default_allow in any::<bool>(),
    ) {
        let text: Vec<String> = gens.iter().enumerate().map(|(i, g)| yaml(i, g)).collect();
        let policies: Vec<ContainerAdmissionPolicy> = text
            .iter()
            .map(|t| serde_saphyr::from_str(t).expect("generated policy parses"))
            .collect();
        let (set, errors) = PolicySet::new(policies);
        prop_assert!(errors.is_empty(), "{errors:?}");
        let pairs = |kv: &[(&str, Option<&str>)]| -> BTreeMap<String, String> {
            kv.iter()
                .filter_map(|(k, v)| v.map(|v| (k.to_string(), v.to_string())))
                .collect()
        };
        let labels = pairs(&[("app", app), ("tier", tier)]);
        let ns = pairs(&[("env", env)]);
        let w = Workload { labels: &labels, namespace_labels: &ns, namespaced: true };
        let mut img = ImageFacts::unscanned(image);
        img.status = status;
        let now = datetime!(2026-12-07 12:00 UTC);
        let got = match evaluate_image(&set, &w, &img, now) {
            ImageDecision::Allowed { by: Some(by) } => Some((by.policy, by.rule, true)),
            ImageDecision::Rejected { by } => Some((by.policy, by.rule, false)),
            ImageDecision::Allowed { by: None } | ImageDecision::NoPolicy => None,
        };
        let want = reference(&gens, Labels { app, tier, env }, image, status);
        prop_assert_eq!(&got, &want);
        // The object's answer: the deciding rule's action, else the caller's default.
        let d = decide(&set, &w, std::slice::from_ref(&img), now, Mode::Enforce, default_allow);
        let allowed = want.map_or(default_allow, |(_, _, allow)| allow);
        prop_assert_eq!(d.allowed, allowed);
        // Audit mode never rejects, and reports what enforce would have rejected.
        let audit = decide(&set, &w, std::slice::from_ref(&img), now, Mode::Audit, default_allow);
        prop_assert!(audit.allowed);
        prop_assert_eq!(audit.audit_rejections.is_empty(), allowed);
    }
}
