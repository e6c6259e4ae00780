// Command glassbench measures glassnet side by side with the kernel and with
// other Go WebSocket libraries in one run, and prints medians over rounds
// with ratios to a named baseline:
//
//   - TCP bulk echo and discard: kernel loopback, glassnet over the
//     in-memory pair (MTU 1500 and 9000, offloads off and on), glassnet on a TUN in a network namespace of its own
//     (MTU 1500 and 9000, segmentation offloads off and on; needs root);
//   - WebSocket echo messages per second and p50/p99 round trips, for 64 B,
//     4 KiB and 1 MiB messages over 1 and 50 connections: glassnet, gorilla,
//     coder and gobwas servers on kernel loopback, each in a process of its
//     own with its CPU time, system calls and context switches per message,
//     and glassnet on the userspace stack (two stacks over the in-memory
//     pair with offloads, in this process), all driven by the same client;
//   - heap allocations and bytes per message of each server;
//   - memory and goroutines per idle connection of each server;
//   - many (root): 64 B WebSocket echo on 1,000 connections, kernel client ->
//     TUN and -> veth -> AF_PACKET to glassnet, against gorilla and glassnet
//     on loopback, with system calls per message by kind (many.go);
//   - scale (root): bulk echo over 1 to 1,000 connections, throughput and
//     CPU per GB, TUN against loopback, and WebSocket connections per
//     second (scale.go);
//   - with -only stalls: how many of N bulk echo transfers over each
//     glassnet path stall (the in-memory pair and the TUN, offloads off
//     and on), and their median speed.
//
// Usage, from the bench module:
//
//	go run ./cmd/glassbench          # full run
//	go run ./cmd/glassbench -short   # under a minute, for CI
//	go run ./cmd/glassbench -only stalls -transfers 200 -stall-mib 32
package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

type config struct {
	short    bool
	rounds   int
	tcpBytes int64
	wsDur    time.Duration
	idleN    int
	only     string

	transfers int // per path, in the stalls section
	stallMiB  int // bytes per transfer there, in MiB

	tunMTUs   []int  // the MTUs of the TUN rows
	tunQueues int    // queues of the TUN (tun.Config.Queues)
	tunCC     string // congestion control of the kernel's sockets in the TUN rows; "" the host's

	wsCPUs  string      // -ws-cpus: "apart", "same", or "" (anywhere)
	wsGC    string      // -ws-gc: "off" (the servers collect only near wsGCLimit), or "" (as they are)
	wsPlace wsPlacement // the CPUs it names for the ws section's servers and client
	wsSizes []int       // message sizes of the ws section, bytes
	wsConns []int       // connection counts of the ws section
}

// wsGCLimit is the memory limit of the ws section's server processes under
// -ws-gc off.
const wsGCLimit = "2GiB"

// wsTurns is how many turns each server takes in a ws measurement
// (wsEchoTurns): a tenth of a second each in a full run.
const wsTurns = 10

