//! Headless Chromium (through chromedriver) or Firefox (through geckodriver), spoken to in
//! W3C WebDriver (JSON over HTTP): the handful of commands the dashboard tests use (open a
//! page, run a script in it, take a screenshot, read the browser's console). Written here
//! rather than taken from a crate: fantoccini and thirtyfour bring the `webdriver` crate,
//! whose dependency tree (an older `http`, ICU segmentation) costs CI minutes for eight
//! endpoints.
//!
//! Chromium's console comes from chromedriver's log endpoint; Firefox's, which geckodriver
//! does not offer that way, from WebDriver BiDi's `log.entryAdded` events (see `bidi`).
//! The driver and its browser are killed when the [`Browser`] is dropped, pass or fail.
//! Shared by the dashboard's tests (`tests/kubectl/dashboard.rs`) and its benchmark.

mod bidi;

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A blocking HTTP/1.1 client for the WebDriver server's JSON, on its own runtime.
struct Http {
    rt: tokio::runtime::Runtime,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Http {
    fn new() -> Http {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the WebDriver client");
        let client = {
            let _guard = rt.enter();
            Client::builder(TokioExecutor::new()).build_http()
        };
        Http { rt, client }
    }

    /// `method http://addr/path` with `payload`: the status and the body.
    fn send(&self, method: &str, addr: &str, path: &str, payload: Bytes) -> (u16, Bytes) {
        let req = hyper::Request::builder()
            .method(method)
            .uri(format!("http://{addr}{path}"))
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(payload))
            .expect("a WebDriver request");
        self.rt.block_on(async {
            let resp = tokio::time::timeout(Duration::from_secs(60), self.client.request(req))
                .await
                .unwrap_or_else(|_| {
                    panic!("the WebDriver server did not answer {method} {path} within 60 s")
                })
                .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
            let status = resp.status().as_u16();
            let body = resp
                .into_body()
                .collect()
                .await
                .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
                .to_bytes();
            (status, body)
        })
    }
}

/// WebDriver's codes for keys that type no character (for [`Browser::press`]).
pub mod key {
    pub const TAB: char = '\u{E004}';
    pub const ENTER: char = '\u{E007}';
    pub const ESCAPE: char = '\u{E00C}';
    pub const CONTROL: char = '\u{E009}';
}

/// Which browser a [`Browser`] drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// Debian's `chromium`, through `chromium-driver`'s chromedriver.
    Chromium,
    /// Debian's `firefox-esr`, through geckodriver (`cargo xtask test` builds it from
    /// crates.io and exports it as `SKIFF_GECKODRIVER`).
    Firefox,
}

/// One line of the browser's console.
#[derive(Clone, Debug)]
pub struct ConsoleEntry {
    /// BiDi's levels: `error`, `warn`, `info` or `debug` (Chromium's are mapped onto them).
    pub level: String,
    pub text: String,
}

/// Where the console comes from.
enum Console {
    /// chromedriver's `/se/log`.
    ChromeLog,
    /// BiDi `log.entryAdded` events, gathered by a thread.
    Bidi(bidi::Log),
}

/// A WebDriver server with one browser session.
pub struct Browser {
    engine: Engine,
    driver: Child,
    addr: String,
    session: String,
    http: Http,
    console: Console,
    _profile: tempfile::TempDir,
}

fn command_path(env: &str, default: &str) -> PathBuf {
    match std::env::var_os(env) {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(default),
    }
}

impl Browser {
    /// Headless Chromium: see [`Browser::start_in`].
    pub fn start() -> Browser {
        Browser::start_in(Engine::Chromium)
    }

    /// Starts the engine's WebDriver server on a free port and opens a headless session that
    /// accepts the cluster's self-signed certificate and keeps its console log, in a
    /// 1280×900 window.
    pub fn start_in(engine: Engine) -> Browser {
        let (driver_bin, browser_bin) = match engine {
            Engine::Chromium => (
                command_path("SKIFF_CHROMEDRIVER", "/usr/bin/chromedriver"),
                command_path("SKIFF_CHROMIUM", "/usr/bin/chromium"),
            ),
            Engine::Firefox => (
                command_path("SKIFF_GECKODRIVER", "/usr/bin/geckodriver"),
                command_path("SKIFF_FIREFOX", "/usr/bin/firefox-esr"),
            ),
        };
        for p in [&driver_bin, &browser_bin] {
            assert!(
                p.exists(),
                "{} is missing: `cargo xtask test` installs chromium, chromium-driver and firefox-esr, builds geckodriver and exports it as SKIFF_GECKODRIVER",
                p.display()
            );
        }
        let port = crate::cluster::unused_port();
        let profile = tempfile::tempdir().unwrap();
        // Its own process group, so the browser it starts goes with it whatever happens.
        let mut command = Command::new(&driver_bin);
        command
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if engine == Engine::Firefox {
            // geckodriver makes the Firefox profile under TMPDIR: in ours, removed with it.
            // Its BiDi WebSocket would take port 9222 for every session: one each instead.
            command.env("TMPDIR", profile.path()).arg(format!(
                "--websocket-port={}",
                crate::cluster::unused_port()
            ));
        }
        let driver = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", driver_bin.display()));
        let addr = format!("127.0.0.1:{port}");
        let mut b = Browser {
            engine,
            driver,
            addr,
            session: String::new(),
            http: Http::new(),
            console: Console::ChromeLog,
            _profile: profile,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&b.addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "{} did not listen within 20 s",
                driver_bin.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let caps = match engine {
            Engine::Chromium => json!({
                "browserName": "chrome",
                "acceptInsecureCerts": true,
                "goog:loggingPrefs": { "browser": "ALL" },
                "goog:chromeOptions": {
                    "binary": browser_bin,
                    "args": [
                        "--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                        "--disable-gpu", "--no-first-run", "--window-size=1280,900",
                        format!("--user-data-dir={}", b._profile.path().display()),
                    ],
                },
            }),
            Engine::Firefox => json!({
                "browserName": "firefox",
                "acceptInsecureCerts": true,
                "webSocketUrl": true,
                "moz:firefoxOptions": {
                    "binary": browser_bin,
                    "args": ["-headless"],
                },
            }),
        };
        let r = b.raw(
            "POST",
            "/session",
            json!({ "capabilities": { "alwaysMatch": caps } }),
        );
        b.session = r["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {r}"))
            .to_owned();
        if engine == Engine::Firefox {
            let url = r["capabilities"]["webSocketUrl"]
                .as_str()
                .unwrap_or_else(|| panic!("geckodriver gave no BiDi WebSocket: {r}"));
            b.console = Console::Bidi(bidi::Log::subscribe(url));
            b.resize(1280, 900);
        }
        b
    }

