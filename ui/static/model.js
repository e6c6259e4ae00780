// The event store and everything derived from it: connections, the two
// copies of a packet (sent by one stack, received by the other), the
// packets that carried each frame, retransmissions and drops.
//
// Events are exactly the JSON objects of `glassnet demo --trace -`. Derived
// facts live in side tables keyed by event id, never on the events.

import { TcpAnalysis } from "./expert.js";

// endpoints of a "a:port->b:port" string, or null.
export function splitConn(c) {
  if (!c) return null;
  const i = c.indexOf("->");
  if (i < 0) return null;
  return [c.slice(0, i), c.slice(i + 2)];
}

// endpoint writes an address and port as the events' conn does (Go's
// netip.AddrPort): an IPv6 address in brackets.
export function endpoint(addr, port) {
  return (String(addr).includes(":") ? "[" + addr + "]" : addr) + ":" + port;
}

// connKey names a connection the same way from both ends and both layers:
// its two endpoints in sorted order. A listener ("10.0.0.2:80") is its own key.
export function connKey(c) {
  const p = splitConn(c);
  if (!p) return c || "";
  return p[0] < p[1] ? p[0] + " ⇄ " + p[1] : p[1] + " ⇄ " + p[0];
}

// streamOf returns "src>dst" for the byte stream an event belongs to, or "".
// Packets and segments say src/dst; socket and ws events name the
// connection local->peer and a direction.
export function streamOf(e) {
  if (e.sport !== undefined && e.src !== undefined) return endpoint(e.src, e.sport) + ">" + endpoint(e.dst, e.dport);
  const p = splitConn(e.conn);
  if (!p) return "";
  if (e.layer === "socket" || e.layer === "ws") {
    if (e.dir === "out") return p[0] + ">" + p[1];
    if (e.dir === "in") return p[1] + ">" + p[0];
    return "";
  }
  if (e.layer === "link" || e.layer === "ip") return p[0] + ">" + p[1];
  return "";
}

export const isPacket = (e) => e.layer === "link" && e.event === "packet";
export const isSegment = (e) => e.layer === "tcp" && e.event === "segment";
export const isFrame = (e) => e.layer === "ws" && e.event === "frame";
export const isState = (e) => e.layer === "tcp" && e.event === "state";
export const isDrop = (e) => (e.event === "verdict" && e.action === "drop") || (e.layer === "link" && e.event === "drop");

// seqLen is how much sequence space a segment takes: its payload, plus one
// for SYN and for FIN.
export function seqLen(e) {
  const f = e.flags || "";
  return (e.payload_len || 0) + (f.includes("S") ? 1 : 0) + (f.includes("F") ? 1 : 0);
}

// fromSummary reads what a verdict or drop event's summary says about the
// packet it names (the tcpdump-like text after "IP ").
export function fromSummary(s) {
  const r = {};
  let m = /Flags \[([^\]]*)\]/.exec(s);
  if (m) r.flags = m[1];
  m = /seq (\d+)(?::(\d+))?/.exec(s);
  if (m) r.rel_seq = +m[1];
  m = /ack (\d+)/.exec(s);
  if (m) r.rel_ack = +m[1];
  m = /win (\d+)/.exec(s);
  if (m) r.win = +m[1];
  m = /length (\d+)\s*$/.exec(s);
  if (m) r.payload_len = +m[1];
  m = /IP6? ([0-9a-f.:]+)\.(\d+) > ([0-9a-f.:]+)\.(\d+):/.exec(s);
  if (m) Object.assign(r, { src: m[1], sport: +m[2], dst: m[3], dport: +m[4] });
  return r;
}

export class Store {
  // numbered: the events come from the server, which numbers the
  // connections on the same endpoints (conn_n) for its whole run; a trace
  // read without it (?trace=) is numbered here, from its events.
  constructor(numbered = false) {
    this.events = []; // sorted by id
    this.byId = new Map();
    this.version = 0;
    this.numbered = numbered;
    this.reset();
  }

