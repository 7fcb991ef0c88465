// The dashboard: the websocket's live state rendered as objectives and sessions, PRs, targets and questions;
// keyboard navigation; the page's clicks and forms. The panels live in session.js and objective.js.

import { $, $$, api, arm, cancelButton, disarm, isArmed, loggedOut, objectiveRow, onRender, scheduleRender, sessionRow, showError, state, targetName } from "./core.js";
import { TERMINAL, ago, elide, esc, money, plural, printable, span, statusWord, tokens } from "./format.js";
import { closeObjective, drawCharts, objectiveChanged, openObjective } from "./objective.js";
import { openSession } from "./session.js";

// --- the live channel ---------------------------------------------------------------------------------

function connect() {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const ws = new WebSocket(scheme + location.host + "/ws");
  ws.onopen = () => { $("#conn").textContent = "live"; $("#conn").className = "live"; };
  ws.onclose = async () => {
    $("#conn").textContent = "reconnecting…"; $("#conn").className = "";
    const probe = await fetch("/api/openapi.json").catch(() => null); // why did it close? a 401 says: no login
    if (probe && probe.status === 401) { loggedOut(); setTimeout(connect, 10000); return; }
    setTimeout(connect, 1000);
  };
  ws.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "snapshot") {
      state.dashboard = message.dashboard;
      if (state.objective) objectiveChanged(state.objective);
    } else if (message.type === "delta") applyDelta(message);
    else if (message.type === "activity") applyActivity(message);
    scheduleRender();
  };
}

const COLLECTIONS = { objective: "objectives", session: "sessions", target: "targets", question: "open_questions", pr: "pull_requests" };

function applyDelta(delta) {
  const key = COLLECTIONS[delta.kind];
  if (!key || !state.dashboard) return;
  const rows = state.dashboard[key];
  const index = rows.findIndex((r) => r.id === delta.id);
  const before = index >= 0 ? rows[index] : null;
  if (delta.row === null || delta.row === undefined) { if (index >= 0) rows.splice(index, 1); }
  else if (index >= 0) rows[index] = { ...before, ...delta.row };
  else if (delta.kind === "objective") rows.unshift(delta.row);
  else rows.push(delta.row);
  const objectiveId = delta.kind === "objective" ? delta.id : (delta.row || before || {}).objective_id;
  if (objectiveId) objectiveChanged(objectiveId);
}

function applyActivity(message) {
  const now = Date.now() / 1000;
  const told = message.now || {};
  for (const id of message.sessions || []) {
    const row = sessionRow(id);
    if (!row) continue;
    const info = told[id];
    if (info && info.now != null) row.now = info.now; // null: its newest lines said nothing new, the row's now stands
    row.last_output_at = info && info.last_output_at ? info.last_output_at : now;
  }
}

// --- rendering ----------------------------------------------------------------------------------------

function matches(s, o, filter) {
  if (!filter) return true;
  const fields = [s.id, s.role, s.agent, s.status, s.task, s.now, s.branch, s.workspace_id, s.pr_url, targetName(s.target_id), o.title, o.id];
  return fields.some((f) => f && String(f).toLowerCase().includes(filter));
}

/** How long it has run (or ran), ticking while it runs. */
function ran(s) {
  if (!s.started_at) return "";
  const took = esc(span((s.ended_at || Date.now() / 1000) - s.started_at));
  return `<div class="dim elide" title="${s.ended_at ? "ran" : "running"} for ${took}">for <span data-span-from="${s.started_at}" data-span-to="${s.ended_at || ""}">${took}</span></div>`;
}

function statusCell(s) {
  const ended = ["failed", "canceled"].includes(s.status) ? s.status_reason : ""; // why it failed or was canceled
  const why = s.waiting_for || ended || "";
  const second = s.waiting_for ? `<div class="dim wait clamp" title="${esc(s.waiting_for)}">${esc(s.waiting_for)}</div>`
    : ended ? `<div class="dim reason clamp" title="${esc(ended)}">${esc(ended)}</div>` : ran(s);
  return `<td class="st-${esc(s.status)}" title="${esc(why)}"><div class="stw">${esc(statusWord(s.status))}</div>${second}</td>`;
}

