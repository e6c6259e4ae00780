// Inspector: the selected event in full. Every field with what it means;
// with a live server, the unit's bytes: a packet as a header tree and a
// hex dump, a frame's header bits, mask key and payload masked and
// unmasked; a socket call's arguments and result.

import * as api from "./api.js";
import { patch } from "./dom.js";
import { streamOf } from "./model.js";
import { NOTES } from "./expert.js";
import { FIELD_HELP, esc, fieldValue, flagWords, summaryOf } from "./fields.js";
import { hexToBytes, decodePacket, decodeFrameHeader, hexCells, cells, ipHeaderLen, OPCODES } from "./decode.js";

const BASE = ["id", "t", "node", "layer", "dir", "event", "conn"];

// After BASE, the fields an event has in the order tcpdump and Wireshark
// give them (addresses, flags, seq, ack, win, lengths, options; a
// frame's header bits then its length; a call, its arguments then its
// result), each relative number beside its absolute one; the rest in
// alphabetical order, and the trace format's version last.
const ORDER = ["src", "sport", "dst", "dport", "proto", "flags", "seq", "rel_seq", "ack", "rel_ack", "win", "len", "payload_len", "options", "call", "args", "ret", "errno", "n", "dur"];
const WS_ORDER = ["fin", "rsv", "opcode", "masked", "header_len", "len"];
function rank(k, e) {
  const o = e.layer === "ws" ? WS_ORDER : ORDER;
  return k === "v" ? o.length + 1 : o.includes(k) ? o.indexOf(k) : o.length;
}

// unit says what a number counts, where its name alone does not.
function unit(k, e) {
  if (typeof e[k] !== "number") return "";
  if (k === "len") return e.layer === "link" || e.layer === "ip" ? "bytes (the IP packet, headers included)" : e.layer === "ws" ? "bytes of payload" : "bytes";
  if (k === "payload_len") return "bytes of TCP payload (tcpdump's length)";
  if (k === "header_len" || k === "n") return "bytes";
  return "";
}

export class InspectorView {
  constructor(el, app) {
    this.el = el;
    this.app = app;
    this.cache = new Map(); // id -> detail (bytes) or error
    this.mark = [0, 0];
    el.addEventListener("click", (e) => {
      const a = e.target.closest("[data-goto]");
      if (a) {
        e.preventDefault();
        this.app.select(+a.dataset.goto, "inspector");
        return;
      }
    });
    el.addEventListener("mouseover", (e) => {
      const f = e.target.closest("[data-at]");
      if (!f) return;
      this.hl(+f.dataset.at, +f.dataset.at + +f.dataset.len);
    });
  }

  render() {
    const app = this.app;
    const id = app.selected;
    // The bytes are put in their box when they come, not by a redraw: the
    // inspector is made again only for another event, so that what the
    // user did in it (a field folded, text selected, the box scrolled)
    // stays while the stream goes on.
    const key = id + "|" + (app.store.get(id) ? "e" : "") + "|" + (app.missing ? app.missing + "|" + app.store.events.length : "");
    if (key === this.key) {
      // What the page works out from later events (the same packet in
      // the other stack, the packets that carried the rest of a frame)
      // comes in after the event is shown: only those lines change.
      const e = app.store.get(id);
      const box = e && this.el.querySelector("#insp-related");
      if (box) {
        const rel = this.related(e);
        if (rel !== this.rel) {
          this.rel = rel;
          patch(box, rel);
        }
      }
      return;
    }
    this.key = key;
    const e = app.store.get(id);
    document.getElementById("inspector-title").textContent = e ? "#" + e.id + " " + e.node + " " + e.layer + " " + e.event : "";
    if (!e) {
      const evs = app.store.events;
      const m = app.missing;
      const has = evs.length ? "it holds #" + evs[0].id + " to #" + evs[evs.length - 1].id : "it holds none yet";
      this.el.innerHTML = m
        ? '<div class="err" data-missing="' + esc(m) + '">' + (/^\d+$/.test(m) ? "The address names event #" + esc(m) + ", which this view does not have: " + has + "." : "The address names event " + esc(JSON.stringify(m)) + ", which is not an event ID (#event=ID).") + "</div>"
        : '<div class="empty">Click a packet, frame or event in any view to see it here.</div>';
      return;
    }
    const hl = app.hl(e.id);
    let h = '<div class="summary" data-event-id="' + esc(e.id) + '"' + (hl ? ' data-hl="' + hl + '"' : "") + ">" + esc(summaryOf(e)) + "</div>";
    h += this.kindHelp(e);
    h += '<dl class="kv">';
    const keys = [...BASE, ...Object.keys(e).filter((k) => !BASE.includes(k) && k !== "summary").sort().sort((a, b) => rank(a, e) - rank(b, e))];
    for (const k of keys) {
      // a field the trace writes empty (dir of an event with none, errno
      // of a call that succeeded) says nothing: not shown
      if (e[k] === undefined || e[k] === "") continue;
      // an address pair (conn) may wrap after its arrow, not inside an address
      let v = esc(fieldValue(k, e[k])).replaceAll("-&gt;", "-&gt;<wbr>");
      // an element that is not an event ID (a crafted file) is text
      if ((k === "frames" || k === "packets") && Array.isArray(e[k])) v = e[k].map((x) => (typeof x === "number" ? goto(x) : esc(fieldValue(k, x)))).join(" ");
      if ((k === "frame" || k === "packet") && typeof e[k] === "number") v = goto(e[k]);
      if (k === "flags") v += " <span class=hint>(" + esc(flagWords(e[k])) + ")</span>";
      if (unit(k, e)) v += " <span class=hint>" + esc(unit(k, e)) + "</span>";
      if (k === "win" && typeof e.win === "number") {
        const sh = windowShift(app.store, e);
        if (sh !== undefined) v += " <span class=hint data-scaled=\"" + e.win * 2 ** sh + "\">(× " + 2 ** sh + " = " + e.win * 2 ** sh + " bytes, the scale this side's SYN announced)</span>";
      }
      h += "<dt" + (FIELD_HELP[k] ? ' title="' + esc(FIELD_HELP[k]) + '"' : "") + ">" + esc(k) + "</dt><dd>" + v + "</dd>";
    }
    h += "</dl>";
    this.rel = this.related(e);
    h += '<div id="insp-related">' + this.rel + "</div>";
    h += '<div id="insp-bytes"></div>';
    this.el.innerHTML = h;
    this.bytes(e);
  }