  reset() {
    this.cursor = 0; // events[0:cursor] are indexed
    this.conns = new Map(); // key -> Conn
    this.connOf = new Map(); // id -> key
    // A connection is one incarnation of its two endpoints: a SYN with
    // another ISN from the end that opened it (the ports used again, as
    // after TIME-WAIT, or by a tool sending from a fixed port) starts the
    // next, keyed "a ⇄ b #2", as Wireshark starts another TCP stream.
    this.incarnation = new Map(); // connKey -> the key of its latest incarnation
    this.openSyn = new Map(); // connKey -> {stream, seq} of its latest SYN without ACK
    this.twin = new Map(); // packet, frame, message or handshake id -> the other stack's copy
    this.pending = new Map(); // signature -> [out ids] waiting for their in copy
    this.framesOf = new Map(); // packet id -> Set(frame ids)
    this.packetsOf = new Map(); // frame id -> Set(packet ids)
    this.retrans = new Set(); // segment and packet ids that re-send sequence space
    // ids of window probes: a byte sent again while the peer's window was
    // zero (RFC 9293 3.8.6.1), not a retransmission of lost data
    this.probes = new Set();
    // ids of keep-alive probes: no data, one below the highest sequence
    // number sent (RFC 9293 3.8.4), which tcpdump writes as a bare ACK
    this.keepalives = new Set();
    this.lastWin = new Map(); // stream -> the window its last packet advertised
    // Wireshark's TCP analysis of each stack's packets (expert.js)
    this.analysis = new TcpAnalysis();
    this.notes = new Map(); // packet id -> [{kind, text, of, num}]
    this.sentEnd = new Map(); // node|dir|stream -> highest rel seq end of the packets
    this.tcpSent = new Map(); // node|stream -> highest rel seq end TCP sent
    this.resent = new Map(); // node|stream -> [from, to) ranges TCP sent again, waiting for their packets
    this.synSeq = new Map(); // stream -> the seq of its last SYN
    this.dropInfo = new Map(); // verdict id -> fields read from its summary
    this.nodes = new Set();
    this.stateBefore = new Map(); // state id -> previous state id (same node, conn)
    this.lastState = new Map(); // node|key -> state id
    this.firstFrameOff = new Map(); // stream -> lowest ws frame offset
    this.wsStreams = new Set(); // both streams of a connection with a WebSocket handshake
    this.hsStatus = new Map(); // stream -> the HTTP status that answered its upgrade request
    this.framePending = new Map();
    this.acrossPending = new Map(); // dir + signature -> [ids] waiting for the other stack's copy
  }

  // pairAcross makes twins of a unit one stack wrote and the other read
  // (a WebSocket message, an HTTP upgrade request or its answer), as
  // the byte stream draws it once: the n-th written on a stream with its
  // signature (what) is the n-th read there.
  pairAcross(e, what) {
    if (e.dir !== "out" && e.dir !== "in") return;
    const sig = streamOf(e) + " " + what;
    const other = (e.dir === "out" ? "in " : "out ") + sig;
    const q = this.acrossPending.get(other);
    if (q && q.length) {
      const o = q.shift();
      if (!q.length) this.acrossPending.delete(other);
      const oe = this.byId.get(o);
      if (oe && oe.node !== e.node) {
        this.twin.set(o, e.id);
        this.twin.set(e.id, o);
      }
      return;
    }
    const k = e.dir + " " + sig;
    if (!this.acrossPending.has(k)) this.acrossPending.set(k, []);
    this.acrossPending.get(k).push(e.id);
  }

  // add takes events in any order; duplicates are ignored.
  add(evs) {
    let ordered = true;
    for (const e of evs) {
      if (typeof e.id !== "number" || this.byId.has(e.id)) continue;
      const last = this.events.length ? this.events[this.events.length - 1].id : 0;
      if (e.id < last) ordered = false;
      this.events.push(e);
      this.byId.set(e.id, e);
    }
    if (!ordered) {
      this.events.sort((a, b) => a.id - b.id);
      this.reset();
    }
    this.index();
    this.version++;
  }

  get(id) {
    return this.byId.get(id);
  }

  // trim forgets the events before first, which the server's history no
  // longer holds (so its API no longer answers for them), once they are
  // a tenth of what the page keeps: a long run keeps about as many events
  // in the page as in the server. It returns how many it forgot.
  trim(first) {
    const n = this.indexOf(first);
    if (n === 0 || n < Math.max(1000, this.events.length / 10)) return 0;
    for (let i = 0; i < n; i++) this.byId.delete(this.events[i].id);
    this.events = this.events.slice(n);
    this.reset();
    this.index();
    this.version++;
    return n;
  }

  // indexOf returns the position of the first event with id >= id.
  indexOf(id) {
    let lo = 0, hi = this.events.length;
    while (lo < hi) {
      const m = (lo + hi) >> 1;
      if (this.events[m].id < id) lo = m + 1;
      else hi = m;
    }
    return lo;
  }

