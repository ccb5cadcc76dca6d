//! The hop between nodes' routers: TLS 1.3 with node certificates both ways. A request to
//! another node's router carries the node's DNS name as its URI host, so connections are
//! pooled per node and each is checked against that node's certificate; the book says at
//! which address each name is.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// Where each node's router is: its DNS name to its peer address.
#[derive(Debug, Default)]
pub struct PeerBook(RwLock<HashMap<String, SocketAddr>>);

impl PeerBook {
    /// Records that `host` is at `addr` (a write only when that changed).
    pub fn note(&self, host: &str, addr: SocketAddr) {
        let known = self
            .0
            .read()
            .map(|m| m.get(host) == Some(&addr))
            .unwrap_or(false);
        if !known && let Ok(mut m) = self.0.write() {
            m.insert(host.to_owned(), addr);
        }
    }

    fn get(&self, host: &str) -> Option<SocketAddr> {
        self.0.read().ok()?.get(host).copied()
    }
}

/// Dials a node's router by the name in the URI.
#[derive(Clone)]
pub struct PeerConnector {
    config: Arc<rustls::ClientConfig>,
    book: Arc<PeerBook>,
}

impl PeerConnector {
    pub fn new(config: Arc<rustls::ClientConfig>, book: Arc<PeerBook>) -> PeerConnector {
        PeerConnector { config, book }
    }
}

/// A TLS connection to a node's router.
pub struct PeerStream(TokioIo<TlsStream<TcpStream>>);

impl Connection for PeerStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for PeerStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for PeerStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl tower::Service<Uri> for PeerConnector {
    type Response = PeerStream;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<PeerStream, std::io::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let (config, book) = (self.config.clone(), self.book.clone());
        Box::pin(async move {
            let host = uri.host().unwrap_or_default().to_owned();
            let addr = book.get(&host).ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("no address known for the router of {host}"),
                )
            })?;
            let at = addr.to_string();
            let connect = skiff_pki::transport::connect(&at, &host, config);
            let stream = tokio::time::timeout(std::time::Duration::from_secs(1), connect)
                .await
                .map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("connecting to {host} at {addr}"),
                    )
                })??;
            Ok(PeerStream(TokioIo::new(stream)))
        })
    }
}
