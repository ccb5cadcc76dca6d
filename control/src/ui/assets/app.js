// The Skiff dashboard: reads the cluster through the Kubernetes REST API of the member
// that served it, as the logged-in user (a bearer token; RBAC decides what shows and what
// may be done), and keeps every view live from watch streams. No framework and no build
// step: ES modules, and the DOM built from text only.
//
// - `api.js`: the session token, REST calls, live lists;
// - `dom.js`: elements, tables, formats (ages, bytes, YAML);
// - `kinds.js`: the kinds shown, their paths and columns;
// - `views.js`: the overview, the lists and their actions;
// - `detail.js`: an object's page (owners, owned, conditions, events, YAML, logs);
// - `actions.js`: what can be done to an object (delete, restart, undo, cordon, drain);
// - `charts.js`: CPU and memory over the last minutes, a rollout's progress;
// - `paste.js`: the Apply page (pasted manifests, problems at their lines).

import { Unauthorized, api, setToken, token, whenUnauthorized } from "./api.js";
import { el, tickAges } from "./dom.js";
import { page } from "./views.js";

const main = document.getElementById("main");
let stopPage = () => {};

async function logIn(code) {
  const r = await fetch("/ui/sessions", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ code }),
  });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.message || `logging in failed (HTTP ${r.status})`);
  setToken(body.token);
  return body;
}

async function logOut() {
  const t = token();
  setToken(null);
  if (t) await fetch("/ui/sessions", { method: "DELETE", headers: { authorization: `Bearer ${t}` } }).catch(() => {});
  showLogin();
}

function route() {
  stopPage();
  stopPage = () => {};
  const name = location.hash.replace(/^#\/?/, "").split(/[?/]/)[0];
  for (const a of document.querySelectorAll("nav a")) {
    if (a.getAttribute("href") === `#/${name}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const stop = page(location.hash);
  if (!stop) {
    main.replaceChildren(el("h1", {}, "Not found"), el("p", {}, "No such page. "), el("a", { href: "#/" }, "Back to the overview"));
    return;
  }
  stopPage = stop;
  main.focus({ preventScroll: true });
}

function showLogin(why) {
  stopPage();
  stopPage = () => {};
  document.getElementById("logout").hidden = true;
  document.getElementById("who").textContent = "";
  const input = el("textarea", { id: "token", rows: 3, cols: 60 });
  const form = el("form", { onsubmit: (ev) => {
    ev.preventDefault();
    if (!input.value.trim()) return;
    setToken(input.value.trim());
    start();
  } }, el("p", {}, el("label", { for: "token" }, "Or paste a bearer token (a ServiceAccount's, from `skiff create token`):")),
  input, el("p", {}, el("button", { type: "submit" }, "Log in")));
  main.replaceChildren(...[
    el("h1", {}, "Log in"),
    why && el("p", { class: "error", role: "alert" }, why),
    el("p", {}, "Run ", el("code", {}, "skiff dashboard"), " and open the link it prints: it logs this browser in as you, once."),
    form,
  ].filter(Boolean));
}

async function start() {
  const m = location.hash.match(/^#login=([0-9a-f]+)$/);
  if (m) {
    history.replaceState(null, "", "/ui/#/");
    try {
      const s = await logIn(m[1]);
      // Say whose session the link opened, and wait for a click: a link someone else
      // made must not switch this browser to their account unnoticed.
      document.getElementById("who").textContent = `Logged in as ${s.user}`;
      document.getElementById("logout").hidden = false;
      const go = el("button", { type: "button", id: "continue", onclick: () => start() }, `Continue as ${s.user}`);
      main.replaceChildren(el("h1", {}, "Logged in"),
        el("p", {}, `This link logged the browser in as ${s.user} (groups: ${s.groups.join(", ") || "none"}).`),
        el("p", {}, go, " ", el("button", { type: "button", onclick: logOut }, "That is not me: log out")));
      go.focus();
      return;
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
    setToken(null);
    return showLogin(e instanceof Unauthorized ? "That token was not accepted." : e.message);
  }
  document.getElementById("logout").hidden = false;
  route();
}

whenUnauthorized(() => {
  setToken(null);
  showLogin("Your session ended: log in again.");
});
document.getElementById("logout").addEventListener("click", logOut);
// Ages count on between redraws.
setInterval(tickAges, 5000);
window.addEventListener("hashchange", () => {
  if (/^#login=/.test(location.hash)) start();
  else if (token()) route();
});
start();
