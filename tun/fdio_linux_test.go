package tun

import (
	"bytes"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// fdPair returns the two ends of a datagram socket pair as fdIOs: like a
// TUN fd, every read returns one packet and every write takes one.
func fdPair(tb testing.TB) (*fdIO, *fdIO) {
	tb.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	var ios [2]*fdIO
	for i, fd := range fds {
		io, err := newFdIO(os.NewFile(uintptr(fd), "socketpair"))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { io.close() })
		ios[i] = io
	}
	return ios[0], ios[1]
}

// BenchmarkFdIO writes a batch of 8 packets of 1400 bytes on one end and
// reads them on the other, the path of every packet on a TUN or AF_PACKET
// device.
func BenchmarkFdIO(b *testing.B) {
	w, r := fdPair(b)
	const batch = 8
	pkts := make([][]byte, batch)
	bufs := make([][]byte, batch)
	for i := range pkts {
		pkts[i] = make([]byte, 1400)
		pkts[i][0] = 0x45
		bufs[i] = make([]byte, 1500)
	}
	sizes := make([]int, batch)
	b.ReportAllocs()
	b.SetBytes(batch * 1400)
	for range b.N {
		if _, err := w.write(pkts); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < batch; {
			n, err := r.read(bufs[got:], sizes[got:], batch)
			if err != nil {
				b.Fatal(err)
			}
			got += n
		}
	}
}

// vnetPair returns the two ends of a datagram socket pair as vnetIOs: a
// writev of header and packet arrives as one datagram that readv splits
// the same way, as on a TUN with IFF_VNET_HDR.
func vnetPair(tb testing.TB) (*vnetIO, *vnetIO, *offloadCounters) {
	tb.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	c := new(offloadCounters)
	var ios [2]*vnetIO
	for i, fd := range fds {
		io, err := newVnetIO(os.NewFile(uintptr(fd), "socketpair"), c)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { io.close() })
		ios[i] = io
	}
	return ios[0], ios[1], c
}

// TestVnetIO moves packets with metadata through readv/writev, plain and
// gathered from parts, and checks that a batch allocates nothing and that
// a malformed header is dropped and counted.
func TestVnetIO(t *testing.T) {
	w, r, c := vnetPair(t)
	super := tcpPacket(false, 1, 1, 0x10, nil, pattern(20000))
	g := GSO{Type: GSOTCPv4, HdrLen: 40, Size: 1448, NeedsCsum: true, CsumStart: 20, CsumOffset: 16}
	pkts := [][]byte{super, super[:60]}
	gso := []GSO{g, {}}
	vecs := [][][]byte{{super[:40], super[40:1000], super[1000:]}, {super[:60]}}
	bufs := [][]byte{make([]byte, MaxSuperPacket), make([]byte, MaxSuperPacket)}
	sizes := make([]int, 2)
	got := make([]GSO, 2)
	check := func() {
		n, err := r.read(bufs, sizes, got, 2, false)
		if err != nil || n != 2 {
			t.Fatalf("read = %d, %v", n, err)
		}
		if sizes[0] != len(super) || got[0] != g || sizes[1] != 60 || got[1] != (GSO{}) {
			t.Fatalf("read sizes %v, gso %+v", sizes, got)
		}
	}
	move := func() {
		if n, err := w.write(pkts, gso); n != 2 || err != nil {
			t.Fatalf("write = %d, %v", n, err)
		}
		check()
		if n, err := w.writeVec(vecs, gso); n != 2 || err != nil {
			t.Fatalf("writeVec = %d, %v", n, err)
		}
		check()
	}
	move()
	if !bytes.Equal(bufs[0][:sizes[0]], super) {
		t.Fatal("the packet gathered from parts differs")
	}
	if !raceEnabled {
		if a := testing.AllocsPerRun(50, move); a != 0 {
			t.Errorf("a batch through writev and readv allocates %v times", a)
		}
	}
	if st := c.snapshot(); st.GSOOut == 0 || st.GSOSegmentsOut != st.GSOOut*14 || st.GSOIn != st.GSOOut {
		t.Errorf("counters %+v; want 14 segments per super-packet both ways", st)
	}

	// A header that says UFO is dropped with its reason; the next packet
	// still arrives.
	var h [vnetHdrLen]byte
	vnetHdr(h[:]).SetGSOType(vnetGSOUDP)
	vnetHdr(h[:]).SetGSOSize(100)
	if _, err := unix.Writev(int(w.f.Fd()), [][]byte{h[:], super}); err != nil {
		t.Fatal(err)
	}
	if n, err := w.write(pkts[1:], gso[1:]); n != 1 || err != nil {
		t.Fatalf("write = %d, %v", n, err)
	}
	n, err := r.read(bufs, sizes, got, 2, false)
	if err != nil || n != 1 || sizes[0] != 60 {
		t.Fatalf("read after a bad header = %d (%v), %v; want the good packet only", n, sizes, err)
	}
	if d := c.snapshot().Drops[DropVnetGSOType]; d != 1 {
		t.Errorf("%s drops = %d, want 1", DropVnetGSOType, d)
	}
}
