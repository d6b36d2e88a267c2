//! Supply-chain evidence checked offline: cosign signatures and signed in-toto attestations
//! against public keys.
//!
//! The registry side (finding what is attached to an image) is the image crate's; this crate
//! does no IO, so the same checks run in the webhook, in `policy test` and in unit tests on
//! [`portcullis_core::Attached`] values. Every check keeps its evidence: which key verified
//! which signature where, and for each signature that did not count, why. A rule that needs
//! a signature passes only on a verified one; nothing here turns "could not tell" into yes.

mod cert;
mod key;

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use portcullis_core::{Attached, Attachment, DSSE_ENVELOPE, SIGNATURE_ANNOTATION, SIMPLE_SIGNING};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use cert::{
    BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, RootError, TrustRoots,
    check_certificate_signatures,
};
pub use key::{KeyAlgorithm, KeyError, PublicKey};

/// The predicate type of cosign's vulnerability-scan attestation (`cosign attest --type vuln`).
pub const VULN_PREDICATE: &str = "https://cosign.sigstore.dev/attestation/vuln/v1";
/// The predicate type of a CycloneDX SBOM attestation (`cosign attest --type cyclonedx`).
pub const CYCLONEDX_PREDICATE: &str = "https://cyclonedx.org/bom";
/// The predicate type of an SPDX SBOM attestation (`cosign attest --type spdxjson`).
pub const SPDX_PREDICATE: &str = "https://spdx.dev/Document";

/// A predicate type as a policy may write it: cosign's short names (`vuln`, `cyclonedx`,
/// `spdxjson`, `slsaprovenance`) or the full URI.
pub fn predicate_type(name: &str) -> String {
    match name {
        "vuln" => VULN_PREDICATE.into(),
        "cyclonedx" => CYCLONEDX_PREDICATE.into(),
        "spdx" | "spdxjson" => SPDX_PREDICATE.into(),
        "slsaprovenance" => "https://slsa.dev/provenance/v0.2".into(),
        "slsaprovenance1" => "https://slsa.dev/provenance/v1".into(),
        other => other.into(),
    }
}

/// A list of keys a rule trusts, and its identity: checks are cached and looked up by it.
#[derive(Clone, Debug, PartialEq)]
pub struct KeySet {
    keys: Vec<PublicKey>,
    id: String,
}

impl KeySet {
    /// The set of `keys` (duplicates dropped).
    pub fn new(mut keys: Vec<PublicKey>) -> KeySet {
        keys.sort_by(|a, b| a.id().cmp(b.id()));
        keys.dedup_by(|a, b| a.id() == b.id());
        let id = keys.iter().map(PublicKey::id).collect::<Vec<_>>().join(",");
        KeySet { keys, id }
    }

    /// The key ids, sorted and comma-separated: equal sets have equal ids.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The keys.
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    fn verifier(&self, message: &[u8], signature: &[u8]) -> Option<&PublicKey> {
        self.keys.iter().find(|k| k.verifies(message, signature))
    }
}

/// One signature that verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verified {
    /// The key that verified it ([`PublicKey::id`]).
    pub key: String,
    /// Where the signature was found (`tag sha256-<hex>.sig`, `referrer sha256:<hex>`).
    pub origin: String,
    /// The image digest the signed payload names.
    pub digest: String,
    /// For a signature by certificate: the signer's e-mail or URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// For a signature by a Fulcio certificate: the OIDC issuer it names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
}

/// The signatures of one image checked against one key set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureCheck {
    /// The signatures that verified with a key of the set and name this image.
    pub verified: Vec<Verified>,
    /// Why each other signature did not count, and what could not be read (one line each).
    pub problems: Vec<String>,
    /// Signatures found in all (simple-signing layers).
    pub found: usize,
}

impl SignatureCheck {
    /// The distinct keys with a verified signature: what a rule's `count` counts.
    pub fn keys(&self) -> BTreeSet<&str> {
        self.verified.iter().map(|v| v.key.as_str()).collect()
    }

    /// The evidence as one line: `verified by sha256:ab… (tag sha256-….sig)`, or why not.
    pub fn describe(&self) -> String {
        let verified = (!self.verified.is_empty()).then(|| {
            let by: Vec<String> = self
                .verified
                .iter()
                .map(|v| format!("{} ({})", v.key, v.origin))
                .collect();
            format!("verified by {}", by.join(", "))
        });
        evidence(
            verified,
            self.found,
            &self.problems,
            "no cosign signature found",
        )
    }
}

