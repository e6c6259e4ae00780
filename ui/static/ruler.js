// Byte stream ruler: each direction of the focused connection laid out by
// stream offset. Top rows: the segments that carried each range (a
// retransmitted copy goes one row down, a dropped one is red). Below: the
// HTTP upgrade, WebSocket frame headers (dark) and payloads (light), and
// the messages they make. A frame over three segments, or two frames in
// one segment, shows at a glance.

import { isPacket, isFrame, isDrop, streamOf, endpoint } from "./model.js";
import { esc, summaryOf } from "./fields.js";
import { tag, text, title, textWidth } from "./svg.js";
import { patch } from "./dom.js";

const LABEL = 118;
const SEGROW = 11;
const SEGROWS = 3;
// the row under the axis's numbers where the marks' labels go
const MARKROW = 13;

export class RulerView {
  constructor(el, app) {
    this.el = el;
    this.app = app;
    this.zoom = 1;
    el.addEventListener("scroll", () => this.paint());
    // on press, not only on click: a redraw between press and release
    // must not lose it; a click alone (a script's) selects too
    for (const type of ["mousedown", "click"]) el.addEventListener(type, (e) => {
      if (e.button !== 0) return;
      const t = e.target.closest("[data-event-id]");
      if (t) this.app.select(+t.dataset.eventId, "ruler");
    });
    document.getElementById("ruler-in").onclick = () => this.setZoom(this.zoom * 2);
    document.getElementById("ruler-out").onclick = () => this.setZoom(Math.max(1, this.zoom / 2));
    document.getElementById("ruler-fit").onclick = () => this.setZoom(1);
  }

  setZoom(z) {
    const mid = (this.el.scrollLeft + this.el.clientWidth / 2) / this.zoom;
    this.zoom = Math.min(z, 4096);
    this.painted = "";
    this.paint();
    this.el.scrollLeft = Math.max(0, mid * this.zoom - this.el.clientWidth / 2);
  }

