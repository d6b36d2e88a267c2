//! Alerting: the rules are evaluated on a schedule, and each group that starts firing is
//! delivered once per cooldown to the log and to the configured receivers: a generic webhook
//! (the alert as JSON, signed with HMAC-SHA256 in `X-Portcullis-Signature: sha256=<hex>` when a
//! secret is set) and a Slack-compatible incoming webhook (`{"text": ...}`). A delivery that
//! fails is retried with backoff (1 s, 2 s, 4 s). Deliveries are kept (the last 1,000) for
//! `GET /api/v1/alerts/fired`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::routes::ApiState;
use crate::views::Alert;

/// Deliveries kept for the API.
const KEPT: usize = 1000;
/// Tries per delivery.
const TRIES: u32 = 4;

/// Where fired alerts go.
#[derive(Clone, Default)]
pub struct Receivers {
    /// A generic webhook URL.
    pub webhook: Option<String>,
    /// The webhook's signing secret.
    pub webhook_secret: Option<Vec<u8>>,
    /// A Slack-compatible incoming webhook URL.
    pub slack: Option<String>,
    /// Receivers the service adds (Kubernetes Events, in a cluster).
    pub sinks: Vec<Arc<dyn AlertSink>>,
}

/// A receiver of fired alerts that is not an HTTP endpoint: `serve` in a cluster adds one that
/// records Kubernetes Events (so `kubectl get events` shows them beside the workload).
pub trait AlertSink: Send + Sync + 'static {
    /// Its name in the delivery outcomes (`events`).
    fn name(&self) -> &'static str;

    /// Delivers `alert`.
    fn deliver<'a>(
        &'a self,
        alert: &'a Alert,
    ) -> futures_util::future::BoxFuture<'a, Result<(), String>>;
}

/// One alert delivered (or tried).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Delivery {
    /// When it fired (RFC 3339).
    pub time: String,
    /// The alert.
    pub alert: Alert,
    /// What became of each receiver (`webhook: delivered`, `slack: failed after 4 tries: ...`).
    pub outcome: Vec<String>,
}

/// The fired alerts, newest last.
#[derive(Default)]
pub(crate) struct Fired(Mutex<VecDeque<Delivery>>);

impl Fired {
    pub(crate) fn list(&self) -> Vec<Delivery> {
        self.0.lock().iter().cloned().collect()
    }

    fn push(&self, d: Delivery) {
        let mut q = self.0.lock();
        if q.len() == KEPT {
            q.pop_front();
        }
        q.push_back(d);
    }
}

/// HMAC-SHA256 (RFC 2104) of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let (mut inner, mut outer) = ([0x36u8; 64], [0x5cu8; 64]);
    for i in 0..64 {
        inner[i] ^= block[i];
        outer[i] ^= block[i];
    }
    let inner_hash = Sha256::new()
        .chain_update(inner)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(outer)
        .chain_update(inner_hash)
        .finalize()
        .into()
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    signature: Option<String>,
) -> Result<(), String> {
    let mut last = String::new();
    for attempt in 0..TRIES {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(1 << (attempt - 1))).await;
        }
        let mut req = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone());
        if let Some(s) = &signature {
            req = req.header("X-Portcullis-Signature", s);
        }
        match req.send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => last = format!("HTTP {}", r.status()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(format!("failed after {TRIES} tries: {last}"))
}

/// Evaluates the rules every `interval` (a rule with a `period` when that has passed) and
/// delivers what starts firing, each rule and group at most once per `cooldown`; and, from the
/// status history every replica records, the built-in alert [`DB_UPDATE_FAIL`] for each
/// running image a DB update turned to Fail. Runs until the process ends.
///
/// [`DB_UPDATE_FAIL`]: crate::views::DB_UPDATE_FAIL
pub fn start(state: Arc<ApiState>, receivers: Receivers, interval: Duration, cooldown: Duration) {
    tokio::spawn(async move {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        let mut last: HashMap<String, Instant> = HashMap::new();
        let ran: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        // Changes recorded before this start were told by whoever ran then.
        let store = state.store.clone();
        let mut seen = tokio::task::spawn_blocking(move || store.last_status_change())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(0);
        loop {
            tokio::time::sleep(interval).await;
            let due = {
                let ran = ran.clone();
                move |rule: &crate::alerts::Rule| {
                    let mut ran = ran.lock();
                    let period = rule.period().ok().flatten().unwrap_or(interval);
                    let due = ran.get(&rule.name).is_none_or(|t| t.elapsed() >= period);
                    if due {
                        ran.insert(rule.name.clone(), Instant::now());
                    }
                    due
                }
            };
            let mut firing = match crate::views::firing(&state, due).await {
                Ok(f) => f,
                Err(e) => {
                    tracing::warn!(error = %e.error, "alerts: cannot evaluate the rules");
                    Vec::new()
                }
            };
            match crate::views::turned_fail(&state, seen).await {
                Ok((alerts, next)) => {
                    firing.extend(alerts);
                    seen = next;
                }
                Err(e) => {
                    tracing::warn!(error = %e.error, "alerts: cannot read the status changes")
                }
            }
            for alert in firing {
                let key = format!("{}{:?}", alert.rule, alert.group);
                if last.get(&key).is_some_and(|t| t.elapsed() < cooldown) {
                    continue;
                }
                last.insert(key, Instant::now());
                let outcome = deliver(&client, &receivers, &alert).await;
                state.fired.push(Delivery {
                    time: portcullis_core::format_time(time::OffsetDateTime::now_utc()),
                    alert,
                    outcome,
                });
            }
        }
    });
}

/// Delivers `alert` to the log and every receiver; what became of each.
async fn deliver(client: &reqwest::Client, receivers: &Receivers, alert: &Alert) -> Vec<String> {
    tracing::warn!(rule = %alert.rule, severity = %alert.severity, group = ?alert.group, value = alert.value, "alert fired");
    let mut outcome = vec!["log: written".to_string()];
    let json = serde_json::to_vec(alert).unwrap_or_default();
    if let Some(url) = &receivers.webhook {
        let signature = receivers
            .webhook_secret
            .as_ref()
            .map(|k| format!("sha256={}", hex::encode(hmac_sha256(k, &json))));
        outcome.push(match post(client, url, json.clone(), signature).await {
            Ok(()) => "webhook: delivered".into(),
            Err(e) => format!("webhook: {e}"),
        });
    }
    if let Some(url) = &receivers.slack {
        let text = format!(
            "Portcullis alert `{}` ({}): {} {:?} = {}",
            alert.rule, alert.severity, alert.description, alert.group, alert.value
        );
        let body = serde_json::to_vec(&serde_json::json!({ "text": text })).unwrap_or_default();
        outcome.push(match post(client, url, body, None).await {
            Ok(()) => "slack: delivered".into(),
            Err(e) => format!("slack: {e}"),
        });
    }
    for sink in &receivers.sinks {
        outcome.push(match sink.deliver(alert).await {
            Ok(()) => format!("{}: delivered", sink.name()),
            Err(e) => format!("{}: {e}", sink.name()),
        });
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // RFC 4231 test case 2.
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block.
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }
}
