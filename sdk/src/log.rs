//! Log records through `wasi:logging`: on Skiff, one line each in the pod's log
//! (`skiff logs`), `LEVEL context: message`.
//!
//! ```ignore
//! skiff_sdk::log::info("checkout", &format!("order {id} paid"));
//! ```

use crate::bindings::wasi::logging::logging::{Level, log};

/// A record about a variable's value or the flow of control.
pub fn trace(context: &str, message: &str) {
    log(Level::Trace, context, message);
}

/// A record for whoever debugs the program.
pub fn debug(context: &str, message: &str) {
    log(Level::Debug, context, message);
}

/// A record for whoever watches the program run.
pub fn info(context: &str, message: &str) {
    log(Level::Info, context, message);
}

/// Something hazardous happened.
pub fn warn(context: &str, message: &str) {
    log(Level::Warn, context, message);
}

/// Something failed.
pub fn error(context: &str, message: &str) {
    log(Level::Error, context, message);
}