  build() {
    const app = this.app;
    const st = app.store;
    this.streams = [];
    const c = st.conns.get(app.focus);
    if (!c) return;
    const byStream = new Map();
    const get = (s) => {
      if (!byStream.has(s)) byStream.set(s, { name: s, out: [], inn: [], framesOut: [], framesIn: [], drops: [], max: 0, senders: new Set(), wsOut: [], wsIn: [], acks: [], reads: [] });
      return byStream.get(s);
    };
    for (const e of st.connEvents(app.focus)) {
      if (e.layer === "socket" && e.event === "recv" && e.n > 0 && Number.isFinite(e.offset)) {
        // what the application read of the stream coming in
        get(streamOf(e)).reads.push([e.id, e.offset + e.n]);
        continue;
      }
      if (isPacket(e)) {
        const s = get(streamOf(e));
        if (e.dir === "out") s.senders.add(e.node);
        // an ACK acknowledges the stream that comes the other way
        if ((e.flags || "").includes(".") && e.rel_ack > 0) get(streamOf(e).split(">").reverse().join(">")).acks.push([e.id, e.rel_ack - 1]);
        if (!(e.payload_len > 0)) continue;
        (e.dir === "out" ? s.out : s.inn).push(e);
        s.max = Math.max(s.max, e.rel_seq - 1 + e.payload_len);
      } else if (isFrame(e)) {
        const s = get(streamOf(e));
        (e.dir === "out" ? s.framesOut : s.framesIn).push(e);
        s.max = Math.max(s.max, e.offset + e.header_len + e.len);
      } else if (e.layer === "ws" && (e.event === "message" || e.event === "handshake")) {
        // the events the message brackets and the HTTP block stand for
        const s = get(streamOf(e));
        (e.dir === "out" ? s.wsOut : s.wsIn).push(e);
      } else if (isDrop(e) && e.layer === "link") {
        const info = st.dropInfo.get(e.id) || {};
        if (!info.src || !(info.payload_len > 0)) continue;
        const s = get(endpoint(info.src, info.sport) + ">" + endpoint(info.dst, info.dport));
        s.drops.push({ e, off: info.rel_seq - 1, len: info.payload_len });
      }
    }
    // client to server first
    const list = [...byStream.values()].filter((s) => s.out.length + s.inn.length + s.framesOut.length + s.framesIn.length);
    list.sort((a, b) => (a.senders.has(c.client) ? -1 : 0) - (b.senders.has(c.client) ? -1 : 0));
    for (const s of list) {
      const segs = s.out.length ? s.out : s.inn;
      const frames = s.framesOut.length ? s.framesOut : s.framesIn;
      // rows: a copy of a range already carried goes a row lower
      // each row remembers how far it is filled: a range that starts
      // before the end of a row goes to the next one
      const placed = [];
      const fill = new Array(SEGROWS).fill(-1);
      const put = (e, a, b, drop) => {
        let row = 0;
        while (row < SEGROWS - 1 && a < fill[row]) row++;
        fill[row] = Math.max(fill[row], b);
        placed.push({ e, a, b, row, drop });
      };
      for (const e of segs) put(e, e.rel_seq - 1, e.rel_seq - 1 + e.payload_len, false);
      for (const d of s.drops) put(d.e, d.off, d.off + d.len, true);
      placed.sort((x, y) => x.a - y.a);
      // messages: data frames up to the one with FIN
      const msgs = [];
      let open = null;
      for (const f of frames) {
        if (f.opcode === "close" || f.opcode === "ping" || f.opcode === "pong") continue;
        if (!open) open = { a: f.offset, frames: [] };
        open.frames.push(f);
        if (f.fin) {
          open.b = f.offset + f.header_len + f.len;
          msgs.push(open);
          open = null;
        }
      }
      // Each message bracket is its message event on the same side: a
      // message written is traced before its first frame, one read after
      // its last. The HTTP block is the side's first handshake event (the
      // request, or the 101).
      const read = frames === s.framesIn;
      const wsEvs = (read ? s.wsIn : s.wsOut).sort((x, y) => x.id - y.id);
      const msgEvs = wsEvs.filter((e) => e.event === "message");
      let mi = 0;
      for (const m of msgs) {
        if (read) {
          const last = m.frames[m.frames.length - 1].id;
          while (mi < msgEvs.length && msgEvs[mi].id < last) mi++;
          if (mi < msgEvs.length) m.ev = msgEvs[mi++];
        } else {
          const first = m.frames[0].id;
          while (mi + 1 < msgEvs.length && msgEvs[mi + 1].id < first) mi++;
          if (mi < msgEvs.length && msgEvs[mi].id < first) m.ev = msgEvs[mi++];
        }
      }
      const hs = wsEvs.find((e) => e.event === "handshake");
      const httpEnd = st.httpEnd(s.name);
      const sender = [...s.senders][0] || "";
      const [src, dst] = s.name.split(">");
      // a peer that is not traced is named as the ladder names it; its
      // address (long for IPv6) is in the tooltip
      s.label = sender ? sender + " sends" : "peer sends";
      s.sub = src + " → " + dst;
      // what TCP sent (dropped copies too: TCP sent them), by event
      const sends = segs.map((e) => [e.id, e.rel_seq - 1 + e.payload_len]).concat(s.drops.map((d) => [d.e.id, d.off + d.len])).sort((x, y) => x[0] - y[0]);
      this.streams.push({ ...s, placed, frames, msgs, hs, sends, httpEnd: httpEnd === undefined ? s.max : httpEnd });
    }
  }

  render() {
    const app = this.app;
    const sig = app.store.version + "|" + app.focus;
    if (sig !== this.sig) {
      this.sig = sig;
      this.build();
      this.painted = "";
    }
    this.paint();
  }

