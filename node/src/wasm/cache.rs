//! Compiling each artifact once: in memory for the agent's life, and on disk across
//! restarts, keyed by the artifact's digest and the engine's compatibility hash (wasmtime
//! version, target, settings), so neither a second pod of the same component nor an agent
//! restart recompiles it.

use std::collections::HashMap;
use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Engine, Module, Precompiled};

use super::inspect::{Workload, classify_component, classify_module, inspect};
use crate::Error;

/// Compiled artifacts by digest.
pub struct CompileCache {
    dir: PathBuf,
    engine: Engine,
    /// The engine's compatibility hash, in every file name.
    engine_key: String,
    memo: Mutex<HashMap<String, Workload>>,
    compilations: AtomicU64,
}

/// The hex sha256 of `bytes`: how an artifact is named.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn io(path: &Path, what: &str, e: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        what: what.to_owned(),
        source: e,
    }
}

impl CompileCache {
    pub fn open(dir: &Path, engine: &Engine) -> Result<CompileCache, Error> {
        fs::create_dir_all(dir).map_err(|e| io(dir, "creating", e))?;
        let mut h = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        Ok(CompileCache {
            dir: dir.to_path_buf(),
            engine: engine.clone(),
            engine_key: format!("{:016x}", h.finish()),
            memo: Mutex::default(),
            compilations: AtomicU64::new(0),
        })
    }

    /// How many artifacts this cache compiled (rather than loaded) since it opened.
    pub fn compilations(&self) -> u64 {
        self.compilations.load(Ordering::Relaxed)
    }

    /// Every artifact compiled for this engine, on disk: `(hex digest, bytes)`.
    pub fn compiled(&self) -> Vec<(String, u64)> {
        let suffix = format!("-{}.cwasm", self.engine_key);
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let digest = name.strip_suffix(&suffix)?.to_owned();
                let size = e.metadata().map(|m| m.len()).unwrap_or(0);
                Some((digest, size))
            })
            .collect()
    }

    fn path(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}-{}.cwasm", self.engine_key))
    }

    /// The workload for `digest` if it was compiled before (in memory or on disk).
    pub fn cached(&self, digest: &str) -> Option<Workload> {
        if let Some(w) = self
            .memo
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(digest)
        {
            return Some(w.clone());
        }
        let w = self.load_compiled(&self.path(digest))?;
        tracing::info!(digest, "loaded from the compile cache on disk");
        self.memo
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest.to_owned(), w.clone());
        Some(w)
    }

    /// The workload for the artifact with sha256 `digest` (hex): from memory, from disk,
    /// or compiled from `bytes()` after checking them against the digest.
    pub fn load(
        &self,
        digest: &str,
        bytes: impl FnOnce() -> Result<Vec<u8>, Error>,
    ) -> Result<Workload, Error> {
        let memo = |w: &Workload| {
            self.memo
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(digest.to_owned(), w.clone());
        };
        if let Some(w) = self
            .memo
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(digest)
        {
            return Ok(w.clone());
        }
        let path = self.path(digest);
        if let Some(w) = self.load_compiled(&path) {
            tracing::info!(digest, "loaded from the compile cache on disk");
            memo(&w);
            return Ok(w);
        }
        let bytes = bytes()?;
        let actual = sha256_hex(&bytes);
        if actual != digest {
            return Err(Error::DigestMismatch {
                expected: digest.to_owned(),
                actual,
            });
        }
        let began = std::time::Instant::now();
        let w = inspect(&self.engine, &bytes)?;
        self.compilations.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            digest,
            bytes = bytes.len(),
            ms = began.elapsed().as_millis() as u64,
            "compiled an artifact"
        );
        let serialized = match &w {
            Workload::HttpHandler(c)
            | Workload::Command(c)
            | Workload::HttpFilter(c)
            | Workload::AdmissionPolicy(c) => c.serialize(),
            Workload::Preview1Module(m) => m.serialize(),
        };
        // A cache that cannot be written costs a recompile next time, nothing more.
        match serialized {
            Ok(data) => {
                let tmp = path.with_extension("tmp");
                if let Err(e) = fs::write(&tmp, data).and_then(|()| fs::rename(&tmp, &path)) {
                    tracing::warn!(path = %path.display(), error = %e, "writing the compile cache");
                }
            }
            Err(e) => tracing::warn!(error = %e, "serializing a compiled artifact"),
        }
        memo(&w);
        Ok(w)
    }

    /// A cached compilation, if there is a usable one.
    fn load_compiled(&self, path: &Path) -> Option<Workload> {
        let kind = Engine::detect_precompiled_file(path).ok().flatten()?;
        // SAFETY: the file was written by `serialize` of this engine's configuration (its
        // name carries the compatibility hash), in a directory only the agent writes;
        // wasmtime checks the header again before using it.
        let loaded = match kind {
            Precompiled::Component => unsafe { Component::deserialize_file(&self.engine, path) }
                .map_err(|e| e.to_string())
                .and_then(|c| classify_component(&self.engine, c).map_err(|e| e.to_string())),
            Precompiled::Module => unsafe { Module::deserialize_file(&self.engine, path) }
                .map_err(|e| e.to_string())
                .and_then(|m| classify_module(m).map_err(|e| e.to_string())),
        };
        match loaded {
            Ok(w) => Some(w),
            Err(why) => {
                tracing::warn!(path = %path.display(), %why, "dropping an unusable compile cache entry");
                let _ = fs::remove_file(path);
                None
            }
        }
    }
}