func main() {
	childMain()
	if os.Getenv(envTUNChild) == "1" {
		tunChild()
		return
	}
	if os.Getenv(envWSChild) != "" {
		wsChild()
		return
	}
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "glassbench:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("glassbench", flag.ContinueOnError)
	var c config
	fs.BoolVar(&c.short, "short", false, "a quick run (fewer rounds, shorter measurements) for CI")
	fs.IntVar(&c.rounds, "rounds", 0, "rounds per measurement; the table shows medians (0: 5, or 3 with -short)")
	fs.StringVar(&c.only, "only", "tcp,serve,ws,allocs,idle,many,scale", "sections to run, comma-separated: tcp, serve, ws, allocs, idle, many, scale, stalls; tun (the TUN rows of tcp alone)")
	tunMTUs := fs.String("tun-mtus", "1500,9000", "MTUs of the TUN rows, comma-separated")
	wsSizes := fs.String("ws-sizes", "64,4096,1048576", "message sizes of the ws section in bytes, comma-separated")
	wsConns := fs.String("ws-conns", "1,50", "connection counts of the ws section, comma-separated")
	fs.IntVar(&c.tunQueues, "tun-queues", 1, "queues of the TUN (IFF_MULTI_QUEUE when more than 1; offloads needed), one glassnet reader each")
	fs.StringVar(&c.tunCC, "tun-cc", "", "congestion control of the kernel's TCP sockets in the TUN rows, clients and loopback servers alike (cubic, reno, bbr; empty: the host's net.ipv4.tcp_congestion_control)")
	fs.StringVar(&c.wsCPUs, "ws-cpus", "", "where the ws section's server processes and its client run: apart (each on a CPU of its own), same (both on one CPU), or empty (where the scheduler puts them)")
	fs.StringVar(&c.wsGC, "ws-gc", "", "garbage collection in the ws section's server processes: off (GOGC=off with GOMEMLIMIT="+wsGCLimit+": a server collects only when its heap nears that), or empty (as they are)")
	fs.IntVar(&c.transfers, "transfers", 200, "echo transfers per path in the stalls section")
	fs.IntVar(&c.stallMiB, "stall-mib", 32, "MiB per echo transfer in the stalls section")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c.tcpBytes, c.wsDur, c.idleN = 256<<20, time.Second, 5000
	if c.short {
		c.tcpBytes, c.wsDur, c.idleN = 16<<20, 50*time.Millisecond, 200
	}
	var err error
	if c.tunMTUs, err = intList("-tun-mtus", *tunMTUs, "an MTU", 1280, 65535); err != nil {
		return err
	}
	if c.wsSizes, err = intList("-ws-sizes", *wsSizes, "a message size", 1, 64<<20); err != nil {
		return err
	}
	if c.wsConns, err = intList("-ws-conns", *wsConns, "a connection count", 1, 1000); err != nil {
		return err
	}
	if c.wsPlace, err = placeWS(c.wsCPUs); err != nil {
		return err
	}
	if c.wsGC != "" && c.wsGC != "off" {
		return fmt.Errorf("-ws-gc %q: off, or empty", c.wsGC)
	}
	if c.transfers < 1 || c.stallMiB < 1 {
		return fmt.Errorf("-transfers and -stall-mib must be at least 1")
	}
	if c.rounds == 0 {
		c.rounds = 5
		if c.short {
			c.rounds = 3
		}
	}
	sections := strings.Split(c.only, ",")
	for _, name := range sections {
		if !slices.ContainsFunc(sectionList, func(sec section) bool { return sec.name == name }) {
			return fmt.Errorf("-only: no section %q (there are tcp, tun, serve, ws, allocs, idle, many, scale, stalls)", name)
		}
	}
	start := time.Now()
	head := fmt.Sprintf("glassbench: %d rounds, medians; GOMAXPROCS=%d", c.rounds, gomaxprocs())
	for _, n := range machineNotes() {
		head += "; " + n
	}
	fmt.Fprintf(out, "%s; %s\n", head, time.Now().UTC().Format(time.RFC3339))
	for _, sec := range sectionList {
		// tcp runs the TUN rows itself; tun alone runs only them.
		if !slices.Contains(sections, sec.name) || sec.name == "tun" && slices.Contains(sections, "tcp") {
			continue
		}
		t0 := time.Now()
		if err := sec.run(out, c); err != nil {
			return fmt.Errorf("%s: %w", sec.name, err)
		}
		fmt.Fprintf(out, "(%v)\n", time.Since(t0).Round(time.Second))
	}
	fmt.Fprintf(out, "\ntotal time %v\n", time.Since(start).Round(time.Second))
	return nil
}

// section is one part of the run, chosen with -only.
type section struct {
	name string
	run  func(io.Writer, config) error
}

