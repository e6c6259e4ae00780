package trace

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestReadJSONLRoundTrip(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	tr := New(NewJSON(&b))
	tr.Correlate()
	tr.Emit(frm("server", Out, "10.0.0.2:80->10.0.0.1:40000", 0, 2, 5))
	pkt := packetEvent(1, 7)
	pkt.Dir, pkt.Conn = Out, "10.0.0.2:80->10.0.0.1:40000"
	tr.Emit(pkt)
	tr.Emit(Event{Node: "demo", Layer: LayerApp, Name: "step", Summary: "narration"})
	b.WriteString("\n   \n") // blank lines are skipped
	events, err := ReadJSONL(&b)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 4 { // the frame, the packet, its carried event, the step
		t.Fatalf("read %d events: %+v", len(events), events)
	}
	p := events[1]
	if p.ID != 2 || p.Node != "server" || p.Layer != LayerLink || p.Dir != Out || p.Name != "packet" ||
		p.Conn != pkt.Conn || !strings.HasPrefix(p.Summary, "IP 10.0.0.1") || p.T <= 0 {
		t.Fatalf("packet read back as %+v", p)
	}
	if got := p.Field("frames"); !reflect.DeepEqual(got, []uint64{1}) {
		t.Errorf("frames = %#v; want []uint64{1}", got)
	}
	if got := p.Field("seq"); got != int64(1) {
		t.Errorf("seq = %#v; want int64(1)", got)
	}
	if got := p.Field("flags"); got != "." {
		t.Errorf("flags = %#v", got)
	}
	if p.Field("v") != nil || p.Field("id") != nil {
		t.Errorf("header keys among the fields: %v", p.Fields)
	}
	for i := 1; i < len(p.Fields); i++ {
		if p.Fields[i-1].Key >= p.Fields[i].Key {
			t.Fatalf("fields not sorted by key: %v", p.Fields)
		}
	}
	if events[2].Name != "carried" || events[3].Layer != LayerApp || events[3].Summary != "narration" {
		t.Errorf("events 3, 4: %+v %+v", events[2], events[3])
	}
}

