//! Events: records of notable changes to an object, kept as `Event` objects beside it (in
//! its namespace; `default` for cluster-scoped objects), as Kubernetes keeps them.
//!
//! A repeat of the same event (same object, reason and message) is not a new object: its
//! `count` goes up and `lastTimestamp` moves, as Kubernetes' event aggregation does. Events
//! expire an hour after they last happened ([`expire`], run by the leader).
//!
//! [`record`] returns the write instead of making it, so an event joins the transaction of
//! the change it describes: both happen, or neither.

use std::time::Duration;

use raft::StateRole;
use skiff_proto::model::event::{Event, EventSource, EventType};
use skiff_proto::model::meta::{ObjectMeta, ObjectReference};
use skiff_proto::model::values::Time;
use skiff_proto::{Kind, Object};
use tonic::Status;

use super::status;
use crate::store::blobs::sha256_hex;
use crate::store::{Command, Op, StateMachine, StoreHandle, key};

/// How long an event is kept after it last happened (Kubernetes' default, `--event-ttl`).
pub const EVENT_TTL: Duration = Duration::from_secs(3600);

/// The component the API server's own events name as their source.
pub const API_SERVER: &str = "skiff-apiserver";

/// What an event is about: the fields of the object it names.
#[derive(Debug, Clone)]
pub struct About {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    pub uid: Option<String>,
    pub resource_version: Option<u64>,
}

impl About {
    pub fn of(o: &Object) -> About {
        About::meta(o.kind(), o.metadata())
    }

    /// The object of `kind` with metadata `m`.
    pub fn meta(kind: Kind, m: &ObjectMeta) -> About {
        About {
            kind,
            namespace: m.namespace.clone(),
            name: m.name.clone(),
            uid: m.uid.clone(),
            resource_version: m.resource_version,
        }
    }
}

/// The message prefix of events combined from similar ones (as Kubernetes writes it).
pub const COMBINED: &str = "(combined from similar events): ";

/// Where an event about `about` lives, and its name: the object's name and a digest of
/// what happened, so a repeat finds the same event.
pub fn event_key(about: &About, reason: &str, message: &str) -> (String, String) {
    let ns = if about.kind.is_namespaced() {
        about.namespace.clone()
    } else {
        "default".to_owned()
    };
    // Combined events are one event whatever their latest message.
    let message = if message.starts_with(COMBINED) {
        COMBINED
    } else {
        message
    };
    let what = format!(
        "{}\n{}\n{reason}\n{message}",
        about.kind.name(),
        about.uid.as_deref().unwrap_or(&about.name)
    );
    let suffix = &sha256_hex(what.as_bytes())[..16];
    // Names are at most 253 characters: the object's name gives way to the suffix.
    let base: String = about.name.chars().take(253 - 17).collect();
    (ns, format!("{base}.{suffix}"))
}

/// The write that records `reason`/`message` about `about`, by the API server: a new
/// Event, or the count of the same one raised.
pub fn record(
    state: &StateMachine,
    about: &Object,
    type_: EventType,
    reason: &str,
    message: &str,
) -> Result<Op, Status> {
    let what = What {
        component: API_SERVER,
        type_,
        reason,
        message,
    };
    record_as(state, &About::of(about), &what, 1)
}

/// What happened, and who says so.
#[derive(Debug, Clone, Copy)]
pub struct What<'a> {
    /// The reporting component (`default-scheduler`, `replicaset-controller`, ...).
    pub component: &'a str,
    pub type_: EventType,
    pub reason: &'a str,
    pub message: &'a str,
}

/// The write that records `what` happened `n` times about `about`: a new Event, or the
/// count of the same one raised by `n`.
pub fn record_as(
    state: &StateMachine,
    about: &About,
    what: &What<'_>,
    n: i32,
) -> Result<Op, Status> {
    let (namespace, name) = event_key(about, what.reason, what.message);
    let now = Time::now();
    let k = key::make(Kind::Event, &namespace, &name);
    if let Some(s) = state.get(&k).map_err(status::store)?
        && let Object::Event(mut e) = s.object
    {
        e.count = Some(e.count.unwrap_or(1).saturating_add(n.max(1)));
        if e.message.as_deref() != Some(what.message) {
            e.message = Some(what.message.to_owned());
        }
        e.last_timestamp = Some(now);
        return Ok(Op::Update {
            object: Object::Event(e),
            expected: Some(s.revision),
        });
    }
    let event = Event {
        metadata: ObjectMeta {
            name,
            namespace,
            uid: Some(uuid::Uuid::new_v4().to_string()),
            creation_timestamp: Some(now),
            ..Default::default()
        },
        involved_object: ObjectReference {
            api_version: Some(about.kind.api_version().to_owned()),
            kind: about.kind.name().to_owned(),
            namespace: about.namespace.clone(),
            name: about.name.clone(),
            uid: about.uid.clone(),
            resource_version: about.resource_version,
            field_path: None,
        },
        reason: Some(what.reason.to_owned()),
        message: Some(what.message.to_owned()),
        type_: Some(what.type_),
        source: Some(EventSource {
            component: Some(what.component.to_owned()),
            host: None,
        }),
        count: Some(n.max(1)),
        first_timestamp: Some(now),
        last_timestamp: Some(now),
    };
    Ok(Op::Create(Object::Event(event)))
}

/// Deletes, every `every`, the events that last happened longer than `ttl` ago; only the
/// leader does (followers skip a round), so members do not race each other.
pub async fn expire(store: StoreHandle, ttl: Duration, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let leader = matches!(store.status().await, Ok(s) if s.role == StateRole::Leader);
        if !leader {
            continue;
        }
        let ops = match expired(store.state(), Time::now(), ttl) {
            Ok(ops) => ops,
            Err(e) => {
                tracing::warn!(error = %e, "listing events to expire");
                continue;
            }
        };
        // One transaction per batch keeps entries small; a lost race waits a round.
        for batch in ops.chunks(256) {
            let cmd = Command {
                ops: batch.to_vec(),
            };
            if let Err(e) = store.propose(cmd).await {
                tracing::debug!(error = %e, "expiring events");
            }
        }
    }
}

/// The deletions of every event last seen more than `ttl` before `now`.
pub fn expired(state: &StateMachine, now: Time, ttl: Duration) -> Result<Vec<Op>, crate::Error> {
    let (events, _) = state.list(Kind::Event, None, None)?;
    let cutoff = now.unix_seconds.saturating_sub(ttl.as_secs());
    Ok(events
        .into_iter()
        .filter(|s| match &s.object {
            Object::Event(e) => e
                .last_timestamp
                .or(e.metadata.creation_timestamp)
                .is_some_and(|t| t.unix_seconds < cutoff),
            _ => false,
        })
        .map(|s| Op::Delete {
            key: key::of(&s.object),
            expected: Some(s.revision),
        })
        .collect())
}
