//! How reports are written in a store, the same in every backend: without their package list
//! (the inventory row holds it) and zstd-compressed. A report is mostly repeated keys and package
//! metadata, and a rematch rewrites one report per stored image, so the bytes written are what a
//! rematch costs.

use std::fmt;

use portcullis_core::{Digest, EncodedReport, ScanReport};

/// What went wrong turning a report into bytes or back.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CodecError {
    /// Not JSON of a report.
    #[error("not a report")]
    Json(#[from] serde_json::Error),
    /// zstd failed.
    #[error("not zstd")]
    Compression(#[from] std::io::Error),
}

impl CodecError {
    /// What failed, for [`portcullis_core::StoreError::what`].
    pub(crate) fn what(&self, key: impl fmt::Display) -> String {
        match self {
            CodecError::Json(_) => unreadable(key),
            CodecError::Compression(_) => {
                format!("stored report for {key} could not be (de)compressed")
            }
        }
    }
}

/// The message for a stored document that does not read back.
pub(crate) fn unreadable(key: impl fmt::Display) -> String {
    format!("stored document for {key} is unreadable")
}

/// The stored form of `report` of `digest`: its JSON without packages, compressed. The packages
/// are put back before this returns, so the caller's report is unchanged.
pub(crate) fn encode_report(
    digest: &Digest,
    report: &mut ScanReport,
) -> Result<EncodedReport, CodecError> {
    let packages = std::mem::take(&mut report.packages);
    let json = serde_json::to_vec(&*report);
    report.packages = packages;
    Ok(EncodedReport {
        digest: digest.clone(),
        data: compress(&json?)?,
    })
}

/// A report from its stored form (packages empty: the caller adds the inventory's).
pub(crate) fn decode_report(bytes: &[u8]) -> Result<ScanReport, CodecError> {
    let json = zstd::stream::decode_all(bytes)?;
    Ok(serde_json::from_slice(&json)?)
}

thread_local! {
    /// One compressor per thread: its context is reused across reports (a rematch compresses
    /// one report per stored image, on every CPU).
    static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

fn compress(json: &[u8]) -> std::io::Result<Vec<u8>> {
    COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        if c.is_none() {
            *c = Some(zstd::bulk::Compressor::new(1)?);
        }
        match c.as_mut() {
            Some(c) => c.compress(json),
            None => zstd::bulk::compress(json, 1),
        }
    })
}
