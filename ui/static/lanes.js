// Layer swimlanes: one stack's events of the focused connection, one
// column per layer, in order. Lines join cause to effect: packet → IP
// receive → local delivery → TCP → wait-queue wake → woken reader → recv
// copy → frame → unmask → message, and back down for sending. Selecting an
// event lights its whole chain.

import { LAYERS, LAYER_HELP, esc, ms, fragment, summaryOf } from "./fields.js";
import { isPacket, isDrop, isFrame, streamOf } from "./model.js";
import { tag, text, title, visible, textWidth } from "./svg.js";
import { ssState } from "./states.js";
import { patch } from "./dom.js";

const ROW = 20;
const GUTTER = 64;
const HEAD = 22;
// the width of a character of a label (11 px monospace)
const CH = 6.7;

export class LanesView {
  constructor(el, app) {
    this.el = el;
    this.app = app;
    this.head = document.createElement("div");
    this.head.style.cssText = "position:sticky;top:0;z-index:2;background:var(--bg);border-bottom:1px solid var(--line)";
    this.body = document.createElement("div");
    el.append(this.head, this.body);
    el.addEventListener("scroll", () => this.paint());
    // on press, not only on click: a redraw between press and release
    // must not lose it; a click alone (a script's) selects too
    for (const type of ["mousedown", "click"]) el.addEventListener(type, (e) => {
      if (e.button !== 0) return;
      const t = e.target.closest("[data-event-id]");
      if (t) this.app.select(+t.dataset.eventId, "lanes");
    });
  }

  build() {
    const app = this.app;
    const st = app.store;
    const evs = st.connEvents(app.focus).filter((e) => e.node === app.node);
    this.rows = evs;
    this.rowOf = new Map(evs.map((e, i) => [e.id, i]));
    const fwd = new Map();
    const back = new Map();
    const link = (a, b, weak) => {
      if (a === undefined || b === undefined || a === b) return;
      if (!this.rowOf.has(a) || !this.rowOf.has(b)) return;
      if (!fwd.has(a)) fwd.set(a, []);
      fwd.get(a).push({ to: b, weak });
      if (!back.has(b)) back.set(b, []);
      back.get(b).push({ to: a, weak });
    };
    let inChain = 0; // last step of the packet coming in
    let outChain = 0; // last step going out (segment, ip output)
    let lastSeg = 0; // the last segment TCP sent
    let wake = 0;
    const woken = new Map(); // fd -> woken id
    const recvs = []; // {id, stream, a, b}
    const sends = [];
    const segs = [];
    let msgOut = 0;
    const frameIn = []; // frames waiting for their message
    for (const e of evs) {
      const L = e.layer, E = e.event;
      if (isPacket(e) && e.dir === "in") inChain = e.id;
      else if (L === "ip" && e.dir === "in") {
        link(inChain, e.id);
        inChain = e.id;
      } else if (L === "tcp" && E === "state") {
        // a state entered by sending (SYN-SENT, FIN-WAIT1, ...) follows
        // the segment that entered it; the rest a segment received
        link(e.dir === "out" ? lastSeg : inChain, e.id);
      } else if (L === "socket" && E === "wake" && e.dir === "in") {
        link(inChain, e.id);
        wake = e.id;
      } else if (L === "socket" && E === "woken") {
        link(wake, e.id);
        woken.set(e.fd, e.id);
      } else if (L === "socket" && E === "recv") {
        link(woken.get(e.fd), e.id);
        woken.delete(e.fd);
        recvs.push({ id: e.id, s: streamOf(e), a: e.offset, b: e.offset + e.n });
      } else if (L === "socket" && E === "accept") {
        link(woken.get(e.fd), e.id);
      } else if (isFrame(e) && e.dir === "in") {
        const a = e.offset, b = e.offset + e.header_len + e.len, s = streamOf(e);
        // the reads that copied its bytes are the last few of the stream
        for (let k = recvs.length - 1, seen = 0; k >= 0 && seen < 64; k--) {
          const r = recvs[k];
          if (r.s !== s) continue;
          seen++;
          if (r.a < b && a < r.b) link(r.id, e.id);
          else if (r.b <= a) break;
        }
        for (const p of st.packetsOf.get(e.id) || []) link(p, e.id, true);
        frameIn.push(e.id);
      } else if (L === "ws" && E === "unmask") {
        link(frameIn[frameIn.length - 1], e.id);
      } else if (L === "ws" && (E === "message" || E === "close") && e.dir === "in") {
        for (const f of frameIn) link(f, e.id);
        frameIn.length = 0;
      } else if (L === "ws" && E === "message" && e.dir === "out") {
        msgOut = e.id;
      } else if (isFrame(e) && e.dir === "out") {
        link(msgOut, e.id);
        if (e.fin) msgOut = 0;
        for (const p of st.packetsOf.get(e.id) || []) link(e.id, p, true);
      } else if (L === "tcp" && E === "segment") {
        outChain = lastSeg = e.id;
        if (e.payload_len > 0) segs.push({ id: e.id, s: streamOf(e), a: e.rel_seq - 1, b: e.rel_seq - 1 + e.payload_len });
      } else if (L === "ip" && e.dir === "out") {
        link(outChain, e.id);
        outChain = e.id;
      } else if (L === "link" && (E === "verdict" || E === "held") && e.dir === "out") {
        // a hook at the link's egress decides the packet IP output: a
        // drop ends the way down there (its retransmission starts again
        // at TCP), anything else goes on to the packet written
        link(outChain, e.id);
        outChain = isDrop(e) ? 0 : e.id;
      } else if (isPacket(e) && e.dir === "out") {
        link(outChain, e.id);
        outChain = 0;
      } else if (L === "socket" && E === "send") {
        sends.push({ id: e.id, s: streamOf(e), a: e.offset, b: e.offset + e.n });
      }
    }
    // writes: frame bytes → the send that copied them → the segments that
    // cut them; each looked for among its neighbours in time only
    const near = (list, id, k) => {
      let lo = 0, hi = list.length;
      while (lo < hi) {
        const m = (lo + hi) >> 1;
        if (list[m].id < id) lo = m + 1;
        else hi = m;
      }
      return list.slice(Math.max(0, lo - k), lo + k);
    };
    for (const e of evs) {
      if (!(isFrame(e) && e.dir === "out")) continue;
      const a = e.offset, b = e.offset + e.header_len + e.len, s = streamOf(e);
      for (const w of near(sends, e.id, 8)) if (w.s === s && w.a < b && a < w.b) link(e.id, w.id);
    }
    for (const w of sends) for (const g of near(segs, w.id, 48)) if (g.s === w.s && g.a < w.b && w.a < g.b) link(w.id, g.id);
    this.fwd = fwd;
    this.back = back;
  }

