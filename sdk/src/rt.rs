//! What the generated code calls (hidden from the docs): serving one incoming request
//! with a handler, a minimal executor for `async` handlers, and outgoing requests, over
//! the WASI 0.2 `wasi:http` bindings of the `wasip2` crate.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

pub use wasip2;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingBody, IncomingRequest, IncomingResponse, Method as WasiMethod,
    OutgoingBody, OutgoingRequest, OutgoingResponse, ResponseOutparam, Scheme,
};
use wasip2::io::streams::{InputStream, OutputStream, StreamError};

use crate::http::{Body, Error, Request, Response, StatusCode, text};

/// Answers `request` with what `handler` makes of it. A request that cannot be read is
/// answered 400, a response that cannot be sent 500, each saying why.
pub fn serve(
    request: IncomingRequest,
    out: ResponseOutparam,
    handler: impl FnOnce(Request) -> Response,
) {
    let response = match read_request(request) {
        Ok(req) => handler(req),
        Err(why) => text(StatusCode::BAD_REQUEST, format!("{why}\n")),
    };
    if let Err((why, out)) = respond(response, out) {
        let fallback = text(StatusCode::INTERNAL_SERVER_ERROR, format!("{why}\n"));
        if let Err((also, out)) = respond(fallback, out) {
            ResponseOutparam::set(
                out,
                Err(ErrorCode::InternalError(Some(format!(
                    "{why}; then {also}"
                )))),
            );
        }
    }
}

/// Runs `f` to completion. The SDK's own calls finish before they return, so a handler's
/// future is ready at its first poll unless it awaits something else that is pending.
pub fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

fn method_of(m: WasiMethod) -> Result<http::Method, String> {
    Ok(match m {
        WasiMethod::Get => http::Method::GET,
        WasiMethod::Head => http::Method::HEAD,
        WasiMethod::Post => http::Method::POST,
        WasiMethod::Put => http::Method::PUT,
        WasiMethod::Delete => http::Method::DELETE,
        WasiMethod::Connect => http::Method::CONNECT,
        WasiMethod::Options => http::Method::OPTIONS,
        WasiMethod::Trace => http::Method::TRACE,
        WasiMethod::Patch => http::Method::PATCH,
        WasiMethod::Other(o) => {
            http::Method::from_bytes(o.as_bytes()).map_err(|e| format!("method {o:?}: {e}"))?
        }
    })
}

fn wasi_method(m: &http::Method) -> WasiMethod {
    match *m {
        http::Method::GET => WasiMethod::Get,
        http::Method::HEAD => WasiMethod::Head,
        http::Method::POST => WasiMethod::Post,
        http::Method::PUT => WasiMethod::Put,
        http::Method::DELETE => WasiMethod::Delete,
        http::Method::CONNECT => WasiMethod::Connect,
        http::Method::OPTIONS => WasiMethod::Options,
        http::Method::TRACE => WasiMethod::Trace,
        http::Method::PATCH => WasiMethod::Patch,
        ref o => WasiMethod::Other(o.as_str().to_owned()),
    }
}

/// The request's URI from what `wasi:http` gives apart.
pub(crate) fn uri_of(
    scheme: Option<&str>,
    authority: Option<&str>,
    path_with_query: Option<&str>,
) -> Result<http::Uri, String> {
    let path = path_with_query.filter(|p| !p.is_empty()).unwrap_or("/");
    let text = match authority {
        Some(a) => format!("{}://{a}{path}", scheme.unwrap_or("http")),
        None => path.to_owned(),
    };
    text.parse()
        .map_err(|e| format!("the request target {text:?}: {e}"))
}

fn header_map(fields: &Fields) -> Result<http::HeaderMap, String> {
    let mut map = http::HeaderMap::new();
    for (name, value) in fields.entries() {
        let n = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| format!("header {name:?}: {e}"))?;
        let v = http::HeaderValue::from_bytes(&value).map_err(|e| format!("header {name}: {e}"))?;
        map.append(n, v);
    }
    Ok(map)
}

