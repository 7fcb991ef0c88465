// The objective's own view: its picture (timeline and cost), summary, questions (answerable here), notes,
// artifacts, pull requests and sessions. Refetched when the websocket says something of it changed.

import { $, api, objectiveRow, onRender, scheduleRender, state } from "./core.js";
import { TERMINAL, clock, esc, money, plural, span } from "./format.js";
import { LEGEND, costSvg, timelineSvg } from "./timeline.js";

let detail = null; // GET /api/objectives/{id}
let timeline = null; // GET /api/objectives/{id}/timeline
let timelineError = "";
let loading = false;
let stale = false;
let opening = 0;

/** Open objective ``id``'s view (the session panel gives way to it). */
export async function openObjective(id) {
  opening += 1;
  state.objective = id;
  detail = null;
  timeline = null;
  timelineError = "";
  $("#objective-body").innerHTML = '<div class="dim">loading…</div>';
  $("#objective-panel").classList.remove("hidden-panel"); // shown now: its charts are drawn at its width
  $("#session-panel").classList.add("hidden-panel");
  scheduleRender();
  await refresh();
}

export function closeObjective() {
  state.objective = null;
  opening += 1;
  scheduleRender();
}

const SPACING_MS = 1000; // a busy team changes its rows many times a second: refetch at most once a second
let lastFetch = 0;
let timer = null;

/** Something of the open objective changed: fetch it again (one fetch at a time, the last change wins). */
export function objectiveChanged(objectiveId) {
  if (!state.objective || objectiveId !== state.objective) return;
  if (loading) { stale = true; return; }
  if (timer) return;
  const wait = lastFetch + SPACING_MS - Date.now();
  if (wait <= 0) { refresh(); return; }
  timer = setTimeout(() => { timer = null; if (state.objective) refresh(); }, wait);
}

async function refresh() {
  const mine = opening;
  const id = state.objective;
  loading = true;
  lastFetch = Date.now();
  try {
    const [got, picture] = await Promise.all([
      api("GET", `/api/objectives/${encodeURIComponent(id)}`),
      api("GET", `/api/objectives/${encodeURIComponent(id)}/timeline`).catch((e) => ({ error: e.message })),
    ]);
    if (mine !== opening) return;
    detail = got;
    if (picture.error) timelineError = picture.error; else { timeline = picture; timelineError = ""; }
    draw();
  } catch (error) {
    if (mine === opening && !detail) $("#objective-body").innerHTML = `<div class="dim">could not load it: ${esc(error.message)}</div>`;
  } finally {
    loading = false;
    if (stale && mine === opening) { stale = false; objectiveChanged(id); }
  }
}

function questionHtml(q, taskOf) {
  const by = q.asked_by ? taskOf.get(q.asked_by) || q.asked_by : "orcha";
  const meta = `<div class="dim">${esc(q.audience)} · asked by ${esc(by)} · ${esc(clock(q.created_at))}</div>`;
  if (q.status === "open") {
    return `<div class="question" data-question="${esc(q.id)}"><div class="qtext">${esc(q.text)}</div>${meta}` +
      `<form data-answer="${esc(q.id)}"><input data-id="${esc(q.id)}" name="answer" placeholder="your answer" aria-label="answer"><button type="submit">answer</button></form></div>`;
  }
  return `<div class="question" data-question="${esc(q.id)}"><div class="qtext">${esc(q.text)}</div>${meta}` +
    `<div class="answer"><span class="st-${esc(q.status)}">${esc(q.status)}</span>${q.answer ? ": " + esc(q.answer) : ""}</div></div>`;
}

