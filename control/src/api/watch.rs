//! Watches: every change after a revision, in commit order, filtered as Kubernetes'
//! watch cache filters them. With a label or field selector, an object that starts
//! matching arrives as ADDED and one that stops matching as DELETED (with its new state),
//! so a client's cache of "what matches" stays exact: e.g. a node agent watching
//! `spec.nodeName=n1` sees a pod ADDED when it is bound there.

use std::collections::HashSet;

use skiff_proto::Object;
use skiff_proto::grpc::api::{WatchEvent, WatchEventType};
use skiff_proto::model::LabelSelector;
use tokio::sync::mpsc;
use tonic::Status;

use super::fields::FieldSelector;
use super::objects::envelope;
use super::status;
use crate::store::{Event, EventType, StoreHandle};

/// What one watch asked for, and what it has told its client matches.
pub struct Filter {
    /// Keys in `[start, end)`: a kind, perhaps within one namespace.
    pub start: String,
    pub end: String,
    pub labels: Option<LabelSelector>,
    pub fields: FieldSelector,
    /// Keys the client was told match (only kept when a selector is given).
    matching: HashSet<String>,
    /// Up to this revision the client's view is not known exactly (it listed somewhere
    /// before): an object that does not match is reported DELETED in case it had it.
    unsure_until: u64,
}

impl Filter {
    pub fn new(
        start: String,
        end: String,
        labels: Option<LabelSelector>,
        fields: FieldSelector,
    ) -> Self {
        Filter {
            start,
            end,
            labels,
            fields,
            matching: HashSet::new(),
            unsure_until: 0,
        }
    }

    pub fn selects(&self) -> bool {
        self.labels.is_some() || !self.fields.is_empty()
    }

    fn matches(&self, o: &Object) -> bool {
        self.labels
            .as_ref()
            .is_none_or(|s| s.matches(&o.metadata().labels))
            && self.fields.matches(o)
    }

    /// Starts from what matches now (at revision `now`); events up to `now` are unsure.
    pub fn seed(&mut self, current: impl IntoIterator<Item = (String, Object)>, now: u64) {
        if !self.selects() {
            return;
        }
        self.unsure_until = now;
        self.matching = current
            .into_iter()
            .filter(|(_, o)| self.matches(o))
            .map(|(k, _)| k)
            .collect();
    }

    /// What the client is told of `e`, if anything.
    pub fn classify(&mut self, e: &Event) -> Option<WatchEventType> {
        if e.key < self.start || e.key >= self.end {
            return None;
        }
        let now = self.matches(&e.object);
        if !self.selects() {
            return Some(match e.kind {
                EventType::Added => WatchEventType::Added,
                EventType::Modified => WatchEventType::Modified,
                EventType::Deleted => WatchEventType::Deleted,
            });
        }
        let unsure = e.revision <= self.unsure_until;
        let had = self.matching.contains(&e.key) || unsure;
        match e.kind {
            EventType::Deleted => {
                self.matching.remove(&e.key);
                (had || now).then_some(WatchEventType::Deleted)
            }
            EventType::Added | EventType::Modified if now => {
                let known = !self.matching.insert(e.key.clone());
                Some(if e.kind == EventType::Modified && (known || unsure) {
                    WatchEventType::Modified
                } else {
                    WatchEventType::Added
                })
            }
            EventType::Added | EventType::Modified => {
                self.matching.remove(&e.key);
                (had && e.kind == EventType::Modified).then_some(WatchEventType::Deleted)
            }
        }
    }
}

