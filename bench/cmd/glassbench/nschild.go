package main

import (
	"fmt"
	"maps"
	"os"
	"strconv"
	"strings"
	"time"
)

// serverSpec is what a server process of the many and scale sections
// runs: Net is where it listens ("kernel": 127.0.0.1, "tun": glassnet on a
// TUN, "packet": glassnet on an AF_PACKET socket on one end of a veth
// pair, "relay": the kernel behind a TUN, a relay and a second TUN in a
// namespace of its own), App what it serves ("glassnet-ws", "gorilla-ws",
// "tcp-echo").
type serverSpec struct {
	Net, App string
	// Relay chooses the relay network (relayNets) of Net "relay", so
	// that two relay servers can run at once.
	Relay int `json:",omitempty"`
}

// sysKinds are the system calls counted by name, with the tracepoints
// sys_enter_NAME (perfcount_linux.go); the rest show as "other".
var sysKinds = []string{"read", "write", "readv", "writev", "recvmmsg", "sendmmsg", "epoll_pwait", "epoll_wait", "futex", "nanosleep"}

// addCounts is a plus b, counter by counter.
func addCounts(a, b perfCounts) perfCounts {
	r := perfCounts{Syscalls: a.Syscalls + b.Syscalls, CtxSwitches: a.CtxSwitches + b.CtxSwitches, Named: maps.Clone(a.Named)}
	if r.Named == nil {
		r.Named = map[string]uint64{}
	}
	for k, v := range b.Named {
		r.Named[k] += v
	}
	return r
}

// usage is what one process spent over the measured intervals of a row.
type usage struct {
	CPU    time.Duration // user + system
	Sys    perfCounts    // system calls and context switches
	SysErr string        // why Sys could not be counted, if it could not
}

// cost is what a row's measurements cost: the server process, the client
// process and the TCP retransmissions over their intervals.
type cost struct {
	Server, Client usage
	Retrans        retransCounts
	Link           linkCounts // scale's bulk rows only
}

// sysColumns is the header of a table of system calls per unit of work:
// the counted kinds, the others, the total and context switches.
func sysColumns() string {
	return strings.Join(sysKinds, "\t") + "\tother\ttotal\tctx switches\t"
}

// sysCells formats u's system calls divided by n, in sysColumns' order;
// without counts every cell is "-".
func sysCells(u usage, n float64) string {
	if u.SysErr != "" || u.Sys.Syscalls == 0 || n <= 0 {
		return strings.Repeat("-\t", len(sysKinds)+3)
	}
	var b strings.Builder
	var named uint64
	for _, k := range sysKinds {
		v := u.Sys.Named["sys_enter_"+k]
		named += v
		fmt.Fprintf(&b, "%s\t", perUnit(float64(v), n))
	}
	other := float64(u.Sys.Syscalls) - float64(named)
	fmt.Fprintf(&b, "%s\t%s\t%s\t", perUnit(max(other, 0), n), perUnit(float64(u.Sys.Syscalls), n), perUnit(float64(u.Sys.CtxSwitches), n))
	return b.String()
}

// perUnit is v/n with a precision that suits counts per message (mostly
// between 0.001 and 10).
func perUnit(v, n float64) string {
	x := v / n
	switch {
	case x == 0:
		return "0"
	case x < 0.01:
		return fmt.Sprintf("%.3f", x)
	case x < 10:
		return fmt.Sprintf("%.2f", x)
	}
	return fmt.Sprintf("%.0f", x)
}

