// The page's one state object, its API client and its render scheduling; every other module reads from here.

export const state = {
  dashboard: null, // the websocket's snapshot, kept current by its deltas and activity messages
  selected: null, // the session whose panel is open
  objective: null, // the objective whose view is open
  cursor: null, // the session j/k points at
  filter: "",
};

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

export function showError(message) {
  $("#error").textContent = message || "";
}

export function loggedOut() {
  $("#conn").textContent = "not logged in";
  $("#conn").className = "";
  $("#error").innerHTML = "This page is not logged in (or the server's token changed): open the login link " +
    '<code>orcha serve</code> printed, or <a href="/">log in</a> with the token <code>orcha token</code> prints.';
}

/** Call the API; a refusal shows its message in the header and throws. */
export async function api(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await response.json().catch(() => ({}));
  if (response.status === 401) { loggedOut(); throw new Error("not logged in"); }
  if (!response.ok) {
    const message = (data.error && data.error.message) || response.statusText;
    showError(message);
    throw new Error(message);
  }
  showError("");
  return data;
}

const renderers = [];
let queued = false;

/** Run ``fn`` on every render (once per animation frame at most). */
export function onRender(fn) { renderers.push(fn); }

export function scheduleRender() {
  if (queued) return;
  queued = true;
  requestAnimationFrame(() => { queued = false; for (const fn of renderers) fn(); });
}

export const sessionRow = (id) => (state.dashboard ? state.dashboard.sessions.find((s) => s.id === id) : undefined);
export const objectiveRow = (id) => (state.dashboard ? state.dashboard.objectives.find((o) => o.id === id) : undefined);
export const targetName = (id) => {
  const t = state.dashboard && state.dashboard.targets.find((r) => r.id === id);
  return t ? t.name : id || "";
};

// A cancel asks first: its first click arms it ("confirm cancel?"), a second within CONFIRM_MS does it.
export const CONFIRM_MS = 3000;
let armed = { key: "", until: 0 };

/** Whether ``key`` (e.g. "session:s-1") was armed by a first click a moment ago. */
export const isArmed = (key) => armed.key === key && Date.now() < armed.until;

/** Arm ``key``; the page re-renders when it arms and again when the arming lapses. */
export function arm(key) {
  armed = { key, until: Date.now() + CONFIRM_MS };
  scheduleRender();
  setTimeout(scheduleRender, CONFIRM_MS + 50);
}

export function disarm() { armed = { key: "", until: 0 }; scheduleRender(); }

/** A cancel button for ``key``: "cancel", or "confirm cancel?" (``short`` when space is tight) once armed. */
export function cancelButton(key, attrs, cls = "small", short = "sure?") {
  const on = isArmed(key);
  const label = on ? (short || "confirm cancel?") : "cancel";
  const tip = on ? "click again to cancel it" : "cancel (asks first)";
  return `<button type="button" class="${cls}${on ? " armed" : ""}" ${attrs} title="${tip}">${label}</button>`;
}
