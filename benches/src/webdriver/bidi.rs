//! The browser's console through WebDriver BiDi: a WebSocket to the driver, subscribed to
//! `log.entryAdded` (console calls and uncaught JavaScript errors), read by a thread into a
//! list that [`Log::take`] empties. geckodriver offers Firefox's console only this way.

use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use super::ConsoleEntry;

/// The console entries a session logged, gathered as they come.
pub struct Log {
    entries: Arc<Mutex<Vec<ConsoleEntry>>>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
}

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

impl Log {
    /// Connects to the session's BiDi `url` and subscribes to its log; returns once the
    /// driver confirmed the subscription, so nothing the page logs after it is missed.
    pub fn subscribe(url: &str) -> Log {
        let (mut ws, _) =
            tungstenite::connect(url).unwrap_or_else(|e| panic!("BiDi WebSocket {url}: {e}"));
        if let MaybeTlsStream::Plain(s) = ws.get_ref() {
            // Reads wake up now and then, so the reader sees `stop`.
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .expect("a read timeout on the BiDi socket");
        }
        let subscribe = json!({
            "id": 1,
            "method": "session.subscribe",
            "params": { "events": ["log.entryAdded"] },
        });
        ws.send(Message::text(subscribe.to_string()))
            .unwrap_or_else(|e| panic!("BiDi session.subscribe: {e}"));
        let entries = Arc::new(Mutex::new(Vec::new()));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            assert!(
                Instant::now() < deadline,
                "BiDi session.subscribe not answered within 20 s"
            );
            let next = next(&mut ws).unwrap_or_else(|e| panic!("BiDi WebSocket {url}: {e}"));
            let Some(v) = next else { continue };
            if v["id"] == 1 {
                assert!(v["type"] == "success", "BiDi session.subscribe: {v}");
                break;
            }
            record(&entries, &v);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (entries, stop) = (entries.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match next(&mut ws) {
                        Ok(Some(v)) => record(&entries, &v),
                        Ok(None) => {}
                        // The driver went away.
                        Err(_) => return,
                    }
                }
            })
        };
        Log {
            entries,
            stop,
            reader: Some(reader),
        }
    }

    /// The entries since the last call.
    pub fn take(&self) -> Vec<ConsoleEntry> {
        std::mem::take(&mut *self.entries.lock().unwrap())
    }

    /// Ends the reader thread.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The next JSON message, or None when the read timed out or brought something else.
fn next(ws: &mut Socket) -> Result<Option<Value>, tungstenite::Error> {
    match ws.read() {
        Ok(Message::Text(t)) => Ok(serde_json::from_str(t.as_str()).ok()),
        Ok(_) => Ok(None),
        Err(tungstenite::Error::Io(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Keeps `v` if it is a `log.entryAdded` event.
fn record(entries: &Mutex<Vec<ConsoleEntry>>, v: &Value) {
    if v["method"] != "log.entryAdded" {
        return;
    }
    let p = &v["params"];
    let mut text = p["text"].as_str().unwrap_or_default().to_owned();
    if let Some(url) = p["stackTrace"]["callFrames"][0]["url"].as_str() {
        text = format!("{url}: {text}");
    }
    entries.lock().unwrap().push(ConsoleEntry {
        level: p["level"].as_str().unwrap_or("info").to_owned(),
        text,
    });
}
