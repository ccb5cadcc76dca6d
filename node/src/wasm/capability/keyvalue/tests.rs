//! Both proposal versions' host functions over one [`MemoryStore`], as a guest calls
//! them (the real control-plane store is tested end to end by `tests/sdk.rs`).

use std::sync::Arc;

use skiff_proto::model::container::KeyValueGrant;
use wasmtime::component::ResourceTable;

use super::super::bindings::wasi::keyvalue0_2_0_draft as draft;
use super::super::bindings::wasi::keyvalue0_2_0_draft2 as draft2;
use super::super::{CapabilityCtx, CapabilityCtxView, Grants, KeyValueAccess};
use super::*;
use crate::wasm::output::Output;

fn ctx(buckets: &[&str]) -> CapabilityCtx {
    CapabilityCtx {
        grants: Arc::new(Grants {
            config: None,
            keyvalue: Some(KeyValueAccess {
                store: Arc::new(MemoryStore::default()),
                grant: KeyValueGrant {
                    buckets: buckets.iter().map(|b| (*b).to_owned()).collect(),
                },
            }),
        }),
        log: Output::stderr(),
    }
}

#[tokio::test]
async fn a_cas_handle_swaps_only_if_nobody_wrote_since_it_read() {
    use draft2::atomics::{CasError, Host as _, HostCas as _};
    use draft2::store::HostBucket as _;
    let ctx = ctx(&["b"]);
    let mut table = ResourceTable::new();
    let mut v = CapabilityCtxView {
        ctx: &ctx,
        table: &mut table,
    };
    let b = draft2::store::Host::open(&mut v, "b".into()).await.unwrap();
    let stale = v
        .new(Resource::new_borrow(b.rep()), "k".into())
        .await
        .unwrap();
    assert_eq!(
        v.current(Resource::new_borrow(stale.rep())).await.unwrap(),
        None
    );
    let first = v
        .new(Resource::new_borrow(b.rep()), "k".into())
        .await
        .unwrap();
    v.swap(first, b"one".to_vec()).await.unwrap().unwrap();
    // The stale handle loses and gets a fresh one, which sees "one" and wins.
    let fresh = match v.swap(stale, b"two".to_vec()).await.unwrap() {
        Err(CasError::CasFailed(fresh)) => fresh,
        _ => panic!("a stale swap must fail"),
    };
    let seen = v.current(Resource::new_borrow(fresh.rep())).await.unwrap();
    assert_eq!(seen.as_deref(), Some(&b"one"[..]));
    v.swap(fresh, b"two".to_vec()).await.unwrap().unwrap();
    let now = v
        .get(Resource::new_borrow(b.rep()), "k".into())
        .await
        .unwrap();
    assert_eq!(now.as_deref(), Some(&b"two"[..]));
    // Signed counters.
    let n = v
        .increment(Resource::new_borrow(b.rep()), "n".into(), -3)
        .await;
    assert_eq!(n.unwrap(), -3);
}

#[tokio::test]
async fn wasmclouds_draft_reads_the_same_buckets_with_unsigned_counters() {
    use draft::atomics::Host as _;
    use draft::store::HostBucket as _;
    let ctx = ctx(&[]);
    let mut table = ResourceTable::new();
    let mut v = CapabilityCtxView {
        ctx: &ctx,
        table: &mut table,
    };
    let b = draft::store::Host::open(&mut v, "any".into())
        .await
        .unwrap();
    let at = |b: &Resource<Bucket>| Resource::<Bucket>::new_borrow(b.rep());
    assert_eq!(v.increment(at(&b), "n".into(), 2).await.unwrap(), 2);
    let huge = v.increment(at(&b), "n".into(), u64::MAX).await.unwrap_err();
    assert!(
        format!("{huge:?}").contains("more than a counter holds"),
        "{huge:?}"
    );
    v.set(at(&b), "k".into(), b"v".to_vec()).await.unwrap();
    let got = draft::batch::Host::get_many(&mut v, at(&b), vec!["k".into(), "none".into()])
        .await
        .unwrap();
    assert_eq!(got, vec![Some(("k".into(), b"v".to_vec())), None]);
    let page = v.list_keys(at(&b), None).await.unwrap();
    assert_eq!(
        (page.keys, page.cursor),
        (vec!["k".into(), "n".into()], None)
    );
}

#[tokio::test]
async fn a_bucket_outside_the_grant_does_not_open() {
    let ctx = ctx(&["mine"]);
    let mut table = ResourceTable::new();
    let mut v = CapabilityCtxView {
        ctx: &ctx,
        table: &mut table,
    };
    let e = v.open("theirs".into()).unwrap_err();
    assert!(format!("{e:?}").contains("wasi.keyvalue.buckets"), "{e:?}");
    let e = v.open("Not A Label".into()).unwrap_err();
    assert!(format!("{e:?}").contains("not a valid name"), "{e:?}");
}