fn fields_of(map: &http::HeaderMap) -> Result<Fields, String> {
    let list: Vec<(String, Vec<u8>)> = map
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
        .collect();
    Fields::from_list(&list).map_err(|e| format!("response headers: {e:?}"))
}

/// An incoming body's chunks, read as they are asked for. At the end (or on an error,
/// which goes to the pod's log and ends the body) the stream is dropped and the body
/// finished, in the order WASI wants.
struct Incoming {
    /// A child of `body`: dropped first (fields drop in order).
    stream: Option<InputStream>,
    body: Option<IncomingBody>,
    what: &'static str,
}

impl Incoming {
    fn new(body: IncomingBody, what: &'static str) -> Result<Incoming, String> {
        let stream = body
            .stream()
            .map_err(|()| format!("the {what} body stream was already taken"))?;
        Ok(Incoming {
            stream: Some(stream),
            body: Some(body),
            what,
        })
    }

    fn finish(&mut self) {
        self.stream = None;
        if let Some(body) = self.body.take() {
            drop(IncomingBody::finish(body));
        }
    }
}

impl Iterator for Incoming {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        let stream = self.stream.as_ref()?;
        loop {
            match stream.blocking_read(64 << 10) {
                Ok(chunk) if chunk.is_empty() => continue,
                Ok(chunk) => return Some(chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    eprintln!(
                        "skiff-sdk: reading the {} body: {}",
                        self.what,
                        e.to_debug_string()
                    );
                    break;
                }
            }
        }
        self.finish();
        None
    }
}

fn write_all(stream: &OutputStream, bytes: &[u8]) -> Result<(), String> {
    // One call writes at most 4096 bytes.
    for chunk in bytes.chunks(4096) {
        stream
            .blocking_write_and_flush(chunk)
            .map_err(|e| format!("writing the body: {e:?}"))?;
    }
    Ok(())
}

/// Writes `body`: its bytes, or each chunk as it is made.
fn write_body(stream: &OutputStream, body: crate::http::Body) -> Result<(), String> {
    match body.into_stream() {
        Ok(bytes) => write_all(stream, &bytes),
        Err(chunks) => {
            for chunk in chunks {
                write_all(stream, &chunk)?;
            }
            Ok(())
        }
    }
}

fn read_request(request: IncomingRequest) -> Result<Request, String> {
    let scheme = request.scheme().map(|s| match s {
        Scheme::Http => "http".to_owned(),
        Scheme::Https => "https".to_owned(),
        Scheme::Other(o) => o,
    });
    let uri = uri_of(
        scheme.as_deref(),
        request.authority().as_deref(),
        request.path_with_query().as_deref(),
    )?;
    let mut req = http::Request::new(Body::empty());
    *req.method_mut() = method_of(request.method())?;
    *req.uri_mut() = uri;
    *req.headers_mut() = header_map(&request.headers())?;
    // A request with neither a length nor a transfer coding has no body (RFC 9112 6.3):
    // nothing to wait for.
    let headers = req.headers();
    let empty = headers
        .get(http::header::CONTENT_LENGTH)
        .is_none_or(|l| l == "0")
        && !headers.contains_key(http::header::TRANSFER_ENCODING);
    if empty {
        return Ok(req);
    }
    let body = request
        .consume()
        .map_err(|()| "the request body was already taken".to_owned())?;
    *req.body_mut() = Body::stream(Incoming::new(body, "request")?);
    Ok(req)
}

