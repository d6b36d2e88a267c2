//! Test support shared by every crate's tests (a dev-dependency only; nothing here ships).
//!
//! - [`inputs`]: where the third-party test data, the fixture images, the test registries and
//!   the peer tools live, and the one rule for when one is missing: outside CI the test says
//!   what it skipped and why, under `CI=true` (which `scripts/test` sets) it fails, so the suite
//!   can never pass by testing nothing.
//! - [`build`]: packages, inventories and distros as tests need them.
//! - [`http`]: one small HTTP/1.1 server on 127.0.0.1, serving files (with ETags) or answering
//!   from a closure, for tests of downloads and registry protocol faults.
//! - [`store`]: the conformance suite every result-store backend passes.
//! - [`postgres`]: a database of its own per test on the test PostgreSQL server.
//! - [`rpm`]: rpm databases made by Debian's `rpm` tool, for rpm images.

pub mod bench;
pub mod build;
pub mod feeds;
pub mod http;
pub mod inputs;
pub mod postgres;
pub mod relay;
pub mod rpm;
pub mod store;

pub use inputs::{
    advisory_feeds, auth_registry, ci, fixtures, missing, registry, skip, testdata, testdata_root,
    tool_from_env,
};
