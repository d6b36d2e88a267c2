//! Integration tests of portcullis-matcher (one test binary).

mod db;
mod matching;
mod severity_oracles;
mod support;
