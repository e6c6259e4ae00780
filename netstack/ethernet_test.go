package netstack

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"

	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
	macC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0c} // a third host
)

// etherDev makes one end of a tun.Pipe an Ethernet device: the pipe
// carries whole frames, so its MTU is the IP MTU plus the header.
type etherDev struct {
	*tun.PipeEnd
	mac net.HardwareAddr
}

func (d etherDev) MTU() int                       { return d.PipeEnd.MTU() - header.EthernetMinimumSize }
func (d etherDev) HardwareAddr() net.HardwareAddr { return d.mac }
func (d etherDev) MaxFrameSize() int              { return d.PipeEnd.MTU() }

var _ tun.LinkLayer = etherDev{}

// newEtherPair is newPair over an Ethernet link with MTU 1500.
func newEtherPair(t *testing.T, edit func(which string, o *Options)) (a, b *Stack) {
	t.Helper()
	da, db := tun.Pipe(tun.PipeOptions{MTU: 1500 + header.EthernetMinimumSize})
	oa := Options{Device: etherDev{da, macA}, Addrs: []netip.Prefix{addrA4, addrA6}, Node: "a"}
	ob := Options{Device: etherDev{db, macB}, Addrs: []netip.Prefix{addrB4, addrB6}, Node: "b"}
	if edit != nil {
		edit("a", &oa)
		edit("b", &ob)
	}
	return mustNew(t, oa), mustNew(t, ob)
}

// newEtherSolo is newSolo on an Ethernet device with MAC macA; the test
// writes frames into the returned end.
func newEtherSolo(t *testing.T, edit func(o *Options)) (*Stack, *tun.PipeEnd) {
	t.Helper()
	da, db := tun.Pipe(tun.PipeOptions{MTU: 1500 + header.EthernetMinimumSize})
	t.Cleanup(func() { db.Close() })
	o := Options{Device: etherDev{da, macA}, Addrs: []netip.Prefix{addrA4, addrA6}, Node: "solo"}
	if edit != nil {
		edit(&o)
	}
	return mustNew(t, o), db
}

func frame(dst, src net.HardwareAddr, typ tcpip.NetworkProtocolNumber, payload []byte) []byte {
	b := make([]byte, header.EthernetMinimumSize+len(payload))
	header.Ethernet(b).Encode(&header.EthernetFields{
		SrcAddr: tcpip.LinkAddress(src),
		DstAddr: tcpip.LinkAddress(dst),
		Type:    typ,
	})
	copy(b[header.EthernetMinimumSize:], payload)
	return b
}

// TestEthernetTransfer runs TCP both ways over IPv4 and IPv6 between two
// stacks on an Ethernet link: ARP and neighbor discovery resolve each
// other's MACs first.
func TestEthernetTransfer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		srv   netip.Prefix
		proto tcpip.NetworkProtocolNumber
	}{
		{"v4", addrB4, ipv4.ProtocolNumber},
		{"v6", addrB6, ipv6.ProtocolNumber},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b := newEtherPair(t, nil)
			server, client := connect(t, a, b, tc.srv, tc.proto)
			exchange(t, client, server, 256<<10)
			for _, st := range []*Stack{a, b} {
				if s := st.Stats(); s.Dropped() != 0 {
					t.Errorf("drops: %v", s.Drops)
				}
			}
			if tc.proto == ipv4.ProtocolNumber {
				if n := a.Stack().Stats().ARP.OutgoingRequestsSent.Value(); n == 0 {
					t.Error("a sent no ARP request")
				}
			} else if n := a.Stack().Stats().ICMP.V6.PacketsSent.NeighborSolicit.Value(); n == 0 {
				t.Error("a sent no neighbor solicitation")
			}
		})
	}
}

