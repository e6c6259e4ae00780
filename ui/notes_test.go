package ui_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/app"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/ui"
)

// TestTCPNotesAsTshark: the breakpoint "analysis NOTE" stops at the
// packets tshark marks with that note in the same run's capture, stack by
// stack: the demo writes its trace and its pcapng, tshark reads each
// stack's interface as a capture of its own, and every packet's notes
// from tshark's Info column must be those whose breakpoints match it.
func TestTCPNotesAsTshark(t *testing.T) {
	t.Parallel()
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("GLASSNET_REQUIRE_PRIVILEGED") != "" {
			t.Fatal("tshark is not installed (apt-get install tshark)")
		}
		t.Skip("tshark is not installed")
	}
	kinds := map[string]string{ // Wireshark's words -> the breakpoint's name
		"TCP Retransmission": "retransmission", "TCP Fast Retransmission": "fast-retransmission",
		"TCP Spurious Retransmission": "spurious-retransmission", "TCP Out-Of-Order": "out-of-order",
		"TCP Previous segment not captured": "lost-segment", "TCP ACKed unseen segment": "ack-lost-segment",
		"TCP Window Update": "window-update", "TCP Window Full": "window-full", "TCP ZeroWindow": "zero-window",
		"TCP ZeroWindowProbe": "zero-window-probe", "TCP ZeroWindowProbeAck": "zero-window-probe-ack",
		"TCP Keep-Alive": "keep-alive", "TCP Keep-Alive ACK": "keep-alive-ack", "TCP Dup ACK": "dup-ack",
	}
	bps := map[string]*ui.Breakpoint{}
	for _, name := range kinds {
		b, err := ui.ParseBreakpoint("analysis " + name)
		if err != nil {
			t.Fatal(err)
		}
		bps[name] = b
	}
	var mu sync.Mutex
	seen := map[string]int{}
	t.Run("runs", func(t *testing.T) {
		for _, rules := range []app.Rules{
			{Egress: []string{"tcp and len > 60 : loss 30%"}},
			{Ingress: []string{"tcp and len > 60 : loss 40% seed 3"}},
			{Egress: []string{"duplicate 30%"}},
			{Egress: []string{"reorder 40% gap 5ms"}, Ingress: []string{"duplicate 20%"}},
			{Egress: []string{"tcp and len < 60 and not syn : window 0"}},
		} {
			t.Run(fmt.Sprint(rules), func(t *testing.T) {
				t.Parallel()
				var tr, png bytes.Buffer
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				err := app.Demo(ctx, app.DemoOptions{Out: io.Discard, Trace: &tr, PCAPNG: &png, Rules: rules})
				cancel()
				if err != nil {
					t.Fatalf("demo: %v", err)
				}
				file := filepath.Join(t.TempDir(), "demo.pcapng")
				if err := os.WriteFile(file, png.Bytes(), 0o600); err != nil {
					t.Fatal(err)
				}
				want := tsharkNotes(t, tshark, file)
				evs, err := trace.ReadJSONL(&tr)
				if err != nil {
					t.Fatal(err)
				}
				track := ui.NewTracker()
				for i := range evs {
					e := &evs[i]
					track.Note(e)
					if e.Layer != trace.LayerLink || e.Name != "packet" {
						continue
					}
					var got []string
					for _, name := range kinds {
						if bps[name].Match(track, e) {
							got = append(got, name)
						}
					}
					var w []string
					for _, n := range want[e.ID] {
						w = append(w, kinds[n])
						mu.Lock()
						seen[n]++
						mu.Unlock()
					}
					slices.Sort(got)
					slices.Sort(w)
					if !slices.Equal(got, w) {
						t.Errorf("packet #%d (%s): the breakpoints matched %q, tshark's notes are %q", e.ID, e.Node, got, w)
					}
				}
			})
		}
	})
	t.Logf("notes compared: %v", seen)
	for _, n := range []string{"TCP Retransmission", "TCP Dup ACK", "TCP Previous segment not captured", "TCP ZeroWindow"} {
		if seen[n] == 0 {
			t.Errorf("no run gave a %q note: the comparison does not cover it", n)
		}
	}
	if b, err := ui.ParseBreakpoint("tcp.analysis.flags"); err != nil || b.String() != "tcp.analysis.flags" {
		t.Errorf("tcp.analysis.flags: %v", err)
	}
}

