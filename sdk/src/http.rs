//! HTTP for functions: the request a handler gets and the response it gives are the
//! `http` crate's types over a [`Body`] of bytes (or, for what is sent, chunks streamed as
//! they are made); [`IntoResponse`] lets a handler return
//! a plain `String`, a status, or a `Result`; [`send`] makes an outgoing request (to a
//! Service by its in-cluster name, `http://backend.default.svc/`, or anywhere the pod may
//! reach).

use std::cell::{Cell, OnceCell};
use std::fmt;

pub use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};

/// The request a handler gets.
pub type Request = http::Request<Body>;
/// The response a handler gives.
pub type Response = http::Response<Body>;

/// A body: bytes in memory, or chunks read or made as they go ([`Body::stream`]).
///
/// What a handler is sent comes as a stream: [`Body::into_stream`] gives its chunks as
/// they arrive, so a large upload need not be held whole, while [`Body::as_bytes`] (and
/// `text`, `len`) reads the rest whole at first use, for a handler that wants it so.
#[derive(Default)]
pub struct Body {
    bytes: OnceCell<Vec<u8>>,
    /// Taken when the stream is read whole into `bytes`.
    chunks: Cell<Option<Chunks>>,
    /// Whether the body was made a stream (`chunks` cannot be looked at in place).
    stream: bool,
}

/// A streamed body's chunks, each sent as soon as it is made.
pub type Chunks = Box<dyn Iterator<Item = Vec<u8>>>;

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.bytes.get() {
            Some(b) => f.debug_tuple("Body").field(b).finish(),
            None if self.is_streamed() => f.write_str("Body(streamed)"),
            None => f.write_str("Body([])"),
        }
    }
}

/// Bodies in memory are equal when their bytes are; a body not yet read equals none.
impl PartialEq for Body {
    fn eq(&self, other: &Body) -> bool {
        !self.is_streamed() && !other.is_streamed() && self.as_bytes() == other.as_bytes()
    }
}

impl Body {
    /// No bytes.
    pub fn empty() -> Body {
        Body::default()
    }

    /// A body sent chunk by chunk as `chunks` makes them (chunked transfer, no
    /// `content-length`): large or slow answers need not be held in memory whole.
    pub fn stream(chunks: impl Iterator<Item = Vec<u8>> + 'static) -> Body {
        Body {
            bytes: OnceCell::new(),
            chunks: Cell::new(Some(Box::new(chunks))),
            stream: true,
        }
    }

    /// Whether the body is a stream not read yet.
    pub fn is_streamed(&self) -> bool {
        self.stream && self.bytes.get().is_none()
    }

    /// The bytes of a body in memory, or the chunks of a stream not read yet.
    pub fn into_stream(self) -> Result<Vec<u8>, Chunks> {
        if let Some(bytes) = self.bytes.into_inner() {
            return Ok(bytes);
        }
        match self.chunks.into_inner() {
            Some(c) => Err(c),
            None => Ok(Vec::new()),
        }
    }

    /// The body's chunks as they come: a stream's one by one (an upload is never held
    /// whole), or the bytes in memory as one chunk.
    pub fn chunks(self) -> Chunks {
        match self.into_stream() {
            Ok(bytes) if bytes.is_empty() => Box::new(std::iter::empty()),
            Ok(bytes) => Box::new(std::iter::once(bytes)),
            Err(chunks) => chunks,
        }
    }

    /// The bytes (a stream is read whole at the first call).
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes
            .get_or_init(|| self.chunks.take().map(concat).unwrap_or_default())
    }

    /// The bytes (a stream read whole).
    pub fn into_bytes(self) -> Vec<u8> {
        if let Some(bytes) = self.bytes.into_inner() {
            return bytes;
        }
        self.chunks.into_inner().map(concat).unwrap_or_default()
    }

    /// The body as UTF-8 text (a stream is read whole first).
    pub fn text(&self) -> Result<&str, std::str::Utf8Error> {
        std::str::from_utf8(self.as_bytes())
    }

    /// The number of bytes (a stream is read whole first).
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether there are no bytes; a stream not read yet is not known to be empty.
    pub fn is_empty(&self) -> bool {
        !self.is_streamed() && self.as_bytes().is_empty()
    }
}

