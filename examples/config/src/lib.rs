use skiff_sdk::config::{self, Error};
use skiff_sdk::http::{Body, Request, Response};

/// Greets with the `greeting` and `name` values of its configuration, and says whether a
/// `token` came with it (from a Secret; never shown). `/keys` streams every key it was
/// given, one line each.
#[skiff_sdk::http]
fn greet(req: Request) -> Result<Response, Error> {
    if req.uri().path() == "/keys" {
        // Streamed, one line per key, as an answer too large to hold would be.
        let mut keys: Vec<String> = config::all()?.into_iter().map(|(k, _)| k).collect();
        keys.sort();
        let lines = keys.into_iter().map(|k| format!("{k}\n").into_bytes());
        return Ok(Response::new(Body::stream(lines)));
    }
    let greeting = config::get("greeting")?.unwrap_or_else(|| "Hello".into());
    let name = config::get("name")?.unwrap_or_else(|| "world".into());
    let token = match config::get("token")? {
        Some(t) => format!("a token of {} characters", t.len()),
        None => "no token".into(),
    };
    skiff_sdk::log::info("greet", &format!("greeted {name}"));
    Ok(Response::new(Body::from(format!("{greeting}, {name}! ({token})\n"))))
}
