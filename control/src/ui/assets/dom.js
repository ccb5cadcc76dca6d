// Building the page: elements from text only (nothing the cluster holds is read as
// markup), tables that re-render, and the small formats people read.

export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// What a link or button in a table is, so the focus can follow it through a redraw.
function focusKey(e) {
  if (e.dataset && e.dataset.name) return `${e.tagName}.${e.className}|${e.dataset.name}`;
  const href = e.getAttribute && e.getAttribute("href");
  return href ? `${e.tagName}|${href}` : null;
}

// A table whose body `render(rows)` replaces; `empty` shows when there are none. A link or
// button that had the keyboard's focus has it again after the redraw.
export function table(id, heads, empty) {
  const body = el("tbody");
  const head = el("thead", {}, el("tr", {}, heads.map((h) => el("th", { scope: "col" }, h))));
  const render = (rows) => {
    const active = document.activeElement;
    const key = active && body.contains(active) ? focusKey(active) : null;
    const none = el("tr", {}, el("td", { colspan: heads.length, class: "muted" }, empty));
    body.replaceChildren(...(rows.length ? rows : [none]));
    if (!key) return;
    const again = [...body.querySelectorAll("a, button")].find((e) => focusKey(e) === key);
    if (again) again.focus({ preventScroll: true });
  };
  render([]);
  return { node: el("div", { class: "scroll" }, el("table", { id }, head, body)), render };
}

// The panel where an action is confirmed. Escape inside it (or `dismiss`, for a Cancel
// button) empties it and gives the focus back to what `openedBy`'s function finds then (the button that opened it, which a live
// table or bar may have drawn anew meanwhile).
export function confirmPanel(tag, attrs) {
  let opener = () => null;
  // Empties the panel and gives the focus back (Escape, or a Cancel button).
  const dismiss = () => {
    panel.replaceChildren();
    const back = opener();
    if (back) back.focus();
  };
  const panel = el(tag, { ...attrs, onkeydown: (ev) => {
    if (ev.key !== "Escape" || !panel.firstChild) return;
    ev.preventDefault();
    dismiss();
  } });
  return { panel, openedBy: (find) => { opener = find; }, dismiss };
}

export function errorBox(e) {
  return el("p", { class: "error", role: "alert" }, e.message || String(e));
}

// An age that keeps counting: `tickAges` sets its text again every few seconds.
export function ageOf(ts, suffix = "") {
  if (!ts) return "";
  return el("time", { class: "age", datetime: ts, "data-suffix": suffix }, age(ts) + suffix);
}

// Brings every shown age up to date.
export function tickAges() {
  for (const t of document.querySelectorAll("time.age")) {
    const now = age(t.getAttribute("datetime")) + (t.dataset.suffix || "");
    if (t.textContent !== now) t.textContent = now;
  }
}

export function age(ts) {
  if (!ts) return "";
  const s = Math.max(0, (Date.now() - Date.parse(ts)) / 1000);
  if (s < 120) return `${Math.floor(s)}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

// A memory quantity in bytes ("25276182528") as people read it ("23.5Gi"); others as given.
export function bytes(q) {
  if (!/^[0-9]+$/.test(q || "")) return q || "?";
  let n = Number(q);
  for (const unit of ["", "Ki", "Mi", "Gi", "Ti"]) {
    if (n < 1024 || unit === "Ti") return `${Math.round(n * 10) / 10}${unit}`;
    n /= 1024;
  }
}

export const byName = (a, b) =>
  `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`);

export function condition(o, type) {
  return ((o.status && o.status.conditions) || []).find((c) => c.type === type);
}

// A plain scalar YAML reads back as the same string, else JSON's quoting (valid YAML).
function scalar(v) {
  if (typeof v !== "string") return JSON.stringify(v);
  const plain = /^[A-Za-z0-9_./][A-Za-z0-9_./ :=@+-]*$/.test(v) && !/(: | $|^(true|false|null|yes|no|on|off|~)$|^[0-9.+-])/i.test(v);
  return plain ? v : JSON.stringify(v);
}

// `v` as YAML (block style), for reading.
export function yaml(v, indent = "") {
  if (Array.isArray(v)) {
    if (!v.length) return "[]";
    return v.map((x) => {
      const inner = yaml(x, indent + "  ");
      return `\n${indent}- ${typeof x === "object" && x !== null && !Array.isArray(x) && Object.keys(x).length ? inner.replace(/^\n\s*/, "") : inner.trimStart()}`;
    }).join("");
  }
  if (v !== null && typeof v === "object") {
    const keys = Object.keys(v);
    if (!keys.length) return "{}";
    return keys.map((k) => {
      const x = v[k];
      const nested = x !== null && typeof x === "object" && (Array.isArray(x) ? x.length : Object.keys(x).length);
      return `\n${indent}${scalar(k)}:${nested ? yaml(x, indent + "  ") : " " + yaml(x, indent + "  ")}`;
    }).join("");
  }
  return scalar(v);
}
