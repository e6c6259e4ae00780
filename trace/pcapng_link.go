package trace

import (
	"encoding/binary"
	"net"
	"strconv"
	"strings"
)

// pngLink is one interface of the capture: a node's link, as the first
// of its packets shows it. A stack on an Ethernet device (AF_PACKET) traces
// its frames' MACs ("src_mac", "dst_mac", "ethertype") with the IP packet
// as Data, and a frame that holds none (ARP) whole, with its "link_type";
// its interface is Ethernet, and each packet goes into the capture as the
// frame it was. Any other node's interface is raw IP.
type pngLink struct {
	id       uint32
	ethernet bool
	// heads are the MACs (destination, then source) of the latest frame
	// of each direction, for a packet traced without its own (a held
	// packet sent on into the stack, "continued").
	heads map[Dir][2 * macLen]byte
}

// isEthernet says whether e, a node's first packet, is of an Ethernet link.
func isEthernet(e *Event) bool {
	if lt, ok := intValue(e.Field("link_type")); ok {
		return lt == pngLinkTypeEthernet
	}
	_, ok := e.Field("src_mac").(string)
	return ok
}

// linkDescription is the interface's if_description: which stack, which
// side of its device the packets were seen at, and what the device is, as
// far as its packets tell. The interface of a capture not written by
// glassnet and read back (glassnet view names its one node "capture", and
// ReadPCAPNG an interface without a name "if0", "if1") says so instead. A
// capture written by glassnet, read back and written again, keeps its
// descriptions.
func linkDescription(node string, ethernet bool, first *Event) string {
	link := "raw IP, with no link header"
	if ethernet {
		link = "Ethernet"
	}
	if _, read := first.Field("time").(string); read && (node == "capture" || ifNumber(node)) {
		return "packets of a capture that glassnet view read (" + link + ")"
	}
	s := "glassnet stack " + strconv.Quote(node) + ": "
	if ethernet {
		s += "the Ethernet frames its AF_PACKET socket read (inbound) and wrote (outbound), ARP and neighbor discovery included"
	} else {
		s += "the IP packets its device read (inbound) and wrote (outbound), " + link + " (a TUN, or an in-memory link)"
	}
	return s + ", below its link hooks, as tcpdump on its interface sees them"
}

// ifNumber says whether name is "if" and a number, as ReadPCAPNG names an
// interface that has no if_name.
func ifNumber(name string) bool {
	n, ok := strings.CutPrefix(name, "if")
	_, err := strconv.ParseUint(n, 10, 32)
	return ok && err == nil
}

// frame returns the bytes e's packet goes into the capture as on l, or
// false when it has none there: on a raw IP link, Data; on an Ethernet
// one, the frame, its header made again from the MACs and the ethertype
// the packet was traced with (or, without them, those of the node's
// latest frame of the same direction) when Data is the IP packet.
func (l *pngLink) frame(e *Event) ([]byte, bool) {
	lt, hasLT := intValue(e.Field("link_type"))
	if !l.ethernet {
		return e.Data, !hasLT
	}
	if hasLT {
		if lt != pngLinkTypeEthernet || len(e.Data) < etherLen {
			return nil, false
		}
		l.heads[e.Dir] = [2 * macLen]byte(e.Data[:2*macLen])
		return e.Data, true
	}
	head := l.heads[e.Dir] // zero MACs for a direction with no frame yet
	dst, err1 := net.ParseMAC(stringField(e, "dst_mac"))
	src, err2 := net.ParseMAC(stringField(e, "src_mac"))
	if err1 == nil && err2 == nil && len(dst) == macLen && len(src) == macLen {
		copy(head[:macLen], dst)
		copy(head[macLen:], src)
		l.heads[e.Dir] = head
	}
	typ, known := intValue(e.Field("ethertype"))
	if !known {
		typ = etherTypeIPv4
		if len(e.Data) > 0 && e.Data[0]>>4 == 6 {
			typ = etherTypeIPv6
		}
	}
	b := make([]byte, 0, etherLen+len(e.Data))
	b = append(b, head[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(typ))
	return append(b, e.Data...), true
}

func stringField(e *Event, key string) string {
	s, _ := e.Field(key).(string)
	return s
}
