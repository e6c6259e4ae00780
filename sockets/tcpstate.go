package sockets

import (
	"reflect"
	"unsafe"

	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// gVisor keeps a connection's sender and receiver state (send window, MSS,
// the window last advertised) in unexported fields of tcp.Endpoint; only
// its protocol probe gets a copy, and only after a segment arrives. The
// exported parts of those fields are tcp.TCPSenderState and
// tcp.TCPReceiverState, embedded in the unexported sender and receiver. ss
// reads them in place: the field offsets are found once by reflection and
// checked against the exported types, and the endpoint is locked with
// LockUser (as tcp.Endpoint.Info does) while they are copied. When the
// layout does not match (a different gVisor), tcpLayout.ok is false and
// the details that need it are left out.
var tcpLayout = func() (l struct {
	ok                 bool
	snd, rcv           uintptr // offsets of Endpoint.snd and Endpoint.rcv
	sndState, rcvState uintptr // offsets of the embedded exported state
}) {
	ep := reflect.TypeFor[tcp.Endpoint]()
	sf, ok1 := ep.FieldByName("snd")
	rf, ok2 := ep.FieldByName("rcv")
	if !ok1 || !ok2 || len(sf.Index) != 1 || len(rf.Index) != 1 ||
		sf.Type.Kind() != reflect.Pointer || rf.Type.Kind() != reflect.Pointer ||
		sf.Type.Elem().Kind() != reflect.Struct || rf.Type.Elem().Kind() != reflect.Struct {
		return l
	}
	ss, ok3 := sf.Type.Elem().FieldByName("TCPSenderState")
	rs, ok4 := rf.Type.Elem().FieldByName("TCPReceiverState")
	if !ok3 || !ok4 || len(ss.Index) != 1 || len(rs.Index) != 1 ||
		ss.Type != reflect.TypeFor[tcp.TCPSenderState]() || rs.Type != reflect.TypeFor[tcp.TCPReceiverState]() {
		return l
	}
	l.ok = true
	l.snd, l.rcv = sf.Offset, rf.Offset
	l.sndState, l.rcvState = ss.Offset, rs.Offset
	return l
}()

// connState is what ss shows from the sender and receiver.
type connState struct {
	mss         int
	sndWnd      uint32
	rcvWnd      uint32
	sndWndScale uint8
	rcvWndScale uint8
	unacked     int
	retransOut  int // segments sent again and not yet acknowledged
	ssthresh    int
	cwnd        int
	ts, sack    bool // timestamps and SACK agreed in the handshake
}

// readConnState copies the sender's and receiver's state; ok is false
// before the handshake has completed (there is no sender yet) or when the
// layout is unknown.
func readConnState(ep *tcp.Endpoint) (st connState, ok bool) {
	if !tcpLayout.ok {
		return st, false
	}
	base := unsafe.Pointer(ep)
	ep.LockUser()
	defer ep.UnlockUser()
	sp := *(*unsafe.Pointer)(unsafe.Add(base, tcpLayout.snd))
	rp := *(*unsafe.Pointer)(unsafe.Add(base, tcpLayout.rcv))
	if sp == nil || rp == nil {
		return st, false
	}
	snd := (*tcp.TCPSenderState)(unsafe.Add(sp, tcpLayout.sndState))
	rcv := (*tcp.TCPReceiverState)(unsafe.Add(rp, tcpLayout.rcvState))
	st.mss = snd.MaxPayloadSize
	st.sndWnd = uint32(snd.SndWnd)
	st.sndWndScale = snd.SndWndScale
	st.unacked = snd.Outstanding
	st.retransOut = ep.RetransmittedInFlight()
	st.ssthresh = snd.Ssthresh
	st.cwnd = snd.SndCwnd
	// RcvAcc is the right edge of the window last advertised.
	if w := int32(uint32(rcv.RcvAcc) - uint32(rcv.RcvNxt)); w > 0 {
		st.rcvWnd = uint32(w)
	}
	st.rcvWndScale = rcv.RcvWndScale
	st.ts, st.sack = ep.SendTSOk, ep.SACKPermitted
	return st, true
}
