use skiff_sdk::config::{self, Error};
use skiff_sdk::http::Request;

/// Greets with the `greeting` and `name` values of its configuration, and says whether a
/// `token` came with it (from a Secret; never shown). `/keys` lists every key it was given.
#[skiff_sdk::http]
fn greet(req: Request) -> Result<String, Error> {
    if req.uri().path() == "/keys" {
        let mut keys: Vec<String> = config::all()?.into_iter().map(|(k, _)| k).collect();
        keys.sort();
        return Ok(keys.join("\n") + "\n");
    }
    let greeting = config::get("greeting")?.unwrap_or_else(|| "Hello".into());
    let name = config::get("name")?.unwrap_or_else(|| "world".into());
    let token = match config::get("token")? {
        Some(t) => format!("a token of {} characters", t.len()),
        None => "no token".into(),
    };
    skiff_sdk::log::info("greet", &format!("greeted {name}"));
    Ok(format!("{greeting}, {name}! ({token})\n"))
}
