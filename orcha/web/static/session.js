// The session panel: what one session was asked, is doing and has said, following its status live.

import { $, api, objectiveRow, onRender, scheduleRender, sessionRow, state, targetName } from "./core.js";
import { TERMINAL, ago, clock, esc, money, printable, span, summaryOf, tokens } from "./format.js";

const COLLAPSED = new Set(["tool_call", "tool_result", "system", "usage", "screen"]);
const LABELS = { user: "user", tool_call: "tool", tool_result: "result", error: "error", question: "question", system: "system", usage: "usage" };

let fetched = null; // GET /api/sessions/{id} of the open session (its prompt; its row when the dashboard has none)
let source = null;
let screenTimer = null;
let opening = 0;
let shownKey = "";

/** The open session as the page knows it now: the dashboard's live row over what was fetched. */
export function current() {
  if (!state.selected) return null;
  const row = sessionRow(state.selected);
  return fetched && fetched.id === state.selected ? { ...fetched, ...(row || {}) } : row || null;
}

function lineElement(item) {
  const div = document.createElement("div");
  div.className = `line k-${item.kind}`;
  div.dataset.seq = item.seq;
  const summary = COLLAPSED.has(item.kind) ? summaryOf(item) : item.body;
  if (item.kind === "tool_result" && summary.startsWith("✗")) div.classList.add("failed");
  const head = document.createElement("div");
  head.className = "sum";
  if (LABELS[item.kind]) {
    const kind = document.createElement("span");
    kind.className = "kind";
    kind.textContent = LABELS[item.kind] + " ";
    head.appendChild(kind);
  }
  head.appendChild(document.createTextNode(printable(summary)));
  div.appendChild(head);
  if (COLLAPSED.has(item.kind) && String(item.body).trim() !== summary.trim()) {
    div.classList.add("expandable");
    const body = document.createElement("div");
    body.className = "body";
    body.textContent = printable(item.body);
    div.appendChild(body);
    head.title = "click to show the whole entry";
  }
  return div;
}

function appendLine(item) {
  const box = $("#transcript");
  const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
  box.appendChild(lineElement(item));
  if (atBottom) box.scrollTop = box.scrollHeight;
}

// Live lines come without their one-line summary (the stream sends seq, kind, body, ts): a tool call or
// result is shown with a local reading at once, then with the server's summary from the messages API.
const PAIRING = 8; // lines read before the first unsummarized one, so a result finds its call
let unsummarized = null;
let summarizing = 0; // the opening whose summaries are being fetched

function liveLine(item, mine, id) {
  appendLine(item);
  if (item.summary !== undefined || !COLLAPSED.has(item.kind)) return;
  unsummarized = unsummarized === null ? item.seq : Math.min(unsummarized, item.seq);
  if (summarizing !== mine) { summarizing = mine; setTimeout(() => summarize(mine, id).catch(() => {}), 200); }
}

async function summarize(mine, id) {
  try {
    while (unsummarized !== null && mine === opening) {
      const from = unsummarized;
      unsummarized = null;
      const after = Math.max(0, from - 1 - PAIRING);
      const page = await api("GET", `/api/sessions/${encodeURIComponent(id)}/messages?after=${after}&limit=1000`);
      if (mine !== opening) return;
      for (const item of page.items) {
        const shown = item.seq >= from && COLLAPSED.has(item.kind) && $(`#transcript .line[data-seq="${item.seq}"]`);
        if (!shown) continue;
        const fresh = lineElement(item);
        if (shown.classList.contains("open")) fresh.classList.add("open");
        shown.replaceWith(fresh);
      }
    }
  } finally {
    if (summarizing === mine) summarizing = 0;
  }
}

function stopFollowing() {
  if (source) { source.close(); source = null; }
  if (screenTimer) { clearInterval(screenTimer); screenTimer = null; }
}

/** Open session ``id`` in the panel: its facts, its transcript's history, then its transcript live. */
export async function openSession(id) {
  const mine = ++opening;
  state.selected = id;
  state.cursor = id;
  state.objective = null;
  stopFollowing();
  unsummarized = null;
  fetched = null;
  shownKey = "";
  $("#transcript").innerHTML = "";
  $("#screen").hidden = true;
  scheduleRender();
  const session = await api("GET", `/api/sessions/${encodeURIComponent(id)}`);
  if (mine !== opening) return;
  fetched = session;
  scheduleRender();
  let after = 0;
  for (;;) { // page the history, then tail it live
    const page = await api("GET", `/api/sessions/${encodeURIComponent(id)}/messages?after=${after}&limit=1000`);
    if (mine !== opening) return;
    page.items.forEach(appendLine);
    after = page.next_after;
    if (page.items.length < 1000) break;
  }
  source = new EventSource(`/api/sessions/${encodeURIComponent(id)}/stream?after=${after}`);
  source.addEventListener("line", (event) => liveLine(JSON.parse(event.data), mine, id));
  source.addEventListener("end", async () => {
    if (source) { source.close(); source = null; }
    const ended = await api("GET", `/api/sessions/${encodeURIComponent(id)}`).catch(() => null);
    if (ended && mine === opening) { fetched = ended; scheduleRender(); }
  });
  followScreen();
}

