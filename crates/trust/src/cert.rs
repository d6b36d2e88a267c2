//! Signatures by certificate: a simple-signing layer carrying cosign's
//! `dev.sigstore.cosign/certificate` (and `/chain`) annotations, verified against root
//! certificates a policy configures, the signer known by the certificate's identity (its
//! e-mail or URI subject alternative name, and the Fulcio OIDC issuer extension when present).
//!
//! The chain is checked at the time of the check, with the code-signing extended key usage.
//! Certificates of a private PKI (valid for months) verify so; Fulcio's ten-minute
//! certificates need the signing time a Rekor bundle proves, which is not verified here, so
//! they do not verify once expired.

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
            id: format!("roots:{}", ids.join(",")),
        })
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
    time: UnixTime,
) -> Result<Verified, String> {
    let leaf = CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|_| "the certificate annotation holds no PEM certificate".to_string())?;
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
    let signature = a
        .annotations
        .get(SIGNATURE_ANNOTATION)
        .ok_or_else(|| format!("no {SIGNATURE_ANNOTATION} annotation"))
        .and_then(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| format!("the signature is not base64 ({e})"))
        })?;
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
