//! The text of the cells that take more than a field: an event's row, an HPA's targets,
//! an Ingress's hosts and addresses, a pod's status, an age.

use crate::model::Ingress;
use crate::model::values::Time;

pub(super) fn event_cells(e: &crate::model::event::Event, now: Time) -> Vec<String> {
    let last = e
        .last_timestamp
        .or(e.first_timestamp)
        .or(e.metadata.creation_timestamp)
        .map(|t| age(now.unix_seconds.saturating_sub(t.unix_seconds)))
        .unwrap_or_else(|| "<unknown>".into());
    let o = &e.involved_object;
    vec![
        last,
        format!("{:?}", e.type_.unwrap_or_default()),
        e.reason.clone().unwrap_or_default(),
        format!("{}/{}", o.kind.to_ascii_lowercase(), o.name),
        e.message.clone().unwrap_or_default(),
    ]
}

/// An HPA's TARGETS column, as kubectl shows it: `cpu: 45%/80%, http_requests_in_flight:
/// 3/2`, `<unknown>` for a current figure not known yet.
pub(super) fn hpa_targets(h: &crate::model::HorizontalPodAutoscaler) -> String {
    use crate::model::autoscaling::{MetricSourceType, MetricTarget, MetricValueStatus};
    let current = h.status.as_ref().map(|s| &s.current_metrics);
    let shown = |t: &MetricTarget, now: Option<&MetricValueStatus>| -> String {
        match (t.average_utilization, &t.average_value) {
            (Some(u), _) => {
                let c = now
                    .and_then(|c| c.average_utilization)
                    .map_or_else(|| "<unknown>".to_owned(), |c| format!("{c}%"));
                format!("{c}/{u}%")
            }
            (None, Some(v)) => {
                let c = now
                    .and_then(|c| c.average_value.as_ref())
                    .map_or_else(|| "<unknown>".to_owned(), |c| c.as_str().to_owned());
                format!("{c}/{}", v.as_str())
            }
            _ => "<unknown>".to_owned(),
        }
    };
    let mut out = Vec::new();
    for m in &h.spec.metrics {
        match m.type_ {
            MetricSourceType::Resource => {
                if let Some(r) = &m.resource {
                    let now = current
                        .into_iter()
                        .flatten()
                        .filter_map(|c| c.resource.as_ref())
                        .find(|c| c.name == r.name)
                        .map(|c| &c.current);
                    out.push(format!("{}: {}", r.name, shown(&r.target, now)));
                }
            }
            MetricSourceType::Pods => {
                if let Some(p) = &m.pods {
                    let now = current
                        .into_iter()
                        .flatten()
                        .filter_map(|c| c.pods.as_ref())
                        .find(|c| c.metric.name == p.metric.name)
                        .map(|c| &c.current);
                    out.push(format!("{}: {}", p.metric.name, shown(&p.target, now)));
                }
            }
        }
    }
    if out.is_empty() {
        return "cpu: <unknown>/80%".into();
    }
    out.join(", ")
}

/// CLASS, HOSTS, ADDRESS and PORTS of an Ingress, as kubectl shows them.
pub(super) fn ingress_columns(i: &Ingress) -> [String; 4] {
    let class = i.spec.ingress_class_name.as_deref().unwrap_or("<none>");
    let address: Vec<&str> = i
        .status
        .iter()
        .flat_map(|s| &s.load_balancer.ingress)
        .filter_map(|a| a.ip.as_deref().or(a.hostname.as_deref()))
        .collect();
    let ports = if i.spec.tls.is_empty() {
        "80"
    } else {
        "80, 443"
    };
    [
        class.to_owned(),
        hosts(i.spec.rules.iter().filter_map(|r| r.host.as_ref())),
        address.join(","),
        ports.to_owned(),
    ]
}

/// Host names, as kubectl lists them: `*` for none, the first three and a count.
pub(super) fn hosts<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<&str> = names.map(String::as_str).collect();
    match names.len() {
        0 => "*".to_owned(),
        n if n > 3 => format!("{} + {} more...", names[..3].join(","), n - 3),
        _ => names.join(","),
    }
}

/// What `STATUS` shows for a pod: the first waiting or terminated reason, else the phase.
pub(super) fn pod_status(p: &crate::model::pod::Pod) -> String {
    let Some(s) = &p.status else {
        return "Pending".into();
    };
    for c in &s.container_statuses {
        let waiting = c.state.waiting.as_ref().and_then(|w| w.reason.clone());
        let ended = c.state.terminated.as_ref().and_then(|t| t.reason.clone());
        if let Some(reason) = waiting.or(ended).filter(|r| !r.is_empty()) {
            return reason;
        }
    }
    format!("{:?}", s.phase)
}

/// An age as Kubernetes prints it (`duration.HumanDuration`): `45s`, `2m30s`, `15m`,
/// `3h20m`, `20h`, `3d4h`, `45d`, `2y30d`.
pub fn age(secs: u64) -> String {
    let (m, h) = (secs / 60, secs / 3600);
    let (d, y) = (h / 24, h / 24 / 365);
    let two = |big: u64, unit: &str, small: u64, small_unit: &str| match small {
        0 => format!("{big}{unit}"),
        s => format!("{big}{unit}{s}{small_unit}"),
    };
    match secs {
        s if s < 120 => format!("{s}s"),
        s if m < 10 => two(m, "m", s % 60, "s"),
        _ if m < 180 => format!("{m}m"),
        _ if h < 8 => two(h, "h", m % 60, "m"),
        _ if h < 48 => format!("{h}h"),
        _ if h < 24 * 8 => two(d, "d", h % 24, "h"),
        _ if h < 24 * 365 * 2 => format!("{d}d"),
        _ if h < 24 * 365 * 8 => two(y, "y", d % 365, "d"),
        _ => format!("{y}y"),
    }
}
