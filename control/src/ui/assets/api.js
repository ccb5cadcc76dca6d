// Talking to the member: the session token, REST calls as the logged-in user, and live
// lists (list, then watch from the list's resourceVersion, as client-go's informers do).

const TOKEN_KEY = "skiff-ui-token";

export function token() {
  return localStorage.getItem(TOKEN_KEY);
}

export function setToken(t) {
  if (t) localStorage.setItem(TOKEN_KEY, t);
  else localStorage.removeItem(TOKEN_KEY);
}

export class Unauthorized extends Error {}

// The least time between two redraws of a followed list.
const REDRAW_MS = 250;

// Set by the app: what to do when the session ends mid-way.
let onUnauthorized = () => {};
export function whenUnauthorized(f) {
  onUnauthorized = f;
}

// A call as the logged-in user; a Kubernetes Status (or {message}) becomes the error.
export async function api(path, init = {}) {
  const headers = Object.assign({ accept: "application/json" }, init.headers, { authorization: `Bearer ${token()}` });
  const r = await fetch(path, Object.assign({}, init, { headers }));
  if (r.status === 401) throw new Unauthorized("the session ended");
  if (!r.ok) {
    const s = await r.json().catch(() => ({}));
    const e = new Error(s.message || `${init.method || "GET"} ${path}: HTTP ${r.status}`);
    e.code = r.status;
    throw e;
  }
  return r;
}

// Reads `r`'s body as text lines, calling `line` for each; resolves when it ends.
export async function lines(r, line) {
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      // A chunk holds many lines: split it once rather than cutting a line at a time.
      const parts = (buf + value).split("\n");
      buf = parts.pop();
      for (const l of parts) line(l);
      line(null); // a chunk ended: a good moment to redraw
    }
    if (buf) line(buf);
  } finally {
    // Whatever stopped the reading, the stream (and the server's watch) ends with it.
    reader.cancel().catch(() => {});
  }
}

// Asked for again when a page of a long list has lost this share of its rows.
const REFILL_BELOW = 0.75;

class Refill extends Error {}

// The key a list is ordered by (the API's: namespace, "/", name, compared as strings).
const key = (o) => `${o.metadata.namespace || ""}/${o.metadata.name}`;
const byKey = (a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);

// Lists `path`, then follows its watch; calls `onChange(items, info)` with every new
// state (`info.rows` false when only the count past a partial list changed: the items are
// those of the last call), and `failed(error)` when a list or watch fails (it lists again,
// backing off). Returns a function that stops it.
//
// With `limit`, only the first `limit` objects in the API's order are listed and kept
// (`info.partial`): changes to objects past them only count (`info.total`; at least that
// many when `info.exact` is false), so a list of
// a million objects costs the browser what a page of it does. A page that loses a
// quarter of its rows is listed again.
//
// With `limit` and `recent` (an object's time), the `limit` newest objects are kept: the
// whole list is read (the API orders by name, not time), then every object the watch
// brings, and past `limit` the oldest go.
export function follow(path, onChange, failed, recovered = () => {}, limit = 0, recent = null) {
  const abort = new AbortController();
  const items = new Map();
  // For a long list: the key of the last object kept, and how many there are in all.
  let partial = null;
  // Whether the kept objects changed since the last draw (not only the count past them),
  // and what that draw showed.
  let rows = true;
  let shown = [];
  const draw = () => {
    const info = () => ({ partial: !!partial, total: partial ? partial.total : shown.length, exact: !partial || partial.exact });
    if (!rows) return onChange(shown, { ...info(), rows: false });
    rows = false;
    let all = [...items.values()];
    if (recent && all.length > limit) {
      all.sort((a, b) => recent(b) - recent(a));
      for (const o of all.slice(limit)) items.delete(key(o));
      all = all.slice(0, limit);
    } else if (limit && all.length > limit) {
      partial = partial || { bound: "", total: all.length, exact: true };
      all.sort(byKey);
      for (const o of all.slice(limit)) items.delete(key(o));
      all = all.slice(0, limit);
      partial.bound = key(all[all.length - 1]);
    } else if (partial && partial.exact && partial.total <= all.length) {
      // Every object is here after all.
      partial = null;
    } else if (partial) {
      all.sort(byKey);
    }
    shown = all;
    onChange(all, { ...info(), rows: true });
  };
  // Redraws at most every REDRAW_MS, or ten times as long as a redraw takes: a list that
  // changes thousands of times a second must not keep the browser (often on the same
  // machine as the cluster) busy drawing.
  let timer = 0;
  let last = 0;
  let spent = 0;
  const changed = () => {
    if (timer) return;
    const wait = Math.max(0, last + Math.max(REDRAW_MS, 10 * spent) - performance.now());
    timer = setTimeout(() => {
      timer = 0;
      if (abort.signal.aborted) return;
      const start = performance.now();
      draw();
      last = performance.now();
      spent = last - start;
    }, wait);
  };
  const sep = path.includes("?") ? "&" : "?";
  async function run() {
    for (let attempt = 0; !abort.signal.aborted; attempt++) {
      try {
        // A recent list reads every object once (the API orders by name, not time).
        const page = limit && !recent ? `${path}${sep}limit=${limit}` : path;
        const list = await (await api(page, { signal: abort.signal })).json();
        items.clear();
        for (const o of list.items || []) items.set(key(o), o);
        rows = true;
        partial = !recent && list.metadata.continue && items.size
          ? {
            bound: key(list.items[list.items.length - 1]),
            total: items.size + (list.metadata.remainingItemCount || 0),
            // A filtered list does not say how many the other pages hold.
            exact: list.metadata.remainingItemCount !== undefined,
          }
          : null;
        changed();
        recovered();
        const rv = encodeURIComponent(list.metadata.resourceVersion);
        const r = await api(`${path}${sep}watch=1&allowWatchBookmarks=true&resourceVersion=${rv}`, { signal: abort.signal });
        let dirty = false;
        await lines(r, (line) => {
          if (line === null) {
            if (dirty) changed();
            dirty = false;
            return;
          }
          if (!line.trim()) return;
          const ev = JSON.parse(line);
          if (ev.type === "ERROR") throw new Error((ev.object && ev.object.message) || "the watch failed");
          if (ev.type === "BOOKMARK") return;
          const k = key(ev.object);
          if (partial) partial.total += ev.type === "ADDED" ? 1 : ev.type === "DELETED" ? -1 : 0;
          if (!partial || k <= partial.bound) {
            if (ev.type === "DELETED") items.delete(k);
            else items.set(k, ev.object);
            rows = true;
          }
          // Every object is here after all: the draw makes the list whole.
          if (partial && partial.exact && partial.total <= items.size) rows = true;
          if (partial && items.size < limit * REFILL_BELOW) throw new Refill();
          dirty = true;
          // Only a watch that delivers resets the back-off: one refused at once must not
          // make the page list again and again.
          attempt = 0;
        });
      } catch (e) {
        if (abort.signal.aborted) return;
        if (e instanceof Unauthorized) return onUnauthorized();
        if (e instanceof Refill) {
          attempt = -1;
          continue;
        }
        if (failed) failed(e);
        // Not allowed, or not there: asking again soon will not change that.
        if (e.code === 403 || e.code === 404) attempt = Math.max(attempt, 5);
      }
      // The watch ended (a member restarted, history compacted): list again.
      await new Promise((ok) => setTimeout(ok, Math.min(5000, 250 * 2 ** attempt)));
    }
  }
  run();
  return () => {
    abort.abort();
    clearTimeout(timer);
  };
}
