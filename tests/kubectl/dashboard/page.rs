//! What the dashboard's tests do to a page: log in, click and confirm, type with the
//! keyboard, read tables and the console, and where screenshots go.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use skiff_benches::webdriver::{Browser, key};

use super::super::support::node::guest;

/// Where a browser's screenshots go: `target/tmp/dashboard/<engine>/`.
pub(super) fn artifacts(b: &Browser) -> PathBuf {
    let engine = format!("{:?}", b.engine()).to_lowercase();
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("dashboard")
        .join(engine)
}

/// The rows of the table `css` that name `what`.
pub(super) fn rows_naming(b: &Browser, css: &str, what: &str) -> usize {
    let v = b.run(
        "return [...document.querySelectorAll(arguments[0] + ' tbody tr')].filter((r) => r.innerText.includes(arguments[1])).length;",
        json!([css, what]),
    );
    v.as_u64().unwrap_or(0) as usize
}

/// A pod that logs a line, sleeps 30 s, and logs another.
pub(super) fn napper() -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata: {{name: napper}}
spec:
  runtimeClassName: wasm
  restartPolicy: Never
  containers:
  - {{name: main, image: {}, args: ['30']}}
",
        guest("sleep.wasm").display()
    )
}

/// Clicks Scale on the row of `name` (`namespace/name`), asks for `n` and confirms.
pub(super) fn scale_from_page(b: &Browser, name: &str, n: u32) {
    b.run(
        "document.querySelector(`button.scale[data-name=\"${arguments[0]}\"]`).click();",
        json!([name]),
    );
    b.run(
        "const i = document.getElementById('replicas'); i.value = String(arguments[0]); i.form.requestSubmit();",
        json!([n]),
    );
    b.run("document.getElementById('confirm').click();", json!([]));
}

/// Presses Tab until the element `css` selects has the focus.
pub(super) fn tab_to(b: &Browser, css: &str) {
    for _ in 0..60 {
        let there = b.run(
            "return document.activeElement.matches(arguments[0]);",
            json!([css]),
        );
        if there == json!(true) {
            return;
        }
        b.press(&key::TAB.to_string());
    }
    let at = b.run("return document.activeElement.outerHTML;", json!([]));
    panic!("60 Tabs did not reach {css}; the focus is on {at}");
}

/// Waits until the focus is on what `css` selects.
pub(super) fn focus_on(b: &Browser, css: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while b.run(
        "return document.activeElement.matches(arguments[0]);",
        json!([css]),
    ) != json!(true)
    {
        let at = b.run("return document.activeElement.outerHTML;", json!([]));
        assert!(
            std::time::Instant::now() < deadline,
            "the focus is not on {css} but on {at}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Scales `name` (`namespace/name`) to `n` from the Deployments list with the keyboard
/// alone: Tab to its Scale button, Enter, the count, Enter to ask; Escape cancels and gives
/// the focus back to the button; then again, and Enter confirms.
pub(super) fn scale_by_keyboard(b: &Browser, name: &str, n: u32) {
    let button = format!("button.scale[data-name=\"{name}\"]");
    tab_to(b, &button);
    for confirm in [false, true] {
        b.press(&key::ENTER.to_string());
        focus_on(b, "#replicas");
        b.chord(&[key::CONTROL, 'a']);
        b.press(&format!("{n}{}", key::ENTER));
        focus_on(b, "#confirm");
        if confirm {
            b.press(&key::ENTER.to_string());
        } else {
            b.press(&key::ESCAPE.to_string());
            focus_on(b, &button);
            assert_eq!(b.text("#action").as_deref(), Some(""), "Escape cancels");
        }
    }
}

/// The console is really read: an error the page logs and one it throws come back, and
/// are then forgotten.
pub(super) fn console_is_read(b: &Browser) {
    b.run(
        "console.error('skiff probe: logged'); setTimeout(() => { throw new Error('skiff probe: thrown'); });",
        json!([]),
    );
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !["logged", "thrown"].iter().all(|w| {
        seen.iter()
            .any(|t: &String| t.contains(&format!("skiff probe: {w}")))
    }) {
        assert!(
            std::time::Instant::now() < deadline,
            "the probe's two errors did not reach the console within 10 s: {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
        let errors = b.console().into_iter().filter(|e| e.level == "error");
        seen.extend(errors.map(|e| e.text));
    }
}

/// The browser's console logged no error since the last look.
pub(super) fn no_console_errors(b: &Browser) {
    let errors: Vec<_> = b
        .console()
        .into_iter()
        .filter(|e| e.level == "error")
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:?}");
}

/// Opens a login link and continues as `user`, whom the page names first.
pub(super) fn log_in(b: &Browser, url: &str, user: &str) {
    b.goto(url);
    let said = b.wait_text("main", Duration::from_secs(30), |t| {
        t.contains("This link logged")
    });
    assert!(said.contains(&format!("as {user}")), "{said}");
    b.run("document.getElementById('continue').click();", json!([]));
    b.wait_text("main h1", Duration::from_secs(30), |t| t == "Overview");
}

/// Clicks the action `label` on an object's page and confirms it; returns what it says.
pub(super) fn act(b: &Browser, label: &str, outcome: &str) -> String {
    let id = format!("do-{}", label.to_lowercase());
    b.wait_text(&format!("#{id}"), Duration::from_secs(30), |t| t == label);
    b.run(
        "document.getElementById(arguments[0]).click(); document.getElementById('confirm').click();",
        json!([id]),
    );
    b.wait_text("#action", Duration::from_secs(30), |t| t.contains(outcome))
}
