//! The dashboard's files, compiled into the binary from `assets/`.

/// The files, by name, with their content types.
pub(super) const FILES: &[(&str, &str, &[u8])] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_bytes!("assets/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/api.js"),
    ),
    (
        "dom.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/dom.js"),
    ),
    (
        "kinds.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/kinds.js"),
    ),
    (
        "views.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/views.js"),
    ),
    (
        "detail.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/detail.js"),
    ),
    (
        "actions.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/actions.js"),
    ),
    (
        "charts.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/charts.js"),
    ),
    (
        "paste.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/paste.js"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_bytes!("assets/icon.svg"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("assets/app.css"),
    ),
];

/// The content type and bytes of the file `name`.
pub fn get(name: &str) -> Option<(&'static str, &'static [u8])> {
    FILES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, t, b)| (*t, *b))
}