func TestReadJSONLErrors(t *testing.T) {
	t.Parallel()
	good := `{"id":1,"t":5,"node":"a","layer":"app","dir":"","event":"step","future_key":{"x":[1,"y"]}}`
	for _, c := range []struct{ in, want string }{
		{good + "\n" + good + "\n{bad\n" + good, "line 3: not a JSON object"},
		{good + "\n" + `{"t":5}`, `line 2: no "id" number`},
		{`{"id":0}`, `line 1: "id" 0 is not a positive integer`},
		{`{"id":-1}`, "not a positive integer"},
		{`{"id":1.5}`, "not a positive integer"},
		{`{"id":1,"t":"soon"}`, `"t"`},
		{`{"id":1,"t":1.5}`, `"t"`},
		{`{"id":1,"node":3}`, `"node" is 3, not a string`},
		{`{"id":1,"layer":["x"]}`, `"layer" is an array`},
		{`{"id":1,"dir":null}`, `"dir" is null`},
		{`{"id":1} {"id":2}`, "more than one"},
		{`null`, "not a JSON object"},
		{`[1,2]`, "not a JSON object"},
		{`{"v":"1","id":1}`, `"v" 1 is not a schema version`},
		{`{"v":-1,"id":1}`, `"v" -1 is not a schema version`},
	} {
		events, err := ReadJSONL(strings.NewReader(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v; want one containing %q", c.in, err, c.want)
		}
		if c.want == "line 3: not a JSON object" && len(events) != 2 {
			t.Errorf("read %d events before the bad line; want 2", len(events))
		}
	}
	events, err := ReadJSONL(strings.NewReader(good))
	if err != nil || len(events) != 1 {
		t.Fatalf("ReadJSONL(good) = %v, %v", events, err)
	}
	if fk, ok := events[0].Field("future_key").(map[string]any); !ok || !reflect.DeepEqual(fk["x"], []any{int64(1), "y"}) {
		t.Errorf("unknown key read as %#v", events[0].Field("future_key"))
	}
	_, v, err := ReadJSONLVersion(strings.NewReader(`{"v":1,"id":1}` + "\n" + `{"v":7,"id":2}` + "\n" + `{"id":3}`))
	if v != 7 || err != nil {
		t.Errorf("ReadJSONLVersion: version %d, %v; want 7, the highest", v, err)
	}
	long := `{"id":1,"summary":"` + strings.Repeat("x", MaxJSONLine) + `"}`
	if _, err := ReadJSONL(strings.NewReader(long)); err == nil || !strings.Contains(err.Error(), "line 1: longer than") {
		t.Errorf("a line past MaxJSONLine: %v", err)
	}
}

// tcpPacket builds an IPv4 TCP packet.
func tcpPacket(src, dst [4]byte, sport, dport uint16, seq, ack uint32, flags byte, payload string) []byte {
	b := make([]byte, 40+len(payload))
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	b[8], b[9] = 64, 6
	copy(b[12:], src[:])
	copy(b[16:], dst[:])
	tcp := b[20:]
	binary.BigEndian.PutUint16(tcp[0:], sport)
	binary.BigEndian.PutUint16(tcp[2:], dport)
	binary.BigEndian.PutUint32(tcp[4:], seq)
	binary.BigEndian.PutUint32(tcp[8:], ack)
	tcp[12], tcp[13] = 5<<4, flags
	binary.BigEndian.PutUint16(tcp[14:], 65535)
	copy(tcp[20:], payload)
	return b
}

var (
	ipClient = [4]byte{10, 0, 0, 1}
	ipServer = [4]byte{10, 0, 0, 2}
)

// capture writes a pcapng of a handshake and one data segment seen by two
// nodes, with a frame the data packet carried.
func capture(t testing.TB) (png []byte, sent []Event) {
	t.Helper()
	var b bytes.Buffer
	p := NewPCAPNG(&b)
	tr := New(p)
	tr.Correlate()
	pkts := []struct {
		node string
		dir  Dir
		data []byte
	}{
		{"client", Out, tcpPacket(ipClient, ipServer, 40000, 80, 1000, 0, 0x02, "")},
		{"server", In, tcpPacket(ipClient, ipServer, 40000, 80, 1000, 0, 0x02, "")},
		{"server", Out, tcpPacket(ipServer, ipClient, 80, 40000, 5000, 1001, 0x12, "")},
		{"client", In, tcpPacket(ipServer, ipClient, 80, 40000, 5000, 1001, 0x12, "")},
	}
	// Each node learns the ISNs from the packets it sees, as a stack does.
	isns := map[string]SeqBases{"client": captureISNs{}, "server": captureISNs{}}
	emit := func(node string, dir Dir, data []byte) {
		p := DescribePacket(data, isns[node])
		e := Event{Node: node, Layer: LayerLink, Dir: dir, Name: "packet", Conn: p.Conn, Summary: p.Summary, Fields: p.Fields(), Data: data}
		e.ID = tr.Emit(e)
		sent = append(sent, e)
	}
	for _, pk := range pkts {
		emit(pk.node, pk.dir, pk.data)
	}
	// A frame, then the packet that carries it.
	tr.Emit(frm("client", Out, "10.0.0.1:40000->10.0.0.2:80", 0, 2, 5))
	emit("client", Out, tcpPacket(ipClient, ipServer, 40000, 80, 1001, 5001, 0x18, "\x81\x05hello"))
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), sent
}

func TestReadPCAPNGRoundTrip(t *testing.T) {
	t.Parallel()
	png, sent := capture(t)
	events, err := ReadPCAPNG(bytes.NewReader(png))
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != len(sent) {
		t.Fatalf("read %d packets, wrote %d", len(events), len(sent))
	}
	for i, e := range events {
		w := sent[i]
		if e.ID != w.ID || e.Node != w.Node || e.Dir != w.Dir || e.Layer != LayerLink || e.Name != "packet" ||
			e.Conn != w.Conn || !bytes.Equal(e.Data, w.Data) || e.T < 0 {
			t.Errorf("packet %d read back as %+v; wrote %+v", i, e, w)
		}
		if !strings.HasPrefix(e.Summary, w.Summary) {
			t.Errorf("packet %d: summary %q; want %q", i, e.Summary, w.Summary)
		}
	}
	last := events[len(events)-1]
	if got := last.Field("frames"); !reflect.DeepEqual(got, []uint64{5}) {
		t.Errorf("frames from the comment = %#v; want [5]", got)
	}
	if got := last.Field("rel_seq"); got != uint32(1) {
		t.Errorf("rel_seq = %#v; want 1", got)
	}
	if got := last.Field("rel_ack"); got != uint32(1) {
		t.Errorf("rel_ack = %#v; want 1", got)
	}
	if got := last.Field("payload_len"); got != 7 {
		t.Errorf("payload_len = %#v; want 7", got)
	}
	if !strings.Contains(last.Summary, "Flags [P.], seq 1:8, ack 1,") {
		t.Errorf("summary %q", last.Summary)
	}
}

