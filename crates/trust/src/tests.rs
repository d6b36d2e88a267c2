//! Checks on signatures made here with keys generated here. The same paths are tested on
//! signatures made by Debian's cosign in `crates/cli/tests/signatures.rs`.

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
};
use portcullis_core::Digest;

use super::*;

enum Signer {
    Ecdsa(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl Signer {
    fn ecdsa() -> Signer {
        Signer::Ecdsa(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap())
    }
    fn ed25519() -> Signer {
        Signer::Ed(Ed25519KeyPair::generate().unwrap())
    }
    fn sign(&self, msg: &[u8]) -> String {
        let sig = match self {
            Signer::Ecdsa(k) => k.sign(&SystemRandom::new(), msg).unwrap().as_ref().to_vec(),
            Signer::Ed(k) => k.sign(msg).as_ref().to_vec(),
        };
        base64::engine::general_purpose::STANDARD.encode(sig)
    }
    fn pem(&self) -> String {
        let der = match self {
            Signer::Ecdsa(k) => k.public_key().as_der().unwrap().as_ref().to_vec(),
            Signer::Ed(k) => k.public_key().as_der().unwrap().as_ref().to_vec(),
        };
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n")
    }
    fn keys(&self) -> KeySet {
        KeySet::new(vec![PublicKey::from_pem(&self.pem()).unwrap()])
    }
}

fn digest(n: u8) -> Digest {
    format!("sha256:{}", hex::encode([n; 32])).parse().unwrap()
}

fn payload(d: &Digest) -> Vec<u8> {
    format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"127.0.0.1:5000/app"}},"image":{{"docker-manifest-digest":"{d}"}},"type":"cosign container image signature"}},"optional":null}}"#
    )
    .into_bytes()
}

fn signature(signer: &Signer, payload: Vec<u8>) -> Attachment {
    Attachment {
        origin: "tag sha256-x.sig".into(),
        media_type: SIMPLE_SIGNING.into(),
        annotations: [(SIGNATURE_ANNOTATION.to_string(), signer.sign(&payload))].into(),
        payload,
    }
}

fn image(attachments: Vec<Attachment>) -> Attached {
    Attached {
        digests: vec![digest(1)],
        attachments,
        problems: vec![],
    }
}

#[test]
fn a_signature_by_the_key_for_this_digest_verifies() {
    for signer in [Signer::ecdsa(), Signer::ed25519()] {
        let keys = signer.keys();
        let check = check_signatures(&image(vec![signature(&signer, payload(&digest(1)))]), &keys);
        assert_eq!(check.keys().len(), 1, "{check:?}");
        assert_eq!(check.verified[0].key, keys.keys()[0].id());
        assert!(
            check.describe().starts_with("verified by sha256:"),
            "{}",
            check.describe()
        );
    }
}

#[test]
fn other_key_other_digest_tampered_and_garbage_do_not_count() {
    let ours = Signer::ecdsa();
    let theirs = Signer::ecdsa();
    let mut tampered = signature(&ours, payload(&digest(1)));
    tampered.payload = payload(&digest(2));
    let mut garbage = signature(&ours, payload(&digest(1)));
    garbage
        .annotations
        .insert(SIGNATURE_ANNOTATION.into(), "not base64!".into());
    let mut unsigned = signature(&ours, payload(&digest(1)));
    unsigned.annotations.clear();
    let check = check_signatures(
        &image(vec![
            signature(&theirs, payload(&digest(1))),
            signature(&ours, payload(&digest(2))),
            tampered,
            garbage,
            unsigned,
            signature(&ours, b"{not json".to_vec()),
        ]),
        &ours.keys(),
    );
    assert!(check.verified.is_empty(), "{check:?}");
    assert_eq!(check.found, 6);
    let p = check.problems.join("\n");
    assert_eq!(p.matches("does not verify").count(), 2, "{p}");
    assert!(
        p.contains(&format!("for another image ({})", digest(2))),
        "{p}"
    );
    assert!(p.contains("not base64"), "{p}");
    assert!(
        p.contains("no dev.cosignproject.cosign/signature annotation"),
        "{p}"
    );
    assert!(p.contains("not a cosign simple-signing payload"), "{p}");
}

