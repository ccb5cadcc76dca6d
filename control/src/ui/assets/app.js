// The Skiff dashboard: reads the cluster through the Kubernetes REST API of the member
// that served it, as the logged-in user (a bearer token; RBAC decides what shows), and
// keeps every view live from watch streams (list, then watch from the list's
// resourceVersion, as client-go's informers do). No framework and no build step: the
// DOM is built with textContent only, so nothing the cluster holds is read as markup.

const TOKEN_KEY = "skiff-ui-token";
const main = document.getElementById("main");
let stopView = () => {};

// ---- session ----------------------------------------------------------------

function token() {
  return localStorage.getItem(TOKEN_KEY);
}

async function logIn(code) {
  const r = await fetch("/ui/sessions", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ code }),
  });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.message || `logging in failed (HTTP ${r.status})`);
  localStorage.setItem(TOKEN_KEY, body.token);
}

async function logOut() {
  const t = token();
  localStorage.removeItem(TOKEN_KEY);
  if (t) await fetch("/ui/sessions", { method: "DELETE", headers: { authorization: `Bearer ${t}` } }).catch(() => {});
  showLogin();
}

class Unauthorized extends Error {}

// A call to the REST API as the logged-in user; a Kubernetes Status becomes the error.
async function api(path, init = {}) {
  const headers = Object.assign({ accept: "application/json" }, init.headers, { authorization: `Bearer ${token()}` });
  const r = await fetch(path, Object.assign({}, init, { headers }));
  if (r.status === 401) throw new Unauthorized("the session ended");
  if (!r.ok) {
    const s = await r.json().catch(() => ({}));
    throw new Error(s.message || `${init.method || "GET"} ${path}: HTTP ${r.status}`);
  }
  return r;
}

// ---- live lists ---------------------------------------------------------------

// Lists `path`, then follows its watch; calls `changed(items)` with every new state.
// Returns a function that stops it.
function follow(path, changed, failed) {
  const abort = new AbortController();
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
        attempt = 0;
        const rv = list.metadata.resourceVersion;
        const r = await api(`${path}${sep}watch=1&resourceVersion=${encodeURIComponent(rv)}`, { signal: abort.signal });
        const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let nl;
          while ((nl = buf.indexOf("\n")) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (!line) continue;
            const ev = JSON.parse(line);
            if (ev.type === "ERROR") throw new Error(ev.object && ev.object.message || "the watch failed");
            if (ev.type === "BOOKMARK") continue;
            if (ev.type === "DELETED") items.delete(key(ev.object));
            else items.set(key(ev.object), ev.object);
          }
          changed([...items.values()]);
        }
      } catch (e) {
        if (abort.signal.aborted) return;
        if (e instanceof Unauthorized) return showLogin("Your session ended: log in again.");
        if (failed) failed(e);
      }
      // The watch ended (a member restarted, history compacted): list again, backing off.
      await new Promise((ok) => setTimeout(ok, Math.min(5000, 250 * 2 ** attempt)));
    }
  }
  run();
  return () => abort.abort();
}

// ---- building the page -------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// A table whose body `render(rows)` replaces; `empty` shows when there are none.
function table(id, heads, empty) {
  const body = el("tbody");
  const t = el("table", { id }, el("thead", {}, el("tr", {}, heads.map((h) => el("th", { scope: "col" }, h)))), body);
  const render = (rows) => {
    body.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: heads.length, class: "muted" }, empty))]));
  };
  render([]);
  return { node: el("div", { class: "scroll" }, t), render };
}

// A memory quantity in bytes ("25276182528") as people read it ("23.5Gi"); others as given.
function bytes(q) {
  if (!/^[0-9]+$/.test(q || "")) return q || "?";
  let n = Number(q);
  for (const unit of ["", "Ki", "Mi", "Gi", "Ti"]) {
    if (n < 1024 || unit === "Ti") return `${Math.round(n * 10) / 10}${unit}`;
    n /= 1024;
  }
}

