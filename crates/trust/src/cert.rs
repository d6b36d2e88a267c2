//! Signatures by certificate: a simple-signing layer carrying cosign's
//! `dev.sigstore.cosign/certificate` (and `/chain`) annotations, verified against root
//! certificates a policy configures, the signer known by the certificate's identity (its
//! e-mail or URI subject alternative name, and the Fulcio OIDC issuer extension when present).
//!
//! The chain is checked with the code-signing extended key usage. Without transparency-log
//! keys it is checked at the time of the check: certificates of a private PKI (valid for
//! months) verify so. With Rekor public keys configured (keyless signing: Fulcio's
//! ten-minute certificates), the signature must carry a Rekor bundle: its signed entry
//! timestamp must verify with a log key, its `hashedrekord` entry must name this payload,
//! signature and certificate, and the chain is checked at the time the log recorded it. All
//! offline: nothing asks Rekor or Fulcio.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use portcullis_core::{Attached, SIGNATURE_ANNOTATION, SIMPLE_SIGNING};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, UnixTime};
use sha2::{Digest as _, Sha256};

use crate::{SignatureCheck, Verified, payload_digest};

/// The annotation holding the signer's certificate (PEM).
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// The annotation holding the rest of its chain (PEM, intermediates then root).
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// The annotation holding the Rekor bundle (the log's signed promise of inclusion).
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
/// id-kp-codeSigning (1.3.6.1.5.5.7.3.3), DER contents.
const CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];
/// Fulcio's OIDC issuer extensions: v1 (raw string) and v2 (DER UTF8String).
const FULCIO_ISSUER_V1: &str = "1.3.6.1.4.1.57264.1.1";
const FULCIO_ISSUER_V2: &str = "1.3.6.1.4.1.57264.1.8";

/// Why roots cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RootError {
    /// Not a PEM certificate.
    #[error("not a PEM certificate (expected a \"-----BEGIN CERTIFICATE-----\" block)")]
    NotPem,
    /// A certificate that cannot anchor a chain.
    #[error("not usable as a root certificate: {0}")]
    Unusable(String),
}

/// Root certificates signatures by certificate must chain to, and their identity (checks
/// are cached and looked up by it).
#[derive(Clone, Debug, PartialEq)]
pub struct TrustRoots {
    roots: Vec<CertificateDer<'static>>,
    /// Transparency-log keys: when given, a Rekor bundle is required and dates the signature.
    rekor: Vec<crate::PublicKey>,
    id: String,
}

impl TrustRoots {
    /// Reads PEM root certificates (each a string of one or more certificates).
    pub fn from_pem(pems: &[String]) -> Result<TrustRoots, (usize, RootError)> {
        let mut roots = Vec::new();
        for (i, pem) in pems.iter().enumerate() {
            let certs: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(pem.as_bytes())
                    .collect::<Result<_, _>>()
                    .map_err(|_| (i, RootError::NotPem))?;
            if certs.is_empty() {
                return Err((i, RootError::NotPem));
            }
            for c in &certs {
                webpki::anchor_from_trusted_cert(c)
                    .map_err(|e| (i, RootError::Unusable(format!("{e:?}"))))?;
            }
            roots.extend(certs);
        }
        let mut ids: Vec<String> = roots
            .iter()
            .map(|c| hex::encode(Sha256::digest(c.as_ref()))[..16].to_string())
            .collect();
        ids.sort();
        ids.dedup();
        Ok(TrustRoots {
            roots,
            rekor: Vec::new(),
            id: format!("roots:{}", ids.join(",")),
        })
    }

    /// These roots, with signatures required to carry a Rekor bundle signed by one of `keys`
    /// (checked at the time the log recorded them).
    pub fn with_rekor_keys(mut self, keys: Vec<crate::PublicKey>) -> TrustRoots {
        let mut ids: Vec<&str> = keys.iter().map(crate::PublicKey::id).collect();
        ids.sort();
        if !ids.is_empty() {
            self.id = format!("{};rekor:{}", self.id, ids.join(","));
        }
        self.rekor = keys;
        self
    }

