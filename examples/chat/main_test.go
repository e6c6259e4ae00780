package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	lines := strings.Split(out.String(), "\n")
	count := func(line string) int {
		n := 0
		for _, l := range lines {
			if l == line {
				n++
			}
		}
		return n
	}
	for _, tc := range []struct {
		line string
		n    int
	}{
		{"  [alice] * alice joined", 1},
		{"  [carol] * carol joined", 1},
		{"  [bob] alice: hi everyone", 1},
		{"  [carol] bob: gotta go, bye", 1},
		{"  [alice] * bob left", 1},
		{"  [carol] * alice left", 1},
		{"  [bob] * alice left", 0}, // bob had left already
		{"everyone saw the whole conversation", 1},
	} {
		if got := count(tc.line); got != tc.n {
			t.Errorf("%q appears %d times, want %d", tc.line, got, tc.n)
		}
	}
	// Every scripted line reaches all three clients.
	for _, s := range script {
		for _, who := range []string{"alice", "bob", "carol"} {
			if line := "  [" + who + "] " + s.who + ": " + s.says; count(line) != 1 {
				t.Errorf("missing %q", line)
			}
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out.String())
	}
}

func TestServeTUNRejectsBadAddr(t *testing.T) {
	for _, addr := range []string{"10.200.0.2", "10.200.0.2/32"} {
		if err := serveTUN(context.Background(), &bytes.Buffer{}, "glasschat0", addr, 8080); err == nil {
			t.Errorf("serveTUN with --addr %s succeeded", addr)
		}
	}
}