function age(ts) {
  if (!ts) return "";
  const s = Math.max(0, (Date.now() - Date.parse(ts)) / 1000);
  if (s < 120) return `${Math.floor(s)}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

const byName = (a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`);

function condition(o, type) {
  return ((o.status && o.status.conditions) || []).find((c) => c.type === type);
}

function errorBox(e) {
  return el("p", { class: "error", role: "alert" }, e.message || String(e));
}

// ---- views -----------------------------------------------------------------

function nodeRow(n) {
  const ready = condition(n, "Ready");
  const st = n.status || {};
  const cap = st.capacity || {};
  const alloc = st.allocatable || {};
  return el("tr", {},
    el("td", {}, n.metadata.name),
    el("td", { class: ready && ready.status === "True" ? "ok" : "bad" }, ready && ready.status === "True" ? "Ready" : "NotReady"),
    el("td", {}, n.spec && n.spec.unschedulable ? "cordoned" : "schedulable"),
    el("td", {}, `${alloc.cpu || "?"} / ${cap.cpu || "?"}`),
    el("td", {}, `${bytes(alloc.memory)} / ${bytes(cap.memory)}`),
    el("td", {}, age(n.metadata.creationTimestamp)));
}

const NODE_HEADS = ["Node", "Status", "Scheduling", "CPU allocatable / capacity", "Memory allocatable / capacity", "Age"];

// `act(d)`, when given, adds a Scale button to each row.
function deploymentRow(d, act) {
  const want = (d.spec && d.spec.replicas) ?? 1;
  const ready = (d.status && d.status.readyReplicas) || 0;
  return el("tr", {},
    el("td", {}, d.metadata.namespace),
    el("td", {}, d.metadata.name),
    el("td", { class: ready >= want ? "ok" : "bad" }, `${ready}/${want}`),
    el("td", {}, (d.status && d.status.updatedReplicas) || 0),
    el("td", {}, age(d.metadata.creationTimestamp)),
    act ? el("td", {}, el("button", { type: "button", class: "scale", "data-name": `${d.metadata.namespace}/${d.metadata.name}`,
      "aria-label": `Scale ${d.metadata.namespace}/${d.metadata.name}`, onclick: () => act(d) }, "Scale…")) : null);
}

const DEPLOYMENT_HEADS = ["Namespace", "Deployment", "Ready", "Up to date", "Age"];

// The panel where an action is set up, confirmed and reported; it lives outside the
// live table, which re-renders on every change.
function actionPanel() {
  const panel = el("section", { id: "action", "aria-live": "polite" });
  const close = () => panel.replaceChildren();
  // Asks for a replica count, then for confirmation, then PATCHes the scale subresource.
  const scale = (d) => {
    const ns = d.metadata.namespace;
    const name = d.metadata.name;
    const now = (d.spec && d.spec.replicas) ?? 1;
    const input = el("input", { id: "replicas", type: "number", min: "0", value: String(now), "aria-label": "Replicas" });
    const ask = el("form", { onsubmit: (ev) => {
      ev.preventDefault();
      const n = Number(input.value);
      if (!Number.isInteger(n) || n < 0) {
        panel.replaceChildren(ask, errorBox(new Error("Replicas must be a whole number, 0 or more.")));
        return;
      }
      const go = el("button", { type: "button", id: "confirm", onclick: async () => {
        go.disabled = true;
        try {
          await api(`/apis/apps/v1/namespaces/${encodeURIComponent(ns)}/deployments/${encodeURIComponent(name)}/scale`, {
            method: "PATCH",
            headers: { "content-type": "application/merge-patch+json" },
            body: JSON.stringify({ spec: { replicas: n } }),
          });
          panel.replaceChildren(el("p", { class: "ok", role: "status" }, `${ns}/${name} scaled to ${n}.`));
        } catch (e) {
          panel.replaceChildren(errorBox(e));
        }
      } }, "Confirm");
      panel.replaceChildren(el("p", {}, `Scale ${ns}/${name} from ${now} to ${n} replicas?`), go, " ",
        el("button", { type: "button", onclick: close }, "Cancel"));
      go.focus();
    } }, el("label", {}, `Replicas for ${ns}/${name}`, input), " ", el("button", { type: "submit" }, "Scale"), " ",
      el("button", { type: "button", onclick: close }, "Cancel"));
    panel.replaceChildren(el("h2", {}, "Scale"), ask);
    input.focus();
  };
  return { node: panel, scale };
}

