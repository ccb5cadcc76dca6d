//! The artifact API on the in-process three-member cluster: an upload through one member
//! (over real gRPC, since uploads stream) is found, whole and verified, on every member.

use skiff_proto::grpc::api::artifact_service_client::ArtifactServiceClient;
use skiff_proto::grpc::api::artifact_service_server::{ArtifactService, ArtifactServiceServer};
use skiff_proto::grpc::api::*;
use tokio_stream::StreamExt;
use tonic::transport::Channel;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request};

use super::ArtifactApi;
use super::api_tests::retry;
use crate::store::blobs::sha256_hex;
use crate::store::runtime_tests::Cluster;

/// Serves member `id`'s artifact API on a loopback port; the server stops with the test.
async fn serve(c: &Cluster, id: u64) -> ArtifactServiceClient<Channel> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = ArtifactServiceServer::new(ArtifactApi {
        store: c.handle(id).unwrap(),
    });
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    ArtifactServiceClient::new(channel)
}

/// `len` bytes that do not repeat in chunk-sized runs.
fn component(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// An upload of `data` declared as `digest` and `size`, in 300 KiB messages.
fn messages(digest: &str, size: u64, data: &[u8]) -> Vec<UploadArtifactRequest> {
    data.chunks(300 << 10)
        .enumerate()
        .map(|(i, d)| UploadArtifactRequest {
            digest: if i == 0 { digest.into() } else { String::new() },
            size: if i == 0 { size } else { 0 },
            data: d.to_vec(),
        })
        .collect()
}

async fn upload(
    client: &mut ArtifactServiceClient<Channel>,
    digest: &str,
    size: u64,
    data: &[u8],
) -> Result<UploadArtifactResponse, tonic::Status> {
    retry(|| {
        let mut client = client.clone();
        let m = messages(digest, size, data);
        async move {
            client
                .upload(tokio_stream::iter(m))
                .await
                .map(|r| r.into_inner())
        }
    })
    .await
}

async fn fetch(api: &ArtifactApi, digest: &str) -> Result<Vec<u8>, tonic::Status> {
    let mut stream = retry(|| {
        api.fetch(Request::new(FetchArtifactRequest {
            digest: digest.into(),
        }))
    })
    .await?
    .into_inner();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend(chunk?.data);
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_through_one_member_is_on_every_member() {
    let c = Cluster::start(3);
    let leader = c.leader().await;
    let follower = c.ids().into_iter().find(|&id| id != leader).unwrap();
    let mut client = serve(&c, follower).await;

    let data = component((5 << 20) / 2);
    let digest = format!("sha256:{}", sha256_hex(&data));
    let size = data.len() as u64;
    let r = upload(&mut client, &digest, size, &data).await.unwrap();
    assert!(r.created);
    let info = r.artifact.unwrap();
    assert_eq!(
        (info.digest.as_str(), info.size, info.chunks),
        (digest.as_str(), size, 3)
    );
    let again = upload(&mut client, &digest, size, &data).await.unwrap();
    assert!(
        !again.created,
        "the store had it: nothing is sent through raft again"
    );

    for id in c.ids() {
        let api = ArtifactApi {
            store: c.handle(id).unwrap(),
        };
        let stat = retry(|| {
            api.stat(Request::new(StatArtifactRequest {
                digest: digest.clone(),
            }))
        })
        .await
        .unwrap()
        .into_inner();
        assert_eq!(stat, info, "member {id}");
        assert!(
            fetch(&api, &digest).await.unwrap() == data,
            "member {id} serves the same bytes"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_that_do_not_match_their_digest_or_size_store_nothing() {
    let c = Cluster::start(3);
    let leader = c.leader().await;
    let mut client = serve(&c, leader).await;
    let data = component(1 << 20 | 1000);
    let right = format!("sha256:{}", sha256_hex(&data));
    let wrong = format!("sha256:{}", sha256_hex(b"something else"));
    let size = data.len() as u64;

    let cases: Vec<(&str, String, u64, &[u8], &str)> = vec![
        ("wrong digest", wrong.clone(), size, &data, "have digest"),
        ("short", right.clone(), size + 1, &data, "ended after"),
        ("long", right.clone(), size - 1, &data, "more bytes than"),
        ("too big", right.clone(), 1 << 40, &data[..10], "at most"),
        (
            "bad digest",
            "sha256:XYZ".into(),
            size,
            &data,
            "64 lowercase hex",
        ),
        (
            "no prefix",
            sha256_hex(&data),
            size,
            &data,
            "must start with `sha256:`",
        ),
    ];
    for (what, digest, declared, bytes, says) in cases {
        let e = upload(&mut client, &digest, declared, bytes)
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{what}: {e:?}");
        assert!(e.message().contains(says), "{what}: {}", e.message());
    }
    let api = ArtifactApi {
        store: c.handle(leader).unwrap(),
    };
    for digest in [&right, &wrong] {
        let e = api
            .stat(Request::new(StatArtifactRequest {
                digest: digest.clone(),
            }))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::NotFound, "{e:?}");
        assert!(e.message().contains("skiff apply"), "{}", e.message());
        assert_eq!(
            fetch(&api, digest).await.unwrap_err().code(),
            Code::NotFound
        );
    }
    assert!(api.store.state().blobs().manifests().unwrap().is_empty());
}
