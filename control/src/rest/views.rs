//! Views: a stored kind served at a second group-version, converted as it goes out.
//!
//! Kubernetes serves Events twice: as `v1` Events (what Skiff stores and `kubectl
//! describe` lists) and as `events.k8s.io/v1` Events, the same objects with newer field
//! names (`regarding`, `note`, `reportingController`, `series`). Skiff serves the second
//! for reading (get, list, watch, tables), converting each object as Kubernetes'
//! conversion does. Writes go through `/api/v1`: the newer form has fields (`action`,
//! `related`) that Skiff's Event does not keep, and a write must not lose them.

use serde_json::{Map, Value, json};
use skiff_proto::Kind;

/// A kind served at a group-version other than its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Events as `events.k8s.io/v1`.
    EventsV1,
}

/// Every view.
pub const VIEWS: [View; 1] = [View::EventsV1];

/// What may be done through a view.
pub const VERBS: [&str; 3] = ["get", "list", "watch"];

impl View {
    pub fn group(self) -> &'static str {
        match self {
            View::EventsV1 => "events.k8s.io",
        }
    }

    pub fn version(self) -> &'static str {
        match self {
            View::EventsV1 => "v1",
        }
    }

    pub fn api_version(self) -> &'static str {
        match self {
            View::EventsV1 => "events.k8s.io/v1",
        }
    }

    /// The stored kind it shows.
    pub fn kind(self) -> Kind {
        match self {
            View::EventsV1 => Kind::Event,
        }
    }

    /// The view of `group`/`version` named `plural`, if there is one.
    pub fn find(group: &str, version: &str, plural: &str) -> Option<View> {
        VIEWS
            .into_iter()
            .find(|v| v.group() == group && v.version() == version && v.kind().resource() == plural)
    }

    /// One object (its stored kind's JSON) as the view shows it.
    pub fn convert(self, stored: &Value) -> Value {
        match self {
            View::EventsV1 => events_v1(stored),
        }
    }
}

/// `v` (an object of the view's kind) as `view` shows it; itself, not copied, without one.
pub fn shown(view: Option<View>, v: Value) -> Value {
    match view {
        Some(view) => view.convert(&v),
        None => v,
    }
}

/// `json` (an object of the view's kind) as `view` shows it; unchanged without a view.
pub fn present(view: Option<View>, json: Vec<u8>) -> Vec<u8> {
    let Some(view) = view else { return json };
    match serde_json::from_slice::<Value>(&json) {
        Ok(v) => view.convert(&v).to_string().into_bytes(),
        Err(_) => json,
    }
}

/// A `v1` Event as `events.k8s.io/v1` has it (Kubernetes' `Convert_core_Event_To_v1_Event`):
/// `involvedObject` is `regarding`, `message` is `note`, the source is the reporting
/// controller and instance, the first time is `eventTime`, and a repeated event has a
/// `series`. The old fields stay, as `deprecated*`.
fn events_v1(core: &Value) -> Value {
    let mut out = Map::new();
    let mut put = |k: &str, v: &Value| {
        if !v.is_null() {
            out.insert(k.to_owned(), v.clone());
        }
    };
    put("kind", &json!("Event"));
    put("apiVersion", &json!(View::EventsV1.api_version()));
    put("metadata", &core["metadata"]);
    put("eventTime", &micro_time(&core["firstTimestamp"]));
    if core["count"].as_i64().is_some_and(|n| n > 1) {
        let last = micro_time(&core["lastTimestamp"]);
        put(
            "series",
            &json!({"count": core["count"], "lastObservedTime": last}),
        );
    }
    put("reportingController", &core["source"]["component"]);
    put("reportingInstance", &core["source"]["host"]);
    put("reason", &core["reason"]);
    put("regarding", &core["involvedObject"]);
    put("note", &core["message"]);
    put("type", &core["type"]);
    put("deprecatedSource", &core["source"]);
    put("deprecatedFirstTimestamp", &core["firstTimestamp"]);
    put("deprecatedLastTimestamp", &core["lastTimestamp"]);
    put("deprecatedCount", &core["count"]);
    Value::Object(out)
}

/// A `Time` (`2026-12-07T10:00:00Z`) as a `MicroTime` (`2026-12-07T10:00:00.000000Z`).
fn micro_time(t: &Value) -> Value {
    match t.as_str() {
        Some(s) if !s.contains('.') => match s.strip_suffix('Z') {
            Some(base) => json!(format!("{base}.000000Z")),
            None => json!(s),
        },
        Some(s) => json!(s),
        None => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_core_event_reads_as_events_k8s_io() {
        let core = json!({
            "kind": "Event", "apiVersion": "v1",
            "metadata": {"name": "web.1", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
            "reason": "BackOff", "message": "restarting", "type": "Warning",
            "source": {"component": "skiff-node", "host": "n1"},
            "count": 3,
            "firstTimestamp": "2026-12-07T10:00:00Z",
            "lastTimestamp": "2026-12-07T10:05:00Z",
        });
        let v = View::EventsV1.convert(&core);
        assert_eq!(v["apiVersion"], "events.k8s.io/v1");
        assert_eq!(v["regarding"]["name"], "web");
        assert_eq!(v["note"], "restarting");
        assert_eq!(v["reportingController"], "skiff-node");
        assert_eq!(v["reportingInstance"], "n1");
        assert_eq!(v["eventTime"], "2026-12-07T10:00:00.000000Z");
        assert_eq!(v["series"]["count"], 3);
        assert_eq!(
            v["series"]["lastObservedTime"],
            "2026-12-07T10:05:00.000000Z"
        );
        assert_eq!(v["deprecatedCount"], 3);
        assert!(v.get("message").is_none() && v.get("involvedObject").is_none());
        // Seen once: no series.
        let once = View::EventsV1.convert(&json!({"count": 1, "metadata": {}}));
        assert!(once.get("series").is_none());
        assert_eq!(
            View::find("events.k8s.io", "v1", "events"),
            Some(View::EventsV1)
        );
        assert_eq!(View::find("events.k8s.io", "v2", "events"), None);
    }
}
