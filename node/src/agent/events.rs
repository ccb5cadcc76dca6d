//! Events about pods, as the kubelet records them (`Pulled`, `Failed`, `BackOff`,
//! `Created`, `Started`, `Killing`, `Unhealthy`): Event objects in the pod's namespace,
//! written in the background so they never hold a pod up. A repeat of the same event is
//! the same object with its `count` raised and `lastTimestamp` moved.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use skiff_proto::model::event::{Event, EventSource, EventType};
use skiff_proto::model::meta::{ObjectMeta, ObjectReference};
use skiff_proto::model::pod::Pod;
use skiff_proto::model::values::Time;

use crate::cluster::PodApi;

/// The source the node's events name.
const COMPONENT: &str = "kubelet";

/// One pod's events, with their counts so far.
pub struct PodEvents {
    api: Arc<dyn PodApi>,
    about: ObjectReference,
    host: String,
    seen: Mutex<HashMap<String, (i32, Time)>>,
}

impl PodEvents {
    pub fn new(api: Arc<dyn PodApi>, pod: &Pod, host: &str) -> PodEvents {
        let m = &pod.metadata;
        PodEvents {
            api,
            about: ObjectReference {
                api_version: Some("v1".into()),
                kind: "Pod".into(),
                namespace: m.namespace.clone(),
                name: m.name.clone(),
                uid: m.uid.clone(),
                ..Default::default()
            },
            host: host.to_owned(),
            seen: Mutex::default(),
        }
    }

    pub fn normal(&self, reason: &str, message: impl Into<String>) {
        self.record(EventType::Normal, reason, message.into());
    }

    pub fn warning(&self, reason: &str, message: impl Into<String>) {
        self.record(EventType::Warning, reason, message.into());
    }

    fn record(&self, type_: EventType, reason: &str, message: String) {
        let digest = Sha256::digest(
            format!(
                "{}\n{reason}\n{message}",
                self.about.uid.as_deref().unwrap_or(&self.about.name)
            )
            .as_bytes(),
        );
        let name = format!(
            "{}.{}",
            self.about.name.chars().take(253 - 17).collect::<String>(),
            format!("{digest:x}").get(..16).unwrap_or_default()
        );
        let now = Time::now();
        let (count, first) = {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            let e = seen.entry(name.clone()).or_insert((0, now));
            e.0 = e.0.saturating_add(1);
            *e
        };
        let event = Event {
            metadata: ObjectMeta {
                name,
                namespace: self.about.namespace.clone(),
                ..Default::default()
            },
            involved_object: self.about.clone(),
            reason: Some(reason.to_owned()),
            message: Some(message),
            type_: Some(type_),
            source: Some(EventSource {
                component: Some(COMPONENT.into()),
                host: Some(self.host.clone()),
            }),
            count: Some(count),
            first_timestamp: Some(first),
            last_timestamp: Some(now),
        };
        let api = self.api.clone();
        tokio::spawn(async move {
            if let Err(e) = api.event(event).await {
                tracing::debug!(error = %e, "recording an event");
            }
        });
    }
}
