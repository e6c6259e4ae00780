package main

import (
	"fmt"
	"maps"
	"strings"
	"time"
)

// serverSpec is what a server process of the many and scale sections
// runs: Net is where it listens ("kernel": 127.0.0.1, "tun": glassnet on a
// TUN, "packet": glassnet on an AF_PACKET socket on one end of a veth
// pair), App what it serves ("glassnet-ws", "gorilla-ws", "tcp-echo").
type serverSpec struct {
	Net, App string
}

// sysCounts are system calls and context switches of one process over an
// interval: all of them, and those of the kinds in sysKinds.
type sysCounts struct {
	Syscalls, CtxSwitches uint64
	Named                 map[string]uint64
}

// sysKinds are the system calls counted by name, as tracepoints
// (sys_enter_NAME); the rest show as "other".
var sysKinds = []string{"read", "write", "readv", "writev", "recvmmsg", "sendmmsg", "epoll_pwait", "epoll_wait", "futex", "nanosleep"}

func (a sysCounts) add(b sysCounts) sysCounts {
	r := sysCounts{Syscalls: a.Syscalls + b.Syscalls, CtxSwitches: a.CtxSwitches + b.CtxSwitches, Named: maps.Clone(a.Named)}
	if r.Named == nil {
		r.Named = map[string]uint64{}
	}
	for k, v := range b.Named {
		r.Named[k] += v
	}
	return r
}

func (a sysCounts) sub(b sysCounts) sysCounts {
	r := sysCounts{Syscalls: a.Syscalls - b.Syscalls, CtxSwitches: a.CtxSwitches - b.CtxSwitches, Named: map[string]uint64{}}
	for k, v := range a.Named {
		r.Named[k] = v - b.Named[k]
	}
	return r
}

// usage is what one process spent over the measured intervals of a row.
type usage struct {
	CPU    time.Duration // user + system
	Sys    sysCounts
	SysErr string // why Sys could not be counted, if it could not
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
		v := u.Sys.Named[k]
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
