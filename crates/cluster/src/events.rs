//! Kubernetes Events for rejected objects, and for fired alerts.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, PostParams};
use portcullis_webhook::{DecisionEvent, DecisionSink};
use tokio::sync::mpsc;

/// The component name Events carry (`kubectl get events` shows it as the source).
pub(crate) const COMPONENT: &str = "portcullis";
/// Events queued beyond this are dropped (with a warning): the admission path never waits on
/// the API server, and a storm of rejections must not grow memory.
const QUEUE: usize = 1024;
/// The API server limits an Event message to 1 KiB.
const MAX_MESSAGE: usize = 1024;

/// Sends a Warning Event for each rejection (`Rejected`) and each audit-mode rejection that was
/// let through (`AuditRejected`), from a background task.
pub struct EventRecorder {
    tx: mpsc::Sender<Event>,
}

impl EventRecorder {
    /// Starts the sending task on the current runtime. `instance` names this replica (the pod
    /// name), shown as the Event's reporting instance.
    pub fn start(client: kube::Client, instance: String) -> EventRecorder {
        let (tx, mut rx) = mpsc::channel::<Event>(QUEUE);
        tokio::spawn(async move {
            while let Some(mut event) = rx.recv().await {
                event.reporting_instance = Some(instance.clone());
                let ns = event.metadata.namespace.clone().unwrap_or_default();
                let api: Api<Event> = Api::namespaced(client.clone(), &ns);
                if let Err(e) = api.create(&PostParams::default(), &event).await {
                    tracing::warn!(namespace = %ns, "cannot record Event: {e}");
                }
            }
        });
        EventRecorder { tx }
    }
}

/// The Event for a decision, or `None` when there is nothing to tell (an admission with no
/// audit finding).
pub(crate) fn event_for(d: &DecisionEvent) -> Option<Event> {
    let (reason, message) = if !d.allowed {
        ("Rejected", d.message.clone().unwrap_or_default())
    } else if !d.audit_rejections.is_empty() {
        (
            "AuditRejected",
            format!(
                "allowed in audit mode; enforce would reject: {}",
                d.audit_rejections.join("; ")
            ),
        )
    } else {
        return None;
    };
    // Cluster-scoped objects have no namespace; their Events go to `default`, as kubectl's do.
    let namespace = if d.namespace.is_empty() {
        "default".to_string()
    } else {
        d.namespace.clone()
    };
    let name = if d.name.is_empty() {
        d.kind.to_ascii_lowercase()
    } else {
        d.name.clone()
    };
    Some(warning(
        namespace.clone(),
        ObjectReference {
            kind: Some(d.kind.clone()),
            name: Some(name),
            namespace: (!d.namespace.is_empty()).then_some(namespace),
            ..ObjectReference::default()
        },
        reason,
        format!("Admit{}", capitalised(&d.operation)),
        &message,
    ))
}

/// A Warning Event from Portcullis in `namespace` about `involved`.
fn warning(
    namespace: String,
    involved: ObjectReference,
    reason: &str,
    action: String,
    message: &str,
) -> Event {
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let name = involved.name.clone().unwrap_or_default();
    Event {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}.")),
            namespace: Some(namespace),
            ..ObjectMeta::default()
        },
        involved_object: involved,
        reason: Some(reason.into()),
        message: Some(truncate(message, MAX_MESSAGE)),
        type_: Some("Warning".into()),
        action: Some(action),
        source: Some(EventSource {
            component: Some(COMPONENT.into()),
            host: None,
        }),
        reporting_component: Some(COMPONENT.into()),
        first_timestamp: Some(now.clone()),
        last_timestamp: Some(now),
        count: Some(1),
        ..Event::default()
    }
}

fn capitalised(op: &str) -> String {
    let lower = op.to_ascii_lowercase();
    let mut c = lower.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}

/// Cuts `s` to at most `max` bytes on a character boundary, marking the cut.
fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max.saturating_sub(3);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// Delivers fired alerts as Kubernetes Events (`AlertFired`, Warning): on the workload when the
/// alert is about one (its group names a namespace and a workload), else on the
/// `ImageAssuranceAlert` of the rule (in `default`, as Events of cluster-scoped objects are).
pub struct AlertEvents {
    client: kube::Client,
    instance: String,
}

impl AlertEvents {
    /// Events sent with `client`, from replica `instance`.
    pub fn new(client: kube::Client, instance: String) -> AlertEvents {
        AlertEvents { client, instance }
    }
}

