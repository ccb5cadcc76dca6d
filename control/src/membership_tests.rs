//! Growing a three-member store to five by joins, losing two, and removing members, on
//! the in-process cluster of `store::runtime_tests`.

use std::time::Duration;

use crate::membership::{self, ChangeError, Limits};
use crate::store::runtime_tests::{Cluster, create, names};

fn addr(id: u64) -> String {
    format!("127.0.0.1:{}", 7000 + id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grow_to_five_lose_two_and_remove_them() {
    let mut c = Cluster::start(3);
    let limits = Limits {
        change: Duration::from_secs(10),
        catch_up: Duration::from_secs(10),
    };
    let leader = c.handle(c.leader().await).unwrap();
    for i in 0..20 {
        leader.propose(create(&format!("early-{i}"))).await.unwrap();
    }
    // Only the leader runs joins; a follower says who leads.
    let follower = c.ids().into_iter().find(|&id| id != leader.id()).unwrap();
    let r = membership::join(&c.handle(follower).unwrap(), 4, &addr(4), &limits).await;
    assert!(
        matches!(r, Err(ChangeError::NotLeader(Some(l))) if l == leader.id()),
        "{r:?}"
    );

    for id in [4, 5] {
        c.run(id, &[]);
        let book = membership::join(&leader, id, &addr(id), &limits)
            .await
            .unwrap();
        assert_eq!(book.get(&id), Some(&addr(id)));
        // Joining again changes nothing.
        membership::join(&leader, id, &addr(id), &limits)
            .await
            .unwrap();
    }
    let s = leader.status().await.unwrap();
    assert_eq!(
        (s.conf.voters.len(), s.conf.learners.len()),
        (5, 0),
        "{:?}",
        s.conf
    );
    for (id, bad) in [
        (4, addr(9)),
        (9, addr(4)),
        (0, addr(9)),
        (9, "nowhere".into()),
    ] {
        let r = membership::join(&leader, id, &bad, &limits).await;
        assert!(
            matches!(r, Err(ChangeError::Invalid(_))),
            "{id} at {bad}: {r:?}"
        );
    }
    // The new members caught up by snapshot and apply new writes too.
    let rev = leader.propose(create("after-joins")).await.unwrap();
    for id in [4, 5] {
        let h = c.handle(id).unwrap();
        h.wait_applied(rev).await.unwrap();
        assert_eq!(names(&h).len(), 21, "member {id}");
        assert_eq!(h.state().members().unwrap().len(), 5);
    }

    // Five members survive losing two, the leader among them.
    let old = leader.id();
    let other = c.ids().into_iter().find(|&id| id != old).unwrap();
    c.kill(old).await;
    c.kill(other).await;
    let new = c.handle(c.leader().await).unwrap();
    new.propose(create("after-losing-two")).await.unwrap();

    // Remove both for good; their ids are never reused.
    for gone in [old, other] {
        let book = membership::remove(&new, gone, &limits).await.unwrap();
        assert!(!book.contains_key(&gone));
        assert!(new.state().is_removed(gone).unwrap());
        let r = membership::join(&new, gone, &addr(gone), &limits).await;
        assert!(matches!(r, Err(ChangeError::Invalid(_))), "{r:?}");
    }
    let s = new.status().await.unwrap();
    assert_eq!(s.conf.voters.len(), 3, "{:?}", s.conf);
    // Three voters left: a write still needs two of them.
    let rev = new.propose(create("three-left")).await.unwrap();
    for id in c.ids() {
        c.handle(id).unwrap().wait_applied(rev).await.unwrap();
    }
    let r = membership::remove(&new, 42, &limits).await;
    assert!(matches!(r, Err(ChangeError::Invalid(_))), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_the_leader_hands_leadership_over_first() {
    let c = Cluster::start(3);
    let limits = Limits::default();
    let old = c.leader().await;
    c.handle(old)
        .unwrap()
        .propose(create("before"))
        .await
        .unwrap();
    // Run by a follower: the member being removed cannot see the change through.
    let survivor = c.ids().into_iter().find(|&id| id != old).unwrap();
    let s = c.handle(survivor).unwrap();
    membership::remove(&s, old, &limits).await.unwrap();
    let st = s.status().await.unwrap();
    assert!(st.leader.is_some_and(|l| l != old), "{st:?}");
    s.propose(create("after")).await.unwrap();
}
