package main

import (
	"fmt"
	"net/netip"
	"strings"
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
	// In the bad state half the packets are lost, not all. A rule keeps
	// one state machine per direction, advanced by each packet, so a lone
	// connection in backoff (one retransmission per RTO) that meets a bad
	// state which loses every packet stays in it with each retransmission
	// lost at 0.7 a time: eight in a row, past the soak's one-minute
	// backoff limit, once in 17 such meetings (netem's model does the same
	// to the kernel). At 50 % the chance of each is 0.35, and of eight in a
	// row one in 4,000.
	{name: "burst loss (gemodel)", addr: netip.MustParseAddr("10.203.0.15"), rules: []string{"loss gemodel 1% 30% 50%"}, lossy: true},
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
	sets    []faultSet
	mu      sync.Mutex
	i       int
	started time.Time
	log     []phaseRecord
}

type phaseRecord struct {
	set      faultSet
	duration time.Duration
}

func newPhases(sets []faultSet) *phases {
	return &phases{sets: sets, started: time.Now()}
}

// selectFaults returns the fault sets whose names contain one of the
// comma-separated words of list (all of them for ""), in their order.
func selectFaults(list string) ([]faultSet, error) {
	if list == "" {
		return faultSets, nil
	}
	var sets []faultSet
	words := strings.Split(list, ",")
	for _, f := range faultSets {
		for _, w := range words {
			if w = strings.TrimSpace(w); w != "" && strings.Contains(f.name, w) {
				sets = append(sets, f)
				break
			}
		}
	}
	if len(sets) == 0 {
		var names []string
		for _, f := range faultSets {
			names = append(names, f.name)
		}
		return nil, fmt.Errorf("no fault set matches %q (there are: %s)", list, strings.Join(names, "; "))
	}
	return sets, nil
}

func (p *phases) current() faultSet {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sets[p.i%len(p.sets)]
}

// next moves to the next fault set and returns it.
func (p *phases) next() faultSet {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	p.log = append(p.log, phaseRecord{p.sets[p.i%len(p.sets)], now.Sub(p.started)})
	p.i++
	p.started = now
	return p.sets[p.i%len(p.sets)]
}

// end closes the log of phases and returns it.
func (p *phases) end() []phaseRecord {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log = append(p.log, phaseRecord{p.sets[p.i%len(p.sets)], time.Since(p.started)})
	return p.log
}
