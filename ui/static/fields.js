// Plain-language meanings of the fields events carry, for tooltips and the
// inspector, and small formatting helpers shared by the views.

export const FIELD_HELP = {
  id: "The event's number in the trace; #event=ID in the address selects it.",
  t: "Time since the run started (a capture: since its earliest packet).",
  v: "The version of the trace's format (its JSON lines, schema.json) this event was written in.",
  time: "The time the capture stamped the packet with, in UTC.",
  frag_id: "Identification shared by the fragments of one IP datagram.",
  frag_offset: "Where this fragment's data goes in the datagram, in bytes.",
  frag_more: "More fragments of the datagram follow this one (the MF flag).",
  orig_len: "The packet's length on the wire; the capture kept only the first len bytes of it (its snapshot length).",
  pcap_number: "The packet's number in the capture file, the one Wireshark shows.",
  notes: "What the capture's comment said of the packet besides its frames: what a link rule or the hold queue did to it.",
  link_type: "The capture's link type for a frame that is not IP (1: Ethernet).",
  node: "Which stack the event happened in.",
  layer: "Where in the stack: link (device), ip, tcp, socket (the BSD socket API), ws (WebSocket), app.",
  dir: "in: towards the application (received). out: towards the wire (sent).",
  event: "What happened.",
  conn: "The connection, as local -> peer (packets: source -> destination).",
  conn_n: "Which connection on these endpoints, #2 from the second on: a SYN with another initial sequence number (the ports used again) starts the next. The view numbers them for its whole run, so a number stays when older events leave its history; it is not in the trace file.",
  flags: "TCP flags: S = SYN (open), F = FIN (no more data), R = RST (abort), P = PUSH (deliver now), . = ACK (the ack field counts).",
  seq: "Sequence number of the first byte in the segment (absolute, as on the wire).",
  ack: "The next sequence number the sender expects from the other side: everything before it arrived.",
  rel_seq: "Sequence number relative to the connection's initial one, as tcpdump shows it: byte N of the stream is seq N+1.",
  rel_ack: "Acknowledgement relative to the peer's initial sequence number.",
  win: "Receive window the sender advertises: how many more bytes it can take (before window scaling).",
  payload_len: "Bytes of data in the segment (after the TCP header).",
  len: "Length in bytes (a packet: the whole IP packet; a frame: its payload).",
  src: "Source address.",
  dst: "Destination address.",
  sport: "Source port.",
  dport: "Destination port.",
  proto: "The protocol inside IP.",
  ttl: "Time to live: hops left before a router discards the packet.",
  ip_id: "IPv4 identification: the number the sender gives a packet, shared by its fragments (tcpdump's id).",
  icmp_id: "ICMP echo identifier: pairs an echo reply with its request, with seq (ping's id).",
  options: "TCP options: mss (largest segment), sackOK, TS (timestamps), wscale (window scaling).",
  frames: "WebSocket frames whose bytes this packet carried.",
  packets: "Packets that had carried this frame's bytes when it was traced; the packets that came later are named by carried events (Related counts them all).",
  packet: "The packet this event is about.",
  frame: "The WebSocket frame this event is about.",
  opcode: "Frame type: text, binary, continuation (a later piece of a fragmented message), close, ping, pong.",
  fin: "FIN bit: this frame ends its message.",
  rsv: "Reserved bits RSV1-3 (RSV1 marks a compressed message with permessage-deflate).",
  masked: "Client-to-server frames are XOR-masked with a 4-byte key (RFC 6455 §5.3).",
  header_len: "Bytes of the frame header: 2 + extended length (2 or 8) + mask key (4).",
  offset: "Position of the first byte in the TCP byte stream (0 = the first byte after the SYN).",
  ws_offset: "Position in the WebSocket part of the stream (after the HTTP upgrade).",
  offset_from: "Where the offset was measured.",
  state: "TCP state (RFC 9293), as the trace names it: SYN-SENT, SYN-RCVD, ESTABLISHED, FIN-WAIT1, CLOSE-WAIT, TIME-WAIT ... The connections table, the state change and the layers write it as glassnet ss does: ESTAB, SYN-RECV, FIN-WAIT-1, UNCONN for a socket with no connection.",
  snd_una: "Oldest byte sent but not yet acknowledged.",
  snd_nxt: "Sequence number of the next byte to send.",
  rcv_nxt: "Sequence number of the next byte expected from the peer.",
  rel_snd_una: "snd_una relative to this side's initial sequence number.",
  rel_snd_nxt: "snd_nxt relative to this side's initial sequence number.",
  rel_rcv_nxt: "rcv_nxt relative to the peer's initial sequence number.",
  snd_wnd: "Send window: how much the peer said it can take (its advertised window, scaled).",
  rcv_wnd: "Receive window this stack offers the peer: free space in its receive buffer.",
  cwnd: "Congestion window, in segments: how many may be in flight before an ACK.",
  ssthresh: "Slow-start threshold, in segments: above it the congestion window grows slowly.",
  srtt: "Smoothed round-trip time.",
  rto: "Retransmission timeout: how long to wait for an ACK before sending again.",
  outstanding: "Segments sent and not yet acknowledged.",
  rcv_buf_used: "Bytes waiting in the receive buffer for the application to read.",
  snd_buf_used: "Bytes in the send buffer (not sent, or sent and not acknowledged).",
  fd: "File descriptor of the socket.",
  n: "Bytes copied.",
  call: "The socket call.",
  args: "The call's arguments.",
  ret: "What the call returned.",
  errno: "The error the call returned (empty: none).",
  err: "The error, in words.",
  dur: "How long the call took.",
  events: "Wait-queue events: EventIn (readable), EventOut (writable), EventErr, EventHUp (hang-up).",
  mask: "The event mask as a number.",
  op: "The operation that waits.",
  wait: "The events the caller waits for.",
  backlog: "Accept queue length.",
  depth: "Connections waiting in the accept queue.",
  newfd: "Descriptor of the accepted connection.",
  peer: "The other end.",
  waited: "The call slept before it could finish.",
  eof: "The peer closed its side: no more data.",
  key: "The 4-byte mask key.",
  type: "Message type.",
  fragments: "How many frames the message took.",
  code: "Close code (1000 normal, 1001 going away, 1002 protocol error, 1006 no close frame ...).",
  reason: "Why (a drop reason, or a close reason).",
  hook: "The hook point that decided.",
  action: "The hook's verdict: drop, delay, duplicate, modify, hold.",
  rule: "The rule that decided, as written on the command line.",
  host: "Host header.",
  method: "HTTP method.",
  uri: "Request path.",
  status: "HTTP status (101: switching to WebSocket).",
};

