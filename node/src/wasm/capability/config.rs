//! `wasi:config`: the values a container's `wasi.config` names (ConfigMaps and Secrets of
//! the pod's namespace, read when the container starts, as `envFrom` is).

use wasmtime::component::Linker;

use super::bindings::wasi::config::store::{self, Error};
use super::{CapabilityCtxView, CapabilityView, HasCapabilities};

impl store::Host for CapabilityCtxView<'_> {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<String>, Error>> {
        let values = self.ctx.grants.config.as_deref().map(Vec::as_slice);
        Ok(Ok(values
            .unwrap_or_default()
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())))
    }

    async fn get_all(&mut self) -> wasmtime::Result<Result<Vec<(String, String)>, Error>> {
        let values = self.ctx.grants.config.as_deref().map(Vec::as_slice);
        Ok(Ok(values.unwrap_or_default().to_vec()))
    }
}

pub fn add_to_linker<T: CapabilityView + 'static>(l: &mut Linker<T>) -> wasmtime::Result<()> {
    store::add_to_linker::<T, HasCapabilities>(l, T::capabilities)
}