  // related is the Related lines of e: the links the page worked out.
  related(e) {
    const st = this.app.store;
    const rel = [];
    const tw = st.twin.get(e.id);
    if (tw) rel.push("the same unit in " + esc((st.get(tw) || {}).node) + ": " + goto(tw));
    const fr = st.framesOf.get(e.id);
    if (fr && fr.size && !e.frames) rel.push("frames carried: " + [...fr].map(goto).join(" "));
    // A frame names the packets that had brought its bytes when it was
    // traced; the later ones of a frame over many segments came as
    // carried events.
    const ps = Array.isArray(e.packets) && st.packetsOf.get(e.id);
    if (ps && ps.size > e.packets.length) {
      const all = [...ps].sort((a, b) => a - b);
      rel.push('<span data-carried="' + all.length + '">carried by ' + all.length + " packets in all, " + goto(all[0]) + " to " + goto(all[all.length - 1]) + " (packets names the " + e.packets.length + " that had come when it was traced)</span>");
    }
    if (st.retrans.has(e.id)) rel.push("a retransmission: this sequence range was sent before");
    for (const n of st.notes.get(e.id) || [])
      rel.push('<span data-note="' + n.kind + '">[' + esc(n.text) + "] as Wireshark marks it in " + esc(e.node) + "'s capture: " + esc(NOTES[n.kind][1]) + (n.kind === "dup-ack" ? "; the ACK it repeats: " + goto(n.of) : "") + "</span>");
    if (st.keepalives.has(e.id)) rel.push("a keep-alive probe: no data, seq one below the next one, after the connection was idle; the peer answers with an ACK (RFC 9293 3.8.4)");
    return rel.length ? '<div class="sub">Related</div><div>' + rel.join("<br>") + "</div>" : "";
  }

  kindHelp(e) {
    const k = e.layer + " " + e.event;
    const t = {
      "link packet": e.dir === "out" ? "A packet the stack wrote to its device." : "A packet the stack read from its device.",
      "tcp state":
        e.dir === "out"
          ? "The TCP endpoint's variables as it entered " + (e.state || "a state") + " by sending (its SYN, SYN-ACK or FIN), from the TCP probe."
          : "The TCP endpoint's variables right after it processed a received segment (the TCP probe).",
      "tcp segment": "A segment TCP handed to IP.",
      "socket wake": "TCP notified the socket's wait queue: a sleeping caller can go on.",
      "socket woken": "A caller that slept in the socket API was woken up.",
      "socket would-block": "The call had nothing to do yet and went to sleep.",
      "socket recv": "recv copied bytes from the receive buffer to the application.",
      "socket send": "send copied bytes into the send buffer; TCP sends them when it can.",
      "ws frame": "A WebSocket frame (RFC 6455 §5.2).",
      "ws message": "A whole WebSocket message, after reassembling its frames.",
      "link verdict": "A hook decided what happens to a packet.",
      "link drop": "The stack dropped a packet.",
      "link held": "A hook took the packet out of the path: it waits in the hold queue.",
      "link continued": "A packet held at the link's ingress, sent on into the stack as it was released (edits and all).",
    }[k];
    return t ? '<div class="hint" style="margin-bottom:4px">' + esc(t) + "</div>" : "";
  }

