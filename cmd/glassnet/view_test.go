package main

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestUIArgs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"--ui", "--ui"},
		{"--ui --trace x", "--ui --trace x"},
		{"--ui 127.0.0.1:9000 --trace x", "--ui=127.0.0.1:9000 --trace x"},
		{"-ui :9000", "-ui=:9000"},
		{"--ui=127.0.0.1:1", "--ui=127.0.0.1:1"},
		{"--ui trace.jsonl", "--ui trace.jsonl"},
		{"-- --ui 1.2.3.4:5", "-- --ui 1.2.3.4:5"},
	} {
		if got := strings.Join(uiArgs(strings.Fields(tc.in)), " "); got != tc.want {
			t.Errorf("uiArgs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestUIArgsFileWithColon: a FILE after --ui whose name has a colon
// (run:1.jsonl) is the file when it exists and has no port after the
// colon; it was taken for a mistaken ADDR. One that does not exist is
// still an ADDR, which --ui refuses saying why.
func TestUIArgsFileWithColon(t *testing.T) {
	t.Parallel()
	file := t.TempDir() + "/run:1.jsonl"
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ in, want []string }{
		{[]string{"--ui", file}, []string{"--ui", file}},
		{[]string{"--ui", "127.0.0.1:0", file}, []string{"--ui=127.0.0.1:0", file}},
		{[]string{"--ui", file + ".none"}, []string{"--ui=" + file + ".none"}},
	} {
		if got := uiArgs(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("uiArgs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestUIFlagErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"demo", "--ui-run"},
		{"demo", "--step", "--ui"},
		{"view"},
		{"view", "a", "b"},
		{"view", "/nonexistent/trace.jsonl"},
	} {
		var out, errOut strings.Builder
		if err := run(args, &out, &errOut); err == nil {
			t.Errorf("glassnet %v: no error", args)
		}
	}
	var f uiFlag
	for _, v := range []string{"true", "false", "1.2.3.4:5"} {
		f.Set(v)
	}
	if !f.set || f.addr != "1.2.3.4:5" || !slices.Contains([]string{"1.2.3.4:5"}, f.String()) {
		t.Fatalf("uiFlag %+v", f)
	}
}

// TestViewNamesBadFile checks that a file view cannot read is named in
// the error (it said "view: : trace: line 1 ...").
func TestViewNamesBadFile(t *testing.T) {
	t.Parallel()
	bad := t.TempDir() + "/notes.txt"
	if err := os.WriteFile(bad, []byte("not a trace\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut strings.Builder
	err := run([]string{"view", bad}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "view: "+bad+": ") {
		t.Fatalf("glassnet view %s: %v, want an error naming the file", bad, err)
	}
}

// TestOutputWriteErrors checks that a --trace or --calls file the run
// could not write (a full disk: /dev/full) fails the command and names
// the file; the run exited 0 having written nothing.
func TestOutputWriteErrors(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full on this system")
	}
	for _, flag := range []string{"--trace", "--calls"} {
		var out, errOut strings.Builder
		err := run([]string{"demo", flag, "/dev/full"}, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), "/dev/full is incomplete") {
			t.Errorf("glassnet demo %s /dev/full: %v, want an error naming the file", flag, err)
		}
	}
}

// TestViewCutShort: a capture cut short is viewed as far as it goes, with
// a word about the rest, as Wireshark opens one; a file with nothing
// readable is still an error.
func TestViewCutShort(t *testing.T) {
	t.Parallel()
	whole, err := os.ReadFile("../../ui/testdata/ws.pcap")
	if err != nil {
		t.Fatal(err)
	}
	cut := t.TempDir() + "/cut.pcap"
	if err := os.WriteFile(cut, whole[:len(whole)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // serve, say so, and return
	var out, errOut strings.Builder
	if err := view(ctx, []string{"--ui", "127.0.0.1:0", cut}, &out, &errOut); err != nil {
		t.Fatalf("view of a capture cut short: %v", err)
	}
	if msg := errOut.String(); !strings.Contains(msg, "glassnet: view: "+cut+": trace: pcap: packet") || !strings.Contains(msg, "events read") || !strings.Contains(msg, "glassnet: ui at ") {
		t.Errorf("view of a capture cut short said %q", msg)
	}
}

// TestSameListenAddr: two listeners clash on the same port of one host,
// or of every host; port 0 never clashes.
func TestSameListenAddr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"127.0.0.1:8999", "127.0.0.1:8999", true},
		{":8999", "127.0.0.1:8999", true},
		{"[::]:8999", "127.0.0.1:8999", true},
		{"0.0.0.0:8999", "[::1]:8999", true},
		{"127.0.0.2:8999", "127.0.0.1:8999", false},
		{"127.0.0.1:8998", "127.0.0.1:8999", false},
		{"127.0.0.1:0", "127.0.0.1:0", false},
		{"bad", "127.0.0.1:8999", false},
	} {
		if got := sameListenAddr(tc.a, tc.b); got != tc.want {
			t.Errorf("sameListenAddr(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
