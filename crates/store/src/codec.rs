//! How reports are written in a store, the same in every backend: without their package list
//! (the inventory row holds it) and zstd-compressed. A report is mostly repeated keys and package
//! metadata, and a rematch rewrites one report per stored image, so the bytes written are what a
//! rematch costs.

use std::fmt;

use portcullis_core::{
    ApiToken, Digest, EncodedReport, RuntimeImage, ScanReport, SeenImage, Status, StatusChange,
};

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

/// A status as stored (`Pass`, `Warn`, `Fail`, as policies spell it).
pub(crate) fn status(s: &str) -> Result<Status, UnknownStatus> {
    [Status::Pass, Status::Warn, Status::Fail]
        .into_iter()
        .find(|st| st.as_str() == s)
        .ok_or_else(|| UnknownStatus(s.to_string()))
}

/// A stored status that is none of Pass, Warn, Fail.
#[derive(Debug, thiserror::Error)]
#[error("unknown status `{0}`")]
pub(crate) struct UnknownStatus(String);

/// The setting name the thresholds are kept under.
pub(crate) const THRESHOLDS: &str = "thresholds";
/// The settings row of the exceptions in force (a JSON array).
pub(crate) const EXCEPTIONS: &str = "exceptions";
/// The settings row of the exceptions made through the API (a JSON array).
pub(crate) const API_EXCEPTIONS: &str = "api_exceptions";

/// A status change from its stored columns.
pub(crate) fn status_change(
    digest: &Digest,
    time: &str,
    from: Option<&str>,
    to: &str,
    cause: &str,
    db_version: String,
) -> Result<StatusChange, Box<dyn std::error::Error + Send + Sync>> {
    Ok(StatusChange {
        digest: digest.clone(),
        time: portcullis_core::parse_time(time)
            .ok_or_else(|| format!("time `{time}` is not RFC 3339"))?,
        from: from.map(status).transpose()?,
        to: status(to)?,
        cause: cause.parse()?,
        db_version,
    })
}

/// A runtime image's columns as both backends store them: no digest is `''`, nodes are
/// comma-joined, times are RFC 3339 text.
pub(crate) struct RuntimeRow {
    pub(crate) cluster: String,
    pub(crate) namespace: String,
    pub(crate) workload_kind: String,
    pub(crate) workload_name: String,
    pub(crate) image: String,
    pub(crate) digest: String,
    pub(crate) instances: u32,
    pub(crate) nodes: String,
    pub(crate) first_seen: String,
    pub(crate) last_seen: String,
    pub(crate) running: bool,
}

impl RuntimeRow {
    pub(crate) fn decode(self) -> Result<RuntimeImage, Box<dyn std::error::Error + Send + Sync>> {
        let time = |t: &str| {
            portcullis_core::parse_time(t).ok_or_else(|| format!("time `{t}` is not RFC 3339"))
        };
        Ok(RuntimeImage {
            digest: (!self.digest.is_empty())
                .then(|| Digest::parse(&self.digest))
                .transpose()?,
            nodes: self
                .nodes
                .split(',')
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .collect(),
            first_seen: time(&self.first_seen)?,
            last_seen: time(&self.last_seen)?,
            cluster: self.cluster,
            namespace: self.namespace,
            workload_kind: self.workload_kind,
            workload_name: self.workload_name,
            image: self.image,
            instances: self.instances,
            running: self.running,
        })
    }
}

/// An image sighting's columns as both backends store them (no tag is `''`).
pub(crate) struct SightingRow {
    pub(crate) registry: String,
    pub(crate) repository: String,
    pub(crate) digest: String,
    pub(crate) tag: String,
    pub(crate) source: String,
    pub(crate) first_seen: String,
    pub(crate) last_seen: String,
}

/// Sightings folded into one [`SeenImage`] per (registry, repository, digest), in that order.
pub(crate) fn seen_images(
    rows: Vec<SightingRow>,
) -> Result<Vec<SeenImage>, Box<dyn std::error::Error + Send + Sync>> {
    let time = |t: &str| {
        portcullis_core::parse_time(t).ok_or_else(|| format!("time `{t}` is not RFC 3339"))
    };
    let mut out: std::collections::BTreeMap<(String, String, String), SeenImage> =
        std::collections::BTreeMap::new();
    for r in rows {
        let (first, last) = (time(&r.first_seen)?, time(&r.last_seen)?);
        let image = match out.entry((r.registry.clone(), r.repository.clone(), r.digest.clone())) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => e.insert(SeenImage {
                registry: r.registry,
                repository: r.repository,
                digest: Digest::parse(&r.digest)?,
                tags: Vec::new(),
                sources: Vec::new(),
                first_seen: first,
                last_seen: last,
            }),
        };
        image.first_seen = image.first_seen.min(first);
        image.last_seen = image.last_seen.max(last);
        if !r.tag.is_empty() && !image.tags.contains(&r.tag) {
            image.tags.push(r.tag);
        }
        if !image.sources.contains(&r.source) {
            image.sources.push(r.source);
        }
    }
    Ok(out
        .into_values()
        .map(|mut i| {
            i.tags.sort();
            i.sources.sort();
            i
        })
        .collect())
}

/// An API token's columns as both backends store them: times as Unix seconds, the secret's
/// SHA-256 as hex (in its own column, read only to verify).
pub(crate) struct TokenRow {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) scope: String,
    pub(crate) created: i64,
    pub(crate) expires: Option<i64>,
    pub(crate) revoked: bool,
}

impl TokenRow {
    pub(crate) fn decode(self) -> Result<ApiToken, Box<dyn std::error::Error + Send + Sync>> {
        let time = |t: i64| time::OffsetDateTime::from_unix_timestamp(t);
        Ok(ApiToken {
            scope: self.scope.parse()?,
            created: time(self.created)?,
            expires: self.expires.map(time).transpose()?,
            id: self.id,
            name: self.name,
            revoked: self.revoked,
        })
    }
}

/// A SHA-256 as stored: lowercase hex.
pub(crate) fn hex32(bytes: &[u8; 32]) -> String {
    hex::encode(bytes)
}

/// A stored SHA-256 back to bytes.
pub(crate) fn unhex32(text: &str) -> Result<[u8; 32], Box<dyn std::error::Error + Send + Sync>> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out)?;
    Ok(out)
}
