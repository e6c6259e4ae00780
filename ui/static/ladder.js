// Ladder: the focused connection as a sequence diagram between its two
// ends, oldest at the top. A packet is an arrow from the row where one
// stack sent it to the row where the other received it, labelled like
// tcpdump with the WebSocket frames it carried. Only the rows in sight are
// drawn.

import { isPacket, isDrop, streamOf, fromSummary } from "./model.js";
import { esc, ms, flagWords, fragment, frameWords, frameWordsIn, summaryOf } from "./fields.js";
import { tag, text, title, arrowHead, textWidth, visible } from "./svg.js";
import { patch } from "./dom.js";
import { LanesView } from "./lanes.js";
import { NOTES, notesOf, shortText } from "./expert.js";

const ROW = 22;
const GUTTER = 64; // time and id: the least; wider for longer times (paint)
// the annotation column beside each lane: 170 px, narrower (down to 110)
// in a narrow ladder, so that both lanes and their chips stay in sight
const ANN = 170, ANN_MIN = 110;

export class LadderView {
  constructor(el, app) {
    this.el = el;
    this.app = app;
    this.gutter = GUTTER;
    this.head = document.createElement("div");
    this.head.className = "ladder-head";
    this.head.style.cssText = "position:sticky;top:0;z-index:2;height:24px;background:var(--bg);border-bottom:1px solid var(--line)";
    this.svgWrap = document.createElement("div");
    // room above the first row for its label, which sits above its arrow
    this.svgWrap.style.paddingTop = "4px";
    el.append(this.head, this.svgWrap);
    this.rows = [];
    el.addEventListener("scroll", () => this.paint());
    // on press, not only on click: a redraw between press and release
    // must not lose it; a click alone (a script's) selects too
    for (const type of ["mousedown", "click"]) el.addEventListener(type, (e) => {
      if (e.button !== 0) return;
      const t = e.target.closest("[data-event-id]");
      if (t) this.app.select(+t.dataset.eventId, "ladder");
    });
  }

  // build lays out the focused connection's rows and arrows.
  build() {
    const app = this.app;
    const st = app.store;
    const c = st.conns.get(app.focus);
    this.rows = [];
    this.rowOf = new Map();
    this.lanes = null;
    if (!c) return;
    const nodes = [...c.nodes];
    let left, right;
    if (nodes.length >= 2) {
      left = c.client && nodes.includes(c.client) ? c.client : nodes[0];
      right = nodes.find((n) => n !== left);
    } else {
      // one stack traced: the peer is the other lane
      const n = nodes[0] || "stack";
      if (c.client === n) [left, right] = [n, "peer"];
      else [left, right] = ["peer", n];
    }
    this.lanes = [left, right];
    for (const e of st.connEvents(app.focus)) {
      const keep =
        isPacket(e) ||
        (e.layer === "link" && (isDrop(e) || e.event === "verdict" || e.event === "held" || e.event === "continued")) ||
        (e.layer === "ws" && (e.event === "frame" || e.event === "handshake" || e.event === "close" || e.event === "drop" || e.event === "verdict"));
      if (!keep) continue;
      this.rows.push(e);
    }
    // A held unit waits, greyed, at its hook point: a row of its own right
    // after the last event emitted before it was held.
    // (of this connection, when the event it is known by says so)
    const held = app.holds.filter((h) => {
      if (h.node && !this.lanes.includes(h.node) && !this.lanes.includes("peer")) return false;
      const k = h.event ? st.connOf.get(h.event) : undefined;
      return !k || k === app.focus;
    });
    // the stack's own "held" step, right after the last event before the hold
    this.heldFor = new Map();
    for (const h of held) {
      // a packet's hold is known by its held step; a frame's or a send's
      // by the event before it
      const e = this.rows.find((r) => r.event === "held" && r.node === h.node && r.id >= (h.event || 0) && r.id <= (h.event || 0) + 4);
      if (e) this.heldFor.set(e.id, h);
    }
    for (const h of held) {
      if ([...this.heldFor.values()].includes(h)) continue;
      const f = h.fields || {};
      const pseudo = {
        id: h.event || 0,
        node: h.node,
        layer: "link",
        event: "held",
        dir: /ingress|-in$/.test(h.point || "") ? "in" : "out",
        flags: f.flags,
        win: f.window,
        payload_len: typeof f.payload_hex === "string" ? f.payload_hex.length / 2 : undefined,
        summary: h.summary || "",
        hold: h,
      };
      // after the last event before the hold; at the end when that is not known
      let at = this.rows.length;
      while (pseudo.id && at > 0 && this.rows[at - 1].id > pseudo.id) at--;
      this.rows.splice(at, 0, pseudo);
    }
    this.rows.forEach((e, i) => {
      if (!e.hold) this.rowOf.set(e.id, i);
    });
    this.heldRows = held.length;
  }

