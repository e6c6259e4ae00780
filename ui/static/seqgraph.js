// Seq/time: a Stevens graph of what one stack sends on the focused
// connection. Bars are the sequence ranges of the segments it sent
// (orange: sent again), dots the ACKs it received; the lines are the
// stack's own state after each received segment (from the TCP probe, not
// inferred): snd_una, the peer's window edge and the congestion window
// edge. Below, the windows in bytes and the timers.

import { isDrop, isPacket, isState, seqLen } from "./model.js";
import { esc, fmtBytes, fmtDur, ms, summaryOf } from "./fields.js";
import { tag, text, title } from "./svg.js";
import { patch } from "./dom.js";

const PAD_L = 62;
const PAD_R = 14;
const MAXPTS = 4000;

// most is the largest of the values that are numbers: a field of a crafted
// trace that is not one leaves the scale as it is.
function most(...vs) {
  let m = -Infinity;
  for (const v of vs) if (Number.isFinite(v) && v > m) m = v;
  return m;
}

export class SeqGraphView {
  constructor(el, app) {
    this.el = el;
    this.app = app;
    this.xmode = "time";
    // The graph is redrawn with every events message: a point is selected
    // on press, not click, so a redraw between press and release does not
    // lose it; the legend and its buttons are made once and kept.
    this.graph = document.createElement("div");
    this.legend = document.createElement("div");
    this.legend.className = "sg-legend";
    this.legend.innerHTML =
      '<span><i style="border-color:var(--out);border-top-width:3px"></i>data sent</span>' +
      '<span><i style="border-color:var(--rel);border-top-width:3px"></i>sent again</span>' +
      '<span><i style="border-color:var(--drop);border-top-width:3px;border-top-style:dashed"></i>dropped by a rule</span>' +
      '<span><i style="border-color:var(--in);border-style:dotted;border-top-width:4px"></i>ACK received</span>' +
      '<span><i style="border-color:var(--fg)"></i>snd_una</span><span><i style="border-color:var(--out);border-top-style:dashed"></i>cwnd</span>' +
      '<span><i style="border-color:var(--in)"></i>peer window / snd_wnd</span><span><i style="border-color:var(--frame)"></i>rcv_wnd / srtt</span>' +
      '<span><i style="border-color:var(--rel);border-top-style:dotted"></i>ssthresh</span><span><i style="border-color:var(--msg)"></i>RTO</span>' +
      '<span><span data-mss></span> · x: <button data-xmode="time">time</button> <button data-xmode="order">event order</button></span>';
    // the legend above the graph, not over it
    this.graph.className = "sg-graph";
    el.append(this.legend, this.graph);
    // on press, not only on click: a redraw between press and release
    // must not lose it; a click alone (a script's) selects too
    for (const type of ["mousedown", "click"]) this.graph.addEventListener(type, (e) => {
      if (e.button !== 0) return;
      const t = e.target.closest("[data-event-id]");
      if (t) this.app.select(+t.dataset.eventId, "seqgraph");
    });
    this.legend.addEventListener("click", (e) => {
      const b = e.target.closest("button[data-xmode]");
      if (b) {
        this.xmode = b.dataset.xmode;
        this.painted = "";
        this.app.invalidate();
      }
    });
  }