/// Sends `response` on `out`; on failure before the head is sent, `out` comes back.
fn respond(response: Response, out: ResponseOutparam) -> Result<(), (String, ResponseOutparam)> {
    let (mut parts, body) = response.into_parts();
    // A whole body's length goes ahead of it; a streamed one is sent chunked.
    if !body.is_streamed() && !parts.headers.contains_key(http::header::CONTENT_LENGTH) {
        parts.headers.insert(
            http::header::CONTENT_LENGTH,
            http::HeaderValue::from(body.len()),
        );
    }
    let head = match fields_of(&parts.headers) {
        Ok(f) => OutgoingResponse::new(f),
        Err(e) => return Err((e, out)),
    };
    if head.set_status_code(parts.status.as_u16()).is_err() {
        return Err((
            format!("{} is not a status code", parts.status.as_u16()),
            out,
        ));
    }
    let Ok(outgoing) = head.body() else {
        return Err(("the response body was already taken".into(), out));
    };
    ResponseOutparam::set(out, Ok(head));
    // The head is sent: a failure now only cuts the body short.
    let written = outgoing
        .write()
        .map_err(|()| "the response body stream was already taken".to_owned())
        .and_then(|stream| write_body(&stream, body));
    if let Err(e) = written {
        eprintln!("skiff-sdk: {e}");
    }
    let _ = OutgoingBody::finish(outgoing, None);
    Ok(())
}

/// An outgoing request through `wasi:http/outgoing-handler`; the response's body streams.
pub fn send(req: Request) -> Result<Response, Error> {
    let (parts, body) = req.into_parts();
    let uri = &parts.uri;
    let authority = uri.authority().ok_or_else(|| {
        Error(format!(
            "{uri} has no host: write the whole URL, e.g. http://backend.default.svc/"
        ))
    })?;
    let headers = fields_of(&parts.headers).map_err(Error)?;
    let out = OutgoingRequest::new(headers);
    let _ = out.set_method(&wasi_method(&parts.method));
    let scheme = match uri.scheme_str() {
        Some("https") => Scheme::Https,
        _ => Scheme::Http,
    };
    let _ = out.set_scheme(Some(&scheme));
    out.set_authority(Some(authority.as_str()))
        .map_err(|()| Error(format!("{authority} is not a host")))?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    out.set_path_with_query(Some(path))
        .map_err(|()| Error(format!("{path} is not a path")))?;
    let outgoing = out
        .body()
        .map_err(|()| Error("the request body was already taken".into()))?;
    let pending = wasip2::http::outgoing_handler::handle(out, None)
        .map_err(|e| Error(format!("sending to {uri}: {e:?}")))?;
    {
        let stream = outgoing
            .write()
            .map_err(|()| Error("the request body stream was already taken".into()))?;
        write_body(&stream, body).map_err(Error)?;
    }
    OutgoingBody::finish(outgoing, None).map_err(|e| Error(format!("sending the body: {e:?}")))?;
    pending.subscribe().block();
    let answer: IncomingResponse = match pending.get() {
        Some(Ok(Ok(r))) => r,
        Some(Ok(Err(e))) => return Err(Error(format!("{} {uri}: {e:?}", parts.method))),
        Some(Err(())) | None => return Err(Error(format!("{} {uri}: no response", parts.method))),
    };
    let mut r = http::Response::new(Body::empty());
    *r.status_mut() = StatusCode::from_u16(answer.status())
        .map_err(|e| Error(format!("{uri} answered status {}: {e}", answer.status())))?;
    *r.headers_mut() = header_map(&answer.headers()).map_err(Error)?;
    let body = answer
        .consume()
        .map_err(|()| Error("the response body was already taken".into()))?;
    *r.body_mut() = Body::stream(Incoming::new(body, "response").map_err(Error)?);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_uri_is_put_together_from_its_parts() {
        let u = uri_of(Some("http"), Some("hello.local:8080"), Some("/a?b=1")).unwrap();
        assert_eq!(u.to_string(), "http://hello.local:8080/a?b=1");
        assert_eq!(u.path(), "/a");
        assert_eq!(uri_of(None, None, None).unwrap().to_string(), "/");
        assert!(uri_of(Some("http"), Some("bad host"), Some("/")).is_err());
    }

    #[test]
    fn methods_map_both_ways() {
        for m in [
            http::Method::GET,
            http::Method::PATCH,
            http::Method::from_bytes(b"PURGE").unwrap(),
        ] {
            assert_eq!(method_of(wasi_method(&m)).unwrap(), m);
        }
    }
}