  laneX(node, W) {
    const ann = this.ann || ANN;
    const xl = this.gutter + ann, xr = W - ann;
    if (!this.lanes) return node === "right" ? xr : xl;
    if (node === this.lanes[0]) return xl;
    if (node === this.lanes[1]) return xr;
    return this.lanes[0] === "peer" ? xl : xr;
  }

  other(node) {
    return node === this.lanes[0] ? this.lanes[1] : this.lanes[0];
  }

  render() {
    const app = this.app;
    const sig = app.store.version + "|" + app.focus + "|" + app.holds.map((h) => h.id + ":" + h.event).join(",");
    if (sig !== this.sig) {
      this.sig = sig;
      this.build();
      this.painted = "";
      const c = app.store.conns.get(app.focus);
      // the count first: a long (IPv6) connection name is what the
      // title's ellipsis cuts, and the whole name is in its tooltip
      const title = document.getElementById("ladder-title");
      title.textContent = c ? this.rows.length + (this.rows.length === 1 ? " row · " : " rows · ") + c.key : "choose a connection";
      title.title = c ? c.key : "";
    }
    this.paint();
    // a unit newly held is shown where it waits
    const heldKey = app.holds.map((h) => h.id).join(",");
    if (heldKey !== this.heldKey) {
      const fresh = app.holds.find((h) => !(this.heldKey || "").split(",").includes(String(h.id)));
      this.heldKey = heldKey;
      const r = fresh ? this.rows.findIndex((e) => e.hold === fresh || this.heldFor.get(e.id) === fresh) : -1;
      if (r >= 0) {
        this.el.scrollTop = Math.max(0, r * ROW - this.el.clientHeight / 2);
        this.revealed = app.selected || app.state.current;
        this.paint();
      }
    }
    // keep the selection (or where the stack stopped) in sight, also once
    // the window changed size; a row under the lane names (sticky, 24 px,
    // over 4 px of padding) is out of sight
    const want = app.selected || app.state.current;
    const size = this.el.clientWidth + "x" + this.el.clientHeight;
    if (size !== this.revealedAt) {
      this.revealedAt = size;
      this.revealed = 0;
    }
    if (want && want !== this.revealed && app.selFrom !== "ladder") {
      this.revealed = want;
      let r = this.rowOf.get(want);
      if (r === undefined) r = this.rowNear(want);
      if (r !== undefined) {
        const y = r * ROW;
        if (y < this.el.scrollTop || y > this.el.scrollTop + this.el.clientHeight - 28 - 2 * ROW) this.el.scrollTop = Math.max(0, y - this.el.clientHeight / 3);
      }
    }
    this.paint(true);
  }

  // hl is the selection's light of a row: the unit selected and what
  // carried it or it carried, as every view lights them; and for a step
  // the ladder has no row for (TCP's segment, IP's output, a socket's
  // read), the packets and frames of its chain in the layers, so that the
  // packet a segment went out in, or the one that woke a read, is lit.
  hl(id) {
    const h = this.app.hl(id);
    if (h) return h;
    const sel = this.app.selected;
    if (!sel) return "";
    if (this.chainFor !== sel + "|" + this.sig) {
      this.chainFor = sel + "|" + this.sig;
      const lanes = this.app.views.find((v) => v instanceof LanesView);
      this.chainLit = [...this.app.sel.same].some((x) => this.rowOf.has(x)) || !lanes ? new Set() : lanes.chainOf(sel);
    }
    return this.chainLit.has(id) ? "rel" : "";
  }