const link = (uri) => (/^https?:\/\//.test(uri) ? `<a href="${esc(uri)}" target="_blank" rel="noopener">${esc(uri)}</a>` : `<code>${esc(uri)}</code>`);

function draw() {
  if (!detail) return;
  const o = detail;
  const row = objectiveRow(o.id) || {};
  const taskOf = new Map((o.sessions || []).map((s) => [s.id, s.task || `${s.role} ${s.id}`]));
  const sessions = o.sessions || [];
  const questions = o.questions || [];
  const open = questions.filter((q) => q.status === "open");
  const keep = new Map([...document.querySelectorAll("#objective-body .question input")].map((i) => [i.dataset.id, i.value]));
  $("#objective-title").textContent = o.title;
  let html = `<dl class="facts"><dt>status</dt><dd><span class="st-${esc(o.status)}" data-objective-status="${esc(o.status)}">${esc(o.status)}</span>` +
    ` <span class="dim">${esc(o.id)} · ${esc(o.agent)} · since ${esc(clock(o.created_at))}</span></dd>` +
    `<dt>usage</dt><dd>${plural(row.model_calls || 0, "turn")} · ${esc(money(row.cost_usd || 0))} · ${plural(sessions.length, "session")}</dd>` +
    (o.repo ? `<dt>repo</dt><dd>${esc(o.repo)}${o.base_branch ? " @ " + esc(o.base_branch) : ""}</dd>` : "") + `</dl>`;
  html += `<div class="row more">${o.status === "active" ? `<button type="button" data-cancel-objective="${esc(o.id)}">cancel objective</button> ` : ""}` +
    `<button type="button" id="close-objective">close</button></div>`;
  html += `<h3>Timeline</h3><div id="objective-chart">${timelineError ? `<div class="dim">no timeline: ${esc(timelineError)}</div>` : ""}</div>`;
  html += `<h3>Summary</h3>${o.summary ? `<p class="prose" id="objective-summary">${esc(o.summary)}</p>` : '<div class="dim">no summary yet (the manager writes one when it marks the objective done)</div>'}`;
  html += `<h3>Questions (${open.length} open)</h3>${questions.map((q) => questionHtml(q, taskOf)).join("") || '<div class="dim">none</div>'}`;
  html += `<h3>Notes</h3><ul class="plain" id="objective-notes">${(o.notes || []).map((n) =>
    `<li>${esc(n.text)} <span class="dim">· ${esc(n.session_id ? taskOf.get(n.session_id) || n.session_id : "orcha")} · ${esc(clock(n.created_at))}</span></li>`).join("") || '<li class="dim">none</li>'}</ul>`;
  html += `<h3>Artifacts</h3><ul class="plain" id="objective-artifacts">${(o.artifacts || []).map((a) =>
    `<li>${esc(a.name)} <span class="dim">(${esc(a.kind)})</span> ${link(a.uri)}</li>`).join("") || '<li class="dim">none</li>'}</ul>`;
  html += `<h3>Pull requests</h3><ul class="plain">${(o.pull_requests || []).map((p) =>
    `<li><a href="${esc(p.url)}" target="_blank" rel="noopener">#${esc(p.number)}</a> <span class="st-${esc(p.state)}">${esc(p.state)}</span> ${esc(p.branch)}</li>`).join("") || '<li class="dim">none</li>'}</ul>`;
  html += `<h3>Sessions</h3><ul class="plain">${sessions.map((s) =>
    `<li><button type="button" class="link" data-open-session="${esc(s.id)}">${esc(s.role)} · ${esc(s.task || s.id)}</button> <span class="st-${esc(s.status)}">${esc(s.status)}</span></li>`).join("")}</ul>`;
  html += `<h3>Prompt</h3><p class="prose dim">${esc(o.prompt)}</p>`;
  const focused = document.activeElement && document.activeElement.closest("#objective-body") ? document.activeElement.dataset.id : null;
  $("#objective-body").innerHTML = html;
  for (const input of document.querySelectorAll("#objective-body .question input")) {
    input.value = keep.get(input.dataset.id) || "";
    if (focused && input.dataset.id === focused) input.focus();
  }
  drawCharts();
  scheduleRender(); // its cancel button follows its arming (core.js)
}

/** Redraw the charts at the container's width, with running bars reaching now. */
export function drawCharts() {
  const box = $("#objective-chart");
  if (!box || !timeline || !state.objective) return;
  const width = Math.max(240, box.clientWidth);
  const now = Date.now() / 1000;
  box.innerHTML = timelineSvg(timeline, width, now) + costSvg(timeline, width, now) + LEGEND;
  const running = timeline.sessions.filter((s) => s.started_at && !s.ended_at && !TERMINAL.has(s.status)).length;
  box.dataset.running = String(running);
  box.title = `${plural(timeline.sessions.length, "session")} over ${span(now - timeline.objective.created_at)}`;
}

function renderView() {
  const panel = $("#objective-panel");
  panel.classList.toggle("hidden-panel", !state.objective);
}

onRender(renderView);
window.addEventListener("resize", () => drawCharts());
