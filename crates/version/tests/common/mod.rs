//! Shared helpers for the conformance tests: where the third-party data is, and how failures
//! are collected and reported.

#![allow(dead_code, unreachable_pub)]

pub use portcullis_test_support::testdata;

/// Collects the outcome of every case of one suite and fails at the end with the first 30.
pub struct Suite {
    name: String,
    total: usize,
    failures: Vec<String>,
}

impl Suite {
    pub fn new(name: impl Into<String>) -> Self {
        Suite {
            name: name.into(),
            total: 0,
            failures: Vec::new(),
        }
    }

    /// Records one case; `detail` is only built for failures.
    pub fn check(&mut self, ok: bool, detail: impl FnOnce() -> String) {
        self.total += 1;
        if !ok {
            self.failures.push(detail());
        }
    }

    pub fn total(&self) -> usize {
        self.total
    }

    /// Prints the pass count and panics with the first 30 failures, if any.
    pub fn finish(self) {
        let passed = self.total - self.failures.len();
        println!("{}: {passed}/{} passed", self.name, self.total);
        assert!(self.total > 0, "{}: no case was run", self.name);
        if !self.failures.is_empty() {
            let shown: Vec<&str> = self.failures.iter().take(30).map(String::as_str).collect();
            panic!(
                "{}: {} of {} cases failed; first {}:\n  {}",
                self.name,
                self.failures.len(),
                self.total,
                shown.len(),
                shown.join("\n  ")
            );
        }
    }
}

/// Several suites in one test: all run, then the first failing one fails the test.
pub fn finish_all(suites: Vec<Suite>) {
    let mut failed = Vec::new();
    for s in suites {
        let name = s.name.clone();
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.finish())).is_err() {
            failed.push(name);
        }
    }
    assert!(failed.is_empty(), "failing suites: {failed:?}");
}