// sectionList is every section, in the order a run prints them.
var sectionList = []section{
	{"tcp", tcpSection}, {"tun", tunSection}, {"serve", serveSection}, {"ws", wsSection}, {"allocs", allocSection}, {"idle", idleSection},
	{"many", manySection}, {"scale", scaleSection}, {"stalls", stallSection},
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianDur(v []time.Duration) time.Duration {
	f := make([]float64, len(v))
	for i, d := range v {
		f[i] = float64(d)
	}
	return time.Duration(median(f))
}

// intList parses a flag's comma-separated list of integers, each from lo
// to hi (what names one, for the error).
func intList(flagName, list, what string, lo, hi int) ([]int, error) {
	var v []int
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < lo || n > hi {
			return nil, fmt.Errorf("%s: %q is not %s from %d to %d", flagName, f, what, lo, hi)
		}
		v = append(v, n)
	}
	return v, nil
}

func ratio(v, base float64) string {
	if base == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", v/base)
}

func table(out io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
}

func tcpSection(out io.Writer, c config) error {
	fmt.Fprintf(out, "\n== TCP bulk, %d MiB per transfer, MB/s (ratio to kernel loopback); every server echoes through the same 256 KiB read/write loop; the TUN rows follow in a table of their own\n", c.tcpBytes>>20)
	kt, err := kernelTCP()
	if err != nil {
		return err
	}
	defer kt.close()
	targets := []*tcpTarget{kt}
	for _, mtu := range []int{1500, 9000} {
		for _, offload := range []bool{false, true} {
			pt, err := pipeTCP(mtu, offload)
			if err != nil {
				return err
			}
			defer pt.close()
			targets = append(targets, pt)
		}
	}
	echo := make([][]float64, len(targets))
	disc := make([][]float64, len(targets))
	// A transfer over glassnet that stalls (does not end within
	// bulkTimeout) or fails has no speed: it is counted in its row's
	// stalls column and left out of the median. Kernel loopback, the
	// baseline, must not fail.
	tallies := make([]tally, len(targets))
	for range c.rounds {
		for i, t := range targets {
			v, err := bulk(t.echo, c.tcpBytes, true)
			if err != nil && i == 0 {
				return fmt.Errorf("%s echo: %w", t.name, err)
			} else if i > 0 {
				tallies[i].add(err)
			}
			if err == nil {
				echo[i] = append(echo[i], v)
			}
			v, err = bulk(t.discard, c.tcpBytes, false)
			if err != nil && i == 0 {
				return fmt.Errorf("%s discard: %w", t.name, err)
			} else if i > 0 {
				tallies[i].add(err)
			}
			if err == nil {
				disc[i] = append(disc[i], v)
			}
		}
	}
	type row struct {
		name       string
		echo, disc []float64
		tally      tally
		note       string
	}
	var rows []row
	for i, t := range targets {
		rows = append(rows, row{name: t.name, echo: echo[i], disc: disc[i], tally: tallies[i], note: tallies[i].First})
	}
	var notes []string
	w := table(out)
	fmt.Fprintln(w, "path\techo MB/s\tx kernel\tdiscard MB/s\tx kernel\tstalls\t")
	be, bd := median(rows[0].echo), median(rows[0].disc)
	for _, r := range rows {
		if len(r.echo) == 0 && len(r.disc) == 0 {
			fmt.Fprintf(w, "%s\t%s\t\t\t\t%s\t\n", r.name, r.note, r.tally)
			continue
		}
		e, d := median(r.echo), median(r.disc)
		fmt.Fprintf(w, "%s\t%.0f\t%s\t%.0f\t%s\t%s\t\n", r.name, e/1e6, ratio(e, be), d/1e6, ratio(d, bd), r.tally)
		if r.note != "" {
			notes = append(notes, r.name+": "+r.note)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintln(out, "note:", n)
	}
	fmt.Fprintf(out, "(stalls: glassnet transfers that did not end within %v, of those run, echo and discard; a stalled or failed transfer is not in the medians)\n", bulkTimeout)
	fmt.Fprintln(out, "(in-memory pair rows with offloads on move 64 KiB TCP super-packets with their GSO metadata from stack to stack, as a veth pair with GSO and GRO does; MTU and MSS stay as named)")
	return tunSection(out, c)
}

// stallSection runs c.transfers echo transfers of c.stallMiB over each
// glassnet path at MTU 1500, one after another, and counts those that
// stall: the in-memory pair with offloads off and on, and kernel -> TUN ->
// glassnet in a network namespace with offloads off and on.
func stallSection(out io.Writer, c config) error {
	total := int64(c.stallMiB) << 20
	fmt.Fprintf(out, "\n== Stalls: %d echo transfers of %d MiB per path, one at a time, MTU 1500 (a stall: not done within %v)\n", c.transfers, c.stallMiB, bulkTimeout)
	type row struct {
		name  string
		echo  []float64
		tally tally
		note  string
	}
	var rows []row
	for _, offload := range []bool{false, true} {
		pt, err := pipeTCP(1500, offload)
		if err != nil {
			return err
		}
		r := row{name: pt.name}
		for range c.transfers {
			v, err := bulk(pt.echo, total, true)
			r.tally.add(err)
			if err == nil {
				r.echo = append(r.echo, v)
			}
		}
		pt.close()
		r.note = r.tally.First
		rows = append(rows, r)
	}
	res, why := runTUNEcho([]int{1500}, c.transfers, total)
	for _, t := range res {
		for _, tr := range t.Rows {
			rows = append(rows, row{name: tunRowName(t, tr), echo: tr.Echo, tally: tr.Tally, note: strings.Join(slices.DeleteFunc([]string{tr.Tally.First, t.Err}, func(s string) bool { return s == "" }), "; ")})
		}
		if len(t.Rows) == 0 {
			rows = append(rows, row{name: fmt.Sprintf("kernel -> TUN -> glassnet, MTU %d, offloads %s", t.MTU, t.Offloads), note: t.Err})
		}
	}
	if why != "" {
		rows = append(rows, row{name: "kernel -> TUN -> glassnet", note: why})
	}
	w := table(out)
	fmt.Fprintln(w, "path\ttransfers\tstalled\tfailed\techo MB/s\t")
	var notes []string
	for _, r := range rows {
		if r.tally.Transfers == 0 {
			fmt.Fprintf(w, "%s\t%s\t\t\t\t\n", r.name, r.note)
			continue
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%.0f\t\n", r.name, r.tally.Transfers, r.tally.Stalls, r.tally.Errors, median(r.echo)/1e6)
		if r.note != "" {
			notes = append(notes, r.name+": "+r.note)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintln(out, "note:", n)
	}
	return nil
}

// sizes are the message sizes of the allocations section.
var sizes = []int{64, 4 << 10, 1 << 20}

func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// startAll starts a server of every kind with start.
func startAll(start func(serverKind) (*wsTarget, error)) ([]*wsTarget, func(), error) {
	var ts []*wsTarget
	stop := func() {
		for _, t := range ts {
			t.close()
		}
	}
	for _, k := range serverKinds {
		t, err := start(k)
		if err != nil {
			stop()
			return nil, nil, err
		}
		ts = append(ts, t)
	}
	return ts, stop, nil
}

func wsSection(out io.Writer, c config) error {
	fmt.Fprintf(out, "\n== WebSocket echo, %v per measurement (3x at 1 MiB), one client implementation for every server (ratio to gorilla);\n", c.wsDur)
	fmt.Fprintln(out, "   each server on kernel sockets in a process of its own; its CPU time, system calls and context switches per message")
	pl := c.wsPlace
	var env []string
	if c.wsGC == "off" {
		// A server that makes garbage collects it on the CPU the
		// client is not using, which keeps that CPU from halting
		// between messages (see the README's performance section).
		env = []string{"GOGC=off", "GOMEMLIMIT=" + wsGCLimit}
		fmt.Fprintf(out, "   (-ws-gc off: every server process runs with GOGC=off GOMEMLIMIT=%s)\n", wsGCLimit)
	}
	ts, stop, err := startAll(func(k serverKind) (*wsTarget, error) { return startWSChild(k, env...) })
	if err != nil {
		return err
	}
	defer stop()
	if pl.ok {
		// Every server process on one CPU, the client (and the
		// userspace rows, which run in this process) on another, or
		// on the same: the one-connection rows otherwise measure
		// where the scheduler happened to put the two.
		for _, t := range ts {
			if t.proc == nil {
				continue
			}
			if _, err := pinProcess(t.proc.pid(), pl.server); err != nil {
				return err
			}
		}
		old, err := pinProcess(os.Getpid(), pl.client)
		if err != nil {
			return err
		}
		defer unpinProcess(os.Getpid(), old)
		fmt.Fprintf(out, "   (-ws-cpus %s: server processes on CPU %d; the client, and the userspace rows with their server, on CPU %d)\n", c.wsCPUs, pl.server, pl.client)
	}
	profDir := os.Getenv(envWSProfile)
	type key struct{ srv, size, conns int }
	type row struct {
		rates    []float64
		p50, p99 []time.Duration
		costs    []wsCost
		tally    tally
		// byRound is the rate of each round, NaN where it failed.
		byRound []float64
	}
	rows := map[key]*row{}
	var notes []string
	note := func(s string) {
		if !slices.Contains(notes, s) {
			notes = append(notes, s)
		}
	}
	record := func(i, round, size, n int, res echoResult, err error) {
		t := ts[i]
		k := key{i, size, n}
		r := rows[k]
		if r == nil {
			r = &row{byRound: make([]float64, c.rounds)}
			rows[k] = r
		}
		r.tally.add(err)
		if err != nil {
			r.byRound[round] = math.NaN()
			return
		}
		r.byRound[round] = res.rate
		r.rates = append(r.rates, res.rate)
		r.p50 = append(r.p50, res.p50)
		r.p99 = append(r.p99, res.p99)
		switch {
		case t.proc == nil:
		case res.costErr != nil:
			note(fmt.Sprintf("%s: cost not measured: %v", t.name, res.costErr))
		default:
			r.costs = append(r.costs, res.cost)
		}
	}
	// The servers in processes of their own take turns (wsEchoTurns);
	// the userspace rows, whose server runs in this process with the
	// client, are measured on their own, before them.
	var procs, inProc []int
	for i, t := range ts {
		if t.proc != nil {
			procs = append(procs, i)
		} else {
			inProc = append(inProc, i)
		}
	}
	for round := range c.rounds {
		for _, size := range c.wsSizes {
			for _, n := range c.wsConns {
				dur := c.wsDur
				if size >= 1<<20 {
					dur *= 3
				}
				prof := func(t *wsTarget) string {
					if profDir == "" || t.proc == nil || round != c.rounds-1 {
						return ""
					}
					return filepath.Join(profDir, fmt.Sprintf("%s-%d-%d.pprof", t.name, size, n))
				}
				// Each measurement starts after a collection here
				// (the userspace row leaves garbage in this process,
				// the client's).
				for _, i := range inProc {
					runtime.GC()
					res, err := wsEcho(ts[i], size, n, dur, prof(ts[i]))
					record(i, round, size, n, res, err)
				}
				runtime.GC()
				var pts []*wsTarget
				for _, i := range procs {
					pts = append(pts, ts[i])
				}
				// Each round starts its turns with a different server.
				res, errs := wsEchoTurns(pts, size, n, dur, wsTurns, round, prof)
				for j, i := range procs {
					record(i, round, size, n, res[j], errs[j])
				}
			}
		}
	}
	for _, t := range ts {
		if t.proc != nil && t.proc.perfErr != nil {
			note(fmt.Sprintf("%s: no system call or context switch counts: %v", t.name, t.proc.perfErr))
		}
	}
	w := table(out)
	fmt.Fprintln(w, "size\tconns\tserver\tmsgs/s\tx gorilla\tp50\tp99\tCPU µs/msg\tsyscalls/msg\treads\twrites\tctx sw/msg\tGC/s\tstalls\t")
	for _, size := range c.wsSizes {
		for _, n := range c.wsConns {
			base := median(rows[key{1, size, n}].rates)
			best, bestName, bestIdx := 0.0, "", 0
			for i, t := range ts {
				r := rows[key{i, size, n}]
				m := median(r.rates)
				if i >= 1 && i <= 3 && m > best {
					best, bestName, bestIdx = m, t.name, i
				}
				fmt.Fprintf(w, "%s\t%d\t%s\t%.0f\t%s\t%v\t%v\t%s%s\t\n", sizeName(size), n, t.name, m, ratio(m, base),
					medianDur(r.p50).Round(time.Microsecond), medianDur(r.p99).Round(time.Microsecond),
					costCells(r.costs, t.proc != nil && t.proc.perf != nil), r.tally)
				if r.tally.First != "" {
					note(fmt.Sprintf("%s %s x%d: %s", t.name, sizeName(size), n, r.tally.First))
				}
			}
			g := median(rows[key{0, size, n}].rates)
			cell := ratio(g, best)
			if lo, hi, ok := roundRatios(rows[key{0, size, n}].byRound, rows[key{bestIdx, size, n}].byRound); ok && best > 0 {
				cell += fmt.Sprintf(" (%.2fx to %.2fx)", lo, hi)
			}
			fmt.Fprintf(w, "\t\tglassnet / best peer (%s)\t%s\t\t\t\t\t\t\t\t\t\t\n", bestName, cell)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintln(out, "note:", n)
	}
	fmt.Fprintln(out, "(per message, medians of rounds, counted in the server's process alone: CPU time user + system (getrusage), system calls entered,")
	fmt.Fprintln(out, " of them read and write/writev, and context switches of all its threads (perf events); GC/s: the garbage collections the")
	fmt.Fprintln(out, " server's process finished per second of the measurement (a collection runs its workers on idle CPUs); stalls: measurements whose echo did not")
	fmt.Fprintf(out, " come back within %v, of those run, plus failures; a stalled or failed measurement is not in the medians;\n", bulkTimeout)
	fmt.Fprintf(out, " the servers in processes of their own take turns in each measurement, %d turns each of 1/%d of its time, each round starting with another\n", wsTurns, wsTurns)
	fmt.Fprintln(out, " server (the one-connection rows move with how soon an idle CPU wakes, which changes within a second: turns give every server the same share);")
	fmt.Fprintln(out, " each measurement starts after a garbage collection in the client's process;")
	fmt.Fprintln(out, " glassnet / best peer: the ratio of the medians, then in parentheses the lowest and the highest of the same ratio taken")
	fmt.Fprintln(out, " round by round, glassnet's rate over that peer's in the same round: when the two enclose 1.00x, which of the two was")
	fmt.Fprintln(out, " faster changed from round to round)")
	fmt.Fprintln(out, "(glassnet/userspace: client and server stacks over the in-memory pair in this process, MTU 1500, with segmentation offloads:")
	fmt.Fprintln(out, " TCP crosses as 64 KiB super-packets, as over a veth pair with GSO and GRO; its cost is not apart from the client's, so not shown)")
	return nil
}

// roundRatios is the lowest and the highest of glassnet's rate over a
// peer's, taken round by round over the rounds where both were measured;
// ok is false when there is no such round. Rates are indexed by round,
// NaN where a measurement failed.
func roundRatios(glassnet, peer []float64) (lo, hi float64, ok bool) {
	for r, g := range glassnet {
		if r >= len(peer) || math.IsNaN(g) || math.IsNaN(peer[r]) || peer[r] == 0 {
			continue
		}
		v := g / peer[r]
		if !ok {
			lo, hi, ok = v, v, true
		}
		lo, hi = min(lo, v), max(hi, v)
	}
	return lo, hi, ok
}

// costCells formats the median per-message costs, in wsSection's columns;
// "-" where there is nothing to show (counted: the process has perf
// counters).
func costCells(costs []wsCost, counted bool) string {
	if len(costs) == 0 {
		return "-\t-\t-\t-\t-\t-\t"
	}
	med := func(f func(wsCost) float64) float64 {
		v := make([]float64, len(costs))
		for i, c := range costs {
			v[i] = f(c)
		}
		return median(v)
	}
	cpu := fmt.Sprintf("%.1f\t", med(func(c wsCost) float64 { return c.CPU })/1e3)
	gc := fmt.Sprintf("%.1f\t", med(func(c wsCost) float64 { return c.GCRate }))
	if !counted {
		return cpu + "-\t-\t-\t-\t" + gc
	}
	return cpu + fmt.Sprintf("%.2f\t%.2f\t%.2f\t%.3f\t",
		med(func(c wsCost) float64 { return c.Syscalls }), med(func(c wsCost) float64 { return c.Reads }),
		med(func(c wsCost) float64 { return c.Writes }), med(func(c wsCost) float64 { return c.CtxSwitch })) + gc
}

func allocSection(out io.Writer, c config) error {
	counts := map[int]int{64: 5000, 4 << 10: 3000, 1 << 20: 50}
	if c.short {
		counts = map[int]int{64: 500, 4 << 10: 300, 1 << 20: 10}
	}
	fmt.Fprintln(out, "\n== Allocations per echoed message (whole process; the client allocates nothing per message; median of rounds)")
	ts, stop, err := startAll(startWS)
	if err != nil {
		return err
	}
	defer stop()
	type key struct{ srv, size int }
	allocs := map[key][]float64{}
	bytes := map[key][]float64{}
	for range c.rounds {
		for _, size := range sizes {
			for i, t := range ts {
				a, b, err := wsAllocs(t, size, counts[size])
				if err != nil {
					return fmt.Errorf("%s %s: %w", t.name, sizeName(size), err)
				}
				allocs[key{i, size}] = append(allocs[key{i, size}], a)
				bytes[key{i, size}] = append(bytes[key{i, size}], b)
			}
		}
	}
	w := table(out)
	fmt.Fprint(w, "server\t")
	for _, size := range sizes {
		fmt.Fprintf(w, "%s allocs\t%s B\t", sizeName(size), sizeName(size))
	}
	fmt.Fprintln(w)
	for i, t := range ts {
		fmt.Fprintf(w, "%s\t", t.name)
		for _, size := range sizes {
			fmt.Fprintf(w, "%.1f\t%.0f\t", median(allocs[key{i, size}]), median(bytes[key{i, size}]))
		}
		fmt.Fprintln(w)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out, "(glassnet/userspace includes both stacks and the client's socket: both ends of the connection are in this process)")
	return nil
}

func idleSection(out io.Writer, c config) error {
	fmt.Fprintf(out, "\n== Memory per idle WebSocket connection, %d connections (heap in use + stacks after GC, minus before; ratio to gorilla)\n", c.idleN)
	per := make([][]float64, len(serverKinds))
	gor := make([][]float64, len(serverKinds))
	for range c.rounds {
		for i, k := range serverKinds {
			p, g, err := idleMem(k, c.idleN)
			if err != nil {
				return fmt.Errorf("%s: %w", k.name, err)
			}
			per[i] = append(per[i], p)
			gor[i] = append(gor[i], g)
		}
	}
	w := table(out)
	fmt.Fprintln(w, "server\tKB/conn\tx gorilla\tgoroutines/conn\t")
	base := median(per[1])
	for i, k := range serverKinds {
		p := median(per[i])
		fmt.Fprintf(w, "%s\t%.1f\t%s\t%.2f\t\n", k.name, p/1024, ratio(p, base), median(gor[i]))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out, "(kernel rows include the client's *net.TCPConn; glassnet/userspace is the server stack only: the client stack is closed silently first,")
	fmt.Fprintln(out, " but its freed objects leave holes in heap spans it shared with the server, about 4 KB per conn; examples/manyconns -client-process measures without them.")
	fmt.Fprintln(out, " glassnet's servers wait with ws NotifyReadable, which needs no goroutine on the userspace stack and parks one on a kernel socket;")
	fmt.Fprintln(out, " gorilla, coder and gobwas run a goroutine per connection, which is how they are used)")
	return nil
}
