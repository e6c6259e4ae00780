package main

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strings"
)

// The owners breakdown (-owners) says who holds the server's memory: every
// sampled heap allocation still in use is charged to the code that made
// it, found by walking its stack from the allocation outward past the
// runtime and the general-purpose packages (time, sync, bufio, btree...)
// to the first frame that names an owner.

// owner is one row of the breakdown.
type owner struct {
	name  string
	bytes float64
}

// heapByOwner returns the bytes in use by owner, as of the last garbage
// collection (the caller has just run one). The samples are scaled up the
// way pprof does, so the sums estimate the real totals.
func heapByOwner() map[string]float64 {
	var recs []runtime.MemProfileRecord
	n, _ := runtime.MemProfile(nil, false)
	for {
		recs = make([]runtime.MemProfileRecord, n+64)
		var ok bool
		if n, ok = runtime.MemProfile(recs, false); ok {
			recs = recs[:n]
			break
		}
	}
	rate := float64(runtime.MemProfileRate)
	out := make(map[string]float64)
	for i := range recs {
		r := &recs[i]
		objs, bytes := r.InUseObjects(), r.InUseBytes()
		if objs <= 0 || bytes <= 0 {
			continue
		}
		scale := 1.0
		if rate > 1 {
			avg := float64(bytes) / float64(objs)
			scale = 1 / (1 - math.Exp(-avg/rate))
		}
		out[ownerOf(r.Stack())] += float64(bytes) * scale
	}
	return out
}

// passThrough are packages whose allocations belong to their caller.
var passThrough = []string{
	"runtime.", "sync.", "time.", "bufio.", "bytes.", "strings.", "internal/", "reflect.",
	"github.com/google/btree.", "gvisor.dev/gvisor/pkg/sync.", "gvisor.dev/gvisor/pkg/buffer.",
}

// ownerOf names the owner of an allocation made at stack.
func ownerOf(stack []uintptr) string {
	frames := runtime.CallersFrames(stack)
	for {
		fr, more := frames.Next()
		fn := fr.Function
		if fn == "runtime.malg" {
			return "goroutine descriptors (runtime g)"
		}
		if !slices.ContainsFunc(passThrough, func(p string) bool { return strings.HasPrefix(fn, p) }) {
			return ownerName(fn)
		}
		if !more {
			return "runtime and other"
		}
	}
}

// ownerName maps the allocating function to its owner.
func ownerName(fn string) string {
	const (
		gv   = "gvisor.dev/gvisor/pkg/"
		tcpP = gv + "tcpip/transport/tcp."
		stkP = gv + "tcpip/stack."
		ours = "github.com/glassnet/glassnet/"
	)
	has := func(s ...string) bool {
		for _, x := range s {
			if strings.Contains(fn, x) {
				return true
			}
		}
		return false
	}
	switch {
	case strings.HasPrefix(fn, tcpP):
		switch {
		case has("newEndpoint"):
			return "gVisor tcp.Endpoint"
		case has("initSender", "CubicCC", "RenoCC", "initCongestionControl", "initLossRecovery", "SACKScoreboard", "rackControl"):
			return "gVisor TCP sender (cc, SACK scoreboard)"
		case has("newReceiver", "receiver"):
			return "gVisor TCP receiver"
		case has("imer", "Backoff"):
			return "gVisor TCP timers"
		case has("WriteList", "queueSegment", "sendData", "newOutgoingSegment", "Write"):
			return "gVisor TCP send queue"
		case has("andshake"):
			return "gVisor TCP handshake state"
		case has("handleListenSegment", "deliverAccepted", "accept"):
			return "gVisor accept path (wait queue)"
		}
		return "gVisor TCP other"
	case strings.HasPrefix(fn, stkP):
		switch {
		case has("emuxer", "endpointsByNIC", "multiPortEndpoint", "RegisterTransportEndpoint"):
			return "gVisor transport demuxer"
		case has("Route", "route"):
			return "gVisor route"
		case has("eigh"):
			return "gVisor neighbor state"
		}
		return "gVisor stack other"
	case strings.HasPrefix(fn, gv+"tcpip/ports."):
		return "gVisor port reservations"
	case strings.HasPrefix(fn, gv+"tcpip.") && has("Clock", "Timer"):
		return "gVisor TCP timers"
	case strings.HasPrefix(fn, gv+"waiter."):
		return "gVisor wait queue"
	case strings.HasPrefix(fn, gv):
		return "gVisor other"
	case strings.HasPrefix(fn, ours+"sockets."):
		switch {
		case has("newConn"):
			return "sockets.Conn (net.Conn adapter)"
		case has("notify", "Notify"):
			return "sockets notifier (armed NotifyReadable)"
		case has("newAccepted", "newSocket", "install"):
			return "sockets socket + descriptor table"
		case has("block", "Waker", "waker"):
			return "sockets blocked calls (wakers, select)"
		}
		return "sockets other"
	case strings.HasPrefix(fn, ours+"ws."):
		return "ws.Conn"
	case strings.HasPrefix(fn, ours+"netstack."), strings.HasPrefix(fn, ours+"tun."):
		return "netstack link"
	case strings.HasPrefix(fn, "main."):
		return "example server"
	case strings.HasPrefix(fn, "net/http."):
		return "net/http"
	}
	return "runtime and other"
}

// printOwners writes the breakdown per connection: the bytes each owner
// holds after minus before, over n connections, largest first.
func printOwners(out io.Writer, before, after map[string]float64, n int) {
	var rows []owner
	total := 0.0
	for name, b := range after {
		d := (b - before[name]) / float64(n)
		if math.Abs(d) < 1 {
			continue
		}
		rows = append(rows, owner{name, d})
		total += d
	}
	slices.SortFunc(rows, func(a, b owner) int {
		switch {
		case a.bytes > b.bytes:
			return -1
		case a.bytes < b.bytes:
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	fmt.Fprintf(out, "server heap by owner (sampled, live objects), per connection:\n")
	for _, r := range rows {
		fmt.Fprintf(out, "  %-42s %7.0f B\n", r.name, r.bytes)
	}
	fmt.Fprintf(out, "  %-42s %7.0f B\n", "total", total)
}
