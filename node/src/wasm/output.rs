//! Where a guest's stdout or stderr goes: a pod's log ([`crate::logs::LogSink`]) on a
//! node, a plain file in tests and tools.

use std::fs::File;
use std::sync::Arc;

use wasmtime_wasi::cli::{IsTerminal, OutputFile, StdoutStream};
use wasmtime_wasi::p2::OutputStream;

/// One of a guest's output streams; cheap to clone (every instance of an HTTP handler gets
/// a clone).
#[derive(Clone)]
pub struct Output(Arc<dyn StdoutStream + Sync>);

impl Output {
    pub fn new(stream: impl StdoutStream + Sync + 'static) -> Output {
        Output(Arc::new(stream))
    }

    /// This process's stderr (plugins' log records on a node or a member).
    pub fn stderr() -> Output {
        Output::new(wasmtime_wasi::cli::stderr())
    }
}

impl From<File> for Output {
    fn from(f: File) -> Output {
        Output::new(OutputFile::new(f))
    }
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Output")
    }
}

impl IsTerminal for Output {
    fn is_terminal(&self) -> bool {
        self.0.is_terminal()
    }
}

impl StdoutStream for Output {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        self.0.p2_stream()
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        self.0.async_stream()
    }
}
