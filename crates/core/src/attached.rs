//! What a registry holds beside an image: cosign signatures and in-toto attestations, found
//! through the cosign tag scheme (`sha256-<hex>.sig`, `.att`) and the OCI referrers API.
//!
//! The image crate fetches them (each blob checked against its digest, nothing else); the
//! trust crate decides what they prove. Keeping the fetched form here lets the two meet
//! without either depending on the other.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Digest;

/// Cosign's simple-signing payload, signed whole (the signature is a layer annotation).
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// A DSSE envelope (an attestation: an in-toto statement and its signatures).
pub const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";
/// The annotation holding a simple-signing layer's base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

/// One layer of an artifact attached to an image, as fetched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// Where it was found, for evidence: `tag sha256-<hex>.sig`, `referrer sha256:<hex>`.
    pub origin: String,
    /// The layer's media type ([`SIMPLE_SIGNING`], [`DSSE_ENVELOPE`] or another).
    pub media_type: String,
    /// The layer's annotations (the signature of a simple-signing layer, an attestation's
    /// `predicateType`).
    pub annotations: BTreeMap<String, String>,
    /// The layer's bytes, checked against the digest its manifest gives.
    pub payload: Vec<u8>,
}

/// Everything found attached to one image.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attached {
    /// The digests a signature may name for this image: the platform manifest's, and the
    /// index's it was reached through (cosign signs what the reference resolved to).
    pub digests: Vec<Digest>,
    /// The layers of the signature and attestation manifests found.
    pub attachments: Vec<Attachment>,
    /// What was found but could not be read (a manifest of another kind, a layer over the
    /// size limit): said in the evidence, never silently dropped.
    pub problems: Vec<String>,
}