function eventRow(e) {
  const what = e.involvedObject || e.regarding || {};
  return el("tr", {},
    el("td", {}, age(e.lastTimestamp || e.eventTime || e.metadata.creationTimestamp)),
    el("td", { class: e.type === "Warning" ? "bad" : "" }, e.type || ""),
    el("td", {}, e.reason || ""),
    el("td", {}, `${(what.kind || "").toLowerCase()}/${what.name || ""}`),
    el("td", {}, e.message || e.note || ""));
}

const EVENT_HEADS = ["Last seen", "Type", "Reason", "Object", "Message"];
const newestFirst = (a, b) => Date.parse(b.lastTimestamp || b.metadata.creationTimestamp) - Date.parse(a.lastTimestamp || a.metadata.creationTimestamp);

function section(title, id, heads, empty, path, rows, failures) {
  const t = table(id, heads, empty);
  const stop = follow(path, (items) => t.render(rows(items)), (e) => failures.replaceChildren(errorBox(e)));
  return { node: el("section", { "aria-labelledby": `${id}-h` }, el("h2", { id: `${id}-h` }, title), t.node), stop };
}

function overview() {
  const failures = el("div");
  const parts = [
    section("Nodes", "nodes", NODE_HEADS, "No nodes have joined.", "/api/v1/nodes", (ns) => ns.sort(byName).map(nodeRow), failures),
    section("Deployments", "deployments", DEPLOYMENT_HEADS, "No deployments.", "/apis/apps/v1/deployments", (ds) => ds.sort(byName).map((d) => deploymentRow(d)), failures),
    section("Recent warnings", "warnings", EVENT_HEADS, "No warnings.", "/api/v1/events?fieldSelector=type%3DWarning",
      (es) => es.sort(newestFirst).slice(0, 20).map(eventRow), failures),
  ];
  main.replaceChildren(el("h1", {}, "Overview"), failures, ...parts.map((p) => p.node));
  return () => parts.forEach((p) => p.stop());
}

function listView(title, id, heads, empty, basePath, nsPath, rows, extra) {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const ns = params.get("namespace") || "";
  const labels = params.get("labels") || "";
  const failures = el("div");
  const t = table(id, heads, empty);
  let path = ns ? nsPath(ns) : basePath;
  if (labels) path += `?labelSelector=${encodeURIComponent(labels)}`;
  const nsInput = el("input", { name: "namespace", value: ns, placeholder: "all namespaces", "aria-label": "Namespace" });
  const lbInput = el("input", { name: "labels", value: labels, placeholder: "app=web", "aria-label": "Label selector" });
  const filters = el("form", { class: "filters", role: "search", onsubmit: (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    if (nsInput.value.trim()) q.set("namespace", nsInput.value.trim());
    if (lbInput.value.trim()) q.set("labels", lbInput.value.trim());
    location.hash = `#/${id}${q.toString() ? "?" + q : ""}`;
  } }, el("label", {}, "Namespace", nsInput), el("label", {}, "Labels", lbInput), el("button", { type: "submit" }, "Filter"));
  main.replaceChildren(el("h1", {}, title), filters, extra || "", failures, t.node);
  return follow(path, (items) => t.render(rows(items)), (e) => failures.replaceChildren(errorBox(e)));
}

function podRow(p) {
  const st = p.status || {};
  const restarts = (st.containerStatuses || []).reduce((n, c) => n + (c.restartCount || 0), 0);
  const ready = condition(p, "Ready");
  return el("tr", {},
    el("td", {}, p.metadata.namespace),
    el("td", {}, p.metadata.name),
    el("td", { class: ready && ready.status === "True" ? "ok" : "" }, st.phase || "Pending"),
    el("td", {}, restarts),
    el("td", {}, (p.spec && p.spec.nodeName) || ""),
    el("td", {}, age(p.metadata.creationTimestamp)));
}

