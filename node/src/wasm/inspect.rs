//! Telling what kind of workload a WebAssembly binary is, from its imports and exports.
//!
//! A pod's artifact decides how the node runs it: an HTTP handler gets a fresh instance per
//! request behind the router, a command runs `main` to completion, a WASI preview 1 module
//! runs `_start`. [`inspect`] compiles the binary once, reads its type and keeps the
//! compiled result, so that whatever is wrong with an artifact is found (and said plainly)
//! before a pod is started with it.
//!
//! Components and core modules share a preamble: the magic `\0asm`, then a 16-bit version
//! and a 16-bit layer (0 for a core module, 1 for a component). The layer decides which of
//! wasmtime's compilers to call, so each failure gets that compiler's own message.

use std::collections::BTreeSet;
use std::fmt;

use wasmtime::component::Component;
use wasmtime::{Engine, ExternType, Module};

use crate::Error;

/// The interface an HTTP handler exports (any 0.2.x version).
const HTTP_HANDLER: &str = "wasi:http/incoming-handler";
/// The interface a command exports (any 0.2.x version).
const CLI_RUN: &str = "wasi:cli/run";
/// The interface an HTTP filter exports (any 0.1.x version).
const HTTP_FILTER: &str = "skiff:http-filter/filter";
/// The interface an admission policy exports (any 0.1.x version).
const ADMISSION_POLICY: &str = "skiff:admission/policy";
/// The only import module a preview 1 module may use.
const PREVIEW1: &str = "wasi_snapshot_preview1";

/// How Skiff runs a binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkloadKind {
    /// A component exporting `wasi:http/incoming-handler@0.2.x`: serves requests.
    HttpHandler,
    /// A component exporting `wasi:cli/run@0.2.x`: runs to completion.
    Command,
    /// A core module (wasm32-wasip1) importing `wasi_snapshot_preview1` and exporting
    /// `_start`: runs to completion.
    Preview1Module,
    /// A component exporting `skiff:http-filter/filter@0.1.x`: a router plugin.
    HttpFilter,
    /// A component exporting `skiff:admission/policy@0.1.x`: an API server plugin.
    AdmissionPolicy,
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::HttpHandler => "HTTP handler (wasi:http/incoming-handler@0.2)",
            Self::Command => "command (wasi:cli/run@0.2)",
            Self::Preview1Module => "WASI preview 1 module (_start)",
            Self::HttpFilter => "HTTP filter (skiff:http-filter/filter@0.1)",
            Self::AdmissionPolicy => "admission policy (skiff:admission/policy@0.1)",
        })
    }
}

/// An inspected binary: its kind, with the compiled artifact to instantiate it from.
#[derive(Clone)]
pub enum Workload {
    /// See [`WorkloadKind::HttpHandler`].
    HttpHandler(Component),
    /// See [`WorkloadKind::Command`].
    Command(Component),
    /// See [`WorkloadKind::Preview1Module`].
    Preview1Module(Module),
    /// See [`WorkloadKind::HttpFilter`].
    HttpFilter(Component),
    /// See [`WorkloadKind::AdmissionPolicy`].
    AdmissionPolicy(Component),
}

impl Workload {
    /// How Skiff runs it.
    pub fn kind(&self) -> WorkloadKind {
        match self {
            Self::HttpHandler(_) => WorkloadKind::HttpHandler,
            Self::Command(_) => WorkloadKind::Command,
            Self::Preview1Module(_) => WorkloadKind::Preview1Module,
            Self::HttpFilter(_) => WorkloadKind::HttpFilter,
            Self::AdmissionPolicy(_) => WorkloadKind::AdmissionPolicy,
        }
    }

    /// The component, unless it is a core module.
    pub fn component(&self) -> Option<&Component> {
        match self {
            Self::HttpHandler(c)
            | Self::Command(c)
            | Self::HttpFilter(c)
            | Self::AdmissionPolicy(c) => Some(c),
            Self::Preview1Module(_) => None,
        }
    }
}

impl fmt::Debug for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Workload").field(&self.kind()).finish()
    }
}

