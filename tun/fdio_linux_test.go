package tun

import (
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
