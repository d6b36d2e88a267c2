// Portcullis dashboard: plain JavaScript over the public API (/api/v1), no build step.
// Every page is this one document; the path and the query string say what is shown, so a
// filtered view is a link to share. The API token lives in an HttpOnly cookie set by /login;
// changes carry the CSRF header the API asks of cookie sessions.
"use strict";

const main = () => document.getElementById("main");
let session = null;

// --- DOM helpers: text is always set as text, never parsed as HTML. ---
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}
const link = (href, ...children) => h("a", { href, "data-link": true }, ...children);
const badge = (text, cls) => h("span", { class: `badge ${cls || text}` }, text);
const short = (digest) => (digest || "").replace(/^sha256:/, "").slice(0, 12);
const canWrite = () => session && session.scope === "write";

function ago(iso) {
  if (!iso) return "";
  const s = (Date.now() - Date.parse(iso)) / 1000;
  if (s < 90) return "just now";
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 129600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

function age(seconds) {
  if (seconds === null || seconds === undefined) return "none";
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 129600) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} d`;
}

// --- The API. ---
class ApiFailure extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.field = body && body.field;
  }
}

async function api(path, { method = "GET", body, raw, type } = {}) {
  const headers = {};
  if (method !== "GET") headers["X-Portcullis-CSRF"] = "1";
  let payload = body;
  if (body !== undefined && !raw) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  } else if (raw) {
    headers["Content-Type"] = type || "text/plain";
  }
  const r = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
  if (r.status === 401 && !path.startsWith("/login")) {
    session = null;
    go(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
    throw new ApiFailure(401, { error: "log in first" });
  }
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!r.ok) throw new ApiFailure(r.status, data);
  return data;
}

function failure(e) {
  return h("div", { class: "error", role: "alert" }, e.field ? `${e.field}: ${e.message}` : e.message);
}

// --- Navigation. ---
const PAGES = [
  ["/", "Scanned images"], ["/running", "Running"], ["/exceptions", "Exceptions"],
  ["/admission", "Admission"], ["/alerts", "Alerts"], ["/settings", "Settings"],
];

function go(url, replace) {
  if (replace) history.replaceState(null, "", url); else history.pushState(null, "", url);
  render();
}

document.addEventListener("click", (e) => {
  const a = e.target.closest("a[data-link]");
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || a.target) return;
  e.preventDefault();
  go(a.getAttribute("href"));
});
window.addEventListener("popstate", render);

function drawNav() {
  const nav = document.getElementById("nav");
  nav.replaceChildren(...(session ? PAGES.map(([p, name]) => {
    const a = link(p, name);
    const here = location.pathname === p || (p === "/" && location.pathname.startsWith("/image/"));
    if (here) a.setAttribute("aria-current", "page");
    return a;
  }) : []));
  const who = document.getElementById("who");
  who.replaceChildren(...(session ? [
    h("span", {}, `${session.name || session.id} · ${session.scope}`),
    h("button", { type: "button", onclick: logout }, "Log out"),
  ] : []));
}

async function drawStatus() {
  const el = document.getElementById("status");
  if (!session) { el.replaceChildren(); return; }
  try {
    const s = await api("/api/v1/status");
    const db = `DB ${s.db_version ? age(s.db_age_seconds) + " old" : "not loaded"}`;
    const parts = [s.sources.length
      ? h("details", { id: "db-sources" }, h("summary", {}, `${db} (${s.sources.length} source${s.sources.length === 1 ? "" : "s"})`),
        h("ul", {}, s.sources.map((x) => h("li", {}, `${x.name}: ${x.records} records (${x.kind}), imported ${ago(x.imported_at)}`))))
      : h("span", {}, db), " · "];
    if (s.degraded.length) {
      parts.push(h("details", {}, h("summary", {}, badge(`Degraded (${s.degraded.length})`, "Warn")),
        h("ul", {}, s.degraded.map((d) => h("li", {}, d)))));
    } else {
      parts.push(badge(s.ready ? "Ready" : "Not ready", s.ready ? "Pass" : "Fail"));
    }
    el.replaceChildren(...parts);
  } catch (e) { el.replaceChildren(h("span", {}, "status unknown")); }
}

async function logout() {
  await fetch("/logout", { method: "POST", headers: { "X-Portcullis-CSRF": "1" } });
  session = null;
  go("/login", true);
}

async function render() {
  const path = location.pathname;
  const q = new URLSearchParams(location.search);
  if (!session && path !== "/login") {
    try { session = await api("/api/v1/whoami"); } catch { return; }
  }
  drawNav();
  drawStatus();
  const m = main();
  m.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  try {
    if (path === "/login") await loginPage(q);
    else if (path === "/") await imagesPage(q, false);
    else if (path === "/running") await imagesPage(q, true);
    else if (path.startsWith("/image/")) await imagePage(decodeURIComponent(path.slice(7)));
    else if (path === "/exceptions") await exceptionsPage();
    else if (path === "/settings") await settingsPage();
    else if (path === "/alerts") await alertsPage();
    else if (path === "/admission") await admissionPage(q);
    else m.replaceChildren(h("h1", {}, "Not found"), link("/", "All scanned images"));
  } catch (e) {
    if (e.status !== 401) m.replaceChildren(failure(e));
  }
}

// --- Login. ---
// A plain form post: the server sets the cookie and sends the browser on (a real navigation).
const LOGIN_ERRORS = {
  invalid: "not a valid token",
  scope: "this token may not read (a push token is for CI)",
  limited: "too many failed attempts from this address; try again later",
};

async function loginPage(q) {
  document.title = "Log in · Portcullis";
  const input = h("input", { id: "token", name: "token", type: "password", required: true, autocomplete: "off",
    "aria-describedby": "token-help" });
  const error = q.get("error");
  const next = q.get("next") || "/";
  const form = h("form", { class: "panel form login", method: "post", action: "/login" },
    h("h1", {}, "Log in to Portcullis"),
    h("label", { for: "token" }, "API token"), input,
    h("input", { type: "hidden", name: "next", value: next }),
    h("p", { id: "token-help", class: "muted" },
      "A read token shows everything; a write token also changes exceptions, thresholds, alerts and tokens. ",
      "Make one with ", h("code", {}, "portcullis token create --scope read"), "."),
    error ? h("div", { class: "error", role: "alert" }, LOGIN_ERRORS[error] || "log in failed") : null,
    h("button", { class: "primary", type: "submit" }, "Log in"));
  main().replaceChildren(form);
  input.focus();
}

// --- Images. ---
const SEVERITIES = ["critical", "high", "medium", "low"];

function imageName(r) {
  const tag = r.tags && r.tags.length ? `:${r.tags[0]}` : "";
  return `${r.registry}/${r.repository}${tag}`;
}

async function imagesPage(q, runningOnly) {
  document.title = `${runningOnly ? "Running images" : "Scanned images"} · Portcullis`;
  const params = new URLSearchParams(q);
  if (runningOnly) params.set("running", "true");
  if (!params.has("sort")) params.set("sort", "status");
  const page = await api(`/api/v1/images?${params}`);
  const set = (changes) => {
    const next = new URLSearchParams(q);
    for (const [k, v] of Object.entries(changes)) { if (v === "" || v === null) next.delete(k); else next.set(k, v); }
    next.delete("after");
    go(`${location.pathname}${next.toString() ? "?" + next : ""}`);
  };
  // Filters: each a query parameter, so the view is a link.
  const search = h("input", { id: "f-search", type: "search", value: q.get("cve") || q.get("package") || "",
    placeholder: "CVE-2023-1234 or openssl" });
  const status = h("select", { id: "f-status" }, ["", "Fail", "Warn", "Pass"].map((s) =>
    h("option", { value: s, selected: (q.get("status") || "") === s }, s || "any")));
  const registry = h("input", { id: "f-registry", value: q.get("registry") || "", placeholder: "any" });
  const namespace = h("input", { id: "f-namespace", value: q.get("namespace") || "", placeholder: "any" });
  const running = h("select", { id: "f-running" }, [["", "any"], ["true", "running"], ["false", "not running"]].map(([v, t]) =>
    h("option", { value: v, selected: (q.get("running") || "") === v }, t)));
  const filters = h("form", { class: "panel filters", role: "search", onsubmit: (e) => {
    e.preventDefault();
    const term = search.value.trim();
    const isId = /^(CVE|GHSA|PYSEC|RUSTSEC|GO|DSA|DLA|OSV|ALSA|RHSA|USN|DEBIAN|ALPINE|NSWG)-/i.test(term);
    set({ status: status.value, registry: registry.value.trim(), namespace: namespace.value.trim(),
      running: runningOnly ? "" : running.value, cve: isId ? term : "", package: isId ? "" : term });
  } },
    h("label", { for: "f-search" }, "Vulnerability or package", search),
    h("label", { for: "f-status" }, "Result", status),
    h("label", { for: "f-registry" }, "Registry", registry),
    h("label", { for: "f-namespace" }, "Namespace", namespace),
    runningOnly ? null : h("label", { for: "f-running" }, "Running", running),
    h("div", { class: "actions" }, h("button", { class: "primary", type: "submit" }, "Apply"),
      link(location.pathname, "Clear")));
  const exportParams = new URLSearchParams(params); exportParams.delete("after"); exportParams.delete("limit");
  const csvParams = new URLSearchParams(exportParams); csvParams.set("format", "csv");
  const exports = h("div", { class: "actions" },
    h("a", { class: "button", href: `/api/v1/images?${csvParams}`, download: "images.csv" }, "Export CSV"),
    h("a", { class: "button", href: `/api/v1/images?${exportParams}&limit=1000`, download: "images.json" }, "Export JSON"));
  // Sortable headers: a click sorts by the column; a second turns the order.
  const NATURAL_DESC = ["max_cvss", "instances", "last_seen"];
  const sortable = (key, label, cls) => {
    const cur = params.get("sort") === key;
    const dir = q.get("order") || (NATURAL_DESC.includes(key) ? "desc" : "asc");
    return h("th", { class: cls, "aria-sort": cur ? (dir === "asc" ? "ascending" : "descending") : null, scope: "col" },
      h("button", { type: "button", onclick: () => set({ sort: key, order: cur ? (dir === "asc" ? "desc" : "asc") : "" }) },
        label, cur ? (dir === "asc" ? " ▲" : " ▼") : ""));
  };
  const head = h("tr", {},
    sortable("status", "Result"), sortable("name", "Image"), h("th", { class: "hide-narrow", scope: "col" }, "Digest"),
    sortable("max_cvss", "Max CVSS", "num"),
    h("th", { class: "num", scope: "col" }, "Crit / High / Med / Low"),
    runningOnly ? h("th", { scope: "col" }, "Where") : null,
    sortable("instances", runningOnly ? "Instances" : "Running", "num"),
    sortable("last_seen", "Last seen", "hide-narrow"));
  const rows = page.items.map((r) => h("tr", {},
    h("td", {}, r.status ? badge(r.status) : badge("unscanned", "unknown")),
    h("td", {}, link(`/image/${encodeURIComponent(r.digest)}`, imageName(r))),
    h("td", { class: "mono hide-narrow" }, short(r.digest)),
    h("td", { class: "num" }, r.max_cvss === null ? "–" : r.max_cvss.toFixed(1)),
    h("td", { class: "num counts" }, SEVERITIES.map((s) => h("span", { class: (r.counts[s] || 0) ? `c-${s}` : "muted" }, r.counts[s] || 0))),
    runningOnly ? h("td", {}, [r.clusters.join(", "), h("br"), h("span", { class: "muted" }, r.workloads.join(", "))]) : null,
    h("td", { class: "num" }, r.running ? `${r.instances}` : h("span", { class: "muted" }, "no")),
    h("td", { class: "hide-narrow", title: r.last_seen }, ago(r.last_seen))));
  const table = h("div", { class: "scroll" }, h("table", {},
    h("thead", {}, head), h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 8, class: "muted" }, "No image matches.")))));
  const pager = h("div", { class: "pager" },
    h("span", { class: "muted" }, `${page.total} image${page.total === 1 ? "" : "s"}`),
    q.get("after") ? link(`${location.pathname}?${withoutAfter(q)}`, "First page") : null,
    page.next ? link(`${location.pathname}?${withAfter(q, page.next)}`, "Next page") : null);
  main().replaceChildren(h("h1", {}, runningOnly ? "Running images" : "All scanned images"), filters, exports, table, pager);
  performance.mark("portcullis:listed");
}

function withAfter(q, after) { const n = new URLSearchParams(q); n.set("after", after); return n; }
function withoutAfter(q) { const n = new URLSearchParams(q); n.delete("after"); return n; }

// --- One image. ---
function splitRef(ref) {
  let rest = ref.split("@")[0];
  let tag = "";
  const slash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  if (colon > slash) { tag = rest.slice(colon + 1); rest = rest.slice(0, colon); }
  const first = rest.split("/")[0];
  if (rest.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost")) {
    return { registry: first, repository: rest.slice(first.length + 1), tag };
  }
  return { registry: "docker.io", repository: rest.includes("/") ? rest : `library/${rest}`, tag };
}

async function imagePage(digest) {
  const d = await api(`/api/v1/images/${encodeURIComponent(digest)}`);
  const ref = d.image.reference || d.target;
  document.title = `${ref} · Portcullis`;
  const where = splitRef(ref);
  const decisions = await api(`/api/v1/decisions?image=${encodeURIComponent(`${where.registry}/${where.repository}`.replace(/^docker\.io\/(library\/)?/, ""))}&limit=20`).catch(() => []);
  const s = d.summary;
  const facts = h("div", { class: "grid" },
    h("div", { class: "fact" }, "Result", h("b", {}, badge(s.status))),
    h("div", { class: "fact" }, "Max CVSS", h("b", {}, s.max_cvss === null || s.max_cvss === undefined ? "–" : s.max_cvss.toFixed(1))),
    h("div", { class: "fact" }, "Vulnerabilities", h("b", {}, SEVERITIES.map((x) => `${(s.counts[x] || 0)} ${x[0].toUpperCase()}`).join(" · "))),
    h("div", { class: "fact" }, "Excepted", h("b", {}, s.ignored || 0)),
    h("div", { class: "fact" }, "Scanned", h("b", { title: d.scanned_at || "" }, ago(d.scanned_at) || "–")),
    h("div", { class: "fact" }, "DB", h("b", { class: "mono" }, (d.db && d.db.version || "").slice(0, 12))));
  const vulns = d.vulnerabilities.slice().sort((a, b) =>
    (a.ignored ? 1 : 0) - (b.ignored ? 1 : 0) || ((b.cvss && b.cvss.score) || 0) - ((a.cvss && a.cvss.score) || 0));
  const vrows = vulns.map((m) => h("tr", {},
    h("td", {}, h("a", { href: (m.links || [])[0] || "#", rel: "noreferrer", target: "_blank" }, m.id),
      m.aliases.length ? h("div", { class: "muted" }, m.aliases.join(", ")) : null),
    h("td", {}, m.ignored ? badge(m.severity, "ignored") : badge(m.severity)),
    h("td", { class: "num" }, m.cvss ? m.cvss.score.toFixed(1) : "–",
      m.cvss ? h("div", { class: "mono muted hide-narrow" }, m.cvss.vector) : null),
    h("td", {}, m.package.name, h("div", { class: "muted" }, m.package.version)),
    h("td", {}, m.fixed_versions.length ? m.fixed_versions.join(", ") : h("span", { class: "muted" }, "no fix")),
    h("td", { class: "hide-narrow" }, h("span", { class: "mono" }, m.matched_by.location),
      m.matched_by.layer ? h("div", { class: "mono muted" }, `layer ${short(m.matched_by.layer)}`) : null),
    h("td", {}, m.ignored
      ? h("span", { class: "muted" }, `excepted: ${m.ignored.justification || m.ignored.exception}`)
      : canWrite() ? h("button", { type: "button", onclick: () => exceptionDialog(m, where, digest) }, "Add exception") : "")));
  const packages = d.packages.map((p) => h("tr", {},
    h("td", {}, p.name), h("td", {}, p.ecosystem), h("td", { class: "mono" }, p.version),
    h("td", { class: "mono hide-narrow" }, (p.locations || []).map((l) => h("div", {}, l.path, l.layer ? h("span", { class: "muted" }, ` @ ${short(l.layer)}`) : null)))));
  const history = (d.history || []).slice().reverse().map((c) => h("tr", {},
    h("td", { title: c.time }, ago(c.time)), h("td", {}, c.from ? badge(c.from) : "–", " → ", badge(c.to)),
    h("td", {}, c.cause), h("td", { class: "mono hide-narrow" }, c.db_version.slice(0, 12))));
  main().replaceChildren(
    h("p", {}, link("/", "← All scanned images")),
    h("h1", {}, ref), h("p", { class: "mono muted" }, d.image.digest || digest), facts,
    h("h2", {}, `Vulnerabilities (${vulns.length})`),
    h("div", { class: "scroll" }, h("table", { id: "vulnerabilities" }, h("thead", {}, h("tr", {},
      ["Vulnerability", "Severity", "CVSS", "Package", "Fixed in", "Where found", ""].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, vrows.length ? vrows : h("tr", {}, h("td", { colspan: 7, class: "muted" }, "None found."))))),
    h("h2", {}, "Status history"),
    h("div", { class: "scroll" }, h("table", {}, h("thead", {}, h("tr", {}, ["When", "Change", "Why", "DB"].map((t) => h("th", { scope: "col" }, t)))), h("tbody", {}, history))),
    h("h2", {}, "Admission decisions naming it"),
    decisionTable(decisions),
    h("h2", {}, `Packages (${packages.length})`),
    h("div", { class: "scroll" }, h("table", {}, h("thead", {}, h("tr", {}, ["Package", "Ecosystem", "Version", "Where found"].map((t) => h("th", { scope: "col" }, t)))), h("tbody", {}, packages))));
}

function exceptionDialog(m, where, digest) {
  const scope = h("select", { id: "x-scope" }, [["any", "Any image"], ["repository", `Repository ${where.registry}/${where.repository}`],
    ["image", `This image (${where.tag || "untagged"})`]].map(([v, t]) => h("option", { value: v }, t)));
  const justification = h("textarea", { id: "x-justification", required: true });
  const expires = h("input", { id: "x-expires", type: "date" });
  const err = h("div", {});
  const dialog = h("dialog", { "aria-labelledby": "x-title" });
  const form = h("form", { class: "form", onsubmit: async (e) => {
    e.preventDefault();
    const body = { id: m.id, scope: scope.value, justification: justification.value.trim() };
    if (scope.value !== "any") { body.registry = where.registry; body.repository = where.repository; }
    if (scope.value === "image") body.tags = where.tag ? [where.tag] : [];
    if (expires.value) body.expires = expires.value;
    try {
      await api("/api/v1/exceptions", { method: "POST", body });
      err.replaceChildren(h("div", { class: "notice" }, "Saved: the result is recomputed within seconds."));
      // The service puts it in force within seconds; show the image once it has.
      for (let i = 0; i < 30; i++) {
        await new Promise((r) => setTimeout(r, 500));
        const d = await api(`/api/v1/images/${encodeURIComponent(digest)}`);
        if (d.vulnerabilities.some((v) => v.id === m.id && v.ignored)) break;
      }
      dialog.close(); dialog.remove();
      render();
    } catch (x) { err.replaceChildren(failure(x)); }
  } },
    h("h2", { id: "x-title" }, `Add an exception for ${m.id}`),
    h("label", { for: "x-scope" }, "Applies to", scope),
    h("label", { for: "x-justification" }, "Justification", justification),
    h("label", { for: "x-expires" }, "Expires (optional)", expires),
    err,
    h("div", { class: "actions" }, h("button", { class: "primary", type: "submit" }, "Save exception"),
      h("button", { type: "button", onclick: () => { dialog.close(); dialog.remove(); } }, "Cancel")));
  dialog.append(form);
  document.body.append(dialog);
  dialog.showModal();
  justification.focus();
}

// --- Admission. ---
function decisionTable(list) {
  const rows = list.map((d) => h("tr", {},
    h("td", { title: d.time }, ago(d.time)),
    h("td", {}, badge(d.allowed ? "allowed" : "rejected")),
    h("td", {}, d.namespace, h("div", { class: "muted" }, `${d.kind}/${d.name}`)),
    h("td", { class: "mono" }, d.images.join(" ")),
    h("td", {}, d.policy ? `${d.policy} #${d.rule}` : "–"),
    h("td", {}, d.message || (d.audit_rejections.length ? `audit: ${d.audit_rejections.join("; ")}` : ""))));
  return h("div", { class: "scroll" }, h("table", {}, h("thead", {}, h("tr", {},
    ["When", "Decision", "Namespace / object", "Images", "Policy", "Reasons"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 6, class: "muted" }, "None recorded.")))));
}