  // rowNear is the last row at or before an event that has no row itself.
  rowNear(id) {
    let lo = 0, hi = this.rows.length;
    while (lo < hi) {
      const m = (lo + hi) >> 1;
      if (this.rows[m].id <= id) lo = m + 1;
      else hi = m;
    }
    return lo > 0 ? lo - 1 : undefined;
  }

  // heldLabel writes a packet held at the link as the ladder writes the
  // others: flags, relative seq and ack (from the hold's bases when its
  // step has none), window and length.
  heldLabel(e, held) {
    const f = e.flags || "";
    const n = e.payload_len || 0;
    const hf = held.fields || {};
    const rel = (k, base) => (typeof hf[k] === "number" && typeof base === "number" ? (hf[k] - base) >>> 0 : undefined);
    const seq = e.rel_seq !== undefined ? e.rel_seq : rel("seq", held.seq_base);
    const ack = e.rel_ack !== undefined ? e.rel_ack : rel("ack", held.ack_base);
    let s = "[" + f + "]";
    if ((n || /[SF]/.test(f)) && seq !== undefined) s += " seq " + seq + (n ? ":" + (seq + n) : "");
    if (f.includes(".") && ack !== undefined) s += " ack " + ack;
    if (e.win !== undefined) s += " win " + e.win;
    if (n) s += " len " + n;
    return s;
  }

  label(e) {
    const st = this.app.store;
    const f = e.flags || "";
    let s = "[" + f + "]";
    const n = e.payload_len || 0;
    const ka = st.keepalives.has(e.id);
    // as tcpdump: a RST's seq is what makes it acceptable (RFC 9293 3.10.7.4)
    if (n > 0 || f.includes("S") || f.includes("F") || f.includes("R") || ka) s += " seq " + e.rel_seq + (n ? ":" + (e.rel_seq + n) : "");
    if (f.includes(".")) s += " ack " + e.rel_ack;
    s += " win " + e.win;
    if (n) s += " len " + n;
    if (ka) s += " keep-alive";
    // Wireshark's notes at either end, keep-alive said already
    for (const { note } of notesOf(st, e, st.get(st.twin.get(e.id)))) if (!(ka && note.kind === "keep-alive")) s += " [" + shortText(note) + "]";
    const fr = st.framesOf.get(e.id);
    const parts = [];
    if (n > 0) {
      const stream = streamOf(e);
      const end = st.httpEnd(stream);
      const off = e.rel_seq - 1;
      if (end === undefined || off < end) parts.push(this.httpName(e, st.hsStatus.get(stream)));
    }
    if (fr) {
      for (const id of fr) {
        const x = st.get(id);
        if (x && (x.node === e.node || !st.twin.has(id))) parts.push(this.frameName(x));
      }
      if (!parts.length)
        for (const id of fr) {
          const x = st.get(id);
          if (x) parts.push(this.frameName(x));
        }
    }
    return { main: s, frames: [...new Set(parts)].join(" ") };
  }

  // httpName names the bytes of an upgrade request or its answer by the
  // status the handshake traced: a 403 or 426 is not "101 (upgrade)".
  httpName(e, status) {
    const upgraded = status === undefined || status === 101;
    if (this.isClientStream(e)) return "HTTP GET" + (upgraded ? " (upgrade)" : "");
    if (status === undefined) return "HTTP response";
    return "HTTP " + status + (upgraded ? " (upgrade)" : " (upgrade refused)");
  }

  isClientStream(e) {
    const c = this.app.store.conns.get(this.app.focus);
    if (!c || !c.client) return e.dport === 80 || e.dport === 8080 || e.sport > e.dport;
    return (e.dir === "out" && e.node === c.client) || (e.dir === "in" && e.node !== c.client);
  }

  frameName(x) {
    // RSV1 on a data frame marks a permessage-deflate message (RFC 7692)
    return "⟨" + (x.opcode || "frame") + " " + x.len + "B" + ((x.rsv & 4) && x.opcode !== "continuation" ? " deflate" : "") + fragment(x) + "⟩";
  }