func TestReadPCAPNGErrors(t *testing.T) {
	t.Parallel()
	png, _ := capture(t)
	// Cut inside the last block: the packets before it are returned.
	events, err := ReadPCAPNG(bytes.NewReader(png[:len(png)-10]))
	if err == nil || !strings.Contains(err.Error(), "block at offset") || !strings.Contains(err.Error(), "cut short") {
		t.Errorf("cut capture: %v", err)
	}
	if len(events) != 4 {
		t.Errorf("cut capture: %d packets before the cut; want 4", len(events))
	}
	if _, err := ReadPCAPNG(strings.NewReader("not a capture at all")); err == nil || !strings.Contains(err.Error(), "not a pcapng") {
		t.Errorf("not a capture: %v", err)
	}
	bad := bytes.Clone(png)
	binary.LittleEndian.PutUint32(bad[4:], 13) // SHB length not a multiple of 4
	if _, err := ReadPCAPNG(bytes.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "bad block length 13") {
		t.Errorf("bad length: %v", err)
	}
	if events, err := ReadPCAPNG(bytes.NewReader(nil)); err != nil || len(events) != 0 {
		t.Errorf("empty input: %v, %v", events, err)
	}
}

func FuzzReadJSONL(f *testing.F) {
	f.Add([]byte(`{"id":1,"t":5,"node":"a","layer":"link","dir":"in","event":"packet","frames":[1,2],"seq":4294967295}`))
	f.Add([]byte("{\"id\":1}\n\n{\"id\":18446744073709551615,\"x\":1e400}\n"))
	f.Add([]byte(`{"id":1,"a":{"b":[[],{}]},"c":-0.5,"d":null}`))
	f.Add([]byte(`{"id":1`))
	f.Add([]byte("\xff\xfe{}"))
	f.Fuzz(func(t *testing.T, in []byte) {
		events, err := ReadJSONL(bytes.NewReader(in))
		for _, e := range events {
			if e.ID == 0 {
				t.Fatalf("event without an id read (err %v)", err)
			}
		}
		if err != nil && !strings.HasPrefix(err.Error(), "trace: line ") {
			t.Fatalf("error without a line: %v", err)
		}
	})
}

func FuzzReadPCAPNG(f *testing.F) {
	png, _ := capture(f)
	f.Add(png)
	f.Add(png[:28])
	f.Add([]byte{0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0, 0, 0, 0x1a, 0x2b, 0x3c, 0x4d})
	be := bytes.Clone(png[:28])
	binary.BigEndian.PutUint32(be[4:], 28)
	binary.BigEndian.PutUint32(be[8:], pngByteOrder)
	binary.BigEndian.PutUint32(be[24:], 28)
	f.Add(be)
	seg := tcpPacket(ipClient, ipServer, 40000, 80, 1000, 0, 0x02, "")[20:]
	f.Add(bareNG(ipv6Packet(protoDestOpts, append(dstOpts(protoTCP), seg...)), ipv6Packet(protoFragment, append(fragHeader(protoTCP, 8, false, 1), seg...))))
	f.Fuzz(func(t *testing.T, in []byte) {
		events, err := ReadPCAPNG(bytes.NewReader(in))
		for _, e := range events {
			if e.Layer != LayerLink || e.Name != "packet" {
				t.Fatalf("read %+v", e)
			}
		}
		if err != nil && !strings.HasPrefix(err.Error(), "trace: pcapng: ") {
			t.Fatalf("error %v", err)
		}
	})
}

func FuzzValidateJSON(f *testing.F) {
	f.Add([]byte(`{"v":1,"id":3,"t":5,"node":"s","layer":"link","dir":"in","event":"packet","len":40,"frames":[1,"x"]}`))
	f.Add([]byte(`{"v":1,"id":3,"t":5,"node":"s","layer":"ws","dir":"out","event":"frame","fin":true,"rsv":300}`))
	f.Add([]byte(`{"layer":"link","event":"packet","op":{}}`))
	f.Add([]byte(`{"layer":"tcp","event":"state","srtt":1e999}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = ValidateJSON(b) // an error or nil, never a panic
	})
}

// TestPCAPNGStart: with Start set, packets are timed at Start plus their
// events' times (a history written after the fact), and read back so.
func TestPCAPNGStart(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	p := NewPCAPNG(&b)
	p.Start = time.Unix(1_700_000_000, 0)
	for i, at := range []time.Duration{time.Second, 3500 * time.Millisecond} {
		data := tcpPacket(ipClient, ipServer, 40000, 80, uint32(1000+i), 0, 0x02, "")
		d := DescribePacket(data, nil)
		p.Emit(&Event{ID: uint64(i + 1), T: at, Node: "client", Layer: LayerLink, Dir: Out, Name: "packet", Conn: d.Conn, Summary: d.Summary, Fields: d.Fields(), Data: data})
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	events, err := ReadPCAPNG(&b)
	if err != nil || len(events) != 2 {
		t.Fatalf("read %d packets, %v", len(events), err)
	}
	if gap := events[1].T - events[0].T; gap != 2500*time.Millisecond {
		t.Errorf("packets %v apart, want 2.5s as their events", gap)
	}
}