/**
 * Poll the open session's tmux screen while it has one: from when its row first carries an
 * ``attach_command`` (it may get one only once it leaves the capacity queue) until it ends.
 */
function followScreen() {
  const s = current();
  const live = Boolean(s && s.attach_command && !TERMINAL.has(s.status));
  if (!live) {
    if (screenTimer) { clearInterval(screenTimer); screenTimer = null; }
    $("#screen").hidden = true; // an ended session's last screen is no screen of it now
    return;
  }
  if (screenTimer) return;
  const mine = opening;
  const id = s.id;
  const poll = async () => {
    try {
      const screen = await api("GET", `/api/sessions/${encodeURIComponent(id)}/screen`);
      const still = current();
      if (mine === opening && still && !TERMINAL.has(still.status)) {
        $("#screen").textContent = printable(screen.screen);
        $("#screen").hidden = false;
      }
    } catch { if (mine === opening) $("#screen").hidden = true; }
  };
  poll();
  screenTimer = setInterval(poll, 2000);
}

function facts(s) {
  const objective = objectiveRow(s.objective_id);
  const ended = TERMINAL.has(s.status);
  const reason = s.waiting_for || (["failed", "canceled", "paused"].includes(s.status) ? s.status_reason || s.pause_reason : "");
  const u = s.usage || {};
  const rows = [
    ["status", `<span class="st-${esc(s.status)}" data-panel-status="${esc(s.status)}">${esc(s.status)}</span>` +
      (reason ? ` <span class="dim">${esc(reason)}</span>` : "")],
    ["task", esc(s.task || (s.prompt || "").split("\n").find((l) => l.trim()) || "")],
    ["now", ended ? `<span class="dim" data-panel-now="ended">ended (${esc(s.status)}${s.ended_at ? " at " + esc(clock(s.ended_at)) : ""})</span>` +
      (s.now ? ` <span class="dim">· last: ${esc(printable(s.now))}</span>` : "")
      : s.now ? esc(printable(s.now)) : '<span class="dim">nothing yet</span>'],
    ["last out", s.last_output_at ? `<span class="ago" data-ago="${s.last_output_at}">${esc(ago(s.last_output_at))}</span> <span class="dim">${esc(clock(s.last_output_at))}</span>` : '<span class="dim">no output yet</span>'],
    ["ran", s.started_at ? `${esc(clock(s.started_at))} → ${s.ended_at ? esc(clock(s.ended_at)) : "now"} <span class="dim">(<span data-span-from="${s.started_at}" data-span-to="${s.ended_at || ""}">${esc(span((s.ended_at || Date.now() / 1000) - s.started_at))}</span>)</span>` : '<span class="dim">not started</span>'],
    ["usage", `${u.model_calls || 0} turns · ${tokens((u.input_tokens || 0) + (u.output_tokens || 0))} tokens · ${esc(money(u.cost_usd))}` + (u.errors ? ` · <span class="st-failed">${u.errors} errors</span>` : "")],
    ["runs on", `${esc(targetName(s.target_id) || "not placed")} <span class="dim">· ${esc(s.agent)} · ${esc(s.mode || "")}</span>`],
    ["branch", s.branch ? esc(s.branch) : `<span class="dim">${esc(s.workspace_id || "no workspace")}</span>`],
    ["PR", s.pr_url ? `<a href="${esc(s.pr_url)}" target="_blank" rel="noopener">${esc(s.pr_url)}</a>` : '<span class="dim">none</span>'],
  ];
  if (s.attach_command && !ended) {
    rows.push(["attach", `<code>${esc(s.attach_command)}</code> <button type="button" class="small" data-copy="${esc(s.attach_command)}">copy</button>`]);
  }
  rows.push(["objective", objective ? `<button type="button" class="link" data-open-objective="${esc(objective.id)}">${esc(objective.title)}</button>` : esc(s.objective_id)]);
  return `<dl class="facts">${rows.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join("")}</dl>`;
}

function renderPanel() {
  const panel = $("#session-panel");
  panel.classList.toggle("hidden-panel", Boolean(state.objective));
  if (fetched && fetched.id === state.selected) followScreen();
  const s = current();
  const key = s ? JSON.stringify([s, state.dashboard && state.dashboard.targets.length]) : "";
  if (key === shownKey) return;
  shownKey = key;
  const steer = $("#steer-form");
  if (!s) {
    $("#panel-title").textContent = state.selected ? "loading…" : "(click a session, or j/k and enter)";
    $("#panel-meta").innerHTML = "";
    for (const el of steer.elements) el.disabled = !state.selected;
    return;
  }
  $("#panel-title").innerHTML = `${esc(s.role)} <span class="dim">${esc(s.id)}</span>`;
  $("#panel-title").className = "title";
  $("#panel-meta").innerHTML = facts(s);
  const ended = TERMINAL.has(s.status);
  for (const el of steer.elements) el.disabled = ended;
  steer.elements.text.placeholder = ended ? `this session is ${s.status}: nothing to steer` : "steer: a message for the agent";
}

onRender(renderPanel);
