//! The sending side: one task per peer keeps a client stream open and writes batches of
//! whatever messages are queued, reconnecting with back-off when the peer is away. A full
//! queue drops messages (raft retries them), so a dead peer never stalls the loop.

use std::collections::HashMap;
use std::time::Duration;

use protobuf::Message as _;
use raft::prelude::Message;
use skiff_proto::grpc::raft::RaftBatch;
use skiff_proto::grpc::raft::raft_transport_client::RaftTransportClient;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::AddressBook;
use crate::store::Transport;

/// Messages queued per peer before new ones are dropped.
const QUEUE: usize = 4096;
/// Messages per batch on the wire.
const BATCH: usize = 256;
/// Snapshots travel inside messages for now; allow them to be large.
pub const MAX_MESSAGE: usize = 256 << 20;

pub struct GrpcTransport {
    peers: HashMap<u64, mpsc::Sender<Message>>,
}

impl GrpcTransport {
    /// Starts a sender task for every member of `book` other than `me`.
    pub fn new(me: u64, book: &AddressBook) -> Self {
        let peers = book
            .iter()
            .filter(|(id, _)| **id != me)
            .map(|(&id, addr)| {
                let (tx, rx) = mpsc::channel(QUEUE);
                tokio::spawn(pump(me, id, format!("http://{addr}"), rx));
                (id, tx)
            })
            .collect();
        GrpcTransport { peers }
    }
}

impl Transport for GrpcTransport {
    fn send(&self, msgs: Vec<Message>) {
        for m in msgs {
            if let Some(q) = self.peers.get(&m.to) {
                let _ = q.try_send(m);
            }
        }
    }
}

/// Keeps one peer's stream going until the transport is dropped.
async fn pump(me: u64, to: u64, url: String, mut queue: mpsc::Receiver<Message>) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let mut client = match RaftTransportClient::connect(url.clone()).await {
            Ok(c) => c.max_encoding_message_size(MAX_MESSAGE),
            Err(e) => {
                tracing::debug!(peer = to, %url, error = %e, "raft peer unreachable");
                if queue.is_closed() {
                    return;
                }
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
        let _ = call.await;
    }
}
