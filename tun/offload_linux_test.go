package tun

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/glassnet/glassnet/internal/netnstest"
)

// TestTUNOffloads checks the offloads a default Open agrees on, that
// NoOffload gets none, and that a kernel refusing some falls back to
// fewer, down to none.
func TestTUNOffloads(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		dev := openTUN(t, Config{HostAddr: hostPrefix})
		got := dev.Offloads()
		t.Logf("offloads: %v", got)
		if want := OffloadCsum | OffloadTSO4 | OffloadTSO6; got&want != want {
			t.Errorf("Offloads() = %v, want at least %v", got, want)
		}
		dev.Close()

		dev = openTUN(t, Config{HostAddr: hostPrefix, NoOffload: true})
		if got := dev.Offloads(); got != 0 {
			t.Errorf("with NoOffload: Offloads() = %v, want none", got)
		}
		dev.Close()

		for _, tt := range []struct {
			refuse, want Offload
		}{
			{OffloadUSO4, OffloadCsum | OffloadTSO4 | OffloadTSO6},
			{OffloadTSO6, OffloadCsum},
			{OffloadCsum, 0},
		} {
			dev, err := open(Config{HostAddr: hostPrefix}, openHooks{refuse: tt.refuse})
			if err != nil {
				t.Fatalf("open refusing %v: %v", tt.refuse, err)
			}
			if got := dev.Offloads(); got != tt.want {
				t.Errorf("kernel refusing %v: Offloads() = %v, want %v", tt.refuse, got, tt.want)
			}
			// The device works without offloads: datagrams arrive
			// whole with a zero GSO.
			if tt.want == 0 {
				sendUDP(t, make([]byte, 300), 0)
				bufs, sizes, gso := [][]byte{make([]byte, MaxSuperPacket)}, []int{0}, []GSO{{Type: GSOTCPv4}}
				for {
					n, err := dev.ReadGSO(bufs, sizes, gso)
					if err != nil || n != 1 {
						t.Fatalf("ReadGSO = %d, %v", n, err)
					}
					if p, ok := parseUDP4(bufs[0][:sizes[0]]); ok && p.dstPort == 9999 {
						if gso[0] != (GSO{}) || len(p.payload) != 300 {
							t.Errorf("GSO %+v, payload %d bytes; want zero metadata and 300", gso[0], len(p.payload))
						}
						break
					}
				}
			}
			dev.Close()
		}
	})
}

// sendUDP sends payload from a kernel socket to the stack's address, port
// 9999, as one send; with segment > 0 the kernel cuts it into datagrams
// of that size (UDP_SEGMENT), leaving the cutting to the TUN when USO is
// on.
func sendUDP(t *testing.T, payload []byte, segment int) {
	t.Helper()
	conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(stackAddr, 9999)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if segment > 0 {
		rc, err := conn.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var serr error
		rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT, segment)
		})
		if serr != nil {
			t.Skipf("UDP_SEGMENT: %v", serr)
		}
	}
	if _, err := conn.Write(payload); err != nil {
		t.Fatal(err)
	}
}

