use skiff_sdk::http::Request;

/// Counts the bytes and lines of what it is sent, chunk by chunk as they arrive: an
/// upload far larger than the pod's memory limit is counted all the same.
#[skiff_sdk::http]
fn wc(req: Request) -> String {
    let (mut bytes, mut lines) = (0, 0);
    for chunk in req.into_body().chunks() {
        bytes += chunk.len();
        lines += chunk.iter().filter(|b| **b == b'\n').count();
    }
    format!("{bytes} bytes, {lines} lines\n")
}
