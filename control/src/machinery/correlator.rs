//! What client-go's `EventCorrelator` does before an event is written, so a controller
//! that creates ten thousand pods writes a handful of events about its ReplicaSet, not ten
//! thousand:
//! - **aggregation**: events that differ only in their message (same source, object, type
//!   and reason) are, from the 10th distinct message with no gap of 10 minutes, written as
//!   one event "(combined from similar events): <latest message>" whose count rises;
//! - **spam filter**: each source may write about each object in bursts of 25 events,
//!   refilled at one per 5 minutes; more are dropped. Unlike client-go, Normal and Warning
//!   events have a bucket each, so a burst of routine events cannot silence a warning.
//!
//! Both tables are bounded (4,096 keys, as client-go's LRU caches); when one is full, the
//! quarter used longest ago goes.

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

/// Drops the quarter of `table` used longest ago (`at` gives an entry's last use).
fn evict<K: Clone + Eq + std::hash::Hash, V>(
    table: &mut HashMap<K, V>,
    at: impl Fn(&V) -> Instant,
) {
    let mut ages: Vec<(Instant, K)> = table.iter().map(|(k, v)| (at(v), k.clone())).collect();
    ages.sort_unstable_by_key(|(t, _)| *t);
    for (_, k) in ages.into_iter().take(MAX_KEYS / 4) {
        table.remove(&k);
    }
}

impl Bucket {
    fn refilled(&self, now: Instant) -> f64 {
        (self.tokens + now.saturating_duration_since(self.at).as_secs_f64() * REFILL).min(BURST)
    }
}

struct Similar {
    messages: HashSet<String>,
    last: Instant,
}

/// Decides, per event, whether to write it and with which message.
#[derive(Default)]
pub struct Correlator {
    buckets: HashMap<(ObjectKey, bool), Bucket>,
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
        let warning = type_ == EventType::Warning;
        let message = self.aggregate(object.clone(), warning, reason, message, now);
        self.take_token((object, warning), now).then_some(message)
    }

    fn aggregate(
        &mut self,
        object: ObjectKey,
        warning: bool,
        reason: &str,
        message: String,
        now: Instant,
    ) -> String {
        if self.similar.len() >= MAX_KEYS {
            evict(&mut self.similar, |s| s.last);
        }
        let s = self
            .similar
            .entry((object, warning, reason.to_owned()))
            .or_insert_with(|| Similar {
                messages: HashSet::new(),
                last: now,
            });
        // The window slides: it is the gap since the last similar event that counts.
        if now.saturating_duration_since(s.last) > SIMILAR_WINDOW {
            s.messages.clear();
        }
        s.last = now;
        s.messages.insert(message.clone());
        if s.messages.len() < MAX_SIMILAR {
            return message;
        }
        // As client-go does: one message out, so the set stays at its bound.
        if let Some(any) = s.messages.iter().next().cloned() {
            s.messages.remove(&any);
        }
        format!("{COMBINED}{message}")
    }

    fn take_token(&mut self, object: (ObjectKey, bool), now: Instant) -> bool {
        if self.buckets.len() >= MAX_KEYS {
            // A bucket refilled to the brim is the same as no bucket.
            self.buckets.retain(|_, b| b.refilled(now) < BURST);
            if self.buckets.len() >= MAX_KEYS {
                evict(&mut self.buckets, |b| b.at);
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
    fn similar_events_are_combined_from_the_tenth_message() {
        let mut c = Correlator::default();
        let t = Instant::now();
        let out: Vec<String> = (0..12)
            .filter_map(|i| admit(&mut c, "a", &format!("Created pod: p{i}"), t))
            .collect();
        assert_eq!(out[8], "Created pod: p8");
        assert_eq!(out[9], format!("{COMBINED}Created pod: p9"));
        assert_eq!(out[11], format!("{COMBINED}Created pod: p11"));
        // The window slides from the last similar event; after a gap, afresh.
        let later = t + SIMILAR_WINDOW + Duration::from_secs(1);
        assert_eq!(
            admit(&mut c, "a", "Created pod: q", later).unwrap(),
            "Created pod: q"
        );
    }

    #[test]
    fn warnings_have_their_own_burst() {
        let mut c = Correlator::default();
        let t = Instant::now();
        for i in 0..30 {
            admit(&mut c, "a", &format!("m{i}"), t);
        }
        let a = about("a");
        let warned = c.admit("rs", &a, EventType::Warning, "Failed", "why".into(), t);
        assert_eq!(warned.as_deref(), Some("why"));
    }

    #[test]
    fn a_full_table_forgets_the_least_recently_used_first() {
        let mut c = Correlator::default();
        let t = Instant::now();
        // A hot object spends its burst, then many others come.
        for i in 0..30 {
            admit(&mut c, "hot", &format!("m{i}"), t);
        }
        for i in 0..MAX_KEYS {
            admit(&mut c, "hot", "again", t + Duration::from_millis(i as u64));
            admit(
                &mut c,
                &format!("o{i}"),
                "m",
                t + Duration::from_millis(i as u64),
            );
        }
        assert!(c.buckets.len() <= MAX_KEYS);
        // Still remembered, still spent.
        assert!(admit(&mut c, "hot", "m", t + Duration::from_secs(5)).is_none());
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
