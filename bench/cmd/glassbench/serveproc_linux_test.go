package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestServeChild runs the serve section's namespace child with small
// transfers: glassnet serve, built from this checkout, starts on a TUN in
// the namespace, every server echoes and discards, and each process's CPU
// time is counted.
func TestServeChild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds glassnet")
	}
	bin, cleanup, why := glassnetBinary()
	if why != "" {
		t.Fatal(why)
	}
	defer cleanup()
	p := serveParams{Binary: bin, Rounds: 2, Total: 32 << 20}
	var rows []serveRow
	requireNS(t, runNSChild("serve", p, &rows))
	if len(rows) != len(serveRows) {
		t.Fatalf("%d rows, want %d", len(rows), len(serveRows))
	}
	for i, r := range rows {
		if r.Name != serveRows[i] || r.Failed != 0 || r.FirstErr != "" {
			t.Errorf("row %d: %q, %d failed, first failure %q", i, r.Name, r.Failed, r.FirstErr)
		}
		if len(r.Echo) != 2 || len(r.Discard) != 2 || r.EchoN != 64<<20 || r.DiscN != 64<<20 {
			t.Errorf("%s: %d echo and %d discard transfers, %d and %d bytes; want 2 each of 32 MiB", r.Name, len(r.Echo), len(r.Discard), r.EchoN, r.DiscN)
		}
		for _, v := range append(r.Echo, r.Discard...) {
			if v <= 0 {
				t.Errorf("%s: rate %v", r.Name, v)
			}
		}
	}
	// Each server's own system calls: serve reads and writes the TUN for
	// every packet, 64 KiB at the most, both ways for echo.
	for _, r := range rows {
		if r.SysErr != "" {
			t.Fatalf("%s: system calls not counted: %s", r.Name, r.SysErr)
		}
	}
	if perMB := float64(rows[0].EchoSys.Syscalls) / (float64(rows[0].EchoN) / 1e6); perMB < 2*15 {
		t.Errorf("serve made %.1f system calls per MB of echo; want at least 30 (a TUN read and a write per 64 KiB)", perMB)
	}
	// serve's echo moves every byte through its own process, twice: 64 MiB
	// take tens of milliseconds, several of /proc's 10 ms ticks.
	if rows[0].EchoCPU <= 0 {
		t.Errorf("serve's CPU over its echo transfers: %v; want it counted", rows[0].EchoCPU)
	}
	var out strings.Builder
	if err := printServe(&out, p, rows); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "glassnet serve, TUN") || !strings.Contains(out.String(), "kernel, io.Copy") {
		t.Errorf("table:\n%s", out.String())
	}
}

// TestProcCPU reads this process's CPU time from /proc while it spends
// 200 ms of CPU by getrusage's count: /proc's grows by as much, give or
// take its 10 ms ticks (a wrong unit would be off tenfold).
func TestProcCPU(t *testing.T) {
	start, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for ru := selfCPU(); selfCPU()-ru < 200*time.Millisecond; {
	}
	got, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if d := got - start; d < 150*time.Millisecond || d > 600*time.Millisecond {
		t.Errorf("/proc's CPU time grew by %v while getrusage counted 200 ms", d)
	}
}
