// Small pure helpers: escaping, plurals, durations, money, tokens, one-line summaries.

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c]);

/** "1 objective", "2 objectives", "1 open question". */
export function plural(n, noun, many) {
  return `${n} ${n === 1 ? noun : (many || noun + "s")}`;
}

/** An elided one-liner whose full value is on hover (title) and in the DOM for copying. */
export function elide(text, cls = "", tag = "span", tip = undefined) {
  const value = String(text ?? "");
  return `<${tag} class="elide ${cls}" title="${esc(tip ?? value)}">${esc(value)}</${tag}>`;
}

/** "just now", "12s ago", "4m ago", "3h ago", "2d ago" from epoch seconds. */
export function ago(at, now = Date.now() / 1000) {
  if (at === null || at === undefined) return "";
  const s = Math.max(0, Math.floor(now - at));
  if (s < 2) return "just now";
  return `${span(s)} ago`;
}

/** "45s", "12m", "3h 4m", "2d 1h". */
export function span(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h}h ${m % 60}m` : `${h}h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d}d ${h % 24}h` : `${d}d`;
}

export const money = (usd) => `$${Number(usd || 0).toFixed(usd >= 100 ? 0 : usd >= 10 ? 2 : 3)}`;

/** "950", "12.3k", "4.5M" tokens. */
export function tokens(n) {
  const v = Number(n || 0);
  if (v < 1000) return String(v);
  if (v < 1e6) return `${(v / 1000).toFixed(v < 1e4 ? 1 : 0)}k`;
  return `${(v / 1e6).toFixed(1)}M`;
}

export const clock = (at) => (at ? new Date(at * 1000).toLocaleTimeString([], { hour12: false }) : "");

/** A status as people read it: "waiting: capacity", "waiting: input", "running". */
export const statusWord = (status) => String(status ?? "").replace(/^waiting_/, "waiting: ").replace(/_/g, " ");

/** Terminal text as this page can draw it: no font here has Claude's result elbow (U+23BF); a corner stands in. */
export const printable = (text) => String(text ?? "").replace(/\u23bf/g, "\u2514");

export const TERMINAL = new Set(["completed", "failed", "canceled"]);

const firstLine = (text) => String(text ?? "").split("\n").find((l) => l.trim()) || "";

/** A transcript item's one-liner: the server's ``summary`` when it has one, else a readable guess. */
export function summaryOf(item) {
  if (item.summary) return item.summary;
  if (item.kind === "tool_call" || item.kind === "tool_result") {
    try {
      const call = JSON.parse(item.body);
      const tool = call.tool || call.name || "tool";
      if (item.kind === "tool_result") return call.error || call.is_error ? `✗ ${tool}: ${firstLine(call.error || call.result)}` : `✓ ${tool}`;
      const args = call.arguments || call.input || {};
      const first = Object.values(args).find((v) => typeof v === "string");
      return first ? `${tool} ${firstLine(first)}` : tool;
    } catch { /* not JSON: its first line */ }
  }
  return firstLine(item.body);
}
