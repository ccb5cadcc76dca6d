//! A real Prometheus (Debian's `prometheus`, installed by `cargo xtask test`) scraping
//! the targets a test gives it every second, killed when dropped; and its query API.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::http::Http;

pub struct Prometheus {
    child: Child,
    pub addr: String,
    dir: tempfile::TempDir,
    http: Http,
}

impl Prometheus {
    /// Scrapes `targets` (`HOST:PORT` of `/metrics`), each labelled with its `role`.
    pub fn start(targets: &[(&str, String)]) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let mut jobs = String::new();
        for role in ["member", "node"] {
            let of: Vec<String> = targets
                .iter()
                .filter(|(r, _)| *r == role)
                .map(|(_, a)| format!("'{a}'"))
                .collect();
            if !of.is_empty() {
                jobs.push_str(&format!(
                    "  - job_name: skiff-{role}\n    static_configs: [{{targets: [{}]}}]\n",
                    of.join(", ")
                ));
            }
        }
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nscrape_configs:\n{jobs}"
            ),
        )
        .unwrap();
        let addr = format!("127.0.0.1:{}", super::free_port());
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus (Debian package prometheus; `cargo xtask test` installs it)");
        let p = Prometheus {
            child,
            addr,
            dir,
            http: Http::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        // Listening comes before ready (the TSDB opens): its API answers 503 till then.
        while std::net::TcpStream::connect(&p.addr).is_err()
            || p.http.get(&p.addr, "localhost", "/-/ready").status != 200
        {
            assert!(
                Instant::now() < deadline,
                "prometheus was not ready within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        p
    }

    /// The result vector of the instant query `q` (empty when it has no data).
    pub fn query(&self, q: &str) -> Vec<Value> {
        let path = format!("/api/v1/query?query={}", percent(q));
        let reply = self.http.get(&self.addr, "localhost", &path);
        let v: Value = serde_json::from_str(&reply.text()).unwrap_or(Value::Null);
        if v["status"] != "success" {
            panic!("Prometheus refused the query {q:?}: {v}");
        }
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// Waits (up to `within`) for `q` to return data; returns it.
    pub fn until_data(&self, q: &str, within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let r = self.query(q);
            if !r.is_empty() {
                return r;
            }
            if Instant::now() > deadline {
                panic!(
                    "no data for {q:?} within {within:?}; targets: {}",
                    self.targets()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The scrape targets and their health, for failure messages.
    pub fn targets(&self) -> String {
        self.http
            .get(&self.addr, "localhost", "/api/v1/targets?state=active")
            .text()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.path().join("prometheus.log"));
            eprintln!("--- prometheus log:\n{}", log.unwrap_or_default());
        }
    }
}

/// `q` for a URL's query string: every byte but unreserved ones as `%XX`.
fn percent(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
