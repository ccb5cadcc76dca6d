//! `hello-http`: the first guest a Skiff user runs.
//!
//! A `wasi:http/incoming-handler` component: every request is answered `200` with the body
//! `Hello from Skiff!\n`, and the request's path (without its query) comes back in the
//! `x-skiff-path` header, which shows which URL reached the guest through Skiff's router.
//!
//! Build it with `cargo xtask guests` from the repository root; it lands in
//! `examples/target/wasm32-wasip2/release/hello_http.wasm`.
//!
//! Nothing here panics on what a request carries: whatever fails before the response is
//! sent becomes a `500` that says what went wrong.

use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

/// The body of every successful answer.
const GREETING: &[u8] = b"Hello from Skiff!\n";

/// The header that echoes the request path.
const PATH_HEADER: &str = "x-skiff-path";

struct HelloHttp;

wasip2::http::proxy::export!(HelloHttp);

impl Guest for HelloHttp {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let path = request_path(request.path_with_query().as_deref()).to_owned();
        let headers = [
            (PATH_HEADER.to_owned(), path.into_bytes()),
            (
                "content-type".to_owned(),
                b"text/plain; charset=utf-8".to_vec(),
            ),
        ];
        match respond(200, &headers, GREETING) {
            Ok(response) => send(response_out, response),
            Err(reason) => answer_500(response_out, &reason),
        }
    }
}

/// A response ready to be sent: the head, and its body with the bytes still to write.
struct Response {
    head: OutgoingResponse,
    body: OutgoingBody,
    contents: Vec<u8>,
}

/// Builds a response; an `Err` says which step failed.
fn respond(
    status: u16,
    headers: &[(String, Vec<u8>)],
    contents: &[u8],
) -> Result<Response, String> {
    let fields = Fields::from_list(headers).map_err(|err| format!("bad response header: {err}"))?;
    let head = OutgoingResponse::new(fields);
    head.set_status_code(status)
        .map_err(|()| format!("{status} is not a valid status code"))?;
    let body = head
        .body()
        .map_err(|()| "the response body was already taken".to_owned())?;
    Ok(Response {
        head,
        body,
        contents: contents.to_vec(),
    })
}

/// Sends the head, then writes the body. Once the head is sent the status can no longer
/// change, so a failure while writing is only reported on stderr (the host sees a body cut
/// short).
fn send(response_out: ResponseOutparam, response: Response) {
    let Response {
        head,
        body,
        contents,
    } = response;
    ResponseOutparam::set(response_out, Ok(head));
    if let Err(reason) = write_body(body, &contents) {
        eprintln!("hello-http: could not write the response body: {reason}");
    }
}

fn write_body(body: OutgoingBody, contents: &[u8]) -> Result<(), String> {
    let stream = body
        .write()
        .map_err(|()| "the body stream was already taken".to_owned())?;
    // One call writes at most 4096 bytes.
    for chunk in contents.chunks(4096) {
        stream
            .blocking_write_and_flush(chunk)
            .map_err(|err| format!("write failed: {err}"))?;
    }
    // The stream must be gone before the body is finished.
    drop(stream);
    OutgoingBody::finish(body, None).map_err(|err| format!("finishing the body failed: {err}"))
}

/// Answers 500 with `reason` in the body, or, if even that cannot be built, hands the host
/// an error so that it answers 500 itself.
fn answer_500(response_out: ResponseOutparam, reason: &str) {
    let headers = [(
        "content-type".to_owned(),
        b"text/plain; charset=utf-8".to_vec(),
    )];
    let contents = format!("hello-http failed: {reason}\n");
    match respond(500, &headers, contents.as_bytes()) {
        Ok(response) => send(response_out, response),
        Err(also) => ResponseOutparam::set(
            response_out,
            Err(ErrorCode::InternalError(Some(format!(
                "{reason}; then {also}"
            )))),
        ),
    }
}

/// The path part of a request target: `/a/b?x=1` is `/a/b`; a request without one (never
/// the case for the `http` and `https` schemes) is treated as `/`.
fn request_path(path_with_query: Option<&str>) -> &str {
    let target = path_with_query.unwrap_or("/");
    let path = target.split_once('?').map_or(target, |(path, _query)| path);
    if path.is_empty() { "/" } else { path }
}