  async bytes(e) {
    const app = this.app;
    const box = document.getElementById("insp-bytes");
    // a recorded capture keeps its packets' bytes too
    if (!(e.layer === "link" || e.layer === "ws" || e.layer === "ip" || e.layer === "tcp" || e.layer === "socket")) return;
    let d = this.cache.get(e.id);
    if (!d) {
      try {
        d = await api.get("/api/events/" + e.id);
      } catch (err) {
        d = { error: err.message };
      }
      this.cache.set(e.id, d);
      if (this.cache.size > 500) this.cache.delete(this.cache.keys().next().value);
      if (app.selected !== e.id) return;
    }
    if (!box || !box.isConnected) return;
    this.detail = d;
    this.event = e;
    if (d.error) {
      box.innerHTML = '<div class="hint">bytes: ' + esc(d.error) + "</div>";
      return;
    }
    let h = "";
    if (e.layer === "socket" && e.event === "call") {
      h += '<div class="sub">Call</div><div class="tree"><div class="f"><b>call</b> ' + esc(e.call) + "(" + esc(e.args || "") + ")</div>" +
        '<div class="f"><b>result</b> ' + esc(e.ret) + (e.errno ? " " + esc(e.errno) + " " + esc(e.err || "") : "") + "</div></div>";
    }
    if (!d.bytes && e.layer === "ws" && e.event === "frame") {
      // the frame's bytes as the packets that carried it had them
      const fb = await this.frameBytes(e);
      if (app.selected !== e.id || !box.isConnected) return;
      if (fb) d = Object.assign({}, d, fb);
    }
    if (!d.bytes) {
      box.innerHTML = h;
      return;
    }
    const b = hexToBytes(d.bytes);
    this.buf = b;
    if (e.layer === "ws") {
      const fh = decodeFrameHeader(b);
      if (fh) {
        h += '<div class="sub">Frame header</div><div class="bits">';
        const bit = (name, on, help) => '<span class="' + (on ? "on" : "") + '" title="' + esc(help) + '">' + (on ? 1 : 0) + "<small>" + name + "</small></span>";
        h += bit("FIN", fh.fin, "last frame of the message") + bit("RSV1", fh.rsv1, "compressed (permessage-deflate)") + bit("RSV2", fh.rsv2, "reserved") + bit("RSV3", fh.rsv3, "reserved");
        h += '<span style="grid-column: span 4" title="opcode">' + fh.opcode + "<small>opcode: " + esc(OPCODES[fh.opcode] || "reserved") + "</small></span>";
        h += bit("MASK", fh.mask, "payload XOR-masked (client to server)");
        h += '<span style="grid-column: span 7" title="payload length (7 bits, then 16 or 64 bits when 126/127)">' + fh.len + "<small>payload length" + (fh.lenBytes ? " (+" + fh.lenBytes + " bytes)" : "") + "</small></span></div>";
        if (fh.key) h += '<div class="tree"><div class="f" data-at="' + (fh.headerLen - 4) + '" data-len="4"><b>mask key</b> ' + fh.key + "</div></div>";
        h += '<div class="sub">Payload' + (fh.mask ? " as sent (masked)" : "") + "</div>";
        h += '<pre class="hex">' + hexCells(b.subarray(fh.headerLen), 1024) + "</pre>";
        if (fh.mask && d.payload_hex !== undefined) {
          h += '<div class="sub">Payload unmasked</div><pre class="hex">' + hexCells(hexToBytes(d.payload_hex), 1024) + "</pre>";
        }
        h += '<div class="sub">Frame bytes' + (d.from ? ' <span class="hint">(from ' + esc(d.from) + ")</span>" : "") + '</div><pre class="hex" id="insp-dump"></pre>';
        box.innerHTML = h;
        this.dump(0, fh.headerLen);
        return;
      }
    }
    const tree = decodePacket(b);
    h += '<div class="sub">Decoded</div><div class="tree">';
    for (const n of tree) {
      h += '<details open><summary data-at="' + n.at + '" data-len="' + n.len + '">' + esc(n.name) + " <span class=hint>" + esc(n.value) + "</span></summary>";
      for (const k of n.kids || []) {
        if (k.kids) {
          h += '<details open class="f"><summary data-at="' + k.at + '" data-len="' + k.len + '">' + esc(k.name) + "</summary>";
          for (const o of k.kids) h += '<div class="f" data-at="' + o.at + '" data-len="' + o.len + '"' + (o.help ? ' title="' + esc(o.help) + '"' : "") + "><b>" + esc(o.name) + "</b> " + esc(o.value) + "</div>";
          h += "</details>";
        } else h += '<div class="f" data-at="' + k.at + '" data-len="' + k.len + '"' + (k.help ? ' title="' + esc(k.help) + '"' : "") + "><b>" + esc(k.name) + "</b> " + esc(k.value) + "</div>";
      }
      h += "</details>";
    }
    h += '</div><div class="sub">Bytes <span class="hint">(point at a field to find it)</span></div><pre class="hex" id="insp-dump"></pre>';
    box.innerHTML = h;
    this.dump(-1, -1);
  }