#[test]
fn count_is_of_distinct_keys_and_nothing_found_says_so() {
    let a = Signer::ecdsa();
    let b = Signer::ed25519();
    let keys = KeySet::new(vec![
        PublicKey::from_pem(&a.pem()).unwrap(),
        PublicKey::from_pem(&b.pem()).unwrap(),
    ]);
    let check = check_signatures(
        &image(vec![
            signature(&a, payload(&digest(1))),
            signature(&a, payload(&digest(1))),
            signature(&b, payload(&digest(1))),
        ]),
        &keys,
    );
    assert_eq!(check.verified.len(), 3);
    assert_eq!(check.keys().len(), 2);
    assert_eq!(
        check_signatures(&image(vec![]), &keys).describe(),
        "no cosign signature found"
    );
    // The same keys in another order are the same set.
    let reversed = KeySet::new(keys.keys().iter().rev().cloned().collect());
    assert_eq!(reversed.id(), keys.id());
}

fn envelope(signer: &Signer, statement: &serde_json::Value) -> Attachment {
    let body = serde_json::to_vec(statement).unwrap();
    let t = "application/vnd.in-toto+json";
    let sig = signer.sign(&pae(t, &body));
    let env = serde_json::json!({
        "payloadType": t,
        "payload": base64::engine::general_purpose::STANDARD.encode(&body),
        "signatures": [{"keyid": "", "sig": sig}],
    });
    Attachment {
        origin: "tag sha256-x.att".into(),
        media_type: DSSE_ENVELOPE.into(),
        annotations: [("predicateType".to_string(), VULN_PREDICATE.to_string())].into(),
        payload: serde_json::to_vec(&env).unwrap(),
    }
}

fn vuln_statement(d: &Digest, finished: &str) -> serde_json::Value {
    serde_json::json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": VULN_PREDICATE,
        "subject": [{"name": "app", "digest": {"sha256": d.encoded()}}],
        "predicate": {"scanner": {"uri": "pkg:portcullis", "result": {}},
                      "metadata": {"scanStartedOn": finished, "scanFinishedOn": finished}},
    })
}

#[test]
fn attestations_verify_with_their_time_newest_first() {
    let ours = Signer::ecdsa();
    let check = check_attestations(
        &image(vec![
            envelope(&ours, &vuln_statement(&digest(1), "2026-12-01T00:00:00Z")),
            envelope(&ours, &vuln_statement(&digest(1), "2026-12-05T00:00:00Z")),
            envelope(&ours, &vuln_statement(&digest(2), "2026-12-06T00:00:00Z")),
            envelope(
                &Signer::ecdsa(),
                &vuln_statement(&digest(1), "2026-12-07T00:00:00Z"),
            ),
        ]),
        &ours.keys(),
        &predicate_type("vuln"),
    );
    assert_eq!(check.verified.len(), 2, "{check:?}");
    assert_eq!(
        check.verified[0].time,
        portcullis_core::parse_time("2026-12-05T00:00:00Z")
    );
    let p = check.problems.join("\n");
    assert!(p.contains("for another image"), "{p}");
    assert!(p.contains("no signature of the envelope verifies"), "{p}");
    // Another predicate type is not looked at.
    let other = check_attestations(
        &image(vec![envelope(
            &ours,
            &vuln_statement(&digest(1), "2026-12-01T00:00:00Z"),
        )]),
        &ours.keys(),
        CYCLONEDX_PREDICATE,
    );
    assert_eq!((other.found, other.verified.len()), (0, 0));
    assert_eq!(other.describe(), "no attestation found");
}

#[test]
fn a_tampered_envelope_does_not_verify() {
    let ours = Signer::ecdsa();
    let mut a = envelope(&ours, &vuln_statement(&digest(1), "2026-12-01T00:00:00Z"));
    let mut env: serde_json::Value = serde_json::from_slice(&a.payload).unwrap();
    let forged = serde_json::to_vec(&vuln_statement(&digest(1), "2026-12-07T00:00:00Z")).unwrap();
    env["payload"] = base64::engine::general_purpose::STANDARD
        .encode(forged)
        .into();
    a.payload = serde_json::to_vec(&env).unwrap();
    let check = check_attestations(&image(vec![a]), &ours.keys(), VULN_PREDICATE);
    assert!(check.verified.is_empty());
    assert!(
        check.problems[0].contains("no signature of the envelope verifies"),
        "{check:?}"
    );
}
