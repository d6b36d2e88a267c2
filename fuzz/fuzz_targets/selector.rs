//! Calico selectors: parsing never panics, a parsed selector parses again from its text with
//! the same meaning, and a policy set (which files policies by the labels their selectors
//! need) selects exactly what the selector matches.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_fuzz::{labels, parts};
use portcullis_policy::{
    ImageDecision, ImageFacts, PolicySet, Selector, Workload, evaluate_image, policy_from_value,
};

fuzz_target!(|data: &[u8]| {
    let p = parts(data, 3);
    let (Ok(sel), Ok(pod), Ok(ns)) = (
        std::str::from_utf8(p[0]),
        std::str::from_utf8(p[1]),
        std::str::from_utf8(p[2]),
    ) else {
        return;
    };
    let Ok(s) = Selector::parse(sel) else { return };
    let (pod, ns) = (labels(pod), labels(ns));
    let again = Selector::parse(s.as_str()).expect("a selector parses again from its text");
    assert_eq!(again.matches(&pod), s.matches(&pod));

    // The same selector as a policy's, then as its namespace selector.
    for field in ["selector", "namespaceSelector"] {
        let policy = serde_json::json!({
            "apiVersion": "containersecurity.portcullis.dev/v1",
            "kind": "ContainerAdmissionPolicy",
            "metadata": {"name": "p"},
            "spec": {field: sel, "rules": [{"action": "Reject"}]},
        });
        let policy = policy_from_value(&policy).expect("a parsed selector makes a valid policy");
        let (set, errors) = PolicySet::new(vec![policy]);
        assert!(errors.is_empty(), "{errors:?}");
        let w = Workload {
            labels: &pod,
            namespace_labels: &ns,
            namespaced: true,
        };
        let want = if field == "selector" {
            s.matches(&pod)
        } else {
            s.matches(&ns)
        };
        let got = evaluate_image(
            &set,
            &w,
            &ImageFacts::unscanned("x/y:1"),
            time::OffsetDateTime::UNIX_EPOCH,
        );
        assert_eq!(
            matches!(got, ImageDecision::Rejected { .. }),
            want,
            "{sel:?} on {pod:?} / {ns:?}"
        );
    }
});
