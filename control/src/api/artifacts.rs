//! ArtifactService: uploads become chunks and a seal in the replicated store (see
//! `store::blobs`); stat and fetch read this member's copy after a linearizable barrier,
//! so an artifact whose upload was acknowledged anywhere is found on every member.

use std::pin::Pin;

use sha2::{Digest, Sha256};
use skiff_proto::artifact::parse_digest;
use skiff_proto::grpc::api::artifact_service_server::ArtifactService;
use skiff_proto::grpc::api::{
    ArtifactChunk, ArtifactInfo, FetchArtifactRequest, StatArtifactRequest, UploadArtifactRequest,
    UploadArtifactResponse,
};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use super::status;
use crate::store::blobs::{CHUNK_BYTES, Manifest, hex, sha256_hex};
use crate::store::{Command, Op, StoreHandle};

/// The largest artifact the store takes: components are megabytes, not gigabytes.
pub const MAX_ARTIFACT_BYTES: u64 = 256 << 20;

/// Serves the artifact API of one member.
pub struct ArtifactApi {
    pub store: StoreHandle,
}

fn digest_hex(digest: &str) -> Result<String, Status> {
    parse_digest(digest)
        .map(str::to_owned)
        .map_err(|why| Status::invalid_argument(format!("artifact digest: {why}")))
}

fn info(m: &Manifest) -> ArtifactInfo {
    ArtifactInfo {
        digest: format!("sha256:{}", m.digest),
        size: m.size,
        chunks: m.chunks.len() as u32,
    }
}

impl ArtifactApi {
    /// The artifact `hex` as of every write acknowledged before this call.
    async fn manifest(&self, hex: &str) -> Result<Option<Manifest>, Status> {
        self.store.linearizable().await.map_err(status::write)?;
        self.store
            .state()
            .blobs()
            .manifest(hex)
            .map_err(status::store)
    }

    async fn found(&self, digest: &str) -> Result<Manifest, Status> {
        let hex = digest_hex(digest)?;
        self.manifest(&hex).await?.ok_or_else(|| {
            Status::not_found(format!(
                "artifact sha256:{hex} is not in the store; `skiff apply` uploads a Wasm pod's local component file"
            ))
        })
    }

    /// Proposes `op` and waits until this member has applied it.
    async fn write(&self, op: Op) -> Result<(), Status> {
        let rev = self
            .store
            .propose(Command { ops: vec![op] })
            .await
            .map_err(status::write)?;
        self.store.wait_applied(rev).await.map_err(status::write)?;
        Ok(())
    }
}

type ChunkStream = Pin<Box<dyn Stream<Item = Result<ArtifactChunk, Status>> + Send>>;

#[tonic::async_trait]
impl ArtifactService for ArtifactApi {
    async fn stat(
        &self,
        req: Request<StatArtifactRequest>,
    ) -> Result<Response<ArtifactInfo>, Status> {
        let m = self.found(&req.into_inner().digest).await?;
        Ok(Response::new(info(&m)))
    }

    async fn upload(
        &self,
        req: Request<Streaming<UploadArtifactRequest>>,
    ) -> Result<Response<UploadArtifactResponse>, Status> {
        let mut stream = req.into_inner();
        let first = stream
            .next()
            .await
            .ok_or_else(|| Status::invalid_argument("an upload needs at least one message"))??;
        let want = digest_hex(&first.digest)?;
        let declared = first.size;
        if declared > MAX_ARTIFACT_BYTES {
            return Err(Status::invalid_argument(format!(
                "artifact sha256:{want} is {declared} bytes; the store takes at most {MAX_ARTIFACT_BYTES} (256 MiB)"
            )));
        }
        if let Some(m) = self.manifest(&want).await? {
            return Ok(Response::new(UploadArtifactResponse {
                artifact: Some(info(&m)),
                created: false,
            }));
        }
        let mut hasher = Sha256::new();
        let mut chunks = Vec::new();
        let mut buffer = Vec::with_capacity(CHUNK_BYTES);
        let mut received = 0u64;
        let mut data = first.data;
        loop {
            received += data.len() as u64;
            if received > declared {
                return Err(Status::invalid_argument(format!(
                    "artifact sha256:{want}: more bytes than the declared size {declared}"
                )));
            }
            hasher.update(&data);
            let mut rest = &data[..];
            while !rest.is_empty() {
                let take = rest.len().min(CHUNK_BYTES - buffer.len());
                buffer.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
                if buffer.len() == CHUNK_BYTES {
                    let chunk = std::mem::replace(&mut buffer, Vec::with_capacity(CHUNK_BYTES));
                    chunks.push(sha256_hex(&chunk));
                    self.write(Op::PutChunk(chunk)).await?;
                }
            }
            match stream.next().await {
                Some(m) => data = m?.data,
                None => break,
            }
        }
        if received != declared {
            return Err(Status::invalid_argument(format!(
                "artifact sha256:{want}: the upload ended after {received} of {declared} bytes"
            )));
        }
        let actual = hex(&hasher.finalize());
        if actual != want {
            return Err(Status::invalid_argument(format!(
                "artifact sha256:{want}: the bytes sent have digest sha256:{actual}; did the file change while it was read?"
            )));
        }
        if !buffer.is_empty() || chunks.is_empty() {
            chunks.push(sha256_hex(&buffer));
            self.write(Op::PutChunk(buffer)).await?;
        }
        let manifest = Manifest {
            digest: want,
            size: declared,
            chunks,
        };
        self.write(Op::SealArtifact {
            digest: manifest.digest.clone(),
            size: manifest.size,
            chunks: manifest.chunks.clone(),
        })
        .await?;
        Ok(Response::new(UploadArtifactResponse {
            artifact: Some(info(&manifest)),
            created: true,
        }))
    }

    type FetchStream = ChunkStream;

    async fn fetch(
        &self,
        req: Request<FetchArtifactRequest>,
    ) -> Result<Response<ChunkStream>, Status> {
        let m = self.found(&req.into_inner().digest).await?;
        let blobs = self.store.state().blobs().clone();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            for c in m.chunks {
                let b = blobs.clone();
                let read = tokio::task::spawn_blocking(move || b.chunk(&c).map(|d| (c, d))).await;
                let item = match read {
                    Ok(Ok((_, Some(data)))) => Ok(ArtifactChunk { data }),
                    Ok(Ok((c, None))) => Err(Status::internal(format!(
                        "artifact sha256:{}: chunk {c} is missing on this member",
                        m.digest
                    ))),
                    Ok(Err(e)) => Err(status::store(e)),
                    Err(e) => Err(Status::internal(format!("reading a chunk: {e}"))),
                };
                let failed = item.is_err();
                if tx.send(item).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