    /// The roots' fingerprints: equal sets have equal ids.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// Checks every signature by certificate attached to an image against `roots`, at `now`: the
/// certificate must chain to a root and allow code signing, the signature must verify with
/// its key, and the payload must name the image. Each verified signature's `identity` and
/// `issuer` say who signed.
pub fn check_certificate_signatures(
    attached: &Attached,
    roots: &TrustRoots,
    now: SystemTime,
) -> SignatureCheck {
    let mut check = SignatureCheck {
        problems: attached.problems.clone(),
        ..SignatureCheck::default()
    };
    let time = UnixTime::since_unix_epoch(
        now.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO),
    );
    for a in attached
        .attachments
        .iter()
        .filter(|a| a.media_type == SIMPLE_SIGNING)
    {
        let Some(cert_pem) = a.annotations.get(CERTIFICATE_ANNOTATION) else {
            continue;
        };
        check.found += 1;
        match verify(a, cert_pem, attached, roots, time) {
            Ok(v) => check.verified.push(v),
            Err(why) => check.problems.push(format!("{}: {why}", a.origin)),
        }
    }
    check
}

fn verify(
    a: &portcullis_core::Attachment,
    cert_pem: &str,
    attached: &Attached,
    roots: &TrustRoots,
    now: UnixTime,
) -> Result<Verified, String> {
    let leaf = CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|_| "the certificate annotation holds no PEM certificate".to_string())?;
    let b64_signature = a
        .annotations
        .get(SIGNATURE_ANNOTATION)
        .map(|s| s.trim())
        .unwrap_or_default();
    // With log keys, the certificate is judged at the time the log recorded the signature.
    let time = if roots.rekor.is_empty() {
        now
    } else {
        let bundle = a
            .annotations
            .get(BUNDLE_ANNOTATION)
            .ok_or("no Rekor bundle, which keyless verification requires")?;
        let integrated = verify_bundle(bundle, &roots.rekor, &a.payload, b64_signature, &leaf)?;
        UnixTime::since_unix_epoch(Duration::from_secs(integrated))
    };
    let intermediates: Vec<CertificateDer<'static>> = a
        .annotations
        .get(CHAIN_ANNOTATION)
        .map(|chain| {
            CertificateDer::pem_slice_iter(chain.as_bytes())
                .filter_map(Result::ok)
                .collect()
        })
        .unwrap_or_default();
    let anchors: Vec<_> = roots
        .roots
        .iter()
        .filter_map(|r| webpki::anchor_from_trusted_cert(r).ok())
        .collect();
    let end_entity = webpki::EndEntityCert::try_from(&leaf)
        .map_err(|e| format!("the certificate cannot be read ({e:?})"))?;
    end_entity
        .verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            &intermediates,
            time,
            webpki::KeyUsage::required(CODE_SIGNING),
            None,
            None,
        )
        .map_err(|e| {
            format!("the certificate does not chain to the given roots for code signing ({e:?})")
        })?;
    if b64_signature.is_empty() {
        return Err(format!("no {SIGNATURE_ANNOTATION} annotation"));
    }
    let signature = base64::engine::general_purpose::STANDARD
        .decode(b64_signature)
        .map_err(|e| format!("the signature is not base64 ({e})"))?;
    let signed = webpki::ALL_VERIFICATION_ALGS.iter().any(|alg| {
        end_entity
            .verify_signature(*alg, &a.payload, &signature)
            .is_ok()
    });
    let (identity, issuer) = identity(&leaf);
    let who = identity.clone().unwrap_or_else(|| "(no identity)".into());
    if !signed {
        return Err(format!(
            "the signature does not verify with the certificate of {who} (the payload was changed)"
        ));
    }
    let digest = payload_digest(&a.payload).map_err(|e| format!("signed by {who} but {e}"))?;
    if !attached.digests.iter().any(|d| d.as_str() == digest) {
        return Err(format!("signed by {who} for another image ({digest})"));
    }
    Ok(Verified {
        key: format!("certificate {who}"),
        origin: a.origin.clone(),
        digest,
        identity,
        issuer,
    })
}

