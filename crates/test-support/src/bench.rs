//! What the benchmarks (`crates/*/benches`, run by `scripts/bench*`) share: how they stop on an
//! error, read a process's memory, and wait for a line in a log.

use std::path::Path;
use std::time::{Duration, Instant};

/// Stops the benchmark, saying what failed.
pub fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("{what}: {e}");
    std::process::exit(1);
}

/// Resident memory of `pid` now and at its peak (MiB), and how the resident part splits.
pub fn memory(pid: u32) -> (f64, f64, String) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (
        field("VmRSS:"),
        field("VmHWM:"),
        format!(
            "anonymous {:.0} MiB, file {:.0} MiB",
            field("RssAnon:"),
            field("RssFile:")
        ),
    )
}

/// Waits until `log` holds `line`; the time it was first seen.
pub fn wait_for(log: &Path, line: &str, within: Duration) -> Option<Instant> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if std::fs::read_to_string(log).is_ok_and(|t| t.contains(line)) {
            return Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// The `p`-th percentile (0-100) of `samples` (sorted here), in milliseconds.
pub fn percentile_ms(samples: &mut [Duration], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort();
    let rank = ((p / 100.0) * (samples.len() - 1) as f64).round() as usize;
    samples[rank.min(samples.len() - 1)].as_secs_f64() * 1000.0
}