// TestTUNUSO sends one UDP_SEGMENT write from a kernel socket and reads it
// both ways: ReadGSO gets one super-packet with its metadata, Read gets
// the datagrams, cut in software with valid checksums, in order.
func TestTUNUSO(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		dev := openTUN(t, Config{HostAddr: hostPrefix})
		if dev.Offloads()&OffloadUSO4 == 0 {
			t.Skipf("the kernel did not agree to USO (offloads %v)", dev.Offloads())
		}
		payload := pattern(10*1000 + 123)

		sendUDP(t, payload, 1000)
		bufs, sizes, gso := [][]byte{make([]byte, MaxSuperPacket)}, []int{0}, []GSO{{}}
		for {
			n, err := dev.ReadGSO(bufs, sizes, gso)
			if err != nil || n != 1 {
				t.Fatalf("ReadGSO = %d, %v", n, err)
			}
			pkt := bufs[0][:sizes[0]]
			if len(pkt) < 28 || pkt[9] != 17 {
				continue
			}
			g := gso[0]
			if g.Type != GSOUDP || g.Size != 1000 || len(pkt) != 28+len(payload) {
				t.Fatalf("read %d bytes with %+v; want one UDP super-packet of %d, size 1000", len(pkt), g, 28+len(payload))
			}
			t.Logf("super-packet: %d bytes, %+v", len(pkt), g)
			break
		}

		sendUDP(t, payload, 1000)
		var got []byte
		datagrams := 0
		readUntil(t, dev, 5*time.Second, func(pkts [][]byte) bool {
			for _, pkt := range pkts {
				p, ok := parseUDP4(pkt)
				if !ok || p.dstPort != 9999 {
					continue
				}
				if len(pkt) > dev.MTU() {
					t.Errorf("Read returned %d bytes, beyond the MTU", len(pkt))
				}
				if !ipv4ChecksumOK(pkt) || !udp4ChecksumOK(pkt) {
					t.Errorf("datagram %d: checksum does not verify", datagrams)
				}
				got = append(got, p.payload...)
				datagrams++
			}
			return len(got) >= len(payload)
		})
		if datagrams != 11 || !bytes.Equal(got, payload) {
			t.Errorf("%d datagrams, %d bytes; want 11 carrying the payload", datagrams, len(got))
		}
		st := dev.OffloadStats()
		if st.GSOIn != 2 || st.GSOSegmentsIn != 22 || st.Split != 1 {
			t.Errorf("OffloadStats %+v; want 2 super-packets in, 22 segments, 1 split", st)
		}
	})
}

// TestTUNReadSplitsAcrossCalls reads the datagrams of one super-packet
// with one buffer per Read: the rest wait for the next call.
func TestTUNReadSplitsAcrossCalls(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		dev := openTUN(t, Config{HostAddr: hostPrefix, BatchSize: 1})
		if dev.Offloads()&OffloadUSO4 == 0 {
			t.Skipf("the kernel did not agree to USO (offloads %v)", dev.Offloads())
		}
		payload := pattern(5 * 700)
		sendUDP(t, payload, 700)
		var got []byte
		readUntil(t, dev, 5*time.Second, func(pkts [][]byte) bool {
			if len(pkts) != 1 {
				t.Fatalf("Read returned %d packets with BatchSize 1", len(pkts))
			}
			if p, ok := parseUDP4(pkts[0]); ok && p.dstPort == 9999 {
				got = append(got, p.payload...)
			}
			return len(got) >= len(payload)
		})
		if !bytes.Equal(got, payload) {
			t.Errorf("payload differs after reading one datagram per call")
		}
	})
}

// TestTUNReadGSOScatter reads a super-packet made by the kernel (one
// UDP_SEGMENT write) into a head and a tail: the same bytes and metadata
// as ReadGSO, with the headers in the head.
func TestTUNReadGSOScatter(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		dev := openTUN(t, Config{HostAddr: hostPrefix})
		if dev.Offloads()&OffloadUSO4 == 0 {
			t.Skipf("the kernel did not agree to USO (offloads %v)", dev.Offloads())
		}
		payload := pattern(10*1000 + 123)
		want := 28 + len(payload)
		for _, tailLen := range []int{MaxSuperPacket, 32 << 10} {
			sendUDP(t, payload, 1000)
			heads, tails := [][]byte{make([]byte, 64)}, [][]byte{make([]byte, tailLen)}
			sizes, gso := []int{0}, []GSO{{}}
			for {
				n, err := dev.ReadGSOScatter(heads, tails, sizes, gso)
				if err != nil || n != 1 {
					t.Fatalf("ReadGSOScatter = %d, %v", n, err)
				}
				head := heads[0][:min(sizes[0], 64)]
				if len(head) < 28 || head[9] != 17 {
					continue
				}
				if sizes[0] != want || gso[0].Type != GSOUDP || gso[0].Size != 1000 {
					t.Fatalf("tail of %d: read %d bytes with %+v; want %d, UDP, size 1000", tailLen, sizes[0], gso[0], want)
				}
				pkt := append(append([]byte(nil), head...), tails[0][:want-64]...)
				if p, ok := parseUDP4(pkt); !ok || !bytes.Equal(p.payload, payload) {
					t.Errorf("the packet joined from head and tail does not carry the payload")
				}
				break
			}
		}
	})
}
