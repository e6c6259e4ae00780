package netstack

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/glassnet/glassnet/hook"
)

// zeroWindow lets the peer's acknowledgments through while a connection
// advertises a zero receive window.
//
// RFC 793 (page 69): "If the RCV.WND is zero, no segments will be
// acceptable, but special allowance should be made to accept valid ACKs,
// URGs and RSTs." gVisor's receiver makes none: with a zero window it takes
// only a segment with no data whose sequence number is exactly RCV.NXT, and
// it drops every other one before the sender sees its ACK field
// (tcp/connect.go, handleSegmentLocked: rcv.handleRcvdSegment returns drop
// and snd.handleRcvdSegment is skipped). gVisor also shrinks its window,
// since segment overhead counts against the receive buffer, so a Linux
// peer legitimately has data in flight beyond RCV.NXT when the window hits
// zero, and then stamps its pure ACKs with SND.NXT (tcp_acceptable_seq).
// Every ACK it sends is then dropped. When the application is blocked in a
// write (an echo server), it never reads, the window stays zero, the send
// buffer never drains, and the connection stalls for good.
//
// The link endpoint sees every segment the stack sends, so it knows for
// each connection the ACK number it last advertised a zero window with.
// An incoming segment of such a connection that gVisor would drop gets its
// ACK field through as gVisor would take it: a pure ACK stamped beyond that
// ACK number has its sequence number moved back to it; a segment with data
// or FIN is preceded by a pure-ACK copy so stamped, and still delivered
// whole. Window probes (sequence number SND.UNA-1) pass untouched, so that
// gVisor answers them with its current window.
type zeroWindow struct {
	n     atomic.Int32 // len(flows), read without the lock
	mu    sync.Mutex
	flows map[tcpFlow]uint32 // the ACK number sent with a zero window
}

// maxZeroWindowFlows bounds the table: an entry stays until the connection
// advertises a window again or resets, which a connection that dies at
// zero window never does.
const maxZeroWindowFlows = 4096

// tcpFlow names a connection from this stack's side.
type tcpFlow struct {
	local, remote netip.Addr
	lport, rport  uint16
}

const (
	tcpFlagFin = 0x01
	tcpFlagSyn = 0x02
	tcpFlagRst = 0x04
	tcpFlagAck = 0x10
)

// tcpSegment locates the TCP header in an IP packet: its offset and the
// end of the segment, the addresses, and ok false for anything that is not
// an unfragmented TCP segment with a whole header.
func tcpSegment(ip []byte) (src, dst netip.Addr, off, end int, ok bool) {
	if len(ip) < 1 {
		return
	}
	switch ip[0] >> 4 {
	case 4:
		if len(ip) < 20 || ip[9] != 6 {
			return
		}
		if binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0 { // MF or a fragment offset
			return
		}
		off = int(ip[0]&0x0f) * 4
		end = min(int(binary.BigEndian.Uint16(ip[2:4])), len(ip))
		src = netip.AddrFrom4([4]byte(ip[12:16]))
		dst = netip.AddrFrom4([4]byte(ip[16:20]))
	case 6:
		if len(ip) < 40 || ip[6] != 6 {
			return
		}
		off = 40
		end = min(40+int(binary.BigEndian.Uint16(ip[4:6])), len(ip))
		src = netip.AddrFrom16([16]byte(ip[8:24]))
		dst = netip.AddrFrom16([16]byte(ip[24:40]))
	default:
		return
	}
	if off < 20 || end < off+20 || end < off+int(ip[off+12]>>4)*4 {
		return
	}
	return src, dst, off, end, true
}

// sent notes the window of a segment the stack wrote to the device.
func (z *zeroWindow) sent(ip []byte) {
	if len(ip) < 1 {
		return
	}
	src, dst, off, _, ok := tcpSegment(ip)
	if !ok {
		return
	}
	t := ip[off:]
	flags := t[13]
	zero := flags&tcpFlagAck != 0 && flags&(tcpFlagSyn|tcpFlagRst) == 0 && t[14] == 0 && t[15] == 0
	if !zero && z.n.Load() == 0 {
		return
	}
	key := tcpFlow{local: src, remote: dst, lport: binary.BigEndian.Uint16(t[0:2]), rport: binary.BigEndian.Uint16(t[2:4])}
	z.mu.Lock()
	if zero {
		if z.flows == nil {
			z.flows = make(map[tcpFlow]uint32)
		}
		if _, have := z.flows[key]; have || len(z.flows) < maxZeroWindowFlows {
			z.flows[key] = binary.BigEndian.Uint32(t[8:12])
		}
	} else {
		delete(z.flows, key)
	}
	z.n.Store(int32(len(z.flows)))
	z.mu.Unlock()
}

// ackFor returns the pure ACK to hand gVisor before ip, a segment read from
// the device, or nil if ip goes as it is. It may rewrite a pure ACK in
// ip itself (and fix its checksums).
func (z *zeroWindow) ackFor(ip []byte) []byte {
	if z.n.Load() == 0 {
		return nil
	}
	src, dst, off, end, ok := tcpSegment(ip)
	if !ok {
		return nil
	}
	t := ip[off:end]
	flags := t[13]
	if flags&tcpFlagAck == 0 || flags&(tcpFlagSyn|tcpFlagRst) != 0 {
		return nil
	}
	key := tcpFlow{local: dst, remote: src, lport: binary.BigEndian.Uint16(t[2:4]), rport: binary.BigEndian.Uint16(t[0:2])}
	z.mu.Lock()
	rcvNxt, zero := z.flows[key]
	z.mu.Unlock()
	if !zero {
		return nil
	}
	hlen := int(t[12]>>4) * 4
	data := len(t) > hlen || flags&tcpFlagFin != 0
	if !data {
		// At or before RCV.NXT it is either acceptable as it is or a
		// window probe (SND.UNA-1), which gVisor must see unacceptable
		// to answer it with an ACK carrying the current window.
		if int32(binary.BigEndian.Uint32(t[4:8])-rcvNxt) <= 0 {
			return nil
		}
		binary.BigEndian.PutUint32(t[4:8], rcvNxt)
		_ = hook.FixChecksums(ip[:end])
		return nil
	}
	ack := make([]byte, off+hlen)
	copy(ack, ip[:off+hlen])
	if ack[0]>>4 == 4 {
		binary.BigEndian.PutUint16(ack[2:4], uint16(off+hlen))
	} else {
		binary.BigEndian.PutUint16(ack[4:6], uint16(hlen))
	}
	a := ack[off:]
	binary.BigEndian.PutUint32(a[4:8], rcvNxt)
	a[13] &^= tcpFlagFin | 0x08 // no FIN, no PSH
	_ = hook.FixChecksums(ack)
	return ack
}