// TestEthernetARPAndPing answers an ARP request for the stack's address
// and a ping, by hand, and checks the frames that come back.
func TestEthernetARPAndPing(t *testing.T) {
	t.Parallel()
	st, dev := newEtherSolo(t, nil)
	peerMAC := macC
	req := make([]byte, header.ARPSize)
	a := header.ARP(req)
	a.SetIPv4OverEthernet()
	a.SetOp(header.ARPRequest)
	copy(a.HardwareAddressSender(), peerMAC)
	copy(a.ProtocolAddressSender(), peer4.AsSlice())
	copy(a.ProtocolAddressTarget(), addrA4.Addr().AsSlice())
	if _, err := dev.Write([][]byte{frame(net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, peerMAC, header.ARPProtocolNumber, req)}); err != nil {
		t.Fatal(err)
	}
	reply := readFrame(t, dev, func(f []byte) bool {
		return header.Ethernet(f).Type() == header.ARPProtocolNumber && header.ARP(f[header.EthernetMinimumSize:]).Op() == header.ARPReply
	})
	ra := header.ARP(reply[header.EthernetMinimumSize:])
	if got := net.HardwareAddr(ra.HardwareAddressSender()); !bytes.Equal(got, macA) {
		t.Errorf("ARP reply says %v is at %v, want %v", addrA4.Addr(), got, macA)
	}
	if got := net.HardwareAddr(reply[:6]); !bytes.Equal(got, peerMAC) {
		t.Errorf("ARP reply sent to %v, want %v", got, peerMAC)
	}

	// The stack learned the peer's MAC from the request: a ping is
	// answered at once, to that MAC.
	ping := echoRequest4(peer4, addrA4.Addr(), 7, 1, []byte("over ethernet"))
	if _, err := dev.Write([][]byte{frame(macA, peerMAC, header.IPv4ProtocolNumber, ping)}); err != nil {
		t.Fatal(err)
	}
	pong := readFrame(t, dev, func(f []byte) bool {
		if header.Ethernet(f).Type() != header.IPv4ProtocolNumber {
			return false
		}
		ip := header.IPv4(f[header.EthernetMinimumSize:])
		return ip.Protocol() == uint8(header.ICMPv4ProtocolNumber) && header.ICMPv4(ip.Payload()).Type() == header.ICMPv4EchoReply
	})
	if got := net.HardwareAddr(pong[:6]); !bytes.Equal(got, peerMAC) {
		t.Errorf("echo reply sent to %v, want %v", got, peerMAC)
	}
	if st.Stats().Dropped() != 0 {
		t.Errorf("drops: %v", st.Stats().Drops)
	}
}

// readFrame reads frames from dev until match accepts one.
func readFrame(t *testing.T, dev *tun.PipeEnd, match func([]byte) bool) []byte {
	t.Helper()
	return readUntil(t, dev, func(f []byte) bool {
		return len(f) >= header.EthernetMinimumSize && match(f)
	})
}

// frameCases are frames the Ethernet path must drop, with the reason.
func frameCases() []struct {
	name   string
	frame  []byte
	reason DropReason
} {
	ping := echoRequest4(peer4, addrA4.Addr(), 1, 1, []byte("x"))
	ping6 := echoRequest6(peer6, addrA6.Addr(), 1, 1, []byte("x"))
	good := frame(macA, macC, header.IPv4ProtocolNumber, ping)
	return []struct {
		name   string
		frame  []byte
		reason DropReason
	}{
		{"empty", []byte{}, DropEmpty},
		{"one-byte", []byte{0xff}, DropEthernetShort},
		{"header-cut", good[:13], DropEthernetShort},
		{"other-host", frame(macB, macC, header.IPv4ProtocolNumber, ping), DropOtherHost},
		{"vlan", frame(macA, macC, 0x8100, ping), DropEtherType},
		{"802.3-length", frame(macA, macC, 0x002e, ping), DropEtherType},
		{"ipx", frame(macA, macC, 0x8137, ping), DropEtherType},
		{"arp-short", frame(macA, macC, header.ARPProtocolNumber, make([]byte, 27)), DropARPShort},
		{"ipv4-type-ipv6-packet", frame(macA, macC, header.IPv4ProtocolNumber, ping6), DropBadVersion},
		{"ipv6-type-ipv4-packet", frame(macA, macC, header.IPv6ProtocolNumber, ping), DropBadVersion},
		{"ipv4-empty", frame(macA, macC, header.IPv4ProtocolNumber, nil), DropEmpty},
		{"ipv4-cut", good[:header.EthernetMinimumSize+len(ping)-3], DropIPv4TotalLength},
		{"ipv6-short", frame(macA, macC, header.IPv6ProtocolNumber, ping6[:20]), DropIPv6Short},
	}
}

