package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// The scale section: what glassnet costs as the work grows, against the
// kernel with the same client and the same server program, in one
// namespace:
//
//   - bulk TCP echo over 1, 10, 100 and 1,000 connections at once, the
//     same total bytes split evenly across them: throughput and CPU time
//     per GB, kernel loopback against kernel client -> TUN -> glassnet;
//   - new WebSocket connections per second (TCP connect, accept, the
//     opening handshake, close): through the TUN to glassnet's ws against
//     glassnet's ws and gorilla on kernel loopback.

type scaleParams struct {
	Total       int64 // bytes per bulk measurement, split across its connections
	ConnCounts  []int
	Rounds      int
	ConnDur     time.Duration // per connection-rate measurement
	ConnWorkers int           // connections being opened at once
}

type scaleResult struct {
	Bulk    []bulkRow
	Connect []connRow
}

// bulkRow is one path at one connection count, over every round.
type bulkRow struct {
	Path  string
	Conns int
	Rates []float64 // bytes per second echoed, per round
	Bytes int64     // bytes echoed in all rounds
	// cost over the transfers of every round; CPU per GB is
	// (Server.CPU + Client.CPU) / Bytes.
	cost
	// Tally counts the transfers (one per connection per round); a
	// stalled or failed one echoed less than its share.
	Tally tally
	Note  string
	// RTT sums up what the client's sockets reported at the end of their
	// transfers: reports, every round's, which stay in the child.
	RTT     rttSpread
	reports []senderInfo
}

// connRow is one server's connection rate over every round.
type connRow struct {
	Name  string
	Rates []float64 // connections per second, per round
	Conns int64     // connections opened, upgraded and closed in all rounds
	cost
	// Tally counts every attempt; a stalled or failed one opened no
	// connection.
	Tally tally
	Note  string
}

// Paths and rows of the scale section.
const (
	bulkKernel = "kernel loopback"
	bulkTUN    = "kernel -> TUN -> glassnet"
	bulkRelay  = "kernel -> TUN -> relay -> TUN -> kernel"

	connTUN      = "kernel -> TUN -> glassnet ws"
	connKernel   = "glassnet ws, kernel loopback"
	connGorilla  = "gorilla, kernel loopback"
	connBaseline = connKernel
)

// envScaleConns replaces the bulk rows' connection counts (for example
// "1000" to profile that row alone).
const envScaleConns = "GLASSBENCH_SCALE_CONNS"

func scaleParamsFor(c config) (scaleParams, error) {
	p := scaleParams{Total: 256 << 20, ConnCounts: []int{1, 10, 100, 1000}, Rounds: c.rounds, ConnDur: 2 * time.Second, ConnWorkers: 16}
	if c.short {
		p.Total, p.ConnDur = 64<<20, 500*time.Millisecond
	}
	if v := os.Getenv(envScaleConns); v != "" {
		p.ConnCounts = nil
		for f := range strings.SplitSeq(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				return p, fmt.Errorf("%s=%q: want connection counts of at least 1, comma-separated", envScaleConns, v)
			}
			p.ConnCounts = append(p.ConnCounts, n)
		}
	}
	return p, nil
}

func scaleSection(out io.Writer, c config) error {
	p, err := scaleParamsFor(c)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\n== Scale: bulk TCP echo, %d MiB per measurement split evenly across 1 to %d connections; then new WebSocket connections per second (rows alternating, medians)\n",
		p.Total>>20, p.ConnCounts[len(p.ConnCounts)-1])
	var res scaleResult
	if why := runNSChild("scale", p, &res); why != "" {
		fmt.Fprintln(out, "scale:", why)
		if strings.HasPrefix(why, "failed") {
			return fmt.Errorf("%s", why)
		}
		return nil
	}
	return printScale(out, p, res)
}

