//! `echo`: the guest the router tests talk to.
//!
//! A `wasi:http/incoming-handler` component. The request's path (without its query) picks
//! what it does; query values are percent-decoded (`+` stays a `+`), and a missing or
//! malformed one (bad `%` escape, not UTF-8, not a number) is a `400` saying what was wanted.
//!
//! - `/ready`: `200 ready\n`, or `503 not ready\n` while a file `unready` exists in the
//!   folder mounted at `/state`; without a `/state` mount it is always ready. The file is
//!   looked up through the `wasi:filesystem` preopens directly, not `std::fs` (Debian's
//!   2022 wasi-libc never gives Rust's std the preopens; see `show-config`).
//! - `/call?url=<percent-encoded absolute http(s) URL>`: a `GET` of that URL through
//!   `wasi:http/outgoing-handler`. The answer has the upstream's status and body (streamed),
//!   the header `x-upstream-status`, and each upstream header named `x-…` copied as
//!   `x-upstream-<name>` (`x-foo` comes back as `x-upstream-x-foo`). An outgoing error is a
//!   `502` whose body is `upstream error: ` and the error code's debug text
//!   (e.g. `ErrorCode::ConnectionRefused`).
//! - `/sleep?ms=N`: waits N milliseconds on the monotonic clock, then `200 slept N\n`.
//! - `/burn?ms=N`: keeps the CPU busy for N milliseconds (reading the monotonic clock in a
//!   loop), then `200 burned N\n`: load for CPU autoscaling.
//! - `/status?code=N`: status N (100..=599, else `400`) with the body `status N\n` (no body
//!   for 1xx, 204 and 304, which may not have one).
//! - any other path: echo. `200` with the headers `x-echo-method` (`GET`, …),
//!   `x-echo-path` (path and query exactly as received), `x-echo-authority` and
//!   `x-echo-scheme` (empty if the request had none), `x-echo-name` (the env var
//!   `ECHO_NAME`, empty if unset) and, for each request header named `x-…`,
//!   `x-echo-header-<name>` with the same value(s). The body is the request body, streamed
//!   back chunk by chunk (any size). Trailers are always sent: the request's trailers, if
//!   any, plus `x-echo-body-bytes`, the number of body bytes echoed; the `trailer` header
//!   declares them (the request's `trailer` value plus `x-echo-body-bytes`), as HTTP/1.1
//!   servers send only declared trailers.
//!   With the env var `ECHO_FAIL_PERCENT=P` (0..=100), an echo request is answered
//!   `500 failing on purpose` with probability P% instead (a bad release for canary tests).
//!
//! Build it with `cargo xtask guests` from the repository root; it lands in
//! `examples/target/wasm32-wasip2/release/echo.wasm`.
//!
//! Nothing here panics on what a request carries: whatever fails before the response head
//! is sent becomes a `500` that says what went wrong. Echo and `/call` send the head before
//! streaming the body, so a later failure is reported on stderr and the body is left
//! unfinished: the client sees it cut short, never as complete.

use wasip2::clocks::monotonic_clock;
use wasip2::exports::http::incoming_handler::Guest;
use wasip2::filesystem::preopens;
use wasip2::filesystem::types::{ErrorCode as FsError, PathFlags};
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingRequest,
    OutgoingResponse, ResponseOutparam, Scheme,
};
use wasip2::io::poll;
use wasip2::io::streams::{InputStream, OutputStream, StreamError};

/// A header (or trailer) name and value.
type Header = (String, Vec<u8>);

/// The trailer that counts the echoed body bytes.
const BODY_BYTES: &str = "x-echo-body-bytes";

/// The file whose presence makes `/ready` answer 503.
const UNREADY_FILE: &str = "/state/unready";

/// The most bytes read from a body at a time.
const CHUNK: u64 = 64 * 1024;

struct Echo;

wasip2::http::proxy::export!(Echo);

impl Guest for Echo {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let target = request.path_with_query().unwrap_or_default();
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        match path {
            "/ready" => ready(response_out),
            "/call" => call(query, response_out),
            "/sleep" => sleep(query, response_out),
            "/burn" => burn(query, response_out),
            "/status" => status(query, response_out),
            _ => echo(&request, &target, response_out),
        }
    }
}

