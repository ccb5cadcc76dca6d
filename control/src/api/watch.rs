//! Watches: every change after a revision, in commit order, filtered as Kubernetes'
//! watch cache filters them. With a label or field selector, an object that starts
//! matching arrives as ADDED and one that stops matching as DELETED (with its new state),
//! so a client's cache of "what matches" stays exact: e.g. a node agent watching
//! `spec.nodeName=n1` sees a pod ADDED when it is bound there.

use std::collections::HashSet;
use std::sync::Arc;

use skiff_proto::Object;
use skiff_proto::grpc::api::{ObjectEnvelope, WatchEvent, WatchEventType};
use skiff_proto::model::LabelSelector;
use tokio::sync::{broadcast, mpsc};
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

/// One change as every watch shares it: decoded once, and encoded for the wire once.
pub struct Shared {
    pub event: Event,
    pub envelope: Result<ObjectEnvelope, Status>,
}

/// Every change with a revision in `(from, to]`, in order.
pub struct Batch {
    pub from: u64,
    pub to: u64,
    pub changes: Vec<Shared>,
}

/// How many batches a slow watch may fall behind before it reads the history itself.
const HUB_BACKLOG: usize = 1024;

/// The one reader of the history on a member: it follows what is applied and hands each
/// batch of changes to every watch, so 1,000 watches cost one read and one encoding per
/// change, not 1,000 (etcd's watchable store shares its reads the same way).
#[derive(Clone)]
pub struct Hub {
    tx: broadcast::Sender<Arc<Batch>>,
}

impl Hub {
    /// Starts following `store`; the reader stops with the store.
    pub fn start(store: StoreHandle) -> Hub {
        Self::with_backlog(store, HUB_BACKLOG)
    }

    /// [`Hub::start`] keeping at most `backlog` batches for a slow watch.
    pub fn with_backlog(store: StoreHandle, backlog: usize) -> Hub {
        let (tx, _) = broadcast::channel(backlog.max(1));
        tokio::spawn(read(store, tx.clone()));
        Hub { tx }
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<Batch>> {
        self.tx.subscribe()
    }
}

fn shared(event: Event) -> Shared {
    let envelope = envelope(&event.object, event.revision);
    Shared { event, envelope }
}

async fn read(store: StoreHandle, tx: broadcast::Sender<Arc<Batch>>) {
    let mut applied = store.applied_index();
    let mut last = *applied.borrow();
    loop {
        if applied.wait_for(|&a| a > last).await.is_err() {
            return;
        }
        let now = *applied.borrow();
        if tx.receiver_count() == 0 {
            // Nobody watches: a watch that starts reads its own way up to the present.
            last = now;
            continue;
        }
        match store.state().events_since(last) {
            Ok(events) => {
                let to = events.last().map_or(now, |e| e.revision.max(now));
                let changes = events.into_iter().map(shared).collect();
                let _ = tx.send(Arc::new(Batch {
                    from: last,
                    to,
                    changes,
                }));
                last = to;
            }
            Err(e) => {
                // Watches see the gap in the next batch and read for themselves.
                tracing::warn!(error = %e, "reading the history for watches");
                last = now;
            }
        }
    }
}

/// Sends what `filter` lets through of `changes` past `last`, moving `last` on; false
/// once the client has gone. `event` says what a change is; `envelope` makes what is sent
/// of it, only for a change the filter lets through.
async fn deliver<'a, T: 'a>(
    changes: impl Iterator<Item = &'a T>,
    event: impl Fn(&T) -> &Event,
    envelope: impl Fn(&T) -> Result<ObjectEnvelope, Status>,
    filter: &mut Filter,
    last: &mut u64,
    tx: &mpsc::Sender<Result<WatchEvent, Status>>,
) -> bool {
    // Every change of one revision (one transaction) passes, or none.
    let floor = *last;
    for c in changes {
        let e = event(c);
        if e.revision <= floor {
            continue;
        }
        *last = e.revision;
        let Some(t) = filter.classify(e) else {
            continue;
        };
        let ev = envelope(c).map(|object| WatchEvent {
            r#type: t as i32,
            object: Some(object),
            revision: e.revision,
        });
        if tx.send(ev).await.is_err() {
            return false;
        }
    }
    true
}

/// Sends every event after `since` that `filter` lets through, then follows new ones from
/// the hub, until the client goes away.
pub async fn follow(
    store: StoreHandle,
    hub: Hub,
    mut filter: Filter,
    since: u64,
    tx: mpsc::Sender<Result<WatchEvent, Status>>,
) {
    // Subscribed before reading, so no batch falls between the read and the first batch.
    let mut rx = hub.subscribe();
    let mut last = since;
    let mut caught_up = false;
    loop {
        if !caught_up {
            let events = match store.state().events_since(last) {
                Ok(e) => e,
                Err(e) => {
                    let _ = tx.send(Err(status::store(e))).await;
                    return;
                }
            };
            let at = events.last().map(|e| e.revision);
            let own = |e: &Event| envelope(&e.object, e.revision);
            if !deliver(events.iter(), |e| e, own, &mut filter, &mut last, &tx).await {
                return;
            }
            last = last.max(at.unwrap_or(last));
            caught_up = true;
        }
        let batch = tokio::select! {
            b = rx.recv() => b,
            _ = tx.closed() => return,
        };
        match batch {
            Ok(b) if b.to <= last => {}
            // A gap (the hub skipped, or fell behind): read it from the history.
            Ok(b) if b.from > last => caught_up = false,
            Ok(b) => {
                let changes = b.changes.iter();
                let envelope = |c: &Shared| c.envelope.clone();
                if !deliver(changes, |c| &c.event, envelope, &mut filter, &mut last, &tx).await {
                    return;
                }
                last = last.max(b.to);
            }
            Err(broadcast::error::RecvError::Lagged(_)) => caught_up = false,
            Err(broadcast::error::RecvError::Closed) => return,
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
