//! A linearizability checker for one key's history: the Wing–Gong–Lowe search with
//! memoization of (operations linearized, model state), as porcupine implements it.
//! (Stateright's tester was tried first: it explores interleavings without memoization,
//! and on these histories, hundreds of calls per key with some outcomes unknown, it did
//! not finish in ten minutes.)
//!
//! The calls and returns form a list in time order. The search walks it: at a call it
//! tries to linearize that operation now (the model must give the answer it returned),
//! lifting its call and return out of the list; at a return whose operation is not yet
//! linearized it backtracks. A state already explored is not explored again. A call whose
//! outcome is unknown returns at the end of time with any answer, so it may take effect
//! anywhere after it was invoked, or never visibly.

use std::collections::HashSet;

use super::model::{Call, Register};

#[derive(Clone, Copy)]
struct Node {
    prev: usize,
    next: usize,
    op: usize,
    is_call: bool,
    /// For a call: the node of its return.
    ret: usize,
}

/// How many steps a search may take before it gives up (a few seconds).
pub const BUDGET: u64 = 4_000_000;

/// Takes node `i` out of the list (it keeps its links, to come back).
fn unlink(nodes: &mut [Node], i: usize) {
    let (p, n) = (nodes[i].prev, nodes[i].next);
    nodes[p].next = n;
    nodes[n].prev = p;
}

/// Puts node `i` back where it was.
fn relink(nodes: &mut [Node], i: usize) {
    let (p, n) = (nodes[i].prev, nodes[i].next);
    nodes[p].next = i;
    nodes[n].prev = i;
}

/// Whether `calls` are linearizable against [`Register`]; `None` when the search gave up
/// after `budget` steps (a failing history with many calls of unknown outcome can take
/// exponential time).
pub fn linearizable(calls: &[Call], mut budget: u64) -> Option<bool> {
    // Events: (time order key, is_return, op); returns before calls at the same instant.
    let mut events: Vec<(std::time::Instant, u8, usize)> = Vec::new();
    let end = calls
        .iter()
        .map(|c| c.returned.as_ref().map_or(c.invoked, |r| r.0))
        .max();
    for (i, c) in calls.iter().enumerate() {
        events.push((c.invoked, 1, i));
        let at = match (&c.returned, end) {
            (Some((at, _)), _) => *at,
            // Unknown outcomes return after everything (ties broken below).
            (None, Some(end)) => end,
            (None, None) => c.invoked,
        };
        let order = if c.returned.is_some() { 0 } else { 2 };
        events.push((at, order, i));
    }
    events.sort_by_key(|&(at, order, i)| (at, order, i));
    // Node 0 is the head sentinel; events are nodes 1..=n.
    let n = events.len();
    let mut nodes = vec![
        Node {
            prev: 0,
            next: 0,
            op: usize::MAX,
            is_call: false,
            ret: 0
        };
        n + 2
    ];
    let tail = n + 1;
    let mut ret_node = vec![0usize; calls.len()];
    for (pos, &(_, order, op)) in events.iter().enumerate() {
        let id = pos + 1;
        nodes[id] = Node {
            prev: id - 1,
            next: id + 1,
            op,
            is_call: order == 1,
            ret: 0,
        };
        if order != 1 {
            ret_node[op] = id;
        }
    }
    nodes[0].next = if n == 0 { tail } else { 1 };
    nodes[tail].prev = n;
    for node in nodes.iter_mut().skip(1).take(n) {
        if node.is_call {
            node.ret = ret_node[node.op];
        }
    }
    // A call and its return leave the list together, and come back in reverse order.
    let lift = |nodes: &mut Vec<Node>, c: usize| {
        let r = nodes[c].ret;
        unlink(nodes, c);
        unlink(nodes, r);
    };
    let unlift = |nodes: &mut Vec<Node>, c: usize| {
        let r = nodes[c].ret;
        relink(nodes, r);
        relink(nodes, c);
    };
    let words = calls.len().div_ceil(64);
    let mut linearized = vec![0u64; words];
    let mut seen: HashSet<(Vec<u64>, Register)> = HashSet::new();
    let mut stack: Vec<(usize, Register)> = Vec::new();
    let mut state = Register::default();
    let mut entry = nodes[0].next;
    while nodes[0].next != tail {
        budget = budget.checked_sub(1)?;
        // Nothing left to try at this level, or a return whose call is not linearized:
        // undo the last choice.
        if entry == tail || !nodes[entry].is_call {
            let Some((c, s)) = stack.pop() else {
                return Some(false);
            };
            state = s;
            linearized[nodes[c].op / 64] &= !(1 << (nodes[c].op % 64));
            unlift(&mut nodes, c);
            entry = nodes[c].next;
            continue;
        }
        let node = nodes[entry];
        let call = &calls[node.op];
        let mut next = state.clone();
        let out = next.invoke(&call.op);
        let fits = call.returned.as_ref().is_none_or(|(_, ret)| *ret == out);
        if fits {
            let mut lin = linearized.clone();
            lin[node.op / 64] |= 1 << (node.op % 64);
            if seen.insert((lin.clone(), next.clone())) {
                stack.push((entry, state));
                state = next;
                linearized = lin;
                lift(&mut nodes, entry);
                entry = nodes[0].next;
                continue;
            }
        }
        entry = node.next;
    }
    Some(true)
}
