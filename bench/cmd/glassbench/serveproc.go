package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The serve section measures the program a user runs: `glassnet serve
// --tun`, built from this checkout, in a process of its own, with its
// TCP echo (port 7) and discard (port 9). Beside it, in the same network
// namespace and in processes of their own, the kernel's servers on
// 127.0.0.1: the 256 KiB read/write loop of the TUN rows and io.Copy, the
// way serve's own are written. The client is a third process (the
// namespace child) and the same for all; the rows alternate transfer by
// transfer.

// envGlassnet names a glassnet binary for the serve section instead of
// one built from this checkout.
const envGlassnet = "GLASSBENCH_GLASSNET"

// serveParams is the serve section's measurement, passed to the namespace
// child.
type serveParams struct {
	Binary string // the glassnet executable
	Rounds int    // transfers per row and kind
	Total  int64  // bytes per transfer
	CC     string // -tun-cc: the client's and the kernel servers' sockets' ("" the host's default)
}

// serveRow is one server's transfers: rates in MB/s, and the server
// process's CPU time over them with the bytes they moved.
type serveRow struct {
	Name             string
	Echo, Discard    []float64
	EchoCPU, DiscCPU time.Duration
	EchoN, DiscN     int64 // bytes moved in the measured transfers
	// EchoSys and DiscSys are the server's system calls and context
	// switches over them; SysErr says why they were not counted.
	EchoSys, DiscSys perfCounts
	SysErr           string
	Failed           int
	FirstErr         string
}

// serveRows are the servers, the first glassnet serve; ratios are to the
// others. The last has no glassnet: the kernel's loop servers, each
// behind a relay process of its own (relay_linux.go), which the client
// reaches through a TUN as it reaches serve.
var serveRows = []string{"glassnet serve, TUN", "kernel, 256 KiB loop", "kernel, io.Copy", "kernel behind TUN -> relay -> TUN, 256 KiB loop"}

func serveSection(out io.Writer, c config) error {
	p := serveParams{Rounds: c.rounds, Total: c.tcpBytes, CC: c.tunCC}
	fmt.Fprintf(out, "\n== glassnet serve in a process of its own: kernel client -> TUN -> serve's TCP echo and discard, beside the kernel's servers on 127.0.0.1, %d MiB per transfer, MB/s, medians of %d\n", p.Total>>20, p.Rounds)
	bin, cleanup, why := glassnetBinary()
	if why != "" {
		fmt.Fprintln(out, "serve:", why)
		return nil
	}
	defer cleanup()
	p.Binary = bin
	var rows []serveRow
	if why := runNSChild("serve", p, &rows); why != "" {
		fmt.Fprintln(out, "serve:", why)
		if strings.HasPrefix(why, "failed") {
			return fmt.Errorf("%s", why)
		}
		return nil
	}
	return printServe(out, p, rows)
}

// glassnetBinary returns the glassnet executable to measure: envGlassnet's,
// or one built from this checkout with the go command (in a temporary
// directory that cleanup removes). It returns a reason instead when there
// is none.
func glassnetBinary() (path string, cleanup func(), why string) {
	if p := os.Getenv(envGlassnet); p != "" {
		return p, func() {}, ""
	}
	gocmd, err := exec.LookPath("go")
	if err != nil {
		return "", nil, "skipped: no go command to build glassnet with (or set " + envGlassnet + ")"
	}
	dir, err := os.MkdirTemp("", "glassbench-serve")
	if err != nil {
		return "", nil, "skipped: " + err.Error()
	}
	bin := filepath.Join(dir, "glassnet")
	cmd := exec.Command(gocmd, "build", "-o", bin, "github.com/glassnet/glassnet/cmd/glassnet")
	if b, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Sprintf("skipped: building glassnet: %v: %s (run from bench/, or set %s)", err, strings.TrimSpace(string(b)), envGlassnet)
	}
	return bin, func() { os.RemoveAll(dir) }, ""
}

// printServe writes the section's table: each server's median rates with
// their ratios, and its process's CPU per GB.
func printServe(out io.Writer, p serveParams, rows []serveRow) error {
	if len(rows) != len(serveRows) {
		return fmt.Errorf("serve: %d rows from the child, want %d", len(rows), len(serveRows))
	}
	e, d := median(rows[0].Echo), median(rows[0].Discard)
	w := table(out)
	fmt.Fprintln(w, "server\techo MB/s\tserve x\tdiscard MB/s\tserve x\tserver CPU s/GB echo\tdiscard\tserver syscalls/MB echo\tdiscard\tctx sw/MB echo\tdiscard\tfailed\t")
	var notes []string
	for _, r := range rows {
		re, rd := median(r.Echo), median(r.Discard)
		xe, xd := "", ""
		if r.Name != rows[0].Name {
			xe, xd = ratio(e, re), ratio(d, rd)
		}
		fmt.Fprintf(w, "%s\t%.0f\t%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", r.Name, re, xe, rd, xd,
			gbCPU(r.EchoCPU, r.EchoN), gbCPU(r.DiscCPU, r.DiscN),
			mbCount(r.EchoSys.Syscalls, r.EchoN, r.SysErr), mbCount(r.DiscSys.Syscalls, r.DiscN, r.SysErr),
			mbCount(r.EchoSys.CtxSwitches, r.EchoN, r.SysErr), mbCount(r.DiscSys.CtxSwitches, r.DiscN, r.SysErr), r.Failed)
		if r.SysErr != "" && r.Name == rows[0].Name {
			notes = append(notes, "system calls not counted: "+r.SysErr)
		}
		if r.FirstErr != "" {
			notes = append(notes, r.Name+": first failure: "+r.FirstErr)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintln(out, "note:", n)
	}
	cc := "the host's congestion control"
	if p.CC != "" {
		cc = p.CC + " (-tun-cc)"
	}
	fmt.Fprintln(out, "(serve x: glassnet serve's median over that server's; the kernel's sockets use "+cc+".")
	fmt.Fprintln(out, " serve's echo is io.Copy(conn, conn) and its discard io.Copy(io.Discard, conn) over glassnet's sockets; between two kernel")
	fmt.Fprintln(out, " sockets io.Copy splices, and io.Discard reads 8 KiB at a time. A transfer ends when the client has its echo back,")
	fmt.Fprintln(out, " or for discard when the server closes after the client's FIN. Server CPU is that process's user+system time")
	fmt.Fprintln(out, " over its transfers, with its system calls and context switches (perf events) per MB the client sent; the kernel work")
	fmt.Fprintln(out, " a system call does is charged to the caller: serve's TUN writes run the client's TCP input, and on loopback the client's")
	fmt.Fprintln(out, " writes run the kernel servers' input. The relay row has no glassnet: the kernel's loop servers, each behind a")
	fmt.Fprintln(out, " relay process that copies packets between a TUN here and a TUN in a namespace of its own; their CPU and system calls")
	fmt.Fprintln(out, " are the relay processes', with the kernel work of the servers' TCP, which the relays' TUN writes run)")
	return nil
}

// mbCount is count per MB of n bytes; "-" when not counted (why is not
// empty).
func mbCount(count uint64, n int64, why string) string {
	if why != "" || n <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(count)/(float64(n)/1e6))
}

// gbCPU is cpu per GB of n bytes, in seconds.
func gbCPU(cpu time.Duration, n int64) string {
	if n <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", cpu.Seconds()/(float64(n)/1e9))
}
