// The pages: the overview, a list per kind, and an object's detail page. Each returns a
// function that stops its watches when the page is left.

import { api, follow } from "./api.js";
import { byName, bytes, confirmPanel, el, errorBox, table } from "./dom.js";
import { KINDS, collection, heads, row, seen } from "./kinds.js";
import { detail } from "./detail.js";
import { applyPage } from "./paste.js";
import { ROUTE_HEADS, USAGE_HEADS, cores, poll, quantity, routeRows, sample, sampleRoutes, usageRows } from "./charts.js";

const main = () => document.getElementById("main");
// Rows a list keeps and draws; past that it says how many there are in all.
const MAX_ROWS = 500;

// A section following `path` into a table of `kind`'s rows; `shown()` after each render.
// With `recent`, it keeps only the MAX_ROWS newest objects in memory (see `follow`).
function section(title, id, kind, path, pick, failures, empty, shown = () => {}, recent = null) {
  const t = table(id, heads(kind), empty);
  const stop = follow(path, (items) => {
    t.render(pick(items).map((o) => row(kind, o)));
    shown();
  }, (e) => failures.replaceChildren(errorBox(e)), () => failures.replaceChildren(), recent ? MAX_ROWS : 0, recent);
  return { node: el("section", { "aria-labelledby": `${id}-h` }, el("h2", { id: `${id}-h` }, title), t.node), stop };
}

// The control-plane members as the serving member sees them, polled: raft's view is not
// an object with a watch.
function members(failures) {
  const t = table("members", ["Member", "Address", "Role", "Term", "Applied", "Behind the leader"], "No members known.");
  const stop = poll("/ui/members", (m) => t.render(m.members.map((x) => el("tr", {},
    el("td", {}, x.id === m.servedBy ? `${x.id} (serving this page)` : x.id),
    el("td", {}, x.address),
    el("td", { class: x.role === "LEADER" ? "ok" : "" }, x.role.toLowerCase()),
    el("td", {}, x.term ?? ""),
    el("td", {}, x.applied ?? ""),
    el("td", {}, x.behind ?? "")))), (e) => failures.replaceChildren(errorBox(e)), 2000);
  const node = el("section", { "aria-labelledby": "members-h" }, el("h2", { id: "members-h" }, "Control plane"), t.node);
  return { node, stop };
}

// What each node runs and uses now, and its usage over the last minutes; what its pods
// request of what it offers.
function usage(failures) {
  const heads = ["Node", "Pods running", "CPU requested / allocatable", "Memory requested / allocatable", ...USAGE_HEADS.slice(1)];
  const t = table("usage", heads, "No figures yet (nodes report them every few seconds).");
  const more = (latest) => (name) => {
    const n = latest.get(name) || {};
    const pods = n.pods || {};
    // Requests come only for those who may list every pod.
    const req = n.requested || { cpu: "?", memory: "?" };
    const offers = n.allocatable || {};
    const cpu = (q) => (q === "?" ? q : cores(quantity(q)));
    return [
      `${pods.wasm ?? 0} Wasm, ${pods.containers ?? 0} containers`,
      `${cpu(req.cpu)} / ${cpu(offers.cpu)}`,
      `${bytes(req.memory)} / ${bytes(offers.memory)}`,
    ];
  };
  const stop = sample("/ui/nodes", (h, latest) => t.render(usageRows(h, more(latest))), (e) => failures.replaceChildren(errorBox(e)));
  return { node: el("section", { "aria-labelledby": "usage-h" }, el("h2", { id: "usage-h" }, "Node usage"), t.node), stop };
}

// Each route's request rate and latency over the last minutes.
function routes(failures) {
  const t = table("routes", ROUTE_HEADS, "No requests routed yet (figures come every 5 s).");
  const stop = sampleRoutes((h) => t.render(routeRows(h)), (e) => failures.replaceChildren(errorBox(e)));
  return { node: el("section", { "aria-labelledby": "routes-h" }, el("h2", { id: "routes-h" }, "Routes"), t.node), stop };
}

export function overview() {
  const failures = el("div");
  const warnings = Object.assign({}, KINDS.events, { sort: undefined });
  // Marks `skiff:overview-ready` (Performance API) once every listed section has shown its
  // first list: the overview's first meaningful paint, as the dashboard bench reads it.
  const waiting = new Set(["nodes", "deployments", "warnings"]);
  const shown = (id) => () => {
    if (waiting.delete(id) && !waiting.size) performance.mark("skiff:overview-ready");
  };
  const parts = [
    members(failures),
    section("Nodes", "nodes", KINDS.nodes, "/api/v1/nodes", (ns) => ns.sort(byName), failures, "No nodes have joined.", shown("nodes")),
    usage(failures),
    routes(failures),
    section("Deployments", "deployments", KINDS.deployments, "/apis/apps/v1/deployments", (ds) => ds.sort(byName), failures, "No deployments.", shown("deployments")),
    section("Recent warnings", "warnings", warnings, "/api/v1/events?fieldSelector=type%3DWarning",
      (es) => es.sort((a, b) => seen(b) - seen(a)).slice(0, 20), failures, "No warnings.", shown("warnings"), seen),
  ];
  main().replaceChildren(el("h1", {}, "Overview"), failures, ...parts.map((p) => p.node));
  return () => parts.forEach((p) => p.stop());
}