/// Checks a Rekor bundle offline and returns when the log recorded the entry: the signed
/// entry timestamp verifies with one of `keys` over the canonical JSON of the entry (keys
/// sorted, no spaces), and the `hashedrekord` entry names this payload's SHA-256, this
/// signature and this certificate.
fn verify_bundle(
    bundle: &str,
    keys: &[crate::PublicKey],
    payload: &[u8],
    b64_signature: &str,
    leaf: &CertificateDer<'_>,
) -> Result<u64, String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Bundle {
        signed_entry_timestamp: String,
        payload: Entry,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Entry {
        body: String,
        integrated_time: u64,
        log_index: u64,
        #[serde(rename = "logID")]
        log_id: String,
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let bundle: Bundle =
        serde_json::from_str(bundle).map_err(|e| format!("the Rekor bundle is malformed ({e})"))?;
    let e = &bundle.payload;
    // What the log signed: the entry as canonical JSON.
    let canonical = format!(
        "{{\"body\":{},\"integratedTime\":{},\"logID\":{},\"logIndex\":{}}}",
        serde_json::Value::from(e.body.as_str()),
        e.integrated_time,
        serde_json::Value::from(e.log_id.as_str()),
        e.log_index
    );
    let set = b64
        .decode(bundle.signed_entry_timestamp.trim())
        .map_err(|e| format!("the bundle's signed entry timestamp is not base64 ({e})"))?;
    if !keys.iter().any(|k| k.verifies(canonical.as_bytes(), &set)) {
        return Err(
            "the Rekor bundle's signed entry timestamp does not verify with the given log keys"
                .into(),
        );
    }
    let body: serde_json::Value = b64
        .decode(e.body.trim())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("the Rekor entry's body is not base64 JSON")?;
    let text = |ptr: &str| {
        body.pointer(ptr)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
    };
    if text("/kind") != "hashedrekord" {
        return Err(format!(
            "the Rekor entry is a {:?}, not a hashedrekord",
            text("/kind")
        ));
    }
    if text("/spec/data/hash/value") != hex::encode(Sha256::digest(payload)) {
        return Err("the Rekor entry records another payload".into());
    }
    if text("/spec/signature/content").trim() != b64_signature {
        return Err("the Rekor entry records another signature".into());
    }
    let logged_cert = b64
        .decode(text("/spec/signature/publicKey/content"))
        .ok()
        .and_then(|pem| CertificateDer::from_pem_slice(&pem).ok());
    if logged_cert.as_ref().map(|c| c.as_ref()) != Some(leaf.as_ref()) {
        return Err("the Rekor entry records another certificate".into());
    }
    Ok(e.integrated_time)
}

/// The certificate's signer: its first e-mail or URI subject alternative name, and the
/// Fulcio OIDC issuer when the certificate has one.
fn identity(der: &CertificateDer<'_>) -> (Option<String>, Option<String>) {
    use x509_parser::extensions::GeneralName;
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der.as_ref()) else {
        return (None, None);
    };
    let identity = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .and_then(|san| {
            san.value.general_names.iter().find_map(|n| match n {
                GeneralName::RFC822Name(e) => Some(e.to_string()),
                GeneralName::URI(u) => Some(u.to_string()),
                _ => None,
            })
        });
    let issuer = cert.extensions().iter().find_map(|e| {
        let oid = e.oid.to_id_string();
        if oid == FULCIO_ISSUER_V1 {
            std::str::from_utf8(e.value).ok().map(str::to_string)
        } else if oid == FULCIO_ISSUER_V2 {
            // A DER UTF8String: tag, short length, text.
            e.value
                .get(2..)
                .and_then(|t| std::str::from_utf8(t).ok())
                .map(str::to_string)
        } else {
            None
        }
    });
    (identity, issuer)
}
