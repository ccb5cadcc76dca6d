// The actions on an object's page, each asked for, then confirmed, then done through the
// REST API as the logged-in user (RBAC decides; a refusal shows the API's reason):
// delete; scale, rollout restart and undo (as kubectl does them); cordon, uncordon and
// drain (cordon, then delete the pods a controller will recreate elsewhere, leaving
// DaemonSet pods, and refusing, as `skiff drain` without --force, if others are there).

import { api } from "./api.js";
import { confirmPanel, el, errorBox } from "./dom.js";
import { collection } from "./kinds.js";

const RESTARTED_AT = "kubectl.kubernetes.io/restartedAt";
const REVISION = "deployment.kubernetes.io/revision";

const json = (method, body, type = "application/json") => ({
  method, headers: { "content-type": type }, body: JSON.stringify(body),
});
const merge = (body) => json("PATCH", body, "application/merge-patch+json");

const revision = (rs) => Number((rs.metadata.annotations || {})[REVISION] || 0);

// Writes `template` (a ReplicaSet's) back into the Deployment at `path`.
async function undo(path, d) {
  const sets = (await (await api(`${collection({ base: "/apis/apps/v1", plural: "replicasets", namespaced: true }, d.metadata.namespace)}`)).json()).items
    .filter((r) => (r.metadata.ownerReferences || []).some((o) => o.uid === d.metadata.uid))
    .sort((a, b) => revision(a) - revision(b));
  if (sets.length < 2) throw new Error(`${d.metadata.name} has no earlier revision to go back to.`);
  const template = JSON.parse(JSON.stringify(sets[sets.length - 2].spec.template));
  if (template.metadata && template.metadata.labels) delete template.metadata.labels["pod-template-hash"];
  // A patch, as kubectl sends it: the controllers writing the status meanwhile do not
  // make it conflict, as a read-then-replace would.
  await api(path, json("PATCH", [{ op: "replace", path: "/spec/template", value: template }], "application/json-patch+json"));
  return `rolled back to revision ${revision(sets[sets.length - 2])}`;
}

async function drain(path, node) {
  await api(path, merge({ spec: { unschedulable: true } }));
  const pods = (await (await api(`/api/v1/pods?fieldSelector=${encodeURIComponent(`spec.nodeName=${node}`)}`)).json()).items;
  const owner = (p) => (p.metadata.ownerReferences || []).find((o) => o.controller) || null;
  const bare = pods.filter((p) => !owner(p) && !["Succeeded", "Failed"].includes(p.status && p.status.phase));
  if (bare.length) {
    throw new Error(`cordoned, but not drained: no controller would recreate ${bare.map((p) => `${p.metadata.namespace}/${p.metadata.name}`).join(", ")} (skiff drain --force deletes them anyway)`);
  }
  // Pods going or gone already need nothing; DaemonSet pods stay, as with --ignore-daemonsets.
  const moving = pods.filter((p) => owner(p).kind !== "DaemonSet" && !p.metadata.deletionTimestamp
    && !["Succeeded", "Failed"].includes(p.status && p.status.phase));
  for (const p of moving) {
    try {
      await api(`/api/v1/namespaces/${encodeURIComponent(p.metadata.namespace)}/pods/${encodeURIComponent(p.metadata.name)}`, { method: "DELETE" });
    } catch (e) {
      if (e.code !== 404) throw e;
    }
  }
  return `cordoned and drained: ${moving.length} pod(s) deleted, to run elsewhere`;
}

// The actions `kind` offers on `o`: [label, question, do it → what was done].
function offered(kind, path, o) {
  const name = `${kind.kind.toLowerCase()}/${o.metadata.name}`;
  const list = [];
  if (kind.scalable) {
    list.push(["Restart", `Replace every pod of ${name}, one revision later?`, async () => {
      await api(path, merge({ spec: { template: { metadata: { annotations: { [RESTARTED_AT]: new Date().toISOString() } } } } }));
      return "restarted";
    }]);
    list.push(["Undo", `Roll ${name} back to its previous revision?`, () => undo(path, o)]);
  }
  if (kind.kind === "Node") {
    list.push(["Cordon", `Stop scheduling new pods to ${o.metadata.name}?`, async () => {
      await api(path, merge({ spec: { unschedulable: true } }));
      return "cordoned";
    }]);
    list.push(["Uncordon", `Let new pods be scheduled to ${o.metadata.name} again?`, async () => {
      await api(path, merge({ spec: { unschedulable: null } }));
      return "uncordoned";
    }]);
    list.push(["Drain", `Cordon ${o.metadata.name} and move its pods elsewhere?`, () => drain(path, o.metadata.name)]);
  }
  list.push(["Delete", `Delete ${name}? This cannot be undone.`, async () => {
    await api(path, { method: "DELETE" });
    return "deleted";
  }]);
  return list;
}

// The action bar and the panel its confirmations and outcomes show in.
export function actions(kind, path, current) {
  const { panel, openedBy, dismiss } = confirmPanel("div", { id: "action", "aria-live": "polite" });
  const bar = el("div", { class: "actions", role: "toolbar", "aria-label": "Actions" });
  const render = () => {
    const o = current();
    if (!o) return;
    bar.replaceChildren(...offered(kind, path, o).map(([label, question, run]) => el("button", {
      type: "button", id: `do-${label.toLowerCase()}`, onclick: () => {
        openedBy(() => document.getElementById(`do-${label.toLowerCase()}`));
        const go = el("button", { type: "button", id: "confirm", onclick: async () => {
          go.disabled = true;
          try {
            const done = await run();
            panel.replaceChildren(el("p", { class: "ok", role: "status" }, `${kind.kind.toLowerCase()}/${o.metadata.name} ${done}.`));
          } catch (e) {
            panel.replaceChildren(errorBox(e));
          }
        } }, `Confirm: ${label}`);
        panel.replaceChildren(el("p", {}, question), go, " ", el("button", { type: "button", onclick: dismiss }, "Cancel"));
        go.focus();
      },
    }, label)));
  };
  return { node: el("section", { "aria-label": "Actions" }, bar, panel), render };
}