// retransCounts are TCP retransmissions over an interval. Stack counts
// the segments glassnet's stack retransmitted; Recoveries the times it
// entered SACK recovery, Spurious the recoveries it found needless (a
// D-SACK came back), RTO its retransmission timeouts. Kernel counts the
// segments the kernel retransmitted in the namespace, the client's side
// of a glassnet row and both sides of a loopback one. LinkDrops are the
// packets the namespace's interfaces dropped, LinkTxDrops those of them
// on the way out of an interface (tx_dropped: on a TUN, the kernel's
// queue to the stack full) and the rest on the way in (rx_dropped: on a
// TUN, packets the stack wrote that the kernel dropped), StackDrops those glassnet's
// stack dropped at its device (netstack.Stats.Dropped), GVisorDrops those
// gVisor dropped inside (Stats().DroppedPackets) and QueueDrops those of
// them dropped because a TCP endpoint's segment queue was full (the rest
// are mostly late segments of closed connections that reach the
// listener). TLP counts the tail loss probes glassnet's stack sent that
// retransmitted a segment.
//
// KernelDup counts the segments the kernel received a second time (it
// answered with a D-SACK: TCPDSACKOldSent and TCPDSACKOfoSent), so
// retransmissions that were not needed; KernelRTO its retransmission
// timeouts (TCPTimeouts), KernelTLP its tail loss probes (TCPLossProbes)
// and KernelUndo the recoveries it undid as spurious (TCPLossUndo).
type retransCounts struct {
	Stack, Recoveries, Spurious, RTO, TLP uint64
	Kernel                                uint64
	LinkDrops, LinkTxDrops                uint64
	StackDrops, GVisorDrops, QueueDrops   uint64
	KernelDup, KernelRTO, KernelTLP       uint64
	KernelUndo                            uint64
}

// fields lists the counters, for add and sub.
func (a *retransCounts) fields() []*uint64 {
	return []*uint64{&a.Stack, &a.Recoveries, &a.Spurious, &a.RTO, &a.TLP, &a.Kernel, &a.LinkDrops, &a.LinkTxDrops, &a.StackDrops, &a.GVisorDrops,
		&a.QueueDrops, &a.KernelDup, &a.KernelRTO, &a.KernelTLP, &a.KernelUndo}
}

// addEach adds each of b's counters, times sign (1 or -1), to a's.
func addEach(a, b []*uint64, sign int) {
	for i, f := range a {
		if sign < 0 {
			*f -= *b[i]
		} else {
			*f += *b[i]
		}
	}
}

func (a retransCounts) add(b retransCounts) retransCounts {
	addEach(a.fields(), b.fields(), 1)
	return a
}

func (a retransCounts) sub(b retransCounts) retransCounts {
	addEach(a.fields(), b.fields(), -1)
	return a
}

// String is "glassnet/kernel" retransmitted segments.
func (a retransCounts) String() string {
	return fmt.Sprintf("%d/%d", a.Stack, a.Kernel)
}

// gk is "glassnet/kernel" for two counts.
func gk(g, k uint64) string { return fmt.Sprintf("%d/%d", g, k) }

// note describes what the table's retransmits and drops columns leave
// out, "" when there is nothing to add.
func (a retransCounts) note() string {
	if a.Stack == 0 && a.StackDrops == 0 && a.GVisorDrops == 0 && a.KernelRTO == 0 && a.LinkDrops == 0 {
		return ""
	}
	kernel := fmt.Sprintf("the kernel: %d segments received twice, %d retransmission timeouts, %d tail loss probes, %d undone as spurious; "+
		"links: %d packets dropped on the way out of an interface, %d on the way in",
		a.KernelDup, a.KernelRTO, a.KernelTLP, a.KernelUndo, a.LinkTxDrops, a.LinkDrops-a.LinkTxDrops)
	if a.Stack == 0 && a.Recoveries == 0 && a.RTO == 0 && a.TLP == 0 && a.StackDrops == 0 && a.GVisorDrops == 0 {
		// A server on the kernel's stack (loopback, the relay's), or
		// glassnet's with nothing to say.
		return kernel
	}
	return fmt.Sprintf("glassnet's stack: %d segments retransmitted, %d SACK recoveries (%d found spurious), %d retransmission timeouts, %d tail loss probes; "+
		"%d packets dropped at its device, %d inside gVisor (%d in a full segment queue); ",
		a.Stack, a.Recoveries, a.Spurious, a.RTO, a.TLP, a.StackDrops, a.GVisorDrops, a.QueueDrops) + kernel
}