fn echo(request: &IncomingRequest, target: &str, response_out: ResponseOutparam) {
    let fail_percent = env_var("ECHO_FAIL_PERCENT").parse::<u64>().unwrap_or(0);
    if fail_percent > 0 && wasip2::random::random::get_random_u64() % 100 < fail_percent {
        send_text(response_out, 500, "failing on purpose\n");
        return;
    }
    let scheme = match request.scheme() {
        Some(Scheme::Http) => "http".to_owned(),
        Some(Scheme::Https) => "https".to_owned(),
        Some(Scheme::Other(other)) => other,
        None => String::new(),
    };
    let mut headers = vec![
        header("x-echo-method", method_name(request.method())),
        header("x-echo-path", target),
        header("x-echo-authority", request.authority().unwrap_or_default()),
        header("x-echo-scheme", scheme),
        header("x-echo-name", env_var("ECHO_NAME")),
    ];
    headers.extend(copy_x_headers(&request.headers(), "x-echo-header-"));
    // HTTP/1.1 sends only the trailers a message declares: the request's, and ours.
    let mut declared: Vec<String> = request
        .headers()
        .get("trailer")
        .iter()
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    declared.push(BODY_BYTES.to_owned());
    headers.push(header("trailer", declared.join(", ")));
    match request.consume() {
        Ok(body) => stream_reply(response_out, 200, &headers, body, true),
        Err(()) => answer_500(response_out, "the request body was already taken"),
    }
}

fn ready(response_out: ResponseOutparam) {
    match unready_file_exists() {
        Ok(false) => send_text(response_out, 200, "ready\n"),
        Ok(true) => send_text(response_out, 503, "not ready\n"),
        Err(reason) => answer_500(response_out, &reason),
    }
}

/// Whether [`UNREADY_FILE`] exists, looked up in the preopened folder that holds it (the
/// longest match); `false` if no preopened folder does.
fn unready_file_exists() -> Result<bool, String> {
    let dirs = preopens::get_directories();
    let holder = dirs
        .iter()
        .filter_map(|(dir, at)| {
            let rest = UNREADY_FILE.strip_prefix(at.trim_end_matches('/'))?;
            rest.starts_with('/')
                .then(|| (dir, at.len(), rest.trim_start_matches('/')))
        })
        .max_by_key(|(_, len, _)| *len);
    let Some((dir, _, rest)) = holder else {
        return Ok(false);
    };
    match dir.stat_at(PathFlags::SYMLINK_FOLLOW, rest) {
        Ok(_) => Ok(true),
        Err(FsError::NoEntry) => Ok(false),
        Err(err) => Err(format!("cannot look at {UNREADY_FILE}: {err}")),
    }
}

fn call(query: &str, response_out: ResponseOutparam) {
    let Some(url) = query_value(query, "url") else {
        return send_text(response_out, 400, "call: want ?url=<percent-encoded URL>\n");
    };
    let Some((scheme, authority, path_with_query)) = split_url(&url) else {
        let text = format!("call: {url:?} is not an absolute URL (scheme://authority/path)\n");
        return send_text(response_out, 400, &text);
    };
    let request = OutgoingRequest::new(Fields::new());
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => Scheme::Other(other.to_owned()),
    };
    let set = [
        ("method", request.set_method(&Method::Get)),
        ("scheme", request.set_scheme(Some(&scheme))),
        ("authority", request.set_authority(Some(authority))),
        ("path", request.set_path_with_query(Some(&path_with_query))),
    ];
    if let Some((part, _)) = set.iter().find(|(_, result)| result.is_err()) {
        let text = format!("call: the URL's {part} is not valid\n");
        return send_text(response_out, 400, &text);
    }
    let future = match outgoing_handler::handle(request, None) {
        Ok(future) => future,
        Err(code) => return send_text(response_out, 502, &format!("upstream error: {code:?}\n")),
    };
    poll::poll(&[&future.subscribe()]);
    let upstream = match future.get() {
        Some(Ok(Ok(upstream))) => upstream,
        Some(Ok(Err(code))) => {
            return send_text(response_out, 502, &format!("upstream error: {code:?}\n"));
        }
        Some(Err(())) | None => return answer_500(response_out, "the upstream response vanished"),
    };
    let status = upstream.status();
    let mut headers = vec![header("x-upstream-status", status.to_string())];
    headers.extend(copy_x_headers(&upstream.headers(), "x-upstream-"));
    match upstream.consume() {
        Ok(body) => stream_reply(response_out, status, &headers, body, false),
        Err(()) => answer_500(response_out, "the upstream body was already taken"),
    }
}

