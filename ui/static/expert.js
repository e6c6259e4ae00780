// Wireshark's TCP analysis, packet by packet: the notes its Info column
// puts in brackets ("[TCP Dup ACK 12#1]", "[TCP Previous segment not
// captured]", "[TCP ZeroWindow]"...), which every network engineer reads.
// Each stack's packets are one capture, as the pcapng the view exports has
// one interface per stack: what a note says depends on where the packets
// were seen (a packet a rule dropped on the client's way out is a hole
// only at the server).
//
// The rules are those of Wireshark's packet-tcp.c
// (tcp_analyze_sequence_number), in its order and on its relative
// sequence numbers, so that the notes are the ones tshark prints for the
// same capture; interop/ui_expert_test.go holds them to that.

// NOTES names each note as Wireshark's Info column writes it, with what
// it means for a reader who does not know Wireshark.
export const NOTES = {
  "retransmission": ["TCP Retransmission", "sends again sequence space this capture saw sent before"],
  "fast-retransmission": ["TCP Fast Retransmission", "sent again right after two or more duplicate ACKs asked for it (RFC 5681 3.2)"],
  "spurious-retransmission": ["TCP Spurious Retransmission", "sends again data the peer had already acknowledged"],
  "out-of-order": ["TCP Out-Of-Order", "sequence space before the highest seen, within a round trip of it: reordered rather than lost"],
  "lost-segment": ["TCP Previous segment not captured", "starts past where the last one ended: a segment before it never passed this capture point"],
  "ack-lost-segment": ["TCP ACKed unseen segment", "acknowledges data this capture point never saw sent"],
  "window-update": ["TCP Window Update", "no data, same seq and ack, only the window changed"],
  "window-full": ["TCP Window Full", "its data fills the peer's advertised window to the edge"],
  "zero-window": ["TCP ZeroWindow", "the sender's receive window is zero: the peer must stop sending"],
  "zero-window-probe": ["TCP ZeroWindowProbe", "one byte sent into a zero window, to learn when it opens (RFC 9293 3.8.6.1)"],
  "zero-window-probe-ack": ["TCP ZeroWindowProbeAck", "the answer to a zero window probe"],
  "keep-alive": ["TCP Keep-Alive", "0 or 1 byte one below the next sequence number, after idle time (RFC 9293 3.8.4)"],
  "keep-alive-ack": ["TCP Keep-Alive ACK", "the answer to a keep-alive"],
  "dup-ack": ["TCP Dup ACK", "repeats the last ACK with the same window and no data: the peer saw a hole or a reorder"],
};

// noteText writes a note as Wireshark's Info column does, a duplicate ACK
// with the event it repeats and its count ("TCP Dup ACK #312#1").
export function noteText(n) {
  if (n.kind === "dup-ack") return "TCP Dup ACK #" + n.of + "#" + n.num;
  return NOTES[n.kind][0];
}

const SYN = 1, FIN = 2, RST = 4, ACK = 8;

function flagBits(f) {
  f = typeof f === "string" ? f : "";
  return (f.includes("S") ? SYN : 0) | (f.includes("F") ? FIN : 0) | (f.includes("R") ? RST : 0) | (f.includes(".") ? ACK : 0);
}

// Sequence arithmetic modulo 2^32, as packet-tcp.c's GT_SEQ and LT_SEQ.
const u32 = (x) => x >>> 0;
const gt = (a, b) => ((b - a) | 0) < 0;
const lt = (a, b) => ((a - b) | 0) < 0;
const le = (a, b) => ((a - b) | 0) <= 0;

// one direction of one connection at one capture point
function half() {
  return {
    base: 0, baseSet: false,
    nextseq: 0, nextseqTime: 0, maxseqtobeacked: 0,
    lastack: 0, lastackTime: 0, lastnondupack: 0, dupacknum: 0,
    window: -1, // the last window, scaled; -1 until a segment is seen
    winScale: -1, // its SYN's window scale; -1 unknown, -2 none (the other end offered none)
    lastNotes: new Set(),
  };
}

