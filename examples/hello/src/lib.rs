use skiff_sdk::http::Request;

/// Answers every request with a greeting and the path it asked for.
#[skiff_sdk::http]
fn hello(req: Request) -> String {
    format!("Hello from Skiff! You asked for {}\n", req.uri().path())
}
