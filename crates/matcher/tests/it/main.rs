//! Integration tests of portcullis-matcher (one test binary).

mod matching;
mod severity_oracles;
mod support;