  build() {
    const app = this.app;
    const st = app.store;
    const node = app.node;
    const d = { sent: [], acks: [], states: [], mss: 1460, node };
    // The sender's MSS is the peer's MSS option less the options every
    // segment carries: 12 bytes of timestamps when both SYNs offered them.
    const ts = { in: false, out: false };
    for (const e of st.connEvents(app.focus)) {
      if (e.node !== node) continue;
      if (isPacket(e)) {
        if (e.dir === "out" && seqLen(e) > 0) d.sent.push(e);
        if (e.dir === "in" && (e.flags || "").includes(".")) d.acks.push(e);
        if ((e.flags || "").includes("S")) {
          ts[e.dir === "in" ? "in" : "out"] ||= /TS val/.test(e.options || "");
          const m = e.dir === "in" && /mss (\d+)/.exec(e.options || "");
          if (m) d.mss = +m[1];
        }
      } else if (isState(e)) d.states.push(e);
      else if (isDrop(e) && e.dir === "out" && e.layer === "link") {
        // a copy a rule dropped on its way out was sent all the same:
        // drawn, in the drop colour
        const info = e.rel_seq !== undefined ? e : st.dropInfo.get(e.id);
        if (info && info.rel_seq !== undefined && seqLen(info) > 0) d.sent.push({ id: e.id, t: e.t, rel_seq: info.rel_seq, flags: info.flags, payload_len: info.payload_len, summary: e.summary, dropped: true });
      }
    }
    if (ts.in && ts.out) d.mss -= 12;
    this.d = d;
  }

  render() {
    const app = this.app;
    if (this.el.hidden) return;
    const sig = app.store.version + "|" + app.focus + "|" + app.node;
    if (sig !== this.sig) {
      this.sig = sig;
      this.build();
      this.painted = "";
    }
    const W = this.graph.clientWidth, H = this.graph.clientHeight;
    const key = sig + "|" + W + "|" + H + "|" + app.selected + "|" + this.xmode;
    if (key === this.painted) return;
    this.painted = key;
    this.paint(W, H);
  }