// snmpValue finds field in the table proto of /proc/net/snmp's or
// /proc/net/netstat's text b: a line of field names and a line of values,
// both starting "proto:".
func snmpValue(b []byte, proto, field string) (uint64, error) {
	var names []string
	for line := range strings.Lines(string(b)) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), proto+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if names == nil {
			names = f
			continue
		}
		if len(f) != len(names) {
			return 0, fmt.Errorf("snmp: %s has %d names and %d values", proto, len(names), len(f))
		}
		for i, n := range names {
			if n == field {
				return strconv.ParseUint(f[i], 10, 64)
			}
		}
		return 0, fmt.Errorf("snmp: no %s %s", proto, field)
	}
	return 0, fmt.Errorf("snmp: no %s table", proto)
}

// devDrops sums the receive and transmit drop counts of every interface
// in b, the text of /proc/net/dev: two header lines, then
// "name: rx bytes packets errs drop ... tx bytes packets errs drop ...".
func devDrops(b []byte) (rx, tx uint64, err error) {
	for line := range strings.Lines(string(b)) {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || strings.Contains(name, "|") {
			continue // a header line
		}
		f := strings.Fields(rest)
		if len(f) < 12 {
			return 0, 0, fmt.Errorf("net/dev: %s has %d fields", strings.TrimSpace(name), len(f))
		}
		r, err := strconv.ParseUint(f[3], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("net/dev: %s: %w", strings.TrimSpace(name), err)
		}
		t, err := strconv.ParseUint(f[11], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("net/dev: %s: %w", strings.TrimSpace(name), err)
		}
		rx, tx = rx+r, tx+t
	}
	return rx, tx, nil
}

// linkCounts is what moved between the kernel client and a server stack,
// counted at both ends, for the scale section's packets per GB. From the
// server's stack (netstack.Stats; zero on the kernel's): packets and
// bytes read from and written to its device, the TCP super-packets among
// them and the MSS segments they carried, and the device
// writes. From the kernel (this
// namespace's /proc/net/snmp and /proc/net/netstat): the TCP segments it
// received and sent (InSegs and OutSegs, which count each segment of a
// super-packet) and the pure ACKs it received (TCPPureAcks and
// TCPHPAcks).
type linkCounts struct {
	PacketsIn, BytesIn, GSOIn, GSOSegsIn     uint64
	PacketsOut, BytesOut, GSOOut, GSOSegsOut uint64
	Writes                                   uint64
	KernelInSegs, KernelOutSegs, KernelAcks  uint64
}

func (a *linkCounts) fields() []*uint64 {
	return []*uint64{&a.PacketsIn, &a.BytesIn, &a.GSOIn, &a.GSOSegsIn, &a.PacketsOut, &a.BytesOut, &a.GSOOut, &a.GSOSegsOut,
		&a.Writes, &a.KernelInSegs, &a.KernelOutSegs, &a.KernelAcks}
}

func (a linkCounts) add(b linkCounts) linkCounts { addEach(a.fields(), b.fields(), 1); return a }

func (a linkCounts) sub(b linkCounts) linkCounts { addEach(a.fields(), b.fields(), -1); return a }

// kernelSegs fills in the kernel's counters of l from this network
// namespace's /proc/net/snmp and /proc/net/netstat.
func kernelSegs(l *linkCounts) error {
	v, err := kernelCounters([]kernelCounter{
		{"snmp", "Tcp", "InSegs"},
		{"snmp", "Tcp", "OutSegs"},
		{"netstat", "TcpExt", "TCPPureAcks"},
		{"netstat", "TcpExt", "TCPHPAcks"},
	})
	if err != nil {
		return err
	}
	l.KernelInSegs, l.KernelOutSegs, l.KernelAcks = v[0], v[1], v[2]+v[3]
	return nil
}

// A kernelCounter names a counter of /proc/net/snmp or /proc/net/netstat:
// the file ("snmp" or "netstat"), the protocol line and the field.
type kernelCounter struct{ file, proto, name string }

// kernelCounters reads the counters cs of this network namespace, in order.
func kernelCounters(cs []kernelCounter) ([]uint64, error) {
	files := map[string][]byte{}
	for _, f := range []string{"snmp", "netstat"} {
		b, err := os.ReadFile("/proc/net/" + f)
		if err != nil {
			return nil, err
		}
		files[f] = b
	}
	v := make([]uint64, len(cs))
	for i, c := range cs {
		var err error
		if v[i], err = snmpValue(files[c.file], c.proto, c.name); err != nil {
			return nil, err
		}
	}
	return v, nil
}
