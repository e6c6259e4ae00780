package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// The many section: 64 B WebSocket echo on 1,000 connections at once, each
// with one message in flight, over every way a kernel client can reach a
// server in one network namespace. glassnet's userspace stack reads and
// writes the packets of all connections in batches (a TUN read or a
// recvmmsg carries segments of many connections); a kernel server makes
// its own read and write per message.

// manyParams is the many section's measurement, passed to the namespace
// child.
type manyParams struct {
	Conns   int           // connections per row
	Size    int           // message size
	Dur     time.Duration // per round and row
	Rounds  int
	Workers int           // client threads
	Drain   time.Duration // how long a round waits for echoes still in flight
}

// manyRow is one row's rounds.
type manyRow struct {
	Name  string
	Conns int // connections open at the start
	// Rates is messages per second of each round; P50s and P99s are
	// round trips of the rounds that completed any message.
	Rates      []float64
	P50s, P99s []time.Duration
	Msgs       int64         // messages echoed in all rounds
	Wall       time.Duration // the rounds' time together
	// Stalled counts messages whose echo did not come back within the
	// drain time; Failed counts connections that failed to open or
	// broke (each also ends its connection).
	Stalled, Failed int
	FirstErr        string
	cost
	Note       string // the row could not run, or part of it failed
	StackStats string // the server stack's counters after the first stall
}

// manyRows are the rows, each a server process in the child's namespace;
// the client is the same for all.
var manyRows = []struct {
	name string
	spec serverSpec
}{
	{"kernel -> TUN -> glassnet ws", serverSpec{Net: "tun", App: "glassnet-ws"}},
	{"kernel -> veth -> AF_PACKET -> glassnet ws", serverSpec{Net: "packet", App: "glassnet-ws"}},
	{"gorilla, kernel loopback", serverSpec{Net: "kernel", App: "gorilla-ws"}},
	{"glassnet ws, kernel loopback", serverSpec{Net: "kernel", App: "glassnet-ws"}},
	{"kernel -> TUN -> relay -> TUN -> gorilla", serverSpec{Net: "relay", App: "gorilla-ws"}},
}

// manyBaseline is the row the ratios are to.
const manyBaseline = "gorilla, kernel loopback"

func manyParamsFor(c config) manyParams {
	p := manyParams{Conns: 1000, Size: 64, Dur: 2 * time.Second, Rounds: c.rounds, Workers: 2, Drain: 10 * time.Second}
	if c.short {
		p.Dur = 500 * time.Millisecond
	}
	return p
}

func manySection(out io.Writer, c config) error {
	p := manyParamsFor(c)
	fmt.Fprintf(out, "\n== Many connections: %s WebSocket echo on %d connections, each sending its next message when the echo is back; %v per row and round, rows alternating (ratio to %s)\n",
		sizeName(p.Size), p.Conns, p.Dur, manyBaseline)
	var rows []manyRow
	if why := runNSChild("many", p, &rows); why != "" {
		fmt.Fprintln(out, "many:", why)
		if strings.HasPrefix(why, "failed") {
			return fmt.Errorf("%s", why)
		}
		return nil
	}
	return printMany(out, p, rows)
}

// printMany writes the section's tables: rates with ratios, CPU, and
// system calls per message of each server and of the client.
func printMany(out io.Writer, p manyParams, rows []manyRow) error {
	base := 0.0
	for _, r := range rows {
		if r.Name == manyBaseline {
			base = median(r.Rates)
		}
	}
	w := table(out)
	fmt.Fprintln(w, "path\tconns\tmsgs/s\tx gorilla\tp50\tp99\tstalled\tfailed\tretransmits\tserver CPU/msg\tclient CPU/msg\tclient share\tclient cores\t")
	var notes []string
	for _, r := range rows {
		if r.Note != "" {
			notes = append(notes, r.Name+": "+r.Note)
		}
		if r.FirstErr != "" {
			notes = append(notes, r.Name+": first failure: "+r.FirstErr)
		}
		if n := r.Retrans.note(); n != "" {
			notes = append(notes, r.Name+": "+n)
		}
		if r.StackStats != "" && r.StackStats != "{}" {
			notes = append(notes, r.Name+": server stack counters after the first stall: "+r.StackStats)
		}
		if len(r.Rates) == 0 {
			fmt.Fprintf(w, "%s\t%d\t-\t\t\t\t%d\t%d\t\t\t\t\t\t\n", r.Name, r.Conns, r.Stalled, r.Failed)
			continue
		}
		m := median(r.Rates)
		fmt.Fprintf(w, "%s\t%d\t%.0f\t%s\t%v\t%v\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t\n", r.Name, r.Conns, m, ratio(m, base),
			medianDur(r.P50s).Round(time.Microsecond), medianDur(r.P99s).Round(time.Microsecond),
			r.Stalled, r.Failed, r.Retrans, cpuPer(r.Server.CPU, float64(r.Msgs), "µs", 1e3), cpuPer(r.Client.CPU, float64(r.Msgs), "µs", 1e3), share(r.Client.CPU, r.Server.CPU), cores(r.Client.CPU, r.Wall))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintln(out, "note:", n)
	}
	fmt.Fprintln(out, "(each server is a process of its own in the namespace; CPU is user+system time of that process over the measured rounds, per message;")
	fmt.Fprintln(out, " the client is one process for every row: nonblocking sockets on", p.Workers, "threads with epoll, one write and one read per message;")
	fmt.Fprintln(out, " client share is the client's part of the CPU the client and the server used together, client cores its CPU time per second")
	fmt.Fprintln(out, " of the rounds (2 cores in all, shared with the server and the machine's other work). Kernel work is charged to whichever")
	fmt.Fprintln(out, " process's system call did it: on loopback, the sender's write runs the receiver's TCP input too;")
	fmt.Fprintln(out, " retransmits: TCP segments glassnet's stack / the kernel (the client's side, or both sides on loopback) sent again;")
	fmt.Fprintln(out, " the relay row has no glassnet: one process copies each packet from the TUN into a second TUN in a namespace of its own,")
	fmt.Fprintln(out, " where gorilla runs on the kernel's TCP; that process's CPU and system calls are the relay's and gorilla's, with the kernel")
	fmt.Fprintln(out, " work of the server's TCP, which its TUN writes run)")

	fmt.Fprintf(out, "\nsystem calls per message, by kind (server process alone; then the client)\n")
	w = table(out)
	fmt.Fprintf(w, "path\tprocess\t%s\n", sysColumns())
	var why []string
	for _, r := range rows {
		fmt.Fprintf(w, "%s\tserver\t%s\n", r.Name, sysCells(r.Server, float64(r.Msgs)))
		fmt.Fprintf(w, "\tclient\t%s\n", sysCells(r.Client, float64(r.Msgs)))
		for _, e := range []string{r.Server.SysErr, r.Client.SysErr} {
			if e != "" && !slices.Contains(why, e) {
				why = append(why, e)
			}
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, e := range why {
		fmt.Fprintln(out, "note: system calls not counted:", e)
	}
	return nil
}

// cpuPer formats cpu divided by n in unit (scale: nanoseconds per unit).
func cpuPer(cpu time.Duration, n float64, unit string, scale float64) string {
	if n <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f %s", float64(cpu)/n/scale, unit)
}

// cores is cpu per second of wall.
func cores(cpu, wall time.Duration) string {
	if wall <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", cpu.Seconds()/wall.Seconds())
}

// share is a's part of a+b, in percent.
func share(a, b time.Duration) string {
	if a+b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(a)/float64(a+b))
}
