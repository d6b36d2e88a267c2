//! Integration tests of portcullis-catalog: every extractor over real third-party fixtures
//! (osv-scalibr's testdata in the shared testdata folder), and the driver over synthetic walks.

mod binaries;
mod common;
mod driver;
mod lang;
mod os;
mod walk;