/// Splits `scheme://authority/path?query#fragment` into the scheme, the authority and the
/// path with its query (`/` if empty); the fragment is dropped.
fn split_url(url: &str) -> Option<(&str, &str, String)> {
    let (scheme, rest) = url.split_once("://")?;
    let rest = rest.split('#').next().unwrap_or_default();
    let (authority, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    if scheme.is_empty() || authority.is_empty() {
        return None;
    }
    let slash = if path.starts_with('/') { "" } else { "/" };
    Some((scheme, authority, format!("{slash}{path}")))
}

fn sleep(query: &str, response_out: ResponseOutparam) {
    let millis = query_value(query, "ms").and_then(|value| value.parse::<u64>().ok());
    let Some((millis, nanos)) = millis.and_then(|ms| Some((ms, ms.checked_mul(1_000_000)?))) else {
        return send_text(
            response_out,
            400,
            "sleep: want ?ms=N (whole milliseconds)\n",
        );
    };
    poll::poll(&[&monotonic_clock::subscribe_duration(nanos)]);
    send_text(response_out, 200, &format!("slept {millis}\n"));
}

fn burn(query: &str, response_out: ResponseOutparam) {
    let millis = query_value(query, "ms").and_then(|value| value.parse::<u64>().ok());
    let Some((millis, nanos)) = millis.and_then(|ms| Some((ms, ms.checked_mul(1_000_000)?))) else {
        return send_text(
            response_out,
            400,
            "burn: want ?ms=N (whole milliseconds)\n",
        );
    };
    let until = monotonic_clock::now().saturating_add(nanos);
    let mut spins = 0u64;
    while monotonic_clock::now() < until {
        spins = spins.wrapping_add(1);
    }
    send_text(
        response_out,
        200,
        &format!("burned {millis} ({spins} clock reads)\n"),
    );
}

fn status(query: &str, response_out: ResponseOutparam) {
    let code = query_value(query, "code").and_then(|value| value.parse::<u16>().ok());
    match code.filter(|code| (100..=599).contains(code)) {
        // These statuses cannot carry a body.
        Some(code @ (100..=199 | 204 | 304)) => send_text(response_out, code, ""),
        Some(code) => send_text(response_out, code, &format!("status {code}\n")),
        None => send_text(response_out, 400, "status: want ?code=N, 100..=599\n"),
    }
}

/// The first value of `key` in a query string, percent-decoded; `None` if absent or not
/// decodable (a bad `%` escape, or not UTF-8).
fn query_value(query: &str, key: &str) -> Option<String> {
    let (_, value) = query
        .split('&')
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .find(|(name, _)| *name == key)?;
    let mut bytes = value.bytes();
    let mut out = Vec::with_capacity(value.len());
    while let Some(byte) = bytes.next() {
        if byte != b'%' {
            out.push(byte);
            continue;
        }
        let mut digit = || char::from(bytes.next()?).to_digit(16);
        let (high, low) = (digit()?, digit()?);
        out.push(u8::try_from(high * 16 + low).ok()?);
    }
    String::from_utf8(out).ok()
}

fn header(name: &str, value: impl Into<Vec<u8>>) -> Header {
    (name.to_owned(), value.into())
}

fn method_name(method: Method) -> String {
    let name = match method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Connect => "CONNECT",
        Method::Options => "OPTIONS",
        Method::Trace => "TRACE",
        Method::Patch => "PATCH",
        Method::Other(other) => return other,
    };
    name.to_owned()
}

/// The value of an environment variable, read through `wasi:cli/environment`; empty if
/// unset.
fn env_var(name: &str) -> String {
    wasip2::cli::environment::get_environment()
        .into_iter()
        .find_map(|(key, value)| (key == name).then_some(value))
        .unwrap_or_default()
}

/// Every field of `fields` whose name starts with `x-`, renamed `<prefix><name>`.
fn copy_x_headers(fields: &Fields, prefix: &str) -> Vec<Header> {
    fields
        .entries()
        .into_iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value))
        .filter(|(name, _)| name.starts_with("x-"))
        .map(|(name, value)| (format!("{prefix}{name}"), value))
        .collect()
}

/// Builds a response head and takes its body; an `Err` says which step failed.
fn response_head(
    status: u16,
    headers: &[Header],
) -> Result<(OutgoingResponse, OutgoingBody), String> {
    let fields = Fields::from_list(headers).map_err(|err| format!("bad response header: {err}"))?;
    let head = OutgoingResponse::new(fields);
    head.set_status_code(status)
        .map_err(|()| format!("{status} is not a valid status code"))?;
    let body = head
        .body()
        .map_err(|()| "the response body was already taken".to_owned())?;
    Ok((head, body))
}