// The panel where an action is set up, confirmed and reported; it lives outside the live
// table, which re-renders on every change.
function actionPanel(kind) {
  const { panel, openedBy, dismiss: close } = confirmPanel("section", { id: "action", "aria-live": "polite" });
  // Asks for a replica count, then for confirmation, then PATCHes the scale subresource.
  const scale = (o) => {
    const ns = o.metadata.namespace;
    const name = o.metadata.name;
    const now = (o.spec && o.spec.replicas) ?? 1;
    openedBy(() => document.querySelector(`button.scale[data-name="${CSS.escape(`${ns}/${name}`)}"]`));
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
          await api(`${collection(kind, ns)}/${encodeURIComponent(name)}/scale`, {
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

// A kind's list, filtered by namespace and label selector (kept in the address).
export function list(kind, query) {
  const ns = query.get("namespace") || "";
  const labels = query.get("labels") || "";
  const failures = el("div");
  const actions = kind.scalable ? actionPanel(kind) : null;
  const extra = actions ? ["Actions"] : [];
  const t = table(kind.plural, heads(kind, extra), `No ${kind.plural}.`);
  let path = collection(kind, ns);
  if (labels) path += `?labelSelector=${encodeURIComponent(labels)}`;
  const nsInput = el("input", { name: "namespace", value: ns, placeholder: "all namespaces", "aria-label": "Namespace" });
  const lbInput = el("input", { name: "labels", value: labels, placeholder: "app=web", "aria-label": "Label selector" });
  const filters = el("form", { class: "filters", role: "search", onsubmit: (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    if (nsInput.value.trim()) q.set("namespace", nsInput.value.trim());
    if (lbInput.value.trim()) q.set("labels", lbInput.value.trim());
    location.hash = `#/${kind.plural}${q.toString() ? "?" + q : ""}`;
  } }, kind.namespaced ? el("label", {}, "Namespace", nsInput) : null, el("label", {}, "Labels", lbInput),
  el("button", { type: "submit" }, "Filter"));
  const scaleButton = (o) => {
    const name = `${o.metadata.namespace}/${o.metadata.name}`;
    return el("button", { type: "button", class: "scale", "data-name": name, "aria-label": `Scale ${name}`, onclick: () => actions.scale(o) }, "Scale…");
  };
  const sort = kind.sort || byName;
  const note = el("p", { class: "muted", id: `${kind.plural}-count`, "aria-live": "polite" });
  const title = el("h1", {}, kind.kind.endsWith("s") ? `${kind.kind}es` : `${kind.kind}s`);
  main().replaceChildren(...[title, filters, actions && actions.node, failures, note, t.node].filter(Boolean));
  return follow(path, (items, { partial, total, exact, rows }) => {
    note.textContent = partial
      ? `Showing the first ${items.length} of ${exact ? "" : "more than "}${total} by namespace and name: narrow the list with a namespace or labels.`
      : `${total} in all.`;
    // Only the count past the page changed: the rows stand.
    if (!rows) return;
    if (!partial) items.sort(sort);
    t.render(items.map((o) => row(kind, o, actions ? [scaleButton(o)] : [])));
  }, (e) => failures.replaceChildren(errorBox(e)), () => failures.replaceChildren(), MAX_ROWS);
}

// `#/` → overview; `#/PLURAL?…` → a list; `#/PLURAL/NS/NAME` or `#/PLURAL/NAME` → detail.
export function page(hash) {
  const [where, q] = hash.replace(/^#\/?/, "").split("?");
  const query = new URLSearchParams(q || "");
  let parts;
  try {
    parts = where.split("/").filter(Boolean).map(decodeURIComponent);
  } catch {
    return null;
  }
  if (!parts.length) return overview();
  if (parts[0] === "apply" && parts.length === 1) return applyPage();
  const kind = Object.hasOwn(KINDS, parts[0]) ? KINDS[parts[0]] : null;
  if (!kind) return null;
  if (parts.length === 1) return list(kind, query);
  if (kind.namespaced && parts.length === 3) return detail(kind, parts[1], parts[2]);
  if (!kind.namespaced && parts.length === 2) return detail(kind, "", parts[1]);
  return null;
}