  paint(W, H) {
    const app = this.app;
    const d = this.d;
    if (!d || (!d.sent.length && !d.states.length)) {
      patch(this.graph, '<div class="empty">' + esc(d && d.node ? d.node : "This stack") + " has sent nothing on this connection yet.</div>");
      this.legend.hidden = true;
      return;
    }
    W = Math.max(W, 480);
    H = Math.max(H, 260);
    const all = [...d.sent, ...d.acks, ...d.states].sort((a, b) => a.id - b.id);
    const order = new Map(all.map((e, i) => [e.id, i]));
    const xv = this.xmode === "time" ? (e) => e.t : (e) => order.get(e.id);
    const x0 = xv(all[0]), x1 = Math.max(xv(all[all.length - 1]), x0 + 1);
    const X = (e) => PAD_L + ((xv(e) - x0) / (x1 - x0)) * (W - PAD_L - PAD_R);
    // three panels, 8 px apart, between the first axis label (top) and
    // the time labels (bottom, 18 px)
    const h1 = Math.round((H - 60) * 0.56), h2 = Math.round((H - 60) * 0.24), h3 = H - 60 - h1 - h2;
    const top1 = 26, top2 = top1 + h1 + 8, top3 = top2 + h2 + 8;
    const sel = app.selected;
    let s = "";
    // --- panel 1: sequence numbers
    let ymax = 1;
    for (const e of d.sent) ymax = most(ymax, e.rel_seq + seqLen(e));
    for (const e of d.states) ymax = most(ymax, e.rel_snd_nxt || 0);
    const edge = (e) => (e.rel_snd_una || 0) + e.cwnd * d.mss;
    let ytop = ymax * 1.08;
    for (const e of d.states) ytop = most(ytop, Math.min(edge(e), ymax * 2.5));
    const Y1 = (v) => top1 + h1 - (Math.min(v, ytop) / ytop) * h1;
    s += this.axis(top1, h1, W, ytop, (v) => fmtBytes(Math.round(v)), (v) => "relative seq " + Math.round(v), "sequence (relative)");
    // lines from the probe
    s += this.line(d.states, X, (e) => Y1(e.rel_snd_una || 0), "s-una", "snd_una: oldest unacknowledged byte");
    s += this.line(d.states, X, (e) => Y1(edge(e)), "s-cwnd", "snd_una + cwnd × MSS: what congestion control allows in flight");
    // the peer's window is unknown before its SYN-ACK (SYN-SENT)
    const wnd = d.states.filter((e) => e.snd_wnd !== undefined);
    s += this.line(wnd, X, (e) => Y1((e.rel_snd_una || 0) + e.snd_wnd), "s-rwnd", "snd_una + snd_wnd: the peer's advertised window edge");
    // data and acks
    const step = Math.max(1, Math.ceil(d.sent.length / MAXPTS));
    for (let i = 0; i < d.sent.length; i += step) {
      const e = d.sent[i];
      const x = X(e);
      const re = app.store.retrans.has(e.id);
      const hl = app.hl(e.id);
      s += tag("line", { class: "s-data" + (re ? " retrans" : "") + (e.dropped ? " dropped" : ""), x1: x, y1: Y1(e.rel_seq), x2: x, y2: Math.min(Y1(e.rel_seq + seqLen(e)), Y1(e.rel_seq) - 3), "data-event-id": e.id, "data-hl": hl, style: hl ? "stroke:var(--sel);stroke-width:5" : "" }, title("#" + e.id + " sent " + (re ? "again " : "") + e.rel_seq + ":" + (e.rel_seq + seqLen(e)) + (e.dropped ? ", dropped by a rule on the way out" : "") + "\n" + summaryOf(e)));
    }
    const astep = Math.max(1, Math.ceil(d.acks.length / MAXPTS));
    for (let i = 0; i < d.acks.length; i += astep) {
      const e = d.acks[i];
      const hl = app.hl(e.id);
      s += tag("circle", { class: "s-ack", cx: X(e), cy: Y1(e.rel_ack), r: hl ? 5 : 2.5, "data-event-id": e.id, "data-hl": hl }, title("#" + e.id + " ACK " + e.rel_ack + " win " + e.win + " received"));
    }
    // --- panel 2: windows in bytes
    let wmax = 1;
    for (const e of d.states) {
      wmax = most(wmax, e.snd_wnd ?? 0, e.rcv_wnd, e.cwnd * d.mss);
      if (e.ssthresh < 1e9) wmax = most(wmax, e.ssthresh * d.mss);
    }
    wmax *= 1.08;
    const Y2 = (v) => top2 + h2 - (v / wmax) * h2;
    s += this.axis(top2, h2, W, wmax, (v) => fmtBytes(Math.round(v)), (v) => Math.round(v) + " bytes", "windows");
    s += this.line(wnd, X, (e) => Y2(e.snd_wnd), "s-rwnd", "snd_wnd: what the peer can take");
    s += this.line(d.states, X, (e) => Y2(e.rcv_wnd), "s-srtt", "rcv_wnd: what this stack offers");
    s += this.line(d.states, X, (e) => Y2(e.cwnd * d.mss), "s-cwnd", "cwnd × MSS");
    s += this.line(d.states.filter((e) => e.ssthresh < 1e9), X, (e) => Y2(e.ssthresh * d.mss), "s-ssth", "ssthresh × MSS");
    // --- panel 3: timers
    let tmax = 1;
    for (const e of d.states) tmax = most(tmax, e.rto, e.srtt);
    tmax *= 1.1;
    const Y3 = (v) => top3 + h3 - (v / tmax) * h3;
    s += this.axis(top3, h3, W, tmax, (v) => fmtDur(v), (v) => ms(v) + " ms", "timers");
    s += this.line(d.states, X, (e) => Y3(e.rto), "s-rto", "RTO: retransmission timeout");
    s += this.line(d.states, X, (e) => Y3(e.srtt), "s-srtt", "smoothed RTT");
    // state points (selectable) and the selection's time
    for (const e of d.states) {
      const hl = app.hl(e.id);
      if (!hl) continue;
      s += tag("line", { class: "axis", x1: X(e), y1: top1, x2: X(e), y2: top3 + h3, style: "stroke:var(--sel);stroke-width:2" });
    }
    const selE = sel && app.store.get(sel);
    if (selE && selE.node === d.node && selE.t >= all[0].t && order.has(sel)) s += tag("line", { x1: X(selE), y1: top1, x2: X(selE), y2: top3 + h3, style: "stroke:var(--sel);stroke-width:1.5;stroke-dasharray:3 3" });
    for (const e of d.states) s += tag("circle", { cx: X(e), cy: Y1(e.rel_snd_una || 0), r: 3, class: "node-dot none", "data-event-id": e.id, "data-hl": app.hl(e.id) }, title("#" + e.id + " " + summaryOf(e)));
    // x axis
    // the run's times as the timers read them ("843 ms", "5.07 s"), each
    // exact in its tooltip
    const xl = this.xmode === "time" ? timeOn(x0, x1 - x0) : "event 1";
    const xr = this.xmode === "time" ? timeOn(x1, x1 - x0) : "event " + all.length;
    const xtip = (x, n) => (this.xmode === "time" ? "t = " + ms(x) + " ms" : "event " + n + " of the stack's on this connection");
    s += tag("g", { "data-axis": "x" }, title(xtip(x0, 1)) + text(PAD_L, H - 4, xl, { class: "muted" }));
    s += tag("g", { "data-axis": "x" }, title(xtip(x1, all.length)) + text(W - PAD_R, H - 4, xr, { class: "muted", "text-anchor": "end" }));
    this.legend.hidden = false;
    this.legend.querySelector("[data-mss]").textContent = "MSS " + d.mss;
    for (const b of this.legend.querySelectorAll("button[data-xmode]")) b.setAttribute("aria-pressed", String((b.dataset.xmode === "time") === (this.xmode === "time")));
    patch(this.graph, '<svg width="' + W + '" height="' + H + '">' + s + "</svg>");
  }

