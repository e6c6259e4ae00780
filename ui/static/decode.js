// Decoders for the bytes the server hands with one event: an IP packet
// (IPv4/IPv6, then TCP with its options or UDP) as a header tree, and a
// WebSocket frame's header bits. Each field knows its byte range so the hex
// dump can show where it lies. Short or odd input decodes as far as it goes.

export function hexToBytes(h) {
  h = (h || "").replace(/[^0-9a-fA-F]/g, "");
  const b = new Uint8Array(h.length >> 1);
  for (let i = 0; i < b.length; i++) b[i] = parseInt(h.substr(i * 2, 2), 16);
  return b;
}

const u16 = (b, o) => (b[o] << 8) | b[o + 1];
const u32 = (b, o) => ((b[o] << 24) >>> 0) + (b[o + 1] << 16) + (b[o + 2] << 8) + b[o + 3];
const hex = (b, a, n) => Array.from(b.subarray(a, a + n), (x) => x.toString(16).padStart(2, "0")).join("");

// sum16 adds b[from:to] as big-endian 16-bit words (ones' complement,
// not yet folded), leaving out the two bytes at skip; an odd last byte is
// padded with zero.
function sum16(b, from, to, skip, acc) {
  for (let i = from; i < to; i += 2) {
    if (i === skip) continue;
    acc += (b[i] << 8) | (i + 1 < to ? b[i + 1] : 0);
  }
  return acc;
}

function fold(acc) {
  while (acc > 0xffff) acc = (acc & 0xffff) + Math.floor(acc / 0x10000);
  return acc;
}

// checked says whether the checksum at at is the one the bytes call for;
// want is the complement of the folded sum with the field left out.
function checked(b, at, acc) {
  const want = (~fold(acc)) & 0xffff;
  const got = u16(b, at);
  const h = "0x" + hex(b, at, 2);
  return got === want ? h + " (correct)" : h + " (wrong: the bytes call for 0x" + want.toString(16).padStart(4, "0") + ")";
}

// l4Checksum checks a TCP or UDP checksum at at over the segment
// b[o:end], with the pseudo-header of the IP header in front of it.
function l4Checksum(b, o, end, at, proto) {
  if (end > b.length) return "0x" + hex(b, at, 2) + " (not checked: the packet is cut short)";
  let acc = proto + (end - o);
  if (b[0] >> 4 === 4) acc = sum16(b, 12, 20, -1, acc);
  else acc = sum16(b, 8, 40, -1, acc);
  return checked(b, at, sum16(b, o, end, at, acc));
}

// ipEnd is where the IP packet ends by its own length field.
function ipEnd(b) {
  return b[0] >> 4 === 4 ? u16(b, 2) : 40 + u16(b, 4);
}

// A node: {name, value, help, at, len, kids}
function F(name, value, at, len, help) {
  return { name, value: String(value), at, len, help: help || "" };
}

export function decodePacket(b) {
  if (!b.length) return [];
  const v = b[0] >> 4;
  if (v === 4) return decodeIPv4(b);
  if (v === 6) return decodeIPv6(b);
  return [{ name: "unknown", value: "IP version " + v, at: 0, len: b.length, kids: [] }];
}

function decodeIPv4(b) {
  if (b.length < 20) return [{ name: "IPv4 (truncated)", value: b.length + " bytes", at: 0, len: b.length, kids: [] }];
  const ihl = (b[0] & 15) * 4;
  const proto = b[9];
  const fl = u16(b, 6);
  const ip = {
    name: "IPv4",
    value: ipv4(b, 12) + " → " + ipv4(b, 16),
    at: 0,
    len: ihl,
    kids: [
      F("version", 4, 0, 1, "IP version"),
      F("header length", ihl + " bytes", 0, 1, "IHL × 4"),
      F("DSCP/ECN", "0x" + b[1].toString(16), 1, 1, "Differentiated services and congestion notification"),
      F("total length", u16(b, 2), 2, 2, "Bytes of the whole packet, header included"),
      F("identification", u16(b, 4), 4, 2, "Groups the fragments of one datagram"),
      F("flags", (fl & 0x4000 ? "DF " : "") + (fl & 0x2000 ? "MF" : ""), 6, 2, "DF: do not fragment; MF: more fragments follow"),
      F("fragment offset", (fl & 0x1fff) * 8, 6, 2, "Where this fragment goes, in bytes"),
      F("ttl", b[8], 8, 1, "Hops left"),
      F("protocol", protoName(proto), 9, 1, "What the payload is"),
      F("checksum", checked(b, 10, sum16(b, 0, ihl, 10, 0)), 10, 2, "Ones' complement sum of the header"),
      F("source", ipv4(b, 12), 12, 4, "Sender address"),
      F("destination", ipv4(b, 16), 16, 4, "Receiver address"),
    ],
  };
  return [ip, ...transport(b, ihl, proto)];
}