function sessionHtml(s) {
  const u = s.usage || {};
  const liveText = s.role === "manager" ? ` (${s.live_workers || 0} live)` : "";
  const live = liveText ? ` <span class="dim">${esc(liveText.trim())}</span>` : "";
  const task = s.task || "";
  const now = printable(s.now || (TERMINAL.has(s.status) ? "" : "…"));
  const pr = s.pr_url ? `<a class="pr-link" href="${esc(s.pr_url)}" target="_blank" rel="noopener" title="${esc(s.pr_url)}">PR</a>` : "";
  const copy = s.attach_command && !TERMINAL.has(s.status) ? `<button type="button" class="small" data-copy="${esc(s.attach_command)}" title="${esc(s.attach_command)}">attach</button>` : "";
  const classes = ["session", state.selected === s.id ? "selected" : "", state.cursor === s.id ? "cursor" : ""].join(" ");
  return `<tr class="${classes}" data-session-row="${esc(s.id)}" data-role="${esc(s.role)}" data-status="${esc(s.status)}" data-objective="${esc(s.objective_id)}">` +
    statusCell(s) +
    `<td><div class="clamp taskline" title="${esc(`${s.role}${liveText} ${task || s.id} · ${s.id}`)}"><span class="role ${esc(s.role)}">${esc(s.role)}${live}</span> <span class="task">${esc(task || s.id)}</span></div>` +
    `<div class="clamp now" title="${esc(now)}">${esc(now)}</div></td>` +
    `<td>${s.last_output_at ? `<span class="ago elide" data-ago="${s.last_output_at}">${esc(ago(s.last_output_at))}</span>` : elide("no output", "dim")}</td>` +
    `<td class="usage">${elide(money(u.cost_usd))}${elide(plural(u.model_calls || 0, "turn"), "dim turns", "span", `${plural(u.model_calls || 0, "turn")} · ${tokens((u.input_tokens || 0) + (u.output_tokens || 0))} tokens`)}</td>` +
    `<td><div class="where">${elide(targetName(s.target_id) || "not placed")}<span class="dim">${esc(s.agent)}</span></div>` +
    `<div class="where">${elide(s.branch || s.workspace_id || "", "dim")}${pr}${copy}</div></td>` +
    `<td>${TERMINAL.has(s.status) ? "" : cancelButton(`session:${s.id}`, `data-cancel-session="${esc(s.id)}"`)}</td></tr>`;
}

function objectiveHtml(o, sessions) {
  const meta = `${plural(sessions.length, "session")} · ${plural(o.model_calls || 0, "turn")} · ${money(o.cost_usd)}`;
  return `<tr class="objective" data-objective="${esc(o.id)}"><td colspan="6"><div class="ohead">` +
    `<button type="button" class="link otitle elide" data-open-objective="${esc(o.id)}" title="${esc(`${o.title} (${o.id} · ${o.agent})`)}">${esc(o.title)}</button>` +
    `<span class="st-${esc(o.status)}">${esc(o.status)}</span>` +
    `<span class="ometa dim elide" title="${esc(meta)}">${esc(meta)}</span>` +
    `<span class="oact"><button type="button" class="small" data-open-objective="${esc(o.id)}">view</button>` +
    `${o.status === "active" ? cancelButton(`objective:${o.id}`, `data-cancel-objective="${esc(o.id)}"`, "small", "") : ""}</span>` +
    `</div></td></tr>`;
}