/// Compiles `bytes` with `engine` and decides which kind of workload it is.
///
/// A component that exports both an HTTP handler and `wasi:cli/run` (a `wasm32-wasip2` binary
/// with a `main` that also exports a handler) is an HTTP handler: it was built to serve.
/// A core module with no imports at all but a `_start` counts as a preview 1 module, since
/// it runs the same way.
///
/// # Errors
///
/// [`Error::InvalidComponent`] if the bytes are not WebAssembly wasmtime accepts (with
/// wasmtime's message), [`Error::UnsupportedWorld`] if they are but export none of the
/// worlds Skiff runs (with what they export instead).
pub fn inspect(engine: &Engine, bytes: &[u8]) -> Result<Workload, Error> {
    match layer(bytes)? {
        Layer::Component => inspect_component(engine, bytes),
        Layer::CoreModule => inspect_module(engine, bytes),
    }
}

/// The two kinds of WebAssembly binary.
enum Layer {
    CoreModule,
    Component,
}

/// Reads the preamble, with a message for each way it can be wrong.
fn layer(bytes: &[u8]) -> Result<Layer, Error> {
    let invalid = |reason: String| Error::InvalidComponent { reason };
    if bytes.is_empty() {
        return Err(invalid("the file is empty".to_owned()));
    }
    if Engine::detect_precompiled(bytes).is_some() {
        return Err(invalid(
            "this is a precompiled wasmtime artifact (.cwasm), not WebAssembly: \
             give the .wasm it was compiled from"
                .to_owned(),
        ));
    }
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(64)]);
    let text = text.trim_start();
    if text.starts_with("(module") || text.starts_with("(component") {
        return Err(invalid(
            "this is WebAssembly text (.wat), not a binary: \
             convert it first (`wasm-tools parse app.wat -o app.wasm`)"
                .to_owned(),
        ));
    }
    let Some((preamble, _)) = bytes.split_first_chunk::<8>() else {
        return Err(invalid(format!(
            "{} bytes is too short for a WebAssembly header (8 bytes)",
            bytes.len()
        )));
    };
    if &preamble[..4] != b"\0asm" {
        return Err(invalid(format!(
            "it does not start with the WebAssembly magic `\\0asm` (its first bytes are {})",
            hex(&preamble[..])
        )));
    }
    let layer = u16::from_le_bytes([preamble[6], preamble[7]]);
    match layer {
        0 => Ok(Layer::CoreModule),
        1 => Ok(Layer::Component),
        other => Err(invalid(format!(
            "unknown WebAssembly layer {other} in its header (0 is a core module, 1 a component)"
        ))),
    }
}

fn inspect_component(engine: &Engine, bytes: &[u8]) -> Result<Workload, Error> {
    let component = Component::new(engine, bytes).map_err(|err| Error::InvalidComponent {
        reason: format!("wasmtime rejected the component: {err:#}"),
    })?;
    classify_component(engine, component)
}

/// The kind of a compiled component (e.g. one loaded from the compile cache).
pub fn classify_component(engine: &Engine, component: Component) -> Result<Workload, Error> {
    let exports: Vec<String> = component
        .component_type()
        .exports(engine)
        .map(|(name, _item)| name.to_owned())
        .collect();
    let exports_02 = |interface| exports.iter().any(|name| is_wasi_02(name, interface));
    if exports_02(HTTP_HANDLER) {
        Ok(Workload::HttpHandler(component))
    } else if exports_02(CLI_RUN) {
        Ok(Workload::Command(component))
    } else if exports.iter().any(|n| is_version(n, HTTP_FILTER, "0.1")) {
        Ok(Workload::HttpFilter(component))
    } else if exports
        .iter()
        .any(|n| is_version(n, ADMISSION_POLICY, "0.1"))
    {
        Ok(Workload::AdmissionPolicy(component))
    } else {
        Err(Error::UnsupportedWorld {
            subject: "the component",
            problem: format!(
                "it exports none of {HTTP_HANDLER}@0.2.x, {CLI_RUN}@0.2.x, {HTTP_FILTER}@0.1.x, {ADMISSION_POLICY}@0.1.x"
            ),
            exports,
        })
    }
}

fn inspect_module(engine: &Engine, bytes: &[u8]) -> Result<Workload, Error> {
    let module = Module::new(engine, bytes).map_err(|err| Error::InvalidComponent {
        reason: format!("wasmtime rejected the core module: {err:#}"),
    })?;
    classify_module(module)
}

