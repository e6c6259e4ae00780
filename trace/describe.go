package trace

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"
)

// Offsets of the header fields DescribeIP reads.
const (
	ipv4MinLen   = 20
	ipv4TotalLen = 2
	ipv4Proto    = 9
	ipv4Src      = 12
	ipv4Dst      = 16
	ipv6Len      = 40
	ipv6Next     = 6
	ipv6Src      = 8
	ipv6Dst      = 24
	tcpMinLen    = 20
	tcpSeq       = 4
	tcpAck       = 8
	tcpDataOff   = 12
	tcpFlagsOff  = 13
	tcpWin       = 14
	udpLen       = 8
)

// DescribeIP reads an IP packet's headers for a reader of a capture: the
// connection ("src:port->dst:port" for TCP and UDP), a tcpdump-like line
// and the fields a link "packet" event has (src, dst, len, proto, and
// sport, dport, flags, seq, ack, win, payload_len for TCP; sport, dport,
// payload_len for UDP; type and code for ICMP). Sequence numbers are
// absolute and TCP options are not decoded. It does not allocate beyond
// its results and never fails: a packet it cannot read is described as
// truncated.
func DescribeIP(b []byte) (conn, summary string, fields []Field) {
	var (
		src, dst netip.Addr
		proto    uint8
		payload  []byte
		ipDesc   string
	)
	switch {
	case len(b) >= 1 && b[0]>>4 == 4 && len(b) >= ipv4MinLen:
		hl := int(b[0]&0xf) * 4
		total := int(binary.BigEndian.Uint16(b[ipv4TotalLen:]))
		if hl < ipv4MinLen || hl > len(b) {
			break
		}
		src = netip.AddrFrom4([4]byte(b[ipv4Src : ipv4Src+4]))
		dst = netip.AddrFrom4([4]byte(b[ipv4Dst : ipv4Dst+4]))
		proto = b[ipv4Proto]
		end := min(max(total, hl), len(b))
		payload = b[hl:end]
		ipDesc = "IP"
	case len(b) >= 1 && b[0]>>4 == 6 && len(b) >= ipv6Len:
		src = netip.AddrFrom16([16]byte(b[ipv6Src : ipv6Src+16]))
		dst = netip.AddrFrom16([16]byte(b[ipv6Dst : ipv6Dst+16]))
		proto = b[ipv6Next]
		end := min(ipv6Len+int(binary.BigEndian.Uint16(b[4:6])), len(b))
		payload = b[ipv6Len:end]
		ipDesc = "IP6"
	}
	if !src.IsValid() {
		return "", "IP truncated, length " + strconv.Itoa(len(b)), []Field{{Key: "len", Value: len(b)}}
	}
	fields = []Field{{Key: "src", Value: src.String()}, {Key: "dst", Value: dst.String()}, {Key: "len", Value: len(b)}}
	var sb strings.Builder
	switch {
	case proto == 6 && len(payload) >= tcpMinLen:
		sport, dport := binary.BigEndian.Uint16(payload), binary.BigEndian.Uint16(payload[2:])
		seq := binary.BigEndian.Uint32(payload[tcpSeq:])
		ack := binary.BigEndian.Uint32(payload[tcpAck:])
		off := int(payload[tcpDataOff]>>4) * 4
		off = min(max(off, tcpMinLen), len(payload))
		flags := tcpFlagString(payload[tcpFlagsOff])
		win := int(binary.BigEndian.Uint16(payload[tcpWin:]))
		n := len(payload) - off
		conn = netip.AddrPortFrom(src, sport).String() + "->" + netip.AddrPortFrom(dst, dport).String()
		sb.WriteString(ipDesc + " " + hostPort(src, sport) + " > " + hostPort(dst, dport) + ": Flags [" + flags + "], seq " + strconv.FormatUint(uint64(seq), 10))
		if n > 0 {
			sb.WriteString(":" + strconv.FormatUint(uint64(seq+uint32(n)), 10))
		}
		if payload[tcpFlagsOff]&0x10 != 0 {
			sb.WriteString(", ack " + strconv.FormatUint(uint64(ack), 10))
		}
		sb.WriteString(", win " + strconv.Itoa(win) + ", length " + strconv.Itoa(n))
		fields = append(fields, Field{Key: "proto", Value: "tcp"}, Field{Key: "sport", Value: int(sport)}, Field{Key: "dport", Value: int(dport)},
			Field{Key: "flags", Value: flags}, Field{Key: "seq", Value: seq}, Field{Key: "ack", Value: ack},
			Field{Key: "win", Value: win}, Field{Key: "payload_len", Value: n})
	case proto == 17 && len(payload) >= udpLen:
		sport, dport := binary.BigEndian.Uint16(payload), binary.BigEndian.Uint16(payload[2:])
		n := len(payload) - udpLen
		conn = netip.AddrPortFrom(src, sport).String() + "->" + netip.AddrPortFrom(dst, dport).String()
		sb.WriteString(ipDesc + " " + hostPort(src, sport) + " > " + hostPort(dst, dport) + ": UDP, length " + strconv.Itoa(n))
		fields = append(fields, Field{Key: "proto", Value: "udp"}, Field{Key: "sport", Value: int(sport)}, Field{Key: "dport", Value: int(dport)},
			Field{Key: "payload_len", Value: n})
	case (proto == 1 || proto == 58) && len(payload) >= 2:
		name := "icmp"
		if proto == 58 {
			name = "icmp6"
		}
		sb.WriteString(ipDesc + " " + src.String() + " > " + dst.String() + ": " + strings.ToUpper(name) + " type " + strconv.Itoa(int(payload[0])) + ", code " + strconv.Itoa(int(payload[1])) + ", length " + strconv.Itoa(len(payload)))
		fields = append(fields, Field{Key: "proto", Value: name}, Field{Key: "type", Value: int(payload[0])}, Field{Key: "code", Value: int(payload[1])})
	default:
		sb.WriteString(ipDesc + " " + src.String() + " > " + dst.String() + ": proto " + strconv.Itoa(int(proto)) + ", length " + strconv.Itoa(len(payload)))
		fields = append(fields, Field{Key: "proto", Value: strconv.Itoa(int(proto))})
	}
	return conn, sb.String(), fields
}

// hostPort is tcpdump's "10.0.0.1.40000".
func hostPort(a netip.Addr, port uint16) string {
	return a.String() + "." + strconv.Itoa(int(port))
}

// tcpFlagString writes TCP flags as tcpdump does: "S.", "P.", "F.", ".".
func tcpFlagString(f byte) string {
	var b [8]byte
	n := 0
	for _, x := range [...]struct {
		bit byte
		c   byte
	}{{0x01, 'F'}, {0x02, 'S'}, {0x04, 'R'}, {0x08, 'P'}, {0x10, '.'}, {0x20, 'U'}, {0x40, 'E'}, {0x80, 'W'}} {
		if f&x.bit != 0 {
			b[n] = x.c
			n++
		}
	}
	if n == 0 {
		return "none"
	}
	return string(b[:n])
}
