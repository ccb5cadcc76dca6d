// The Apply page: manifests pasted in, checked on the server (every problem shown at its
// line, with the field and a hint), then applied as the logged-in user once confirmed.

import { api } from "./api.js";
import { el, errorBox } from "./dom.js";

async function send(manifest, dryRun) {
  const r = await api("/ui/apply", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ manifest, dryRun }),
  });
  return r.json();
}

function where(p) {
  const at = p.line ? `line ${p.line}${p.column ? `, column ${p.column}` : ""}` : p.document ? `document ${p.document}` : "";
  return [at, p.object, p.path && p.path !== "." ? p.path : ""].filter(Boolean).join(" · ");
}

// The pasted text with its lines numbered, and each problem under the line it is on.
function annotated(text, problems) {
  const byLine = new Map();
  for (const p of problems) if (p.line) byLine.set(p.line, [...(byLine.get(p.line) || []), p]);
  return el("ol", { class: "source", id: "annotated" }, text.split("\n").map((line, i) => {
    const here = byLine.get(i + 1) || [];
    return el("li", { class: here.length ? "bad-line" : "" }, el("code", {}, line || " "),
      here.map((p) => el("div", { class: "bad", role: "note" }, `↑ ${p.message}${p.hint ? ` (${p.hint})` : ""}`)));
  }));
}

export function applyPage() {
  const input = el("textarea", { id: "manifest", rows: 18, cols: 80, spellcheck: "false", "aria-label": "Manifests (YAML or JSON)" });
  const result = el("section", { id: "apply-result", "aria-live": "polite" });
  const report = (text, body) => {
    if (body.problems && body.problems.length) {
      result.replaceChildren(
        el("p", { class: "error", role: "alert" }, `Nothing was applied: ${body.problems.length} problem(s) to fix.`),
        el("ul", { id: "problems" }, body.problems.map((p) => el("li", {}, el("a", { href: "#", onclick: (ev) => {
          ev.preventDefault();
          if (!p.line) return;
          const lines = input.value.split("\n");
          const start = lines.slice(0, p.line - 1).reduce((n, l) => n + l.length + 1, 0);
          input.focus();
          input.setSelectionRange(start, start + (lines[p.line - 1] || "").length);
        } }, where(p)), `: ${p.message}`, p.hint ? ` (${p.hint})` : ""))),
        annotated(text, body.problems));
      return;
    }
    result.replaceChildren(el("ul", { id: "applied" }, (body.applied || []).map((a) => el("li", {},
      a.outcome ? el("span", { class: "ok" }, `${a.object} ${a.outcome}`) : el("span", { class: "bad" }, `${a.object} refused`),
      (a.problems || []).map((p) => el("div", { class: "bad" }, `${where(p) ? where(p) + ": " : ""}${p.message}`))))));
  };
  const run = async (dryRun) => {
    const text = input.value;
    try {
      report(text, await send(text, dryRun));
    } catch (e) {
      result.replaceChildren(errorBox(e));
    }
  };
  const check = el("button", { type: "button", id: "check", onclick: () => run(true) }, "Check");
  const apply = el("button", { type: "button", id: "apply", onclick: () => {
    const go = el("button", { type: "button", id: "confirm-apply", onclick: () => run(false) }, "Confirm");
    result.replaceChildren(el("p", {}, "Apply these manifests to the cluster as you?"), go, " ",
      el("button", { type: "button", onclick: () => result.replaceChildren() }, "Cancel"));
    go.focus();
  } }, "Apply…");
  document.getElementById("main").replaceChildren(
    el("h1", {}, "Apply manifests"),
    el("p", { class: "muted" }, "Server-side apply, as skiff apply does: the fields these manifests set become yours (field manager skiff-ui)."),
    el("p", {}, input), el("p", {}, check, " ", apply), result);
  input.focus();
  return () => {};
}