  // marks draws, over a direction's segments and frames, where at event
  // ref its bytes end as sent by TCP, acknowledged by the other end and
  // read by the other end's application (its recv), as snd_nxt, snd_una
  // and the reads the state change counts: the bytes between two marks are
  // in flight, or received and not yet read. Marks at one offset share a
  // label ("read = acked 152").
  marks(st, ref, yl, X, W) {
    const sent = upTo(st.sends, ref);
    if (!(sent > 0)) return "";
    const acked = upTo(st.acks, ref);
    const read = upTo(st.reads, ref);
    const at = [["read", read], ["acked", acked === undefined ? undefined : Math.min(acked, sent)], ["sent", sent]].filter((m) => Number.isFinite(m[1]));
    const groups = [];
    for (const [name, off] of at.sort((a, b) => a[1] - b[1])) {
      const g = groups[groups.length - 1];
      if (g && g.off === off) g.names.push(name);
      else groups.push({ off, names: [name] });
    }
    const c = this.app.store.conns.get(this.app.focus);
    const to = c ? [...c.nodes].find((n) => !st.senders.has(n)) || "the peer" : "the peer";
    const tip =
      // (offsets from 0, as the axis counts them: the ladder's relative
      // seq and the state change's snd_nxt are one more, the SYN's)
      "at #" + ref + ": " + st.label.replace(/ sends$/, "") + " has sent bytes 0–" + sent + " (relative seq " + (sent + 1) + ")" +
      (acked !== undefined ? "; " + to + " has acknowledged 0–" + Math.min(acked, sent) : "; nothing acknowledged yet") +
      (read !== undefined ? "; its application has read 0–" + read : to === "the peer" ? "" : "; its application has read nothing yet");
    let s = "", labels = "";
    const y1 = yl + 10, y2 = yl + 10 + MARKROW + SEGROWS * SEGROW + 2 + 12;
    // The labels have a row of their own under the axis's numbers, which
    // they never cover. Each label, in offset order, takes the first place
    // that is free of the labels placed before it, inside the plot in
    // view: whole right of its line, whole left of it, whole right of the
    // label before it (the labels keep the order of their lines), then
    // its names alone (the axis and the tooltip give the offset) in the
    // same three places; where none is free the line stays without a
    // label. The same from the last label back, left for right, and of
    // the two the one with more labels whole, then more labels.
    const lo = Math.max(LABEL, this.el.scrollLeft + LABEL) + 1;
    const hi = Math.min(W, this.el.scrollLeft + this.el.clientWidth) - 4;
    const place = (order, dir) => {
      const taken = [], out = new Map();
      const free = (a, b) => a >= lo && b <= hi && !taken.some(([x0, x1]) => a < x1 + 4 && x0 - 4 < b);
      for (const g of order) {
        const x = X(g.off);
        for (const lab of [g.names.join(" = ") + " " + g.off, g.names.join(" = ")]) {
          const w = (textWidth(lab) * 10) / 11;
          const last = taken[taken.length - 1];
          const right = [x + 2, x - 2 - w, last ? Math.max(x + 2, last[1] + 6) : x + 2];
          const left = [x - 2 - w, x + 2, last ? Math.min(x - 2 - w, last[0] - 6 - w) : x - 2 - w];
          const at = (dir > 0 ? right : left).find((a) => free(a - 1, a + w + 1));
          if (at === undefined) continue;
          out.set(g, { lab, x: at, w, whole: lab.endsWith(" " + g.off) });
          taken.push([at - 1, at + w + 1]);
          break;
        }
      }
      const whole = [...out.values()].filter((p) => p.whole).length;
      return { out, score: whole * 100 + out.size };
    };
    const fwd = place(groups, 1), back = place(groups.slice().reverse(), -1);
    const best = back.score > fwd.score ? back.out : fwd.out;
    for (const [g, p] of best) Object.assign(g, p);
    for (const g of groups) {
      const x = X(g.off);
      const cls = "mark mk-" + g.names[g.names.length - 1];
      s += tag("line", { class: cls, x1: x, y1, x2: x, y2 });
      if (g.lab === undefined) continue;
      labels += tag("rect", { class: "mark-bg", x: g.x - 1, y: y1 + 1, width: g.w + 2, height: 11 });
      labels += text(g.x, y1 + 10, g.lab, { class: cls });
    }
    return tag("g", { class: "marks" }, title(tip) + s + labels);
  }