/// The kind of a compiled core module (e.g. one loaded from the compile cache).
pub fn classify_module(module: Module) -> Result<Workload, Error> {
    let exports: Vec<String> = module.exports().map(|e| e.name().to_owned()).collect();
    let unsupported = |problem: String| Error::UnsupportedWorld {
        subject: "the core module",
        problem,
        exports: exports.clone(),
    };

    let foreign: BTreeSet<&str> = module
        .imports()
        .map(|import| import.module())
        .filter(|name| *name != PREVIEW1)
        .collect();
    if !foreign.is_empty() {
        let foreign: Vec<&str> = foreign.into_iter().collect();
        return Err(unsupported(format!(
            "it imports from [{}], and a node provides only {PREVIEW1}",
            foreign.join(", ")
        )));
    }
    match module.get_export("_start") {
        Some(ExternType::Func(func)) if func.params().len() == 0 && func.results().len() == 0 => {
            Ok(Workload::Preview1Module(module))
        }
        Some(_) => Err(unsupported(
            "its `_start` export is not a function taking and returning nothing".to_owned(),
        )),
        None => Err(unsupported(
            "it exports no `_start` function (a wasm32-wasip1 command has one; \
             a library or reactor does not)"
                .to_owned(),
        )),
    }
}

/// Whether an export name is `interface@0.2.<patch>` (a released WASI 0.2 version, not a
/// release candidate, whose names differ).
fn is_wasi_02(name: &str, interface: &str) -> bool {
    is_version(name, interface, "0.2")
}