  paint(force) {
    const app = this.app;
    const W = Math.max(this.el.clientWidth, 480);
    // room for the longest time in the column (a serve that has run for
    // an hour writes 3600000.000 ms), so that no label covers its digits
    let lastT = 0;
    for (let i = this.rows.length - 1; i >= 0 && !lastT; i--) lastT = this.rows[i].t || 0;
    this.gutter = Math.max(GUTTER, Math.ceil(textWidth(ms(lastT))) + 10);
    this.ann = Math.max(ANN_MIN, Math.min(ANN, Math.floor((W - this.gutter - 360) / 2)));
    const n = this.rows.length;
    const [first, last] = visible(this.el, ROW, n, 30);
    const key = first + ":" + last + ":" + W + ":" + app.selected + ":" + app.state.current + ":" + this.sig;
    if (!force && key === this.painted) return;
    if (key === this.painted) return;
    this.painted = key;
    const H = Math.max(n * ROW + 10, 40);
    const [xl, xr] = [this.laneX(this.lanes ? this.lanes[0] : "", W), W - this.ann];
    // sticky lane names
    if (this.lanes) {
      patch(
        this.head,
        '<svg width="' + W + '" height="24">' +
          text(4, 16, "ms", { class: "muted" }) +
          text(xl, 16, this.laneName(this.lanes[0]), { class: "lane-label", "text-anchor": "middle" }) +
          text(xr, 16, this.laneName(this.lanes[1]), { class: "lane-label", "text-anchor": "middle" }) +
          "</svg>"
      );
    } else patch(this.head, "");
    if (!n) {
      patch(this.svgWrap, '<div class="empty">' + (app.focus ? "No packets on this connection yet." : "No connection yet: step or play to start one.") + "</div>");
      return;
    }
    let s = "";
    const y0 = (first) * ROW, y1 = last * ROW;
    s += tag("line", { class: "lane", x1: xl, y1: y0, x2: xl, y2: y1 });
    s += tag("line", { class: "lane", x1: xr, y1: y0, x2: xr, y2: y1 });
    const cur = app.state.current;
    let curRow = cur ? this.rowOf.get(cur) : undefined;
    if (cur && curRow === undefined) curRow = this.rowNear(cur);
    if (curRow !== undefined && curRow >= first && curRow < last) s += tag("rect", { class: "cur-row", x: 0, y: curRow * ROW, width: W, height: ROW });
    const drawn = new Set();
    this.labels = "";
    for (let i = first; i < last; i++) {
      const e = this.rows[i];
      const y = i * ROW + ROW / 2;
      if (e.t !== undefined) s += text(4, y + 4, ms(e.t), { class: "timecol" });
      if (e.event === "held") {
        s += this.arrow(e, i, W);
      } else if (isPacket(e)) {
        const tw = app.store.twin.get(e.id);
        if (e.dir === "in" && tw !== undefined && this.rowOf.has(tw)) {
          const r0 = this.rowOf.get(tw);
          if (r0 < first) s += this.arrow(this.rows[r0], r0, W); // its sender row is above the window
          continue;
        }
        if (drawn.has(e.id)) continue;
        drawn.add(e.id);
        s += this.arrow(e, i, W);
      } else if (isDrop(e) && e.layer === "link") {
        s += this.dropArrow(e, i, W);
      } else {
        s += this.chip(e, i, W);
      }
    }
    s += this.labels;
    patch(this.svgWrap, '<svg width="' + W + '" height="' + H + '" style="overflow:visible;display:block">' + s + "</svg>");
  }

  laneName(n) {
    if (n === "peer") {
      // a stack the run traces that has not shown up on this connection
      // yet (the server before the SYN reaches it) is not "not traced"
      const c = this.app.store.conns.get(this.app.focus);
      const unseen = (this.app.state.nodes || []).filter((x) => x !== "demo" && !(c && c.nodes.has(x)));
      return unseen.length === 1 ? unseen[0] + " (no events yet)" : "peer (not traced)";
    }
    const c = this.app.store.conns.get(this.app.focus);
    if (c && c.client === n) return n + " (opened the connection)";
    return n;
  }