// A long-running text the tooltips of the layers show.
export const LAYER_HELP = {
  link: "link: the device. Packets as they leave or enter the stack (TUN, AF_PACKET, in-memory).",
  ip: "ip: IPv4/IPv6 receive, local delivery and output (netfilter's hooks).",
  tcp: "tcp: segments the stack cuts and the endpoint's state after each received segment.",
  socket: "socket: the BSD socket API: calls, wake-ups of waiting readers, copies in and out of buffers.",
  ws: "ws: WebSocket: HTTP upgrade, frames, masking, messages, close.",
  app: "app: what the program does (the demo's steps).",
};

export const LAYERS = ["link", "ip", "tcp", "socket", "ws", "app"];

export function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// ms formats nanoseconds as milliseconds with three decimals.
export function ms(ns) {
  if (ns === undefined || ns === null) return "";
  return (ns / 1e6).toFixed(3);
}

export function fmtDur(ns) {
  // from 999.5 ms on in seconds, so that "1000 ms" never stands beside "1.00 s"
  if (ns >= 9995e5) return (ns / 1e9).toFixed(2) + " s";
  if (ns >= 1e6) return (ns / 1e6).toFixed(ns >= 1e7 ? 0 : 1) + " ms";
  if (ns >= 1e3) return (ns / 1e3).toFixed(0) + " µs";
  return ns + " ns";
}

export function fmtBytes(n) {
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + " MiB";
  if (n >= 1 << 10) return (n / (1 << 10)).toFixed(n >= 10240 ? 0 : 1) + " KiB";
  return n + " B";
}

