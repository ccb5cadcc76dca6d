//! HTTP for functions: the request a handler gets and the response it gives are the
//! `http` crate's types over a [`Body`] of bytes; [`IntoResponse`] lets a handler return
//! a plain `String`, a status, or a `Result`; [`send`] makes an outgoing request (to a
//! Service by its in-cluster name, `http://backend.default.svc/`, or anywhere the pod may
//! reach).

use std::fmt;

pub use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};

/// The request a handler gets.
pub type Request = http::Request<Body>;
/// The response a handler gives.
pub type Response = http::Response<Body>;

/// A whole body, in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Body(Vec<u8>);

impl Body {
    /// No bytes.
    pub fn empty() -> Body {
        Body(Vec::new())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// The body as UTF-8 text.
    pub fn text(&self) -> Result<&str, std::str::Utf8Error> {
        std::str::from_utf8(&self.0)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Body {
        Body(v)
    }
}

impl From<&[u8]> for Body {
    fn from(v: &[u8]) -> Body {
        Body(v.to_vec())
    }
}

impl From<String> for Body {
    fn from(s: String) -> Body {
        Body(s.into_bytes())
    }
}

impl From<&str> for Body {
    fn from(s: &str) -> Body {
        Body(s.as_bytes().to_vec())
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
/// whole response. Only inside a component.
pub fn send(req: Request) -> Result<Response, Error> {
    crate::rt::send(req)
}

/// `GET url`: the whole response. Only inside a component.
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
