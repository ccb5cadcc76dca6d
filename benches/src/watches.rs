//! A REST watch followed the way a page follows it (list the first page, then watch from
//! its `resourceVersion`, over HTTP/2 and TLS as the admin), with nothing done with what
//! arrives but counting it: the API's side of a dashboard page, without the browser.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::task::JoinHandle;

/// A watch being followed; it stops when dropped.
pub struct Follower {
    task: JoinHandle<Result<u64>>,
}

impl Follower {
    /// Lists `collection` (`/api/v1/namespaces/default/configmaps`, say) with `limit`, then
    /// follows its watch on the member at `addr`; returns once the watch answered.
    pub async fn start(addr: &str, collection: &str, limit: usize) -> Result<Follower> {
        let config = crate::pki::admin_dialer()?.tls().client_config();
        let name = skiff_pki::identity::member_server_name();
        let tls = skiff_pki::transport::connect(addr, &name, config)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        let (mut send, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                .await
                .context("an HTTP/2 connection")?;
        tokio::spawn(conn);
        let get = |path: String| {
            hyper::Request::get(path)
                .header(hyper::header::ACCEPT, "application/json")
                .header(hyper::header::HOST, addr)
                .body(Empty::<Bytes>::new())
                .context("a request")
        };
        let list = send
            .send_request(get(format!("{collection}?limit={limit}"))?)
            .await?;
        if !list.status().is_success() {
            bail!("listing {collection}: HTTP {}", list.status());
        }
        let list: Value = serde_json::from_slice(&list.into_body().collect().await?.to_bytes())?;
        let rv = list["metadata"]["resourceVersion"]
            .as_str()
            .context("a list without a resourceVersion")?
            .to_owned();
        let watch = format!("{collection}?watch=1&allowWatchBookmarks=true&resourceVersion={rv}");
        let r = send.send_request(get(watch)?).await?;
        if !r.status().is_success() {
            bail!("watching {collection}: HTTP {}", r.status());
        }
        let mut body = r.into_body();
        let task = tokio::spawn(async move {
            let _conn = send;
            let mut bytes = 0u64;
            while let Some(frame) = body.frame().await {
                if let Some(data) = frame?.data_ref() {
                    bytes += data.len() as u64;
                }
            }
            Ok(bytes)
        });
        // Give the watch a moment to be registered with the hub.
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(Follower { task })
    }

    /// Whether the watch still runs (it ended or failed if not).
    pub fn running(&self) -> bool {
        !self.task.is_finished()
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.task.abort();
    }
}