    /// The browser this session drives.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    fn raw(&self, method: &str, path: &str, payload: Value) -> Value {
        let payload = match method {
            "GET" | "DELETE" => Bytes::new(),
            _ => Bytes::from(payload.to_string()),
        };
        let (status, body) = self.http.send(method, &self.addr, path, payload);
        let v: Value = serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!(
                "WebDriver {method} {path}: {e}: {}",
                String::from_utf8_lossy(&body)
            )
        });
        assert_eq!(status, 200, "WebDriver {method} {path}: {v}");
        v["value"].clone()
    }

    fn cmd(&self, method: &str, path: &str, payload: Value) -> Value {
        self.raw(method, &format!("/session/{}{path}", self.session), payload)
    }

    /// Opens `url` and waits for it to load.
    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", json!({ "url": url }));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page.
    pub fn run(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            json!({ "script": script, "args": args }),
        )
    }

    /// The text of the first element `css` selects, or None.
    pub fn text(&self, css: &str) -> Option<String> {
        let v = self.run(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : null;",
            json!([css]),
        );
        v.as_str().map(str::to_owned)
    }

    /// Waits (up to `within`) until the text of `css` satisfies `ok`; returns it.
    pub fn wait_text(&self, css: &str, within: Duration, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + within;
        loop {
            let t = self.text(css);
            if let Some(t) = &t
                && ok(t)
            {
                return t.clone();
            }
            assert!(
                Instant::now() < deadline,
                "{css} did not show what was awaited within {within:?}; it shows {t:?}; the page: {:?}",
                self.text("body")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Presses and releases each key of `keys` in turn, as a keyboard would, into whatever
    /// has the focus (WebDriver actions). Keys without a character are [`key`]'s.
    pub fn press(&self, keys: &str) {
        let mut actions = Vec::new();
        for k in keys.chars() {
            actions.push(json!({ "type": "keyDown", "value": k.to_string() }));
            actions.push(json!({ "type": "keyUp", "value": k.to_string() }));
        }
        self.keyboard(actions);
    }

    /// Presses `combo` together (Control and A, say), then lets go in reverse.
    pub fn chord(&self, combo: &[char]) {
        let down = combo
            .iter()
            .map(|k| json!({ "type": "keyDown", "value": k.to_string() }));
        let up = combo
            .iter()
            .rev()
            .map(|k| json!({ "type": "keyUp", "value": k.to_string() }));
        self.keyboard(down.chain(up).collect());
    }

    fn keyboard(&self, actions: Vec<Value>) {
        self.cmd(
            "POST",
            "/actions",
            json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": actions }] }),
        );
    }

    /// Sets the window's size in CSS pixels (a phone's width, say).
    pub fn resize(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/window/rect",
            json!({ "width": width, "height": height }),
        );
    }

    /// Saves a PNG of the window to `path`.
    pub fn screenshot(&self, path: &Path) {
        let v = self.cmd("GET", "/screenshot", Value::Null);
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("a base64 screenshot"))
            .expect("valid base64");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }

    /// The console messages since the last call.
    pub fn console(&self) -> Vec<ConsoleEntry> {
        match &self.console {
            Console::Bidi(log) => log.take(),
            Console::ChromeLog => {
                let v = self.cmd("POST", "/se/log", json!({ "type": "browser" }));
                let entries = v.as_array().cloned().unwrap_or_default();
                entries
                    .iter()
                    .map(|e| ConsoleEntry {
                        level: match e["level"].as_str().unwrap_or_default() {
                            "SEVERE" => "error",
                            "WARNING" => "warn",
                            "INFO" => "info",
                            _ => "debug",
                        }
                        .to_owned(),
                        text: e["message"].as_str().unwrap_or_default().to_owned(),
                    })
                    .collect()
            }
        }
    }
}

impl Browser {
    /// The process group of the WebDriver server, the browser and its helpers.
    pub fn process_group(&self) -> u32 {
        self.driver.id()
    }

    /// Runs the browser's processes (and those they start later) at `nice` priority.
    pub fn renice(&self, nice: i32) {
        let group = self.process_group().to_string();
        let status = Command::new("renice")
            .args(["-n", &nice.to_string(), "-g", &group])
            .stdout(Stdio::null())
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "renice -n {nice} -g {group} failed"
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = format!("/session/{}", self.session);
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.http.send("DELETE", &self.addr, &path, Bytes::new())
            }));
        }
        // The driver, the browser and its helpers share the driver's process group.
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        if let Console::Bidi(log) = &mut self.console {
            log.stop();
        }
    }
}
