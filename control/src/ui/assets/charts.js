// Charts where people look rather than read: CPU and memory over the last minutes, sampled
// from metrics.k8s.io (what `kubectl top` reads) while the page is open, and each route's
// request rate and latency (from the routers' counts), drawn as inline SVG; and a
// rollout's progress as bars.

import { api } from "./api.js";
import { bytes, el } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
/// Samples kept per series: 5 minutes at one every 5 s.
const KEEP = 60;

// A Kubernetes quantity as a number: CPU in cores ("250m", "12345n"), memory in bytes.
export function quantity(q) {
  const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(q || "");
  if (!m) return 0;
  const scale = { n: 1e-9, u: 1e-6, m: 1e-3, "": 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };
  return Number(m[1]) * (scale[m[2]] ?? 1);
}

export const cores = (c) => (c < 1 ? `${Math.round(c * 1000)}m` : `${Math.round(c * 100) / 100}`);

// A sparkline of `values` (newest last), scaled to its own maximum.
export function sparkline(values, label, w = 160, h = 32) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("width", w);
  svg.setAttribute("height", h);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  const max = Math.max(...values, 1e-12);
  const pts = (values.length === 1 ? [values[0], values[0]] : values).map((v, i, all) =>
    `${((i / Math.max(1, all.length - 1)) * (w - 2) + 1).toFixed(1)},${(h - 1 - (v / max) * (h - 2)).toFixed(1)}`);
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("points", pts.join(" "));
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "currentColor");
  line.setAttribute("stroke-width", "1.5");
  svg.append(line);
  return svg;
}

// Polls `path` (a metrics.k8s.io list or object) every `every` ms, keeping each item's
// CPU (cores) and memory (bytes) history; `changed(histories, latest)` after each sample
// (`latest`: each item as last read, by the same key).
export function sample(path, changed, failed, every = 5000) {
  const history = new Map();
  const latest = new Map();
  return poll(path, (body) => {
    const seen = new Set();
    for (const item of body.items || [body]) {
      const use = item.usage
        ? { cpu: quantity(item.usage.cpu), memory: quantity(item.usage.memory) }
        : (item.containers || []).reduce((sum, c) => ({
          cpu: sum.cpu + quantity((c.usage || {}).cpu),
          memory: sum.memory + quantity((c.usage || {}).memory),
        }), { cpu: 0, memory: 0 });
      const key = item.metadata.namespace ? `${item.metadata.namespace}/${item.metadata.name}` : item.metadata.name;
      keep(history, key, use);
      latest.set(key, item);
      seen.add(key);
    }
    // A node or pod that left the answer (gone, or not answering) leaves the table.
    if (body.items) {
      for (const key of [...history.keys()]) {
        if (!seen.has(key)) {
          history.delete(key);
          latest.delete(key);
        }
      }
    }
    changed(history, latest);
  }, failed, every);
}

// Calls `each(answer)` with `path`'s answer now and every `every` ms after, and
// `failed(error)` when that fails; returns a function that stops it.
export function poll(path, each, failed, every) {
  let timer = 0;
  let stopped = false;
  const tick = async () => {
    try {
      each(await (await api(path)).json());
    } catch (e) {
      if (failed) failed(e);
    }
    if (!stopped) timer = setTimeout(tick, every);
  };
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}

// Adds `value` to `key`'s history in `history`, keeping the last KEEP.
function keep(history, key, value) {
  const h = history.get(key) || [];
  h.push(value);
  if (h.length > KEEP) h.shift();
  history.set(key, h);
}

// Table rows for `history`: name, the cells `more(name)` gives, CPU now and over time,
// memory now and over time.
export function usageRows(history, more = () => []) {
  return [...history.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, h]) => {
    const now = h[h.length - 1];
    return el("tr", {},
      el("td", {}, name), ...more(name).map((c) => el("td", {}, c)),
      el("td", {}, cores(now.cpu)), el("td", { class: "chart" }, sparkline(h.map((x) => x.cpu), `CPU of ${name}, last ${h.length} samples`)),
      el("td", {}, bytes(String(Math.round(now.memory)))), el("td", { class: "chart" }, sparkline(h.map((x) => x.memory), `Memory of ${name}, last ${h.length} samples`)));
  });
}