/// Whether an export name is `interface@<minor>.<patch>` with a numeric patch.
fn is_version(name: &str, interface: &str, minor: &str) -> bool {
    name.split_once('@').is_some_and(|(exported, version)| {
        exported == interface
            && version
                .strip_prefix(minor)
                .and_then(|v| v.strip_prefix('.'))
                .is_some_and(|patch| !patch.is_empty() && patch.bytes().all(|b| b.is_ascii_digit()))
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A core module from its sections, each `(id, contents)`.
    fn module(sections: &[(u8, Vec<u8>)]) -> Vec<u8> {
        let mut bytes = b"\0asm\x01\0\0\0".to_vec();
        for (id, contents) in sections {
            bytes.push(*id);
            bytes.push(u8::try_from(contents.len()).expect("test sections are short"));
            bytes.extend_from_slice(contents);
        }
        bytes
    }

    /// A length-prefixed name.
    fn name(text: &str) -> Vec<u8> {
        let mut bytes = vec![u8::try_from(text.len()).expect("test names are short")];
        bytes.extend_from_slice(text.as_bytes());
        bytes
    }

    /// A module with one function of type `ty` (0: `() -> ()`, 1: `(i32) -> ()`) exported
    /// as `export`, and one imported function `module.field` of type 1 if given.
    fn one_function(import: Option<(&str, &str)>, ty: u8, export: &str) -> Vec<u8> {
        let types = vec![0x02, 0x60, 0x00, 0x00, 0x60, 0x01, 0x7f, 0x00];
        let mut sections = vec![(1, types)];
        let mut function_index = 0;
        if let Some((module_name, field)) = import {
            let mut imports = vec![0x01];
            imports.extend(name(module_name));
            imports.extend(name(field));
            imports.extend([0x00, 0x01]);
            sections.push((2, imports));
            function_index = 1;
        }
        sections.push((3, vec![0x01, ty]));
        let mut exports = vec![0x01];
        exports.extend(name(export));
        exports.extend([0x00, function_index]);
        sections.push((7, exports));
        // One body: no locals; `end`, or `local.get 0; drop; end` for the (i32) type.
        let body = if ty == 0 {
            vec![0x01, 0x02, 0x00, 0x0b]
        } else {
            vec![0x01, 0x05, 0x00, 0x20, 0x00, 0x1a, 0x0b]
        };
        sections.push((10, body));
        module(&sections)
    }

    fn invalid_reason(bytes: &[u8]) -> String {
        match inspect(&Engine::default(), bytes) {
            Err(Error::InvalidComponent { reason }) => reason,
            other => panic!("expected InvalidComponent, got {other:?}"),
        }
    }

    fn unsupported(bytes: &[u8]) -> (String, Vec<String>) {
        match inspect(&Engine::default(), bytes) {
            Err(Error::UnsupportedWorld {
                problem, exports, ..
            }) => (problem, exports),
            other => panic!("expected UnsupportedWorld, got {other:?}"),
        }
    }

    #[test]
    fn empty_bytes_are_invalid() {
        assert!(invalid_reason(b"").contains("empty"));
    }

    #[test]
    fn garbage_is_invalid_and_shown() {
        let reason = invalid_reason(b"hello, world");
        assert!(reason.contains("magic"), "{reason}");
        assert!(reason.contains("68 65 6c 6c"), "{reason}");
        assert!(invalid_reason(b"\0as").contains("too short"));
    }

    #[test]
    fn text_format_is_recognised() {
        assert!(invalid_reason(b"  (module (func))").contains(".wat"));
    }

    #[test]
    fn unknown_layer_is_invalid() {
        assert!(invalid_reason(b"\0asm\x01\0\x07\0").contains("layer 7"));
    }

    #[test]
    fn wasmtime_errors_are_passed_on() {
        // A valid preamble, then a section id that does not exist.
        let reason = invalid_reason(b"\0asm\x01\0\0\0\x7f\x00");
        assert!(
            reason.starts_with("wasmtime rejected the core module: "),
            "{reason}"
        );
        let reason = invalid_reason(b"\0asm\x0d\0\x01\0\x7f\x00");
        assert!(
            reason.starts_with("wasmtime rejected the component: "),
            "{reason}"
        );
    }

    #[test]
    fn precompiled_artifacts_are_named() {
        let engine = Engine::default();
        let cwasm = engine
            .precompile_module(&one_function(None, 0, "_start"))
            .expect("a minimal module compiles");
        assert!(invalid_reason(&cwasm).contains("precompiled"));
    }

    #[test]
    fn preview1_command_is_recognised() {
        let bytes = one_function(Some((PREVIEW1, "proc_exit")), 0, "_start");
        let workload = inspect(&Engine::default(), &bytes).expect("a preview 1 command");
        assert_eq!(workload.kind(), WorkloadKind::Preview1Module);
        // No imports at all runs the same way.
        let bytes = one_function(None, 0, "_start");
        let workload = inspect(&Engine::default(), &bytes).expect("a module with _start");
        assert_eq!(workload.kind(), WorkloadKind::Preview1Module);
    }

    #[test]
    fn core_module_without_start_lists_its_exports() {
        let (problem, exports) =
            unsupported(&one_function(Some((PREVIEW1, "proc_exit")), 0, "main"));
        assert!(problem.contains("no `_start`"), "{problem}");
        assert_eq!(exports, ["main"]);
    }

    #[test]
    fn start_of_the_wrong_type_is_unsupported() {
        let (problem, _) = unsupported(&one_function(None, 1, "_start"));
        assert!(
            problem.contains("not a function taking and returning nothing"),
            "{problem}"
        );
    }

    #[test]
    fn foreign_imports_are_named() {
        let (problem, _) = unsupported(&one_function(Some(("env", "abort")), 0, "_start"));
        assert!(problem.contains("[env]"), "{problem}");
        let (problem, _) = unsupported(&one_function(
            Some(("wasi_unstable", "proc_exit")),
            0,
            "_start",
        ));
        assert!(problem.contains("[wasi_unstable]"), "{problem}");
    }

    #[test]
    fn empty_component_is_unsupported() {
        let (problem, exports) = unsupported(b"\0asm\x0d\0\x01\0");
        assert!(problem.contains("exports none of"), "{problem}");
        assert!(exports.is_empty());
        let message = Error::UnsupportedWorld {
            subject: "the component",
            problem,
            exports,
        }
        .to_string();
        assert!(
            message.contains("wasi:http/incoming-handler@0.2.x"),
            "{message}"
        );
    }

    #[test]
    fn only_released_wasi_02_versions_match() {
        assert!(is_wasi_02("wasi:http/incoming-handler@0.2.0", HTTP_HANDLER));
        assert!(is_wasi_02(
            "wasi:http/incoming-handler@0.2.12",
            HTTP_HANDLER
        ));
        assert!(is_wasi_02("wasi:cli/run@0.2.3", CLI_RUN));
        assert!(!is_wasi_02(
            "wasi:http/incoming-handler@0.3.0",
            HTTP_HANDLER
        ));
        assert!(!is_wasi_02(
            "wasi:http/incoming-handler@0.2.0-rc-2023-12-05",
            HTTP_HANDLER
        ));
        assert!(!is_wasi_02("wasi:http/incoming-handler", HTTP_HANDLER));
        assert!(!is_wasi_02("wasi:cli/run@0.2.0", HTTP_HANDLER));
    }
}
