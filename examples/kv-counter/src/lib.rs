use skiff_sdk::http::Request;
use skiff_sdk::kv::{Bucket, Error};

/// Counts the requests for each path that any replica is sent, and answers with the new
/// count. The increment is one atomic call, so replicas never lose a count to each other.
#[skiff_sdk::http]
fn count(req: Request) -> Result<String, Error> {
    let hits = Bucket::open("counter")?.increment(req.uri().path(), 1)?;
    Ok(format!("{hits}\n"))
}