  paint() {
    const app = this.app;
    const W0 = Math.max(this.el.clientWidth - 4, 400);
    const key = this.sig + "|" + W0 + "|" + this.zoom + "|" + this.el.scrollLeft + "|" + app.selected + "|" + app.state.current;
    if (key === this.painted) return;
    this.painted = key;
    if (!this.streams.length) {
      patch(this.el, '<div class="empty">No data on this connection yet.</div>');
      return;
    }
    const max = Math.max(1, ...this.streams.map((s) => s.max));
    const plotW = (W0 - LABEL - 10) * this.zoom;
    const W = LABEL + plotW + 10;
    const k = plotW / max;
    const vis0 = (this.el.scrollLeft - LABEL) / k - 1, vis1 = (this.el.scrollLeft + W0) / k + 1;
    const X = (off) => LABEL + off * k;
    const inView = (a, b) => b >= vis0 && a <= vis1;
    const bandH = 10 + MARKROW + SEGROWS * SEGROW + 2 + 14 + 16;
    // the step selected, or the one the stack stopped at: where each
    // direction's sent, acknowledged and read bytes end there
    const ref = app.selected || app.state.current || 0;
    let s = "";
    let y = 4;
    for (const st of this.streams) {
      const yl = y;
      // label (fixed at the left edge of the view)
      const lx = this.el.scrollLeft + 4;
      // axis ticks, each with its number unless that would run past the
      // plot's end
      const step = niceStep(max / (plotW / 90));
      for (let o = Math.max(0, Math.floor(vis0 / step) * step); o <= Math.min(max, vis1); o += step) {
        s += tag("line", { class: "gridline", x1: X(o), y1: y + 2, x2: X(o), y2: y + bandH - 4, "data-offset": o });
        const lab = offsetLabel(o, step);
        const x0 = X(o) + 2, x1 = x0 + (textWidth(lab) * 10) / 11;
        if (x1 > W) continue;
        s += tag("g", { "data-offset": o }, title("stream offset " + o) + text(x0, y + 8, lab, { class: "muted", style: "font-size:10px" }));
      }
      const marks = ref ? this.marks(st, ref, yl, X, W) : "";
      y += 10 + MARKROW;
      // segments; one already covered at this zoom is not drawn again
      // (unless it is lit), so a long stream costs at most a few rects a pixel
      const covered = new Array(SEGROWS).fill(-1);
      for (const p of st.placed) {
        if (!inView(p.a, p.b)) continue;
        const xb = X(p.b);
        if (xb <= covered[p.row] + 0.5 && !app.hl(p.e.id)) continue;
        covered[p.row] = Math.max(covered[p.row], xb);
        const retrans = app.store.retrans.has(p.e.id);
        const cls = "seg u " + (p.e.dir || "") + (retrans ? " retrans" : "") + (p.drop ? " drop" : "");
        const tip = (p.drop ? "dropped " : retrans ? "retransmitted " : "") + "#" + p.e.id + " bytes " + p.a + "–" + p.b + " (" + (p.b - p.a) + " B)\n" + summaryOf(p.e);
        s += tag("rect", { class: cls, x: X(p.a), y: y + p.row * SEGROW, width: Math.max(1.5, (p.b - p.a) * k), height: SEGROW - 2, "data-event-id": p.e.id, "data-kind": p.drop ? "drop" : "packet", "data-hl": app.hl(p.e.id) }, title(tip));
      }
      y += SEGROWS * SEGROW + 2;
      // HTTP then frames
      if (st.httpEnd > 0 && inView(0, st.httpEnd)) {
        const ha = { class: "http u", x: X(0), y, width: st.httpEnd * k, height: 12, "data-kind": "http" };
        if (st.hs) Object.assign(ha, { "data-event-id": st.hs.id, "data-hl": app.hl(st.hs.id) });
        s += tag("rect", ha, title("HTTP upgrade: bytes 0–" + st.httpEnd + " (" + st.httpEnd + " B)" + (st.hs ? "\n#" + st.hs.id + " " + summaryOf(st.hs) : "")));
        if (st.httpEnd * k > 40) s += text(X(0) + 3, y + 10, "HTTP", { style: "font-size:10px;pointer-events:none" });
      }
      let fcovered = -1;
      for (const f of st.frames) {
        const a = f.offset, h = f.offset + f.header_len, b = h + f.len;
        if (!inView(a, b)) continue;
        const hl = app.hl(f.id);
        if (X(b) <= fcovered + 0.5 && !hl) continue;
        fcovered = Math.max(fcovered, X(b));
        const tip = "frame #" + f.id + ": " + summaryOf(f) + "\nheader " + a + "–" + h + " (" + f.header_len + " B), payload " + h + "–" + b + " (" + f.len + " B)";
        let g = title(tip);
        g += tag("rect", { class: "fh u", x: X(a), y, width: Math.max(1.5, f.header_len * k), height: 12 });
        g += tag("rect", { class: "fp u", x: X(h), y, width: Math.max(1, f.len * k), height: 12 });
        // its length in bytes, as the ladder and the inspector give it,
        // where the payload has room for it (10 px text: 10/11 of 11 px)
        const lbl = f.opcode + " " + f.len + " B";
        if (f.len * k > (textWidth(lbl) * 10) / 11 + 6) g += text(X(h) + 3, y + 10, lbl, { style: "font-size:10px" });
        s += tag("g", { "data-event-id": f.id, "data-kind": "frame", "data-hl": hl }, g);
      }
      y += 16;
      let mcovered = -1;
      for (const m of st.msgs) {
        if (!inView(m.a, m.b) || X(m.b) <= mcovered + 0.5) continue;
        mcovered = X(m.b);
        const x1 = X(m.a), x2 = X(m.b);
        const last = m.frames[m.frames.length - 1];
        const ma = { class: "msg", d: "M" + x1 + "," + y + "v5H" + x2 + "v-5", "data-kind": "message" };
        if (m.ev) Object.assign(ma, { "data-event-id": m.ev.id, "data-hl": app.hl(m.ev.id) });
        const mtip = "message" + (m.ev ? " #" + m.ev.id : "") + ": " + m.frames.length + " frame(s), stream bytes " + m.a + "–" + m.b + " (" + (m.b - m.a) + " B with frame headers)" + (m.ev ? "\n" + summaryOf(m.ev) : "");
        s += tag("path", ma, title(mtip));
        if (x2 - x1 > 70) s += text(x1 + 3, y + 15, m.frames[0].opcode + " message" + (m.frames.length > 1 ? ", " + m.frames.length + " frames" : ""), { style: "font-size:9.5px", class: "muted" });
      }
      s += marks;
      y = yl + bandH + 6;
      s += tag("rect", { x: lx - 4, y: yl - 2, width: LABEL - 4, height: bandH, style: "fill:var(--bg)" });
      s += tag("text", { x: lx, y: yl + 12, class: "lane-label" }, esc(st.label) + title(st.sub));
      s += text(lx, yl + MARKROW + 25, "segments", { class: "muted", style: "font-size:10px" });
      s += text(lx, yl + 10 + MARKROW + SEGROWS * SEGROW + 12, "frames", { class: "muted", style: "font-size:10px" });
      s += text(lx, yl + 10 + MARKROW + SEGROWS * SEGROW + 27, "messages", { class: "muted", style: "font-size:10px" });
    }
    // (the gap after the last band is left out)
    patch(this.el, '<svg width="' + W + '" height="' + (y - 4) + '">' + s + "</svg>");
  }
}

