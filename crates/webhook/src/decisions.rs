//! Where decisions go besides the answer: the audit trail in the result store, Kubernetes Events
//! (in `portcullis-cluster`), or several at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use portcullis_core::{ErrorChain, ResultStore};
use tokio::sync::mpsc;

use crate::state::{DecisionEvent, DecisionSink};

/// Decisions queued at most, waiting for the store: a few seconds of a busy cluster's admissions.
const QUEUE: usize = 8192;
/// Decisions written in one transaction at most.
const BATCH: usize = 512;
/// How long the writer gathers decisions between writes.
const GATHER: std::time::Duration = std::time::Duration::from_millis(250);
/// Decisions recorded per second at most. An API server sends a webhook hundreds of reviews a
/// second at its busiest; past this, recording would take the CPU the answers need (the writer
/// shares it with the request path), so the excess is counted instead of written.
const PER_SECOND: u64 = 2000;

/// Admission decisions kept in the result store, for the audit trail. Recorded off the request
/// path: a bounded queue that a background task writes in batches. When the store falls behind
/// (or is down), or decisions come faster than [`PER_SECOND`], the excess is dropped and
/// counted, never delaying an answer.
pub struct StoredDecisions {
    queue: mpsc::Sender<DecisionEvent>,
    dropped: Arc<AtomicU64>,
    /// The current second (since start) and how many were recorded in it.
    window: AtomicU64,
    started: std::time::Instant,
}

impl StoredDecisions {
    /// Starts the writer on the current runtime.
    pub fn start(store: Arc<dyn ResultStore>) -> Arc<StoredDecisions> {
        let (queue, mut rx) = mpsc::channel::<DecisionEvent>(QUEUE);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                let store = store.clone();
                let written = std::mem::take(&mut batch);
                let n = written.len();
                match tokio::task::spawn_blocking(move || store.record_decisions(&written)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!(
                        "{n} admission decisions not recorded in the store: {}",
                        ErrorChain(&e)
                    ),
                    Err(e) => tracing::warn!("decision writer failed: {e}"),
                }
                // Gathers a while before writing again: a few writes a second, not one per
                // decision, keep the writer off the CPUs the answers need.
                tokio::time::sleep(GATHER).await;
            }
        });
        Arc::new(StoredDecisions {
            queue,
            dropped: Arc::default(),
            window: AtomicU64::new(0),
            started: std::time::Instant::now(),
        })
    }

    /// Decisions dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl StoredDecisions {
    /// The current second since start, and the window word: the second it counts and how many
    /// were taken in it (second << 32 | count, one word so taking one is one compare-and-swap).
    fn window(&self) -> (u64, u64) {
        let second = self.started.elapsed().as_secs() & 0xffff_ffff;
        (second, self.window.load(Ordering::Relaxed))
    }

    /// Whether this second's allowance is spent: answered by a read, so busy threads do not
    /// fight over the word.
    fn spent(&self) -> bool {
        let (second, current) = self.window();
        current >> 32 == second && current & 0xffff_ffff >= PER_SECOND
    }

    /// Takes one from this second's allowance, if any is left.
    fn admit(&self) -> bool {
        if self.spent() {
            return false;
        }
        let (second, mut current) = self.window();
        loop {
            let (s, n) = (current >> 32, current & 0xffff_ffff);
            let next = if s == second {
                if n >= PER_SECOND {
                    return false;
                }
                current + 1
            } else {
                (second << 32) | 1
            };
            match self.window.compare_exchange_weak(
                current,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(seen) => current = seen,
            }
        }
    }
}

impl DecisionSink for StoredDecisions {
    fn wants(&self) -> bool {
        !self.spent()
    }

    fn record(&self, event: &DecisionEvent) {
        if !self.admit() || self.queue.try_send(event.clone()).is_err() {
            let before = self.dropped.fetch_add(1, Ordering::Relaxed);
            // Said once per thousand, not per decision.
            if before.is_multiple_of(1000) {
                tracing::warn!(
                    dropped = before + 1,
                    "the result store falls behind: admission decisions are not all recorded"
                );
            }
        }
    }
}

/// Several sinks, each given every decision in turn.
pub struct DecisionSinks(pub Vec<Arc<dyn DecisionSink>>);

impl DecisionSink for DecisionSinks {
    fn wants(&self) -> bool {
        self.0.iter().any(|s| s.wants())
    }

    fn record(&self, event: &DecisionEvent) {
        for s in &self.0 {
            s.record(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_the_allowance_is_recorded_each_second() {
        let (queue, _rx) = mpsc::channel(1);
        let s = StoredDecisions {
            queue,
            dropped: Arc::default(),
            window: AtomicU64::new(0),
            started: std::time::Instant::now(),
        };
        // Well within one second on any machine: the allowance, then no more.
        let admitted = (0..PER_SECOND + 50).filter(|_| s.admit()).count();
        if s.started.elapsed() < std::time::Duration::from_millis(900) {
            assert_eq!(admitted as u64, PER_SECOND);
        }
        if s.started.elapsed() < std::time::Duration::from_millis(900) {
            assert!(!s.wants(), "spent: the decision need not be built");
        }
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert!(s.wants(), "a new second, a new allowance");
        assert!(s.admit());
    }
}
