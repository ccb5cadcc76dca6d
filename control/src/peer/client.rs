//! The sending side: one task per peer keeps a client stream open and writes batches of
//! whatever messages are queued, reconnecting with back-off when the peer is away. A full
//! queue drops messages (raft retries them), so a dead peer never stalls the loop.
//! Snapshots go on their own stream, in chunks, and their outcome is reported to raft.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use protobuf::Message as _;
use raft::prelude::{Message, MessageType};
use skiff_pki::Dialer;
use skiff_proto::grpc::raft::raft_transport_client::RaftTransportClient;
use skiff_proto::grpc::raft::{RaftBatch, SnapshotChunk};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use tonic::transport::Channel;

use super::AddressBook;
use crate::store::Transport;

/// Messages queued per peer before new ones are dropped.
const QUEUE: usize = 4096;
/// Messages per batch on the wire.
const BATCH: usize = 256;
/// Largest gRPC message between members: a batch of appends (raft caps each at 1 MiB).
pub const MAX_MESSAGE: usize = 64 << 20;
/// Snapshot bytes per chunk.
const CHUNK: usize = 1 << 20;
/// Marks the refusal a removed member gets from its former peers.
pub const REMOVED_MARK: &str = "removed from the cluster";

/// What the transport learned that raft must hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerEvent {
    /// A snapshot to `to` arrived (or failed to).
    Snapshot { to: u64, delivered: bool },
    /// `to` could not be reached.
    Unreachable(u64),
    /// A peer refused this member: it was removed from the cluster.
    Removed,
}

struct Peer {
    address: String,
    queue: mpsc::Sender<Message>,
}

pub struct GrpcTransport {
    me: u64,
    dialer: Dialer,
    peers: Mutex<HashMap<u64, Peer>>,
    events: mpsc::UnboundedSender<PeerEvent>,
}

impl GrpcTransport {
    /// A transport for member `me`; peers arrive through [`Transport::set_peers`]. The
    /// receiver yields what the store must be told.
    pub fn new(me: u64, dialer: Dialer) -> (Self, mpsc::UnboundedReceiver<PeerEvent>) {
        let (events, rx) = mpsc::unbounded_channel();
        let t = GrpcTransport {
            me,
            dialer,
            peers: Mutex::new(HashMap::new()),
            events,
        };
        (t, rx)
    }
}

impl Transport for GrpcTransport {
    fn send(&self, msgs: Vec<Message>) {
        let peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        for m in msgs {
            let Some(peer) = peers.get(&m.to) else {
                continue;
            };
            if m.get_msg_type() == MessageType::MsgSnapshot {
                let to = Target {
                    dialer: self.dialer.clone(),
                    address: peer.address.clone(),
                };
                tokio::spawn(send_snapshot(self.me, to, m, self.events.clone()));
            } else {
                let _ = peer.queue.try_send(m);
            }
        }
    }

    fn set_peers(&self, book: &AddressBook) {
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        // Dropping a peer's queue ends its task.
        peers.retain(|id, p| book.get(id) == Some(&p.address));
        for (&id, addr) in book {
            if id == self.me || peers.contains_key(&id) {
                continue;
            }
            let (tx, rx) = mpsc::channel(QUEUE);
            let target = Target {
                dialer: self.dialer.clone(),
                address: addr.clone(),
            };
            tokio::spawn(pump(self.me, id, target, rx, self.events.clone()));
            peers.insert(
                id,
                Peer {
                    address: addr.clone(),
                    queue: tx,
                },
            );
        }
    }
}

/// A peer's address and how to dial it (TLS with this member's certificate).
struct Target {
    dialer: Dialer,
    address: String,
}

impl Target {
    async fn client(&self) -> Result<RaftTransportClient<Channel>, tonic::transport::Error> {
        Ok(RaftTransportClient::new(
            self.dialer.member(&self.address).await?,
        ))
    }
}

/// Keeps one peer's stream going until the peer is dropped from the transport.
async fn pump(
    me: u64,
    to: u64,
    target: Target,
    mut queue: mpsc::Receiver<Message>,
    events: mpsc::UnboundedSender<PeerEvent>,
) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let mut client = match target.client().await {
            Ok(c) => c.max_encoding_message_size(MAX_MESSAGE),
            Err(e) => {
                tracing::debug!(peer = to, address = %target.address, error = %e, "raft peer unreachable");
                if queue.is_closed() {
                    return;
                }
                let _ = events.send(PeerEvent::Unreachable(to));
                // Drop what queued up meanwhile: raft resends what still matters.
                while queue.try_recv().is_ok() {}
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        backoff = Duration::from_millis(50);
        let (tx, rx) = mpsc::channel::<RaftBatch>(16);
        let call = tokio::spawn(async move { client.send(ReceiverStream::new(rx)).await });
        loop {
            let Some(first) = queue.recv().await else {
                return;
            };
            let mut messages = vec![first.write_to_bytes().unwrap_or_default()];
            while messages.len() < BATCH {
                match queue.try_recv() {
                    Ok(m) => messages.push(m.write_to_bytes().unwrap_or_default()),
                    Err(_) => break,
                }
            }
            if tx
                .send(RaftBatch {
                    from: me,
                    to,
                    messages,
                })
                .await
                .is_err()
            {
                break;
            }
        }
        if let Ok(Err(status)) = call.await
            && status.code() == Code::FailedPrecondition
            && status.message().contains(REMOVED_MARK)
        {
            tracing::warn!(peer = to, "{}", status.message());
            let _ = events.send(PeerEvent::Removed);
            return;
        }
    }
}

/// Streams one snapshot message to its member in chunks: the message (without its data)
/// in the first, the data spread over all of them.
async fn send_snapshot(
    me: u64,
    target: Target,
    mut msg: Message,
    events: mpsc::UnboundedSender<PeerEvent>,
) {
    let to = msg.to;
    let data = std::mem::take(&mut msg.mut_snapshot().data);
    let header = msg.write_to_bytes().unwrap_or_default();
    let total = data.len();
    let mut chunks = Vec::with_capacity(total / CHUNK + 1);
    let mut offset = 0;
    loop {
        let end = (offset + CHUNK).min(total);
        chunks.push(SnapshotChunk {
            from: me,
            to,
            message: if offset == 0 {
                header.clone()
            } else {
                Vec::new()
            },
            offset: offset as u64,
            data: data[offset..end].to_vec(),
            last: end == total,
        });
        if end == total {
            break;
        }
        offset = end;
    }
    let sent = async {
        let mut client = target
            .client()
            .await
            .ok()?
            .max_encoding_message_size(MAX_MESSAGE);
        client
            .install_snapshot(tokio_stream::iter(chunks))
            .await
            .ok()
    };
    // Generous: a second per chunk, at least a minute.
    let limit = Duration::from_secs(60 + (total / CHUNK) as u64);
    let delivered = matches!(tokio::time::timeout(limit, sent).await, Ok(Some(_)));
    tracing::info!(peer = to, bytes = total, delivered, "snapshot sent");
    let _ = events.send(PeerEvent::Snapshot { to, delivered });
}