function renderSessions(d) {
  const filter = state.filter.trim().toLowerCase();
  const byObjective = new Map(d.objectives.map((o) => [o.id, []]));
  for (const s of d.sessions) (byObjective.get(s.objective_id) || []).push(s);
  let html = "";
  for (const o of d.objectives) {
    const sessions = (byObjective.get(o.id) || []).sort((a, b) =>
      (a.role === "manager" ? 0 : 1) - (b.role === "manager" ? 0 : 1) || (a.created_at || 0) - (b.created_at || 0));
    const shown = sessions.filter((s) => matches(s, o, filter));
    if (filter && !shown.length) continue;
    html += objectiveHtml(o, sessions) + shown.map(sessionHtml).join("");
  }
  $("#sessions tbody").innerHTML = html ||
    `<tr><td colspan="6" class="dim">${filter ? "no session matches the filter" : "no objectives yet: start one above"}</td></tr>`;
}

function renderHistory(d) {
  const h = d.history || {};
  const ended = d.objectives.filter((o) => o.status !== "active").length;
  $("#history").innerHTML = ended || h.more
    ? `${plural(ended, "ended objective")} shown` + (h.more ? ` · <button type="button" class="small" data-more-history="${esc(h.next_before)}">older objectives</button>` : "")
    : "";
}

/** The next page of ended objectives, with their sessions and PRs, added to what the page shows. */
async function moreHistory(before) {
  const page = await api("GET", `/api/dashboard?history_before=${encodeURIComponent(before)}`);
  const d = state.dashboard;
  if (!d) return;
  for (const key of ["objectives", "sessions", "pull_requests"]) {
    const known = new Set(d[key].map((r) => r.id));
    d[key].push(...page[key].filter((r) => !known.has(r.id)));
  }
  d.history = page.history;
  scheduleRender();
}

function renderQuestions(d) {
  const keep = new Map($$("#questions .question input").map((i) => [i.dataset.id, i.value]));
  const focused = document.activeElement && document.activeElement.closest("#questions") ? document.activeElement.dataset.id : null;
  $("#question-count").textContent = d.open_questions.length ? `(${d.open_questions.length})` : "";
  $("#questions").innerHTML = d.open_questions.map((q) => {
    const objective = q.objective_title || (objectiveRow(q.objective_id) || {}).title || q.objective_id;
    const asker = q.asked_by ? q.asked_by_task || (sessionRow(q.asked_by) || {}).task || q.asked_by : "orcha";
    return `<div class="question" data-question="${esc(q.id)}"><div class="qtext">${esc(q.text)}</div>` +
      `<div class="dim">${esc(q.audience)} · <button type="button" class="link" data-open-objective="${esc(q.objective_id)}">${esc(objective)}</button>` +
      ` · asked by <span class="asker">${esc(asker)}</span> · <span data-ago="${q.created_at}">${esc(ago(q.created_at))}</span></div>` +
      `<form data-answer="${esc(q.id)}"><input data-id="${esc(q.id)}" name="answer" placeholder="your answer" aria-label="answer"><button type="submit">answer</button></form></div>`;
  }).join("") || '<div class="dim">nothing needs you</div>';
  for (const input of $$("#questions .question input")) {
    input.value = keep.get(input.dataset.id) || "";
    if (focused && input.dataset.id === focused) input.focus();
  }
}

