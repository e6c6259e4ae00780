package main

import (
	"fmt"
	"io"
	"strings"
)

// tunResult is what the child process in its own network namespace reports
// for one MTU with offloads on or off. Offloads names the offloads the TUN
// agreed with the kernel ("off" without).
type tunResult struct {
	MTU      int
	Queues   int
	Offloads string
	CC       string // the congestion control the kernel's sockets used
	Rows     []tunRow
	Err      string
	PerfErr  string // why there are no system call counts, if there are none
}

// tunRow is one kind of transfer through the TUN with its kernel loopback
// baseline: KernelEcho and KernelDiscard are measured in the same
// namespace, between the TUN transfers of each round, with the same kind
// of server, so that the ratio compares runs made under the same load.
type tunRow struct {
	Name                             string // "IPv4", "IPv6", "IPv4, io.Copy servers"
	Relay                            bool   // the relay's row (relay_linux.go): Echo and Discard are the relay's
	Echo, Discard                    []float64
	KernelEcho, KernelDiscard        []float64
	Tally                            tally // the glassnet transfers (echo and discard)
	TUNEchoPerMB, TUNDiscPerMB       []perMB
	KernelEchoPerMB, KernelDiscPerMB []perMB
	// What the kernel client's socket reported at the end of each
	// transfer, through the TUN and on loopback.
	TUNEchoTCP, TUNDiscTCP       []senderInfo
	KernelEchoTCP, KernelDiscTCP []senderInfo
}

// perMB is the cost of one transfer per MB (10^6 bytes) the client sent:
// system calls and context switches of the whole child process (the
// client, the server, and for the TUN the stack), from perf counters.
type perMB struct {
	Syscalls, CtxSwitches float64
}

func medianPerMB(v []perMB) (sys, ctx float64) {
	s := make([]float64, len(v))
	c := make([]float64, len(v))
	for i, p := range v {
		s[i], c[i] = p.Syscalls, p.CtxSwitches
	}
	return median(s), median(c)
}

// tunRowName is a TUN row's name in the tables.
func tunRowName(r tunResult, row tunRow) string {
	q := ""
	if r.Queues > 1 {
		q = fmt.Sprintf(", %d queues", r.Queues)
	}
	path := "kernel -> TUN -> glassnet"
	if row.Relay {
		path, q = "kernel -> TUN -> relay -> TUN -> kernel", ""
	}
	return fmt.Sprintf("%s, MTU %d%s, offloads %s, %s", path, r.MTU, q, r.Offloads, row.Name)
}