  link(a, b) {
    // a: packet, b: frame
    if (!this.framesOf.has(a)) this.framesOf.set(a, new Set());
    this.framesOf.get(a).add(b);
    if (!this.packetsOf.has(b)) this.packetsOf.set(b, new Set());
    this.packetsOf.get(b).add(a);
  }

  conn(key) {
    let c = this.conns.get(key);
    if (!c) {
      const m = / #(\d+)$/.exec(key);
      c = { key, base: m ? key.slice(0, m.index) : key, n: m ? +m[1] : 1, ids: [], nodes: new Set(), first: 0, last: 0, client: "", listener: false, states: new Map() };
      this.conns.set(key, c);
    }
    return c;
  }

  index() {
    const evs = this.events;
    for (; this.cursor < evs.length; this.cursor++) {
      const e = evs[this.cursor];
      if (e.node) this.nodes.add(e.node);
      let conn = e.conn;
      let info = null;
      if (isDrop(e)) {
        info = fromSummary(e.summary || "");
        this.dropInfo.set(e.id, info);
        if (!conn && info.src) conn = endpoint(info.src, info.sport) + "->" + endpoint(info.dst, info.dport);
        // a copy TCP sent again that a rule dropped on its way out is a
        // retransmission all the same
        const n = info.rel_seq !== undefined && info.src ? seqLen(info) : 0;
        if (n > 0 && e.dir === "out" && e.layer === "link" && this.takeResent(e.node + "|" + streamOf(info), info.rel_seq, info.rel_seq + n)) this.retrans.add(e.id);
      }
      if (conn) {
        const key = this.incarnate(connKey(conn), e);
        this.connOf.set(e.id, key);
        const c = this.conn(key);
        c.ids.push(e.id);
        if (!c.first) c.first = e.id;
        c.last = e.id;
        if (e.node && e.node !== "demo") c.nodes.add(e.node);
        if (!splitConn(conn)) c.listener = true;
        // the end that sent the SYN opened it: its packet, or TCP's own
        // segment or the verdict of a rule that dropped it, when the SYN
        // never reached the wire
        if ((e.flags || "") === "S" && !c.client && (isPacket(e) || e.dir === "out")) c.client = e.dir === "out" ? e.node : "";
        if (isState(e)) {
          const k = e.node + "|" + key;
          const prev = this.lastState.get(k);
          if (prev) this.stateBefore.set(e.id, prev);
          this.lastState.set(k, e.id);
          c.states.set(e.node, e.id);
        }
      }
      if (typeof e.seq === "number" && /S/.test(e.flags || "") && (isPacket(e) || isSegment(e))) this.newSyn(e);
      if (isPacket(e)) {
        const sig = endpoint(e.src, e.sport) + ">" + endpoint(e.dst, e.dport) + " " + e.seq + " " + e.ack + " " + e.flags + " " + e.payload_len;
        if (e.dir === "out") {
          if (!this.pending.has(sig)) this.pending.set(sig, []);
          this.pending.get(sig).push(e.id);
        } else {
          const q = this.pending.get(sig);
          if (q && q.length) {
            const o = q.shift();
            if (!q.length) this.pending.delete(sig);
            const oe = this.byId.get(o);
            if (oe && oe.node !== e.node) {
              this.twin.set(o, e.id);
              this.twin.set(e.id, o);
            }
          }
        }
        const n = seqLen(e);
        if (n === 0 && e.flags === "." && typeof e.rel_seq === "number") {
          const end = this.sentEnd.get(e.node + "|" + e.dir + "|" + streamOf(e));
          if (end !== undefined && e.rel_seq === end - 1) this.keepalives.add(e.id);
        }
        if (n > 0) {
          const k = e.node + "|" + e.dir + "|" + streamOf(e);
          const end = this.sentEnd.get(k);
          const tk = e.node + "|" + streamOf(e);
          if (e.dir === "out" && this.tcpSent.has(tk)) {
            // TCP's own steps are in the trace, so they decide: a packet
            // is a retransmission if TCP sent its range again. A copy a
            // rule dropped, or a packet held and released after TCP sent
            // it again, does not make the next one look repeated.
            if (this.takeResent(tk, e.rel_seq, e.rel_seq + n)) this.retrans.add(e.id);
          } else if (end !== undefined && e.rel_seq + n <= end) this.retrans.add(e.id);
          this.sentEnd.set(k, Math.max(end || 0, e.rel_seq + n));
          this.markProbe(e, n);
        }
        if (e.win !== undefined) this.lastWin.set(streamOf(e), e.win);
        const notes = this.analysis.note(e);
        if (notes.length) this.notes.set(e.id, notes);
        if (Array.isArray(e.frames)) for (const f of e.frames) this.link(e.id, f);
      } else if (isSegment(e) && e.dir === "out") {
        const n = seqLen(e);
        const k = e.node + "|" + streamOf(e);
        const end = this.tcpSent.get(k);
        if (n > 0 && end !== undefined && e.rel_seq + n <= end) {
          this.retrans.add(e.id);
          if (!this.resent.has(k)) this.resent.set(k, []);
          this.resent.get(k).push([e.rel_seq, e.rel_seq + n]);
          this.markProbe(e, n);
        }
        this.tcpSent.set(k, Math.max(end || 0, e.rel_seq + n));
      } else if (e.layer === "link" && e.event === "carried") {
        for (const f of e.frames || []) this.link(e.packet, f);
      } else if (isFrame(e)) {
        for (const p of e.packets || []) this.link(p, e.id);
        const s = streamOf(e);
        const fo = this.firstFrameOff.get(s);
        if (fo === undefined || e.offset < fo) this.firstFrameOff.set(s, e.offset);
        const sig = s + " " + e.offset + " " + e.opcode + " " + e.len;
        const q = this.framePending.get(sig);
        if (q && q.node !== e.node && q.dir !== e.dir) {
          this.twin.set(q.id, e.id);
          this.twin.set(e.id, q.id);
          this.framePending.delete(sig);
        } else this.framePending.set(sig, { id: e.id, node: e.node, dir: e.dir });
      } else if (e.layer === "ws" && e.event === "carried") {
        for (const p of e.packets || []) this.link(p, e.frame);
      } else if (e.layer === "ws" && e.event === "message") {
        this.pairAcross(e, "message " + e.type + " " + e.len);
      } else if (e.layer === "ws" && e.event === "handshake") {
        // the request (no status) or the answer
        this.pairAcross(e, "handshake " + (e.status || ""));
        const p = splitConn(e.conn);
        if (p) this.wsStreams.add(p[0] + ">" + p[1]).add(p[1] + ">" + p[0]);
        if (p && typeof e.status === "number") this.hsStatus.set(p[0] + ">" + p[1], e.status).set(p[1] + ">" + p[0], e.status);
      }
    }
  }

