//! TLS under tonic (and any hyper server). Servers accept through [`TlsIncoming`]: each
//! connection's handshake runs on its own task (a slow client holds up nobody) with a
//! deadline, and the connection carries a [`PeerInfo`] (address and verified identity)
//! that handlers read from the request's extensions. Clients dial with [`channel`], which
//! checks the server's certificate against a role's DNS name, whatever address it dials.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tonic::transport::{Channel, Endpoint, Uri};

use crate::identity::Identity;

/// A handshake not done in this long is dropped.
const HANDSHAKE_WITHIN: Duration = Duration::from_secs(10);
/// Handshaken connections waiting for the server to take them.
const BACKLOG: usize = 256;

/// Who is on the other end of a connection.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    pub remote: SocketAddr,
    /// From a verified client certificate; `None` when the server allowed a client
    /// without one.
    pub identity: Option<Identity>,
    /// When that certificate stops being valid.
    pub not_after: Option<std::time::SystemTime>,
}

/// The verified identity of a gRPC request's caller (from the [`PeerInfo`] the accept
/// loop put in its extensions), or `Unauthenticated`.
pub fn caller(ext: &tonic::Extensions) -> Result<&Identity, tonic::Status> {
    ext.get::<PeerInfo>()
        .and_then(|p| p.identity.as_ref())
        .ok_or_else(|| {
            tonic::Status::unauthenticated(
                "Unauthenticated: no client certificate from this cluster's CA was presented",
            )
        })
}

/// Kubernetes' wording for a refusal: `Forbidden: User "alice" cannot ...`.
pub fn forbidden(id: &Identity, what: &str) -> tonic::Status {
    tonic::Status::permission_denied(format!("Forbidden: User {:?} cannot {what}", id.user))
}

/// A server-side TLS connection.
pub struct TlsConn {
    stream: tokio_rustls::server::TlsStream<TcpStream>,
    peer: PeerInfo,
}

impl TlsConn {
    pub fn peer(&self) -> &PeerInfo {
        &self.peer
    }
}

impl tonic::transport::server::Connected for TlsConn {
    type ConnectInfo = PeerInfo;

    fn connect_info(&self) -> PeerInfo {
        self.peer.clone()
    }
}

impl AsyncRead for TlsConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Accepted, handshaken TLS connections from a listener, as a stream for
/// `serve_with_incoming`. The accept loop ends when the stream is dropped.
pub struct TlsIncoming {
    rx: mpsc::Receiver<io::Result<TlsConn>>,
    task: tokio::task::JoinHandle<()>,
}

impl TlsIncoming {
    pub fn new(listener: TcpListener, config: Arc<rustls::ServerConfig>) -> TlsIncoming {
        let (tx, rx) = mpsc::channel(BACKLOG);
        let acceptor = TlsAcceptor::from(config);
        let task = tokio::spawn(async move {
            loop {
                let (tcp, remote) = match listener.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors and the like: wait, do not spin.
                        tracing::warn!(error = %e, "accepting a connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_WITHIN, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let leaf = stream
                                .get_ref()
                                .1
                                .peer_certificates()
                                .and_then(|c| c.first());
                            let (identity, not_after) =
                                match leaf.and_then(|leaf| Identity::from_leaf(leaf).ok()) {
                                    Some((who, to)) => (Some(who), Some(to)),
                                    None => (None, None),
                                };
                            let peer = PeerInfo {
                                remote,
                                identity,
                                not_after,
                            };
                            let _ = tx.send(Ok(TlsConn { stream, peer })).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%remote, error = %e, "TLS handshake refused"),
                        Err(_) => tracing::debug!(%remote, "TLS handshake timed out"),
                    }
                });
            }
        });
        TlsIncoming { rx, task }
    }
}

impl Drop for TlsIncoming {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl tokio_stream::Stream for TlsIncoming {
    type Item = io::Result<TlsConn>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

/// A TLS connection to `addr` (`HOST:PORT`) whose certificate must name `server_name`.
pub async fn connect(
    addr: &str,
    server_name: &str,
    config: Arc<ClientConfig>,
) -> io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let name = ServerName::try_from(server_name.to_owned())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let tcp = TcpStream::connect(addr).await?;
    let _ = tcp.set_nodelay(true);
    TlsConnector::from(config).connect(name, tcp).await
}

/// A gRPC channel to `addr` over TLS, checking the server against `server_name`. With
/// `lazy`, nothing is dialled until the first call (and a broken connection is dialled
/// again on the next).
pub async fn channel(
    addr: &str,
    server_name: &str,
    config: Arc<ClientConfig>,
    connect_timeout: Duration,
    lazy: bool,
) -> Result<Channel, tonic::transport::Error> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))?
        .connect_timeout(connect_timeout)
        .tcp_nodelay(true);
    let name = server_name.to_owned();
    let connector = tower::service_fn(move |uri: Uri| {
        let config = config.clone();
        let name = name.clone();
        async move {
            let host = uri.host().unwrap_or_default().trim_matches(['[', ']']);
            let port = uri.port_u16().unwrap_or(443);
            let addr = if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            connect(&addr, &name, config).await.map(TokioIo::new)
        }
    });
    if lazy {
        Ok(endpoint.connect_with_connector_lazy(connector))
    } else {
        endpoint.connect_with_connector(connector).await
    }
}

/// How long dialling a peer may take.
const CONNECT_WITHIN: Duration = Duration::from_secs(3);

/// Dials Skiff's servers with this party's certificate, checking each server's role:
/// a member by the control plane's name, a node agent by its node's.
#[derive(Clone)]
pub struct Dialer {
    tls: crate::Tls,
}

impl std::fmt::Debug for Dialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dialer({})", self.tls.identity())
    }
}

impl Dialer {
    pub fn new(tls: crate::Tls) -> Dialer {
        Dialer { tls }
    }

    pub fn tls(&self) -> &crate::Tls {
        &self.tls
    }

    /// A channel to the member at `addr`, connected now.
    pub async fn member(&self, addr: &str) -> Result<Channel, tonic::transport::Error> {
        let name = crate::identity::member_server_name();
        channel(addr, &name, self.tls.client_config(), CONNECT_WITHIN, false).await
    }

    /// A channel to the member at `addr`, dialled on first use (and again after a
    /// failure).
    pub async fn member_lazy(&self, addr: &str) -> Result<Channel, tonic::transport::Error> {
        let name = crate::identity::member_server_name();
        channel(addr, &name, self.tls.client_config(), CONNECT_WITHIN, true).await
    }

    /// A channel to node `node`'s agent at `addr`, connected now.
    pub async fn node(&self, node: &str, addr: &str) -> Result<Channel, tonic::transport::Error> {
        let name = crate::identity::node_server_name(node);
        channel(addr, &name, self.tls.client_config(), CONNECT_WITHIN, false).await
    }
}

/// A channel to the member at `addr` with a client configuration of the caller's own
/// (e.g. [`crate::tls::anonymous_client`]), connected now.
pub async fn member_channel(
    addr: &str,
    config: Arc<ClientConfig>,
) -> Result<Channel, tonic::transport::Error> {
    channel(
        addr,
        &crate::identity::member_server_name(),
        config,
        CONNECT_WITHIN,
        false,
    )
    .await
}

#[cfg(test)]
#[path = "transport_tests.rs"]
mod tests;