/// Checks every cosign simple-signing signature attached to an image against `keys`: the
/// signature must verify over the payload as stored, and the payload must name one of the
/// image's digests (a valid signature of another image is no signature of this one).
pub fn check_signatures(attached: &Attached, keys: &KeySet) -> SignatureCheck {
    let mut check = SignatureCheck {
        problems: attached.problems.clone(),
        ..SignatureCheck::default()
    };
    for a in attached
        .attachments
        .iter()
        .filter(|a| a.media_type == SIMPLE_SIGNING)
    {
        check.found += 1;
        match verify_simple_signing(a, attached, keys) {
            Ok(v) => check.verified.push(v),
            Err(why) => check.problems.push(format!("{}: {why}", a.origin)),
        }
    }
    check
}

fn verify_simple_signing(
    a: &Attachment,
    attached: &Attached,
    keys: &KeySet,
) -> Result<Verified, String> {
    let Some(b64) = a
        .annotations
        .get(SIGNATURE_ANNOTATION)
        .filter(|s| !s.is_empty())
    else {
        return Err(if a.annotations.contains_key(CERTIFICATE_ANNOTATION) {
            "a keyless signature (certificate) without a key signature: keyless verification needs a trust root, which is not configured".into()
        } else {
            format!("no {SIGNATURE_ANNOTATION} annotation")
        });
    };
    let signature = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| format!("the signature is not base64 ({e})"))?;
    let key = keys.verifier(&a.payload, &signature).ok_or_else(|| {
        format!(
            "the signature does not verify with {} (signed by another key, or the payload was changed)",
            key_list(keys)
        )
    })?;
    let digest =
        payload_digest(&a.payload).map_err(|e| format!("signed by {} but {e}", key.id()))?;
    if !attached.digests.iter().any(|d| d.as_str() == digest) {
        return Err(format!(
            "signed by {} for another image ({digest})",
            key.id()
        ));
    }
    Ok(Verified {
        key: key.id().to_string(),
        origin: a.origin.clone(),
        digest,
        identity: None,
        issuer: None,
    })
}

/// The image digest a cosign simple-signing payload names, once it is known to be one.
pub(crate) fn payload_digest(payload: &[u8]) -> Result<String, String> {
    #[derive(Deserialize)]
    struct Payload {
        critical: Critical,
    }
    #[derive(Deserialize)]
    struct Critical {
        image: ImagePart,
        #[serde(rename = "type")]
        kind: String,
    }
    #[derive(Deserialize)]
    struct ImagePart {
        #[serde(rename = "docker-manifest-digest")]
        digest: String,
    }
    let payload: Payload = serde_json::from_slice(payload)
        .map_err(|e| format!("not a cosign simple-signing payload ({e})"))?;
    if payload.critical.kind != "cosign container image signature" {
        return Err(format!(
            "of type {:?}, not a container image signature",
            payload.critical.kind
        ));
    }
    Ok(payload.critical.image.digest)
}

fn key_list(keys: &KeySet) -> String {
    match keys.keys() {
        [one] => format!("key {}", one.id()),
        many => format!("any of the {} keys", many.len()),
    }
}

/// One attestation that verified: its statement's predicate and when it says it was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attestation {
    /// The key that verified it.
    pub key: String,
    /// Where it was found.
    pub origin: String,
    /// The statement's predicate type.
    pub predicate_type: String,
    /// When the predicate says it was made: a vulnerability scan's `metadata.scanFinishedOn`,
    /// a CycloneDX SBOM's `metadata.timestamp`, an SPDX document's `creationInfo.created`.
    #[serde(with = "time::serde::rfc3339::option")]
    pub time: Option<OffsetDateTime>,
    /// The predicate as signed.
    pub predicate: serde_json::Value,
}

/// The attestations of one image checked against one key set and predicate type.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AttestationCheck {
    /// Those that verified, name this image and are of the predicate type, newest first.
    pub verified: Vec<Attestation>,
    /// Why each other attestation did not count, and what could not be read.
    pub problems: Vec<String>,
    /// Attestations (DSSE envelopes) found in all.
    pub found: usize,
}

impl AttestationCheck {
    /// The evidence as one line.
    pub fn describe(&self) -> String {
        let newest = self.verified.first().map(|a| {
            format!(
                "attested by {} ({}{})",
                a.key,
                a.origin,
                a.time
                    .map(|t| format!(", made {}", portcullis_core::format_time(t)))
                    .unwrap_or_default()
            )
        });
        evidence(newest, self.found, &self.problems, "no attestation found")
    }
}

