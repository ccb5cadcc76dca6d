use skiff_sdk::http::Request;
use skiff_sdk::kv::{Bucket, Error};

/// Counts the requests for each path that any replica is sent, and answers with the new
/// count. The increment is one atomic call, so replicas never lose a count to each other.
/// `/log/WORD` instead appends WORD to the value `log` with a compare-and-swap loop and
/// answers with how many lines the log has: no replica's line is ever lost either.
#[skiff_sdk::http]
fn count(req: Request) -> Result<String, Error> {
    let bucket = Bucket::open("counter")?;
    if let Some(word) = req.uri().path().strip_prefix("/log/") {
        let log = bucket.update("log", |old| {
            [old.unwrap_or_default(), word.as_bytes(), b"\n"].concat()
        })?;
        let lines = log.iter().filter(|b| **b == b'\n').count();
        return Ok(format!("{lines}\n"));
    }
    let hits = bucket.increment(req.uri().path(), 1)?;
    Ok(format!("{hits}\n"))
}
