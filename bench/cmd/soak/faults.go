package main

import (
	"net/netip"
	"sync"
	"time"
)

// The namespace's addresses. serve's stack is stackAddr; the kernel side
// of the TUN has hostAddr (serve gives it) and one more address per fault
// set. serve's rules take effect by the kernel-side address, so a fault
// set changes by moving new connections to another source address: the
// rules stay as serve was started with them, and the set in force changes
// every phase.
var (
	stackPrefix = netip.MustParsePrefix("10.203.0.2/24")
	stackAddr   = stackPrefix.Addr()
	hostAddr    = netip.MustParseAddr("10.203.0.1")
	// rstAddr is the kernel-side address whose TCP connections serve resets
	// after a number of packets (an injected RST). Only connections from
	// it may end in a reset; a reset anywhere else is a failure.
	rstAddr = netip.MustParseAddr("10.203.0.20")
)

// rstAfterPackets is the RST rule's packet count: a connection from
// rstAddr that lives long enough is reset at both ends by serve.
const rstAfterPackets = 300

// faultSet is one phase's faults: serve rules on the link, in both
// directions, for the packets of one kernel-side address.
type faultSet struct {
	name  string
	addr  netip.Addr // the kernel-side address the rules apply to
	rules []string   // actions, applied to both --ingress and --egress
	lossy bool       // datagrams may be lost or duplicated (UDP is not checked for loss)
}

var faultSets = []faultSet{
	{name: "loss 2%", addr: netip.MustParseAddr("10.203.0.11"), rules: []string{"loss 2%"}, lossy: true},
	{name: "reorder 5%", addr: netip.MustParseAddr("10.203.0.12"), rules: []string{"reorder 5% gap 10ms"}, lossy: true},
	{name: "delay 20ms±10ms", addr: netip.MustParseAddr("10.203.0.13"), rules: []string{"delay 20ms jitter 10ms"}, lossy: true},
	{name: "duplicate 3%", addr: netip.MustParseAddr("10.203.0.14"), rules: []string{"duplicate 3%"}, lossy: true},
	{name: "burst loss (gemodel)", addr: netip.MustParseAddr("10.203.0.15"), rules: []string{"loss gemodel 1% 30%"}, lossy: true},
	{name: "mixed", addr: netip.MustParseAddr("10.203.0.16"), rules: []string{"loss 1%", "delay 5ms jitter 5ms", "reorder 3% gap 5ms", "duplicate 1%", "corrupt 0.5%"}, lossy: true},
	{name: "none", addr: hostAddr},
}

// serveRules are the --ingress and --egress arguments for every fault
// set and for the RST address.
func serveRules() []string {
	var args []string
	for _, f := range faultSets {
		for _, r := range f.rules {
			args = append(args,
				"--ingress", "src host "+f.addr.String()+" : "+r,
				"--egress", "dst host "+f.addr.String()+" : "+r)
		}
	}
	args = append(args, "--egress", "tcp and dst host "+rstAddr.String()+" : rst after "+itoa(rstAfterPackets)+" packets")
	return args
}

// extraAddrs are the kernel-side addresses soak adds to the TUN (serve
// adds hostAddr itself).
func extraAddrs() []netip.Addr {
	var a []netip.Addr
	for _, f := range faultSets {
		if f.addr != hostAddr {
			a = append(a, f.addr)
		}
	}
	return append(a, rstAddr)
}

// phases rotates the fault sets: current is the one in force now.
type phases struct {
	mu      sync.Mutex
	i       int
	started time.Time
	log     []phaseRecord
}

type phaseRecord struct {
	set      faultSet
	duration time.Duration
}

func newPhases() *phases {
	return &phases{started: time.Now()}
}

func (p *phases) current() faultSet {
	p.mu.Lock()
	defer p.mu.Unlock()
	return faultSets[p.i%len(faultSets)]
}

// next moves to the next fault set and returns it.
func (p *phases) next() faultSet {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	p.log = append(p.log, phaseRecord{faultSets[p.i%len(faultSets)], now.Sub(p.started)})
	p.i++
	p.started = now
	return faultSets[p.i%len(faultSets)]
}

// end closes the log of phases and returns it.
func (p *phases) end() []phaseRecord {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log = append(p.log, phaseRecord{faultSets[p.i%len(faultSets)], time.Since(p.started)})
	return p.log
}
