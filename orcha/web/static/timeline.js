// An objective's picture in plain SVG: its sessions as bars over time, PR and question markers, and its
// cumulative cost over the same time axis. Pure functions: data in, SVG markup out.

import { esc, money, span } from "./format.js";

const ROW = 17;
const LANE = 16;
const AXIS = 16;

/** The time window the objective's picture spans: its creation to its end (or now), never empty. */
export function timeWindow(timeline, now) {
  const o = timeline.objective;
  let end = o.ended_at || now;
  for (const s of timeline.sessions) end = Math.max(end, s.ended_at || s.started_at || 0);
  for (const m of timeline.markers) end = Math.max(end, m.at);
  const start = Math.min(o.created_at, ...timeline.sessions.map((s) => s.started_at || o.created_at));
  return { start, end: Math.max(end, start + 1) };
}

/** A tick's offset exactly: "+30s", "+1m 30s", "+2m", "+1h 5m" (span() alone rounds 90 s down to "1m"). */
export function tickLabel(seconds) {
  const s = Math.round(seconds);
  return `+${s >= 60 && s < 3600 && s % 60 ? `${Math.floor(s / 60)}m ${s % 60}s` : span(s)}`;
}

function ticks(start, end, x, top, bottom) {
  const total = end - start;
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400];
  const step = steps.find((s) => total / s <= 6) || 86400 * Math.ceil(total / 86400 / 6);
  let out = "";
  for (let i = 0; i * step <= total + 0.001; i += 1) {
    const px = x(start + i * step);
    out += `<line class="grid" x1="${px}" x2="${px}" y1="${top}" y2="${bottom}"/>` +
      `<text class="tick" x="${px + 2}" y="${top - 4}">${tickLabel(i * step)}</text>`;
  }
  return out;
}

const clip = (text, chars) => (text.length > chars ? text.slice(0, Math.max(1, chars - 1)) + "…" : text);

function marker(m, px, y) {
  const tip = `<title>${esc(`${m.kind}: ${m.label}`)}</title>`;
  const attrs = `class="marker m-${esc(m.kind)}" data-kind="${esc(m.kind)}" data-id="${esc(m.id)}"`;
  if (m.kind === "pr") {
    return `<path ${attrs} d="M${px} ${y - 5} L${px + 5} ${y} L${px} ${y + 5} L${px - 5} ${y} Z">${tip}</path>`;
  }
  return `<circle ${attrs} cx="${px}" cy="${y}" r="4">${tip}</circle>`;
}

/** The sessions-over-time chart, ``width`` pixels wide. */
export function timelineSvg(timeline, width, now) {
  const { start, end } = timeWindow(timeline, now);
  const labelWidth = Math.min(230, Math.max(120, width * 0.3));
  const left = labelWidth + 8;
  const plot = Math.max(40, width - left - 10);
  const x = (at) => (left + ((at - start) / (end - start)) * plot).toFixed(1);
  const sessions = timeline.sessions;
  const top = AXIS + LANE;
  const height = top + sessions.length * ROW + 6;
  const rowOf = new Map(sessions.map((s, i) => [s.id, i]));
  const chars = Math.floor(labelWidth / 6.8);
  let body = ticks(start, end, x, AXIS, height - 4);
  body += `<text x="0" y="${AXIS + 11}">events</text>`;
  sessions.forEach((s, i) => {
    const y = top + i * ROW;
    const label = `${s.role} · ${s.task || s.id}`;
    body += `<text class="label" x="0" y="${y + 12}">${esc(clip(label, chars))}<title>${esc(`${s.id} · ${s.agent} · ${label}`)}</title></text>`;
    if (!s.started_at) {
      body += `<text x="${left}" y="${y + 12}">${esc(s.status)}, not started</text>`;
      return;
    }
    const x0 = Number(x(s.started_at));
    const x1 = Math.max(x0 + 2, Number(x(s.ended_at || now)));
    const tip = `${s.status} · ${span((s.ended_at || now) - s.started_at)}`;
    body += `<rect class="bar st-${esc(s.status)}" data-session="${esc(s.id)}" data-status="${esc(s.status)}" x="${x0.toFixed(1)}" y="${y + 3}" width="${(x1 - x0).toFixed(1)}" height="${ROW - 5}" rx="2"><title>${esc(tip)}</title></rect>`;
  });
  for (const m of timeline.markers) {
    const row = m.session_id !== null && m.session_id !== undefined ? rowOf.get(m.session_id) : undefined;
    const y = row === undefined ? AXIS + LANE / 2 : top + row * ROW + ROW / 2;
    body += marker(m, Number(x(m.at)), y);
  }
  return `<svg class="chart timeline" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="sessions over time">${body}</svg>`;
}

/** The cumulative cost over the same time axis as :func:`timelineSvg`. */
export function costSvg(timeline, width, now) {
  const { start, end } = timeWindow(timeline, now);
  const labelWidth = Math.min(230, Math.max(120, width * 0.3));
  const left = labelWidth + 8;
  const plot = Math.max(40, width - left - 10);
  const height = 76;
  const top = 8;
  const bottom = height - 14;
  const points = timeline.cost;
  const max = Math.max(0.000001, ...points.map((p) => p.cost_usd));
  const x = (at) => left + ((Math.min(Math.max(at, start), end) - start) / (end - start)) * plot;
  const y = (usd) => bottom - (usd / max) * (bottom - top);
  let body = `<line class="grid" x1="${left}" x2="${left + plot}" y1="${bottom}" y2="${bottom}"/>` +
    `<line class="grid" x1="${left}" x2="${left + plot}" y1="${top}" y2="${top}"/>` +
    `<text x="0" y="${top + 10}">cost ${esc(money(points.length ? points[points.length - 1].cost_usd : 0))}</text>` +
    `<text x="${left - 4}" y="${top + 4}" text-anchor="end">${esc(money(max))}</text>` +
    `<text x="${left - 4}" y="${bottom + 4}" text-anchor="end">$0</text>`;
  if (points.length) {
    let path = `${x(start).toFixed(1)},${bottom}`;
    let last = 0;
    for (const p of points) {
      path += ` ${x(p.at).toFixed(1)},${y(last).toFixed(1)} ${x(p.at).toFixed(1)},${y(p.cost_usd).toFixed(1)}`;
      last = p.cost_usd;
    }
    const edge = x(Math.max(points[points.length - 1].at, end));
    path += ` ${edge.toFixed(1)},${y(last).toFixed(1)}`;
    body += `<polygon class="cost-area" points="${path} ${edge.toFixed(1)},${bottom}"/>` +
      `<polyline class="cost" points="${path}"><title>${esc(`${points.length} cost samples, last ${money(last)}`)}</title></polyline>`;
  } else {
    body += `<text x="${left + 4}" y="${bottom - 4}">no cost yet</text>`;
  }
  return `<svg class="chart cost" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="cost over time">${body}</svg>`;
}

const BARS = [["running", "running"], ["waiting", "waiting"], ["completed", "completed"], ["failed", "failed"], ["canceled", "canceled"]];

export const LEGEND = `<div class="legend dim"><span><i class="m-pr"></i>PR</span><span><i class="m-question"></i>question</span>` +
  `<span><i class="m-answer"></i>answer</span><span>sessions:</span>` +
  BARS.map(([cls, word]) => `<span data-legend="${cls}"><i class="b-${cls}"></i>${word}</span>`).join("") + `</div>`;