  // incarnate returns the key of the incarnation of connection base that
  // event e belongs to: the latest, or a new one when e is a SYN without
  // ACK (a packet, or TCP's own segment) that carries another ISN the same
  // way as the SYN that opened the latest. Its copy at the other stack, and
  // a SYN sent again, carry the same ISN.
  //
  // With the server's numbers (numbered), an event of a connection is of
  // the one its conn_n names (none: the first), which stays so when the
  // events before it have left the history; one that names none (a drop
  // read from its summary) is of the latest.
  incarnate(base, e) {
    if (this.numbered) {
      if (!e.conn) return this.incarnation.get(base) || base;
      if (!(e.conn_n > 1)) {
        // the first (incarnation holds only the endpoints used again)
        this.incarnation.delete(base);
        return base;
      }
      const key = base + " #" + e.conn_n;
      this.incarnation.set(base, key);
      return key;
    }
    const f = e.flags || "";
    if (typeof e.seq === "number" && f.includes("S") && !f.includes(".") && (isPacket(e) || isSegment(e))) {
      const s = streamOf(e);
      const was = this.openSyn.get(base);
      this.openSyn.set(base, { stream: s, seq: e.seq });
      if (was && was.stream === s && was.seq !== e.seq) {
        const n = (this.conns.get(this.incarnation.get(base) || base) || { n: 1 }).n + 1;
        this.incarnation.set(base, base + " #" + n);
      }
    }
    return this.incarnation.get(base) || base;
  }

  // latest is the key of the latest incarnation of the connection between
  // the endpoints of a "local->peer" string (the server's socket table has
  // no other name for it).
  latest(conn) {
    const base = connKey(conn);
    return this.incarnation.get(base) || base;
  }