func TestClassifyFrame(t *testing.T) {
	t.Parallel()
	hw := tcpip.LinkAddress(macA)
	for _, c := range frameCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if _, r := classifyFrame(c.frame, hw); r != c.reason {
				t.Errorf("classifyFrame = %q, want %q", r, c.reason)
			}
		})
	}
	ping := echoRequest4(peer4, addrA4.Addr(), 1, 1, nil)
	for _, f := range [][]byte{
		frame(macA, macC, header.IPv4ProtocolNumber, ping),
		frame(net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, macC, header.IPv4ProtocolNumber, ping),
		frame(net.HardwareAddr{0x33, 0x33, 0xff, 0, 0, 1}, macC, header.IPv6ProtocolNumber, echoRequest6(peer6, addrA6.Addr(), 1, 1, nil)),
		frame(macA, macC, header.IPv4ProtocolNumber, append(ping, make([]byte, 18)...)), // padded to 60 bytes
	} {
		if proto, r := classifyFrame(f, hw); r != "" || proto == 0 {
			t.Errorf("classifyFrame(valid % x) = %v, %q", f[:16], proto, r)
		}
	}
}

func TestEthernetMalformedDropped(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	st, dev := newEtherSolo(t, func(o *Options) { o.Tracer = trace.New(rec) })
	cases := frameCases()
	want := map[DropReason]uint64{}
	for _, c := range cases {
		if _, err := dev.Write([][]byte{c.frame}); err != nil {
			t.Fatalf("%s: write: %v", c.name, err)
		}
		want[c.reason]++
	}
	// A ping afterwards proves the stack still works and, the pipe being
	// ordered, that every bad frame has been seen.
	ping := echoRequest4(peer4, addrA4.Addr(), 9, 9, nil)
	if _, err := dev.Write([][]byte{frame(macA, macC, header.IPv4ProtocolNumber, ping)}); err != nil {
		t.Fatal(err)
	}
	readFrame(t, dev, func(f []byte) bool {
		// The stack first asks for 10.0.0.100's MAC, then replies.
		if header.Ethernet(f).Type() != header.IPv4ProtocolNumber {
			if header.Ethernet(f).Type() == header.ARPProtocolNumber {
				answerARP(t, dev, f, macC)
			}
			return false
		}
		ip := header.IPv4(f[header.EthernetMinimumSize:])
		return ip.Protocol() == uint8(header.ICMPv4ProtocolNumber)
	})
	got := st.Stats()
	for r, n := range want {
		if got.Drops[r] != n {
			t.Errorf("drops[%s] = %d, want %d", r, got.Drops[r], n)
		}
	}
	if got.Dropped() != uint64(len(cases)) {
		t.Errorf("total drops %d, want %d: %v", got.Dropped(), len(cases), got.Drops)
	}
	var drops int
	for _, e := range rec.all() {
		if e.Name == "drop" {
			drops++
		}
	}
	if drops != len(cases) {
		t.Errorf("%d drop events, want %d", drops, len(cases))
	}
}

// answerARP replies to the ARP request in frame f, claiming the target
// address for mac.
func answerARP(t *testing.T, dev *tun.PipeEnd, f []byte, mac net.HardwareAddr) {
	t.Helper()
	req := header.ARP(f[header.EthernetMinimumSize:])
	if !req.IsValid() || req.Op() != header.ARPRequest {
		return
	}
	rep := make([]byte, header.ARPSize)
	a := header.ARP(rep)
	a.SetIPv4OverEthernet()
	a.SetOp(header.ARPReply)
	copy(a.HardwareAddressSender(), mac)
	copy(a.ProtocolAddressSender(), req.ProtocolAddressTarget())
	copy(a.HardwareAddressTarget(), req.HardwareAddressSender())
	copy(a.ProtocolAddressTarget(), req.ProtocolAddressSender())
	if _, err := dev.Write([][]byte{frame(net.HardwareAddr(req.HardwareAddressSender()), mac, header.ARPProtocolNumber, rep)}); err != nil {
		t.Fatal(err)
	}
}

