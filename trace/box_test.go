package trace

import (
	"strconv"
	"testing"
)

// TestFieldsBoxRepeatedStringsOnce: a packet's addresses, protocol and
// flags, the same from event to event, are boxed into Field values once,
// so that its fields cost one allocation, the slice (every number here is
// under 256, which Go boxes without allocating).
func TestFieldsBoxRepeatedStringsOnce(t *testing.T) {
	p := &LinkPacket{Src: "10.0.0.1", Dst: "10.0.0.2", Len: 52, Proto: "tcp", Flags: "P.",
		Sport: Some(80), Dport: Some(81), PayloadLen: Some(12)}
	p.Fields()
	if n := testing.AllocsPerRun(100, func() { p.Fields() }); n != 1 {
		t.Errorf("a packet's fields took %v allocations, want 1", n)
	}
	for _, f := range p.Fields() {
		want := map[string]any{"src": "10.0.0.1", "dst": "10.0.0.2", "len": 52, "proto": "tcp",
			"flags": "P.", "sport": 80, "dport": 81, "payload_len": 12}[f.Key]
		if f.Value != want {
			t.Errorf("field %s = %#v, want %#v", f.Key, f.Value, want)
		}
	}
}

// TestBoxStringKeepsEachValue: strings that share a slot, and long ones
// that are not kept, come back as themselves.
func TestBoxStringKeepsEachValue(t *testing.T) {
	long := string(make([]byte, 100))
	for round := range 2 {
		for i := range 5000 {
			s := "10.0." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256)
			if v := boxString(s); v != s {
				t.Fatalf("round %d: boxString(%q) = %#v", round, s, v)
			}
		}
		if v := boxString(long); v != long {
			t.Fatal("a long string came back changed")
		}
		if v := boxString(""); v != "" {
			t.Fatalf(`boxString("") = %#v`, v)
		}
	}
}

// TestPacketConnNamesRepeatOnce: the connection a packet belongs to is
// named without an allocation while the same connection's packets repeat,
// and a packet of another connection gets its own name.
func TestPacketConnNamesRepeatOnce(t *testing.T) {
	a := tcpPacket(ipClient, ipServer, 40000, 80, 1, 0, 0x10, "x")
	b := tcpPacket(ipServer, ipClient, 80, 40000, 1, 0, 0x10, "y")
	if got := PacketConn(a); got != "10.0.0.1:40000->10.0.0.2:80" {
		t.Fatalf("PacketConn = %q", got)
	}
	if n := testing.AllocsPerRun(100, func() { PacketConn(a) }); n != 0 {
		t.Errorf("naming a repeated connection took %v allocations, want 0", n)
	}
	for range 3 {
		if got := PacketConn(b); got != "10.0.0.2:80->10.0.0.1:40000" {
			t.Fatalf("PacketConn = %q", got)
		}
		if got := PacketConn(a); got != "10.0.0.1:40000->10.0.0.2:80" {
			t.Fatalf("PacketConn = %q", got)
		}
	}
}