function decodeIPv6(b) {
  if (b.length < 40) return [{ name: "IPv6 (truncated)", value: b.length + " bytes", at: 0, len: b.length, kids: [] }];
  const nh = b[6];
  const ip = {
    name: "IPv6",
    value: ipv6(b, 8) + " → " + ipv6(b, 24),
    at: 0,
    len: 40,
    kids: [
      F("version", 6, 0, 1, "IP version"),
      F("traffic class", ((u16(b, 0) >> 4) & 0xff), 0, 2, "Priority and congestion notification"),
      F("flow label", "0x" + ((u32(b, 0) & 0xfffff) >>> 0).toString(16), 1, 3, "Marks packets of one flow"),
      F("payload length", u16(b, 4), 4, 2, "Bytes after this 40-byte header"),
      F("next header", protoName(nh), 6, 1, "What follows"),
      F("hop limit", b[7], 7, 1, "Hops left"),
      F("source", ipv6(b, 8), 8, 16, "Sender address"),
      F("destination", ipv6(b, 24), 24, 16, "Receiver address"),
    ],
  };
  const ext = ipv6Ext(b);
  for (const x of ext.headers) {
    const kids = [F("next header", protoName(b[x.at]), x.at, 1, "What follows"), F("length", x.len + " bytes", x.at + 1, 1, "(value + 1) × 8, but 8 for a fragment header")];
    if (x.nh === 44) {
      const off = u16(b, x.at + 2);
      kids.push(F("fragment offset", (off >> 3) * 8, x.at + 2, 2, "Where this fragment goes, in bytes"), F("more fragments", off & 1 ? "yes" : "no", x.at + 3, 1, "M flag: more fragments follow"), F("identification", "0x" + hex(b, x.at + 4, 4), x.at + 4, 4, "Groups the fragments of one datagram"));
    }
    ip.kids.push({ name: EXT_NAMES[x.nh], value: x.len + " bytes", at: x.at, len: x.len, kids });
  }
  if (ext.fragment) return [ip, { name: "fragment", value: "not the first: no transport header here", at: ext.end, len: b.length - ext.end, kids: [] }];
  return [ip, ...transport(b, ext.end, ext.nh)];
}

const EXT_NAMES = { 0: "hop-by-hop options", 43: "routing", 44: "fragment", 60: "destination options" };

// ipv6Ext walks the IPv6 extension headers of b (at most 8, each within
// the bytes there are): where the transport header starts, its protocol,
// the headers on the way, and whether this is a fragment after the first
// (which holds no transport header).
function ipv6Ext(b) {
  let nh = b[6], at = 40, fragment = false;
  const headers = [];
  while (headers.length < 8 && nh in EXT_NAMES && at + 8 <= b.length) {
    const len = nh === 44 ? 8 : (b[at + 1] + 1) * 8;
    if (at + len > b.length) break;
    headers.push({ nh, at, len });
    if (nh === 44 && u16(b, at + 2) >> 3 !== 0) fragment = true;
    nh = b[at];
    at += len;
    if (fragment) break;
  }
  return { headers, end: at, nh, fragment };
}

// ipHeaderLen is the length of b's IP header, IPv6 extension headers
// included: where its transport header starts.
export function ipHeaderLen(b) {
  if (!b.length) return 0;
  return b[0] >> 4 === 6 ? (b.length >= 40 ? ipv6Ext(b).end : 40) : (b[0] & 15) * 4;
}

function transport(b, o, proto) {
  if (proto === 6) return decodeTCP(b, o);
  if (proto === 17 && b.length >= o + 8) {
    return [
      {
        name: "UDP",
        value: u16(b, o) + " → " + u16(b, o + 2),
        at: o,
        len: 8,
        kids: [
          F("source port", u16(b, o), o, 2),
          F("destination port", u16(b, o + 2), o + 2, 2),
          F("length", u16(b, o + 4), o + 4, 2, "Header and data"),
          F("checksum", u16(b, o + 6) === 0 && b[0] >> 4 === 4 ? "0x0000 (none: optional over IPv4)" : l4Checksum(b, o, ipEnd(b), o + 6, 17), o + 6, 2),
        ],
      },
      payload(b, o + 8),
    ];
  }
  return [payload(b, o)];
}

