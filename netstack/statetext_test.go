package netstack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/glassnet/glassnet/trace"
)

// TestStateText checks a TCP state event's connection and summary, and
// that writing them costs the one string (and the srtt's).
func TestStateText(t *testing.T) {
	local, remote := netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("[fd00::2]:80")
	ts := trace.TCPState{State: "ESTABLISHED", RcvWnd: 65535, Cwnd: 10, SRTT: 1500 * time.Microsecond, SndWnd: trace.Some(4096)}
	for _, c := range []struct {
		name          string
		ts            trace.TCPState
		conn, summary string
	}{
		{"established", ts, "10.0.0.1:40000->[fd00::2]:80",
			"ESTABLISHED snd_una 1 snd_nxt 1449 rcv_nxt 1 snd_wnd 4096 rcv_wnd 65535 cwnd 10 srtt 1.5ms"},
		{"syn-sent", trace.TCPState{State: "SYN-SENT", Cwnd: 10}, "10.0.0.1:40000->[fd00::2]:80",
			"SYN-SENT snd_una 1 snd_nxt 1449 rcv_nxt 1 snd_wnd ? rcv_wnd 0 cwnd 10 srtt 0s"},
	} {
		conn, summary := stateText(local, remote, &c.ts, 1, 1449, 1)
		if conn != c.conn || summary != c.summary {
			t.Errorf("%s: %q %q; want %q %q", c.name, conn, summary, c.conn, c.summary)
		}
	}
	if n := testing.AllocsPerRun(100, func() { stateText(local, remote, &ts, 1, 1449, 1) }); n > 2 {
		t.Errorf("stateText allocates %v times; want at most 2", n)
	}
}