/// Every chunk, one after the other.
fn concat(chunks: Chunks) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in chunks {
        out.extend_from_slice(&chunk);
    }
    out
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Body {
        Body {
            bytes: OnceCell::from(bytes),
            chunks: Cell::new(None),
            stream: false,
        }
    }
}

impl From<&[u8]> for Body {
    fn from(v: &[u8]) -> Body {
        Body::from(v.to_vec())
    }
}

impl From<String> for Body {
    fn from(s: String) -> Body {
        Body::from(s.into_bytes())
    }
}

impl From<&str> for Body {
    fn from(s: &str) -> Body {
        Body::from(s.as_bytes().to_vec())
    }
}

impl From<()> for Body {
    fn from((): ()) -> Body {
        Body::empty()
    }
}

/// What a handler may return.
pub trait IntoResponse {
    fn into_response(self) -> Response;
}

/// `status` with `text` as a UTF-8 plain-text body.
pub fn text(status: StatusCode, text: impl Into<String>) -> Response {
    let mut r = Response::new(Body::from(text.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        text(StatusCode::OK, self)
    }
}

impl IntoResponse for &str {
    fn into_response(self) -> Response {
        text(StatusCode::OK, self)
    }
}

impl IntoResponse for Vec<u8> {
    fn into_response(self) -> Response {
        Response::new(Body::from(self))
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = self;
        r
    }
}

impl<B: Into<Body>> IntoResponse for (StatusCode, B) {
    fn into_response(self) -> Response {
        let mut r = Response::new(self.1.into());
        *r.status_mut() = self.0;
        r
    }
}

/// An error answers 500 with its message.
impl<T: IntoResponse, E: fmt::Display> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(t) => t.into_response(),
            Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
        }
    }
}

/// Why an outgoing request got no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// Sends `req` (its URI absolute: `http://backend.default.svc/path`) and waits for the
/// response's head; its body streams in as it is read. Only inside a component.
pub fn send(req: Request) -> Result<Response, Error> {
    crate::rt::send(req)
}

/// `GET url`: the response. Only inside a component.
pub fn get(url: &str) -> Result<Response, Error> {
    let req = http::Request::get(url)
        .body(Body::empty())
        .map_err(|e| Error(format!("{url:?} is not a URL: {e}")))?;
    send(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streamed_body_gives_its_chunks_in_order() {
        let b = Body::stream(["a", "bc", ""].into_iter().map(|s| s.as_bytes().to_vec()));
        assert!(
            b.is_streamed() && !b.is_empty(),
            "a stream is not known to be empty"
        );
        assert_ne!(b, Body::empty(), "a stream equals no body");
        let chunks: Vec<Vec<u8>> = b.into_stream().expect_err("streamed").collect();
        assert_eq!(chunks, [b"a".to_vec(), b"bc".to_vec(), Vec::new()]);
        assert_eq!(Body::from("xyz").into_stream().ok(), Some(b"xyz".to_vec()));
    }

    #[test]
    fn a_stream_read_as_bytes_is_read_whole_once() {
        let b = Body::stream(["a", "bc"].into_iter().map(|s| s.as_bytes().to_vec()));
        assert_eq!(b.text(), Ok("abc"));
        assert!(!b.is_streamed(), "read now");
        assert_eq!((b.len(), b.as_bytes()), (3, &b"abc"[..]));
        assert_eq!(b, Body::from("abc"));
        assert_eq!(b.into_stream().ok(), Some(b"abc".to_vec()));
        let b = Body::stream(["x", "y"].into_iter().map(|s| s.as_bytes().to_vec()));
        assert_eq!(b.into_bytes(), b"xy");
        assert_eq!(
            Body::from("z").chunks().collect::<Vec<_>>(),
            [b"z".to_vec()]
        );
        assert_eq!(Body::empty().chunks().count(), 0);
    }

    #[test]
    fn strings_are_plain_text_and_errors_are_500s_with_their_message() {
        let r = "hi".into_response();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.body().text(), Ok("hi"));
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        let r = Err::<String, _>("the database is away").into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(r.body().text(), Ok("the database is away\n"));
        let r = (StatusCode::CREATED, vec![1u8, 2]).into_response();
        assert_eq!(
            (r.status(), r.body().as_bytes()),
            (StatusCode::CREATED, &[1u8, 2][..])
        );
        assert!(StatusCode::NO_CONTENT.into_response().body().is_empty());
    }
}