function render() {
  const d = state.dashboard;
  if (!d) return;
  const live = d.sessions.filter((s) => !TERMINAL.has(s.status)).length;
  $("#summary").textContent = `${plural(d.objectives.length, "objective")} · ${plural(live, "live session")} · ${plural(d.open_questions.length, "open question")}`;
  renderSessions(d);
  renderHistory(d);
  const objectiveTitle = (id) => (objectiveRow(id) || {}).title || id;
  $("#prs tbody").innerHTML = d.pull_requests.map((p) =>
    `<tr data-pr="${esc(p.id)}"><td><a class="pr-num" href="${esc(p.url)}" target="_blank" rel="noopener">#${esc(p.number)}</a></td>` +
    `<td class="st-${esc(p.state)}">${esc(p.state)}</td><td>${elide(p.branch)}</td>` +
    `<td>${elide(objectiveTitle(p.objective_id))}${elide(p.session_id ? (sessionRow(p.session_id) || {}).task || p.session_id : "", "dim")}</td>` +
    `<td><a class="pr-url elide" href="${esc(p.url)}" target="_blank" rel="noopener" title="${esc(p.url)}">${esc(p.url)}</a></td></tr>`).join("") ||
    '<tr><td colspan="5" class="dim">no pull requests yet</td></tr>';
  $("#targets tbody").innerHTML = d.targets.map((t) =>
    `<tr data-target="${esc(t.id)}"><td>${elide(t.name)}</td><td>${esc(t.kind)}</td>` +
    `<td><span class="elide" title="${esc(t.host_key ? `${t.host || ""} · host key ${t.host_key}` : t.host || "")}">${esc(t.host || "")}</span></td>` +
    `<td class="st-${esc(t.status)}">${elide(t.status)}${t.status !== "online" && t.status_reason ? elide(t.status_reason, "dim reason", "div") : ""}</td>` +
    `<td>${t.load}/${t.capacity_sessions}</td><td>` +
    ["drain", "disable", "enable", "doctor"].map((a) => `<button type="button" class="small" data-target-action="${a}" data-id="${esc(t.id)}">${a}</button>`).join(" ") +
    `</td></tr>`).join("");
  renderQuestions(d);
}

/** The cancel buttons drawn once (the panel's, the objective view's) follow their arming. */
function renderArmed() {
  const panel = $("#cancel-session");
  const on = Boolean(state.selected) && isArmed(`panel:${state.selected}`);
  panel.textContent = on ? "confirm cancel?" : "cancel";
  panel.classList.toggle("armed", on);
  for (const b of $$("#objective-body [data-cancel-objective]")) {
    const armed = isArmed(`objective:${b.dataset.cancelObjective}`);
    b.textContent = armed ? "confirm cancel?" : "cancel objective";
    b.classList.toggle("armed", armed);
  }
}

onRender(render);
onRender(renderArmed);

// live clocks: "12s ago" ticks without a message from the server
setInterval(() => {
  const now = Date.now() / 1000;
  for (const el of $$("[data-ago]")) {
    const at = Number(el.dataset.ago);
    el.textContent = ago(at, now);
    el.classList.toggle("stale", now - at > 300);
  }
  for (const el of $$("[data-span-from]")) {
    el.textContent = span((Number(el.dataset.spanTo) || now) - Number(el.dataset.spanFrom));
  }
}, 1000);
setInterval(drawCharts, 5000);

// --- clicks, forms, keys -------------------------------------------------------------------------------

async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = document.createElement("textarea");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  button.textContent = "copied";
  button.classList.add("copied");
  setTimeout(() => { button.textContent = button.dataset.label || "copy"; button.classList.remove("copied"); }, 1500);
}

/** A cancel's second click (within a few seconds of the first) cancels; its first only arms it. */
async function confirmed(key, path) {
  if (!isArmed(key)) { arm(key); return; }
  disarm();
  await api("POST", path, {});
}

/** A handler whose refusals are already shown in the header (by ``api``): nothing left to throw. */
const shown = (handler) => async (event) => {
  try { await handler(event); } catch (error) { if (!$("#error").textContent) showError(error.message); }
};

