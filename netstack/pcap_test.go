package netstack

import (
	"bytes"
	"encoding/binary"
	"sync"
	"testing"
)

func TestPCAP(t *testing.T) {
	t.Parallel()
	var capture bytes.Buffer
	var mu sync.Mutex
	w := writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return capture.Write(p)
	})
	st, dev := newSolo(t, func(o *Options) { o.PCAP = w })
	ping4(t, dev, 1)
	ping4(t, dev, 2)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	b := capture.Bytes()
	mu.Unlock()
	if len(b) < pcapFileHdrLen {
		t.Fatalf("capture of %d bytes", len(b))
	}
	if m := binary.LittleEndian.Uint32(b); m != pcapMagic {
		t.Errorf("magic %#x", m)
	}
	if lt := binary.LittleEndian.Uint32(b[20:]); lt != pcapLinkTypeRaw {
		t.Errorf("link type %d", lt)
	}
	var pkts [][]byte
	for r := b[pcapFileHdrLen:]; len(r) > 0; {
		if len(r) < pcapRecordHdrLen {
			t.Fatalf("short record header: %d bytes", len(r))
		}
		incl, orig := binary.LittleEndian.Uint32(r[8:]), binary.LittleEndian.Uint32(r[12:])
		if incl != orig || int(incl) > len(r)-pcapRecordHdrLen {
			t.Fatalf("record lengths %d/%d with %d bytes left", incl, orig, len(r))
		}
		pkts = append(pkts, r[pcapRecordHdrLen:pcapRecordHdrLen+incl])
		r = r[pcapRecordHdrLen+incl:]
	}
	s := st.Stats()
	if uint64(len(pkts)) != s.PacketsIn+s.PacketsOut {
		t.Errorf("%d records, want %d in + %d out", len(pkts), s.PacketsIn, s.PacketsOut)
	}
	if len(pkts) < 4 || !bytes.Equal(pkts[0], echoRequest4(peer4, addrA4.Addr(), 0x4242, 1, []byte("glassnet ping payload"))) {
		t.Errorf("first record is not the first echo request")
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
