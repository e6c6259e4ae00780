package netstack

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/glassnet/glassnet/tun"
)

var peer4 = netip.MustParseAddr("10.0.0.9")
var peer6 = netip.MustParseAddr("fd00::9")

func tcpipAddr(a netip.Addr) tcpip.Address { return tcpip.AddrFromSlice(a.AsSlice()) }

// echoRequest4 builds an IPv4 ICMP echo request from src to dst.
func echoRequest4(src, dst netip.Addr, id, seq uint16, data []byte) []byte {
	b := make([]byte, header.IPv4MinimumSize+header.ICMPv4MinimumSize+len(data))
	ip := header.IPv4(b)
	ip.Encode(&header.IPv4Fields{
		TotalLength: uint16(len(b)),
		TTL:         64,
		Protocol:    uint8(header.ICMPv4ProtocolNumber),
		SrcAddr:     tcpipAddr(src),
		DstAddr:     tcpipAddr(dst),
	})
	ip.SetChecksum(^ip.CalculateChecksum())
	ic := header.ICMPv4(ip.Payload())
	ic.SetType(header.ICMPv4Echo)
	ic.SetIdent(id)
	ic.SetSequence(seq)
	copy(ic.Payload(), data)
	ic.SetChecksum(0)
	ic.SetChecksum(^checksum.Checksum(ic, 0))
	return b
}

// echoRequest6 builds an IPv6 ICMPv6 echo request from src to dst.
func echoRequest6(src, dst netip.Addr, id, seq uint16, data []byte) []byte {
	b := make([]byte, header.IPv6MinimumSize+header.ICMPv6EchoMinimumSize+len(data))
	ip := header.IPv6(b)
	ip.Encode(&header.IPv6Fields{
		PayloadLength:     uint16(len(b) - header.IPv6MinimumSize),
		TransportProtocol: header.ICMPv6ProtocolNumber,
		HopLimit:          64,
		SrcAddr:           tcpipAddr(src),
		DstAddr:           tcpipAddr(dst),
	})
	ic := header.ICMPv6(ip.Payload())
	ic.SetType(header.ICMPv6EchoRequest)
	ic.SetIdent(id)
	ic.SetSequence(seq)
	copy(ic.Payload(), data)
	ic.SetChecksum(header.ICMPv6Checksum(header.ICMPv6ChecksumParams{
		Header: ic,
		Src:    tcpipAddr(src),
		Dst:    tcpipAddr(dst),
	}))
	return b
}

// readUntil reads packets from dev until match accepts one.
func readUntil(t *testing.T, dev *tun.PipeEnd, match func([]byte) bool) []byte {
	t.Helper()
	got := make(chan []byte, 1)
	go func() {
		bufs := [][]byte{make([]byte, dev.MTU())}
		sizes := []int{0}
		for {
			n, err := dev.Read(bufs, sizes)
			if err != nil {
				close(got)
				return
			}
			if n == 1 && match(bufs[0][:sizes[0]]) {
				got <- append([]byte(nil), bufs[0][:sizes[0]]...)
				return
			}
		}
	}()
	select {
	case p, ok := <-got:
		if !ok {
			t.Fatal("device closed before the expected packet")
		}
		return p
	case <-time.After(5 * time.Second):
		dev.Close() // ends the reader
		t.Fatal("no matching packet within 5s")
		return nil
	}
}

func ping4(t *testing.T, dev *tun.PipeEnd, seq uint16) {
	t.Helper()
	data := []byte("glassnet ping payload")
	req := echoRequest4(peer4, addrA4.Addr(), 0x4242, seq, data)
	if _, err := dev.Write([][]byte{req}); err != nil {
		t.Fatalf("write: %v", err)
	}
	reply := readUntil(t, dev, func(p []byte) bool {
		if header.IPVersion(p) != 4 || len(p) < header.IPv4MinimumSize+header.ICMPv4MinimumSize {
			return false
		}
		ip := header.IPv4(p)
		return ip.Protocol() == uint8(header.ICMPv4ProtocolNumber) && header.ICMPv4(ip.Payload()).Type() == header.ICMPv4EchoReply
	})
	ip := header.IPv4(reply)
	if !ip.IsValid(len(reply)) || !ip.IsChecksumValid() {
		t.Fatalf("reply IP header invalid: % x", reply)
	}
	if ip.SourceAddress() != tcpipAddr(addrA4.Addr()) || ip.DestinationAddress() != tcpipAddr(peer4) {
		t.Errorf("reply %v > %v, want %v > %v", ip.SourceAddress(), ip.DestinationAddress(), addrA4.Addr(), peer4)
	}
	ic := header.ICMPv4(ip.Payload())
	if ic.Ident() != 0x4242 || ic.Sequence() != seq || !bytes.Equal(ic.Payload(), data) {
		t.Errorf("reply id %#x seq %d payload %q", ic.Ident(), ic.Sequence(), ic.Payload())
	}
	if checksum.Checksum(ic, 0) != 0xffff {
		t.Errorf("reply ICMP checksum invalid")
	}
}

func TestICMPv4Echo(t *testing.T) {
	t.Parallel()
	_, dev := newSolo(t, nil)
	ping4(t, dev, 1)
	ping4(t, dev, 2)
}

func TestICMPv6Echo(t *testing.T) {
	t.Parallel()
	_, dev := newSolo(t, nil)
	data := []byte("glassnet ping6 payload")
	req := echoRequest6(peer6, addrA6.Addr(), 0x0606, 7, data)
	if _, err := dev.Write([][]byte{req}); err != nil {
		t.Fatalf("write: %v", err)
	}
	reply := readUntil(t, dev, func(p []byte) bool {
		if header.IPVersion(p) != 6 || len(p) < header.IPv6MinimumSize+header.ICMPv6EchoMinimumSize {
			return false
		}
		ip := header.IPv6(p)
		return ip.NextHeader() == uint8(header.ICMPv6ProtocolNumber) && header.ICMPv6(ip.Payload()).Type() == header.ICMPv6EchoReply
	})
	ip := header.IPv6(reply)
	if ip.SourceAddress() != tcpipAddr(addrA6.Addr()) || ip.DestinationAddress() != tcpipAddr(peer6) {
		t.Errorf("reply %v > %v", ip.SourceAddress(), ip.DestinationAddress())
	}
	ic := header.ICMPv6(ip.Payload())
	if ic.Ident() != 0x0606 || ic.Sequence() != 7 || !bytes.Equal(ic.Payload(), data) {
		t.Errorf("reply id %#x seq %d payload %q", ic.Ident(), ic.Sequence(), ic.Payload())
	}
	want := header.ICMPv6Checksum(header.ICMPv6ChecksumParams{Header: ic, Src: ip.SourceAddress(), Dst: ip.DestinationAddress()})
	if ic.Checksum() != want {
		t.Errorf("reply checksum %#x, want %#x", ic.Checksum(), want)
	}
}
