//! Keyless verification offline, on a real signature from the public Sigstore instance (a
//! GitHub Actions workflow's Fulcio certificate, its chain and Rekor bundle; provenance in
//! `tests/data/keyless/SOURCES.md`).

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use portcullis_core::{Attached, Attachment, Digest, SIMPLE_SIGNING};
use portcullis_trust::{BUNDLE_ANNOTATION, PublicKey, TrustRoots, check_certificate_signatures};
use serde_json::Value;

const IMAGE: &str = "sha256:120ef883bd7612aee0a100297def41014bf3e1aa321a0eaf4d0ebd9855d39a11";
const WORKFLOW: &str = "https://github.com/salrashid123/go-bazel-github-workflow/.github/workflows/release.yaml@refs/tags/v0.0.26";

fn data(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/keyless")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The signature as the registry holds it, attached to the image it signs.
fn attached(digest: &str, edit: impl FnOnce(&mut Attachment)) -> Attached {
    let manifest: Value = serde_json::from_str(&data("signature-manifest.json")).unwrap();
    let layer = &manifest["layers"][0];
    let mut a = Attachment {
        origin: "tag sha256-120ef883bd7612aee0a100297def41014bf3e1aa321a0eaf4d0ebd9855d39a11.sig"
            .into(),
        media_type: SIMPLE_SIGNING.into(),
        annotations: serde_json::from_value(layer["annotations"].clone()).unwrap(),
        payload: data("payload.json").into_bytes(),
    };
    edit(&mut a);
    Attached {
        digests: vec![digest.parse::<Digest>().unwrap()],
        attachments: vec![a],
        problems: vec![],
    }
}

fn roots(rekor: &str) -> TrustRoots {
    TrustRoots::from_pem(&[data("fulcio-root.pem")])
        .unwrap()
        .with_rekor_keys(vec![PublicKey::from_pem(rekor).unwrap()])
}

/// Months after the ten-minute certificate expired: only the bundle's time can vouch for it.
fn today() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_000_000)
}

#[test]
fn a_fulcio_signature_verifies_at_the_time_rekor_recorded_it() {
    let check = check_certificate_signatures(
        &attached(IMAGE, |_| {}),
        &roots(&data("rekor.pub")),
        today(),
    );
    assert_eq!(check.verified.len(), 1, "{check:?}");
    let v = &check.verified[0];
    assert_eq!(v.identity.as_deref(), Some(WORKFLOW));
    assert_eq!(
        v.issuer.as_deref(),
        Some("https://token.actions.githubusercontent.com")
    );
    assert_eq!(v.digest, IMAGE);
}

#[test]
fn without_the_bundle_or_the_log_key_it_does_not() {
    // No log keys: the certificate is judged now, long after it expired.
    let no_log = TrustRoots::from_pem(&[data("fulcio-root.pem")]).unwrap();
    let check = check_certificate_signatures(&attached(IMAGE, |_| {}), &no_log, today());
    assert!(check.verified.is_empty());
    assert!(check.problems[0].contains("does not chain"), "{check:?}");
    // Another log's key.
    let other = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAERPII1ksXN7t5OARYUd2UTrXkP7z2
fQQ4PdxXRDAiMpenRCXX4Hdh5TBNG5Ghbz25UurYqU7+ortq4t3LGLyquA==
-----END PUBLIC KEY-----";
    let check = check_certificate_signatures(&attached(IMAGE, |_| {}), &roots(other), today());
    assert!(
        check.problems[0].contains("signed entry timestamp does not verify"),
        "{check:?}"
    );
    // The bundle removed.
    let check = check_certificate_signatures(
        &attached(IMAGE, |a| {
            a.annotations.remove(BUNDLE_ANNOTATION);
        }),
        &roots(&data("rekor.pub")),
        today(),
    );
    assert!(check.problems[0].contains("no Rekor bundle"), "{check:?}");
}

#[test]
fn a_changed_bundle_or_payload_and_another_image_are_refused() {
    let rekor = data("rekor.pub");
    // The recorded time moved (to make an expired certificate look valid later): the log's
    // signature no longer covers it.
    let moved = attached(IMAGE, |a| {
        let b = a.annotations.get_mut(BUNDLE_ANNOTATION).unwrap();
        *b = b.replace(
            "\"integratedTime\":1771336509",
            "\"integratedTime\":1771336600",
        );
    });
    let check = check_certificate_signatures(&moved, &roots(&rekor), today());
    assert!(
        check.problems[0].contains("signed entry timestamp does not verify"),
        "{check:?}"
    );
    // A payload naming another image: the log recorded another hash.
    let changed = attached(IMAGE, |a| {
        a.payload = String::from_utf8(a.payload.clone())
            .unwrap()
            .replace("120ef883", "00000000")
            .into_bytes();
    });
    let check = check_certificate_signatures(&changed, &roots(&rekor), today());
    assert!(
        check.problems[0].contains("records another payload"),
        "{check:?}"
    );
    // A genuine signature of another image.
    let other = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    let check = check_certificate_signatures(&attached(other, |_| {}), &roots(&rekor), today());
    assert!(check.problems[0].contains("for another image"), "{check:?}");
}
