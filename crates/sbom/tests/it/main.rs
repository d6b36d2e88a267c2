//! Integration tests of portcullis-sbom: one test binary, one module per concern.

mod common;
mod decode;
mod roundtrip;
mod schema;
mod snapshot;
mod syft;