  // takeResent reports whether [a, b) lies in a range TCP sent again on
  // k and not yet matched by a packet, and takes it from that range (a
  // segment sent again may leave as several packets).
  // markProbe moves a one-byte copy sent while the other direction's last
  // packet advertised a zero window from the retransmissions to the
  // window probes.
  markProbe(e, n) {
    if (n !== 1 || !this.retrans.has(e.id)) return;
    const [a, b] = streamOf(e).split(">");
    if (this.lastWin.get(b + ">" + a) !== 0) return;
    this.retrans.delete(e.id);
    this.probes.add(e.id);
  }

  // newSyn notes the SYN e of its stream. One with another ISN than the
  // last is a new incarnation of the connection (its ports used again, as
  // after TIME-WAIT, or by a tool that sends from a fixed port): what it
  // sends counts from the new ISN, and none of it was sent before.
  newSyn(e) {
    const s = streamOf(e);
    const was = this.synSeq.get(s);
    this.synSeq.set(s, e.seq);
    if (was === undefined || was === e.seq) return;
    for (const m of [this.sentEnd, this.tcpSent, this.resent]) {
      for (const k of [...m.keys()]) if (k.endsWith("|" + s)) m.delete(k);
    }
  }

  takeResent(k, a, b) {
    const rs = this.resent.get(k);
    if (!rs) return false;
    const i = rs.findIndex((r) => a >= r[0] && b <= r[1]);
    if (i < 0) return false;
    const r = rs[i];
    if (a === r[0]) r[0] = b;
    if (r[0] >= r[1]) rs.splice(i, 1);
    return true;
  }

  // related returns the ids a selection of id should light up: the unit's
  // copy in the other stack (same) and what carried it or what it carried.
  related(id) {
    const same = new Set([id]);
    const rel = new Set();
    const t = this.twin.get(id);
    if (t) same.add(t);
    for (const s of [...same]) {
      for (const f of this.framesOf.get(s) || []) {
        rel.add(f);
        const ft = this.twin.get(f);
        if (ft) rel.add(ft);
      }
      for (const p of this.packetsOf.get(s) || []) {
        rel.add(p);
        const pt = this.twin.get(p);
        if (pt) rel.add(pt);
      }
    }
    for (const s of same) rel.delete(s);
    return { same, rel };
  }

  // connEvents returns the events of a connection key, in id order.
  // stateAt is the last TCP state event of node on connection c at or
  // before event ref (Infinity: the latest), or null.
  stateAt(c, node, ref) {
    if (ref === Infinity) {
      const sid = c.states.get(node);
      return sid ? this.get(sid) : null;
    }
    for (let i = c.ids.length - 1; i >= 0; i--) {
      if (c.ids[i] > ref) continue;
      const e = this.get(c.ids[i]);
      if (e.node === node && isState(e)) return e;
    }
    return null;
  }

  // synSent is, for a node of connection c with no TCP state at or
  // before ref, the last SYN or SYN-ACK it sent up to ref (TCP's own step
  // when traced, else the packet), or null. TCP reports its state when a
  // segment comes in: the state a stack enters by sending one of these,
  // SYN-SENT or SYN-RCVD, is reported a few steps after it is on the wire.
  // The handshake is over once a packet without SYN went either way
  // after it (the ACK that ends it, data): a capture has no state to say
  // so.
  synSent(c, node, ref) {
    let pkt = null;
    for (let i = c.ids.length - 1; i >= 0; i--) {
      if (c.ids[i] > ref) continue;
      const e = this.get(c.ids[i]);
      if (e.node !== node) continue;
      if (isState(e)) return null;
      const syn = /S/.test(e.flags || "");
      if (isPacket(e) && !syn && !pkt) return null;
      if (e.dir !== "out" || !syn) continue;
      if (isSegment(e)) return e;
      if (isPacket(e) && !pkt) pkt = e;
    }
    return pkt;
  }

  connEvents(key) {
    const c = this.conns.get(key);
    if (!c) return [];
    return c.ids.map((id) => this.byId.get(id));
  }

  // connections with two endpoints (not listeners), oldest first.
  tcpConns() {
    return [...this.conns.values()].filter((c) => !c.listener && c.key.includes("⇄"));
  }

  // frame bytes from its wire offset: the first frame offset of a stream
  // marks the end of the HTTP upgrade in that direction; undefined while a
  // WebSocket connection has no frame that way yet (all of it so far is
  // the upgrade), 0 on a connection that is not WebSocket (no upgrade:
  // a TCP echo's bytes are not HTTP).
  httpEnd(stream) {
    const fo = this.firstFrameOff.get(stream);
    if (fo !== undefined) return fo;
    return this.wsStreams.has(stream) ? undefined : 0;
  }
}