  arrow(e, i, W) {
    const st = this.app.store;
    if (e.event === "held" && !e.hold) {
      // a held step of the stack: still held, or held earlier and decided since
      const info = fromSummary(e.summary || "");
      const h = this.heldFor.get(e.id);
      e = Object.assign({}, e, { flags: info.flags, win: info.win, payload_len: info.payload_len, rel_seq: info.rel_seq, rel_ack: info.rel_ack, hold: h || { point: e.hook, past: true } });
    }
    const held = e.hold;
    const tw = held ? undefined : st.twin.get(e.id);
    let from = e.node, to = this.other(e.node);
    // a packet whose other end is not traced has no time there: its
    // arrow stays flat in its own row, so that one going out and the
    // next coming in do not cross with their labels on top of each other
    const untraced = this.lanes.includes("peer");
    let r1 = i, r2 = untraced ? i : i + 0.7;
    let twinId;
    if (e.dir === "in") {
      // received, sender not traced
      from = this.other(e.node);
      to = e.node;
      r1 = untraced ? i : i - 0.7;
      r2 = i;
    } else if (tw !== undefined && this.rowOf.has(tw)) {
      r2 = this.rowOf.get(tw);
      twinId = tw;
    }
    const x1 = this.laneX(from, W), x2 = this.laneX(to, W);
    let y1 = r1 * ROW + ROW / 2, y2 = r2 * ROW + ROW / 2;
    if (held) y1 = y2 = i * ROW + ROW / 2;
    const lost = e.dir === "out" && tw === undefined && this.lanes[0] !== "peer" && this.lanes[1] !== "peer" && !held;
    let xe = x2, ye = y2;
    if (held && e.dir === "in") {
      xe = x1 + (x2 - x1) * 0.82;
      ye = y2;
    } else if (held) {
      xe = x1 + (x2 - x1) * 0.18;
      ye = y1;
    } else if (lost) {
      xe = x1 + (x2 - x1) * 0.55;
      ye = y1 + (y2 - y1) * 0.55;
    }
    const cls = ["pkt", e.dir, st.retrans.has(e.id) ? "retrans" : "", st.probes.has(e.id) ? "probe" : "", held ? "held" : "", lost ? "lost" : ""].join(" ").trim();
    const hl = this.hl(e.id) || (twinId ? this.hl(twinId) : "");
    // a held packet by its flags; a held frame or send by what it is
    const f = (held && held.fields) || {};
    const unit = !held ? "" : /^ws/.test(held.point || "") ? "frame " + (f.opcode || "") + " " + (e.payload_len || 0) + " B" + (f.fin === false ? ", more" : "") : held.point === "socket-send" ? "send " + (e.payload_len || 0) + " B" : this.heldLabel(e, held);
    const lab = held
      ? { main: unit + (held.past ? "  was held at " + (held.point || "a hook") : "  held at " + (held.point || "a hook")), frames: "" }
      : this.label(e);
    const http = lab.frames.includes("HTTP") ? (this.isClientStream(e) ? "request" : "response") : "";
    let g = "";
    // a frame or a send held has no event of its own yet: it is known by
    // the one before it
    const before = held && !held.past && !/^link/.test(held.point || "");
    const tip =
      (before ? (e.id ? "held after #" + e.id + "  " : "held  ") + e.node + " " + (e.dir === "out" ? "sending" : "receiving") : "#" + e.id + (twinId ? " → #" + twinId : "") + "  " + e.node + " " + (e.dir === "out" ? "sent" : "received")) + "\n" +
      summaryOf(e) + "\n" +
      (held && !/^link/.test(held.point || "") ? "" : "flags: " + (flagWords(e.flags) || "none")) +
      (st.retrans.has(e.id) ? "\nretransmission: this sequence range was sent before" : "") +
      (st.keepalives.has(e.id) ? "\nkeep-alive probe: no data, one below the next sequence number, sent after the connection was idle; the peer answers with an ACK (RFC 9293 3.8.4)" : "") +
      (st.probes.has(e.id) ? "\nwindow probe: the peer's window is zero, and TCP sends one byte it already sent to make the peer say when it opens (RFC 9293 3.8.6.1)" : "") +
      notesOf(st, e, st.get(st.twin.get(e.id))).map(({ note, node }) => "\n[" + note.text + "] at " + node + ": " + NOTES[note.kind][1]).join("") +
      (held ? "\nheld at " + (held.point || "a hook") + ": waiting for release, drop or edit in the Hold queue" : "") +
      (lost ? "\nnot seen arriving at " + to + " (in flight, or lost)" : "");
    g += title(tip);
    g += tag("line", { class: "hit", x1, y1, x2: xe, y2: ye });
    // the box marks where it waits: at the sender's hook for one going
    // out, at the receiver's, the end of its way, for one coming in; the
    // arrow stops at the box, so that no line runs through its words
    const hb = held && e.dir === "in" ? [x1 + (x2 - x1) * 0.7, xe] : [x1, xe];
    g += tag("line", { class: "arrow " + e.dir, x1, y1, x2: held ? hb[0] : xe, y2: ye });
    if (held) {
      g += tag("rect", { class: "heldbox", x: Math.min(...hb) - 4, y: y1 - 9, width: Math.abs(hb[1] - hb[0]) + 8, height: 18, rx: 3 });
      g += text((hb[0] + hb[1]) / 2, y1 + 4, held.past ? "held" : "‖ held", { "text-anchor": "middle" });
    } else if (lost) {
      g += text(xe + (x2 > x1 ? 4 : -4), ye + 4, "…", { "text-anchor": x2 > x1 ? "start" : "end", class: "muted" });
    } else {
      g += tag("path", { class: "arrow " + e.dir, d: arrowHead(x1, y1, x2, y2, 8), "data-event-id": twinId, "data-node": twinId ? st.get(twinId).node : undefined, "data-hl": twinId ? this.hl(twinId) : undefined });
    }
    // label: above the arrow, centred when it is nearly flat; when it
    // crosses rows, near where it leaves, so that a fan of arrows in
    // flight keeps its labels apart
    // A held packet's label with no room right of its box leaves out
    // where it was held (the box says held, the tooltip where).
    if (held && e.dir === "out" && xe > x1 && xe + 10 + textWidth(lab.main) > W - 4) lab.main = unit + (held.past ? "  was held" : "  held");
    const full = lab.main + (lab.frames ? "  " + lab.frames : "");
    const tw2 = textWidth(full);
    let sx, my;
    if (held) {
      sx = xe > x1 ? xe + 10 : xe - 10 - tw2;
      // one coming in: its label before the box, on the way it came
      if (e.dir === "in") sx = xe > x1 ? hb[0] - 14 - tw2 : hb[0] + 14;
      my = ye + 4;
    } else if (Math.abs(ye - y1) <= ROW * 1.5) {
      sx = (x1 + x2) / 2 - tw2 / 2;
      my = Math.min(y1, ye) + Math.abs(ye - y1) / 2 - 4;
    } else {
      sx = x2 > x1 ? x1 + 14 : x1 - 14 - tw2;
      my = y1 - 4;
    }
    // never past the right edge, nor over the time column at the left
    // (at 1280 px and less a long label was pushed over the times)
    // One that still has no room there covers the box from its left
    // edge, not the half of its word "held" (the label says it).
    if (held && e.dir === "out" && xe > x1 && sx + tw2 > W - 4) sx = Math.min(...hb) - 4;
    sx = Math.max(this.gutter - 4, Math.min(sx, W - tw2 - 4));
    // The label goes in a layer drawn over every arrow, on the page's
    // background, so that no arrow (its own or a later one) runs through it.
    let lg = title(tip);
    lg += tag("rect", { class: "lbg", x: sx - 2, y: my - 10, width: tw2 + 4, height: 13, rx: 2 });
    lg += tag("rect", { class: "bg", x: sx - 2, y: my - 10, width: tw2 + 4, height: 13, rx: 2 });
    lg += text(sx, my, lab.main, { class: "lbl" });
    if (lab.frames) lg += text(sx + textWidth(lab.main + "  "), my, lab.frames, { class: "lbl", style: "fill:var(--frame-fg)" });
    // a unit held before its event came has none yet (id 0): no
    // data-event-id that names no event, its data-hold-id says what it is
    // A frame or a send held (at ws-out, ws-in, socket-send) waits in a
    // row of its own, known by the event before it: it is not a packet.
    const kind = held && !held.past && held.point && !/^link/.test(held.point) ? (held.point === "socket-send" ? "held-send" : "held-frame") : "packet";
    this.labels += tag("g", { class: "pkt-label", "data-event-id": e.id || undefined, "data-twin": twinId, "data-kind": kind + "-label", "data-hold-id": held && !held.past ? held.id : undefined, "data-hl": hl }, lg);
    return tag("g", { class: cls, "data-event-id": e.id || undefined, "data-twin": twinId, "data-kind": kind, "data-node": e.node, "data-dir": e.dir, "data-flags": e.flags, "data-http": http, "data-retrans": st.retrans.has(e.id) ? "true" : "", "data-keepalive": st.keepalives.has(e.id) ? "true" : undefined, "data-notes": notesOf(st, e, st.get(st.twin.get(e.id))).map(({ note }) => note.kind).join(" ") || undefined, "data-held": held ? (held.past ? "past" : "true") : "", "data-hold-id": held ? held.id : undefined, "data-hl": hl }, g);
  }

