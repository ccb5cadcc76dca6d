use std::path::Path;

use skiff_proto::fuzzing::inputs;

use super::*;

fn answer(input: &[u8]) -> Answered {
    router(input)
}

fn seed(name: &str) -> Vec<u8> {
    let p = inputs("seeds", "router")
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n == name))
        .unwrap_or_else(|| panic!("no seed {name}"));
    read(&p)
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn text(a: &Answered) -> String {
    String::from_utf8_lossy(&a.bytes).into_owned()
}

/// The harness routes as a node's router does: the seeds' requests reach the endpoints
/// their rules name (or are refused as they should be), so the fuzz target exercises real
/// routing, not only refusals.
#[test]
fn the_seeds_are_routed_as_their_rules_say() {
    let cases: &[(&str, &[u16], &str)] = &[
        ("get-web", &[200], "GET / 0"),
        ("post-api", &[200], "POST /api 5"),
        ("chunked-api", &[200], "POST /api 5"),
        ("canary", &[502], ""),
        ("docs-v2", &[503], ""),
        ("docs-exact", &[200], "GET /docs 0"),
        ("wildcard", &[200], "GET /w 0"),
        ("unknown-host", &[404], ""),
        ("pipelined", &[200, 200, 200], "GET /docs 0"),
        ("absolute-uri", &[200], "GET /a 0"),
        ("metrics", &[200], "skiff_router"),
        ("too-big-body", &[413], ""),
        ("websocket", &[501], ""),
        ("endpoint-header", &[200], "GET / 0"),
        ("pod-service", &[200], "GET / 0"),
        ("pod-service-full", &[200], "GET / 0"),
        ("pod-empty", &[503], ""),
        ("http10", &[404], ""),
    ];
    for (name, want, body) in cases {
        let a = answer(&seed(name));
        assert_eq!(&a.statuses, want, "{name}: {}", text(&a));
        assert!(text(&a).contains(body), "{name}: {}", text(&a));
    }
    // Three weights out of five go to `web`, the rest to `broken` and `api`: every
    // answer is an endpoint's, or the failing one's 502.
    for _ in 0..20 {
        let a = answer(&seed("split"));
        assert!(
            a.statuses == [200] || a.statuses == [502],
            "split: {}",
            text(&a)
        );
    }
}

#[test]
fn garbage_and_http2_get_no_route_and_no_panic() {
    let a = answer(&seed("garbage"));
    assert!(a.statuses.iter().all(|s| *s == 400), "{}", text(&a));
    let a = answer(&seed("h2-preface"));
    assert!(a.statuses.is_empty());
}

#[test]
fn router_seeds_and_regressions_replay() {
    let seeds = inputs("seeds", "router");
    assert!(seeds.len() >= 20, "{} seeds", seeds.len());
    for p in seeds.iter().chain(&inputs("regressions", "router")) {
        router(&read(p));
    }
}

/// A line that starts like a status line counts, wherever it is: the harness's endpoints
/// and the router's refusals never write one into a body.
#[test]
fn statuses_are_read_from_lines_that_start_like_a_response() {
    let bytes = b"HTTP/1.1 200 OK\r\ncontent-length: 16\r\n\r\nHTTP/1.1 500 no\nHTTP/1.1 404 Not Found\r\n\r\n";
    assert_eq!(statuses(bytes), [200, 500, 404]);
    assert_eq!(statuses(b"xHTTP/1.1 500 no"), Vec::<u16>::new());
}