  // frameBytes rebuilds a frame's wire bytes from the TCP payloads of the
  // packets that carried it (joined by stream offset), and unmasks them.
  async frameBytes(e) {
    const st = this.app.store;
    const ids = [...(st.packetsOf.get(e.id) || [])];
    const total = e.header_len + e.len;
    if (!ids.length || !(total > 0) || total > 1 << 20) return null;
    const buf = new Uint8Array(total);
    const have = new Uint8Array(total);
    for (const id of ids) {
      let d = this.cache.get(id);
      if (!d) {
        try {
          d = await api.get("/api/events/" + id);
        } catch {
          continue;
        }
        this.cache.set(id, d);
      }
      const p = st.get(id);
      if (!d.bytes || !p) continue;
      const pkt = hexToBytes(d.bytes);
      const ipLen = ipHeaderLen(pkt);
      const tcpLen = (pkt[ipLen + 12] >> 4) * 4;
      const payload = pkt.subarray(ipLen + tcpLen);
      const at = p.rel_seq - 1; // stream offset of the payload's first byte
      for (let i = 0; i < payload.length; i++) {
        const k = at + i - e.offset;
        if (k >= 0 && k < total) {
          buf[k] = payload[i];
          have[k] = 1;
        }
      }
    }
    if (have.some((x) => !x)) return null;
    const hex = (a) => Array.from(a, (x) => x.toString(16).padStart(2, "0")).join("");
    const out = { bytes: hex(buf), from: "the packets that carried it: " + ids.map((i) => "#" + i).join(" ") };
    const fh = decodeFrameHeader(buf);
    if (fh && fh.mask) {
      const key = hexToBytes(fh.key);
      const pl = buf.slice(fh.headerLen);
      for (let i = 0; i < pl.length; i++) pl[i] ^= key[i & 3];
      out.payload_hex = hex(pl);
    }
    return out;
  }

  // dump writes the bytes in their box, once for the event shown, with
  // the bytes from a to b marked.
  dump(a, b) {
    const el = document.getElementById("insp-dump");
    this.cells = [];
    this.mark = [0, 0];
    if (!el || !this.buf) return;
    el.innerHTML = hexCells(this.buf, 4096);
    this.cells = cells(el);
    this.hl(a, b);
  }

  // hl marks the bytes from a to b (a field pointed at) in the dump, and
  // no others, by their class: the dump is not written again, so that
  // text selected in it stays, and a large one costs no more than the
  // bytes that change.
  hl(a, b) {
    const [a0, b0] = this.mark;
    if (a === a0 && b === b0) return;
    this.mark = [a, b];
    const n = this.cells.length;
    for (let i = Math.max(0, Math.min(a0, a)); i < Math.min(n, Math.max(b0, b)); i++) {
      const on = i >= a && i < b;
      if (on === (i >= a0 && i < b0)) continue;
      for (const c of this.cells[i]) c.classList.toggle("hl", on);
    }
  }
}

// goto is a link that selects the event id.
function goto(id) {
  const x = esc(id);
  return '<a href="#event=' + x + '" data-goto="' + x + '">#' + x + "</a>";
}

// windowShift is the window scale (RFC 7323 2.3) of the segment e's sender,
// when both SYNs of its connection are in the trace and carried the
// option; undefined for a SYN (never scaled) or when it is not known.
function windowShift(st, e) {
  if ((e.flags || "").includes("S") || e.sport === undefined) return undefined;
  const key = st.connOf.get(e.id);
  const c = key && st.conns.get(key);
  if (!c) return undefined;
  const mine = streamOf(e);
  let sh, peer;
  for (const id of c.ids) {
    const x = st.get(id);
    if (!x || !(x.flags || "").includes("S") || x.sport === undefined || typeof x.options !== "string") continue;
    const m = /wscale (\d+)/.exec(x.options);
    if (streamOf(x) === mine) sh = m ? +m[1] : null;
    else peer = m ? +m[1] : null;
    if (sh !== undefined && peer !== undefined) break;
  }
  return typeof sh === "number" && typeof peer === "number" ? sh : undefined;
}
