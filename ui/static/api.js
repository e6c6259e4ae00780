// The page's side of the HTTP and WebSocket API (ui/doc.go documents it).
// Every request carries the run's token: the ?token= of the page's URL, as
// a header (the cookie the server set works too).

const params = new URLSearchParams(location.search);
export const token = params.get("token") || "";
// ?trace=URL opens a recorded .jsonl file without a server API (read-only).
export const traceURL = params.get("trace") || "";

export class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function withToken(path) {
  if (!token) return path;
  return path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
}

export function exportURL(format) {
  return withToken("/api/export?format=" + encodeURIComponent(format));
}

export async function call(method, path, body) {
  const opt = { method, headers: {} };
  if (token) opt.headers["X-Glassnet-Token"] = token;
  if (body !== undefined) {
    opt.headers["Content-Type"] = "application/json";
    opt.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, opt);
  } catch (err) {
    throw new APIError(0, "the server did not answer: " + err.message);
  }
  const text = await res.text();
  let v = null;
  try {
    v = text ? JSON.parse(text) : null;
  } catch {
    v = null;
  }
  if (!res.ok) throw new APIError(res.status, (v && v.error) || text.trim() || res.status + " " + res.statusText);
  return v;
}

export const get = (p) => call("GET", p);
export const post = (p, b) => call("POST", p, b === undefined ? {} : b);
export const del = (p) => call("DELETE", p);

// fetchRange calls onBatch with every event from..to (to 0: all), 10000 a call.
export async function fetchRange(from, to, onBatch) {
  for (let next = from; ; ) {
    let q = "/api/events?from=" + next;
    if (to) q += "&to=" + to;
    const r = await get(q);
    const evs = (r && r.events) || [];
    if (evs.length) onBatch(evs);
    if (!evs.length) return;
    const last = evs[evs.length - 1].id;
    if ((to && last >= to) || (r.last && last >= r.last)) return;
    next = last + 1;
  }
}

// Live is the /api/live WebSocket: onMessage gets each parsed message; it
// reconnects from the last event seen when the connection drops.
export class Live {
  constructor(onMessage, onStatus) {
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.last = 0;
    this.ws = null;
    this.closed = false;
    this.retry = 500;
    this.acked = 0;
  }

  open(from) {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    let url = proto + "//" + location.host + "/api/live?from=" + from;
    if (token) url += "&token=" + encodeURIComponent(token);
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onopen = () => {
      this.retry = 500;
      this.onStatus("connected");
    };
    ws.onmessage = (m) => {
      let v;
      try {
        v = JSON.parse(m.data);
      } catch {
        return;
      }
      this.onMessage(v);
    };
    ws.onclose = (ev) => {
      this.ws = null;
      if (this.closed) return;
      this.onStatus("disconnected (" + (ev.code || "no code") + "), retrying");
      setTimeout(() => this.open(this.last + 1), this.retry);
      this.retry = Math.min(this.retry * 2, 8000);
    };
  }

  ack(last) {
    if (last <= this.acked) return;
    this.acked = last;
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: "ack", last }));
  }
}

// loadJSONL reads a recorded trace file, one event per line.
export async function loadJSONL(url) {
  const res = await fetch(url);
  if (!res.ok) throw new APIError(res.status, "cannot read " + url + ": " + res.status);
  const text = await res.text();
  const out = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      /* a torn last line */
    }
  }
  return out;
}
