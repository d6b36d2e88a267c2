//! Vulnerability database: ingest of OSV, distro trackers, npm, NVD; embedded storage.
//!
//! Every feed is normalised to [`portcullis_core::Advisory`] (OSV's shape) and stored in one
//! SQLite file, indexed by (ecosystem, package). Queries open the file read-only; imports
//! and updates build a new file beside it and rename it into place, so a scanner can keep
//! reading while the database is refreshed.
//!
//! Conventions the matcher relies on:
//! - Debian tracker entries are `Debian:<codename>` (`Debian:bookworm`) for the *source*
//!   package; a bare `Debian` entry comes from a `CVE/list` unstable line and applies to
//!   every release that has no entry of its own for that package in the same advisory.
//!   Alpine entries are `Alpine:v3.18` for the origin package.
//! - [`portcullis_core::TrackerState`] other than `Fixed` means "no fix in this release",
//!   except `Unimportant`, which keeps the fixed event when the tracker names one.
//! - npm security WG advisories carry their node-semver range as the single event
//!   `Introduced("npm-range:<range>")` of a single ECOSYSTEM range ([`NPM_RANGE_PREFIX`]).

mod db;
mod format;
pub mod ingest;
mod source;
pub mod update;

pub use db::{Db, DbStatus, Error, ImportReport, Result, SCHEMA_VERSION, SourceStatus};
pub use format::{SourceFormat, UnknownFormat};
pub use ingest::parse_file_bytes;
pub use portcullis_core::NPM_RANGE_PREFIX;
pub use update::{Error as UpdateError, UpdateConfig, UpdateSource, cache_dir, update};
