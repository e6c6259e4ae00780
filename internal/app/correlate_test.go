package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/glassnet/glassnet/internal/netnstest"
)

// jsonEvents decodes a JSON-lines trace.
func jsonEvents(t *testing.T, r io.Reader) []map[string]any {
	t.Helper()
	var out []map[string]any
	dec := json.NewDecoder(r)
	for {
		var e map[string]any
		if err := dec.Decode(&e); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
}

func idsOf(v any) []uint64 {
	var out []uint64
	for _, x := range v.([]any) {
		out = append(out, uint64(x.(float64)))
	}
	return out
}

// TestDemoCorrelates checks that in the demo's JSON trace every WebSocket
// frame names the packets that carried it, in the frame event or in a
// carried event, that those are packets of the same node and connection
// whose payload covers the frame's bytes, and that every data packet
// after the handshake names its frames.
func TestDemoCorrelates(t *testing.T) {
	var js bytes.Buffer
	if err := Demo(context.Background(), DemoOptions{Trace: &js}); err != nil {
		t.Fatal(err)
	}
	events := jsonEvents(t, &js)
	byID := map[uint64]map[string]any{}
	framesOf := map[uint64][]uint64{}  // packet -> frames
	packetsOf := map[uint64][]uint64{} // frame -> packets
	for _, e := range events {
		id := uint64(e["id"].(float64))
		byID[id] = e
		switch {
		case e["layer"] == "ws" && e["event"] == "frame":
			for _, k := range []string{"opcode", "fin", "masked", "len", "offset", "offset_from", "header_len"} {
				if _, ok := e[k]; !ok {
					t.Errorf("frame event %d lacks %q: %v", id, k, e)
				}
			}
			if e["offset_from"] != "tcp" {
				t.Errorf("frame event %d has offsets from %v, want tcp", id, e["offset_from"])
			}
			if p, ok := e["packets"]; ok {
				packetsOf[id] = idsOf(p)
			}
		case e["layer"] == "link" && e["event"] == "packet":
			for _, k := range []string{"flags", "seq", "ack", "len", "win"} {
				if _, ok := e[k]; !ok {
					t.Errorf("packet event %d lacks %q: %v", id, k, e)
				}
			}
			if f, ok := e["frames"]; ok {
				framesOf[id] = idsOf(f)
			}
		case e["event"] == "carried" && e["layer"] == "ws":
			packetsOf[uint64(e["frame"].(float64))] = idsOf(e["packets"])
		case e["event"] == "carried" && e["layer"] == "link":
			framesOf[uint64(e["packet"].(float64))] = idsOf(e["frames"])
		}
	}
	nframes := 0
	for _, e := range events {
		if e["layer"] != "ws" || e["event"] != "frame" {
			continue
		}
		nframes++
		id := uint64(e["id"].(float64))
		pkts := packetsOf[id]
		if len(pkts) == 0 {
			t.Errorf("frame %d (%s) names no packets", id, e["summary"])
			continue
		}
		start := int64(e["offset"].(float64))
		end := start + int64(e["header_len"].(float64)) + int64(e["len"].(float64))
		covered := start
		for _, p := range pkts {
			pe := byID[p]
			if pe["node"] != e["node"] || pe["dir"] != e["dir"] {
				t.Errorf("frame %d joined packet %d of %v/%v", id, p, pe["node"], pe["dir"])
			}
			if !slices.Contains(framesOf[p], id) {
				t.Errorf("frame %d names packet %d, which does not name it back (%v)", id, p, framesOf[p])
			}
			off := int64(pe["rel_seq"].(float64)) - 1
			if off > covered {
				t.Errorf("frame %d: bytes [%d,%d) in no packet", id, covered, off)
			}
			covered = max(covered, off+int64(pe["payload_len"].(float64)))
		}
		if covered < end {
			t.Errorf("frame %d [%d,%d): packets %v cover up to %d", id, start, end, pkts, covered)
		}
	}
	if nframes < 20 {
		t.Errorf("only %d frame events", nframes)
	}
}

// TestDemoPCAPNGWithTshark has Debian's tshark read the demo's pcapng:
// it must dissect the WebSocket frames, and show each packet's direction
// and the comment naming the frames it carried.
func TestDemoPCAPNGWithTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		netnstest.SkipOrFail(t, "tshark not installed (Debian: apt-get install tshark)")
		return
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "demo.pcapng")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	var js bytes.Buffer
	if err := Demo(context.Background(), DemoOptions{PCAPNG: f, Trace: &js}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(tshark, append([]string{"-r", path}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+dir) // no user profile
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("tshark %v: %v\n%s", args, err, errb.String())
		}
		return out.String()
	}

	// Each frame is dissected once, on the interface of the stack that
	// sent it (the receiver's copy of a segment is, to tshark, the same
	// TCP segment again).
	ws := run("-d", "tcp.port==80,http", "-Y", "websocket")
	for _, want := range []string{"WebSocket Text [FIN] [MASKED]", "WebSocket Text [FIN]", "WebSocket Binary", "Continuation", "WebSocket Ping", "WebSocket Pong", "Connection Close"} {
		if !strings.Contains(ws, want) {
			t.Errorf("tshark found no %q among:\n%s", want, ws)
		}
	}
	if n := strings.Count(ws, "WebSocket"); n < 14 {
		t.Errorf("tshark found %d WebSocket frames, want at least 14:\n%s", n, ws)
	}

	fields := run("-T", "fields", "-E", "separator=|", "-e", "frame.interface_name", "-e", "frame.packet_flags_direction", "-e", "frame.packet_id", "-e", "frame.comment")
	// The JSON trace says which frames each packet carried.
	framesOf := map[uint64][]uint64{}
	for _, e := range jsonEvents(t, &js) {
		switch {
		case e["event"] == "packet" && e["frames"] != nil:
			framesOf[uint64(e["id"].(float64))] = idsOf(e["frames"])
		case e["event"] == "carried" && e["layer"] == "link":
			framesOf[uint64(e["packet"].(float64))] = idsOf(e["frames"])
		}
	}
	lines := strings.Split(strings.TrimSpace(fields), "\n")
	dirs := map[string]int{}
	withFrames := 0
	for _, line := range lines {
		parts := strings.SplitN(line, "|", 4)
		if len(parts) != 4 {
			t.Fatalf("tshark line %q", line)
		}
		iface, direction, pid, comment := parts[0], parts[1], parts[2], parts[3]
		dirs[iface+" "+direction]++
		if !strings.HasPrefix(comment, "packet #"+pid) {
			t.Errorf("packet id %s, comment %q", pid, comment)
		}
		id, _ := strconv.ParseUint(pid, 10, 64)
		for _, f := range framesOf[id] {
			if !strings.Contains(comment, "ws frame #"+strconv.FormatUint(f, 10)+" ") {
				t.Errorf("comment of packet %d is %q, want frame #%d named", id, comment, f)
			}
		}
		if len(framesOf[id]) > 0 {
			withFrames++
		}
	}
	// 0x1 is inbound, 0x2 outbound (epb_flags).
	for _, k := range []string{"client 0x00000001", "client 0x00000002", "server 0x00000001", "server 0x00000002"} {
		if dirs[k] == 0 {
			t.Errorf("no packets with interface and direction %q: %v", k, dirs)
		}
	}
	if withFrames < 28 {
		t.Errorf("%d packets name frames, want at least 28 (each frame's packets on both stacks)", withFrames)
	}
}
