//! A network partition between real member processes: each member is reached through a
//! TCP proxy in this process (members advertise the proxy's address), which the test cuts
//! and heals. Cutting the leader's proxy is a one-way partition: it still sends to the
//! others but hears nothing back. Writes to the others go on (the cut-off leader steps
//! down, the others elect a leader), the cut-off member answers no stale read, and once
//! healed every member holds every acknowledged write.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use skiff_proto::grpc::api::{GetRequest, ObjectKey};

use crate::assert_every_member_has;
use crate::failover::create_request;
use crate::support::{Members, client};

/// A TCP proxy to `127.0.0.1:backend` that can be cut (every connection closed, new ones
/// closed at once) and healed.
struct Proxy {
    port: u16,
    cut: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(backend: Arc<Mutex<Option<u16>>>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (c, o) = (cut.clone(), open.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(front) = conn else { return };
                let Some(port) = *backend.lock().unwrap() else {
                    continue;
                };
                if c.load(Ordering::SeqCst) {
                    let _ = front.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(back) = TcpStream::connect(("127.0.0.1", port)) else {
                    continue;
                };
                let mut open = o.lock().unwrap();
                for s in [&front, &back] {
                    if let Ok(s) = s.try_clone() {
                        open.push(s);
                    }
                }
                pump(&front, &back);
                pump(&back, &front);
            }
        });
        Proxy { port, cut, open }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn heal(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

/// Copies what `from` reads to `to` on a thread of its own, until either side closes.
fn pump(from: &TcpStream, to: &TcpStream) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 << 10];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_one_way_steps_down_serves_no_stale_read_and_catches_up() {
    let backends: Vec<Arc<Mutex<Option<u16>>>> = (0..3).map(|_| Arc::default()).collect();
    let proxies: Vec<Proxy> = backends.iter().map(|b| Proxy::start(b.clone())).collect();
    let fronts: Vec<u16> = proxies.iter().map(|p| p.port).collect();
    let m = Members::start_behind(&fronts);
    for (b, port) in backends.iter().zip(&m.ports) {
        *b.lock().unwrap() = Some(*port);
    }
    let old = m.leader(1);
    let port = |id: u64| m.ports[id as usize - 1];
    let others: Vec<u64> = (1..=3).filter(|&i| i != old).collect();

    // The leader hears nothing from here on; clients still reach every member.
    proxies[old as usize - 1].cut();
    let mut c = client(port(others[0])).await;
    let mut acked = Vec::new();
    for i in 0..60 {
        let name = format!("p-{i:03}");
        c.create(create_request(&name, None))
            .await
            .unwrap_or_else(|e| panic!("{name} failed during the partition: {e}"));
        acked.push(name);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let new = m.leader(others[0]);
    assert_ne!(new, old, "the cut-off member still leads");

    // The cut-off member cannot know the latest write, so it may not say it is missing.
    let mut cut_off = client(port(old)).await;
    let mut get = tonic::Request::new(GetRequest {
        key: Some(ObjectKey {
            kind: "ConfigMap".into(),
            namespace: "default".into(),
            name: acked.last().unwrap().clone(),
        }),
        ..Default::default()
    });
    get.set_timeout(Duration::from_secs(2));
    match cut_off.get(get).await {
        Ok(_) => panic!("the cut-off member answered a read it cannot have seen"),
        Err(e) => assert_ne!(e.code(), tonic::Code::NotFound, "a stale read: {e:?}"),
    }

    proxies[old as usize - 1].heal();
    assert_every_member_has(&m.ports, &acked).await;
}
