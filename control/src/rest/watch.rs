//! Watches (`?watch=1`): a chunked stream of one JSON event per line (`{"type": "ADDED",
//! "object": {...}}`), as Kubernetes sends them. Without a `resourceVersion` (or with `0`)
//! the stream starts with the current objects as ADDED events, then follows from the
//! revision they were read at. A revision too old for the history ends the stream with an
//! ERROR event holding a `410 Expired` Status, so clients list again. With a Table asked
//! for, each event's object is a one-row Table (the first one with its columns), as
//! `kubectl get -w` reads them. `timeoutSeconds` ends the stream.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::StreamExt;
use serde_json::{Value, json};
use skiff_pki::Identity;
use skiff_proto::grpc::api::object_service_server::ObjectService;
use skiff_proto::grpc::api::{
    ListRequest, ObjectEnvelope, ReadConsistency, WatchEventType, WatchRequest,
};
use skiff_proto::model::values::Time;
use tokio::sync::mpsc;
use tonic::Status;

use super::errors::{About, status_json};
use super::objects::{as_caller, decoded};
use super::paths::Objects;
use super::reply::Reply;
use super::tables::{self, Include};
use super::views::{View, shown};
use super::{Call, Rest};
use crate::api::ObjectApi;
use crate::auth::Guarded;

/// How long a watch runs when the client names no `timeoutSeconds` (Kubernetes picks
/// between 30 and 60 minutes).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(45 * 60);

/// How often a watch that allows bookmarks gets one.
const BOOKMARK_EVERY: Duration = Duration::from_secs(60);

/// The annotation of the bookmark that ends a watch-list's initial events.
const INITIAL_EVENTS_END: &str = "k8s.io/initial-events-end";

/// Events ready at once are sent as one chunk of at most about this many bytes.
const CHUNK: usize = 64 * 1024;

/// A busy watch (one whose last chunk went less than this long before its next event)
/// gathers events until this long after that chunk before it sends the next: at most
/// `1 / LINGER` chunks a second, each one TLS record and write, instead of one per raft
/// round. An event after a quiet spell goes out at once.
const LINGER: Duration = Duration::from_millis(5);

/// What one watch sends.
struct Stream {
    kind: skiff_proto::Kind,
    /// Objects are shown through this view (see `views`), when set.
    view: Option<View>,
    table: Option<Include>,
    /// Whether the table's column definitions were sent yet.
    headers_sent: bool,
    /// Event lines not sent yet (its allocation is reused once a chunk sent from it
    /// is dropped).
    buf: BytesMut,
    tx: mpsc::Sender<Result<Bytes, Infallible>>,
    /// When the last chunk was sent.
    sent: tokio::time::Instant,
}

impl Stream {
    /// Adds one event to the next chunk. An object stored as JSON and shown as it is
    /// goes in as its bytes, not parsed and written again.
    fn push(&mut self, type_: &str, e: &ObjectEnvelope) {
        let object = match self.table {
            None if self.view.is_none() => {
                self.buf.extend_from_slice(b"{\"type\":\"");
                self.buf.extend_from_slice(type_.as_bytes());
                self.buf.extend_from_slice(b"\",\"object\":");
                self.buf.extend_from_slice(&e.json);
                self.buf.extend_from_slice(b"}\n");
                return;
            }
            None => match serde_json::from_slice::<Value>(&e.json) {
                Ok(v) => shown(self.view, v),
                Err(_) => return,
            },
            Some(include) => {
                let Ok((o, v)) = decoded(e) else { return };
                let v = shown(self.view, v);
                let row = tables::row(&o, &v, include, Time::now());
                let t = tables::table(self.kind, vec![row], e.resource_version, !self.headers_sent);
                self.headers_sent = true;
                t
            }
        };
        self.push_line(&json!({"type": type_, "object": object}));
    }

    fn push_line(&mut self, event: &Value) {
        // Writing a Value into memory cannot fail.
        let _ = serde_json::to_writer((&mut self.buf).writer(), event);
        self.buf.put_u8(b'\n');
    }

    /// Whether the next chunk is full enough to send.
    fn full(&self) -> bool {
        self.buf.len() >= CHUNK
    }

    /// Sends the events added so far; `false` once the client is gone.
    async fn flush(&mut self) -> bool {
        if self.buf.is_empty() {
            return true;
        }
        let chunk = self.buf.split().freeze();
        self.sent = tokio::time::Instant::now();
        self.tx.send(Ok(chunk)).await.is_ok()
    }

    async fn line(&mut self, event: Value) -> bool {
        self.push_line(&event);
        self.flush().await
    }

    /// A BOOKMARK at `revision`; `initial_end` marks the end of a watch-list's initial
    /// events.
    async fn bookmark(&mut self, revision: u64, initial_end: bool) -> bool {
        let info = self.kind.info();
        let mut metadata = json!({"resourceVersion": revision.to_string()});
        if initial_end {
            metadata["annotations"] = json!({ INITIAL_EVENTS_END: "true" });
        }
        let api_version = self.view.map_or(info.api_version, View::api_version);
        let object = json!({"kind": info.name, "apiVersion": api_version, "metadata": metadata});
        self.line(json!({"type": "BOOKMARK", "object": object}))
            .await
    }

    /// Ends the stream with an ERROR event holding `s` as a Status.
    async fn error(&mut self, s: &Status) {
        let (_, status) = status_json(s, &About::default());
        self.line(json!({"type": "ERROR", "object": status})).await;
    }
}

