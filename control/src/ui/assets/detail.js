// An object's page: its actions (see actions.js), what owns it and what it owns (Deployment → ReplicaSets → Pods →
// Node), its conditions, its events, its YAML (a Secret's values hidden until asked), and
// a pod's logs, streamed. Everything follows a watch.

import { api, follow, lines } from "./api.js";
import { ageOf, byName, el, errorBox, table, yaml } from "./dom.js";
import { actions } from "./actions.js";
import { USAGE_HEADS, rollout, sample, usageRows } from "./charts.js";
import { KINDS, collection, heads, href, kindOf, objectPath, row, seen } from "./kinds.js";

const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";
// Log lines a page keeps (the oldest go first).
const MAX_LOG_LINES = 5000;

// What each kind's objects own, by kind.
const OWNS = { Deployment: "replicasets", ReplicaSet: "pods", Job: "pods", DaemonSet: "pods" };

function link(kindName, ns, name) {
  const k = kindOf(kindName);
  if (!k) return `${kindName.toLowerCase()}/${name}`;
  return el("a", { href: href(k, { metadata: { namespace: ns, name } }) }, `${kindName.toLowerCase()}/${name}`);
}

// The YAML to show: no managedFields (as kubectl), a Secret's values hidden unless `reveal`.
function shown(o, reveal) {
  const copy = JSON.parse(JSON.stringify(o));
  if (copy.metadata) delete copy.metadata.managedFields;
  if (o.kind === "Secret" && !reveal) {
    const notes = copy.metadata && copy.metadata.annotations;
    // kubectl's client-side apply keeps the whole Secret here, values and all.
    if (notes && notes[LAST_APPLIED]) notes[LAST_APPLIED] = "(hidden: the last applied Secret, values included)";
    for (const field of ["data", "stringData"]) {
      for (const k of Object.keys(copy[field] || {})) copy[field][k] = `(hidden: ${String(copy[field][k]).length} characters)`;
    }
  }
  return yaml(copy).replace(/^\n/, "");
}

function logs(pod) {
  const containers = ((pod.spec && pod.spec.containers) || []).map((c) => c.name);
  const pick = el("select", { id: "log-container", "aria-label": "Container" }, containers.map((c) => el("option", { value: c }, c)));
  const followBox = el("input", { type: "checkbox", id: "log-follow", checked: true });
  const previousBox = el("input", { type: "checkbox", id: "log-previous" });
  const out = el("pre", { id: "logs", tabindex: "0", "aria-label": "Log lines" });
  // Why the last choice shows no lines (no previous run, say); cleared by the next one.
  const refused = el("div", { id: "log-error" });
  let abort = new AbortController();
  const start = async () => {
    abort.abort();
    // This reading's own: a newer one replaces `abort`, and this one's end is then no error.
    const mine = (abort = new AbortController());
    out.textContent = "";
    refused.replaceChildren();
    const q = new URLSearchParams({ container: pick.value, tailLines: "500" });
    if (followBox.checked && !previousBox.checked) q.set("follow", "true");
    if (previousBox.checked) q.set("previous", "true");
    const path = `/api/v1/namespaces/${encodeURIComponent(pod.metadata.namespace)}/pods/${encodeURIComponent(pod.metadata.name)}/log?${q}`;
    try {
      const r = await api(path, { signal: mine.signal, headers: { accept: "text/plain" } });
      await lines(r, (line) => {
        if (line === null || mine.signal.aborted) return;
        out.append(`${line}\n`);
        while (out.childNodes.length > MAX_LOG_LINES) out.firstChild.remove();
      });
    } catch (e) {
      if (!mine.signal.aborted) refused.replaceChildren(errorBox(e));
    }
  };
  for (const c of [pick, followBox, previousBox]) c.addEventListener("change", start);
  start();
  const node = el("section", { "aria-labelledby": "logs-h" }, el("h2", { id: "logs-h" }, "Logs"),
    el("form", { class: "filters" }, el("label", {}, "Container", pick), el("label", {}, followBox, "Follow"),
      el("label", {}, previousBox, "Previous run")), refused, out);
  return { node, stop: () => abort.abort() };
}

