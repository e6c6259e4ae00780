package netstack

import (
	"net/netip"
	"sync"

	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// maxFlows bounds the ISN table. When it is full, flows that have seen a
// FIN or RST go first, then arbitrary ones.
const maxFlows = 1 << 14

// flowKey is one direction of a TCP connection.
type flowKey struct{ src, dst netip.AddrPort }

type flowState struct {
	isn  uint32
	done bool // a FIN or RST went this way
}

// flowTable remembers the initial sequence number of each direction of each
// TCP connection seen on the link, so sequence and acknowledgment numbers
// can be shown relative to it, as tcpdump does.
type flowTable struct {
	mu    sync.Mutex
	flows map[flowKey]flowState
}

func newFlowTable() *flowTable {
	return &flowTable{flows: make(map[flowKey]flowState)}
}

// relative records what a segment from s to d teaches about ISNs and
// returns its sequence and acknowledgment numbers relative to them. seqOK
// and ackOK are false when the matching ISN is unknown (the SYN was never
// seen).
func (f *flowTable) relative(s, d netip.AddrPort, flags header.TCPFlags, seq, ack uint32) (relSeq, relAck uint32, seqOK, ackOK bool) {
	fwd, rev := flowKey{s, d}, flowKey{d, s}
	f.mu.Lock()
	defer f.mu.Unlock()
	if flags&header.TCPFlagSyn != 0 {
		if _, ok := f.flows[fwd]; !ok && len(f.flows) >= maxFlows {
			f.evictLocked()
		}
		f.flows[fwd] = flowState{isn: seq}
	}
	st, ok := f.flows[fwd]
	if ok {
		relSeq, seqOK = seq-st.isn, true
		if flags&(header.TCPFlagFin|header.TCPFlagRst) != 0 && !st.done {
			st.done = true
			f.flows[fwd] = st
		}
	}
	if flags&header.TCPFlagAck != 0 {
		if r, ok := f.flows[rev]; ok {
			relAck, ackOK = ack-r.isn, true
		}
	}
	return relSeq, relAck, seqOK, ackOK
}

// isn returns the recorded ISN of the direction s to d.
func (f *flowTable) isn(s, d netip.AddrPort) (uint32, bool) {
	f.mu.Lock()
	st, ok := f.flows[flowKey{s, d}]
	f.mu.Unlock()
	return st.isn, ok
}

func (f *flowTable) evictLocked() {
	for k, st := range f.flows {
		if st.done {
			delete(f.flows, k)
		}
	}
	if len(f.flows) < maxFlows {
		return
	}
	n := maxFlows / 8
	for k := range f.flows {
		if n == 0 {
			break
		}
		delete(f.flows, k)
		n--
	}
}

func (f *flowTable) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.flows)
}
