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
      buf += value;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        line(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
      line(null); // a chunk ended: a good moment to redraw
    }
    if (buf) line(buf);
  } finally {
    // Whatever stopped the reading, the stream (and the server's watch) ends with it.
    reader.cancel().catch(() => {});
  }
}

// Lists `path`, then follows its watch; calls `changed(items)` with every new state, and
// `failed(error)` when a list or watch fails (it lists again, backing off). Returns a
// function that stops it.
export function follow(path, onChange, failed, recovered = () => {}) {
  const abort = new AbortController();
  // Redraws at most every REDRAW_MS: a list that changes thousands of times a second
  // must not keep the browser (often on the same machine as the cluster) busy drawing.
  let pending = null;
  let last = 0;
  const changed = (items) => {
    const wait = last + REDRAW_MS - Date.now();
    if (wait <= 0 && !pending) {
      last = Date.now();
      onChange(items);
      return;
    }
    if (!pending) {
      setTimeout(() => {
        last = Date.now();
        const now = pending;
        pending = null;
        if (!abort.signal.aborted) onChange(now);
      }, Math.max(wait, 0));
    }
    pending = items;
  };
  const items = new Map();
  const key = (o) => `${o.metadata.namespace || ""}/${o.metadata.name}`;
  const sep = path.includes("?") ? "&" : "?";
  async function run() {
    for (let attempt = 0; !abort.signal.aborted; attempt++) {
      try {
        const list = await (await api(path, { signal: abort.signal })).json();
        items.clear();
        for (const o of list.items || []) items.set(key(o), o);
        changed([...items.values()]);
        recovered();
        const rv = encodeURIComponent(list.metadata.resourceVersion);
        const r = await api(`${path}${sep}watch=1&allowWatchBookmarks=true&resourceVersion=${rv}`, { signal: abort.signal });
        let dirty = false;
        await lines(r, (line) => {
          if (line === null) {
            if (dirty) changed([...items.values()]);
            dirty = false;
            return;
          }
          if (!line.trim()) return;
          const ev = JSON.parse(line);
          if (ev.type === "ERROR") throw new Error((ev.object && ev.object.message) || "the watch failed");
          if (ev.type === "BOOKMARK") return;
          if (ev.type === "DELETED") items.delete(key(ev.object));
          else items.set(key(ev.object), ev.object);
          dirty = true;
          // Only a watch that delivers resets the back-off: one refused at once must not
          // make the page list again and again.
          attempt = 0;
        });
      } catch (e) {
        if (abort.signal.aborted) return;
        if (e instanceof Unauthorized) return onUnauthorized();
        if (failed) failed(e);
        // Not allowed, or not there: asking again soon will not change that.
        if (e.code === 403 || e.code === 404) attempt = Math.max(attempt, 5);
      }
      // The watch ended (a member restarted, history compacted): list again.
      await new Promise((ok) => setTimeout(ok, Math.min(5000, 250 * 2 ** attempt)));
    }
  }
  run();
  return () => abort.abort();
}
