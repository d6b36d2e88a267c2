//! Domain nouns of Portcullis, shared by every other crate.
//!
//! This crate does no IO and pulls in nothing but serde and time: the pipeline
//! image → layers → packages → matches → report → decision is described here as data, so
//! that each stage can be tested and cached without the others (the habit of kube-core).

mod advisory;
mod ecosystem;
mod expiry;
mod image_ref;
mod package;
mod report;

pub use advisory::{
    Advisory, AdvisoryKind, Affected, Event, Range, RangeKind, SeverityScore, TrackerState,
};
pub use ecosystem::{Ecosystem, UnknownEcosystem};
pub use expiry::{Expiry, parse_time};
pub use image_ref::{
    DOCKER_HUB, DOCKER_HUB_API_HOST, Digest, ImageRef, ImageRefError, WrittenRef, is_valid_tag,
};
pub use package::{Distro, ImageInfo, Inventory, Location, Package, SourcePackage, purl_encode};
pub use report::{
    Cvss, DbInfo, Exception, ExceptionScope, IgnoredBy, Match, MatchDetail, MatchedPackage,
    ScanReport, Severity, Status, Summary, Thresholds,
};