// TcpAnalysis follows the link packets of a run and returns Wireshark's
// notes for each TCP one.
export class TcpAnalysis {
  constructor() {
    this.conns = new Map(); // node + sorted endpoints -> {a, b, key of a, synTime, rtt}
  }

  // note takes a link packet event (in order of ids) and returns its
  // notes, [{kind, text, of, num}] (of and num for a duplicate ACK), empty
  // for most.
  note(e) {
    if (e.proto !== "tcp" || typeof e.seq !== "number" || typeof e.ack !== "number" || typeof e.sport !== "number" || typeof e.dport !== "number") return [];
    const src = e.src + "|" + e.sport, dst = e.dst + "|" + e.dport;
    const key = e.node + " " + (src < dst ? src + " " + dst : dst + " " + src);
    let c = this.conns.get(key);
    const flags = flagBits(e.flags);
    if (c && (flags & (SYN | ACK)) === SYN && c.dirs.has(src) && c.dirs.get(src).baseSet && u32(e.seq) !== c.dirs.get(src).base) c = null; // a new incarnation
    if (!c) {
      if (this.conns.size >= 4096) this.conns.clear();
      c = { dirs: new Map([[src, half()], [dst, half()]]), synTime: -1, rtt: 0 };
      this.conns.set(key, c);
    }
    const fwd = c.dirs.get(src), rev = c.dirs.get(dst);
    const t = typeof e.t === "number" ? e.t : 0;
    const seglen = Number.isInteger(e.payload_len) && e.payload_len > 0 ? e.payload_len : 0;

    // relative sequence numbers, as Wireshark shows and compares them
    if (!fwd.baseSet) {
      fwd.base = u32(flags & SYN ? e.seq : e.seq - 1);
      fwd.baseSet = true;
    }
    if (flags & ACK && !rev.baseSet) {
      rev.base = u32(e.ack - 1);
      rev.baseSet = true;
    }
    const seq = u32(e.seq - fwd.base);
    const ack = flags & ACK ? u32(e.ack - rev.base) : 0;

    // window scale from the SYNs; a SYN's own window is never scaled
    if (flags & SYN) {
      const m = /wscale (\d+)/.exec(typeof e.options === "string" ? e.options : "");
      fwd.winScale = m ? Math.min(+m[1], 14) : -2; // RFC 7323 2.3: at most 14
      if (flags & ACK && fwd.winScale === -2) rev.winScale = -2;
      if (flags & ACK && rev.winScale === -2) fwd.winScale = -2;
      if (!(flags & ACK)) c.synTime = t;
    } else if (c.synTime >= 0 && !c.rtt && flags & ACK && rev.winScale !== -1) {
      c.rtt = t - c.synTime; // the handshake's round trip, as Wireshark's ts_first_rtt
    }
    let window = Number.isInteger(e.win) && e.win > 0 ? e.win : 0;
    if (!(flags & SYN) && fwd.winScale >= 0 && rev.winScale >= 0) window *= 2 ** fwd.winScale;

    const notes = new Set();
    const dup = { of: 0, num: 0 };
    check: {
      if (seglen === 1 && seq === fwd.nextseq && rev.window === 0) {
        notes.add("zero-window-probe");
        break check;
      }
      if (window === 0 && !(flags & (RST | FIN | SYN))) notes.add("zero-window");
      if (fwd.nextseq && gt(seq, fwd.nextseq) && !(flags & RST)) notes.add("lost-segment");
      if ((seglen === 0 || seglen === 1) && seq === u32(fwd.nextseq - 1) && !(flags & (SYN | FIN | RST))) notes.add("keep-alive");
      if (seglen === 0 && window && window !== fwd.window && seq === fwd.nextseq && ack === fwd.lastack && !(flags & (SYN | FIN | RST))) notes.add("window-update");
      if (seglen > 0 && rev.winScale !== -1 && rev.window >= 0 && u32(seq + seglen) === u32(rev.lastack + rev.window) && !(flags & (SYN | FIN | RST))) notes.add("window-full");
      const same = seglen === 0 && window === fwd.window && seq === fwd.nextseq && !(flags & (SYN | FIN | RST));
      if (same && window && ack === fwd.lastack && rev.lastNotes.has("keep-alive")) {
        notes.add("keep-alive-ack");
        break check;
      }
      // the answer that takes nothing: Wireshark 4.0 does not call one
      // that takes the probe's byte (ack one more) an answer to it
      if (same && window === 0 && ack === fwd.lastack && rev.lastNotes.has("zero-window-probe")) {
        notes.add("zero-window-probe-ack");
        break check;
      }
      if (same && window && ack === fwd.lastack) {
        fwd.dupacknum++;
        notes.add("dup-ack");
        dup.of = fwd.lastnondupack;
        dup.num = fwd.dupacknum;
      }
    }
    if (ack !== fwd.lastack) {
      // a new ACK starts the count again; one that repeats it with data
      // does not
      fwd.lastnondupack = e.id;
      fwd.dupacknum = 0;
    }
    if (rev.maxseqtobeacked && gt(ack, rev.maxseqtobeacked) && flags & ACK) {
      notes.add("ack-lost-segment");
      rev.maxseqtobeacked = ack;
    }

    // retransmission, fast retransmission, spurious, out of order
    retrans: {
      if (notes.has("keep-alive")) break retrans;
      if (!(seglen > 0 || flags & (SYN | FIN))) break retrans;
      let notAdvanced = fwd.nextseq && lt(seq, fwd.nextseq);
      if (seglen > 1 && u32(fwd.nextseq - 1) === seq) notAdvanced = false;
      if (seglen > 0 && rev.lastack && le(u32(seq + seglen), rev.lastack)) {
        notes.add("spurious-retransmission");
        break retrans;
      }
      if (!notAdvanced) break retrans;
      if (rev.dupacknum >= 2 && rev.lastack === seq && t - rev.lastackTime < 20e6) {
        notes.add("fast-retransmission");
        break retrans;
      }
      const thres = c.rtt > 0 ? c.rtt : 3e6;
      if (t - fwd.nextseqTime < thres && fwd.nextseq !== u32(seq + seglen + (flags & (SYN | FIN) ? 1 : 0))) {
        notes.add("out-of-order");
        break retrans;
      }
      notes.add("retransmission");
    }

    // what this segment teaches about the next
    // (any segment past the highest seen moves it on, a bare ACK after a
    // hole too; a zero window probe does not)
    const zwp = notes.has("zero-window-probe");
    const next = u32(seq + seglen + (flags & (SYN | FIN) ? 1 : 0));
    if ((gt(next, fwd.nextseq) || !fwd.nextseq) && !zwp) {
      fwd.nextseq = next;
      fwd.nextseqTime = t;
    }
    if ((seq === fwd.maxseqtobeacked || !fwd.maxseqtobeacked) && !zwp) fwd.maxseqtobeacked = fwd.nextseq;
    fwd.window = window;
    fwd.lastack = ack;
    fwd.lastackTime = t;
    fwd.lastNotes = notes;

    const out = [];
    for (const kind of notes) {
      const n = kind === "dup-ack" ? { kind, of: dup.of, num: dup.num } : { kind };
      n.text = noteText(n);
      out.push(n);
    }
    return out;
  }
}

// notesOf returns the notes of a packet seen at both ends, the packet's
// own and its copy's at the other stack (twin), each once by kind, with
// the stack whose capture gave it: [{note, node}].
export function notesOf(store, e, twin) {
  const out = [];
  const kinds = new Set();
  for (const x of [e, twin]) {
    if (!x) continue;
    for (const n of store.notes.get(x.id) || []) {
      if (kinds.has(n.kind)) continue;
      kinds.add(n.kind);
      out.push({ note: n, node: x.node });
    }
  }
  return out;
}

// shortText is a note as the ladder's label writes it: Wireshark's words
// without "TCP ", a duplicate ACK by its count.
export function shortText(n) {
  return n.kind === "dup-ack" ? "Dup ACK #" + n.num : NOTES[n.kind][0].replace(/^TCP /, "");
}