/// The Event of a fired alert.
pub(crate) fn alert_event(alert: &portcullis_api::Alert) -> Event {
    let group = |k: &str| alert.group.get(k).filter(|v| !v.is_empty());
    let workload = group("namespace").zip(group("workload").and_then(|w| w.split_once('/')));
    let (namespace, involved) = match workload {
        Some((ns, (kind, name))) => (
            ns.clone(),
            ObjectReference {
                kind: Some(kind.into()),
                name: Some(name.into()),
                namespace: Some(ns.clone()),
                ..ObjectReference::default()
            },
        ),
        None => (
            "default".to_string(),
            ObjectReference {
                api_version: Some(portcullis_policy::API_VERSION.into()),
                kind: Some(portcullis_api::alerts::ALERT_KIND.into()),
                name: Some(alert.rule.clone()),
                ..ObjectReference::default()
            },
        ),
    };
    let groups: Vec<String> = alert
        .group
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let message = format!(
        "alert {} ({}): {}{}; value {}",
        alert.rule,
        alert.severity,
        alert.description,
        if groups.is_empty() {
            String::new()
        } else {
            format!(" [{}]", groups.join(", "))
        },
        alert.value
    );
    warning(namespace, involved, "AlertFired", "Alert".into(), &message)
}

impl portcullis_api::notify::AlertSink for AlertEvents {
    fn name(&self) -> &'static str {
        "events"
    }

    fn deliver<'a>(
        &'a self,
        alert: &'a portcullis_api::Alert,
    ) -> futures_util::future::BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let mut event = alert_event(alert);
            event.reporting_instance = Some(self.instance.clone());
            let ns = event.metadata.namespace.clone().unwrap_or_default();
            Api::<Event>::namespaced(self.client.clone(), &ns)
                .create(&PostParams::default(), &event)
                .await
                .map(|_| ())
                .map_err(|e| format!("cannot record the Event in {ns}: {e}"))
        })
    }
}

impl DecisionSink for EventRecorder {
    fn record(&self, decision: &DecisionEvent) {
        let Some(event) = event_for(decision) else {
            return;
        };
        if self.tx.try_send(event).is_err() {
            tracing::warn!(uid = %decision.uid, "Event queue full: Event dropped");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(allowed: bool, audit: Vec<String>) -> DecisionEvent {
        DecisionEvent {
            time: time::OffsetDateTime::UNIX_EPOCH,
            uid: "u".into(),
            kind: "Deployment".into(),
            namespace: "shop".into(),
            name: "web".into(),
            operation: "CREATE".into(),
            user: "alice".into(),
            images: vec!["r/app:1".into()],
            allowed,
            message: (!allowed).then(|| format!("image r/app:1 {}", "é".repeat(2000))),
            warnings: vec![],
            audit_rejections: audit,
            policy: "p".into(),
            rule: "0".into(),
        }
    }

    #[test]
    fn rejections_become_warning_events_on_the_object() {
        let e = event_for(&decision(false, vec![])).expect("event");
        assert_eq!(e.reason.as_deref(), Some("Rejected"));
        assert_eq!(e.type_.as_deref(), Some("Warning"));
        assert_eq!(e.action.as_deref(), Some("AdmitCreate"));
        assert_eq!(e.metadata.namespace.as_deref(), Some("shop"));
        assert_eq!(e.involved_object.name.as_deref(), Some("web"));
        assert_eq!(e.involved_object.kind.as_deref(), Some("Deployment"));
        // Long messages are cut on a character boundary, within the API server's limit.
        let m = e.message.expect("message");
        assert!(m.len() <= MAX_MESSAGE && m.ends_with("..."), "{}", m.len());
    }

    #[test]
    fn alerts_are_events_on_their_workload_or_their_rule() {
        let mut alert = portcullis_api::Alert {
            rule: "db-update-fail".into(),
            severity: "high".into(),
            description: "turned to Fail".into(),
            group: [("namespace", "shop"), ("workload", "Deployment/web")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            value: 1.0,
            records: 2,
        };
        let e = alert_event(&alert);
        assert_eq!(e.reason.as_deref(), Some("AlertFired"));
        assert_eq!(e.metadata.namespace.as_deref(), Some("shop"));
        assert_eq!(e.involved_object.kind.as_deref(), Some("Deployment"));
        assert_eq!(e.involved_object.name.as_deref(), Some("web"));
        assert!(
            e.message
                .as_deref()
                .is_some_and(|m| m.contains("workload=Deployment/web") && m.contains("high")),
            "{:?}",
            e.message
        );
        // Not about one workload: on the rule's resource, in `default`.
        alert.rule = "many-failing".into();
        alert.group.clear();
        let e = alert_event(&alert);
        assert_eq!(e.metadata.namespace.as_deref(), Some("default"));
        assert_eq!(
            e.involved_object.kind.as_deref(),
            Some("ImageAssuranceAlert")
        );
        assert_eq!(e.involved_object.name.as_deref(), Some("many-failing"));
    }

    #[test]
    fn audit_findings_are_events_and_plain_admissions_are_not() {
        assert!(event_for(&decision(true, vec![])).is_none());
        let e = event_for(&decision(true, vec!["policy p would reject".into()])).expect("event");
        assert_eq!(e.reason.as_deref(), Some("AuditRejected"));
        assert!(
            e.message
                .expect("message")
                .contains("policy p would reject")
        );
    }
}
