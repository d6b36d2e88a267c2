//! Integration tests of the webhook: the router driven with `oneshot`, and the HTTPS server.

mod decisions;
mod https;
mod policies;
mod samples;
mod scans;
mod support;