func printScale(out io.Writer, p scaleParams, res scaleResult) error {
	kernel := map[int]bulkRow{}
	for _, r := range res.Bulk {
		if r.Path == bulkKernel {
			kernel[r.Conns] = r
		}
	}
	w := table(out)
	fmt.Fprintln(w, "conns\tpath\tMB/s\tx kernel\tCPU s/GB\tx kernel\tserver s/GB\tclient s/GB\tserver syscalls/MB\tretransmits\tRTOs\tTLPs\tqueue drops\tlink drops\tstalled/transfers\t")
	var notes []string
	for _, r := range res.Bulk {
		k := kernel[r.Conns]
		m := median(r.Rates)
		cpu, kcpu := cpuPerGB(r), cpuPerGB(k)
		rt := r.Retrans
		fmt.Fprintf(w, "%d\t%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t\n", r.Conns, r.Path, m/1e6, ratio(m, median(k.Rates)),
			secs(cpu), ratio(kcpu, cpu), secs(perGB(r.Server.CPU, r.Bytes)), secs(perGB(r.Client.CPU, r.Bytes)),
			sysPerMB(r.Server, r.Bytes), rt, gk(rt.RTO, rt.KernelRTO), gk(rt.TLP, rt.KernelTLP), rt.QueueDrops, rt.LinkDrops, r.Tally)
		if r.Note != "" {
			notes = append(notes, fmt.Sprintf("%s, %d conns: %s", r.Path, r.Conns, r.Note))
		}
		if r.Tally.First != "" {
			notes = append(notes, fmt.Sprintf("%s, %d conns: first failure: %s", r.Path, r.Conns, r.Tally.First))
		}
		if n := r.Retrans.note(); n != "" {
			notes = append(notes, fmt.Sprintf("%s, %d conns: %s", r.Path, r.Conns, n))
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintln(out, "note:", n)
	}
	fmt.Fprintln(out, "(every server runs serveTCP's 256 KiB read/write loop in a process of its own; the client is one process for every path;")
	fmt.Fprintln(out, " the relay rows have no glassnet: one process copies each packet from the TUN into a second TUN in a namespace of its own,")
	fmt.Fprintln(out, " where the kernel's TCP serves; that process's CPU is the relay's and the server's, with the kernel work its TUN writes run;")
	fmt.Fprintln(out, " GB is 1e9 bytes echoed; CPU is user+system time of the server and client processes during the transfers;")
	fmt.Fprintln(out, " the CPU ratio is the kernel's CPU per GB over this row's: above 1.00x costs less than the kernel;")
	fmt.Fprintln(out, " retransmits, RTOs (retransmission timeouts) and TLPs (tail loss probes that retransmitted): glassnet's stack / the kernel")
	fmt.Fprintln(out, " (the client's side, or both sides on loopback); queue drops: segments gVisor dropped in a TCP endpoint's full queue;")
	fmt.Fprintln(out, " link drops: packets the namespace's interfaces dropped, most often the TUN's queue to the stack full)")
	fmt.Fprintln(out, "the client's sockets at the end of their transfers (TCP_INFO), over every connection and round: round trip, the medians")
	fmt.Fprintln(out, "of the lowest and of the smoothed, and the 99th percentile of the smoothed")
	w = table(out)
	fmt.Fprintln(w, "conns\tpath\tround trip\t")
	for _, r := range res.Bulk {
		fmt.Fprintf(w, "%d\t%s\t%s\t\n", r.Conns, r.Path, r.RTT)
	}
	if err := w.Flush(); err != nil {
		return err
	}

	if err := printLink(out, res.Bulk); err != nil {
		return err
	}

	fmt.Fprintf(out, "\nnew WebSocket connections per second, %d opened at once, %v per measurement: TCP connect, accept, opening handshake, close (ratio to %s)\n",
		p.ConnWorkers, p.ConnDur, connBaseline)
	var base, gor float64
	for _, r := range res.Connect {
		switch r.Name {
		case connBaseline:
			base = median(r.Rates)
		case connGorilla:
			gor = median(r.Rates)
		}
	}
	w = table(out)
	fmt.Fprintln(w, "path\tconn/s\tx glassnet loopback\tx gorilla\tserver CPU/conn\tclient CPU/conn\tclient share\tserver syscalls/conn\tretransmits\tstalled/attempts\t")
	notes = nil
	for _, r := range res.Connect {
		m := median(r.Rates)
		fmt.Fprintf(w, "%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Name, m, ratio(m, base), ratio(m, gor),
			cpuPer(r.Server.CPU, float64(r.Conns), "µs", 1e3), cpuPer(r.Client.CPU, float64(r.Conns), "µs", 1e3), share(r.Client.CPU, r.Server.CPU),
			sysPer(r.Server, float64(r.Conns)), r.Retrans, r.Tally)
		if r.Note != "" {
			notes = append(notes, r.Name+": "+r.Note)
		}
		if r.Tally.First != "" {
			notes = append(notes, r.Name+": first failure: "+r.Tally.First)
		}
		if n := r.Retrans.note(); n != "" {
			notes = append(notes, r.Name+": "+n)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintln(out, "note:", n)
	}
	fmt.Fprintln(out, "(the client closes first, after the 101, and the server reads end of stream; the namespace reuses the client's TIME_WAIT ports)")
	return nil
}

// cpuPerGB is a bulk row's CPU time, server and client, per GB echoed, in
// seconds; 0 without bytes.
func cpuPerGB(r bulkRow) float64 { return perGB(r.Server.CPU+r.Client.CPU, r.Bytes) }

func perGB(cpu time.Duration, bytes int64) float64 {
	if bytes <= 0 {
		return 0
	}
	return cpu.Seconds() / (float64(bytes) / 1e9)
}

func secs(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

func sysPerMB(u usage, bytes int64) string { return sysPer(u, float64(bytes)/1e6) }

// sysPer is u's system calls per unit of work, "-" when they were not
// counted.
func sysPer(u usage, n float64) string {
	if u.SysErr != "" || u.Sys.Syscalls == 0 || n <= 0 {
		return "-"
	}
	return perUnit(float64(u.Sys.Syscalls), n)
}

// mssSegsPerGB is how many full segments a GB of data takes at MSS 1448
// (MTU 1500 with timestamps).
const mssSegsPerGB = 1e9 / 1448

// printLink prints the packets per GB echoed of every bulk row but
// loopback's: what glassnet's device moved each way (packets, TCP
// super-packets among them, the MSS segments per super-packet and the
// bytes per packet), the pure ACKs the kernel client received, an
// estimate of the ACKs it sent (its segments sent beyond the full ones a
// GB of data takes), the device writes and the server's system calls
// and context switches.
func printLink(out io.Writer, rows []bulkRow) error {
	fmt.Fprintln(out, "per GB echoed: packets read by the stack from its device (super-packets, segments each, bytes each), written by it to its device")
	fmt.Fprintln(out, "(the same), pure ACKs the kernel client received, ACKs it sent (est.: its segments sent beyond 1e9/1448), device writes, server")
	fmt.Fprintln(out, "system calls and context switches")
	w := table(out)
	fmt.Fprintln(w, "conns\tpath\tpkts in\tsuper in\tsegs/super\tB/pkt in\tpkts out\tsuper out\tsegs/super\tB/pkt out\tACKs to kernel\tACKs from kernel\twrites\tsyscalls\tctx switches\t")
	for _, r := range rows {
		if r.Path == bulkKernel || r.Bytes <= 0 {
			continue
		}
		l, gb := r.Link, float64(r.Bytes)/1e9
		per := func(v uint64) string { return fmt.Sprintf("%.0f", float64(v)/gb) }
		div := func(a, b uint64) string {
			if b == 0 {
				return "-"
			}
			return fmt.Sprintf("%.1f", float64(a)/float64(b))
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%s\t%s\t%s\t\n", r.Conns, r.Path,
			per(l.PacketsIn), per(l.GSOIn), div(l.GSOSegsIn, l.GSOIn), div(l.BytesIn, l.PacketsIn),
			per(l.PacketsOut), per(l.GSOOut), div(l.GSOSegsOut, l.GSOOut), div(l.BytesOut, l.PacketsOut),
			per(l.KernelAcks), max(float64(l.KernelOutSegs)/gb-mssSegsPerGB, 0), per(l.Writes),
			per(r.Server.Sys.Syscalls), per(r.Server.Sys.CtxSwitches))
	}
	return w.Flush()
}