  dropArrow(e, i, W) {
    const info = this.app.store.dropInfo.get(e.id) || {};
    const drop = isDrop(e);
    const out = e.dir === "out";
    const from = out ? e.node : this.other(e.node);
    const to = out ? this.other(e.node) : e.node;
    const x1 = this.laneX(from, W), x2 = this.laneX(to, W);
    const y = i * ROW + ROW / 2;
    const xe = out ? x1 + (x2 - x1) * 0.4 : x1 + (x2 - x1) * 0.85;
    const why = (e.action || "drop") + (e.reason && e.reason !== e.action ? " (" + e.reason + ")" : "") + (e.rule ? " by rule " + e.rule : "") + (e.hook ? " at " + e.hook : "");
    let g = title("#" + e.id + " " + e.node + ": " + summaryOf(e));
    g += tag("line", { class: "hit", x1, y1: y, x2: xe, y2: y });
    g += tag("line", { class: "arrow", x1, y1: y, x2: xe, y2: y });

    const at = info.payload_len || /[SF]/.test(info.flags) ? (info.rel_seq !== undefined ? " seq " + info.rel_seq : "") : info.rel_ack !== undefined ? " ack " + info.rel_ack : "";
    const full = (info.flags !== undefined ? "[" + info.flags + "]" + at + (info.payload_len ? " len " + info.payload_len : "") + "  " : "") + why;
    // The label is centred between the lanes; a long one (a rule's text)
    // runs on over the columns beside them, which its row leaves free,
    // never over the time column; only one longer than the ladder is cut
    // (the whole in its tooltip).
    let lab = full;
    let tw2 = textWidth(lab);
    const room = W - this.gutter - 12;
    if (tw2 > room && room > 40) {
      lab = full.slice(0, Math.max(8, Math.floor((full.length * room) / tw2) - 1)) + "…";
      tw2 = textWidth(lab);
    }
    const mx = Math.max(this.gutter + 4 + tw2 / 2, Math.min((x1 + x2) / 2, W - 4 - tw2 / 2));
    let lg = title("#" + e.id + " " + e.node + ": " + full + "\n" + summaryOf(e));
    lg += tag("rect", { class: "lbg", x: mx - tw2 / 2 - 2, y: y - 16, width: tw2 + 4, height: 13, rx: 2 });
    lg += tag("rect", { class: "bg", x: mx - tw2 / 2 - 2, y: y - 16, width: tw2 + 4, height: 13, rx: 2 });
    lg += text(mx, y - 6, lab, { "text-anchor": "middle", style: drop ? "fill:var(--drop)" : "" });
    // the ✗ on the label's layer, over its background, which would
    // otherwise cover the top of it
    if (drop) lg += text(xe, y + 5, "✗", { class: "x", "text-anchor": "middle" });
    this.labels += tag("g", { class: "pkt-label", "data-event-id": e.id, "data-kind": "drop-label", "data-hl": this.hl(e.id) }, lg);
    return tag("g", { class: "pkt " + (drop ? "drop" : "verdict") + (this.app.store.retrans.has(e.id) ? " retrans" : ""), "data-event-id": e.id, "data-kind": drop ? "drop" : "verdict", "data-node": e.node, "data-dir": e.dir, "data-flags": info.flags, "data-hl": this.hl(e.id) }, g);
  }