// TestEthernetTrace checks that a packet event on an Ethernet device
// carries the IP summary behind the MACs, as tcpdump -e prints it, and
// that ARP is described.
func TestEthernetTrace(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	a, b := newEtherPair(t, func(which string, o *Options) {
		if which == "a" {
			o.Tracer = trace.New(rec)
		}
	})
	server, client := connect(t, a, b, addrB4, ipv4.ProtocolNumber)
	exchange(t, client, server, 1000)
	var sawARP, sawSYN bool
	for _, e := range rec.all() {
		if e.Name != "packet" {
			continue
		}
		if strings.HasPrefix(e.Summary, "02:00:00:00:00:0a > ff:ff:ff:ff:ff:ff, ARP, Request who-has 10.0.0.2 tell 10.0.0.1") {
			sawARP = true
		}
		if strings.HasPrefix(e.Summary, "02:00:00:00:00:0a > 02:00:00:00:00:0b, IP 10.0.0.1.") && strings.Contains(e.Summary, "Flags [S]") {
			sawSYN = true
			if v, _ := field(e, "dst_mac"); v != "02:00:00:00:00:0b" {
				t.Errorf("dst_mac field = %v", v)
			}
			// Capturing sinks get the IP packet, as on a TUN.
			if len(e.Data) < header.IPv4MinimumSize || e.Data[0]>>4 != 4 {
				t.Errorf("SYN event Data % x, want the IPv4 packet", e.Data)
			}
		}
	}
	if !sawARP || !sawSYN {
		for _, e := range rec.all() {
			t.Log(e.Summary)
		}
		t.Fatalf("ARP request seen %v, SYN with MACs seen %v", sawARP, sawSYN)
	}
}

// TestEthernetPCAP checks that the capture of an Ethernet device says
// LINKTYPE_ETHERNET and holds whole frames.
func TestEthernetPCAP(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	pw := &lockedBuffer{b: &buf}
	_, dev := newEtherSolo(t, func(o *Options) { o.PCAP = pw })
	ping := echoRequest4(peer4, addrA4.Addr(), 1, 1, nil)
	f := frame(macA, macC, header.IPv4ProtocolNumber, ping)
	if _, err := dev.Write([][]byte{f}); err != nil {
		t.Fatal(err)
	}
	readFrame(t, dev, func(b []byte) bool {
		if header.Ethernet(b).Type() == header.ARPProtocolNumber {
			answerARP(t, dev, b, macC)
		}
		return header.Ethernet(b).Type() == header.IPv4ProtocolNumber
	})
	data := pw.bytes()
	if lt := binary.LittleEndian.Uint32(data[20:]); lt != pcapLinkTypeEthernet {
		t.Fatalf("link type %d, want %d", lt, pcapLinkTypeEthernet)
	}
	if rec := data[pcapFileHdrLen+pcapRecordHdrLen:]; !bytes.HasPrefix(rec, f) {
		t.Errorf("first record % x, want the frame % x", rec[:len(f)], f)
	}
}

// FuzzEthernetIngress is FuzzIngress for the Ethernet path: any bytes as a
// frame from the device, with tracing and capture on.
func FuzzEthernetIngress(f *testing.F) {
	for _, c := range frameCases() {
		f.Add(c.frame)
	}
	f.Add(frame(macA, macC, header.IPv4ProtocolNumber, echoRequest4(peer4, addrA4.Addr(), 1, 1, []byte("hi"))))
	f.Add(frame(macA, macC, header.IPv6ProtocolNumber, echoRequest6(peer6, addrA6.Addr(), 1, 1, []byte("hi"))))
	f.Add(frame(macA, macC, header.IPv4ProtocolNumber, synPacket4()))
	arp := make([]byte, header.ARPSize)
	header.ARP(arp).SetIPv4OverEthernet()
	header.ARP(arp).SetOp(header.ARPRequest)
	f.Add(frame(net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, macC, header.ARPProtocolNumber, arp))

	da, db := tun.Pipe(tun.PipeOptions{MTU: 1514})
	st, err := New(Options{
		Device: etherDev{da, macA},
		Addrs:  []netip.Prefix{addrA4, addrA6},
		Tracer: trace.New(trace.SinkFunc(func(*trace.Event) {})),
		PCAP:   io.Discard,
	})
	if err != nil {
		f.Fatal(err)
	}
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		bufs, sizes := [][]byte{make([]byte, 1514)}, []int{0}
		for {
			if _, err := db.Read(bufs, sizes); err != nil {
				return
			}
		}
	}()
	f.Cleanup(func() {
		st.Close()
		db.Close()
		<-drained
	})

	f.Fuzz(func(t *testing.T, b []byte) {
		before := st.Stats()
		st.dev.up.receive(b, pktMeta{})
		after := st.Stats()
		moved := (after.PacketsIn - before.PacketsIn) + (after.Dropped() - before.Dropped())
		if moved < 1 {
			t.Fatalf("frame neither delivered nor dropped: % x", b)
		}
		_ = trace.DescribeFrame(b, newFlowTable())
	})
}

