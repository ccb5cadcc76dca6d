// The kinds the dashboard shows: where each lives in the REST API, and the columns of its
// list. Names link to detail pages (`#/PLURAL/NAMESPACE/NAME`, `#/PLURAL/NAME` for
// cluster-scoped kinds).

import { ageOf, bytes, condition, el } from "./dom.js";

const core = (plural) => ({ base: "/api/v1", plural });
const group = (gv, plural) => ({ base: `/apis/${gv}`, plural });

export function href(kind, o) {
  const ns = kind.namespaced ? `${encodeURIComponent(o.metadata.namespace)}/` : "";
  return `#/${kind.plural}/${ns}${encodeURIComponent(o.metadata.name)}`;
}

// The collection path of `kind`, in `ns` (all namespaces when empty).
export function collection(kind, ns) {
  return kind.namespaced && ns
    ? `${kind.base}/namespaces/${encodeURIComponent(ns)}/${kind.plural}`
    : `${kind.base}/${kind.plural}`;
}

export function objectPath(kind, ns, name) {
  return `${collection(kind, ns)}/${encodeURIComponent(name)}`;
}

const ready = (o) => {
  const c = condition(o, "Ready");
  return c && c.status === "True";
};

const replicas = (want, have) => el("span", { class: have >= want ? "ok" : "bad" }, `${have}/${want}`);

export const KINDS = {
  pods: Object.assign(core("pods"), {
    kind: "Pod", namespaced: true,
    heads: ["Status", "Restarts", "Node"],
    cells: (p) => {
      const st = p.status || {};
      const restarts = (st.containerStatuses || []).reduce((n, c) => n + (c.restartCount || 0), 0);
      return [el("span", { class: ready(p) ? "ok" : "" }, st.phase || "Pending"), restarts, (p.spec && p.spec.nodeName) || ""];
    },
  }),
  deployments: Object.assign(group("apps/v1", "deployments"), {
    kind: "Deployment", namespaced: true, scalable: true,
    heads: ["Ready", "Up to date"],
    cells: (d) => [replicas((d.spec && d.spec.replicas) ?? 1, (d.status && d.status.readyReplicas) || 0), (d.status && d.status.updatedReplicas) || 0],
  }),
  replicasets: Object.assign(group("apps/v1", "replicasets"), {
    kind: "ReplicaSet", namespaced: true,
    heads: ["Ready"],
    cells: (r) => [replicas((r.spec && r.spec.replicas) ?? 1, (r.status && r.status.readyReplicas) || 0)],
  }),
  daemonsets: Object.assign(group("apps/v1", "daemonsets"), {
    kind: "DaemonSet", namespaced: true,
    heads: ["Ready"],
    cells: (d) => [replicas((d.status && d.status.desiredNumberScheduled) || 0, (d.status && d.status.numberReady) || 0)],
  }),
  jobs: Object.assign(group("batch/v1", "jobs"), {
    kind: "Job", namespaced: true,
    heads: ["Completions"],
    cells: (j) => [replicas((j.spec && j.spec.completions) ?? 1, (j.status && j.status.succeeded) || 0)],
  }),
  services: Object.assign(core("services"), {
    kind: "Service", namespaced: true,
    heads: ["Cluster IP", "Ports"],
    cells: (s) => [(s.spec && s.spec.clusterIP) || "", ((s.spec && s.spec.ports) || []).map((p) => `${p.port}/${p.protocol || "TCP"}`).join(", ")],
  }),
  ingresses: Object.assign(group("networking.k8s.io/v1", "ingresses"), {
    kind: "Ingress", namespaced: true,
    heads: ["Hosts"],
    cells: (i) => [((i.spec && i.spec.rules) || []).map((r) => r.host || "*").join(", ")],
  }),
  httproutes: Object.assign(group("gateway.networking.k8s.io/v1", "httproutes"), {
    kind: "HTTPRoute", namespaced: true,
    heads: ["Hostnames"],
    cells: (r) => [((r.spec && r.spec.hostnames) || []).join(", ")],
  }),
  configmaps: Object.assign(core("configmaps"), {
    kind: "ConfigMap", namespaced: true,
    heads: ["Keys"],
    cells: (c) => [Object.keys(c.data || {}).length + Object.keys(c.binaryData || {}).length],
  }),
  secrets: Object.assign(core("secrets"), {
    kind: "Secret", namespaced: true, secret: true,
    heads: ["Type", "Keys"],
    cells: (s) => [s.type || "Opaque", Object.keys(s.data || {}).length],
  }),
  nodes: Object.assign(core("nodes"), {
    kind: "Node", namespaced: false,
    heads: ["Status", "Scheduling", "CPU allocatable / capacity", "Memory allocatable / capacity"],
    cells: (n) => {
      const st = n.status || {};
      const cap = st.capacity || {};
      const alloc = st.allocatable || {};
      return [
        el("span", { class: ready(n) ? "ok" : "bad" }, ready(n) ? "Ready" : "NotReady"),
        n.spec && n.spec.unschedulable ? "cordoned" : "schedulable",
        `${alloc.cpu || "?"} / ${cap.cpu || "?"}`,
        `${bytes(alloc.memory)} / ${bytes(cap.memory)}`,
      ];
    },
  }),
  events: Object.assign(core("events"), {
    kind: "Event", namespaced: true,
    heads: ["Type", "Reason", "Object", "Message"],
    cells: (e) => {
      const what = e.involvedObject || e.regarding || {};
      return [
        el("span", { class: e.type === "Warning" ? "bad" : "" }, e.type || ""),
        e.reason || "",
        `${(what.kind || "").toLowerCase()}/${what.name || ""}`,
        e.message || e.note || "",
      ];
    },
    sort: (a, b) => seen(b) - seen(a),
  }),
};

for (const [plural, k] of Object.entries(KINDS)) k.plural = plural;

export function kindOf(name) {
  return Object.values(KINDS).find((k) => k.kind === name);
}

export function seen(e) {
  return Date.parse(e.lastTimestamp || e.eventTime || e.metadata.creationTimestamp) || 0;
}

// A list row: namespace, linked name, the kind's cells, age, and `extra` cells.
export function row(kind, o, extra = []) {
  const cells = [
    kind.namespaced ? el("td", {}, o.metadata.namespace) : null,
    el("td", {}, el("a", { href: href(kind, o) }, o.metadata.name)),
    ...kind.cells(o).map((c) => el("td", {}, c)),
    el("td", {}, ageOf(o.metadata.creationTimestamp)),
    ...extra.map((c) => el("td", {}, c)),
  ];
  return el("tr", {}, cells);
}

export function heads(kind, extra = []) {
  return [...(kind.namespaced ? ["Namespace"] : []), kind.kind, ...kind.heads, "Age", ...extra];
}