export function detail(kind, ns, name) {
  const title = `${kind.kind} ${ns ? ns + "/" : ""}${name}`;
  const failures = el("div");
  const facts = el("dl", { id: "facts" });
  const conditions = table("conditions", ["Condition", "Status", "Reason", "Message", "Changed"], "No conditions.");
  const events = table("events", heads(KINDS.events), "No events.");
  const yamlBox = el("pre", { id: "yaml", tabindex: "0", "aria-label": "YAML" });
  let reveal = false;
  let current = null;
  const revealButton = kind.secret
    ? el("button", { type: "button", id: "reveal", onclick: () => {
      reveal = !reveal;
      revealButton.textContent = reveal ? "Hide values" : "Show values";
      if (current) yamlBox.textContent = shown(current, reveal);
    } }, "Show values")
    : null;
  const ownedKind = OWNS[kind.kind] && KINDS[OWNS[kind.kind]];
  const owned = ownedKind ? table("owned", heads(ownedKind), `No ${ownedKind.plural}.`) : null;
  const stops = [];
  let extra = null;
  let stopUsage = null;
  const logsSlot = el("div");
  const rolloutSlot = el("section");
  const acts = kind.kind === "Event" ? null : actions(kind, objectPath(kind, ns, name), () => current);
  const fail = (e) => failures.replaceChildren(errorBox(e));
  const selected = `${collection(kind, ns)}?fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}`;
  stops.push(follow(selected, ([o]) => {
    if (!o) {
      failures.replaceChildren(errorBox(new Error(`${title} does not exist (any more).`)));
      return;
    }
    const first = !current;
    current = o;
    failures.replaceChildren();
    if (first && acts) acts.render();
    const owners = (o.metadata.ownerReferences || []).map((r) => link(r.kind, o.metadata.namespace, r.name));
    const node = o.spec && o.spec.nodeName;
    const labels = Object.entries(o.metadata.labels || {}).map(([k, v]) => `${k}=${v}`).join(", ");
    facts.replaceChildren(...[
      el("dt", {}, "Created"), el("dd", {}, ageOf(o.metadata.creationTimestamp, " ago")),
      el("dt", {}, "Labels"), el("dd", {}, labels || "none"),
      owners.length ? [el("dt", {}, "Owned by"), el("dd", { id: "owners" }, owners)] : [],
      node ? [el("dt", {}, "Node"), el("dd", {}, link("Node", "", node))] : [],
    ].flat());
    conditions.render(((o.status && o.status.conditions) || []).map((c) => el("tr", {},
      el("td", {}, c.type), el("td", { class: c.status === "True" ? "ok" : "" }, c.status), el("td", {}, c.reason || ""),
      el("td", {}, c.message || ""), el("td", {}, ageOf(c.lastTransitionTime)))));
    yamlBox.textContent = shown(o, reveal);
    if (kind.kind === "Pod" && !extra) {
      extra = logs(o);
      stops.push(extra.stop);
      const u = table("pod-usage", ["Pod", ...USAGE_HEADS.slice(1)], "No figures yet (the node reports them every few seconds).");
      const path = `/apis/metrics.k8s.io/v1beta1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(name)}`;
      // A pod that just started has no figures yet: that is not an error to show.
      stopUsage = sample(path, (h) => u.render(usageRows(h)));
      stops.push(() => stopUsage && stopUsage());
      logsSlot.replaceChildren(el("section", {}, el("h2", {}, "Usage"), u.node), extra.node);
    }
    // A pod that has finished has no figures any more.
    if (stopUsage && ["Succeeded", "Failed"].includes(o.status && o.status.phase)) {
      stopUsage();
      stopUsage = null;
    }
    if (kind.kind === "Deployment") rolloutSlot.replaceChildren(el("h2", {}, "Rollout"), rollout(o));
    if (owned && !owned.following) {
      owned.following = true;
      const uid = o.metadata.uid;
      stops.push(follow(collection(ownedKind, ns), (items) => owned.render(items
        .filter((x) => (x.metadata.ownerReferences || []).some((r) => r.uid === uid))
        .sort(byName).map((x) => row(ownedKind, x))), fail));
    }
  }, fail));
  const involved = `involvedObject.name=${name},involvedObject.kind=${kind.kind}`;
  const eventsPath = `${ns ? `/api/v1/namespaces/${encodeURIComponent(ns)}/events` : "/api/v1/events"}?fieldSelector=${encodeURIComponent(involved)}`;
  stops.push(follow(eventsPath, (es) => events.render(es.sort((a, b) => seen(b) - seen(a)).map((e) => row(KINDS.events, e))), fail));
  const main = el("div", { id: "detail" },
    el("h1", {}, title), acts ? acts.node : null, failures, facts, rolloutSlot,
    owned ? el("section", {}, el("h2", {}, `${ownedKind.kind}s`), owned.node) : null,
    el("section", {}, el("h2", {}, "Conditions"), conditions.node),
    el("section", {}, el("h2", {}, "Events"), events.node),
    logsSlot,
    el("section", {}, el("h2", {}, "YAML"), revealButton, yamlBox));
  document.getElementById("main").replaceChildren(main);
  return () => stops.forEach((s) => s());
}