// fieldValue renders one field for people: times as durations, huge
// ssthresh as "infinite".
export function fieldValue(k, v) {
  if (v === null || v === undefined) return "";
  if (k === "srtt" && v === 0) return "none yet (no RTT measured)";
  if ((k === "srtt" || k === "rto" || k === "dur") && typeof v === "number") return fmtDur(v);
  if (k === "t" && typeof v === "number") return ms(v) + " ms";
  if (k === "ssthresh" && v > 1e9) return "∞ (none yet)";
  if (Array.isArray(v)) return v.map((x) => (typeof x === "number" ? "#" + x : x)).join(" ");
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

// flagWords spells TCP flags out.
export function flagWords(f) {
  if (!f) return "";
  const w = [];
  if (f.includes("S")) w.push("SYN");
  if (f.includes("F")) w.push("FIN");
  if (f.includes("R")) w.push("RST");
  if (f.includes("P")) w.push("PSH");
  if (f.includes("U")) w.push("URG");
  if (f.includes(".")) w.push("ACK");
  return w.join(" ");
}

// fragment says where a frame stands in its message, without the word FIN:
// beside the packets' TCP flags it reads as a TCP FIN (the end of the
// connection), where the WebSocket FIN bit only ends a message. A frame
// without it has more of its message after it: ", more" (an ellipsis
// would read as a label cut short); the continuation that has it is the
// message's last. A whole message in one frame says nothing.
export function fragment(f) {
  if (!f.fin) return ", more";
  return f.opcode === "continuation" ? ", last" : "";
}

// frameWords names a frame as the whole page does: its opcode, payload
// length and mask, "deflate" for a compressed message's first frame, and
// where it stands in its message ("text 15 B masked", "binary 1000 B,
// more", "continuation 2000 B, last"); a reserved bit set otherwise is
// named (RSV1 on a continuation, RSV2, RSV3).
export function frameWords(f) {
  const rsv1 = (f.rsv & 4) && f.opcode !== "continuation" ? " deflate" : f.rsv & 4 ? " RSV1" : "";
  return f.opcode + " " + f.len + " B" + (f.masked ? " masked" : "") + rsv1 + (f.rsv & 2 ? " RSV2" : "") + (f.rsv & 1 ? " RSV3" : "") + fragment(f);
}

// The trace writes a frame's header as the terminal's --trace does
// ("FIN text len=15 masked", "RSV1 text len=40"): in a frame's summary,
// in a packet's "carried ws frame #106 (FIN text len=15 masked at offset
// 151)" and in a rule's "now FIN binary len=3". A held frame's card
// says "text fin=true len=15".
const OPCODE = "(continuation|text|binary|close|ping|pong|opcode\\(0x[0-9a-f]+\\))";
const TRACED_HEADER = new RegExp("\\b(FIN )?((?:RSV[123] )*)" + OPCODE + " len=(\\d+)( masked)?", "g");
const HELD_HEADER = new RegExp("\\b" + OPCODE + " fin=(true|false) len=(\\d+)", "g");

// frameWordsIn puts a text's frame headers in the page's words
// (frameWords), so that no frame reads "FIN", which beside the packets'
// TCP flags reads as a TCP FIN. A frame named in the middle of a sentence
// ends its words with a comma where they end in "more" or "last".
export function frameWordsIn(s) {
  if (!s || !s.includes("len=")) return s || "";
  const words = (f, at, all) => {
    let w = frameWords(f);
    if (/, (more|last)$/.test(w) && /^ [a-z]/.test(all.slice(at))) w += ",";
    return w;
  };
  s = s.replace(TRACED_HEADER, (m, fin, rsvs, opcode, len, masked, at, all) => {
    const rsv = (rsvs.includes("RSV1") ? 4 : 0) | (rsvs.includes("RSV2") ? 2 : 0) | (rsvs.includes("RSV3") ? 1 : 0);
    return words({ fin: !!fin, rsv, opcode, len, masked: !!masked }, at + m.length, all);
  });
  return s.replace(HELD_HEADER, (m, opcode, fin, len, at, all) => words({ fin: fin === "true", opcode, len }, at + m.length, all));
}

// summaryOf is what the page shows of an event's summary: the trace's,
// with its frames named as the page names them (frameWordsIn).
export function summaryOf(e) {
  return frameWordsIn(e.summary);
}
