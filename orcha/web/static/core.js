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