  // chip: a WebSocket event beside its stack's lane.
  chip(e, i, W) {
    const x = this.laneX(e.node, W);
    const leftSide = x < W / 2;
    const y = i * ROW + ROW / 2;
    let label, cls = "ann", kind = "ws";
    if (e.layer === "link" && e.event === "continued") {
      // a packet held at the link's ingress, sent on into the stack
      label = "↳ [" + (e.flags || "") + "]" + (e.payload_len ? " len " + e.payload_len : "") + " sent on";
      kind = "continued";
    } else if (e.event === "handshake") {
      label = e.dir === "out" ? (e.status ? "HTTP " + e.status + (e.status === 101 ? " (upgrade)" : " (upgrade refused)") : "HTTP GET (upgrade)") : e.method ? "HTTP " + e.method + " " + (e.uri || "") : "HTTP " + (e.status || "") + " received";
      cls += " http";
      kind = "handshake";
    } else if (e.event === "frame") {
      label = (e.dir === "out" ? "→ " : "← ") + frameWords(e);
      kind = "frame";
    } else if (e.event === "close" && e.code === undefined) {
      // no close frame: the connection's TCP side ended ("tcp closed")
      label = summaryOf(e) || "tcp closed";
      cls += " close";
      kind = "close";
    } else if (e.event === "close") {
      label = "close " + e.code + (e.dir === "out" ? " sent" : " received");
      cls += " close";
      kind = "close";
    } else if (e.event === "verdict" && e.action === "drop") {
      // a frame a rule or a hold dropped
      label = "✗ dropped" + (e.rule ? " by " + e.rule : "");
      cls += " close dropframe";
      kind = "verdict";
    } else if (e.event === "verdict") {
      // an edit in the hold queue says what it changed ("win 64240 → 1000")
      // and a frame's, what it was and what it became
      const edit = /^ui-edit: /.test(e.reason || "") ? e.reason.slice(9) : e.layer === "ws" && e.action === "modify" && e.effect && e.opcode ? e.opcode + " " + e.len + " B → " + frameWordsIn(e.effect.replace(/^now /, "")) : "";
      const by = e.rule === "ui hold" ? "edited" : e.rule || "";
      label = "✎ " + (edit ? edit + (by ? " (" + by + ")" : "") : (e.action || "verdict") + (e.rule ? " (" + e.rule + ")" : ""));
      cls += " close";
      kind = "verdict";
    } else {
      label = e.event + " " + summaryOf(e);
      cls += " close";
    }
    // A chip sits in the column outside its lane. One too long for it
    // grows across the lane towards the other, on the page's background
    // and over the arrows, so that the whole label is read; only one
    // longer than the ladder itself is cut (the whole is in its tooltip).
    const room = this.ann - 12;
    const most = W - this.gutter - 16;
    let w = textWidth(label) + 10;
    let shown = label;
    if (w > most) {
      shown = label.slice(0, Math.max(4, Math.floor((most - 10) / textWidth("x")) - 1)) + "…";
      w = textWidth(shown) + 10;
    }
    const wide = w > room;
    // the outer end stays where a short chip's is
    const rx = leftSide ? (wide ? x - 6 - room : x - 6 - w) : wide ? x + 6 + room - w : x + 6;
    let g = title("#" + e.id + " " + e.node + " " + e.layer + " " + e.dir + ": " + (summaryOf(e) || label));
    if (wide) g += tag("rect", { class: "lbg", x: rx, y: y - 8, width: w, height: 16, rx: 3 });
    g += tag("rect", { class: "chip u", x: rx, y: y - 8, width: w, height: 16, rx: 3 });
    g += text(rx + 5, y + 4, shown);
    const chip = tag("g", { class: cls, "data-event-id": e.id, "data-kind": kind, "data-ws": e.event, "data-node": e.node, "data-dir": e.dir, "data-wide": wide ? "true" : "", "data-hl": this.hl(e.id) }, g);
    if (!wide) return chip;
    this.labels += chip;
    return "";
  }
}