/// Sends every event after `since` that `filter` lets through, then follows new ones,
/// until the client goes away.
pub async fn follow(
    store: StoreHandle,
    mut filter: Filter,
    since: u64,
    tx: mpsc::Sender<Result<WatchEvent, Status>>,
) {
    let mut last = since;
    let mut applied = store.applied_index();
    loop {
        let events = match store.state().events_since(last) {
            Ok(e) => e,
            Err(e) => {
                let _ = tx.send(Err(status::store(e))).await;
                return;
            }
        };
        for e in events {
            last = e.revision;
            let Some(t) = filter.classify(&e) else {
                continue;
            };
            let ev = envelope(&e.object, e.revision).map(|object| WatchEvent {
                r#type: t as i32,
                object: Some(object),
                revision: e.revision,
            });
            if tx.send(ev).await.is_err() {
                return;
            }
        }
        // Sleep until something new is applied (or the watcher goes away).
        tokio::select! {
            changed = applied.wait_for(|&a| a > last) => if changed.is_err() { return },
            _ = tx.closed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use skiff_proto::manifest::{Source, decode_one};

    use super::*;
    use crate::store::key;

    fn pod(name: &str, node: &str, app: &str) -> Object {
        let node = if node.is_empty() {
            String::new()
        } else {
            format!("  nodeName: {node}\n")
        };
        let text = format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: default, labels: {{app: {app}}}}}\nspec:\n{node}  containers: [{{name: c, image: registry.example/a:v1}}]\n"
        );
        decode_one(&text, &Source::named("test")).unwrap()
    }

    fn event(revision: u64, kind: EventType, o: Object) -> Event {
        Event {
            revision,
            kind,
            key: key::of(&o),
            object: o,
        }
    }

    fn on_node(node: &str) -> Filter {
        let (start, end) = key::range(skiff_proto::Kind::Pod, None);
        let fields =
            FieldSelector::parse(&format!("spec.nodeName={node}"), skiff_proto::Kind::Pod).unwrap();
        Filter::new(start, end, None, fields)
    }

    #[test]
    fn objects_entering_and_leaving_a_selection_are_added_and_deleted() {
        let mut f = on_node("n1");
        f.seed([], 10);
        use EventType::*;
        use WatchEventType as W;
        let steps = [
            (event(11, Added, pod("a", "", "web")), None),
            (event(12, Modified, pod("a", "n1", "web")), Some(W::Added)),
            (event(13, Modified, pod("a", "n1", "db")), Some(W::Modified)),
            (event(14, Modified, pod("a", "n2", "db")), Some(W::Deleted)),
            (event(15, Modified, pod("a", "n2", "web")), None),
            (event(16, Deleted, pod("a", "n2", "web")), None),
            (event(17, Added, pod("b", "n1", "web")), Some(W::Added)),
            (event(18, Deleted, pod("b", "n1", "web")), Some(W::Deleted)),
        ];
        for (e, want) in steps {
            assert_eq!(f.classify(&e), want, "revision {}", e.revision);
        }
    }

    #[test]
    fn before_the_seed_a_client_may_hold_anything() {
        // The client listed at revision 5; the watch began when 8 was applied.
        let mut f = on_node("n1");
        f.seed(
            [(key::of(&pod("c", "n1", "one")), pod("c", "n1", "one"))],
            8,
        );
        use EventType::*;
        use WatchEventType as W;
        // `a` moved away after the client's list: it may have it, so it hears DELETED.
        assert_eq!(
            f.classify(&event(6, Modified, pod("a", "n2", "one"))),
            Some(W::Deleted)
        );
        assert_eq!(
            f.classify(&event(7, Modified, pod("c", "n1", "one"))),
            Some(W::Modified)
        );
        assert_eq!(
            f.classify(&event(9, Modified, pod("c", "n1", "two"))),
            Some(W::Modified)
        );
        assert_eq!(
            f.classify(&event(10, Modified, pod("a", "n2", "two"))),
            None
        );
        // Without a selector every event passes as it is.
        let (start, end) = key::range(skiff_proto::Kind::Pod, None);
        let mut all = Filter::new(start, end, None, FieldSelector::default());
        all.seed([], 8);
        assert_eq!(
            all.classify(&event(9, Modified, pod("a", "n2", "two"))),
            Some(W::Modified)
        );
    }
}
