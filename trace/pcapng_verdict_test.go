package trace

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"
)

// TestPCAPNGVerdictComments: a packet a link hook acted on says what the
// verdict did, and by which rule, in its comment. Going out, the verdict
// comes before the packet (the capture is below the hooks) and goes to the
// packet like the one it describes, every copy of a duplicate included; a
// packet dropped going out is not in the capture, and its drop is not
// pinned on the retransmission that follows. Coming in, the verdict comes
// after the packet, which the capture has as it arrived, the drop too; a
// decision on a held packet goes to the "continued" packet that sends it
// on, not to the copy the peer sent again meanwhile. A packet held going
// out says so when it leaves, as the decision on it left it.
func TestPCAPNGVerdictComments(t *testing.T) {
	t.Parallel()
	buf := verdictCapture(t)
	got := map[string]string{}
	for _, b := range parsePCAPNG(t, buf) {
		if b.typ == pngEPB {
			n := binary.LittleEndian.Uint32(b.body[12:])
			got[string(b.body[20:20+n])] = string(b.opts[pngOptComment])
		}
	}
	for data, want := range map[string]string{
		"copy 1":                                `packet #2; duplicated at link-egress by rule "udp : duplicate 100%"`,
		"copy 2":                                `packet #3; duplicated at link-egress by rule "udp : duplicate 100%"`,
		"rewritten":                             `packet #6; changed at link-egress (rewrite) by rule "tcp : window 1000"`,
		"sent again":                            `packet #7`,
		"dropped coming in":                     `packet #8; dropped at link-ingress by rule "tcp and len > 60 : drop"`,
		"held":                                  `packet #10; held at link-ingress (ui-hold) by rule "ui hold"`,
		"sent again meanwhile":                  `packet #12`,
		"sent on":                               `packet #14; held at link-ingress and sent on into the stack; changed at link-ingress (ui-edit: payload 4 of 4 bytes changed) by rule "ui hold"`,
		"held and released":                     `packet #16; held at link-egress (ui-hold) by rule "ui hold"`,
		"held and edited":                       `packet #19; held at link-egress (ui-hold) by rule "ui hold"; changed at link-egress (ui-edit: payload 10 → 5 bytes) by rule "ui hold"`,
		"the next of the length it was held at": `packet #20`,
		"sent again after the drop":             `packet #23`,
		"dropped after a wake-up":               `packet #24; dropped at link-ingress by rule "tcp and len > 60 : drop"`,
	} {
		if got[data] != want {
			t.Errorf("packet %q: comment %q,\nwant %q", data, got[data], want)
		}
	}
	if len(got) != 13 {
		t.Errorf("%d packets written, want 13", len(got))
	}
}

// TestPCAPNGVerdictCommentsReadBack: a pcapng whose comments say what
// hooks did, read back (glassnet view) and written again (its export), is
// the same file: the comments keep what they said ("notes").
func TestPCAPNGVerdictCommentsReadBack(t *testing.T) {
	t.Parallel()
	first := verdictCapture(t)
	evs, err := ReadPCAPNG(bytes.NewReader(first))
	if err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	png := NewPCAPNG(&again)
	for i := range evs {
		png.Emit(&evs[i])
	}
	if err := png.Close(); err != nil {
		t.Fatal(err)
	}
	a, b := parsePCAPNG(t, first), parsePCAPNG(t, again.Bytes())
	if len(a) != len(b) {
		t.Fatalf("%d blocks written again, want %d", len(b), len(a))
	}
	for i := range a {
		if !bytes.Equal(a[i].body, b[i].body) {
			t.Errorf("block %d written again: comment %q, want %q", i, b[i].opts[pngOptComment], a[i].opts[pngOptComment])
		}
	}
}

// verdictCapture returns the pcapng of packets that link hooks duplicated,
// rewrote, dropped and held, with the verdict events around them.
func verdictCapture(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	png := NewPCAPNG(&buf)
	png.Start = time.Unix(1_700_000_000, 0)
	tr := New(png)
	const out, in = "10.0.0.2:80->10.0.0.1:5000", "10.0.0.1:5000->10.0.0.2:80"
	packet := func(dir Dir, conn string, seq, n int, b string) Event {
		e := pkt("glassnet", dir, conn, seq, n)
		e.Fields = append(e.Fields, Field{"len", 52 + n})
		e.Data = []byte(b)
		return e
	}
	verdict := func(dir Dir, conn, action, reason, rule string, seq, n, copies int) Event {
		v := Verdict{Hook: "link-" + map[Dir]string{In: "ingress", Out: "egress"}[dir], Action: action, Reason: reason, Rule: rule,
			Len: 52 + n, Flags: "P.", RelSeq: Some(uint32(seq + 1)), PayloadLen: Some(n)}
		if copies > 0 {
			v.Copies = Some(copies)
		}
		return Event{Node: "glassnet", Layer: LayerLink, Dir: dir, Name: "verdict", Conn: conn, Fields: v.Fields()}
	}
	held := func(dir Dir, conn, rule string, n int) Event {
		return Event{Node: "glassnet", Layer: LayerLink, Dir: dir, Name: "held", Conn: conn,
			Fields: (&LinkHeld{Hook: "link-" + map[Dir]string{In: "ingress", Out: "egress"}[dir], Reason: "ui-hold", Rule: rule, Len: 52 + n}).Fields()}
	}
	const dup, loss, win, drop = "udp : duplicate 100%", "loss 50%", "tcp : window 1000", "tcp and len > 60 : drop"
	events := []Event{
		verdict(Out, out, "duplicate", "duplicate", dup, 0, 10, 1),
		packet(Out, out, 0, 10, "copy 1"),
		packet(Out, out, 0, 10, "copy 2"),
		verdict(Out, out, "drop", "loss", loss, 10, 10, 0),
		verdict(Out, out, "modify", "rewrite", win, 20, 10, 0),
		packet(Out, out, 20, 10, "rewritten"),
		packet(Out, out, 10, 10, "sent again"),
		packet(In, in, 0, 20, "dropped coming in"),
		verdict(In, in, "drop", "drop", drop, 0, 20, 0),
		packet(In, in, 20, 4, "held"),
		held(In, in, "ui hold", 4),
		packet(In, in, 20, 4, "sent again meanwhile"),
		verdict(In, in, "modify", "ui-edit: payload 4 of 4 bytes changed", "ui hold", 20, 4, 0),
	}
	cont := packet(In, in, 20, 4, "sent on")
	cont.Name = "continued"
	events = append(events, cont,
		held(Out, out, "ui hold", 10),
		packet(Out, out, 30, 10, "held and released"),
		held(Out, out, "ui hold", 10),
		verdict(Out, out, "modify", "ui-edit: payload 10 → 5 bytes", "ui hold", 40, 5, 0),
		packet(Out, out, 40, 5, "held and edited"),
		packet(Out, out, 45, 10, "the next of the length it was held at"),
		held(Out, out, "ui hold", 10),
		verdict(Out, out, "drop", "ui-drop", "ui hold", 50, 10, 0),
		packet(Out, out, 50, 10, "sent again after the drop"),
		packet(In, in, 24, 20, "dropped after a wake-up"),
		// The stack above the link, about the packet before it, from
		// another goroutine: the verdict still finds its packet.
		Event{Node: "glassnet", Layer: LayerSocket, Dir: In, Name: "wake", Conn: in},
		verdict(In, in, "drop", "drop", drop, 24, 20, 0),
	)
	for _, e := range events {
		tr.Emit(e)
	}
	if err := png.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
