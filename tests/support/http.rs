//! An HTTP client for the routing tests: HTTP/1.1 with keep-alive and HTTP/2 (prior
//! knowledge), bodies with trailers, many requests at once; blocking calls over its own
//! runtime.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::{HeaderMap, Request};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub type Body = BoxBody<Bytes, Infallible>;

/// What came back.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub trailers: Option<HeaderMap>,
}

impl Reply {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub struct Http {
    rt: tokio::runtime::Runtime,
    h1: Client<HttpConnector, Body>,
}

pub fn body(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// A chunked body: `data`, then `trailers`.
pub fn with_trailers(data: impl Into<Bytes>, trailers: HeaderMap) -> Body {
    let frames: Vec<Result<Frame<Bytes>, Infallible>> =
        vec![Ok(Frame::data(data.into())), Ok(Frame::trailers(trailers))];
    StreamBody::new(tokio_stream::iter(frames)).boxed()
}

impl Default for Http {
    fn default() -> Self {
        Http::new()
    }
}

impl Http {
    pub fn new() -> Http {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let _guard = rt.enter();
        let h1 = Client::builder(TokioExecutor::new()).build_http();
        Http { rt, h1 }
    }

    async fn call(client: &Client<HttpConnector, Body>, req: Request<Body>) -> Reply {
        let resp = tokio::time::timeout(Duration::from_secs(30), client.request(req))
            .await
            .expect("an answer within 30 s")
            .expect("an HTTP answer");
        let (parts, body) = resp.into_parts();
        let collected = body.collect().await.expect("the whole body");
        let trailers = collected.trailers().cloned();
        Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: collected.to_bytes(),
            trailers,
        }
    }

    /// Sends `req` over HTTP/1.1 (keep-alive).
    pub fn send(&self, req: Request<Body>) -> Reply {
        self.rt.block_on(Self::call(&self.h1, req))
    }

    /// Sends `req` (whose URI names the host, `:authority`) over a new HTTP/2 connection
    /// (prior knowledge, cleartext) to `addr`.
    pub fn send_h2(&self, addr: &str, req: Request<Body>) -> Reply {
        self.rt.block_on(async {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (mut send, conn) = hyper::client::conn::http2::handshake(
                TokioExecutor::new(),
                hyper_util::rt::TokioIo::new(tcp),
            )
            .await
            .unwrap();
            tokio::spawn(conn);
            let resp = send.send_request(req).await.expect("an HTTP/2 answer");
            let (parts, body) = resp.into_parts();
            let collected = body.collect().await.expect("the whole body");
            Reply {
                status: parts.status.as_u16(),
                headers: parts.headers,
                trailers: collected.trailers().cloned(),
                body: collected.to_bytes(),
            }
        })
    }

    /// `GET http://ADDR/PATH` with Host `host`.
    pub fn get(&self, addr: &str, host: &str, path: &str) -> Reply {
        self.send(request("GET", addr, host, path, body(Bytes::new())))
    }

    /// `n` GETs, `at_once` in flight at a time: the values of header `name` in the answers.
    pub fn many(
        &self,
        addr: &str,
        host: &str,
        path: &str,
        n: usize,
        at_once: usize,
    ) -> Vec<String> {
        self.rt.block_on(async {
            let mut set = tokio::task::JoinSet::new();
            let per = n.div_ceil(at_once);
            for w in 0..at_once {
                let (client, addr, host, path) = (
                    self.h1.clone(),
                    addr.to_owned(),
                    host.to_owned(),
                    path.to_owned(),
                );
                let count = per.min(n.saturating_sub(w * per));
                set.spawn(async move {
                    let mut out = Vec::with_capacity(count);
                    for _ in 0..count {
                        let r = Self::call(
                            &client,
                            request("GET", &addr, &host, &path, body(Bytes::new())),
                        )
                        .await;
                        assert_eq!(r.status, 200, "{}", r.text());
                        out.push(r.header("x-echo-name").to_owned());
                    }
                    out
                });
            }
            let mut all = Vec::with_capacity(n);
            while let Some(r) = set.join_next().await {
                all.extend(r.unwrap());
            }
            all
        })
    }
}

/// A request to `addr` with Host `host`.
pub fn request(method: &str, addr: &str, host: &str, path: &str, b: Body) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header("host", host)
        .body(b)
        .unwrap()
}
