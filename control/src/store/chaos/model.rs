//! The store as the checker sees it: one register per key whose writes carry unique
//! values, with the store's create / put / compare-and-swap / delete / read semantics, and
//! the recorded history of each key checked for linearizability (see `wgl`;
//! linearizability is local, so each key is checked alone). A failing key's history is
//! shrunk to a minimal one that still fails before it is shown.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Instant;

/// An operation on one key. Values are unique per write, so a compare-and-swap on the
/// revision a read returned is one on the value it returned.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Get,
    Create(u64),
    Put(u64),
    Cas { expect: u64, new: u64 },
    Delete,
}

/// What an operation answered.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Ret {
    Ok,
    Value(Option<u64>),
    Exists,
    Missing,
    Mismatch,
}

/// The sequential specification: one key's value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Register(Option<u64>);

impl Register {
    /// Applies `op` and answers as the store must.
    pub fn invoke(&mut self, op: &Op) -> Ret {
        match (op, self.0) {
            (Op::Get, v) => Ret::Value(v),
            (Op::Create(_), Some(_)) => Ret::Exists,
            (Op::Put(_), None) => Ret::Missing,
            (Op::Create(v) | Op::Put(v), _) => {
                self.0 = Some(*v);
                Ret::Ok
            }
            (Op::Cas { .. }, None) | (Op::Delete, None) => Ret::Missing,
            (Op::Cas { expect, new }, Some(cur)) => {
                if cur == *expect {
                    self.0 = Some(*new);
                    Ret::Ok
                } else {
                    Ret::Mismatch
                }
            }
            (Op::Delete, Some(_)) => {
                self.0 = None;
                Ret::Ok
            }
        }
    }
}

/// One recorded operation: who, what, when, and its answer (`None`: unknown outcome).
#[derive(Clone, Debug)]
pub struct Call {
    pub client: u64,
    pub op: Op,
    pub invoked: Instant,
    pub returned: Option<(Instant, Ret)>,
}

/// Every call, by key.
#[derive(Default)]
pub struct History {
    pub by_key: BTreeMap<String, Vec<Call>>,
}

impl History {
    pub fn record(&mut self, key: &str, call: Call) {
        // A read without an answer changes nothing and says nothing.
        if call.op == Op::Get && call.returned.is_none() {
            return;
        }
        self.by_key.entry(key.to_owned()).or_default().push(call);
    }

    pub fn calls(&self) -> usize {
        self.by_key.values().map(Vec::len).sum()
    }

    /// The first key whose history is not linearizable, with a minimal failing history
    /// (or all of it, when the checker gave up on it: then it is reported as such).
    pub fn violation(&self) -> Option<(String, Verdict)> {
        for (key, calls) in &self.by_key {
            match super::wgl::linearizable(calls, super::wgl::BUDGET) {
                Some(true) => {}
                Some(false) => return Some((key.clone(), Verdict::Fails(shrink(calls.clone())))),
                None => return Some((key.clone(), Verdict::GaveUp)),
            }
        }
        None
    }
}

/// Why a key's history is reported.
pub enum Verdict {
    /// Not linearizable: a minimal failing history.
    Fails(Vec<Call>),
    /// The checker ran out of steps: neither proven nor refuted.
    GaveUp,
}

/// Whether `calls` (one key's) are shown not linearizable within a shrinking step's
/// budget (a tenth of a whole check's).
fn fails(calls: &[Call]) -> bool {
    super::wgl::linearizable(calls, super::wgl::BUDGET / 10) == Some(false)
}

/// The shortest failing prefix of the history, then without the reads it can lose and
/// still fail: writes stay, so every value shown has its origin and the state each call
/// saw is the one it had. A prefix is closed: it holds every call invoked before one of
/// its calls returned (those could take effect before it), so its verdict is the whole
/// history's for the calls in it.
fn shrink(mut calls: Vec<Call>) -> Vec<Call> {
    calls.sort_by_key(|c| c.invoked);
    let closed = |mut k: usize| {
        loop {
            let last = calls[..k]
                .iter()
                .filter_map(|c| c.returned.as_ref())
                .map(|r| r.0)
                .max();
            let more = calls[k..]
                .iter()
                .take_while(|c| last.is_some_and(|l| c.invoked < l))
                .count();
            if more == 0 {
                return k;
            }
            k += more;
        }
    };
    // Binary search for a short failing prefix (failing is not quite monotone in the
    // prefix, so this finds a short one, not always the shortest).
    let (mut lo, mut hi) = (1, calls.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if fails(&calls[..closed(mid)]) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let end = closed(lo);
    if fails(&calls[..end]) {
        calls.truncate(end);
    }
    // Then the reads it can lose, a bounded number of tries.
    let mut tries = 200;
    let mut i = 0;
    while i + 1 < calls.len() && tries > 0 {
        if calls[i].op == Op::Get {
            tries -= 1;
            let mut fewer = calls.clone();
            fewer.remove(i);
            if fails(&fewer) {
                calls = fewer;
                continue;
            }
        }
        i += 1;
    }
    calls
}

/// A history as a table: one call per line, times from the first invocation.
pub struct Shown<'a>(pub &'a [Call]);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(start) = self.0.iter().map(|c| c.invoked).min() else {
            return Ok(());
        };
        let ms = |t: Instant| t.duration_since(start).as_secs_f64() * 1e3;
        let mut calls: Vec<&Call> = self.0.iter().collect();
        calls.sort_by_key(|c| c.invoked);
        for c in calls {
            match &c.returned {
                Some((at, ret)) => writeln!(
                    f,
                    "  client {:>3} {:>10.1} .. {:>10.1} ms  {:?} -> {:?}",
                    c.client,
                    ms(c.invoked),
                    ms(*at),
                    c.op,
                    ret
                )?,
                None => writeln!(
                    f,
                    "  client {:>3} {:>10.1} .. ?             {:?} -> unknown",
                    c.client,
                    ms(c.invoked),
                    c.op
                )?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn call(client: u64, op: Op, from: u64, to: Option<(u64, Ret)>) -> Call {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        Call {
            client,
            op,
            invoked: at(from),
            returned: to.map(|(ms, r)| (at(ms), r)),
        }
    }

    #[test]
    fn the_checker_accepts_overlap_and_refuses_a_stale_read() {
        // A write, then a read that overlaps it may see either value...
        let ok = vec![
            call(1, Op::Create(1), 0, Some((10, Ret::Ok))),
            call(1, Op::Put(2), 20, Some((40, Ret::Ok))),
            call(2, Op::Get, 25, Some((30, Ret::Value(Some(1))))),
            call(3, Op::Cas { expect: 2, new: 3 }, 50, None),
            call(2, Op::Get, 60, Some((70, Ret::Value(Some(3))))),
        ];
        assert!(!fails(&ok));
        // ...but a read that starts after the write returned must see it.
        let mut stale = ok.clone();
        stale.push(call(4, Op::Get, 80, Some((90, Ret::Value(Some(2))))));
        assert!(fails(&stale));
        let minimal = shrink(stale);
        let clients: Vec<u64> = minimal.iter().map(|c| c.client).collect();
        assert_eq!(clients, [1, 1, 3, 2, 4], "{}", Shown(&minimal));
    }

    #[test]
    fn an_acknowledged_write_that_vanished_is_found() {
        let h = vec![
            call(1, Op::Create(7), 0, Some((5, Ret::Ok))),
            call(2, Op::Get, 10, Some((12, Ret::Value(None)))),
        ];
        assert!(fails(&h));
    }
}