  // chain returns the ids causally before and after id.
  chain(ids) {
    const seen = new Set(ids);
    for (const m of [this.fwd, this.back]) {
      const q = [...ids];
      const local = new Set(ids);
      while (q.length && local.size < 400) {
        const x = q.shift();
        for (const l of m.get(x) || []) {
          if (local.has(l.to)) continue;
          local.add(l.to);
          seen.add(l.to);
          if (!l.weak) q.push(l.to);
        }
      }
    }
    return seen;
  }

  // built makes the rows and the lines those of the focused connection
  // and the stack shown, if they are not yet.
  built() {
    const app = this.app;
    const sig = app.store.version + "|" + app.focus + "|" + app.node;
    if (sig !== this.sig) {
      this.sig = sig;
      this.build();
      this.painted = "";
    }
  }

  // chainOf returns the ids causally before and after id in the stack
  // shown (empty when id is not one of its events), also while the tab
  // is hidden: the ladder lights the packets of a step it has no row for.
  chainOf(id) {
    this.built();
    return this.rowOf.has(id) ? this.chain([id]) : new Set();
  }

  render() {
    const app = this.app;
    if (this.el.hidden) return;
    this.built();
    this.paint();
    const want = app.selected;
    if (want && want !== this.revealed && app.selFrom !== "lanes") {
      // the selection, or its copy in this stack
      let r;
      for (const id of app.sel.same) if (r === undefined) r = this.rowOf.get(id);
      if (r !== undefined) {
        this.revealed = want;
        const y = r * ROW;
        if (y < this.el.scrollTop || y > this.el.scrollTop + this.el.clientHeight - 60) this.el.scrollTop = Math.max(0, y - this.el.clientHeight / 3);
      }
    }
    this.paint();
  }

