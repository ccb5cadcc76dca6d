//! Building responses: JSON with its content type, and `Warning` headers.

use axum::body::Body;
use http::{HeaderValue, Response, StatusCode, header};

/// What a handler answers.
pub type Reply = Response<Body>;

/// `body` as JSON with `code`.
pub fn json_reply(code: u16, body: &serde_json::Value) -> Reply {
    bytes_reply(code, "application/json", body.to_string().into_bytes())
}

/// `body` with `content_type` and `code`.
pub fn bytes_reply(code: u16, content_type: &str, body: Vec<u8>) -> Reply {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

/// Adds each warning as `Warning: 299 - "..."`, as kubectl prints them.
pub fn with_warnings(mut r: Reply, warnings: &[String]) -> Reply {
    for w in warnings {
        let text = format!("299 - {:?}", w.replace('"', "'"));
        if let Ok(v) = HeaderValue::from_str(&text) {
            r.headers_mut().append(header::WARNING, v);
        }
    }
    r
}
