//! Host capabilities beyond WASI's basics, each through a standard WASI proposal (WIT in
//! `sdk/wit/`), so a component written for Spin or wasmCloud runs here as it is:
//!
//! - `logging`: `wasi:logging`, into the pod's log; always given.
//! - `config`: `wasi:config`, the keys of the ConfigMaps and Secrets a container's
//!   `wasi.config` names, read when it starts.
//! - `keyvalue`: `wasi:keyvalue` (store, atomics with compare-and-swap, batch; versions
//!   `0.2.0-draft2` as Spin and the SDK import it and `0.2.0-draft` as wasmCloud does)
//!   over the buckets of the pod's namespace that `wasi.keyvalue` grants, kept by a
//!   [`KeyValueStore`] (on a node: the control plane).
//!
//! Each module has its own `add_to_linker` over [`CapabilityView`] (wasmtime's view-trait
//! pattern); [`add_to_linker`] adds them all. Every node links every capability, and
//! [`check`] refuses, before a pod starts, a component that imports one its container
//! was not granted, naming the import.

mod config;
mod keyvalue;
mod logging;

use std::sync::Arc;

use skiff_proto::model::container::KeyValueGrant;
use wasmtime::Engine;
use wasmtime::component::{Component, Linker, ResourceTable};

pub use keyvalue::{KeyValueStore, MemoryStore, Versioned, counter, increment};

use super::output::Output;

pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "../sdk/wit",
        world: "skiff:sdk/host",
        imports: { default: async | trappable },
        with: {
            "wasi:keyvalue/store.bucket": super::keyvalue::Bucket,
            "wasi:keyvalue/atomics.cas": super::keyvalue::Cas,
        },
        trappable_error_type: {
            "wasi:keyvalue/store@0.2.0-draft.error" => super::keyvalue::KvError,
            "wasi:keyvalue/store@0.2.0-draft2.error" => super::keyvalue::KvError,
        },
    });
}

/// What a pod's container was granted (shared by all its instances).
#[derive(Default, Clone)]
pub struct Grants {
    /// `wasi:config`'s values; `None`: not granted.
    pub config: Option<Arc<Vec<(String, String)>>>,
    /// `wasi:keyvalue`; `None`: not granted.
    pub keyvalue: Option<KeyValueAccess>,
}

impl std::fmt::Debug for Grants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grants")
            .field("config", &self.config.as_ref().map(|c| c.len()))
            .field("keyvalue", &self.keyvalue.as_ref().map(|k| &k.grant))
            .finish()
    }
}

/// The buckets a container may open, and where they are kept.
#[derive(Clone)]
pub struct KeyValueAccess {
    pub store: Arc<dyn KeyValueStore>,
    pub grant: KeyValueGrant,
}

/// One instance's capability state: its grants and where its log lines go.
pub struct CapabilityCtx {
    pub grants: Arc<Grants>,
    pub log: Output,
}

/// The view a store's data gives the capabilities: their state and the resource table.
pub struct CapabilityCtxView<'a> {
    pub ctx: &'a CapabilityCtx,
    pub table: &'a mut ResourceTable,
}

/// Implemented by a store's data to give it the capabilities.
pub trait CapabilityView: Send {
    fn capabilities(&mut self) -> CapabilityCtxView<'_>;
}

/// Marks [`CapabilityCtxView`] as what the generated `add_to_linker`s reach.
struct HasCapabilities;

impl wasmtime::component::HasData for HasCapabilities {
    type Data<'a> = CapabilityCtxView<'a>;
}

/// Adds every capability to `linker`.
pub fn add_to_linker<T: CapabilityView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    logging::add_to_linker(linker)?;
    config::add_to_linker(linker)?;
    keyvalue::add_to_linker(linker)?;
    Ok(())
}

/// The capabilities a pod may be granted: the prefix of the imports each satisfies,
/// whether `Grants` give it, and how to grant it.
type Grantable = (&'static str, fn(&Grants) -> bool, &'static str);

const GRANTABLE: [Grantable; 2] = [
    (
        "wasi:config/",
        |g| g.config.is_some(),
        "`wasi: {config: [{configMapRef: {name: NAME}}]}`",
    ),
    (
        "wasi:keyvalue/",
        |g| g.keyvalue.is_some(),
        "`wasi: {keyvalue: {}}`",
    ),
];

/// Refuses `component` if it imports a capability `grants` does not give; the message
/// names the import and how to grant it.
pub fn check(
    engine: &Engine,
    component: &Component,
    grants: &Grants,
    container: &str,
) -> Result<(), String> {
    let ty = component.component_type();
    for (name, _) in ty.imports(engine) {
        for (prefix, granted, how) in GRANTABLE {
            if name.starts_with(prefix) && !granted(grants) {
                return Err(format!(
                    "the component imports {name}, which container {container:?} was not granted; add {how} to the container"
                ));
            }
        }
    }
    Ok(())
}
