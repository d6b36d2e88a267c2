//! Integration tests of portcullis-image: one binary, one module per area.

mod fake_registry;
mod local;
mod registry;
mod support;