// tsharkNotes returns tshark's notes for each packet id of the demo's
// pcapng (its comment's "packet #N"), each stack's interface read as a
// capture of its own; a duplicate ACK's is "TCP Dup ACK".
func tsharkNotes(t *testing.T, tshark, file string) map[uint64][]string {
	t.Helper()
	notes := map[uint64][]string{}
	bracket := regexp.MustCompile(`\[(TCP [^\]]*)\]`)
	for _, iface := range []string{"0", "1"} {
		part := filepath.Join(filepath.Dir(file), "if"+iface+".pcapng")
		if out, err := exec.Command(tshark, "-r", file, "-Y", "frame.interface_id == "+iface, "-w", part).CombinedOutput(); err != nil {
			t.Fatalf("tshark: %v\n%s", err, out)
		}
		out, err := exec.Command(tshark, "-r", part, "-T", "fields", "-e", "frame.comment", "-e", "_ws.col.Info").Output()
		if err != nil {
			t.Fatalf("tshark: %v", err)
		}
		for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
			comment, info, _ := strings.Cut(line, "\t")
			var id uint64
			if _, err := fmt.Sscanf(comment, "packet #%d", &id); err != nil {
				t.Fatalf("tshark: no packet id in the comment %q", comment)
			}
			for _, m := range bracket.FindAllStringSubmatch(info, -1) {
				n := m[1]
				if strings.HasPrefix(n, "TCP Dup ACK ") {
					n = "TCP Dup ACK"
				}
				if n != "TCP segment of a reassembled PDU" {
					notes[id] = append(notes[id], n)
				}
			}
		}
	}
	return notes
}

// TestZeroWindowProbeAnswers: of two answers to a zero window probe,
// both still shut, the one that takes the probe's byte (its ack one
// more) is no [TCP ZeroWindowProbeAck] to tshark 4.0, and the one that
// takes nothing (the probe sent again) is. The packets are those of
// interop's TestUIExpertNotesWindowProbe (scapy probing serve), the
// notes tshark 4.0.17 gave them; that test holds the rules to tshark
// itself.
func TestZeroWindowProbeAnswers(t *testing.T) {
	t.Parallel()
	const peer, stack = "10.223.0.77", "10.223.0.2"
	const iss, irs = 1000, 5000 // the peer's and serve's initial sequence numbers
	type pkt struct {
		fromPeer       bool
		flags          string
		seq, ack, len  int // relative
		win            int
		options, notes string
	}
	ts := "nop,nop,TS val 1 ecr 1"
	pkts := []pkt{
		{true, "S", 0, 0, 0, 65535, "TS val 1 ecr 0", ""},
		{false, "S.", 0, 1, 0, 29184, "mss 1460,TS val 1 ecr 1", ""},
		{true, ".", 1, 1, 0, 65535, ts, ""},
		{true, "P.", 1, 1, 1, 65535, ts, ""},
		{false, ".", 1, 2, 0, 0, ts, "zero-window"},
		{true, "P.", 2, 1, 1, 65535, ts, "zero-window-probe"},
		{false, ".", 1, 3, 0, 0, ts, "ack-lost-segment zero-window"},
		{true, "P.", 2, 1, 1, 65535, ts, "spurious-retransmission zero-window-probe"},
		{false, ".", 1, 3, 0, 0, ts, "zero-window zero-window-probe-ack"},
		{true, "P.", 2, 1, 1, 65535, ts, "spurious-retransmission zero-window-probe"},
		{false, ".", 1, 3, 0, 65535, ts, "window-update"},
	}
	var names []string
	bps := map[string]*ui.Breakpoint{}
	for _, n := range []string{"retransmission", "fast-retransmission", "spurious-retransmission", "out-of-order", "lost-segment",
		"ack-lost-segment", "window-update", "window-full", "zero-window", "zero-window-probe", "zero-window-probe-ack",
		"keep-alive", "keep-alive-ack", "dup-ack"} {
		b, err := ui.ParseBreakpoint("analysis " + n)
		if err != nil {
			t.Fatal(err)
		}
		names, bps[n] = append(names, n), b
	}
	track := ui.NewTracker()
	for i, p := range pkts {
		src, dst, sport, dport, seq0, ack0 := peer, stack, 42899, 9, iss, irs
		if !p.fromPeer {
			src, dst, sport, dport, seq0, ack0 = stack, peer, 9, 42899, irs, iss
		}
		ack := 0
		if strings.Contains(p.flags, ".") {
			ack = ack0 + p.ack
		}
		e := &trace.Event{ID: uint64(i + 1), T: time.Duration(i) * time.Millisecond, Node: "glassnet", Layer: trace.LayerLink, Name: "packet",
			Fields: []trace.Field{{Key: "proto", Value: "tcp"}, {Key: "src", Value: src}, {Key: "dst", Value: dst},
				{Key: "sport", Value: sport}, {Key: "dport", Value: dport}, {Key: "flags", Value: p.flags},
				{Key: "seq", Value: uint32(seq0 + p.seq)}, {Key: "ack", Value: uint32(ack)}, {Key: "win", Value: p.win},
				{Key: "payload_len", Value: p.len}, {Key: "options", Value: p.options}}}
		track.Note(e)
		var got []string
		for _, n := range names {
			if bps[n].Match(track, e) {
				got = append(got, n)
			}
		}
		slices.Sort(got)
		if g := strings.Join(got, " "); g != p.notes {
			t.Errorf("packet %d (%s seq %d ack %d win %d len %d): notes %q, tshark's %q", i+1, p.flags, p.seq, p.ack, p.win, p.len, g, p.notes)
		}
	}
}