/// Serves a watch of the objects `at`.
pub async fn serve(rest: &Rest, who: Identity, at: &Objects, call: &Call) -> Result<Reply, Status> {
    let bookmarks = call.flag("allowWatchBookmarks");
    let watch_list = call.flag("sendInitialEvents");
    if watch_list && !bookmarks {
        return Err(Status::invalid_argument(
            "sendInitialEvents=true needs allowWatchBookmarks=true: the end of the initial events is a bookmark",
        ));
    }
    let since = match call.query_str("resourceVersion") {
        None | Some("") | Some("0") => None,
        Some(v) => Some(v.parse::<u64>().map_err(|_| {
            Status::invalid_argument(format!("resourceVersion {v:?} is not a number"))
        })?),
    };
    // A watch-list reads the objects at a revision at least as new as the one named (a
    // linearizable read is), not history from it.
    let since = if watch_list { None } else { since };
    let timeout = call
        .query_str("timeoutSeconds")
        .and_then(|t| t.parse().ok())
        .map_or(DEFAULT_TIMEOUT, Duration::from_secs);
    let table =
        tables::wanted(&call.accept).then(|| Include::parse(call.query_str("includeObject")));
    let (tx, rx) = mpsc::channel(64);
    let mut stream = Stream {
        kind: at.kind,
        view: at.view,
        table,
        headers_sent: false,
        buf: BytesMut::new(),
        tx,
        sent: tokio::time::Instant::now() - LINGER,
    };
    let request = Watched {
        objects: rest.objects.clone(),
        who,
        kind: at.kind.name().into(),
        namespace: at.namespace.clone().unwrap_or_default(),
        labels: call.query_str("labelSelector").unwrap_or_default().into(),
        fields: call.query_str("fieldSelector").unwrap_or_default().into(),
        bookmarks,
        watch_list,
    };
    // Errors before the first event are the request's own (403, 400): answer with them.
    let start = request.start(since).await?;
    tokio::spawn(async move {
        let _ = tokio::time::timeout(timeout, request.follow(start, &mut stream)).await;
    });
    let body = axum::body::Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let mut r = Reply::new(body);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(r)
}

/// What a watch reads.
struct Watched {
    objects: Arc<Guarded<ObjectApi>>,
    who: Identity,
    kind: String,
    namespace: String,
    labels: String,
    fields: String,
    /// Periodic BOOKMARK events.
    bookmarks: bool,
    /// The initial events end with a bookmark.
    watch_list: bool,
}

/// Where a watch starts: the objects to send first (when none was named), and the
/// stream of changes after them.
struct Start {
    initial: Vec<ObjectEnvelope>,
    /// The revision the initial objects were read at (or the watch starts from).
    revision: u64,
    changes: <Guarded<ObjectApi> as ObjectService>::WatchStream,
}

impl Watched {
    async fn start(&self, since: Option<u64>) -> Result<Start, Status> {
        let (initial, from) = match since {
            Some(rv) => (Vec::new(), rv),
            None => {
                let r = ObjectService::list(
                    &*self.objects,
                    as_caller(
                        &self.who,
                        ListRequest {
                            kind: self.kind.clone(),
                            namespace: self.namespace.clone(),
                            label_selector: self.labels.clone(),
                            field_selector: self.fields.clone(),
                            consistency: ReadConsistency::Linearizable as i32,
                            ..Default::default()
                        },
                    ),
                )
                .await?
                .into_inner();
                (r.items, r.resource_version)
            }
        };
        let changes = ObjectService::watch(
            &*self.objects,
            as_caller(
                &self.who,
                WatchRequest {
                    kind: self.kind.clone(),
                    namespace: self.namespace.clone(),
                    label_selector: self.labels.clone(),
                    field_selector: self.fields.clone(),
                    since_revision: from,
                },
            ),
        )
        .await?
        .into_inner();
        Ok(Start {
            initial,
            revision: from,
            changes,
        })
    }

    async fn follow(&self, mut start: Start, out: &mut Stream) {
        for e in &start.initial {
            out.push("ADDED", e);
            if out.full() && !out.flush().await {
                return;
            }
        }
        if !out.flush().await {
            return;
        }
        let mut latest = start.revision;
        if self.watch_list && !out.bookmark(latest, true).await {
            return;
        }
        let mut ticks = tokio::time::interval(BOOKMARK_EVERY);
        ticks.tick().await;
        loop {
            let event = tokio::select! {
                e = start.changes.next() => e,
                _ = ticks.tick(), if self.bookmarks => {
                    if !out.bookmark(latest, false).await {
                        return;
                    }
                    continue;
                }
            };
            let Some(mut event) = event else { return };
            // This event and those ready behind it go as one chunk; on a busy watch, with
            // those that come until `LINGER` after the last chunk.
            let now = tokio::time::Instant::now();
            let gather_until = if now < out.sent + LINGER {
                out.sent + LINGER
            } else {
                now
            };
            loop {
                let e = match event {
                    Ok(e) => e,
                    Err(s) => {
                        out.flush().await;
                        return out.error(&s).await;
                    }
                };
                let type_ = match WatchEventType::try_from(e.r#type) {
                    Ok(WatchEventType::Added) => Some("ADDED"),
                    Ok(WatchEventType::Modified) => Some("MODIFIED"),
                    Ok(WatchEventType::Deleted) => Some("DELETED"),
                    _ => None,
                };
                if let (Some(type_), Some(o)) = (type_, &e.object) {
                    latest = latest.max(o.resource_version);
                    out.push(type_, o);
                }
                if out.full() {
                    break;
                }
                // A deadline passed already still takes an event that is ready.
                match tokio::time::timeout_at(gather_until, start.changes.next()).await {
                    Ok(Some(next)) => event = next,
                    Ok(None) => {
                        out.flush().await;
                        return;
                    }
                    Err(_) => break,
                }
            }
            if !out.flush().await {
                return;
            }
        }
    }
}
