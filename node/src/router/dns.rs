//! The pods' resolver, on the pod network's gateway: a Service's name
//! (`NAME.NAMESPACE.svc.cluster.local`, and the shorter forms the pods' search path makes
//! of `NAME` and `NAME.NAMESPACE`) resolves to the gateway, where the router takes the call
//! as it takes a Wasm guest's in-cluster call. Names outside the cluster are not
//! answered (`NXDOMAIN`): pods reach Services, not the internet, through the node.

use std::net::Ipv4Addr;
use std::sync::Arc;

use simple_dns::rdata::{A, RData};
use simple_dns::{CLASS, Name, Packet, PacketFlag, QTYPE, RCODE, ResourceRecord, TYPE};
use tokio::net::UdpSocket;

use super::Router;

/// Answers how long a pod may keep an answer (the router's table changes; the gateway
/// does not).
const TTL: u32 = 30;

/// Serves DNS on `socket` until the task is dropped; Service names resolve to `gateway`.
pub async fn serve(router: Arc<Router>, socket: UdpSocket, gateway: Ipv4Addr) {
    let mut buf = vec![0u8; 1500];
    loop {
        let (n, peer) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "reading a DNS query");
                continue;
            }
        };
        let Some(query) = buf.get(..n) else { continue };
        if let Some(reply) = answer(&router, query, gateway)
            && let Err(e) = socket.send_to(&reply, peer).await
        {
            tracing::debug!(error = %e, %peer, "sending a DNS answer");
        }
    }
}

/// Whether `name` (lower case, no trailing dot) is a Service the router knows.
fn is_service(router: &Router, name: &str) -> bool {
    let full = name.ends_with(".svc") || name.ends_with(".svc.cluster.local");
    full && router.table().service(name, None, "").is_some()
}

/// The answer to the query in `bytes` (`None`: not a query worth answering).
pub fn answer(router: &Router, bytes: &[u8], gateway: Ipv4Addr) -> Option<Vec<u8>> {
    let query = Packet::parse(bytes).ok()?;
    if query.has_flags(PacketFlag::RESPONSE) {
        return None;
    }
    let mut reply = Packet::new_reply(query.id());
    reply.set_flags(PacketFlag::RECURSION_DESIRED | PacketFlag::AUTHORITATIVE_ANSWER);
    let mut known = false;
    for q in &query.questions {
        reply.questions.push(q.clone());
        let name = q
            .qname
            .to_string()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        if !is_service(router, &name) {
            continue;
        }
        known = true;
        if matches!(q.qtype, QTYPE::TYPE(TYPE::A) | QTYPE::ANY) {
            reply.answers.push(ResourceRecord::new(
                Name::new_unchecked(&name).into_owned(),
                CLASS::IN,
                TTL,
                RData::A(A {
                    address: u32::from(gateway),
                }),
            ));
        }
    }
    if !known {
        *reply.rcode_mut() = RCODE::NameError;
    }
    reply.build_bytes_vec().ok()
}
