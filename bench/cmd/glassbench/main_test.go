package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
)

// TestMain lets the test binary be the TUN rows' child process and a ws
// section's server process, as the command is: runTUN and startWSProc
// re-execute os.Executable.
func TestMain(m *testing.M) {
	childMain()
	if os.Getenv(envTUNChild) == "1" {
		tunChild()
		return
	}
	if os.Getenv(envWSChild) != "" {
		wsChild()
		return
	}
	os.Exit(m.Run())
}

// TestRunShort runs every section once in short mode so that the command
// cannot rot; it checks that each table is printed, never the numbers.
func TestRunShort(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every measurement once (about 15 s)")
	}
	var out bytes.Buffer
	if err := run([]string{"-short", "-rounds", "1"}, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"kernel loopback", "stalls", "glassnet in-memory pair, MTU 1500, offloads off", "glassnet in-memory pair, MTU 1500, offloads on", "kernel -> TUN -> glassnet", "kernel -> TUN -> relay -> TUN -> kernel",
		"glassnet / best peer", "syscalls/msg", "allocs", "KB/conn", "glassnet/userspace", "round trip, lowest / smoothed", "the client's sockets at the end of their transfers",
		"== Many connections", "== Scale",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestStallSection runs the stalls section with one small transfer per path
// and checks that every path has its row with a count.
func TestStallSection(t *testing.T) {
	if testing.Short() {
		t.Skip("runs transfers over every glassnet path")
	}
	var out bytes.Buffer
	if err := run([]string{"-only", "stalls", "-transfers", "1", "-stall-mib", "1"}, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	want := []string{"transfers", "stalled", "glassnet in-memory pair, MTU 1500, offloads off", "glassnet in-memory pair, MTU 1500, offloads on"}
	if os.Geteuid() == 0 {
		want = append(want, "kernel -> TUN -> glassnet, MTU 1500, offloads off", "kernel -> TUN -> glassnet, MTU 1500, offloads csum")
	}
	for _, want := range want {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestTally checks that a transfer past its deadline counts as a stall and
// any other error as a failure.
func TestTally(t *testing.T) {
	var tl tally
	tl.add(nil)
	first := fmt.Errorf("echo: %w", os.ErrDeadlineExceeded)
	tl.add(first)
	tl.add(fmt.Errorf("dial: %w", context.DeadlineExceeded))
	tl.add(errors.New("connection reset by peer"))
	if tl.Transfers != 4 || tl.Stalls != 2 || tl.Errors != 1 {
		t.Errorf("tally %+v, want 4 transfers, 2 stalls, 1 error", tl)
	}
	if got, want := tl.String(), "2/4 +1 failed"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if tl.First != first.Error() {
		t.Errorf("First = %q, want the first failure", tl.First)
	}
}

// TestRoundRatios: the range is over rounds, glassnet's rate over the
// peer's in the same round, skipping rounds where either failed.
func TestRoundRatios(t *testing.T) {
	nan := math.NaN()
	glassnet := []float64{120, 90, nan, 50, 50}
	peer := []float64{100, 120, 100, 100, nan}
	// Round by round: 120/100, 90/120, glassnet failed, 50/100, peer failed.
	lo, hi, ok := roundRatios(glassnet, peer)
	if !ok || lo != 0.5 || hi != 1.2 {
		t.Errorf("roundRatios = %v, %v, %v; want 0.5, 1.2, true", lo, hi, ok)
	}
	if _, _, ok := roundRatios([]float64{nan, 10}, []float64{10, nan}); ok {
		t.Error("roundRatios found a round where glassnet or the peer failed")
	}
}

// TestWSRowsChosen: -ws-sizes and -ws-conns choose the ws section's rows,
// and a list with something else in it is an error before anything runs.
func TestWSRowsChosen(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"-short", "-rounds", "1", "-only", "ws", "-ws-sizes", "64", "-ws-conns", "1"}, &out); err != nil {
		t.Fatal(err)
	}
	// A row starts with its size and connection count: "64 B 1 glassnet ...".
	rows := map[string]int{}
	for _, line := range strings.Split(out.String(), "\n") {
		f := strings.Fields(line)
		if len(f) > 3 && (f[1] == "B" || f[1] == "KiB" || f[1] == "MiB") {
			rows[strings.Join(f[:3], " ")]++
		}
	}
	if len(rows) != 1 || rows["64 B 1"] != len(serverKinds) {
		t.Errorf("rows by size and connections %v, want the %d servers' 64 B rows over one connection alone:\n%s", rows, len(serverKinds), out.String())
	}
	for _, args := range [][]string{{"-ws-sizes", "64,big"}, {"-ws-conns", "0"}, {"-tun-mtus", "576"}} {
		var out bytes.Buffer
		err := run(append([]string{"-only", "ws"}, args...), &out)
		if err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("run %q: error %v, want one naming %s", args, err, args[0])
		}
		if out.Len() > 0 {
			t.Errorf("run %q printed before failing:\n%s", args, out.String())
		}
	}
}

// TestOnlyUnknownSection: a section name -only does not know is an error
// before anything runs, not a run that silently leaves it out.
func TestOnlyUnknownSection(t *testing.T) {
	var out bytes.Buffer
	err := run([]string{"-only", "tcp,tpc"}, &out)
	if err == nil || !strings.Contains(err.Error(), `no section "tpc"`) {
		t.Fatalf("run -only tcp,tpc: %v, want an error naming the section", err)
	}
	if out.Len() != 0 {
		t.Errorf("printed before the error:\n%s", out.String())
	}
}
