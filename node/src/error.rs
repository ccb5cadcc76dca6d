//! The node agent's errors: one enum, each variant naming the stage that failed and carrying
//! what a user needs to fix it (what wasmtime said, what the binary exports).

/// The kinds of workload Skiff runs, as a user should read them in an error.
const SUPPORTED: &str = "Skiff runs components that export wasi:http/incoming-handler@0.2.x \
    (HTTP handlers) or wasi:cli/run@0.2.x (commands), and wasm32-wasip1 core modules that \
    import only wasi_snapshot_preview1 and export `_start`";

/// Everything that can go wrong in the node agent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a WebAssembly component or core module that wasmtime accepts.
    #[error("not a valid WebAssembly component or module: {reason}")]
    InvalidComponent {
        /// Why: the header that was wrong, or wasmtime's own message.
        reason: String,
    },

    /// Valid WebAssembly, but not in a world Skiff knows how to run.
    #[error(
        "{subject} is not a workload Skiff can run: {problem} (its exports: [{}]). {SUPPORTED}",
        .exports.join(", ")
    )]
    UnsupportedWorld {
        /// "the component" or "the core module".
        subject: &'static str,
        /// What is wrong with it, in a sentence.
        problem: String,
        /// The names it exports, so the user sees what it offers instead.
        exports: Vec<String>,
    },

    /// The wasmtime engine could not be set up (pool sizes the machine cannot reserve).
    #[error("the Wasm engine: {reason}")]
    Engine { reason: String },

    /// An artifact's bytes do not have the digest the pod names.
    #[error(
        "artifact bytes have digest sha256:{actual}, not the expected sha256:{expected}; fetch it again"
    )]
    DigestMismatch { expected: String, actual: String },

    /// The log asked for does not exist (yet).
    #[error("{what}")]
    LogNotFound { what: String },

    /// A file or folder of the node could not be read or written.
    #[error("{what} {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        what: String,
        #[source]
        source: std::io::Error,
    },

    /// A volume could not be given to the guest.
    #[error("volume {path}: {reason}")]
    Volume {
        path: std::path::PathBuf,
        reason: String,
    },

    /// The workload cannot be run this way.
    #[error("{reason}")]
    NotRunnable { reason: String },

    /// The control plane could not be reached, or refused what the agent sent.
    #[error("control plane: {reason}")]
    ControlPlane { reason: String },
}