export const USAGE_HEADS = ["", "CPU", "CPU, last minutes", "Memory", "Memory, last minutes"];

// The latency (ms) under which a share `q` of `n` requests were answered, from per-bucket
// counts: a bucket's upper bound; past the last bound, Infinity.
function quantile(buckets, bounds, n, q) {
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    seen += buckets[i];
    if (seen >= q * n) return i < bounds.length ? bounds[i] : Infinity;
  }
  return Infinity;
}

// A latency from `quantile` as the table shows it.
const latency = (ms, bounds) => (ms === Infinity ? `> ${bounds[bounds.length - 1]} ms` : `≤ ${ms} ms`);

// Polls `/ui/routes` every `every` ms: each route's requests/s, errors and p50/p99
// latency between two samples (summed over every node's router); `changed(histories)`
// after each.
export function sampleRoutes(changed, failed, every = 5000) {
  const history = new Map();
  let last = new Map();
  let unreachable = "";
  return poll("/ui/routes", (body) => {
    // Sums over other nodes than last time are no base to count from.
    const now = (body.unreachable || []).map((u) => u.split(":")[0]).sort().join(" ");
    if (now !== unreachable) last = new Map();
    unreachable = now;
    for (const r of body.routes) {
      const key = `${r.kind.toLowerCase()}/${r.namespace}/${r.name}`;
      const before = last.get(key);
      last.set(key, { at: body.unixMillis, r });
      if (!before || body.unixMillis <= before.at) continue;
      const n = Math.max(0, r.requests - before.r.requests);
      const buckets = r.latencyBuckets.map((b, i) => Math.max(0, b - (before.r.latencyBuckets[i] || 0)));
      keep(history, key, {
        rate: n / ((body.unixMillis - before.at) / 1000),
        errors: Math.max(0, r.errors - before.r.errors),
        p50: n ? quantile(buckets, r.latencyBoundsMillis, n, 0.5) : 0,
        p99: n ? quantile(buckets, r.latencyBoundsMillis, n, 0.99) : 0,
        bounds: r.latencyBoundsMillis,
      });
    }
    changed(history);
  }, failed, every);
}

// Table rows for routes' `history`: requests/s, errors, p50 and p99 now and over time.
export function routeRows(history) {
  return [...history.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, h]) => {
    const now = h[h.length - 1];
    const rate = now.rate < 10 ? now.rate.toFixed(1) : String(Math.round(now.rate));
    return el("tr", {},
      el("td", {}, name),
      el("td", {}, rate), el("td", { class: "chart" }, sparkline(h.map((x) => x.rate), `Requests per second to ${name}, last ${h.length} samples`)),
      el("td", { class: now.errors ? "bad" : "" }, String(now.errors)),
      el("td", {}, latency(now.p50, now.bounds)),
      el("td", {}, latency(now.p99, now.bounds)),
      el("td", { class: "chart" }, sparkline(h.map((x) => Math.min(x.p99, 2 * x.bounds[x.bounds.length - 1])), `p99 latency of ${name}, last ${h.length} samples`)));
  });
}

export const ROUTE_HEADS = ["Route", "Requests/s", "Requests/s, last minutes", "Errors", "p50", "p99", "p99, last minutes"];

// A Deployment's rollout: how many pods run the newest template, and how many are ready.
export function rollout(d) {
  const want = (d.spec && d.spec.replicas) ?? 1;
  const st = d.status || {};
  const bar = (label, n, id) => el("div", { class: "bar" }, el("label", { for: id }, `${label}: ${n}/${want}`),
    el("progress", { id, max: String(Math.max(want, 1)), value: String(Math.min(n, Math.max(want, 1))) }));
  return el("div", { id: "rollout" }, bar("Up to date", st.updatedReplicas || 0, "rollout-updated"), bar("Ready", st.readyReplicas || 0, "rollout-ready"));
}
