//! Rejects requests without `authorization: Bearer TOKEN`, where TOKEN is the filter's
//! `token` config value; passes the others on, telling the backend who was let in.
//! `/spin` and `/grow` misbehave on purpose, to show a filter cut off at its limits.

use skiff_sdk::filter::{Action, Request};

#[skiff_sdk::filter]
fn auth(req: &Request) -> Action {
    match req.path_only() {
        // A loop that never ends: stopped at the filter's time limit.
        "/spin" => loop {
            std::hint::black_box(req.path.len());
        },
        // Memory without bound: stopped at the filter's memory limit.
        "/grow" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        _ => {}
    }
    let Ok(Some(token)) = skiff_sdk::config::get("token") else {
        return Action::respond(500, "the filter has no `token` in its config\n");
    };
    let expected = format!("Bearer {token}");
    match req.header("authorization") {
        Some(given) if given == expected => Action::set_header("x-auth", "ok"),
        Some(_) => Action::respond(403, "wrong token\n"),
        None => Action::respond(401, "a bearer token is needed\n"),
    }
}
