// Small helpers to write SVG as text (faster than building nodes one by one
// for the few hundred shapes a visible window holds).

import { esc } from "./fields.js";

export const NS = "http://www.w3.org/2000/svg";

export function attrs(a) {
  let s = "";
  for (const k in a) {
    const v = a[k];
    if (v === undefined || v === null || v === false || v === "") continue;
    s += " " + k + '="' + (typeof v === "number" ? (Number.isInteger(v) ? v : v.toFixed(1)) : esc(v)) + '"';
  }
  return s;
}

export const tag = (name, a, inner) => "<" + name + attrs(a) + (inner === undefined ? "/>" : ">" + inner + "</" + name + ">");
export const title = (t) => "<title>" + esc(t) + "</title>";
// text writes s at (x, y); a place that is not a number (a recorded file's
// field that is not one, as a hostile trace has) draws nothing.
export const text = (x, y, s, a) => (Number.isFinite(x) && Number.isFinite(y) ? tag("text", Object.assign({ x, y }, a || {}), esc(s)) : "");

// textWidth estimates the width of monospace 11px text.
export const textWidth = (s) => s.length * 6.7;

// arrowHead returns the path of an arrow head at (x2,y2) pointing away from (x1,y1).
export function arrowHead(x1, y1, x2, y2, size) {
  const a = Math.atan2(y2 - y1, x2 - x1);
  const s = size || 8;
  const p1 = [x2 - s * Math.cos(a - 0.4), y2 - s * Math.sin(a - 0.4)];
  const p2 = [x2 - s * Math.cos(a + 0.4), y2 - s * Math.sin(a + 0.4)];
  return "M" + p1[0].toFixed(1) + "," + p1[1].toFixed(1) + "L" + x2.toFixed(1) + "," + y2.toFixed(1) + "L" + p2[0].toFixed(1) + "," + p2[1].toFixed(1);
}

// Virtual is a scrolled area whose content is painted for the visible window only.
export function visible(el, rowH, n, pad) {
  const h = el.clientHeight || 300;
  // scrolled past the end of fewer rows than were there (another
  // connection chosen): as the browser will scroll, to the last rows
  const top = Math.min(el.scrollTop, Math.max(0, n * rowH - h));
  const first = Math.max(0, Math.floor(top / rowH) - (pad || 10));
  const last = Math.min(n, Math.ceil((top + h) / rowH) + (pad || 10));
  return [first, last];
}
