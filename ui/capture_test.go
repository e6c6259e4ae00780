package ui_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/app"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/ui"
)

// TestCaptureFrames: the view of a capture shows the WebSocket frames its
// TCP streams carried, as the live trace recorded them. The demo's pcapng
// export keeps the frames' IDs (its comments name them); the server's
// classic pcap, which names none, gets every frame the server sent and
// received, numbered with its packets, each packet keeping its number in
// the capture; and in both the page rebuilds each frame's bytes.
func TestCaptureFrames(t *testing.T) {
	var traced syncBuffer
	var pcap bytes.Buffer
	d := startDemoOpts(t, true, app.DemoOptions{Trace: &traced, PCAP: &pcap})
	d.waitFor("the end of the run", func(st ui.State) bool { return st.Ended })
	req, _ := http.NewRequest("GET", d.base+"/api/export?format=pcapng", nil)
	req.Header.Set("X-Glassnet-Token", d.s.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	png, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := d.stop(); err != nil {
		t.Fatalf("demo: %v", err)
	}
	type frame struct {
		node, dir, opcode string
		fin, masked       bool
		len, hlen, off    float64
	}
	key := func(e map[string]any) frame {
		return frame{fmt.Sprint(e["node"]), fmt.Sprint(e["dir"]), fmt.Sprint(e["opcode"]), e["fin"] == true, e["masked"] == true,
			num(e["len"]), num(e["header_len"]), num(e["offset"])}
	}
	want := map[uint64]frame{}
	var server []frame
	for _, line := range strings.Split(strings.TrimSpace(traced.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		if m["event"] != "frame" || m["offset_from"] != "tcp" {
			continue
		}
		want[uint64(num(m["id"]))] = key(m)
		if m["node"] == "server" {
			m["node"] = "glassnet" // as the view names a pcap's one stack
			server = append(server, key(m))
		}
	}
	if len(want) < 8 {
		t.Fatalf("the live trace has %d frames", len(want))
	}

	// The pcapng: the same frames with the same IDs.
	got := view(t, png)
	for id, w := range want {
		e, ok := got.byID[id]
		if !ok {
			t.Errorf("frame #%d (%+v) is not in the view of the pcapng", id, w)
			continue
		}
		if k := key(e); k != w {
			t.Errorf("frame #%d: %+v in the view of the pcapng, %+v live", id, k, w)
		}
	}
	got.checkBytes(t, "pcapng")

	// The pcap: the server's frames, in order, numbered with the packets.
	got = view(t, pcap.Bytes())
	var frames []frame
	for _, e := range got.events {
		if e["event"] == "frame" {
			frames = append(frames, key(e))
		}
	}
	if fmt.Sprint(frames) != fmt.Sprint(server) {
		t.Errorf("the view of the server's pcap has frames\n%v\nthe live trace\n%v", frames, server)
	}
	n := 0
	for _, e := range got.events {
		if e["event"] == "packet" {
			n++
			if num(e["pcap_number"]) != float64(n) {
				t.Fatalf("packet %v is number %v in the capture, not %d", e["id"], e["pcap_number"], n)
			}
		}
	}
	got.checkBytes(t, "pcap")
}

// TestCaptureFramesCopies: the view of a pcapng whose packets rules
// duplicated or dropped credits them with the frames as the live trace
// did. The client's packets a rule duplicated going out each carried the
// frame's bytes out, and each names it; of the server's copies, only the
// one that brought the bytes first does, and the frame names that one
// alone. A packet the client's ingress rule dropped never reached its TCP:
// the retransmission that brought its bytes names the frame instead.
func TestCaptureFramesCopies(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rules app.Rules
		note  string // in the comment of some packet with payload
	}{
		{"duplicated", app.Rules{Egress: []string{"tcp and len > 60 : duplicate 100%"}}, "duplicated at link-egress"},
		{"dropped", app.Rules{Ingress: []string{"tcp and len > 60 : loss 40%"}}, "dropped at link-ingress"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var traced syncBuffer
			d := startDemoOpts(t, true, app.DemoOptions{Trace: &traced, Rules: tc.rules})
			d.waitFor("the end of the run", func(st ui.State) bool { return st.Ended })
			req, _ := http.NewRequest("GET", d.base+"/api/export?format=pcapng", nil)
			req.Header.Set("X-Glassnet-Token", d.s.Token())
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			png, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err := d.stop(); err != nil {
				t.Fatalf("demo: %v", err)
			}
			ids := func(v any) string { return fmt.Sprint(v) }
			// Each frame's packets as the live trace ends up listing
			// them: its own, or those of the last "carried" event about
			// it.
			live := map[float64]string{}
			dir := map[float64]any{}
			for _, line := range strings.Split(strings.TrimSpace(traced.String()), "\n") {
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Fatal(err)
				}
				switch {
				case m["event"] == "frame" && m["offset_from"] == "tcp":
					live[num(m["id"])], dir[num(m["id"])] = ids(m["packets"]), m["dir"]
				case m["event"] == "carried" && m["layer"] == "ws":
					live[num(m["frame"])] = ids(m["packets"])
				}
			}
			got := view(t, png)
			for id, want := range live {
				e, ok := got.byID[uint64(id)]
				if !ok {
					t.Errorf("frame #%v is not in the view of the pcapng", id)
					continue
				}
				if pk := ids(e["packets"]); pk != want {
					t.Errorf("%v frame #%v (%v) names packets %v in the view of the pcapng, %v live", dir[id], id, e["summary"], pk, want)
				}
			}
			acted := 0
			for _, e := range got.events {
				if n, _ := e["notes"].(string); strings.Contains(n, tc.note) && num(e["payload_len"]) > 0 {
					acted++
				}
			}
			if len(live) < 8 || acted == 0 {
				t.Fatalf("the live trace has %d frames; %d packets with payload say %q", len(live), acted, tc.note)
			}
			got.checkBytes(t, "pcapng")
			if t.Failed() {
				for _, e := range got.events {
					if e["dir"] == "in" && num(e["payload_len"]) > 0 {
						t.Logf("%v %v %v %v", e["id"], e["node"], e["summary"], e["notes"])
					}
				}
			}
		})
	}
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

