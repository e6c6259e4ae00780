package netstack

import (
	"bytes"
	"strings"
	"testing"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/glassnet/glassnet/tun"
)

func packetList(pkts ...[]byte) (stack.PacketBufferList, func()) {
	var l stack.PacketBufferList
	for _, p := range pkts {
		l.PushBack(stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(p)}))
	}
	return l, func() { l.DecRef() }
}

// TestEndpointWriteErrors drives the egress path directly: a packet the
// device refuses is dropped as a write error without losing its
// neighbours, and after Close every packet is dropped as device-closed.
func TestEndpointWriteErrors(t *testing.T) {
	t.Parallel()
	da, db := tun.Pipe(tun.PipeOptions{MTU: 1280})
	defer db.Close()
	var c counters
	acct := &linkAccount{c: &c}
	d := newDeviceEndpoint(da, 0, acct)
	e := newStackEndpoint(d, acct)
	e.down = d // nothing nested between

	small1, small2 := bytes.Repeat([]byte{1}, 100), bytes.Repeat([]byte{2}, 200)
	big := make([]byte, 2000)
	l, release := packetList(small1, big, small2)
	n, err := e.WritePackets(l)
	release()
	if n != 2 || err != nil {
		t.Fatalf("WritePackets = %d, %v; want 2, nil", n, err)
	}
	bufs, sizes := [][]byte{make([]byte, 1280), make([]byte, 1280)}, []int{0, 0}
	got := 0
	for got < 2 {
		k, err := db.Read(bufs[got:], sizes[got:])
		if err != nil {
			t.Fatal(err)
		}
		got += k
	}
	if !bytes.Equal(bufs[0][:sizes[0]], small1) || !bytes.Equal(bufs[1][:sizes[1]], small2) {
		t.Errorf("peer read %d and %d bytes, want the two small packets in order", sizes[0], sizes[1])
	}
	s := c.snapshot()
	if s.PacketsOut != 2 || s.BytesOut != 300 || s.Drops[DropWriteError] != 1 {
		t.Errorf("stats %+v", s)
	}
	// The refusal is a device error too, counted under its reason.
	if len(s.DeviceErrors) != 1 {
		t.Errorf("device errors %v, want the one refusal", s.DeviceErrors)
	}
	for k := range s.DeviceErrors {
		if !strings.HasPrefix(k, "write: ") {
			t.Errorf("device error %q is not a write error", k)
		}
	}

	if err := d.shutdown(); err != nil {
		t.Fatal(err)
	}
	l, release = packetList(small1, small2)
	n, err = e.WritePackets(l)
	release()
	if _, ok := err.(*tcpip.ErrClosedForSend); n != 0 || !ok {
		t.Errorf("WritePackets after close = %d, %v", n, err)
	}
	if d := c.snapshot().Drops[DropDeviceClosed]; d != 2 {
		t.Errorf("device-closed drops = %d, want 2", d)
	}
}
