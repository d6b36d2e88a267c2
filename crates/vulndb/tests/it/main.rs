//! Integration tests of the vulnerability database, on the real feeds in `shared/testdata`.

mod common;
mod import;
mod update;