/// A check's evidence on one line: what verified, or `none` when nothing was found at all,
/// then why each other artifact did not count.
fn evidence(verified: Option<String>, found: usize, problems: &[String], none: &str) -> String {
    let mut parts: Vec<String> = verified.into_iter().collect();
    if found == 0 && problems.is_empty() {
        parts.push(none.to_string());
    }
    parts.extend(problems.iter().cloned());
    parts.join("; ")
}

/// Checks every DSSE attestation attached to an image against `keys` and `predicate_type`
/// (a full URI: see [`predicate_type`]): an envelope signature must verify over the DSSE
/// pre-authentication encoding, and the in-toto statement must name one of the image's
/// digests as its subject.
pub fn check_attestations(
    attached: &Attached,
    keys: &KeySet,
    predicate_type: &str,
) -> AttestationCheck {
    let mut check = AttestationCheck {
        problems: attached.problems.clone(),
        ..AttestationCheck::default()
    };
    for a in attached
        .attachments
        .iter()
        .filter(|a| a.media_type == DSSE_ENVELOPE)
    {
        // Other predicate types are other evidence, not failures of this one.
        if a.annotations
            .get("predicateType")
            .is_some_and(|t| t != predicate_type)
        {
            continue;
        }
        check.found += 1;
        match verify_attestation(a, attached, keys, predicate_type) {
            Ok(Some(v)) => check.verified.push(v),
            Ok(None) => check.found -= 1,
            Err(why) => check.problems.push(format!("{}: {why}", a.origin)),
        }
    }
    check.verified.sort_by_key(|a| std::cmp::Reverse(a.time));
    check
}

fn verify_attestation(
    a: &Attachment,
    attached: &Attached,
    keys: &KeySet,
    wanted: &str,
) -> Result<Option<Attestation>, String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Envelope {
        payload_type: String,
        payload: String,
        #[serde(default)]
        signatures: Vec<EnvelopeSignature>,
    }
    #[derive(Deserialize)]
    struct EnvelopeSignature {
        sig: String,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Statement {
        predicate_type: String,
        #[serde(default)]
        subject: Vec<Subject>,
        #[serde(default)]
        predicate: serde_json::Value,
    }
    #[derive(Deserialize)]
    struct Subject {
        #[serde(default)]
        digest: BTreeMap<String, String>,
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let envelope: Envelope =
        serde_json::from_slice(&a.payload).map_err(|e| format!("not a DSSE envelope ({e})"))?;
    let body = b64
        .decode(envelope.payload.trim())
        .map_err(|e| format!("the envelope's payload is not base64 ({e})"))?;
    let pae = pae(&envelope.payload_type, &body);
    let key = envelope
        .signatures
        .iter()
        .filter_map(|s| b64.decode(s.sig.trim()).ok())
        .find_map(|sig| keys.verifier(&pae, &sig))
        .ok_or_else(|| {
            format!(
                "no signature of the envelope verifies with {} ({} signatures)",
                key_list(keys),
                envelope.signatures.len()
            )
        })?;
    if envelope.payload_type != "application/vnd.in-toto+json" {
        return Err(format!(
            "signed by {} but its payload is {:?}, not an in-toto statement",
            key.id(),
            envelope.payload_type
        ));
    }
    let statement: Statement = serde_json::from_slice(&body)
        .map_err(|e| format!("signed by {} but not an in-toto statement ({e})", key.id()))?;
    if statement.predicate_type != wanted {
        return Ok(None);
    }
    let names_image = statement.subject.iter().any(|s| {
        attached.digests.iter().any(|d| {
            s.digest
                .get(d.algorithm())
                .is_some_and(|hex| hex.eq_ignore_ascii_case(d.encoded()))
        })
    });
    if !names_image {
        return Err(format!("signed by {} for another image", key.id()));
    }
    Ok(Some(Attestation {
        key: key.id().to_string(),
        origin: a.origin.clone(),
        time: predicate_time(&statement.predicate),
        predicate_type: statement.predicate_type,
        predicate: statement.predicate,
    }))
}

/// DSSE's pre-authentication encoding, what an envelope's signatures sign.
fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// When a predicate says it was made.
fn predicate_time(p: &serde_json::Value) -> Option<OffsetDateTime> {
    [
        "/metadata/scanFinishedOn",
        "/metadata/timestamp",
        "/creationInfo/created",
        "/metadata/buildFinishedOn",
    ]
    .iter()
    .find_map(|ptr| p.pointer(ptr).and_then(|v| v.as_str()))
    .and_then(portcullis_core::parse_time)
}

#[cfg(test)]
mod tests;
