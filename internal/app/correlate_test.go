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

// TestDemoCorrelatesDuplicates runs the demo with every packet the client
// sends duplicated on the wire. The server's TCP keeps the first copy of
// each byte and throws the second away, so on the server only the packet
// that brought a frame's bytes first is credited with it, and a copy whose
// bytes had all arrived names no frame and is named by none. The client
// sent both copies, and there a frame names every packet it left in.
func TestDemoCorrelatesDuplicates(t *testing.T) {
	var js bytes.Buffer
	opts := DemoOptions{Trace: &js, Rules: Rules{Egress: []string{"duplicate 100%"}}}
	if err := Demo(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	events := jsonEvents(t, &js)
	type span struct{ start, end int64 }
	byID := map[uint64]map[string]any{}
	fresh := map[uint64]map[int64]bool{} // server packet -> the bytes it brought first
	got := map[string]map[int64]bool{}   // server's stream -> the bytes received
	framesOf := map[uint64][]uint64{}
	packetsOf := map[uint64][]uint64{}
	frameSpan := map[uint64]span{}
	dups := 0
	for _, e := range events {
		id := uint64(e["id"].(float64))
		byID[id] = e
		switch {
		case e["layer"] == "link" && e["event"] == "packet":
			if f, ok := e["frames"]; ok {
				framesOf[id] = idsOf(f)
			}
			n, _ := e["payload_len"].(float64)
			if e["node"] != "server" || e["dir"] != "in" || n == 0 {
				continue
			}
			conn := e["conn"].(string)
			if got[conn] == nil {
				got[conn] = map[int64]bool{}
			}
			off := int64(e["rel_seq"].(float64)) - 1
			fresh[id] = map[int64]bool{}
			for b := off; b < off+int64(n); b++ {
				if !got[conn][b] {
					got[conn][b], fresh[id][b] = true, true
				}
			}
			if len(fresh[id]) == 0 {
				dups++
			}
		case e["layer"] == "ws" && e["event"] == "frame":
			if p, ok := e["packets"]; ok {
				packetsOf[id] = idsOf(p)
			}
			start := int64(e["offset"].(float64))
			frameSpan[id] = span{start, start + int64(e["header_len"].(float64)) + int64(e["len"].(float64))}
		case e["event"] == "carried" && e["layer"] == "ws":
			packetsOf[uint64(e["frame"].(float64))] = idsOf(e["packets"])
		case e["event"] == "carried" && e["layer"] == "link":
			framesOf[uint64(e["packet"].(float64))] = idsOf(e["frames"])
		}
	}
	if dups == 0 {
		t.Fatal("the server received no duplicate copies")
	}
	for p, b := range fresh {
		if len(b) == 0 && len(framesOf[p]) > 0 {
			t.Errorf("server packet %d brought no new byte but names frames %v", p, framesOf[p])
		}
	}
	bothCopies := 0
	for f, s := range frameSpan {
		received := byID[f]["node"] == "server" && byID[f]["dir"] == "in"
		seen := map[float64]int{} // rel_seq -> packets named
		for _, p := range packetsOf[f] {
			pe := byID[p]
			if !slices.Contains(framesOf[p], f) {
				t.Errorf("frame %d names packet %d, which does not name it back (%v)", f, p, framesOf[p])
			}
			seen[pe["rel_seq"].(float64)]++
			if !received {
				continue
			}
			brought := false
			for b := s.start; b < s.end; b++ {
				brought = brought || fresh[p][b]
			}
			if !brought {
				t.Errorf("server frame %d [%d,%d) names packet %d, which brought none of its bytes first", f, s.start, s.end, p)
			}
		}
		if received {
			// Every byte of the frame came in a packet it names.
			for b := s.start; b < s.end; b++ {
				ok := false
				for _, p := range packetsOf[f] {
					ok = ok || fresh[p][b]
				}
				if !ok {
					t.Errorf("server frame %d [%d,%d): byte %d in none of its packets %v", f, s.start, s.end, b, packetsOf[f])
					break
				}
			}
		} else if byID[f]["node"] == "client" && byID[f]["dir"] == "out" {
			for _, n := range seen {
				if n > 1 {
					bothCopies++
				}
			}
		}
	}
	if bothCopies == 0 {
		t.Error("no client frame names both copies of a packet it left in")
	}
}
