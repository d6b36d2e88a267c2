//! Domain nouns of Portcullis, shared by every other crate.
//!
//! This crate does no IO and pulls in nothing but serde and time: the pipeline
//! image → layers → packages → matches → report → decision is described here as data, so
//! that each stage can be tested and cached without the others (the habit of kube-core).

/// Gives a closed set of names (an enum with `as_str` and `FromStr`) its text form:
/// `Display` and serde both write `as_str()`, and reading goes through `FromStr`, so the
/// names on the wire, in messages and in flags are one list.
#[macro_export]
macro_rules! named_by_str {
    ($t:ty) => {
        impl ::std::fmt::Display for $t {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $t {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $t {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as ::serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(::serde::de::Error::custom)
            }
        }
    };
}

mod advisory;
mod attached;
mod duration;
mod ecosystem;
mod expiry;
mod image_ref;
mod package;
mod report;
mod source;
mod store;

pub use advisory::{
    Advisory, AdvisoryKind, Affected, Event, Range, RangeKind, SeverityScore, TrackerState,
};
pub use attached::{Attached, Attachment, DSSE_ENVELOPE, SIGNATURE_ANNOTATION, SIMPLE_SIGNING};
pub use duration::{format_duration, parse_duration};
pub use ecosystem::{APK_DISTROS, Ecosystem, UnknownEcosystem};
pub use expiry::{Expiry, format_time, parse_time};
pub use image_ref::{
    DOCKER_HUB, DOCKER_HUB_API_HOST, Digest, DigestError, ImageRef, ImageRefError, WrittenRef,
    is_valid_tag,
};
pub use package::{
    Distro, ImageConfig, ImageInfo, Inventory, Location, Package, SourcePackage, purl_encode,
};
pub use report::{
    Coverage, Cvss, DbInfo, Exception, ExceptionScope, IgnoredBy, Match, MatchDetail,
    MatchedPackage, ScanReport, Severity, Status, Summary, Thresholds,
};
pub use source::{AdvisorySource, Covering, NPM_RANGE_PREFIX, SourceError, release_covers};
pub use store::{
    ApiToken, ChangeCause, DecisionEvent, DecisionStore, Documents, EncodedReport, HistoryStore,
    ImageSighting, ImageStore, InventoryStore, LeaseStore, RematchMark, ReportStore, ResultStore,
    RuntimeImage, RuntimeStore, SeenImage, SettingChange, SettingsStore, StatusChange, StoreError,
    StoredInventory, TokenScope, TokenStore, UnknownCause, UnknownScope,
};

/// An error and every cause under it on one line (`outer: cause: root`), for messages that
/// leave this process (logs, denials, `/readyz`). Error messages in Portcullis never repeat
/// their source; this is where the causes are shown.
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(c) = cause {
            write!(f, ": {c}")?;
            cause = c.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorChain;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read the file")]
    struct Outer {
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn the_chain_shows_each_cause_once() {
        let e = Outer {
            source: std::io::Error::other("disk on fire"),
        };
        assert_eq!(e.to_string(), "cannot read the file");
        assert_eq!(
            ErrorChain(&e).to_string(),
            "cannot read the file: disk on fire"
        );
    }
}