  paint() {
    const app = this.app;
    if (this.el.hidden || !this.rows) return;
    const W = Math.max(this.el.clientWidth - 2, 480);
    const n = this.rows.length;
    const [first, last] = visible(this.el, ROW, n, 20);
    const key = first + ":" + last + ":" + W + ":" + app.selected + ":" + this.sig;
    if (key === this.painted) return;
    this.painted = key;
    // room for the longest time in the column (3600000.000 ms after an
    // hour of serve), so that the link column's dots do not cover it
    let lastT = 0;
    for (let i = n - 1; i >= 0 && !lastT; i--) lastT = this.rows[i].t || 0;
    const G = Math.max(GUTTER, Math.ceil(textWidth(ms(lastT))) + 10);
    const colW = (W - G) / LAYERS.length;
    const X = (layer) => G + (Math.max(0, LAYERS.indexOf(layer)) + 0.5) * colW - colW * 0.38;
    // header
    let hd = '<svg width="' + W + '" height="' + HEAD + '">';
    hd += text(4, 15, app.node || "", { class: "lane-label" });
    LAYERS.forEach((l) => {
      hd += tag("text", { x: X(l) - 4, y: 15, class: "col-label" }, esc(l) + title(LAYER_HELP[l]));
    });
    patch(this.head, hd + "</svg>");
    if (!n) {
      patch(this.body, '<div class="empty">No events of ' + esc(app.node || "this stack") + " on this connection yet.</div>");
      return;
    }
    const hl = app.selected ? this.chain([...app.sel.same].filter((id) => this.rowOf.has(id))) : new Set();
    let s = "";
    LAYERS.forEach((l, i) => {
      if (i % 2) s += tag("rect", { class: "col-bg", x: G + i * colW, y: first * ROW, width: colW, height: (last - first) * ROW });
    });
    const cur = app.state.current;
    const Y = (r) => r * ROW + ROW / 2;
    // causal lines first, under the dots
    let lines = "";
    const span = 60;
    for (let i = Math.max(0, first - span); i < Math.min(n, last + span); i++) {
      const e = this.rows[i];
      for (const l of this.fwd.get(e.id) || []) {
        const j = this.rowOf.get(l.to);
        if (Math.max(i, j) < first || Math.min(i, j) > last) continue;
        const on = hl.has(e.id) && hl.has(l.to);
        if (l.weak && !on) continue;
        const x1 = X(e.layer), x2 = X(this.rows[j].layer);
        const y1 = Y(i), y2 = Y(j);
        const d = "M" + x1 + "," + y1 + "C" + (x1 + (x2 - x1) * 0.2) + "," + (y1 + (y2 - y1) * 0.8) + " " + (x2 - (x2 - x1) * 0.2) + "," + (y2 - (y2 - y1) * 0.8) + " " + x2 + "," + y2;
        lines += tag("path", { class: "cause" + (on ? " hl" : ""), d });
      }
    }
    // The lines go under the labels they cross: a lit label has an
    // opaque box, and the text of the others is cut out of the lines (a
    // halo alone lets a line show between characters), with a clip rather
    // than a box, so that the columns and the current row show through.
    // The cut starts after the dot, so that a line still reaches it.
    let holes = "";
    const H = n * ROW + 6;
    s += lines ? tag("g", { "clip-path": "url(#lanes-cut)" }, lines) : "";
    for (let i = first; i < last; i++) {
      const e = this.rows[i];
      const y = Y(i);
      if (e.id === cur) s += tag("rect", { class: "cur-row", x: 0, y: i * ROW, width: W, height: ROW });
      s += text(4, y + 4, ms(e.t), { class: "timecol" });
      const x = X(e.layer);
      const h = app.hl(e.id) || (hl.has(e.id) ? "rel" : "");
      const lab = short(e);
      // A row holds one event: its label has the row to itself, right of
      // its dot to the edge, or, when that is too short for it and the
      // left has more room (the ws column in a narrow window), left of the
      // dot, clear of the times; only one longer than both is cut.
      const right = W - 4 - (x + 9), left = x - 9 - (G + 6);
      const onLeft = lab.length * CH > right && left > right;
      const maxc = Math.max(4, Math.floor((onLeft ? left : right) / CH));
      const shown = lab.length > maxc ? lab.slice(0, maxc - 1) + "…" : lab;
      const tw = shown.length * CH;
      let g = title("#" + e.id + " " + e.layer + " " + e.dir + " " + e.event + ": " + summaryOf(e));
      g += tag("rect", { class: "bg", x: onLeft ? x - 13 - tw : x - 6, y: i * ROW + 2, width: tw + 19, height: ROW - 4, rx: 3 });
      g += tag("circle", { class: "node-dot " + (e.dir || "none"), cx: x, cy: y, r: 4.5 });
      g += onLeft ? text(x - 9, y + 4, shown, { "text-anchor": "end" }) : text(x + 9, y + 4, shown);
      s += tag("g", { "data-event-id": e.id, "data-layer": e.layer, "data-hl": h }, g);
      if (!h) {
        const w = textWidth(shown);
        const x0 = onLeft ? Math.max(0, x - 11 - w) : x + 7, x1 = onLeft ? x - 7 : Math.min(W, x + 11 + w);
        if (x1 > x0) holes += "M" + x0.toFixed(1) + "," + (i * ROW + 2) + "H" + x1.toFixed(1) + "V" + (i * ROW + ROW - 2) + "H" + x0.toFixed(1) + "Z";
      }
    }
    // the whole drawing, less the labels' holes (evenodd: each hole lies
    // inside it, and the rows' holes do not overlap)
    const cut = '<defs><clipPath id="lanes-cut"><path clip-rule="evenodd" d="M0,0H' + W + "V" + H + "H0Z" + holes + '"/></clipPath></defs>';
    patch(this.body, '<svg width="' + W + '" height="' + H + '">' + cut + s + "</svg>");
  }
}