const VIEWS = {
  "": overview,
  pods: () => listView("Pods", "pods", ["Namespace", "Pod", "Status", "Restarts", "Node", "Age"], "No pods.",
    "/api/v1/pods", (ns) => `/api/v1/namespaces/${encodeURIComponent(ns)}/pods`, (ps) => ps.sort(byName).map(podRow)),
  deployments: () => {
    const actions = actionPanel();
    return listView("Deployments", "deployments", [...DEPLOYMENT_HEADS, "Actions"], "No deployments.",
      "/apis/apps/v1/deployments", (ns) => `/apis/apps/v1/namespaces/${encodeURIComponent(ns)}/deployments`,
      (ds) => ds.sort(byName).map((d) => deploymentRow(d, actions.scale)), actions.node);
  },
  nodes: () => listView("Nodes", "nodes", NODE_HEADS, "No nodes have joined.", "/api/v1/nodes", () => "/api/v1/nodes", (ns) => ns.sort(byName).map(nodeRow)),
  events: () => listView("Events", "events", EVENT_HEADS, "No events.",
    "/api/v1/events", (ns) => `/api/v1/namespaces/${encodeURIComponent(ns)}/events`, (es) => es.sort(newestFirst).map(eventRow)),
};

function route() {
  stopView();
  const name = location.hash.replace(/^#\/?/, "").split(/[?/]/)[0];
  const view = VIEWS[name];
  for (const a of document.querySelectorAll("nav a")) {
    if (a.getAttribute("href") === `#/${name}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (!view) {
    main.replaceChildren(el("h1", {}, "Not found"), el("p", {}, "No such page. "), el("a", { href: "#/" }, "Back to the overview"));
    stopView = () => {};
    return;
  }
  stopView = view() || (() => {});
}

// ---- login -----------------------------------------------------------------

function showLogin(why) {
  stopView();
  stopView = () => {};
  document.getElementById("logout").hidden = true;
  document.getElementById("who").textContent = "";
  const input = el("textarea", { id: "token", rows: 3, cols: 60, "aria-label": "Bearer token" });
  const form = el("form", { onsubmit: (ev) => {
    ev.preventDefault();
    if (!input.value.trim()) return;
    localStorage.setItem(TOKEN_KEY, input.value.trim());
    start();
  } }, el("p", {}, el("label", { for: "token" }, "Or paste a bearer token (a ServiceAccount's):")), input, el("p", {}, el("button", { type: "submit" }, "Log in")));
  main.replaceChildren(
    el("h1", {}, "Log in"),
    why ? el("p", { class: "error", role: "alert" }, why) : null,
    el("p", {}, "Run ", el("code", {}, "skiff dashboard"), " and open the link it prints: it logs this browser in as you, once."),
    form);
}

async function start() {
  const m = location.hash.match(/^#login=([0-9a-f]+)$/);
  if (m) {
    history.replaceState(null, "", "/ui/#/");
    try {
      await logIn(m[1]);
    } catch (e) {
      return showLogin(e.message);
    }
  }
  if (!token()) return showLogin();
  try {
    const review = await (await api("/apis/authentication.k8s.io/v1/selfsubjectreviews", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" }),
    })).json();
    const user = review.status && review.status.userInfo && review.status.userInfo.username;
    document.getElementById("who").textContent = user ? `Logged in as ${user}` : "";
  } catch (e) {
    localStorage.removeItem(TOKEN_KEY);
    return showLogin(e instanceof Unauthorized ? "That token was not accepted." : e.message);
  }
  document.getElementById("logout").hidden = false;
  route();
}

document.getElementById("logout").addEventListener("click", logOut);
window.addEventListener("hashchange", () => {
  if (/^#login=/.test(location.hash)) start();
  else if (token()) route();
});
start();
