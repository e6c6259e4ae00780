package trace

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

// pngBlock is one parsed pcapng block.
type pngBlock struct {
	typ  uint32
	body []byte
	opts map[uint16][]byte
}

// parsePCAPNG splits a little-endian pcapng file into blocks, checking
// every length.
func parsePCAPNG(t *testing.T, b []byte) []pngBlock {
	t.Helper()
	var out []pngBlock
	for len(b) > 0 {
		if len(b) < 12 {
			t.Fatalf("truncated block: %x", b)
		}
		typ, n := binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:])
		if n%4 != 0 || int(n) > len(b) || binary.LittleEndian.Uint32(b[n-4:]) != n {
			t.Fatalf("block type %#x: bad length %d", typ, n)
		}
		blk := pngBlock{typ: typ, body: b[8 : n-4], opts: map[uint16][]byte{}}
		var fixed int
		switch typ {
		case pngSHB:
			fixed = 16
		case pngIDB:
			fixed = 8
		case pngEPB:
			capLen := int(binary.LittleEndian.Uint32(blk.body[12:]))
			fixed = 20 + (capLen+3)/4*4
		}
		for o := blk.body[fixed:]; len(o) >= 4; {
			code, l := binary.LittleEndian.Uint16(o), int(binary.LittleEndian.Uint16(o[2:]))
			if code == pngOptEnd {
				break
			}
			blk.opts[code] = o[4 : 4+l]
			o = o[4+(l+3)/4*4:]
		}
		out = append(out, blk)
		b = b[n:]
	}
	return out
}

func TestPCAPNG(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	png := NewPCAPNG(&buf)
	tr := New(png)
	tr.Correlate()
	const c2s, s2c = "10.0.0.1:5000->10.0.0.2:80", "10.0.0.2:80->10.0.0.1:5000"
	data := func(e Event, b string) Event { e.Data = []byte(b); return e }
	tr.Emit(frm("client", Out, c2s, 151, 6, 15))                    // #1
	tr.Emit(data(pkt("client", Out, c2s, 151, 21), "client-bytes")) // #2, #3 carried
	tr.Emit(data(pkt("server", In, c2s, 151, 21), "server-bytes"))  // #4: held back
	ack := pkt("server", Out, s2c, 0, 0)
	tr.Emit(data(ack, "ack")) // #5: held behind #4
	if got := len(parsePCAPNG(t, buf.Bytes())); got != 4 {
		t.Fatalf("%d blocks before the frame was parsed, want SHB, IDB, EPB, IDB", got)
	}
	tr.Emit(frm("server", In, s2c, 151, 6, 15)) // #6, #7 carried: #4 and #5 go out
	if got := len(parsePCAPNG(t, buf.Bytes())); got != 6 {
		t.Fatalf("%d blocks once the frame was parsed, want the held packets written (6)", got)
	}
	if err := png.Close(); err != nil {
		t.Fatal(err)
	}
	blocks := parsePCAPNG(t, buf.Bytes())
	if len(blocks) != 6 || blocks[0].typ != pngSHB || blocks[1].typ != pngIDB || blocks[3].typ != pngIDB {
		t.Fatalf("blocks %+v", blocks)
	}
	if string(blocks[1].opts[pngOptIfName]) != "client" || string(blocks[3].opts[pngOptIfName]) != "server" ||
		binary.LittleEndian.Uint16(blocks[1].body) != pngLinkTypeRaw {
		t.Errorf("interfaces %+v %+v", blocks[1], blocks[2])
	}
	for _, b := range []pngBlock{blocks[1], blocks[3]} {
		// Which stack, which side of its device, and the device.
		d := string(b.opts[pngOptIfDesc])
		if !strings.Contains(d, `glassnet stack "`+string(b.opts[pngOptIfName])+`"`) || !strings.Contains(d, "read (inbound) and wrote (outbound)") || !strings.Contains(d, "raw IP") {
			t.Errorf("interface %s: if_description %q", b.opts[pngOptIfName], d)
		}
	}
	for i, want := range []struct {
		iface   uint32
		flags   uint32
		id      uint64
		data    string
		comment string
	}{
		{0, pngFlagOutbound, 2, "client-bytes", "packet #2; ws frame #1 FIN text len=15 at offset 151"},
		{1, pngFlagInbound, 4, "server-bytes", "packet #4; ws frame #6 FIN text len=15 at offset 151"},
		{1, pngFlagOutbound, 5, "ack", "packet #5"},
	} {
		b := blocks[[]int{2, 4, 5}[i]]
		if b.typ != pngEPB {
			t.Fatalf("packet %d: block type %#x", i, b.typ)
		}
		capLen := binary.LittleEndian.Uint32(b.body[12:])
		got := struct {
			iface   uint32
			flags   uint32
			id      uint64
			data    string
			comment string
		}{
			binary.LittleEndian.Uint32(b.body),
			binary.LittleEndian.Uint32(b.opts[pngOptEPBFlags]),
			binary.LittleEndian.Uint64(b.opts[pngOptEPBPacket]),
			string(b.body[20 : 20+capLen]),
			string(b.opts[pngOptComment]),
		}
		if got != want {
			t.Errorf("packet %d = %+v, want %+v", i, got, want)
		}
	}
}

func TestPCAPNGWindow(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	png := NewPCAPNG(&buf)
	png.Window = 3
	tr := New(png)
	p := pkt("server", In, "a:1->b:2", 0, 10) // HTTP bytes: no frame ever
	p.Data = []byte("GET / HTTP/1.1")
	tr.Emit(p)
	for range 3 {
		tr.Emit(Event{Name: "other"})
	}
	blocks := parsePCAPNG(t, buf.Bytes())
	if len(blocks) != 3 || !strings.HasPrefix(string(blocks[2].opts[pngOptComment]), "packet #1") {
		t.Fatalf("after the window: %+v", blocks)
	}
}

// TestPCAPNGComments: a held packet sent on into the stack says so, and
// the descriptions of frames are bounded: the oldest are forgotten.
func TestPCAPNGComments(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	png := NewPCAPNG(&buf)
	tr := New(png)
	const conn = "10.0.0.1:5000->10.0.0.2:80"
	for i := range pngFrameDescs + 1 {
		tr.Emit(frm("server", In, conn, i, 2, 0)) // #1 ... #4097
	}
	p := pkt("server", In, conn, 0, 0)
	p.Name, p.Data = "continued", []byte("held")
	p.Fields = append(p.Fields, Field{"frames", []uint64{1, 2}})
	tr.Emit(p) // #4098
	if err := png.Close(); err != nil {
		t.Fatal(err)
	}
	blocks := parsePCAPNG(t, buf.Bytes())
	if len(blocks) != 3 || blocks[2].typ != pngEPB {
		t.Fatalf("blocks %+v, want SHB, IDB and one EPB", blocks)
	}
	want := "packet #4098; held at link-ingress and sent on into the stack; ws frame #1; ws frame #2 FIN text len=0 at offset 1"
	if got := string(blocks[2].opts[pngOptComment]); got != want {
		t.Errorf("comment %q,\nwant %q", got, want)
	}
}