/// Sends the head, then streams `source` into the body. With `echo_trailers` the response
/// trailers are `source`'s trailers plus [`BODY_BYTES`]; otherwise there are none.
fn stream_reply(
    response_out: ResponseOutparam,
    status: u16,
    headers: &[Header],
    source: IncomingBody,
    echo_trailers: bool,
) {
    let Ok(input) = source.stream() else {
        return answer_500(response_out, "the body stream was already taken");
    };
    let (head, body) = match response_head(status, headers) {
        Ok(parts) => parts,
        Err(reason) => return answer_500(response_out, &reason),
    };
    // The head goes first: the host reads the body only once it has the response.
    ResponseOutparam::set(response_out, Ok(head));
    if let Err(reason) = pipe(source, input, body, echo_trailers) {
        eprintln!("echo: the response body is cut short: {reason}");
    }
}

fn pipe(
    source: IncomingBody,
    input: InputStream,
    body: OutgoingBody,
    echo_trailers: bool,
) -> Result<(), String> {
    let Ok(output) = body.write() else {
        drop(input);
        return Err("the response body stream was already taken".to_owned());
    };
    let copied = copy(&input, &output);
    // A stream must be gone before its body is finished (or dropped).
    drop(output);
    drop(input);
    let count = copied?;
    let future = IncomingBody::finish(source);
    poll::poll(&[&future.subscribe()]);
    let received = match future.get() {
        Some(Ok(Ok(received))) => received,
        Some(Ok(Err(code))) => return Err(format!("the body ended in an error: {code:?}")),
        Some(Err(())) | None => return Err("the trailers vanished".to_owned()),
    };
    let trailers = if echo_trailers {
        let mut list = received.as_ref().map(Fields::entries).unwrap_or_default();
        list.retain(|(name, _)| !name.eq_ignore_ascii_case(BODY_BYTES));
        list.push(header(BODY_BYTES, count.to_string()));
        Some(Fields::from_list(&list).map_err(|err| format!("bad trailer: {err}")))
    } else {
        None
    };
    // The received trailers belong to `future` and must go first.
    drop(received);
    drop(future);
    OutgoingBody::finish(body, trailers.transpose()?)
        .map_err(|err| format!("finishing the body failed: {err}"))
}

/// Copies `input` to `output` until `input` ends; returns the number of bytes copied.
fn copy(input: &InputStream, output: &OutputStream) -> Result<u64, String> {
    let mut count = 0;
    loop {
        match input.blocking_read(CHUNK) {
            Ok(chunk) => {
                write_all(output, &chunk)?;
                count += chunk.len() as u64;
            }
            Err(StreamError::Closed) => break,
            Err(err) => return Err(format!("reading the body failed: {err}")),
        }
    }
    output
        .blocking_flush()
        .map_err(|err| format!("flushing the body failed: {err}"))?;
    Ok(count)
}

/// Writes all of `bytes`, as fast as the host takes them.
fn write_all(output: &OutputStream, mut bytes: &[u8]) -> Result<(), String> {
    while !bytes.is_empty() {
        let permit = output
            .check_write()
            .map_err(|err| format!("writing the body failed: {err}"))?;
        if permit == 0 {
            poll::poll(&[&output.subscribe()]);
            continue;
        }
        let (now, later) = bytes.split_at(bytes.len().min(permit.try_into().unwrap_or(usize::MAX)));
        output
            .write(now)
            .map_err(|err| format!("writing the body failed: {err}"))?;
        bytes = later;
    }
    Ok(())
}

/// Answers `status` with a plain-text body, or a 500 if that cannot be built.
fn send_text(response_out: ResponseOutparam, status: u16, text: &str) {
    let headers = [header("content-type", "text/plain; charset=utf-8")];
    match response_head(status, &headers) {
        Ok((head, body)) => {
            ResponseOutparam::set(response_out, Ok(head));
            if let Err(reason) = write_text(body, text.as_bytes()) {
                eprintln!("echo: could not write the response body: {reason}");
            }
        }
        Err(reason) if status != 500 => answer_500(response_out, &reason),
        // Even a 500 cannot be built: the host answers 500 itself.
        Err(reason) => {
            ResponseOutparam::set(response_out, Err(ErrorCode::InternalError(Some(reason))));
        }
    }
}

fn write_text(body: OutgoingBody, text: &[u8]) -> Result<(), String> {
    let output = body
        .write()
        .map_err(|()| "the body stream was already taken".to_owned())?;
    let written = write_all(&output, text).and_then(|()| {
        output
            .blocking_flush()
            .map_err(|err| format!("flushing the body failed: {err}"))
    });
    drop(output);
    written?;
    OutgoingBody::finish(body, None).map_err(|err| format!("finishing the body failed: {err}"))
}

/// Answers 500 with `reason` in the body.
fn answer_500(response_out: ResponseOutparam, reason: &str) {
    send_text(response_out, 500, &format!("echo failed: {reason}\n"));
}
