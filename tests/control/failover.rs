//! Writes that ride through a leader failover: a client with a 5 s deadline sees no
//! error, and a write sent again under its idempotency key is answered, not repeated.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use skiff_proto::grpc::api::CreateRequest;

use crate::assert_every_member_has;
use crate::support::{Members, client, config_map};

/// A create of ConfigMap `name` with a 5 s deadline, under `key` if given.
pub(crate) fn create_request(name: &str, key: Option<&str>) -> tonic::Request<CreateRequest> {
    let mut r = tonic::Request::new(CreateRequest {
        manifest: config_map(name),
        ..Default::default()
    });
    r.set_timeout(Duration::from_secs(5));
    if let Some(k) = key {
        r.metadata_mut()
            .insert("idempotency-key", k.parse().unwrap());
    }
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_failover_fails_no_write_of_a_client_with_a_5s_deadline() {
    let mut m = Members::start(3);
    let old = m.leader(1);
    let survivor = (1..=3).find(|&i| i != old).unwrap();
    let mut c = client(m.ports[survivor as usize - 1]).await;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            // One write every 5 ms, as the store bench's failover client does.
            let mut acked = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let name = format!("f-{i:05}");
                let r = c.create(create_request(&name, None)).await;
                if let Err(e) = r {
                    return Err(format!("{name}: {e}"));
                }
                acked.push(name);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Ok(acked)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    m.kill(old);
    let new = m.leader(survivor);
    assert_ne!(new, old);
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let acked = writer.await.unwrap().expect("no write failed");
    let live: Vec<u16> = (1..=3u64)
        .filter(|&i| i != old)
        .map(|i| m.ports[i as usize - 1])
        .collect();
    assert_every_member_has(&live, &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_sent_again_under_its_idempotency_key_is_answered_not_repeated() {
    let m = Members::start(3);
    let leader = m.leader(1);
    let follower = (1..=3).find(|&i| i != leader).unwrap();
    let mut c = client(m.ports[follower as usize - 1]).await;
    let first = c.create(create_request("once", Some("k-1"))).await.unwrap();
    let first = first.into_inner().object.unwrap();
    // The client did not hear the answer and sends the request again, elsewhere.
    let mut other = client(m.ports[leader as usize - 1]).await;
    let again = other.create(create_request("once", Some("k-1"))).await;
    let again = again
        .expect("answered as the first")
        .into_inner()
        .object
        .unwrap();
    assert_eq!(again.resource_version, first.resource_version);
    let fresh = c
        .create(create_request("once", Some("k-2")))
        .await
        .unwrap_err();
    assert_eq!(fresh.code(), tonic::Code::AlreadyExists, "{fresh:?}");
    let plain = c.create(create_request("once", None)).await.unwrap_err();
    assert_eq!(plain.code(), tonic::Code::AlreadyExists, "{plain:?}");
}