// tunSection prints the TUN rows: each kind of transfer through the TUN
// side by side with kernel loopback in the same namespace, with the
// system calls and context switches per MB of each.
func tunSection(out io.Writer, c config) error {
	fmt.Fprintf(out, "\n== TCP through a TUN (kernel client -> TUN -> glassnet) beside kernel loopback in the same namespace, %d MiB per transfer, MB/s, medians of %d rounds\n", c.tcpBytes>>20, c.rounds)
	res, why := runTUN(c.tunMTUs, c.tunQueues, c.rounds, c.tcpBytes, c.tunCC)
	if why != "" {
		fmt.Fprintln(out, "kernel -> TUN -> glassnet:", why)
		return nil
	}
	if len(res) > 0 {
		how := "the host's default"
		if c.tunCC != "" {
			how = "-tun-cc"
		}
		fmt.Fprintf(out, "(the kernel's TCP sockets, the client's and loopback's, use congestion control %s: %s)\n", res[0].CC, how)
	}
	w := table(out)
	fmt.Fprintln(w, "path\techo\tkernel\tx kernel\tdiscard\tkernel\tx kernel\tstalls\tsyscalls/MB echo\tdiscard\tctx sw/MB echo\tdiscard\t")
	var notes []string
	for _, r := range res {
		if r.Err != "" {
			notes = append(notes, fmt.Sprintf("MTU %d, offloads %s: %s", r.MTU, r.Offloads, r.Err))
		}
		if r.PerfErr != "" {
			notes = append(notes, fmt.Sprintf("MTU %d, offloads %s: no system call counts: %s", r.MTU, r.Offloads, r.PerfErr))
		}
		for _, row := range r.Rows {
			e, ke, d, kd := median(row.Echo), median(row.KernelEcho), median(row.Discard), median(row.KernelDiscard)
			tse, tce := medianPerMB(row.TUNEchoPerMB)
			tsd, tcd := medianPerMB(row.TUNDiscPerMB)
			kse, kce := medianPerMB(row.KernelEchoPerMB)
			ksd, kcd := medianPerMB(row.KernelDiscPerMB)
			fmt.Fprintf(w, "%s\t%.0f\t%.0f\t%s\t%.0f\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t\n", tunRowName(r, row),
				e/1e6, ke/1e6, ratio(e, ke), d/1e6, kd/1e6, ratio(d, kd), row.Tally,
				perMBPair(tse, kse, len(row.TUNEchoPerMB)), perMBPair(tsd, ksd, len(row.TUNDiscPerMB)),
				perMBPair(tce, kce, len(row.TUNEchoPerMB)), perMBPair(tcd, kcd, len(row.TUNDiscPerMB)))
			if row.Tally.First != "" {
				notes = append(notes, tunRowName(r, row)+": "+row.Tally.First)
			}
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintln(out, "note:", n)
	}
	if err := senderTable(out, res); err != nil {
		return err
	}
	fmt.Fprintln(out, "(echo and discard: glassnet MB/s, then kernel loopback's, measured between them round by round, and the ratio.")
	fmt.Fprintln(out, " Rows IPv4 and IPv6: every server, glassnet's and the kernel's (127.0.0.1, ::1), runs the same 256 KiB read/write loop.")
	fmt.Fprintln(out, " Row io.Copy servers: each server is io.Copy(conn, conn) for echo and io.Copy(io.Discard, conn) for discard, as serve's are;")
	fmt.Fprintln(out, " between two kernel sockets io.Copy splices (no copy through user memory), and over glassnet's sockets it moves gVisor's")
	fmt.Fprintln(out, " buffers by reference (sockets.Conn WriteTo), so that row compares the two zero-copy paths.")
	fmt.Fprintln(out, " Row TUN -> relay -> TUN: no glassnet. A relay copies each packet, with its offload metadata, from the TUN into a second")
	fmt.Fprintln(out, " TUN in a namespace of its own, where the kernel's TCP runs the same 256 KiB loop: what the device costs the kernel's own")
	fmt.Fprintln(out, " TCP here, under the same congestion control. Its packets cross two TUNs and glassnet's one; it bounds nothing.")
	fmt.Fprintln(out, " syscalls/MB and ctx sw/MB: glassnet / kernel loopback, system calls and context switches of the whole measuring process")
	fmt.Fprintln(out, " (the client and the server, and for the TUN the stack) per MB the client sent, from perf counters; - when not counted)")
	return nil
}

// senderTable prints, for each TUN row, what the kernel client's socket
// reported at the end of its transfers, beside loopback's: where BBR
// paces the client, its window follows the lowest round trip it saw, and a
// smoothed round trip far above that lowest one holds less in flight.
func senderTable(out io.Writer, res []tunResult) error {
	reported := false
	for _, r := range res {
		for _, row := range r.Rows {
			reported = reported || spreadOf(row.TUNEchoTCP).N+spreadOf(row.TUNDiscTCP).N > 0
		}
	}
	if !reported {
		return nil
	}
	fmt.Fprintln(out, "the kernel client's socket at the end of each transfer (TCP_INFO), medians: round trip, lowest / smoothed, and the share of its")
	fmt.Fprintln(out, "busy time (data in flight) that the receiver's window held it")
	w := table(out)
	fmt.Fprintln(w, "path\techo\tloopback echo\tdiscard\tloopback discard\t")
	for _, r := range res {
		for _, row := range r.Rows {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t\n", tunRowName(r, row), spreadOf(row.TUNEchoTCP).windowString(),
				spreadOf(row.KernelEchoTCP).windowString(), spreadOf(row.TUNDiscTCP).windowString(), spreadOf(row.KernelDiscTCP).windowString())
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out, "(BBR, where it is the congestion control, keeps about twice the lowest round trip's worth of data in flight, plus what")
	fmt.Fprintln(out, " it has seen ACKs deliver at once; where the smoothed round trip is many times the lowest, it can keep less than the path holds)")
	return nil
}

// perMBPair formats a glassnet / kernel pair of per-MB counts.
func perMBPair(g, k float64, n int) string {
	if n == 0 {
		return "-"
	}
	return strings.TrimSpace(fmt.Sprintf("%.0f / %.0f", g, k))
}