// upTo is the largest value of [id, value] pairs in id order up to event
// ref, or undefined.
function upTo(list, ref) {
  let v;
  for (const [id, x] of list) {
    if (id > ref) break;
    if (v === undefined || x > v) v = x;
  }
  return v;
}

// niceStep is the axis's step for ticks at least x bytes apart: 1, 2 or 5
// times a power of ten up to 500 bytes, a power of two from 1 KiB on,
// so that each tick is a round number of the unit it is written in.
function niceStep(x) {
  if (x <= 500) {
    const p = Math.pow(10, Math.floor(Math.log10(Math.max(x, 1))));
    for (const m of [1, 2, 5, 10]) if (m * p >= x) return m * p;
  }
  return Math.pow(2, Math.max(10, Math.ceil(Math.log2(x))));
}

// offsetLabel writes a stream offset on the axis in the units the
// Seq/time graph and the inspector use: bytes while the step is in bytes,
// KiB, and MiB from 1 MiB on where the step is an eighth of one or more
// ("512 KiB", "1 MiB", "1.25 MiB"), so that 1048576 reads "1 MiB"; the
// exact offset is its tooltip.
function offsetLabel(o, step) {
  if (o === 0) return "0";
  if (step < 1024) return o + " B";
  if (o >= 1 << 20 && step % (1 << 17) === 0) return o / (1 << 20) + " MiB";
  return o / 1024 + " KiB";
}