document.addEventListener("click", shown(async (event) => {
  const t = event.target.closest("button, a, .line.expandable > .sum, tr.session");
  if (!t) return;
  const data = t.dataset;
  if (data.copy !== undefined) { event.stopPropagation(); data.label = data.label || t.textContent; await copy(data.copy, t); return; }
  if (data.cancelSession) { await confirmed(`session:${data.cancelSession}`, `/api/sessions/${data.cancelSession}/cancel`); return; }
  if (data.cancelObjective) { await confirmed(`objective:${data.cancelObjective}`, `/api/objectives/${data.cancelObjective}/cancel`); return; }
  if (data.openObjective) { await openObjective(data.openObjective); return; }
  if (data.moreHistory) { await moreHistory(data.moreHistory); return; }
  if (data.openSession) { await openSession(data.openSession); return; }
  if (t.id === "close-objective") { closeObjective(); return; }
  if (t.id === "cancel-session") { if (state.selected) await confirmed(`panel:${state.selected}`, `/api/sessions/${state.selected}/cancel`); return; }
  if (data.targetAction) {
    const r = await api("POST", `/api/targets/${data.id}/${data.targetAction}`, {});
    if (r.doctor) $("#doctor").textContent = r.doctor.ok ? "doctor: all checks passed" : "doctor: missing " + r.doctor.missing.join("; ");
    return;
  }
  if (t.classList.contains("sum")) { t.parentElement.classList.toggle("open"); return; }
  if (t.matches("tr.session")) await openSession(data.sessionRow);
}));

document.addEventListener("submit", (event) => event.preventDefault());
document.addEventListener("submit", shown(async (event) => {
  const form = event.target;
  const data = Object.fromEntries([...new FormData(form)].filter(([, v]) => v !== ""));
  if (form.id === "new-objective-form") {
    const created = await api("POST", "/api/objectives", data);
    form.reset();
    form.agent.value = "claude";
    if (created && created.id) await openObjective(created.id);
  } else if (form.id === "add-target-form") {
    data.kind = "ssh";
    for (const k of ["port", "capacity_sessions"]) if (data[k]) data[k] = Number(data[k]);
    if (data.trust_on_first_use) data.trust_on_first_use = true;
    if (data.labels) data.labels = data.labels.split(",").map((l) => l.trim()).filter((l) => l);
    const r = await api("POST", "/api/targets", data);
    $("#doctor").textContent = r.doctor && !r.doctor.ok ? "doctor: missing " + r.doctor.missing.join("; ")
      : "doctor: all checks passed" + (r.doctor && r.doctor.host_key ? " (host key " + r.doctor.host_key + ")" : "");
    form.reset();
  } else if (form.id === "steer-form") {
    if (state.selected) { await api("POST", `/api/sessions/${state.selected}/steer`, { text: data.text || "" }); form.reset(); }
  } else if (form.dataset.answer) {
    await api("POST", `/api/questions/${form.dataset.answer}/answer`, { answer: data.answer || "" });
    objectiveChanged(state.objective);
  }
}));

function moveCursor(step) {
  const rows = $$("#sessions tr.session");
  if (!rows.length) return;
  const at = rows.findIndex((r) => r.dataset.sessionRow === state.cursor);
  const next = rows[at < 0 ? (step > 0 ? 0 : rows.length - 1) : Math.min(rows.length - 1, Math.max(0, at + step))];
  state.cursor = next.dataset.sessionRow;
  for (const r of rows) r.classList.toggle("cursor", r === next);
  next.scrollIntoView({ block: "nearest" });
}

document.addEventListener("keydown", (event) => {
  const typing = event.target.closest("input, textarea, select");
  if (typing) {
    if (event.key === "Escape") {
      if (event.target.id === "filter") { event.target.value = ""; state.filter = ""; scheduleRender(); }
      event.target.blur();
    }
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === "/") { event.preventDefault(); $("#filter").focus(); }
  else if (event.key === "Escape" && state.objective) closeObjective();
  else if (event.key === "j" || event.key === "ArrowDown") { event.preventDefault(); moveCursor(1); }
  else if (event.key === "k" || event.key === "ArrowUp") { event.preventDefault(); moveCursor(-1); }
  else if (event.key === "Enter" && state.cursor && !event.target.closest("button, a")) { event.preventDefault(); openSession(state.cursor).catch(() => {}); }
  else if (event.key === "o" && state.cursor) { const s = sessionRow(state.cursor); if (s) openObjective(s.objective_id).catch(() => {}); }
});

$("#filter").addEventListener("input", (event) => { state.filter = event.target.value; scheduleRender(); });

connect();
