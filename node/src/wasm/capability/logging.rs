//! `wasi:logging`: a guest's log records, one line each in the pod's log (its stderr
//! stream): `LEVEL context: message`, or `LEVEL message` without a context.

use tokio::io::AsyncWriteExt;
use wasmtime::component::Linker;
use wasmtime_wasi::cli::StdoutStream;

use super::bindings::wasi::logging::logging::{self, Level};
use super::{CapabilityCtxView, CapabilityView, HasCapabilities};

/// The line a record becomes (its message's own line breaks kept apart, so every line
/// of the log is one record's).
pub(super) fn line(level: Level, context: &str, message: &str) -> String {
    let level = match level {
        Level::Trace => "TRACE",
        Level::Debug => "DEBUG",
        Level::Info => "INFO",
        Level::Warn => "WARN",
        Level::Error => "ERROR",
        Level::Critical => "CRITICAL",
    };
    let message = message.trim_end().replace('\n', "\n  ");
    match context {
        "" => format!("{level} {message}\n"),
        c => format!("{level} {c}: {message}\n"),
    }
}

impl logging::Host for CapabilityCtxView<'_> {
    async fn log(
        &mut self,
        level: Level,
        context: String,
        message: String,
    ) -> wasmtime::Result<()> {
        let mut out = Box::into_pin(self.ctx.log.async_stream());
        // A log that cannot be written loses the line, as a full stderr would; the guest
        // goes on.
        let _ = out
            .write_all(line(level, &context, &message).as_bytes())
            .await;
        let _ = out.flush().await;
        Ok(())
    }
}

pub fn add_to_linker<T: CapabilityView + 'static>(l: &mut Linker<T>) -> wasmtime::Result<()> {
    logging::add_to_linker::<T, HasCapabilities>(l, T::capabilities)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_one_line_with_its_level_and_context() {
        assert_eq!(line(Level::Info, "db", "ready"), "INFO db: ready\n");
        assert_eq!(line(Level::Warn, "", "slow\n"), "WARN slow\n");
        assert_eq!(line(Level::Error, "x", "a\nb"), "ERROR x: a\n  b\n");
    }
}