function decodeTCP(b, o) {
  if (b.length < o + 20) return [{ name: "TCP (truncated)", value: "", at: o, len: b.length - o, kids: [] }];
  const off = (b[o + 12] >> 4) * 4;
  const fl = b[o + 13];
  const names = [[0x01, "FIN"], [0x02, "SYN"], [0x04, "RST"], [0x08, "PSH"], [0x10, "ACK"], [0x20, "URG"], [0x40, "ECE"], [0x80, "CWR"]];
  const set = names.filter(([m]) => fl & m).map(([, n]) => n).join(" ");
  const kids = [
    F("source port", u16(b, o), o, 2),
    F("destination port", u16(b, o + 2), o + 2, 2),
    F("sequence number", u32(b, o + 4), o + 4, 4, "Number of the first data byte (absolute)"),
    F("acknowledgment", u32(b, o + 8), o + 8, 4, "Next byte expected from the other side"),
    F("data offset", off + " bytes", o + 12, 1, "Header length, options included"),
    F("flags", set || "none", o + 13, 1, "SYN opens, FIN ends, RST aborts, ACK: the acknowledgment counts, PSH: deliver now"),
    F("window", u16(b, o + 14), o + 14, 2, "Receive window, before scaling"),
    F("checksum", l4Checksum(b, o, ipEnd(b), o + 16, 6), o + 16, 2, "Over a pseudo-header, the header and the data"),
    F("urgent pointer", u16(b, o + 18), o + 18, 2),
  ];
  const opts = [];
  for (let i = o + 20; i < Math.min(o + off, b.length); ) {
    const k = b[i];
    if (k === 0) {
      opts.push(F("end of options", "", i, 1));
      break;
    }
    if (k === 1) {
      opts.push(F("nop", "", i, 1, "Padding"));
      i++;
      continue;
    }
    const l = b[i + 1] || 2;
    let v = hex(b, i + 2, l - 2);
    let n = "option " + k;
    let help = "";
    if (k === 2) (n = "mss"), (v = u16(b, i + 2)), (help = "Largest segment the sender will take");
    if (k === 3) (n = "window scale"), (v = "× " + (1 << b[i + 2])), (help = "Windows are shifted left by this many bits");
    if (k === 4) (n = "SACK permitted"), (v = ""), (help = "Selective acknowledgments may be used");
    if (k === 5) (n = "SACK"), (help = "Blocks received beyond the ack");
    if (k === 8) (n = "timestamps"), (v = "val " + u32(b, i + 2) + " ecr " + u32(b, i + 6)), (help = "For RTT measurement and PAWS");
    opts.push(F(n, v, i, l, help));
    i += l;
  }
  if (opts.length) kids.push({ name: "options", value: opts.length + "", at: o + 20, len: off - 20, kids: opts });
  return [{ name: "TCP", value: u16(b, o) + " → " + u16(b, o + 2) + " [" + set + "]", at: o, len: off, kids }, payload(b, o + off)];
}

function payload(b, o) {
  const n = Math.max(0, b.length - o);
  return { name: "payload", value: n + " bytes", at: o, len: n, kids: [] };
}

function ipv4(b, o) {
  return b[o] + "." + b[o + 1] + "." + b[o + 2] + "." + b[o + 3];
}
function ipv6(b, o) {
  const p = [];
  for (let i = 0; i < 16; i += 2) p.push(u16(b, o + i).toString(16));
  return p.join(":").replace(/(^|:)0(:0)+(:|$)/, "::");
}
function protoName(p) {
  return { 6: "TCP (6)", 17: "UDP (17)", 1: "ICMP (1)", 58: "ICMPv6 (58)", 0: "hop-by-hop options (0)", 43: "routing (43)", 44: "fragment (44)", 60: "destination options (60)", 59: "no next header (59)" }[p] || String(p);
}

// decodeFrameHeader reads an RFC 6455 §5.2 frame header.
export function decodeFrameHeader(b) {
  if (b.length < 2) return null;
  const h = { fin: !!(b[0] & 0x80), rsv1: !!(b[0] & 0x40), rsv2: !!(b[0] & 0x20), rsv3: !!(b[0] & 0x10), opcode: b[0] & 15, mask: !!(b[1] & 0x80) };
  let len = b[1] & 127;
  let o = 2;
  if (len === 126) {
    len = u16(b, 2);
    o = 4;
  } else if (len === 127) {
    len = u32(b, 2) * 4294967296 + u32(b, 6);
    o = 10;
  }
  h.len = len;
  h.lenBytes = o - 2;
  if (h.mask) {
    h.key = hex(b, o, 4);
    o += 4;
  }
  h.headerLen = o;
  return h;
}

export const OPCODES = { 0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong" };

// hexCells renders bytes as offset, hex and ASCII columns, every byte, in
// the hex and in the ASCII column, an element of its own (its hex, then its
// character, row by row), so that the bytes of a field are marked by their
// class, without writing the dump again: cells finds them.
export function hexCells(b, max) {
  const n = Math.min(b.length, max || 4096);
  let out = "";
  for (let r = 0; r < n; r += 16) {
    let h = "", a = "";
    for (let i = r; i < r + 16; i++) {
      if (i >= n) {
        h += "   ";
        continue;
      }
      const x = b[i];
      h += "<span>" + x.toString(16).padStart(2, "0") + "</span>" + (i % 8 === 7 ? "  " : " ");
      a += "<span>" + escChar(x >= 32 && x < 127 ? String.fromCharCode(x) : ".") + "</span>";
    }
    out += r.toString(16).padStart(4, "0") + "  " + h + " " + a + "\n";
  }
  if (b.length > n) out += "… " + (b.length - n) + " more bytes\n";
  return out;
}

// cells returns the elements of a dump hexCells wrote, byte by byte: for
// byte i, its hex and its character.
export function cells(pre) {
  const s = pre.getElementsByTagName("span");
  const out = [];
  for (let at = 0; at < s.length; ) {
    const k = Math.min(16, (s.length - at) / 2);
    for (let j = 0; j < k; j++) out.push([s[at + j], s[at + k + j]]);
    at += 2 * k;
  }
  return out;
}

function escChar(c) {
  return c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === "&" ? "&amp;" : c;
}
