//! What client-go's `EventCorrelator` does before an event is written, so a controller
//! that creates ten thousand pods writes a handful of events about its ReplicaSet, not ten
//! thousand:
//! - **aggregation**: events that differ only in their message (same source, object, type
//!   and reason) are, after 10 distinct messages within 10 minutes, written as one event
//!   "(combined from similar events): <latest message>" whose count rises;
//! - **spam filter**: each source may write about each object in bursts of 25 events,
//!   refilled at one per 5 minutes; more are dropped.
//!
//! Both tables are bounded (4,096 keys, as client-go's LRU caches); when full, entries that
//! no longer affect anything (a refilled bucket, an expired window) go first, then all.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use skiff_proto::model::event::EventType;

use crate::api::{About, COMBINED};

/// Distinct messages before similar events are combined.
const MAX_SIMILAR: usize = 10;
/// How long similar events are counted together.
const SIMILAR_WINDOW: Duration = Duration::from_secs(600);
/// Events a source may write about one object at once.
const BURST: f64 = 25.0;
/// Tokens back per second (one per 5 minutes).
const REFILL: f64 = 1.0 / 300.0;
/// Keys kept in each table at most.
const MAX_KEYS: usize = 4096;

/// The source and the object an event is about.
type ObjectKey = (
    &'static str,
    skiff_proto::Kind,
    String,
    String,
    Option<String>,
);

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn refilled(&self, now: Instant) -> f64 {
        (self.tokens + now.saturating_duration_since(self.at).as_secs_f64() * REFILL).min(BURST)
    }
}

struct Similar {
    messages: HashSet<String>,
    since: Instant,
}

/// Decides, per event, whether to write it and with which message.
#[derive(Default)]
pub struct Correlator {
    buckets: HashMap<ObjectKey, Bucket>,
    /// Similar events, keyed by object, whether they are warnings, and reason.
    similar: HashMap<(ObjectKey, bool, String), Similar>,
}

impl Correlator {
    /// The message to write for this event at `now`, or `None` when it is filtered out.
    pub fn admit(
        &mut self,
        component: &'static str,
        about: &About,
        type_: EventType,
        reason: &str,
        message: String,
        now: Instant,
    ) -> Option<String> {
        let object: ObjectKey = (
            component,
            about.kind,
            about.namespace.clone(),
            about.name.clone(),
            about.uid.clone(),
        );
        let message = self.aggregate(object.clone(), type_, reason, message, now);
        self.take_token(object, now).then_some(message)
    }

    fn aggregate(
        &mut self,
        object: ObjectKey,
        type_: EventType,
        reason: &str,
        message: String,
        now: Instant,
    ) -> String {
        if self.similar.len() >= MAX_KEYS {
            self.similar
                .retain(|_, s| now.saturating_duration_since(s.since) < SIMILAR_WINDOW);
            if self.similar.len() >= MAX_KEYS {
                self.similar.clear();
            }
        }
        let s = self
            .similar
            .entry((object, type_ == EventType::Warning, reason.to_owned()))
            .or_insert_with(|| Similar {
                messages: HashSet::new(),
                since: now,
            });
        if now.saturating_duration_since(s.since) >= SIMILAR_WINDOW {
            s.messages.clear();
            s.since = now;
        }
        if s.messages.len() < MAX_SIMILAR {
            s.messages.insert(message.clone());
        }
        if s.messages.len() >= MAX_SIMILAR && !s.messages.contains(&message) {
            format!("{COMBINED}{message}")
        } else {
            message
        }
    }

    fn take_token(&mut self, object: ObjectKey, now: Instant) -> bool {
        if self.buckets.len() >= MAX_KEYS {
            // A bucket refilled to the brim is the same as no bucket.
            self.buckets.retain(|_, b| b.refilled(now) < BURST);
            if self.buckets.len() >= MAX_KEYS {
                self.buckets.clear();
            }
        }
        let b = self.buckets.entry(object).or_insert(Bucket {
            tokens: BURST,
            at: now,
        });
        b.tokens = b.refilled(now);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn about(name: &str) -> About {
        About {
            kind: skiff_proto::Kind::ReplicaSet,
            namespace: "ns".into(),
            name: name.into(),
            uid: Some(format!("uid-{name}")),
            resource_version: None,
        }
    }

    fn admit(c: &mut Correlator, name: &str, message: &str, now: Instant) -> Option<String> {
        let a = about(name);
        c.admit(
            "rs",
            &a,
            EventType::Normal,
            "SuccessfulCreate",
            message.into(),
            now,
        )
    }

    #[test]
    fn similar_events_are_combined_after_ten_messages() {
        let mut c = Correlator::default();
        let t = Instant::now();
        let out: Vec<String> = (0..12)
            .filter_map(|i| admit(&mut c, "a", &format!("Created pod: p{i}"), t))
            .collect();
        assert_eq!(out[9], "Created pod: p9");
        assert_eq!(out[10], format!("{COMBINED}Created pod: p10"));
        assert_eq!(out[11], format!("{COMBINED}Created pod: p11"));
        // A message seen before keeps its own event (its count rises).
        assert_eq!(
            admit(&mut c, "a", "Created pod: p3", t).unwrap(),
            "Created pod: p3"
        );
        // After the window, messages are counted afresh.
        let later = t + SIMILAR_WINDOW;
        assert_eq!(
            admit(&mut c, "a", "Created pod: q", later).unwrap(),
            "Created pod: q"
        );
    }

    #[test]
    fn a_source_writes_25_events_about_an_object_then_one_per_five_minutes() {
        let mut c = Correlator::default();
        let t = Instant::now();
        let written = (0..100)
            .filter(|i| admit(&mut c, "a", &format!("m{i}"), t).is_some())
            .count();
        assert_eq!(written, 25);
        // Another object has its own burst.
        assert!(admit(&mut c, "b", "m", t).is_some());
        assert!(admit(&mut c, "a", "m", t + Duration::from_secs(299)).is_none());
        assert!(admit(&mut c, "a", "m", t + Duration::from_secs(301)).is_some());
        assert!(admit(&mut c, "a", "m", t + Duration::from_secs(302)).is_none());
    }

    #[test]
    fn tables_stay_bounded() {
        let mut c = Correlator::default();
        let t = Instant::now();
        for i in 0..(MAX_KEYS * 2) {
            admit(&mut c, &format!("o{i}"), "m", t);
        }
        assert!(c.buckets.len() <= MAX_KEYS);
        assert!(c.similar.len() <= MAX_KEYS);
    }
}
