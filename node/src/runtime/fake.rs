//! An in-memory runtime for the agent's unit tests: images are scripts (`exit:N` ends at
//! once with code N, `serve` runs until stopped, `pull-error` cannot be prepared), and
//! every call is written to a journal the test reads back. The real runtimes are tested
//! against wasmtime and runc in the crate's and the workspace's tests.

use std::any::Any;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use skiff_proto::model::node::{ContainerImage, Runtime};
use tokio::sync::watch;

use super::{
    NotStarted, Outcome, PodRef, Prepared, Pull, Reason, Running, Sandbox, StartSpec,
    WorkloadRuntime,
};

/// What happened, in order: `sandbox UID`, `start CONTAINER`, `stop CONTAINER GRACE`,
/// `remove UID`, `adopt CONTAINER`.
#[derive(Default)]
pub struct Journal(Mutex<Vec<String>>);

impl Journal {
    fn push(&self, what: String) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(what);
    }

    pub fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The fake runtime.
#[derive(Default)]
pub struct FakeRuntime {
    pub journal: Arc<Journal>,
    /// Runs an earlier "agent" left, by container name, for the next sandbox to adopt.
    pub leftover: Mutex<HashMap<String, watch::Sender<Option<i32>>>>,
}

impl FakeRuntime {
    /// Leaves a running run of `container` for the next sandbox to adopt; the sender ends
    /// it with an exit code.
    pub fn leave_running(&self, container: &str) -> watch::Sender<Option<i32>> {
        let (tx, _) = watch::channel(None);
        self.leftover
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(container.to_owned(), tx.clone());
        tx
    }
}

#[tonic::async_trait]
impl WorkloadRuntime for FakeRuntime {
    fn kind(&self) -> Runtime {
        Runtime::Oci
    }

    async fn sandbox(&self, pod: &PodRef) -> Result<Arc<dyn Sandbox>, NotStarted> {
        self.journal.push(format!("sandbox {}", pod.uid));
        let leftover =
            std::mem::take(&mut *self.leftover.lock().unwrap_or_else(|p| p.into_inner()));
        Ok(Arc::new(FakeSandbox {
            uid: pod.uid.clone(),
            journal: self.journal.clone(),
            leftover: Mutex::new(leftover),
        }))
    }

    async fn prepare(&self, image: &str, _pull: &Pull) -> Result<Arc<dyn Prepared>, NotStarted> {
        if image == "pull-error" {
            return Err(NotStarted::new("ErrImagePull", "the registry refused"));
        }
        Ok(Arc::new(FakePrepared {
            image: image.to_owned(),
            journal: self.journal.clone(),
        }))
    }

    fn images(&self) -> Vec<ContainerImage> {
        Vec::new()
    }
}

struct FakeSandbox {
    uid: String,
    journal: Arc<Journal>,
    leftover: Mutex<HashMap<String, watch::Sender<Option<i32>>>>,
}

#[tonic::async_trait]
impl Sandbox for FakeSandbox {
    fn ip(&self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 88, 0, 2))
    }

    async fn adopt(&self, container: &str) -> Option<Box<dyn Running>> {
        let tx = self
            .leftover
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(container)?;
        self.journal.push(format!("adopt {container}"));
        Some(Box::new(FakeRun {
            container: container.to_owned(),
            exit: tx.subscribe(),
            journal: self.journal.clone(),
        }))
    }

    async fn remove(&self) {
        self.journal.push(format!("remove {}", self.uid));
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

struct FakePrepared {
    image: String,
    journal: Arc<Journal>,
}

#[tonic::async_trait]
impl Prepared for FakePrepared {
    async fn start(
        &self,
        _sandbox: &Arc<dyn Sandbox>,
        container: &str,
        _spec: StartSpec,
    ) -> Result<Box<dyn Running>, NotStarted> {
        self.journal.push(format!("start {container}"));
        let code = match self.image.strip_prefix("exit:") {
            Some(n) => Some(n.parse().map_err(|_| {
                NotStarted::new("InvalidImageName", format!("{}: not exit:N", self.image))
            })?),
            None => None,
        };
        let (_tx, exit) = watch::channel(code);
        Ok(Box::new(FakeRun {
            container: container.to_owned(),
            exit,
            journal: self.journal.clone(),
        }))
    }
}

struct FakeRun {
    container: String,
    /// `Some(code)` once the run has exited.
    exit: watch::Receiver<Option<i32>>,
    journal: Arc<Journal>,
}

#[tonic::async_trait]
impl Running for FakeRun {
    fn address(&self) -> Option<SocketAddr> {
        None
    }

    async fn wait(&mut self) -> Outcome {
        loop {
            if let Some(code) = *self.exit.borrow_and_update() {
                return Outcome::exited(code);
            }
            if self.exit.changed().await.is_err() {
                // Nothing will ever end it but a stop.
                return std::future::pending().await;
            }
        }
    }

    async fn stop(&mut self, grace: Duration) -> Outcome {
        self.journal
            .push(format!("stop {} {}s", self.container, grace.as_secs()));
        Outcome::ended(Reason::Error, 143, "stopped")
    }
}