async function admissionPage(q) {
  document.title = "Admission · Portcullis";
  const result = q.get("result") ?? "rejected";
  const params = new URLSearchParams({ limit: "200" });
  if (result) params.set("result", result);
  if (q.get("namespace")) params.set("namespace", q.get("namespace"));
  const list = await api(`/api/v1/decisions?${params}`);
  const pick = h("select", { id: "a-result", onchange: (e) => go(`/admission?result=${e.target.value}`) },
    [["rejected", "Rejections"], ["allowed", "Admissions"], ["", "All"]].map(([v, t]) => h("option", { value: v, selected: v === result }, t)));
  main().replaceChildren(h("h1", {}, "Admission decisions"),
    h("div", { class: "panel filters" }, h("label", { for: "a-result" }, "Show", pick)), decisionTable(list));
}

// --- Exceptions. ---
async function exceptionsPage() {
  document.title = "Exceptions · Portcullis";
  const [list, vex] = await Promise.all([api("/api/v1/exceptions"), api("/api/v1/vex")]);
  const sel = (e) => `id=${encodeURIComponent(e.id)}${e.repository ? `&repository=${encodeURIComponent(`${e.registry || ""}/${e.repository}`)}` : ""}`;
  const change = async (e, body) => { await api(`/api/v1/exceptions?${sel(e)}`, { method: "PATCH", body }); render(); };
  const rows = list.map((e) => {
    const expired = e.expires && Date.parse(e.expires) < Date.now();
    return h("tr", {},
      h("td", {}, e.id), h("td", {}, e.scope),
      h("td", {}, e.repository ? `${e.registry || ""}/${e.repository}` : "any", e.tags && e.tags.length ? h("div", { class: "muted" }, e.tags.join(", ")) : null),
      h("td", {}, e.justification || ""),
      h("td", {}, e.expires ? (expired ? badge(`expired ${e.expires}`, "unknown") : e.expires) : "never"),
      h("td", { class: "hide-narrow" }, e.created_by || "", e.created ? h("div", { class: "muted" }, ago(e.created)) : null),
      h("td", {}, canWrite() ? h("div", { class: "actions" },
        h("button", { type: "button", onclick: () => { const j = prompt(`Justification for ${e.id}`, e.justification || ""); if (j !== null) change(e, { justification: j }); } }, "Edit"),
        expired ? null : h("button", { type: "button", onclick: () => change(e, { expires: new Date().toISOString().replace(/\.\d+Z$/, "Z") }) }, "Expire now"),
        h("button", { type: "button", class: "danger", onclick: async () => { if (confirm(`Remove the exception for ${e.id}?`)) { await api(`/api/v1/exceptions?${sel(e)}`, { method: "DELETE" }); render(); } } }, "Remove")) : ""));
  });
  const err = h("div", {});
  const csv = h("textarea", { id: "csv", placeholder: "CVE,Registry,Repository,Tags,Justification,Scope" });
  const importForm = canWrite() ? h("form", { class: "panel form", onsubmit: async (ev) => {
    ev.preventDefault();
    try { const r = await api("/api/v1/exceptions/import", { method: "POST", body: csv.value, raw: true, type: "text/csv" });
      err.replaceChildren(h("div", { class: "notice" }, `${r.added} added, ${r.total} in all.`)); setTimeout(render, 800);
    } catch (x) { err.replaceChildren(failure(x)); }
  } }, h("label", { for: "csv" }, "Import Calico CSV (refused whole if one line is wrong)", csv), err,
    h("div", {}, h("button", { class: "primary", type: "submit" }, "Import"))) : null;
  const vexText = h("textarea", { id: "vex", placeholder: "{\"@context\": \"https://openvex.dev/ns/v0.2.0\", ...}" });
  const vexErr = h("div", {});
  const vexForm = canWrite() ? h("form", { class: "panel form", onsubmit: async (ev) => {
    ev.preventDefault();
    try { await api("/api/v1/vex", { method: "POST", body: vexText.value, raw: true, type: "application/json" }); render(); }
    catch (x) { vexErr.replaceChildren(failure(x)); }
  } }, h("label", { for: "vex" }, "Import an OpenVEX document", vexText), vexErr,
    h("div", {}, h("button", { class: "primary", type: "submit" }, "Import VEX"))) : null;
  main().replaceChildren(h("h1", {}, "Vulnerability exceptions"),
    h("p", { class: "muted" }, "Made here or through the API; those from files and ContainerVulnerabilityException resources apply too. A change applies within seconds, to stored results and to admission."),
    h("div", { class: "actions" }, h("a", { class: "button", href: "/api/v1/exceptions?format=csv", download: "exceptions.csv" }, "Export CSV")),
    h("div", { class: "scroll" }, h("table", { id: "exceptions" }, h("thead", {}, h("tr", {},
      ["Vulnerability", "Scope", "Where", "Justification", "Expires", "Made by", ""].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No exception made through the API."))))),
    importForm,
    h("h2", {}, "OpenVEX documents"),
    h("div", { class: "scroll" }, h("table", {}, h("thead", {}, h("tr", {}, ["Document", "Author", "Statements", "Not affected", ""].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, vex.map((v) => h("tr", {}, h("td", { class: "mono" }, v.id), h("td", {}, v.author || ""), h("td", { class: "num" }, v.statements), h("td", { class: "num" }, v.not_affected),
        h("td", {}, canWrite() ? h("button", { type: "button", class: "danger", onclick: async () => { await api(`/api/v1/vex?id=${encodeURIComponent(v.id)}`, { method: "DELETE" }); render(); } }, "Remove") : "")))))),
    vexForm);
}

// --- Settings. ---
async function settingsPage() {
  document.title = "Settings · Portcullis";
  const t = await api("/api/v1/settings/thresholds");
  const tokens = canWrite() ? await api("/api/v1/tokens") : [];
  const history = await api("/api/v1/settings/history?limit=30");
  const warn = h("input", { id: "t-warn", type: "number", min: 0, max: 10, step: 0.1, value: t.warn });
  const fail = h("input", { id: "t-fail", type: "number", min: 0, max: 10, step: 0.1, value: t.fail });
  const statuses = (id, v) => h("select", { id }, ["Pass", "Warn", "Fail"].map((s) => h("option", { value: s, selected: s === v }, s)));
  const unknown = statuses("t-unknown", t.unknown);
  const uncovered = statuses("t-uncovered", t.uncovered);
  const out = h("div", {});
  const change = () => ({ warn: Number(warn.value), fail: Number(fail.value), unknown: unknown.value, uncovered: uncovered.value });
  const thresholds = h("form", { class: "panel form", onsubmit: async (e) => {
    e.preventDefault();
    try {
      const p = await api("/api/v1/settings/thresholds/preview", { method: "POST", body: change() });
      out.replaceChildren(h("div", { class: "notice", role: "alert" },
        `${p.changes} of ${p.images} images change result with these thresholds (${p.to_fail} to Fail). `,
        h("button", { class: "primary", type: "button", onclick: async () => {
          try { await api("/api/v1/settings/thresholds", { method: "PUT", body: change() });
            out.replaceChildren(h("div", { class: "notice" }, "Saved: results are relabelled within seconds, each change recorded."));
          } catch (x) { out.replaceChildren(failure(x)); }
        } }, "Confirm and save")));
    } catch (x) { out.replaceChildren(failure(x)); }
  } },
    h("h2", {}, "Thresholds"),
    h("div", { class: "filters" },
      h("label", { for: "t-warn" }, "Warn at CVSS ≥", warn), h("label", { for: "t-fail" }, "Fail at CVSS ≥", fail),
      h("label", { for: "t-unknown" }, "A match with no score", unknown), h("label", { for: "t-uncovered" }, "Packages no source covers", uncovered)),
    out,
    canWrite() ? h("div", {}, h("button", { class: "primary", type: "submit" }, "Review change")) : h("p", { class: "muted" }, "A write token changes thresholds."));
  let tokenPanel = null;
  if (canWrite()) {
    const name = h("input", { id: "k-name", required: true, placeholder: "ci-main" });
    const scope = h("select", { id: "k-scope" }, ["push", "read", "write"].map((s) => h("option", { value: s }, s)));
    const expires = h("input", { id: "k-expires", placeholder: "90d (optional)" });
    const shown = h("div", {});
    tokenPanel = h("div", { class: "panel" }, h("h2", {}, "API tokens"),
      h("form", { class: "filters", onsubmit: async (e) => {
        e.preventDefault();
        try {
          const made = await api("/api/v1/tokens", { method: "POST", body: { name: name.value, scope: scope.value, expires: expires.value || null } });
          shown.replaceChildren(h("div", { class: "notice" }, `Token ${made.stored.id} (${made.stored.scope}): shown this once, keep it secret.`,
            h("div", { class: "secret", id: "new-token" }, made.token)));
          const list = await api("/api/v1/tokens");
          document.getElementById("tokens").replaceWith(tokenTable(list));
        } catch (x) { shown.replaceChildren(failure(x)); }
      } }, h("label", { for: "k-name" }, "Name", name), h("label", { for: "k-scope" }, "Scope", scope),
        h("label", { for: "k-expires" }, "Expires in", expires), h("button", { class: "primary", type: "submit" }, "Create token")),
      shown, tokenTable(tokens));
  }
  const ci = `portcullis scan IMAGE --push ${location.origin} --token "$PORTCULLIS_TOKEN" --push-ca ca.crt`;
  main().replaceChildren(h("h1", {}, "Settings"), thresholds, tokenPanel,
    h("div", { class: "panel" }, h("h2", {}, "CI scanners"),
      h("p", {}, "Scan in the pipeline and push the result here with a push token; the service matches it with its own DB. ",
        h("code", {}, "ca.crt"), " is the service's CA (its path is printed when serve starts)."),
      h("pre", { class: "secret", id: "ci-command" }, ci),
      h("button", { type: "button", onclick: () => navigator.clipboard && navigator.clipboard.writeText(ci) }, "Copy")),
    h("h2", {}, "Recent changes"),
    h("div", { class: "scroll" }, h("table", {}, h("thead", {}, h("tr", {}, ["When", "Who", "Setting", "Change"].map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, history.map((c) => h("tr", {}, h("td", { title: c.time }, ago(c.time)), h("td", {}, c.actor), h("td", {}, c.setting), h("td", {}, c.action)))))));
}

function tokenTable(tokens) {
  return h("div", { class: "scroll", id: "tokens" }, h("table", {}, h("thead", {}, h("tr", {},
    ["Id", "Name", "Scope", "Created", "Expires", ""].map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, tokens.map((k) => h("tr", {}, h("td", { class: "mono" }, k.id), h("td", {}, k.name), h("td", {}, k.scope),
      h("td", { title: k.created }, ago(k.created)), h("td", {}, k.expires || "never"),
      h("td", {}, k.revoked ? badge("revoked", "unknown") : h("button", { type: "button", class: "danger", onclick: async () => {
        if (!confirm(`Revoke token ${k.id}?`)) return;
        await api(`/api/v1/tokens/${encodeURIComponent(k.id)}`, { method: "DELETE" });
        document.getElementById("tokens").replaceWith(tokenTable(await api("/api/v1/tokens")));
      } }, "Revoke")))))));
}

// --- Alerts. ---
async function alertsPage() {
  document.title = "Alerts · Portcullis";
  const [rules, fired] = await Promise.all([api("/api/v1/alert-rules"), api("/api/v1/alerts/fired")]);
  const err = h("div", {});
  const name = h("input", { id: "r-name", required: true });
  const query = h("input", { id: "r-query", placeholder: "result = Fail AND namespace IN {prod}", size: 40 });
  const severity = h("select", { id: "r-severity" }, ["low", "medium", "high", "critical"].map((s) => h("option", { value: s, selected: s === "high" }, s)));
  const form = canWrite() ? h("form", { class: "panel filters", onsubmit: async (e) => {
    e.preventDefault();
    try { await api("/api/v1/alert-rules", { method: "POST", body: { name: name.value, query: query.value, severity: severity.value, description: query.value } }); render(); }
    catch (x) { err.replaceChildren(failure(x)); }
  } }, h("label", { for: "r-name" }, "Name", name), h("label", { for: "r-query" }, "Fires when any image matches", query),
    h("label", { for: "r-severity" }, "Severity", severity), h("button", { class: "primary", type: "submit" }, "Add rule"), err) : null;
  main().replaceChildren(h("h1", {}, "Alerts"),
    h("h2", {}, "Rules"),
    h("div", { class: "scroll" }, h("table", {}, h("thead", {}, h("tr", {}, ["Name", "From", "Severity", "Query", "Fires when", "Grouped by", ""].map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, rules.map((r) => h("tr", {}, h("td", {}, r.name), h("td", {}, r.source), h("td", {}, badge(r.severity, r.severity)),
        h("td", { class: "mono" }, r.query || "(every image)"),
        h("td", {}, `${r.metric}${r.field ? `(${r.field})` : ""} ${r.condition} ${r.threshold}`),
        h("td", {}, (r.aggregateBy || []).join(", ")),
        h("td", {}, canWrite() && r.source === "api" ? h("button", { type: "button", class: "danger", onclick: async () => { await api(`/api/v1/alert-rules/${encodeURIComponent(r.name)}`, { method: "DELETE" }); render(); } }, "Remove") : "")))))),
    form,
    h("h2", {}, "Fired"),
    h("div", { class: "scroll" }, h("table", {}, h("thead", {}, h("tr", {}, ["When", "Rule", "Severity", "Group", "Value", "Delivered"].map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, fired.slice().reverse().map((f) => h("tr", {}, h("td", { title: f.time }, ago(f.time)), h("td", {}, f.alert.rule),
        h("td", {}, badge(f.alert.severity, f.alert.severity)),
        h("td", {}, Object.entries(f.alert.group).map(([k, v]) => `${k}=${v}`).join(", ")),
        h("td", { class: "num" }, f.alert.value), h("td", {}, f.outcome.join("; "))))))));
}

render();