function short(e) {
  switch (e.layer + " " + e.event) {
    case "link packet":
      return (e.dir === "in" ? "← " : "→ ") + "[" + e.flags + "] " + (e.payload_len ? e.payload_len + " B" : "");
    case "ip receive":
      return "receive";
    case "ip deliver":
      return "deliver to tcp";
    case "ip output":
      return "output";
    case "tcp segment":
      return "segment [" + e.flags + "] " + (e.payload_len ? e.payload_len + " B" : "");
    case "socket wake":
      return "wake " + (e.events || "");
    case "socket woken":
      return "woken (" + (e.op || "") + ")";
    case "socket would-block":
      return "would block: sleep";
    case "socket recv":
      return "recv copies " + e.n + " B @" + e.offset;
    case "socket send":
      return "send copies " + e.n + " B @" + e.offset;
    case "socket call":
      return e.call + "() = " + e.ret;
    case "ws frame":
      // "frame text 15 B"; a continuation is one without saying so
      return (e.opcode === "continuation" ? "" : "frame ") + e.opcode + " " + e.len + " B" + fragment(e);
    case "ws message":
      return "message " + e.type + " " + e.len + " B";
    case "ws unmask":
      return "unmask " + e.key;
    case "link carried":
      // "#298 carried frame #284": the packet's number first, so that a
      // label cut at the column's edge keeps it
      return "#" + e.packet + " carried frame " + (e.frames || []).map((f) => "#" + f).join(" ");
    case "ws carried":
      return "frame #" + e.frame + " in packet " + (e.packets || []).map((p) => "#" + p).join(" ");
    case "link verdict":
    case "ws verdict":
      // what the hook did, as the ladder says it: "✗ drop (loss)"
      // or "✎ win 4096 → 0" for an edit in the hold queue
      if (/^ui-edit: /.test(e.reason || "")) return "✎ " + e.reason.slice(9);
      return (isDrop(e) ? "✗ drop" : (e.action === "modify" ? "✎ " : "") + (e.action || "verdict")) + (e.reason && e.reason !== e.action ? " (" + e.reason + ")" : "");
    case "link held":
      return "held at " + (e.hook || "a hook");
    case "link continued":
      return "sent on [" + (e.flags || "") + "]" + (e.payload_len ? " " + e.payload_len + " B" : "");
    case "ws close":
      // the summary says it ("close sent 1000 ...", "tcp closed")
      return (summaryOf(e) || "close").slice(0, 36);
    case "tcp state":
      return ssState(e.state) + (e.dir === "out" ? " (sent)" : "") + (e.rcv_wnd !== undefined ? " rcv_wnd " + e.rcv_wnd : "");
    default:
      return e.event + " " + summaryOf(e).slice(0, 30);
  }
}
