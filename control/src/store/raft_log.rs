//! raft-rs logs through `slog`; this drain passes its records on to `tracing` (target
//! `raft`, the member id attached), so elections, conf changes and snapshot installs show
//! up in the member's log beside everything else. Filter with `SKIFF_LOG=raft=warn`.

use std::fmt::Write as _;

use slog::{Drain, Key, Level, OwnedKVList, Record, Serializer};

/// A `slog` drain that emits `tracing` events.
pub struct TracingDrain;

/// Collects a record's key-value pairs as `k=v k=v`.
struct Pairs(String);

impl Serializer for Pairs {
    fn emit_arguments(&mut self, key: Key, val: &std::fmt::Arguments<'_>) -> slog::Result {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        let _ = write!(self.0, "{key}={val}");
        Ok(())
    }
}

impl Drain for TracingDrain {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &Record<'_>, values: &OwnedKVList) -> Result<(), slog::Never> {
        // raft-rs logs every message at debug: format only what tracing will keep.
        macro_rules! emit {
            ($level:expr, $event:ident) => {
                if tracing::enabled!(target: "raft", $level) {
                    let mut pairs = Pairs(String::new());
                    let _ = slog::KV::serialize(&record.kv(), record, &mut pairs);
                    let _ = slog::KV::serialize(values, record, &mut pairs);
                    let kv = pairs.0;
                    tracing::$event!(target: "raft", %kv, "{}", record.msg());
                }
            };
        }
        match record.level() {
            Level::Critical | Level::Error => emit!(tracing::Level::ERROR, error),
            Level::Warning => emit!(tracing::Level::WARN, warn),
            Level::Info => emit!(tracing::Level::INFO, info),
            Level::Debug => emit!(tracing::Level::DEBUG, debug),
            Level::Trace => emit!(tracing::Level::TRACE, trace),
        }
        Ok(())
    }
}

/// The logger to give raft-rs for member `id`.
pub fn logger(id: u64) -> slog::Logger {
    slog::Logger::root(TracingDrain.fuse(), slog::o!("member" => id))
}