type loaded struct {
	base, token string
	events      []map[string]any
	byID        map[uint64]map[string]any
}

// view loads a capture into an offline view and reads back its events.
func view(t *testing.T, b []byte) *loaded {
	t.Helper()
	s, err := ui.New(ui.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	at, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	u, err := url.Parse(at)
	if err != nil {
		t.Fatal(err)
	}
	l := &loaded{base: "http://" + u.Host, token: s.Token(), byID: map[uint64]map[string]any{}}
	var page struct{ Events []map[string]any }
	l.get(t, "/api/events?from=1&to=100000", &page)
	l.events = page.Events
	for _, e := range l.events {
		l.byID[uint64(num(e["id"]))] = e
	}
	return l
}

func (l *loaded) get(t *testing.T, path string, out any) {
	t.Helper()
	req, _ := http.NewRequest("GET", l.base+path, nil)
	req.Header.Set("X-Glassnet-Token", l.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

// checkBytes: every text frame's bytes are rebuilt from its packets, and
// each of them names it among the frames it carried.
func (l *loaded) checkBytes(t *testing.T, what string) {
	t.Helper()
	texts := 0
	for _, e := range l.events {
		if e["event"] != "frame" {
			continue
		}
		pk, _ := e["packets"].([]any)
		if len(pk) == 0 {
			t.Errorf("%s: frame %v names no packets", what, e["id"])
		}
		for _, p := range pk {
			fr, _ := l.byID[uint64(num(p))]["frames"].([]any)
			if !strings.Contains(fmt.Sprint(fr), fmt.Sprint(e["id"])) {
				t.Errorf("%s: packet %v does not name frame %v among %v", what, p, e["id"], fr)
			}
		}
		if e["opcode"] != "text" {
			continue
		}
		texts++
		var full map[string]any
		l.get(t, fmt.Sprintf("/api/events/%v", e["id"]), &full)
		if p, _ := full["payload_hex"].(string); len(p) != 2*int(num(e["len"])) {
			t.Errorf("%s: frame %v: payload %q", what, e["id"], p)
		}
	}
	if texts == 0 {
		t.Errorf("%s: no text frames", what)
	}
}

// pcapRecords splits a classic pcap into its file header and its records.
func pcapRecords(t *testing.T, b []byte) (head []byte, recs [][]byte) {
	t.Helper()
	head, b = b[:24], b[24:]
	for len(b) > 0 {
		n := 16 + int(binary.LittleEndian.Uint32(b[8:12]))
		recs = append(recs, b[:n])
		b = b[n:]
	}
	return head, recs
}

// TestCaptureFramesReassembled: frames are read from the byte stream, not
// from packets one at a time: a capture whose segments are out of order,
// or captured twice (a retransmission), shows the same frames, each naming
// every packet that brought its bytes first (a copy of bytes that had all
// come names no frame, as in the live trace); a gap in the stream ends that
// stream's frames where it begins; and a capture of something that is
// not WebSocket gets none.
func TestCaptureFramesReassembled(t *testing.T) {
	orig, err := os.ReadFile("testdata/ws.pcap")
	if err != nil {
		t.Fatal(err)
	}
	frames := func(l *loaded) (out []string) {
		for _, e := range l.events {
			if e["event"] == "frame" {
				out = append(out, fmt.Sprintf("%v %v %v len=%v at %v", e["dir"], e["opcode"], e["fin"], e["len"], e["offset"]))
			}
		}
		return out
	}
	want := frames(view(t, orig))
	if len(want) != 14 {
		t.Fatalf("testdata/ws.pcap: %d frames:\n%s", len(want), strings.Join(want, "\n"))
	}
	head, recs := pcapRecords(t, orig)
	// The 3000-byte text message from the client is records 15 to 17
	// (numbered from 0): 1448, 1448 and 112 bytes.
	build := func(order ...int) []byte {
		b := slices.Clone(head)
		for _, i := range order {
			b = append(b, recs[i]...)
		}
		return b
	}
	all := make([]int, len(recs))
	for i := range all {
		all[i] = i
	}
	swapped := slices.Clone(all)
	swapped[15], swapped[17] = swapped[17], swapped[15]
	twice := slices.Insert(slices.Clone(all), 17, 16)

	for name, order := range map[string][]int{"reordered": swapped, "retransmitted": twice} {
		l := view(t, build(order...))
		if got := frames(l); !slices.Equal(got, want) {
			t.Errorf("%s: frames\n%s\nwant\n%s", name, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		l.checkBytes(t, name)
		for _, e := range l.events {
			if e["event"] == "frame" && num(e["len"]) == 3000 && e["dir"] == "in" {
				if pk, _ := e["packets"].([]any); len(pk) != 3 {
					t.Errorf("%s: the 3000-byte frame names packets %v", name, pk)
				}
			}
		}
	}

	gap := frames(view(t, build(slices.Delete(slices.Clone(all), 16, 17)...)))
	if len(gap) >= len(want) || !slices.Equal(gap, slices.DeleteFunc(slices.Clone(want), func(f string) bool { return !slices.Contains(gap, f) })) {
		t.Errorf("a gap in the client's stream: frames\n%s", strings.Join(gap, "\n"))
	}
	for _, f := range gap {
		var off int
		fmt.Sscanf(f[strings.LastIndex(f, " at ")+4:], "%d", &off)
		if strings.HasPrefix(f, "in ") && off >= 210 {
			t.Errorf("a frame read past the gap in the client's stream: %s", f)
		}
	}

	// A segment the capture kept only the start of (its snapshot
	// length) is a gap too: the bytes it did not keep are not made up.
	rec := slices.Clone(recs[16][:16+100])
	binary.LittleEndian.PutUint32(rec[8:12], 100) // kept: 100 of its bytes
	l := view(t, slices.Concat(head, slices.Concat(recs[:16]...), rec, slices.Concat(recs[17:]...)))
	if got := frames(l); !slices.Equal(got, gap) {
		t.Errorf("a segment cut short in the client's stream: frames\n%s\nwant those of a gap\n%s", strings.Join(got, "\n"), strings.Join(gap, "\n"))
	}
	l.checkBytes(t, "cut")

	// Without the 101 the streams are not WebSocket.
	var no101 []int
	for _, i := range all {
		if !bytes.Contains(recs[i], []byte("HTTP/1.1 101")) {
			no101 = append(no101, i)
		}
	}
	if got := frames(view(t, build(no101...))); len(got) != 0 {
		t.Errorf("a capture without the 101 has frames %v", got)
	}
}

// TestCaptureNode: a pcap serve or lab could have written (nanoseconds,
// raw IP) is one stack named "glassnet", as serve names it; tcpdump's
// default (microseconds) is "capture", not a glassnet it was not.
func TestCaptureNode(t *testing.T) {
	t.Parallel()
	orig, err := os.ReadFile("testdata/ws.pcap")
	if err != nil {
		t.Fatal(err)
	}
	micro := slices.Clone(orig)
	binary.LittleEndian.PutUint32(micro, 0xa1b2c3d4)
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{{"nanoseconds", orig, "glassnet"}, {"microseconds", micro, "capture"}} {
		nodes := map[string]bool{}
		for _, e := range view(t, tc.b).events {
			nodes[fmt.Sprint(e["node"])] = true
		}
		if len(nodes) != 1 || !nodes[tc.want] {
			t.Errorf("%s: the view names the stacks %v, want only %q", tc.name, nodes, tc.want)
		}
	}
}

// TestCaptureTimes: a capture with a packet stamped before its first is
// viewed with no negative time and in the order it has, and the view's
// exports, pcapng and JSON lines, keep every packet's own time.
func TestCaptureTimes(t *testing.T) {
	t.Parallel()
	orig, err := os.ReadFile("testdata/ws.pcap")
	if err != nil {
		t.Fatal(err)
	}
	head, recs := pcapRecords(t, orig)
	if binary.LittleEndian.Uint32(head) != 0xa1b23c4d {
		t.Fatal("testdata/ws.pcap: not a pcap of nanoseconds")
	}
	// Record 3 (the upgrade request) a second before the first.
	b := slices.Clone(head)
	var stamps []string
	for i, r := range recs {
		r = slices.Clone(r)
		if i == 3 {
			binary.LittleEndian.PutUint32(r, binary.LittleEndian.Uint32(recs[0])-1)
		}
		stamps = append(stamps, time.Unix(int64(binary.LittleEndian.Uint32(r)), int64(binary.LittleEndian.Uint32(r[4:]))).UTC().Format(time.RFC3339Nano))
		b = append(b, r...)
	}

	l := view(t, b)
	var listed []string
	for _, e := range l.events {
		if num(e["t"]) < 0 {
			t.Errorf("event %v at %v", e["id"], e["t"])
		}
		if e["event"] == "packet" {
			listed = append(listed, fmt.Sprint(e["time"]))
		}
	}
	if !slices.Equal(listed, stamps) {
		t.Errorf("the view lists its packets at\n%v\nthe capture has\n%v", listed, stamps)
	}

	s, err := ui.New(ui.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Load(bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	times := func(evs []trace.Event) (out []string) {
		for _, e := range evs {
			if e.Layer == trace.LayerLink && e.Name == "packet" {
				out = append(out, fmt.Sprint(e.Field("time")))
			}
		}
		return out
	}
	var png, jsonl bytes.Buffer
	if err := s.WritePCAPNG(&png); err != nil {
		t.Fatal(err)
	}
	evs, err := trace.ReadPCAPNG(&png)
	if got := times(evs); err != nil || !slices.Equal(got, stamps) {
		t.Errorf("the pcapng export (%v) has its packets at\n%v\nthe capture\n%v", err, got, stamps)
	}
	if err := s.WriteJSONL(&jsonl); err != nil {
		t.Fatal(err)
	}
	evs, err = trace.ReadJSONL(&jsonl)
	if got := times(evs); err != nil || !slices.Equal(got, stamps) {
		t.Errorf("the JSON lines export (%v) has its packets at\n%v\nthe capture\n%v", err, got, stamps)
	}
}

// TestLoadKeepsFirst: a recorded run longer than the history is kept from
// its beginning (where the handshake is), with a TooManyError saying how
// much there was.
func TestLoadKeepsFirst(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for id := 1; id <= 25; id++ {
		fmt.Fprintf(&b, `{"id":%d,"t":%d,"node":"n","layer":"app","event":"step"}`+"\n", id, id)
	}
	s, err := ui.New(ui.Options{History: 10})
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.Load(strings.NewReader(b.String()))
	var tm *ui.TooManyError
	if n != 10 || !errors.As(err, &tm) || tm.Events != 25 || tm.Kept != 10 {
		t.Fatalf("Load: %d, %v", n, err)
	}
	if st := s.State(); st.First != 1 || st.Last != 10 {
		t.Errorf("kept %d to %d, want 1 to 10", st.First, st.Last)
	}
}

// TestLoadLaterSchema: a trace written by a later glassnet is shown, with
// a LaterSchemaError that says so, and its unknown keys as fields; one of
// this glassnet's schema loads without a word.
func TestLoadLaterSchema(t *testing.T) {
	t.Parallel()
	load := func(v int) (int, error) {
		s, err := ui.New(ui.Options{})
		if err != nil {
			t.Fatal(err)
		}
		line := fmt.Sprintf(`{"v":%d,"id":1,"t":5,"node":"n","layer":"app","event":"step","novel":"x"}`+"\n", v)
		return s.Load(strings.NewReader(line + strings.Replace(line, `"id":1`, `"id":2`, 1)))
	}
	n, err := load(99)
	var later *ui.LaterSchemaError
	if n != 2 || !errors.As(err, &later) || later.Version != 99 || !strings.Contains(err.Error(), "v99") {
		t.Errorf("Load of schema v99: %d, %v; want 2 events and a LaterSchemaError", n, err)
	}
	if n, err := load(trace.SchemaVersion); n != 2 || err != nil {
		t.Errorf("Load of schema v%d: %d, %v", trace.SchemaVersion, n, err)
	}
}

// TestCaptureFramesConnections: frames follow the connection, not only its
// ports: the same conversation captured again on the same ports with other
// initial sequence numbers is a second connection with its own frames; a
// capture that missed the handshake's packets still has the upgrade and
// its frames; and a 101 that is not to WebSocket (h2c) has none.
func TestCaptureFramesConnections(t *testing.T) {
	orig, err := os.ReadFile("testdata/ws.pcap")
	if err != nil {
		t.Fatal(err)
	}
	frames := func(b []byte) (out []string) {
		for _, e := range view(t, b).events {
			if e["event"] == "frame" {
				out = append(out, fmt.Sprintf("%v %v len=%v at %v", e["dir"], e["opcode"], e["len"], e["offset"]))
			}
		}
		return out
	}
	want := frames(orig)
	head, recs := pcapRecords(t, orig)
	// shifted is a record with its TCP sequence numbers moved: the
	// server's (port 80) by 1<<20, the client's by 1<<21.
	shifted := func(rec []byte) []byte {
		r := slices.Clone(rec)
		ip := r[16:]
		tcp := ip[int(ip[0]&0xf)*4:]
		fromServer := binary.BigEndian.Uint16(tcp[0:2]) == 80
		mine, theirs := uint32(1<<21), uint32(1<<20)
		if fromServer {
			mine, theirs = theirs, mine
		}
		binary.BigEndian.PutUint32(tcp[4:], binary.BigEndian.Uint32(tcp[4:])+mine)
		if tcp[13]&0x10 != 0 {
			binary.BigEndian.PutUint32(tcp[8:], binary.BigEndian.Uint32(tcp[8:])+theirs)
		}
		return r
	}
	twice := slices.Clone(orig)
	for _, r := range recs {
		twice = append(twice, shifted(r)...)
	}
	if got := frames(twice); !slices.Equal(got, append(slices.Clone(want), want...)) {
		t.Errorf("the conversation twice on the same ports: frames\n%s\nwant those of one, twice", strings.Join(got, "\n"))
	}

	noHandshake := slices.Clone(head)
	for _, r := range recs[3:] { // SYN, SYN-ACK, ACK
		noHandshake = append(noHandshake, r...)
	}
	if got := frames(noHandshake); !slices.Equal(got, want) {
		t.Errorf("without the handshake's packets: frames\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	h2c := bytes.Replace(orig, []byte("Upgrade: websocket"), []byte("Upgrade: h2c      "), -1)
	if got := frames(h2c); len(got) != 0 {
		t.Errorf("a 101 to h2c has frames %v", got)
	}
}
