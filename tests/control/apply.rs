//! Server-side apply through members that may lag: an apply plans from the member's own
//! copy and retries from a linearizable read when the store refuses the write (the copy
//! was behind) or when the plan says "unchanged", so every apply's answer holds for the
//! latest write whichever member took the one before.

use skiff_proto::grpc::api::object_service_client::ObjectServiceClient;
use skiff_proto::grpc::api::{ApplyOutcome, ApplyRequest, GetRequest};
use tonic::transport::Channel;

use super::{key, support};
use support::{Members, client};

fn config(name: &str, value: &str) -> Vec<u8> {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: \"{value}\"\n")
        .into_bytes()
}

/// Three members with a leader, and a client of each.
async fn three_members() -> (Members, Vec<ObjectServiceClient<Channel>>) {
    let m = Members::start(3);
    m.leader(1);
    let mut clients = Vec::new();
    for port in &m.ports {
        clients.push(client(*port).await);
    }
    (m, clients)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applies_through_alternating_members_see_every_earlier_write() {
    let (_m, mut clients) = three_members().await;
    let mut last = 0;
    const ROUNDS: usize = 100;
    for round in 0..ROUNDS {
        // Member a writes `old` then `new`; at once member b sets `old` back and member c
        // writes `old` again, each perhaps before it applied what came before.
        let (a, b, c) = (round % 3, (round + 1) % 3, (round + 2) % 3);
        let (new, old) = (format!("r{round}"), format!("r{round}-old"));
        let apply = |i: usize, value: &str| {
            let mut c = clients[i].clone();
            let manifest = config("lag", value);
            async move {
                c.apply(ApplyRequest {
                    manifest,
                    ..Default::default()
                })
                .await
                .unwrap_or_else(|e| panic!("apply through member {}: {e}", i + 1))
                .into_inner()
            }
        };
        let first = apply(a, &old).await;
        let second = apply(a, &new).await;
        // Member b may still hold `old`: unchanged must not be answered from that copy.
        let back = apply(b, &old).await;
        assert_eq!(
            back.outcome,
            ApplyOutcome::Configured as i32,
            "round {round}: setting {old} back after {new} changes the object"
        );
        // Member c may still hold anything before: the same value again is unchanged.
        let same = apply(c, &old).await;
        assert_eq!(
            same.outcome,
            ApplyOutcome::Unchanged as i32,
            "round {round}: {old} again"
        );
        let revisions = [&first, &second, &back, &same]
            .map(|r| r.object.as_ref().map_or(0, |o| o.resource_version));
        assert!(
            revisions[0] > last,
            "round {round}: {revisions:?} after {last}"
        );
        assert!(
            revisions[0] < revisions[1] && revisions[1] < revisions[2],
            "round {round}: {revisions:?}"
        );
        assert_eq!(revisions[2], revisions[3], "round {round}");
        last = revisions[3];
    }
    let got = clients[0]
        .get(GetRequest {
            key: key("lag"),
            consistency: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .object
        .unwrap();
    assert_eq!(got.resource_version, last);
    assert!(
        String::from_utf8_lossy(&got.json).contains(&format!("r{}-old", ROUNDS - 1)),
        "{}",
        String::from_utf8_lossy(&got.json)
    );
}

/// Field ownership read from a copy that lags: a conflict found there is confirmed from a
/// linearizable read before it is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_seen_on_a_lagging_copy_is_confirmed_first() {
    let (_m, clients) = three_members().await;
    for round in 0..150usize {
        let name = format!("owned-{round}");
        let (a, b) = (round % 3, (round + 1) % 3);
        let apply = |i: usize, manager: &str, value: &str, force: bool| {
            let mut c = clients[i].clone();
            let (manifest, manager) = (config(&name, value), manager.to_owned());
            async move {
                c.apply(ApplyRequest {
                    manifest,
                    field_manager: manager.clone(),
                    force,
                    ..Default::default()
                })
                .await
                .map(|r| r.into_inner())
                .map_err(|e| format!("{manager} through member {}: {e}", i + 1))
            }
        };
        apply(a, "one", "1", false).await.unwrap();
        // `two` takes the field from `one`...
        apply(a, "two", "2", true).await.unwrap();
        // ... so `two` may change it without force, wherever it applies.
        let r = apply(b, "two", "3", false)
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(r.outcome, ApplyOutcome::Configured as i32, "round {round}");
        let json = r.object.map(|o| o.json).unwrap_or_default();
        assert!(
            String::from_utf8_lossy(&json).contains("\"3\""),
            "round {round}: {}",
            String::from_utf8_lossy(&json)
        );
    }
}