  // axis draws a panel's y axis, its values written by fmt (in units:
  // "2.8 MiB", "853 ms") and exact in their tooltips (exact).
  axis(top, h, W, vmax, fmt, exact, name) {
    let s = tag("line", { class: "axis", x1: PAD_L, y1: top, x2: PAD_L, y2: top + h });
    s += tag("line", { class: "gridline", x1: PAD_L, y1: top + h, x2: W - PAD_R, y2: top + h });
    for (const f of [0.5, 1]) {
      const y = top + h - f * h;
      s += tag("line", { class: "gridline", x1: PAD_L, y1: y, x2: W - PAD_R, y2: y });
      s += tag("g", { "data-axis": name }, title(exact(vmax * f)) + text(PAD_L - 4, y + 4, fmt(vmax * f), { class: "muted", "text-anchor": "end", style: "font-size:9.5px" }));
    }
    s += text(PAD_L + 4, top + 11, name, { class: "muted", style: "font-size:10px" });
    return s;
  }

  line(evs, X, Y, cls, tip) {
    if (!evs.length) return "";
    const step = Math.max(1, Math.ceil(evs.length / MAXPTS));
    let d = "";
    let py = null;
    for (let i = 0; i < evs.length; i += step) {
      const x = X(evs[i]), y = Y(evs[i]);
      // a value that is not a number (a crafted trace) is no point
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      if (py === null) d += "M" + x.toFixed(1) + "," + y.toFixed(1);
      else d += "H" + x.toFixed(1) + "V" + y.toFixed(1);
      py = y;
    }
    return tag("path", { class: cls, d }, title(tip));
  }
}

// timeOn writes a time of the run on an axis that spans span ns: in ms
// below a second, in s from there, with the decimals that tell its two
// ends apart ("1.8598 s" and "1.8744 s" 15 ms later, not "1.86 s" and
// "1.87 s"; "843 ms", "5.07 s" over seconds).
function timeOn(ns, span) {
  const unit = ns >= 1e9 ? 1e9 : 1e6;
  const digits = Math.min(unit === 1e9 ? 6 : 3, Math.max(unit === 1e9 ? 2 : 0, Math.ceil(-Math.log10(Math.max(span, 1) / unit)) + 2));
  return (ns / unit).toFixed(digits) + (unit === 1e9 ? " s" : " ms");
}