// lockedBuffer is a bytes.Buffer safe for the stack's writer goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.b.Bytes()...)
}

// TestEthernetPCAPNG: the pcapng a trace of a stack on an Ethernet device
// is written to (the view's export, demo's --pcap) has an Ethernet
// interface described as the stack's AF_PACKET side, and the same frames
// as the stack's own pcap, MACs, ARP and neighbor discovery included.
func TestEthernetPCAPNG(t *testing.T) {
	t.Parallel()
	var pcap, png bytes.Buffer
	pw := &lockedBuffer{b: &pcap}
	sink := trace.NewPCAPNG(&png)
	tr := trace.New(sink)
	a, b := newEtherPair(t, func(which string, o *Options) {
		if which == "a" {
			o.Tracer, o.PCAP = tr, pw
		}
	})
	server, client := connect(t, b, a, addrA4, ipv4.ProtocolNumber)
	exchange(t, client, server, 1000)
	s6, c6 := connect(t, b, a, addrA6, ipv6.ProtocolNumber)
	exchange(t, c6, s6, 100)
	for _, c := range []net.Conn{server, client, s6, c6} {
		c.Close()
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	tr.Flush()
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}

	// The pcap's frames, and the pcapng's.
	var want, got []string
	p := pw.bytes()
	for rec := p[pcapFileHdrLen:]; len(rec) >= pcapRecordHdrLen; {
		n := int(binary.LittleEndian.Uint32(rec[8:]))
		want = append(want, string(rec[pcapRecordHdrLen:pcapRecordHdrLen+n]))
		rec = rec[pcapRecordHdrLen+n:]
	}
	var desc string
	for blk := png.Bytes(); len(blk) >= 12; {
		typ, n := binary.LittleEndian.Uint32(blk), int(binary.LittleEndian.Uint32(blk[4:]))
		body := blk[8 : n-4]
		switch typ {
		case 1: // interface description
			if lt := binary.LittleEndian.Uint16(body); lt != pcapLinkTypeEthernet {
				t.Errorf("an interface of link type %d, want Ethernet (%d)", lt, pcapLinkTypeEthernet)
			}
			for o := body[8:]; len(o) >= 4 && binary.LittleEndian.Uint16(o) != 0; {
				l := int(binary.LittleEndian.Uint16(o[2:]))
				if binary.LittleEndian.Uint16(o) == 3 { // if_description
					desc = string(o[4 : 4+l])
				}
				o = o[4+(l+3)&^3:]
			}
		case 6: // enhanced packet
			got = append(got, string(body[20:20+binary.LittleEndian.Uint32(body[12:])]))
		}
		blk = blk[n:]
	}
	if !strings.Contains(desc, `stack "a"`) || !strings.Contains(desc, "AF_PACKET") {
		t.Errorf("if_description %q, want one naming the stack and its AF_PACKET socket", desc)
	}
	types := map[tcpip.NetworkProtocolNumber]int{}
	for _, f := range got {
		types[header.Ethernet(f).Type()]++
	}
	if types[header.ARPProtocolNumber] == 0 || types[header.IPv4ProtocolNumber] == 0 || types[header.IPv6ProtocolNumber] == 0 {
		t.Errorf("the pcapng's frames by ethertype: %v, want ARP, IPv4 and IPv6", types)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("the pcapng has %d frames, the pcap %d; not the same", len(got), len(want))
		for _, f := range got {
			if !slices.Contains(want, f) {
				t.Logf("only in the pcapng: %s", trace.DescribeFrame([]byte(f), nil).Summary)
			}
		}
		for _, f := range want {
			if !slices.Contains(got, f) {
				t.Logf("only in the pcap: %s", trace.DescribeFrame([]byte(f), nil).Summary)
			}
		}
	}
}
